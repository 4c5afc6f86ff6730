/* The groups of a sweep and their jobs (dist/sweep.h): split the world, then every group asks
   the coordinator for a job, runs it through the trainer on its own communicator and reports. */
#include "sweep.h"
#include "fsutil.h"
#include "signals.h"
#include "sweep_internal.h"
#include "sweep_trial.h"
#include "train.h"
#include "watchdog.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- one job ---- */

static rt_status job_config(const sw_sweep *w, const char *msg, int len, rt_job_result *r,
                            rt_run_config *cfg) {
    int used = 0;
    if (sscanf(msg, "job %d %d\n%n", &r->trial, &r->rung, &used) != 2 || used <= 0)
        return rt_error(RT_ERR_INTERNAL, "sweep: a malformed job message");
    RT_CALL(rt_config_load_string(cfg, msg + used, (size_t)(len - used), "the sweep job's config",
                                  0, NULL));
    if (cfg->dist.threads_per_rank == 0) {
        /* auto, as the trainer's, but over every rank of the node, not only this group's */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int n = w->world->node_size > 0 ? (int)(cores / w->world->node_size) : 1;
        cfg->dist.threads_per_rank = n > 0 ? n : 1;
    }
    return RT_OK;
}

/* Group rank 0: the trial's train.log (its directory made), appended to. NULL when it cannot be
   opened: the trial runs anyway, without progress lines. */
static FILE *open_log(const sw_sweep *w, const rt_run_config *cfg, const rt_job_result *r) {
    if (rt_fs_mkdir_p(cfg->output.dir) != RT_OK) return NULL;
    char *path = rt_fs_join(cfg->output.dir, "train.log");
    FILE *f = path ? fopen(path, "a") : NULL;
    free(path);
    if (f)
        fprintf(f, "== ringtune sweep: trial %d, rung %d (%ld steps), world ranks %d-%d ==\n",
                r->trial, r->rung, cfg->train.max_steps, w->gid * w->k, w->gid * w->k + w->k - 1);
    return f;
}

/* Group rank 0: the job's outcome and the trial's metric from its metrics.jsonl. *fatal: the
   metric is in none of its evaluations, so no trial would have it. */
static void finish_result(const sw_sweep *w, const rt_run_config *cfg, rt_status st,
                          const rt_train_result *tr, rt_job_result *r, int *fatal) {
    if (st != RT_OK) {
        r->status = RT_JOB_FAILED;
        rt_sweep_error_text(r->error, sizeof r->error);
    } else {
        r->status = tr->checkpointed    ? RT_JOB_INTERRUPTED
                    : tr->stopped_early ? RT_JOB_STOPPED_EARLY
                                        : RT_JOB_OK;
    }
    char *path = rt_fs_join(cfg->output.dir, "metrics.jsonl");
    int has = 0;
    rt_status ms = path ? rt_sweep_read_metrics(path, w->metric, w->maximize, &r->best, &r->last,
                                                &r->steps, &has)
                        : rt_error(RT_ERR_MEMORY, "out of memory");
    if (r->status == RT_JOB_FAILED || r->status == RT_JOB_INTERRUPTED) {
        free(path);
        return;
    }
    if (ms != RT_OK) {
        r->status = RT_JOB_FAILED;
        rt_sweep_error_text(r->error, sizeof r->error);
    } else if (!has) {
        char fields[512];
        rt_sweep_metric_fields(path, fields, sizeof fields);
        r->status = RT_JOB_FAILED;
        *fatal = 1;
        snprintf(r->error, sizeof r->error,
                 "the sweep's metric '%s' is in no evaluation of %s (they report: %s): set "
                 "metric: in the sweep file to one of them",
                 w->metric, path, fields[0] ? fields : "nothing");
    } else if (isnan(r->best)) {
        r->status = RT_JOB_FAILED;
        snprintf(r->error, sizeof r->error, "%s: no finite %s in its evaluations", path, w->metric);
    }
    free(path);
}

/* Runs the job of msg on the group. Collective over the group; *r and *fatal are group rank 0's
   (the others' are unused). */
