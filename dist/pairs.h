/* Sequence-to-sequence pairs from a kind "pairs" corpus split: their lengths, the training order
   grouped by length, and padded encoder-decoder micro-batches. Not collective.

   The length grouping (HF Trainer's group_by_length, fairseq's batching by size) stays
   rank-count independent: the pool of `pool` global batches that follows the seeded permutation
   of the pairs (dist/sampler.h) is sorted by length (longest first, ties by pair index) and cut
   into global batches, and the order of those batches within the pool is a second seeded
   permutation. Which pairs make up a global batch and in which order depends only on the seed,
   the global batch size G and the pool size, never on the rank count: every rank takes its
   slice of the same sorted batch (dist/sampler.h rt_sampler_slice), so the loss of a step is
   the same sum whatever P is, and a resume needs only the sample counter. */
#pragma once
#include <stdint.h>
#include "corpus.h"
#include "model.h"

typedef struct {
    rt_corpus *corpus; /* borrowed */
    rt_corpus_split split;
    uint64_t n;                  /* pairs */
    uint32_t *src_len, *tgt_len; /* (n) each with its </s>; owned */
    int max_src, max_tgt;        /* the longest source / target of the split */
} rt_pair_source;

/* Reads the lengths of every pair of a split (the two offset arrays). The corpus must be of kind
   "pairs" (RT_ERR_ARG naming it otherwise). ps owns the lengths: rt_pair_source_free. */
rt_status rt_pair_source_open(rt_pair_source *ps, rt_corpus *c, rt_corpus_split split);
void rt_pair_source_free(rt_pair_source *ps);

typedef struct {
    const rt_pair_source *ps; /* borrowed */
    uint64_t seed;
    int G, pool;     /* global batch; global batches per pool (1: no grouping) */
    int64_t cached;  /* the pool in order[], -1: none */
    uint64_t *order; /* (pool * G) pair indices of the cached pool in training order */
} rt_pair_order;

/* pool <= 1: the plain permutation (dist/sampler.h). Owns order (rt_pair_order_free). */
rt_status rt_pair_order_init(rt_pair_order *o, const rt_pair_source *ps, uint64_t seed, int G,
                             int pool);
void rt_pair_order_free(rt_pair_order *o);
/* The pair index of global sample k (k = 0, 1, ... over every epoch). Sorts one pool
   (pool * G lengths) when k leaves the cached one. */
uint64_t rt_pair_order_sample(rt_pair_order *o, uint64_t k);

/* An encoder-decoder micro-batch of nb pairs, rows padded on the right to the longest source
   (*Ts) and the longest target (*Tt) among them, stored densely (row stride *Ts and *Tt): src
   (nb * Ts) with pad, mask (nb * Ts) 1 on real tokens, dec (nb * Tt) the decoder inputs
   [start, target[0..len-2]] then pad, labels (nb * Tt) the target then -100 (what transformers'
   _shift_right and label padding give). The buffers hold nb * max_src and nb * max_tgt. */
typedef struct {
    int32_t *src, *dec, *labels;
    uint8_t *mask;
    int Ts, Tt;
} rt_pair_batch;

/* Reads pairs idx[0..nb) of ps into b (caller-owned buffers of the sizes above); *tokens (may
   be NULL) receives nb * (Ts + Tt), the padded tokens the model runs. */
rt_status rt_pairs_fill(const rt_pair_source *ps, const uint64_t *idx, int nb, int32_t pad,
                        int32_t start, rt_pair_batch *b, double *tokens);

/* The micro-batch b of nb rows as an encoder-decoder model reads it (borrows b's buffers). */
rt_batch rt_pair_batch_view(const rt_pair_batch *b, int nb);

/* Teacher-forced loss of pairs [lo, hi) of ps in batches of up to EB rows in index order (no
   dropout): *loss_sum over the counted target tokens, *count their number. b's buffers hold EB
   rows of ps's longest source and target; m has activations for them. */
rt_status rt_pairs_loss(rt_model *m, const rt_pair_source *ps, uint64_t lo, uint64_t hi, int EB,
                        rt_pair_batch *b, double *loss_sum, double *count);
