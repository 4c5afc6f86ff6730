/* The sweep's schedule and successive halving (dist/sweep_sched.h). */
#include "sweep_sched.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

int rt_sweep_better(double a, int ia, double b, int ib, int maximize) {
    if (isnan(a) != isnan(b)) return isnan(b);
    if (!isnan(a) && a != b) return maximize ? a > b : a < b;
    return ia < ib;
}

int rt_sweep_rungs(long min_steps, long max_steps, int eta, long *out, int cap) {
    int n = 0;
    for (long r = min_steps; r < max_steps && n < cap - 1; r *= eta) {
        out[n++] = r;
        if (r > max_steps / eta) break; /* the next one would pass max_steps (or overflow) */
    }
    if (n < cap) out[n++] = max_steps;
    return n;
}

rt_status rt_sweep_sched_init(rt_sweep_sched *s, int n_trials, const long *rung_steps, int n_rungs,
                              int eta, int maximize) {
    memset(s, 0, sizeof *s);
    if (n_trials < 1 || n_rungs < 1 || (n_rungs > 1 && eta < 2))
        return rt_error(RT_ERR_ARG, "sweep schedule: %d trials, %d rungs, eta %d", n_trials,
                        n_rungs, eta);
    s->n_trials = n_trials;
    s->n_rungs = n_rungs;
    s->eta = eta;
    s->maximize = maximize;
    s->rung_steps = malloc(sizeof *s->rung_steps * (size_t)n_rungs);
    s->t = calloc((size_t)n_trials, sizeof *s->t);
    if (!s->rung_steps || !s->t) {
        rt_sweep_sched_free(s);
        return rt_error(RT_ERR_MEMORY, "out of memory for %d trials", n_trials);
    }
    memcpy(s->rung_steps, rung_steps, sizeof *s->rung_steps * (size_t)n_rungs);
    for (int i = 0; i < n_trials; i++) {
        rt_trial_rec *t = &s->t[i];
        t->reached = -1;
        t->best = t->last = NAN;
        t->steps = 0;
        if (!(t->rung_best = malloc(sizeof *t->rung_best * (size_t)n_rungs))) {
            rt_sweep_sched_free(s);
            return rt_error(RT_ERR_MEMORY, "out of memory for %d trials", n_trials);
        }
        for (int k = 0; k < n_rungs; k++) t->rung_best[k] = NAN;
    }
    return RT_OK;
}

void rt_sweep_sched_free(rt_sweep_sched *s) {
    if (!s) return;
    for (int i = 0; s->t && i < s->n_trials; i++) {
        free(s->t[i].rung_best);
        free(s->t[i].error);
    }
    free(s->t);
    free(s->rung_steps);
    memset(s, 0, sizeof *s);
}

static int is_live(const rt_trial_rec *t) {
    return t->state == RT_TRIAL_QUEUED || t->state == RT_TRIAL_RUNNING ||
           t->state == RT_TRIAL_PAUSED;
}

rt_status rt_sweep_sched_fail(rt_sweep_sched *s, int trial, const char *msg) {
    if (trial < 0 || trial >= s->n_trials || s->t[trial].state != RT_TRIAL_QUEUED)
        return rt_error(RT_ERR_INTERNAL, "sweep schedule: trial %d cannot fail now", trial);
    free(s->t[trial].error);
    if (!(s->t[trial].error = strdup(msg ? msg : "")))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    s->t[trial].state = RT_TRIAL_FAILED;
    return RT_OK;
}

rt_next_kind rt_sweep_sched_next(rt_sweep_sched *s, int *trial, int *rung) {
    if (s->stopping) return RT_NEXT_STOP;
    int pick = -1, live = 0;
    for (int i = 0; i < s->n_trials; i++) {
        const rt_trial_rec *t = &s->t[i];
        live += is_live(t);
        if (t->state == RT_TRIAL_QUEUED && (pick < 0 || t->rung > s->t[pick].rung)) pick = i;
    }
    if (pick < 0) return live ? RT_NEXT_WAIT : RT_NEXT_DONE;
    s->t[pick].state = RT_TRIAL_RUNNING;
    *trial = pick;
    *rung = s->t[pick].rung;
    return RT_NEXT_JOB;
}

/* ---- successive halving ---- */

typedef struct {
    const rt_sweep_sched *s;
    int k;
} sort_ctx;
static _Thread_local sort_ctx by_rung; /* qsort has no argument pointer */

static int cmp_at_rung(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    const double *x = &by_rung.s->t[i].rung_best[by_rung.k],
                 *y = &by_rung.s->t[j].rung_best[by_rung.k];
    if (i == j) return 0;
    return rt_sweep_better(*x, i, *y, j, by_rung.s->maximize) ? -1 : 1;
}