static void run_job(sw_sweep *w, const char *msg, int len, rt_job_result *r, int *fatal) {
    memset(r, 0, sizeof *r);
    r->best = r->last = NAN;
    *fatal = 0;
    rt_run_config cfg;
    rt_status st = job_config(w, msg, len, r, &cfg);
    if (st != RT_OK) { /* the same on every rank of the group: the same text */
        r->status = RT_JOB_FAILED;
        rt_sweep_error_text(r->error, sizeof r->error);
        return;
    }
    FILE *log = w->group->rank == 0 ? open_log(w, &cfg, r) : NULL;
    rt_train_result tr;
    double t0 = now_s();
    st = rt_train(&cfg, w->group, log, &tr);
    r->seconds = now_s() - t0;
    if (w->group->rank == 0) finish_result(w, &cfg, st, &tr, r, fatal);
    if (log && st != RT_OK) fprintf(log, "ringtune sweep: the trial failed: %s\n", r->error);
    if (log) fclose(log);
    rt_config_free(&cfg);
}

/* ---- asking for jobs ---- */

/* Group rank 0: reports the last result (have) and gets the next reply into *msg. */
static rt_status exchange(sw_sweep *w, const rt_job_result *r, int have, int fatal, char **msg,
                          int *len) {
    if (w->group->rank != 0) return RT_OK;
    if (w->world->rank == 0) return sw_coord_local(w, r, have, fatal, msg, len);
    int rlen;
    char *req = sw_request_text(r, have, fatal, &rlen);
    if (!req) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status st = sw_send(w->comm, 0, SW_TAG_REQ, req, rlen, 1,
                           "sweep job request to the coordinator (world rank 0)");
    free(req);
    RT_CALL(st);
    RT_CALL(sw_recv(w->comm, 0, SW_TAG_REP, msg, len, 1,
                    "sweep: the coordinator's reply (world rank 0)"));
    if (!strcmp(*msg, "wait\n")) {
        struct timespec ts = {0, 250000000L}; /* nothing for this group yet: ask again soon */
        nanosleep(&ts, NULL);
    }
    return RT_OK;
}

/* The group's loop: ask, run, report, until done or stopped. Collective over the group. */
static rt_status work(sw_sweep *w) {
    rt_job_result r;
    int have = 0, fatal = 0;
    for (;;) {
        char *msg = NULL;
        int len = 0;
        rt_status st = rt_mpi_ctx_agree(w->group, exchange(w, &r, have, fatal, &msg, &len));
        if (st == RT_OK) st = sw_bcast(w->group, &msg, &len);
        if (st != RT_OK) {
            free(msg);
            return st;
        }
        int end = !strncmp(msg, "done", 4) || !strncmp(msg, "stop", 4);
        if (end && !strcmp(msg, "stop 1\n")) atomic_store(&w->expect_stop, 1);
        have = 0;
        if (!end && !strncmp(msg, "job ", 4)) {
            run_job(w, msg, len, &r, &fatal);
            have = 1;
        }
        free(msg);
        if (end) return RT_OK;
    }
}

/* ---- the groups ---- */

static rt_status setup_groups(sw_sweep *w) {
    rt_mpi_ctx *world = w->world;
    w->comm = MPI_COMM_NULL;
    RT_CALL(rt_mpi_check(MPI_Comm_dup(world->comm, &w->comm), "MPI_Comm_dup"));
    MPI_Comm sub;
    RT_CALL(rt_mpi_check(MPI_Comm_split(world->comm, w->gid, world->rank, &sub), "MPI_Comm_split"));
    rt_status st = rt_mpi_ctx_create_on(sub, &w->group);
    MPI_Comm_free(&sub);
    RT_CALL(rt_mpi_ctx_agree(world, st));
    st = w->group->rank == 0 && world->rank != 0 ? sw_listener_start(w) : RT_OK;
    return rt_mpi_ctx_agree(world, st);
}

/* The metric and its direction, from the coordinator to every rank (group leaders read their
   trials' metrics). Collective over the world. */
