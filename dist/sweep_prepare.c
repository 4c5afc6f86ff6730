/* The coordinator's start and end (dist/sweep_internal.h): the sweep file, the trials, the checks
   before any trial, the out dir's lock and state file; the final tables and best.yaml. */
#include "sweep_internal.h"
#include "fsutil.h"
#include "sweep_table.h"
#include "sweep_trial.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void set_rungs(sw_coord *co) {
    const rt_sweep_budget *b = &co->spec.budget;
    if (b->policy == RT_BUDGET_ASHA) {
        co->n_rungs = rt_sweep_rungs(b->min_steps, b->max_steps, b->eta, co->rungs, SW_MAX_RUNGS);
    } else {
        co->n_rungs = 1;
        co->rungs[0] = b->steps; /* -1: the run config's own budget */
    }
}

/* Trials whose run config is invalid (a negative learning rate in the space, ...) fail before
   they run, with the config's message; the others go on. */
static rt_status prevalidate(sw_sweep *w) {
    sw_coord *co = w->co;
    for (int t = 0; t < co->trials.n_trials; t++) {
        char dir[4096];
        rt_run_config cfg;
        rt_sweep_trial_dir(w->out, co->trials.n_trials, t, dir, sizeof dir);
        rt_status st = rt_sweep_trial_config(&co->spec, &co->trials, t, dir, co->rungs[0], &cfg);
        if (st == RT_ERR_MEMORY) return st;
        char msg[2048];
        if (st == RT_OK) {
            rt_config_free(&cfg);
        } else {
            rt_sweep_error_text(msg, sizeof msg);
            RT_CALL(rt_sweep_sched_fail(&co->sched, t, msg));
        }
    }
    return RT_OK;
}

static rt_status alloc_groups(sw_sweep *w) {
    sw_coord *co = w->co;
    co->finished = calloc((size_t)w->groups, sizeof *co->finished);
    co->stop_sent = calloc((size_t)w->groups, sizeof *co->stop_sent);
    co->stop_req = calloc((size_t)w->groups, sizeof *co->stop_req);
    co->remote_left = w->groups - 1;
    return co->finished && co->stop_sent && co->stop_req ? RT_OK
                                                         : rt_error(RT_ERR_MEMORY, "out of memory");
}

/* A copy of the sweep file in the out dir, beside its results. */
static rt_status copy_sweep_file(sw_sweep *w, const char *file) {
    char *text, *dst = rt_fs_join(w->out, "sweep.yaml");
    size_t n;
    if (!dst) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status st = rt_fs_read_file(file, &text, &n);
    if (st == RT_OK) {
        st = rt_fs_write_file_atomic(dst, text, n);
        free(text);
    }
    free(dst);
    return st;
}

static void log_header(sw_sweep *w, const char *file) {
    sw_coord *co = w->co;
    const rt_sweep_budget *b = &co->spec.budget;
    if (!w->log) return;
    fprintf(w->log, "ringtune sweep: %s: %d trials (%s search over %d keys), metric %s (%s)\n",
            file, co->trials.n_trials, co->spec.method == RT_SWEEP_GRID ? "grid" : "random",
            co->spec.n_params, co->spec.metric, co->spec.maximize ? "maximize" : "minimize");
    fprintf(w->log, "budget: %s",
            b->policy == RT_BUDGET_ASHA             ? "asha, rungs at"
            : b->policy == RT_BUDGET_EARLY_STOPPING ? "early stopping,"
                                                    : "fixed,");
    if (b->policy == RT_BUDGET_ASHA)
        for (int k = 0; k < co->n_rungs; k++) fprintf(w->log, " %ld", co->rungs[k]);
    if (b->policy == RT_BUDGET_ASHA) fprintf(w->log, " steps, eta %d", b->eta);
    if (b->policy == RT_BUDGET_EARLY_STOPPING) fprintf(w->log, " patience %d,", b->patience);
    if (b->policy != RT_BUDGET_ASHA && b->steps > 0) fprintf(w->log, " %ld steps", b->steps);
    if (b->policy != RT_BUDGET_ASHA && b->steps <= 0) fprintf(w->log, " the run config's steps");
    fprintf(w->log, "\n%d groups of %d rank%s; output in %s\n", w->groups, w->k,
            w->k == 1 ? "" : "s", w->out);
    if (co->replayed)
        fprintf(w->log, "resuming: %d job results read back from %s/sweep_state.jsonl\n",
                co->replayed, w->out);
    fflush(w->log);
}

