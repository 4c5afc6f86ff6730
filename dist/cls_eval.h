/* Sequence classification over whole examples (not packed windows): batches of examples padded
   on the right, the head's predictions, loss and confusion counts. Used by `ringtune eval` on a
   labeled corpus and by `ringtune predict`. Not collective: a caller that shards the examples
   over ranks sums the tallies itself (the counts are integers, the loss a double). */
#pragma once
#include <stdint.h>
#include "corpus.h"
#include "metrics.h"
#include "model.h"
#include "windows.h"

/* Where examples come from: a labeled corpus split, or texts tokenized by the caller. */
typedef struct {
    uint64_t n;
    /* Example i: at most cap tokens into dst (the first ones when it is longer: *len is the
       full length, so a caller sees truncation), *label its class or -100 when unknown. */
    rt_status (*read)(void *ctx, uint64_t i, int32_t *dst, size_t cap, size_t *len, int32_t *label);
    void *ctx;
} rt_example_source;

/* The examples of one split of a labeled corpus; cs must outlive the source. */
rt_example_source rt_example_source_corpus(const rt_corpus_source *cs);

typedef struct {
    double loss_sum;     /* sum of w_label * -log p(label) over the labeled examples (w = 1
                            without class weights) */
    double n_loss;       /* the loss normaliser: labeled examples, or their class-weight sum */
    int64_t n_truncated; /* examples longer than T, cut to their first T tokens */
    rt_confusion conf;   /* (true, predicted) counts; the caller initialises it for K labels */
} rt_cls_tally;

/* Reads nb examples (idx[r], or i + r when idx is NULL) into ids as a right-padded (nb, *Tb)
   batch (ids holds nb x T; *Tb is the longest row, each cut to its first T tokens; pad fills
   the rest) and their labels (nb); *truncated counts the rows cut. */
rt_status rt_cls_fill(const rt_example_source *src, const uint64_t *idx, uint64_t i, int nb, int T,
                      int32_t pad, int32_t *ids, int32_t *labels, int *Tb, int64_t *truncated);

/* Feature extraction's cache: the head's input for examples [lo, hi) of src, the final hidden
   state at each one's pooled position (hidden_size floats per example, into feats, row i - lo),
   computed in batches of B as rt_cls_run reads them, without dropout. */
rt_status rt_cls_features(rt_model *m, const rt_example_source *src, uint64_t lo, uint64_t hi,
                          int B, int T, float *feats);
/* The examples of a feature cache: example i is the one "token" i (its row) with labels[i]
   (borrowed; n of them). */
typedef struct {
    const int32_t *labels;
} rt_cached_examples;
rt_example_source rt_example_source_cached(const rt_cached_examples *c, uint64_t n);

/* Classifies examples [lo, hi) of src in batches of up to B rows, each row cut to its first T
   tokens and padded on the right with the head's pad id to the longest row of its batch (a head
   without a pad id classifies one row at a time, as transformers requires); the prediction is
   the first arg max of the logits. Adds to *t (NULL: no tally) the loss and the confusion counts
   of the labeled examples; pred (hi - lo) and probs ((hi - lo) x K, softmax of the logits) may
   be NULL. m's head must be "seqcls" and m must have activations for B x T. */
rt_status rt_cls_run(rt_model *m, const rt_example_source *src, uint64_t lo, uint64_t hi, int B,
                     int T, rt_cls_tally *t, int32_t *pred, float *probs);
