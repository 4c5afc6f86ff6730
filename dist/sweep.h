/* `ringtune sweep`: a hyperparameter search whose trials run in parallel on MPI sub-communicators
   (docs/sweep.md). The world is split (MPI_Comm_split) into groups of ranks_per_trial ranks; each
   group runs trials one after another through the trainer (dist/train.h) on its own
   communicator. World rank 0 coordinates: it reads the sweep file (dist/sweep_spec.h), draws
   every trial from one seeded sampler (dist/sweep_space.h), checks before any trial what would
   fail them all, hands the jobs out on request and records each result in the out dir's state
   file (dist/sweep_state.h) and tables (dist/sweep_table.h). It runs trials in its own group
   too, serving the other groups from a second thread meanwhile (so with more than one group MPI
   must provide MPI_THREAD_MULTIPLE). Successive halving decides from results only
   (dist/sweep_sched.h), and a trial's results do not depend on the group that ran it, so the
   trials and the table are the same whatever the rank count and ranks_per_trial. Every wait
   polls with a backoff: no rank spins a core while it waits. */
#pragma once
#include <stdio.h>
#include "mpictx.h"
#include "status.h"

typedef struct {
    const char *sweep_file; /* the sweep YAML */
    const char *out;        /* the sweep's output directory (created) */
    int ranks_per_trial;    /* k >= 1, dividing the world size */
} rt_sweep_opts;

typedef struct {
    int interrupted; /* a signal stopped it after the running trials checkpointed: the same
                        command continues it (exit 75, as `ringtune train`) */
    int best;        /* the best trial, -1 when none finished */
    int trials, done, stopped_early, pruned, failed;
} rt_sweep_outcome;

/* Runs the sweep, or continues the one whose state file is in o->out: finished trials are not
   run again, interrupted ones resume from their checkpoints. Collective over world->comm: every
   rank passes the same opts and returns the same status and *res. World rank 0 writes progress
   lines to log (NULL: none) and, in o->out, sweep_state.jsonl, results.jsonl, results.md,
   best.yaml (the best trial's run config, once every trial finished) and a copy of the sweep
   file; trial t writes o->out/trial-NNN (its config.yaml, metrics.jsonl, train.log,
   checkpoints and final/). What would fail every trial (the sweep file, the base run config,
   its model and corpora, a ranks_per_trial that does not divide the world, a metric the trials
   do not report) is an error before any trial runs or as soon as the first trial shows it; a
   trial that fails alone (a bad value in the space, a non-finite loss) is recorded as failed
   and the sweep goes on. signals.h's signals, on any rank, stop the sweep: every running trial
   checkpoints, and res->interrupted is set. */
rt_status rt_sweep_run(const rt_sweep_opts *o, rt_mpi_ctx *world, FILE *log, rt_sweep_outcome *res);
