/* The schedule of a sweep: which job (a trial's run up to a rung) a group of ranks runs next, and
   successive halving's decisions. A trial runs rung 0 (all of its budget under the fixed and
   early-stopping policies), then, under ASHA's rungs, pauses; of the trials that reached rung k
   the best max(1, floor(n/eta)) go on to rung k+1, resuming from their own checkpoints, and the
   rest are pruned. A decision is taken as soon as it is certain (the trials still to report at
   that rung could not change it), so groups rarely idle at a rung, and it is the decision that
   every result of the rung would give: the outcome depends on the results only, never on their
   order, the number of groups or the timing. Ties go to the lower trial id. A pure state
   machine: no MPI, no I/O, not thread-safe (dist/sweep.c holds it under a lock). */
#pragma once
#include "status.h"

typedef enum {
    RT_TRIAL_QUEUED = 0, /* waits for its job at `rung` (fresh, promoted or interrupted) */
    RT_TRIAL_RUNNING,    /* its job at `rung` is out */
    RT_TRIAL_PAUSED,     /* reached rung `reached` < the last; not decided yet */
    RT_TRIAL_DONE,       /* ran its whole budget */
    RT_TRIAL_STOPPED,    /* early stopping ended it */
    RT_TRIAL_PRUNED,     /* successive halving stopped it at rung `reached` */
    RT_TRIAL_FAILED,     /* an error (message in `error`) */
} rt_trial_state;

typedef enum {
    RT_JOB_OK = 0,        /* reached the rung's steps */
    RT_JOB_STOPPED_EARLY, /* early stopping ended the run before that */
    RT_JOB_FAILED,
    RT_JOB_INTERRUPTED, /* a signal: checkpointed, to be resumed */
} rt_job_status;

/* What a group reports after a job. */
typedef struct {
    int trial, rung;
    rt_job_status status;
    double best, last; /* the metric: best of the trial's evaluations so far and the last one
                          (NAN: none) */
    long steps;        /* the trial's last step */
    double seconds;    /* the job's wall time */
    char error[1024];  /* failed: the message */
} rt_job_result;

typedef struct {
    rt_trial_state state;
    int rung;          /* the rung of the job queued, running or last run */
    int reached;       /* the highest rung completed, -1 none */
    double *rung_best; /* (n_rungs) the best metric up to each rung reached */
    double best, last; /* of the last result */
    long steps;
    double seconds; /* all its jobs, interrupted ones included */
    char *error;    /* owned; failed only */
} rt_trial_rec;

typedef struct {
    int n_trials, n_rungs, eta, maximize;
    long *rung_steps; /* (n_rungs) the steps of each rung; -1: the run config's own budget */
    rt_trial_rec *t;  /* (n_trials) */
    int stopping;     /* set by the coordinator on a signal: no further jobs */
} rt_sweep_sched;

typedef enum { RT_NEXT_JOB = 0, RT_NEXT_WAIT, RT_NEXT_DONE, RT_NEXT_STOP } rt_next_kind;

/* n_rungs rungs of rung_steps (copied); eta >= 2 when n_rungs > 1. Every trial queued at rung 0.
   Returns RT_ERR_ARG or RT_ERR_MEMORY; on success rt_sweep_sched_free. */
rt_status rt_sweep_sched_init(rt_sweep_sched *s, int n_trials, const long *rung_steps, int n_rungs,
                              int eta, int maximize);
void rt_sweep_sched_free(rt_sweep_sched *s);

/* The rungs min_steps * eta^k below max_steps, then max_steps, into out (at most cap); returns
   how many. Pure. */
int rt_sweep_rungs(long min_steps, long max_steps, int eta, long *out, int cap);

/* Marks a queued trial failed before it ran (its config is invalid); msg is copied. */
rt_status rt_sweep_sched_fail(rt_sweep_sched *s, int trial, const char *msg);

/* The next job: RT_NEXT_JOB with *trial, *rung (marked running): promotions first, the highest
   rung first, then new trials, the lowest id first; RT_NEXT_WAIT when jobs are out whose results
   may queue more; RT_NEXT_DONE when every trial is finished; RT_NEXT_STOP once stopping. */
rt_next_kind rt_sweep_sched_next(rt_sweep_sched *s, int *trial, int *rung);

/* Records a job's result (a queued trial's too, for a state file replayed at a restart) and
   takes the decisions it makes certain. RT_ERR_ARG when the trial is not waiting for that rung's
   result (a result of another sweep), RT_ERR_MEMORY. */
rt_status rt_sweep_sched_report(rt_sweep_sched *s, const rt_job_result *r);

/* The table's order: finished before pruned, pruned later before pruned earlier, then by the
   metric (NAN last), then by id; failed trials last by id. Fills order (n_trials). Returns the
   best trial (the first that is done or stopped early), or -1 when there is none. */
int rt_sweep_sched_rank(const rt_sweep_sched *s, int *order);

/* 1 when a is better than b (NAN is worst; ties by the lower id). Pure. */
int rt_sweep_better(double a, int ia, double b, int ib, int maximize);
