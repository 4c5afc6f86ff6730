/* Coordinated sharded checkpoints (io/CHECKPOINT.md): every rank writes its contiguous range of
   the flat parameters and AdamW state into step-N.tmp/, the ranks agree, rank 0 writes the
   manifest last, renames the directory and moves `latest`. Loading at any rank count: each rank
   reads its new range from the overlapping pieces of the old shards (checksums verified), then
   the parameters are all-gathered with the ring. The signals that ask for a checkpoint at the
   next step boundary are dist/signals.h's. */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "ckpt.h"
#include "config.h"
#include "corpus.h"
#include "model.h"
#include "mpictx.h"
#include "optim.h"
#include "signals.h"
#include "status.h"

/* Exit code of `ringtune train` after a signal-triggered checkpoint: EX_TEMPFAIL of sysexits.h
   ("temporary failure; the user is invited to retry"): requeue and resume. */
#define RT_EXIT_CHECKPOINTED 75

/* The scalars of a run that a resumed run continues from. */
typedef struct {
    long step;          /* optimizer steps completed */
    double before_loss; /* validation loss of the base model */
    double best_loss;   /* best score of eval.metric so far (the loss by default; lower is
                           better: a higher-is-better metric is stored negated) */
    long best_step;     /* its step (0: the base model) */
    int bad_evals;      /* evaluations without improvement (early stopping) */
    long steps_skipped; /* nan_policy skip */
    double val_loss;    /* measured at this step, NAN when none */
    double val_score;   /* eval.metric's score at this step (as best_loss), NAN when none
                           (retention keeps the best) */
    double tokens_seen; /* training tokens so far, all ranks */
    double lr_last;     /* learning rate of the last step */
    int finished;       /* the run had taken its last step */
} rt_ckpt_state;

/* What a checkpoint holds, borrowed from the trainer. */
typedef struct {
    rt_mpi_ctx *ctx;
    const rt_run_config *cfg;
    rt_model *m;      /* table + params_mem (full copy on every rank) */
    float *mom, *var; /* AdamW state for flat range [state_lo, state_hi) */
    size_t state_lo, state_hi;
    float *best;            /* full copy of the best weights (early stopping) or NULL */
    long *first_step;       /* per tensor: the step it became trainable, -1 never */
    const rt_schedule *sch; /* the run's LR schedule */
    uint64_t windows;       /* train windows (sampler domain) */
    rt_corpus *train, *val; /* val NULL: the validation split of train */
} rt_ckpt_view;

/* Saves a checkpoint of step s->step into cfg->output.dir. Collective over v->ctx; every rank
   returns the same status. Afterwards applies retention (checkpoint.keep_last, keep_best).
   reason: "periodic", "signal" or "final". log (rank 0, may be NULL) gets one line. Fault
   injection for tests: RINGTUNE_CKPT_FAULT="RANK:PHASE[:N[:stop]]" kills rank RANK with SIGKILL
   (with ":stop", stops it with SIGSTOP) at PHASE (before-data, mid-data, before-agree,
   before-manifest, before-rename, before-latest) of this process's N-th save (default 1). The
   waits of a save run under the watchdog phase "checkpoint save" (io/watchdog.h). */
rt_status rt_ckpt_save(const rt_ckpt_view *v, const rt_ckpt_state *s, const char *reason,
                       FILE *log);

/* Resolves cfg->checkpoint.resume: "latest" (output.dir/latest must exist), "auto" (latest when
   there is one, else start fresh: *dir = ""), or a checkpoint directory. Collective (rank 0 looks,
   then broadcasts). Also removes leftovers of interrupted saves in output.dir (rank 0). */
rt_status rt_ckpt_resolve(rt_mpi_ctx *ctx, const rt_run_config *cfg, char *dir, size_t cap);

/* Reads the manifest of dir on rank 0 and broadcasts it (collective); *out is the caller's
   (rt_ckpt_manifest_free). */
rt_status rt_ckpt_read_manifest(rt_mpi_ctx *ctx, const char *dir, Ringtune__Manifest **out);

/* Checks that man continues the run v describes (model architecture, tensor table, corpus
   identity, the configuration keys that would change the run: errors; keys safe to change, such
   as optim.lr: warnings on log), then loads it: parameters, AdamW state, best weights,
   per-tensor first steps and *s. Collective; every rank returns the same status. */
rt_status rt_ckpt_load(const rt_ckpt_view *v, const char *dir, const Ringtune__Manifest *man,
                       rt_ckpt_state *s, FILE *log);
