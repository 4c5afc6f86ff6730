/* compute/t5_decode.c's and compute/t5_beam.c's shared state: the struct behind
   rt_t5_decoder. Not a public header. */
#pragma once
#include "t5_decode.h"
#include "t5_internal.h"

/* One decoder step's activations, R rows. */
typedef struct {
    float *x;                      /* (R, d) the token embeddings */
    float *ln, *rstd;              /* (R, d), (R) each attention's norm */
    float *q, *kn, *vn, *att;      /* (R, inner) query, this step's key and value, heads */
    float *res_sa, *res_ca;        /* (R, d) residual after self- / cross-attention */
    float *bias;                   /* (NH, Tk) the position bias of this step's query */
    float *P;                      /* (R, NH, max(Tmax, Ts)) attention probabilities */
    blk_acts ff;                   /* the FFN's ln_ff, rstd_ff, a0, a1, hd, out (R rows) */
    float *norm, *rstd_f, *hidden; /* the final norm, the head's input (R, d) */
    float *logits;                 /* (R, V) */
} step_acts;

struct rt_t5_decoder {
    rt_t5 *m;           /* borrowed */
    rt_t5_config shape; /* m's configuration when the decoder was made (the arena's sizes) */
    rt_t5 enc;          /* the encoder's view of m (t5_decode.c refresh): m's configuration and
                           weights, this decoder's activations */
    blk_acts *enc_blk;  /* [Le] one set of encoder block activations, aliased by every block */
    int capB, capTs, capR, Tmax; /* capacity: inputs, source tokens, rows, steps */
    int B, Ts, beams, R, pos;    /* the last encode: inputs, source tokens, rows per input, rows;
                                    positions cached */
    float *mem;                  /* the arena (owned) */
    size_t bytes;
    float *self_k, *self_v;   /* (Ld, capR, Tmax, inner) each */
    float *cross_k, *cross_v; /* (Ld, B, Ts, inner) each, packed for the last encode */
    float *reorder;           /* (capR, Tmax, inner) */
    step_acts s;
    uint8_t *mask; /* (B, Ts) the last encode's source mask */
    int has_mask;
    int *bk_enc;   /* (capTs, capTs) encoder buckets */
    int32_t *ibuf; /* (2 capR) the searches' scratch */
};