static rt_status sw_share_metric(sw_sweep *w) {
    if (w->world->rank == 0) {
        snprintf(w->metric, sizeof w->metric, "%s", w->co->spec.metric);
        w->maximize = w->co->spec.maximize;
    }
    int mx = w->maximize;
    RT_CALL(rt_mpi_check(rt_wd_bcast(w->metric, (int)sizeof w->metric, MPI_CHAR, 0, w->world->comm,
                                     "sweep metric broadcast (MPI_Bcast)"),
                         "MPI_Bcast"));
    RT_CALL(rt_mpi_check(
        rt_wd_bcast(&mx, 1, MPI_INT, 0, w->world->comm, "sweep metric broadcast (MPI_Bcast)"),
        "MPI_Bcast"));
    w->maximize = mx;
    w->metric[sizeof w->metric - 1] = 0;
    return RT_OK;
}

static rt_status check_opts(const rt_sweep_opts *o, const rt_mpi_ctx *world) {
    int k = o->ranks_per_trial;
    if (k < 1 || world->size % k != 0)
        return rt_error(RT_ERR_ARG,
                        "--ranks-per-trial %d: expected a number that divides the %d ranks "
                        "into equal groups (e.g. 1%s)",
                        k, world->size, world->size % 2 == 0 ? " or 2" : "");
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    if (world->size / k > 1 && level < MPI_THREAD_MULTIPLE)
        return rt_error(RT_ERR_MPI,
                        "%d groups of trials need MPI_THREAD_MULTIPLE (the coordinator serves "
                        "the other groups from a thread), which this MPI library does not provide; "
                        "run one group (--ranks-per-trial %d)",
                        world->size / k, world->size);
    return RT_OK;
}

/* Runs the groups' loops and gathers the outcome. Collective over the world. */
static rt_status run_groups(sw_sweep *w, rt_sweep_outcome *res) {
    rt_mpi_ctx *world = w->world;
    rt_status st = world->rank == 0 ? sw_coord_start(w) : RT_OK;
    if (st == RT_OK) st = work(w);
    if (st != RT_OK) { /* this group cannot go on, and the others would wait for it */
        fprintf(stderr, "ringtune sweep: rank %d: %s\n", world->rank, rt_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    sw_listener_stop(w);
    int out[7] = {0, -1, 0, 0, 0, 0, 0};
    if (world->rank == 0) {
        sw_coord_join(w);
        st = sw_coord_finish(w, out, 7);
    }
    st = rt_mpi_ctx_agree(world, st);
    rt_status bs = rt_mpi_check(
        rt_wd_bcast(out, 7, MPI_INT, 0, world->comm, "sweep outcome broadcast (MPI_Bcast)"),
        "MPI_Bcast");
    *res = (rt_sweep_outcome){out[0], out[1], out[2], out[3], out[4], out[5], out[6]};
    return st != RT_OK ? st : bs;
}

rt_status rt_sweep_run(const rt_sweep_opts *o, rt_mpi_ctx *world, FILE *log,
                       rt_sweep_outcome *res) {
    memset(res, 0, sizeof *res);
    res->best = -1;
    RT_CALL(check_opts(o, world));
    sw_sweep w;
    memset(&w, 0, sizeof w);
    w.world = world;
    w.k = o->ranks_per_trial;
    w.groups = world->size / w.k;
    w.gid = world->rank / w.k;
    w.out = o->out;
    w.log = world->rank == 0 ? log : NULL;
    w.comm = MPI_COMM_NULL;
    rt_status st = world->rank == 0 ? sw_coord_prepare(&w, o->sweep_file) : RT_OK;
    st = rt_mpi_ctx_agree(world, st);
    if (st == RT_OK) st = sw_share_metric(&w);
    if (st == RT_OK) st = setup_groups(&w);
    if (st == RT_OK) {
        rt_signals_install(); /* kept between the trials' trainings */
        rt_signals_keep(1);
        st = run_groups(&w, res);
        rt_signals_keep(0);
        rt_signals_restore();
    }
    sw_listener_stop(&w); /* after a failed setup (run_groups stops it itself) */
    rt_mpi_ctx_destroy(&w.group);
    if (w.comm != MPI_COMM_NULL) MPI_Comm_free(&w.comm);
    sw_coord_free(&w.co);
    return st;
}
