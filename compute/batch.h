/* What one micro-batch gives a model and its task head, and the key of the randomness of one
   forward. Both are passed explicitly to every forward (compute/model.h); nothing is read from
   fields a caller set beforehand. */
#pragma once
#include <stdint.h>

/* The counter-based randomness of one forward (dropout masks): (seed, step, micro) select every
   mask, so the masks depend on a micro-batch's place in the global batch and not on the rank
   that computes it. train = 0: evaluation (no dropout; seed, step and micro are unused). */
typedef struct {
    uint64_t seed;  /* train.seed */
    uint64_t step;  /* optimizer step (0-based) */
    uint64_t micro; /* micro-batch index within the global batch */
    int train;      /* dropout active */
} rt_step_key;

/* One micro-batch of B sequences of T positions, row-major (B, T); all arrays are borrowed from
   the caller for the forward and the backward that follows it. A task head reads what it needs:
   the LM head `targets`, a sequence-classification head `labels` and `mask`. An encoder-decoder
   model (T5) reads its source from src_ids / src_mask / src_T; then ids are the decoder inputs
   (labels shifted right after decoder_start_token_id), T their length, and targets the labels
   (not shifted again). */
typedef struct {
    int B, T;
    const int32_t *ids;      /* (B, T) input token ids in [0, vocab) */
    const uint8_t *mask;     /* (B, T) 1: a real token, 0: padding; NULL: no padding */
    const int32_t *targets;  /* (B, T) next-token targets, -100 = not counted; NULL: none */
    const int32_t *labels;   /* (B) class labels, -100 = not counted; NULL: none */
    int src_T;               /* encoder-decoder: source length; 0 for decoder-only models */
    const int32_t *src_ids;  /* (B, src_T) encoder input ids */
    const uint8_t *src_mask; /* (B, src_T) 1: a real token, 0: padding; NULL: no padding */
} rt_batch;
