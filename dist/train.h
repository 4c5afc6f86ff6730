/* `ringtune train`, the one training loop: data-parallel fine-tuning of a model (any
   architecture and task head of compute/model.h, built through io/model_registry.h) over the
   ranks of an MPI context. Every rank holds the full parameters; the global batch is split into
   per-rank micro-batches by the global sampler (dist/sampler.h); gradients are reduced with our
   ring (dist/ring.h) in buckets of parameter groups; with ZeRO-1 each rank keeps AdamW state only
   for its contiguous shard of the flat parameters, updates that shard and all-gathers the
   parameters. Loss = sum over the global batch / the loss terms the head counts in it (tokens
   for a language model), so the trajectory does not depend on the rank count. */
#pragma once
#include <stdio.h>
#include "config.h"
#include "mpictx.h"
#include "status.h"

typedef struct {
    double before_loss, after_loss; /* validation loss of the base model and the result */
    double best_loss;               /* best validation loss seen (the kept weights) */
    long steps_done;                /* optimizer steps taken */
    long steps_skipped;             /* steps dropped by nan_policy skip */
    int stopped_early;              /* early stopping ended the run */
    int checkpointed;               /* a signal (SIGUSR1/SIGTERM) stopped the run after a
                                       checkpoint: exit with RT_EXIT_CHECKPOINTED, resume later */
    long resumed_step;              /* the checkpoint's step when resumed, else 0 */
    double tokens_per_s;            /* training throughput, all ranks together: the tokens of
                                       the steps taken over those steps' time */
    double seconds;                 /* the training loop, evaluations and checkpoints included */
} rt_train_result;

/* Runs the configured training. Collective over ctx->comm: every rank passes the same cfg; all
   return the same status (errors are agreed across ranks) and the same result. Rank 0 writes
   progress lines to log (NULL: none), the metrics JSONL, the effective config
   (<output.dir>/config.yaml) and the fine-tuned model as a Hugging Face directory
   (<output.dir>/final). */
rt_status rt_train(const rt_run_config *cfg, rt_mpi_ctx *ctx, FILE *log, rt_train_result *res);
