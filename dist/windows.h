/* Packed causal-LM windows over a token stream (the training loop's data, dist/train.h), and a
   single-process evaluation over them (`ringtune eval`). Not collective. */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "corpus.h"
#include "model.h"

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

/* Mean loss over every full window of the span (no dropout), as m's head counts it (the LM head:
   tokens); *n_tokens counted. m must have activations for B x T. */
rt_status rt_evaluate(rt_model *m, const rt_token_source *data, int B, int T, double *mean_loss,
                      size_t *n_tokens);
