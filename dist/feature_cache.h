/* Feature extraction's cache (finetune.feature_cache): the frozen backbone's pooled feature of
   every train and validation example, computed once without dropout, and the models that run
   the head on those rows for every step and evaluation (compute/model_cached.h).

   In memory when the features fit finetune.feature_cache_max_mb: each rank computes a share and
   the shares are summed over the ranks. Otherwise on disk in HDF5 shards (io/fcache.h):
   each rank writes its share into one part, the directory is committed by one rename, and the
   steps read the rows of each micro-batch from it; a cache already there with the same frozen
   weights, corpus and pooling is reused (its checksums checked once, shared over the ranks),
   any other is rebuilt, saying why. */
#pragma once
#include <stdio.h>
#include "cls_eval.h"
#include "corpus.h"
#include "model.h"
#include "mpictx.h"

typedef struct {
    rt_mpi_ctx *ctx;
    rt_model *m;              /* the base model (frozen backbone + head); outlives the cache */
    rt_example_source src[2]; /* train, validation: examples of labeled corpora */
    rt_corpus *corpus[2];     /* their corpora (the same one twice when they share it) */
    int EB, T;                /* the backbone pass's batch and sequence cut */
    int rows;                 /* the largest batch the cached models run */
    double max_mb;            /* in memory up to this size */
    const char *dir;          /* the on-disk cache directory */
} rt_feature_cache_args;

typedef struct rt_feature_cache rt_feature_cache;

/* Computes (or reuses) the cache and builds the two cached models; out (rank 0, may be NULL) gets
   one line saying where the cache is and how long it took. Collective. *fc owned. */
rt_status rt_feature_cache_build(const rt_feature_cache_args *a, FILE *out, rt_feature_cache **fc);
/* Split s (0 train, 1 validation): the model that runs the head on its rows, and its examples
   (example i is row i with its label). Owned by fc. */
rt_model *rt_feature_cache_model(rt_feature_cache *fc, int s);
rt_example_source rt_feature_cache_source(rt_feature_cache *fc, int s);
/* Destroys the cached models (before the base model they borrow from). */
void rt_feature_cache_free(rt_feature_cache **fc);
