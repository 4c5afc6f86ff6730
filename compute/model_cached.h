/* A backbone of cached features (feature extraction): when the whole backbone is frozen and runs
   without dropout, a pooled head's input is a constant per example, so it is computed once
   (rt_cls_features) and the head trains on it for every epoch. This backbone reads those rows:
   a batch's ids are (B, 1) example indices into the cache, and its "final hidden states" are the
   cached rows (B, 1, hidden_size); nothing below the head trains or runs.

   The cached model shares the base model's parameter table, arenas and groups (borrowed: the
   base must outlive it and keeps doing checkpoints and exports); it has a head of the base's kind
   and configuration of its own (a sequence-classification head: labels, pad id, class weights).
   Not collective. */
#pragma once
#include <stdint.h>
#include "model.h"

/* Where the cached rows are: n rows of hidden_size floats, in memory (mem) or behind a reader
   (mem NULL: read(ctx, rows, nr, out) fills out with rows[0..nr), nr x hidden_size; e.g. the
   HDF5 cache of io/feature_cache.h). Borrowed. */
typedef struct {
    const float *mem;
    rt_status (*read)(void *ctx, const int32_t *rows, int nr, float *out);
    void *ctx;
    uint64_t n;
} rt_feature_rows;

/* A model over the cached rows with base's parameters and a copy of its seqcls head. *out owned
   (rt_model_destroy leaves base alone). */
rt_status rt_model_cached_create(rt_model *base, const rt_feature_rows *rows, rt_model **out);