/* Decides what is certain at rung k (not the last): promotes a paused trial when even every
   trial still to report there could not push it out of the kept ones, prunes it when the
   trials already better fill every place that could be kept. Returns how many it decided. */
static int decide_rung(rt_sweep_sched *s, int k, int *idx) {
    int n = 0, pending = 0;
    for (int i = 0; i < s->n_trials; i++) {
        if (s->t[i].reached >= k)
            idx[n++] = i;
        else if (is_live(&s->t[i]))
            pending++;
    }
    by_rung = (sort_ctx){s, k};
    qsort(idx, (size_t)n, sizeof *idx, cmp_at_rung);
    int keep_min = n / s->eta > 1 ? n / s->eta : 1;
    int keep_max = (n + pending) / s->eta > 1 ? (n + pending) / s->eta : 1;
    int decided = 0;
    for (int pos = 0; pos < n; pos++) {
        rt_trial_rec *t = &s->t[idx[pos]];
        if (t->state != RT_TRIAL_PAUSED || t->reached != k) continue;
        if (pos + pending < keep_min) {
            t->state = RT_TRIAL_QUEUED;
            t->rung = k + 1;
            decided++;
        } else if (pos >= keep_max) {
            t->state = RT_TRIAL_PRUNED;
            decided++;
        }
    }
    return decided;
}

static rt_status decide(rt_sweep_sched *s) {
    int *idx = malloc(sizeof *idx * (size_t)s->n_trials);
    if (!idx) return rt_error(RT_ERR_MEMORY, "out of memory");
    for (int changed = 1; changed;) {
        changed = 0;
        for (int k = 0; k + 1 < s->n_rungs; k++) changed += decide_rung(s, k, idx);
    }
    free(idx);
    return RT_OK;
}

rt_status rt_sweep_sched_report(rt_sweep_sched *s, const rt_job_result *r) {
    if (r->trial < 0 || r->trial >= s->n_trials)
        return rt_error(RT_ERR_ARG, "a result of trial %d: the sweep has %d trials", r->trial,
                        s->n_trials);
    rt_trial_rec *t = &s->t[r->trial];
    if ((t->state != RT_TRIAL_RUNNING && t->state != RT_TRIAL_QUEUED) || t->rung != r->rung)
        return rt_error(RT_ERR_ARG,
                        "a result of trial %d at rung %d: the trial is not waiting "
                        "for it (state %d at rung %d)",
                        r->trial, r->rung, (int)t->state, t->rung);
    t->seconds += r->seconds;
    if (r->status == RT_JOB_INTERRUPTED) {
        t->state = RT_TRIAL_QUEUED; /* resumes from its checkpoint */
        return RT_OK;
    }
    t->best = r->best;
    t->last = r->last;
    t->steps = r->steps;
    if (r->status == RT_JOB_FAILED) {
        free(t->error);
        if (!(t->error = strdup(r->error))) return rt_error(RT_ERR_MEMORY, "out of memory");
        t->state = RT_TRIAL_FAILED;
    } else if (r->status == RT_JOB_STOPPED_EARLY) {
        t->state = RT_TRIAL_STOPPED;
    } else {
        t->reached = r->rung;
        t->rung_best[r->rung] = r->best;
        t->state = r->rung + 1 == s->n_rungs ? RT_TRIAL_DONE : RT_TRIAL_PAUSED;
    }
    return decide(s);
}

/* ---- the table's order ---- */

/* Groups of the table: finished, still running or paused, pruned, not started, failed. */
static int group_of(const rt_trial_rec *t) {
    switch (t->state) {
    case RT_TRIAL_DONE:
    case RT_TRIAL_STOPPED:
        return 0;
    case RT_TRIAL_PRUNED:
        return 2;
    case RT_TRIAL_FAILED:
        return 4;
    default:
        return t->reached >= 0 ? 1 : 3;
    }
}

static _Thread_local const rt_sweep_sched *ranked;

static int cmp_rank(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    const rt_trial_rec *x = &ranked->t[i], *y = &ranked->t[j];
    int gx = group_of(x), gy = group_of(y);
    if (gx != gy) return gx < gy ? -1 : 1;
    if (gx == 3 || gx == 4 || i == j) return i < j ? -1 : i > j;
    if ((gx == 1 || gx == 2) && x->reached != y->reached) return x->reached > y->reached ? -1 : 1;
    return rt_sweep_better(x->best, i, y->best, j, ranked->maximize) ? -1 : 1;
}

int rt_sweep_sched_rank(const rt_sweep_sched *s, int *order) {
    for (int i = 0; i < s->n_trials; i++) order[i] = i;
    ranked = s;
    qsort(order, (size_t)s->n_trials, sizeof *order, cmp_rank);
    return s->n_trials > 0 && group_of(&s->t[order[0]]) == 0 ? order[0] : -1;
}