static rt_status open_state(sw_sweep *w) {
    sw_coord *co = w->co;
    char fp[32];
    rt_sweep_fingerprint(&co->spec, &co->trials, co->rungs, co->n_rungs, fp, sizeof fp);
    char *path = rt_fs_join(w->out, "sweep_state.jsonl");
    if (!path) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status st = rt_sweep_state_open(&co->state, path, fp, &co->sched, &co->replayed);
    free(path);
    return st;
}

rt_status sw_coord_prepare(sw_sweep *w, const char *sweep_file) {
    sw_coord *co = calloc(1, sizeof *co);
    if (!co) return rt_error(RT_ERR_MEMORY, "out of memory");
    w->co = co;
    pthread_mutex_init(&co->lock, NULL);
    pthread_cond_init(&co->changed, NULL);
    RT_CALL(rt_sweep_spec_load(&co->spec, sweep_file));
    set_rungs(co);
    RT_CALL(rt_sweep_sample(&co->spec, &co->trials));
    RT_CALL(rt_sweep_check(&co->spec, w->out, co->rungs[0]));
    RT_CALL(rt_runlock_acquire(w->out, NULL, stderr, &co->runlock));
    RT_CALL(rt_sweep_sched_init(&co->sched, co->trials.n_trials, co->rungs, co->n_rungs,
                                co->spec.budget.eta, co->spec.maximize));
    RT_CALL(alloc_groups(w));
    RT_CALL(prevalidate(w));
    RT_CALL(open_state(w));
    RT_CALL(copy_sweep_file(w, sweep_file));
    RT_CALL(rt_sweep_write_results(w->out, &co->spec, &co->trials, &co->sched, NULL));
    log_header(w, sweep_file);
    return RT_OK;
}

/* ---- the end ---- */

static void log_summary(sw_sweep *w, const int *n, int best) {
    sw_coord *co = w->co;
    if (!w->log) return;
    fprintf(w->log, "\n");
    rt_sweep_table_md(w->log, &co->spec, &co->trials, &co->sched);
    fprintf(w->log, "\nsweep: %d trials: %d done, %d stopped early, %d pruned, %d failed", n[0],
            n[1], n[2], n[3], n[4]);
    if (n[5]) fprintf(w->log, ", %d not finished", n[5]);
    if (best >= 0)
        fprintf(w->log, "; best trial %d, %s %.6g", best, co->spec.metric, co->sched.t[best].best);
    fprintf(w->log, "\nresults: %s/results.md, %s/results.jsonl", w->out, w->out);
    if (best >= 0 && !n[5]) fprintf(w->log, "; the best trial's run config: %s/best.yaml", w->out);
    fprintf(w->log, "\n");
    fflush(w->log);
}

rt_status sw_coord_finish(sw_sweep *w, int *outcome, int n_outcome) {
    sw_coord *co = w->co;
    int n[6] = {
        co->sched.n_trials, 0, 0, 0, 0, 0}; /* trials, done, stopped, pruned, failed, live */
    for (int t = 0; t < co->sched.n_trials; t++) {
        rt_trial_state s = co->sched.t[t].state;
        n[s == RT_TRIAL_DONE      ? 1
          : s == RT_TRIAL_STOPPED ? 2
          : s == RT_TRIAL_PRUNED  ? 3
          : s == RT_TRIAL_FAILED  ? 4
                                  : 5]++;
    }
    int best = -1;
    rt_status st = co->fatal;
    if (st == RT_OK) st = rt_sweep_write_results(w->out, &co->spec, &co->trials, &co->sched, &best);
    if (st == RT_OK && best >= 0 && !n[5])
        st = rt_sweep_write_best(&co->spec, &co->trials, best, co->rungs[co->n_rungs - 1], w->out);
    if (co->fatal == RT_OK) log_summary(w, n, best);
    int out[7] = {
        n[5] > 0 && co->signalled && co->fatal == RT_OK, best, n[0], n[1], n[2], n[3], n[4]};
    for (int i = 0; i < n_outcome && i < 7; i++) outcome[i] = out[i];
    if (co->fatal != RT_OK) return rt_error(co->fatal, "%s", co->fatal_msg);
    return st;
}

void sw_coord_free(sw_coord **pco) {
    sw_coord *co = *pco;
    if (!co) return;
    rt_sweep_state_close(&co->state);
    rt_sweep_sched_free(&co->sched);
    rt_sweep_trials_free(&co->trials);
    rt_sweep_spec_free(&co->spec);
    rt_runlock_release(&co->runlock);
    free(co->finished);
    free(co->stop_sent);
    free(co->stop_req);
    pthread_mutex_destroy(&co->lock);
    pthread_cond_destroy(&co->changed);
    free(co);
    *pco = NULL;
}
