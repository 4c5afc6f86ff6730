/* The single-process fine-tuning loop: packed causal-LM windows over a token stream, gradient
   accumulation with the loss normalised over the whole global batch, AdamW with warmup+decay,
   global-norm clipping, evaluation (loss, perplexity). The data-parallel loop builds on it. */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "corpus.h"
#include "gpt2.h"
#include "optim.h"

/* Where training and evaluation windows come from: today a split of an HDF5 corpus, read window
   by window through hyperslabs and never held whole. */
typedef struct {
    uint64_t n_tokens;
    /* Reads tokens [start, start + count) into dst. */
    rt_status (*read)(void *ctx, uint64_t start, size_t count, int32_t *dst);
    void *ctx;
} rt_token_source;

/* A source over one split of an HDF5 corpus; cs (and its corpus) must outlive the source. */
typedef struct {
    rt_corpus *corpus;
    rt_corpus_split split;
} rt_corpus_source;
rt_token_source rt_token_source_corpus(const rt_corpus_source *cs);

/* Reads window w (T+1 tokens from token w*T) into buf and splits it into ids (T) and next-token
   targets (T). */
rt_status rt_token_source_window(const rt_token_source *d, uint64_t w, int T, int32_t *buf,
                                 int32_t *ids, int32_t *tgt);

typedef struct {
    int B, T;       /* micro-batch */
    int grad_accum; /* micro-batches per optimizer step */
    long steps;     /* optimizer steps */
    rt_schedule sched;
    rt_adamw_config adam; /* adam.lr is overwritten by the schedule each step */
    float clip;           /* global-norm clip, <= 0 disables */
    int train_dropout;    /* apply the model's dropout rates while training */
    uint64_t seed;
    int log_every;   /* 0: no per-step lines */
    FILE *log;       /* progress lines (NULL: none) */
    const char *tag; /* label in progress lines */
} rt_finetune_opts;

typedef struct {
    double first_loss, last_loss; /* training loss of the first and last step */
    double tokens_per_s;
    double seconds;
    long steps;
} rt_finetune_result;

/* Trains m in place on data (allocates AdamW state internally, freed on return).
   m must have activations for B x T. Returns RT_ERR_NUMERIC on a non-finite loss, naming the step.
 */
rt_status rt_finetune(rt_gpt2 *m, const rt_token_source *data, const rt_finetune_opts *o,
                      rt_finetune_result *res);
/* Mean token loss over every full window of the span (no dropout); *n_tokens counted. */
rt_status rt_evaluate(rt_gpt2 *m, const rt_token_source *data, int B, int T, double *mean_loss,
                      size_t *n_tokens);
