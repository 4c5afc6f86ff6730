/* compute/t5.c's and compute/t5_fwd.c's shared state: the model struct behind rt_t5. Not a
   public header. */
#pragma once
#include "rng.h"
#include "t5.h"
#include "lora.h"

/* Activations of one block, row-major; the cross-attention fields are the decoder's. */
typedef struct {
    float *ln_sa, *rstd_sa, *q, *k, *v, *P, *atty, *res_sa;
    float *ln_ca, *rstd_ca, *cq, *ck, *cv, *cP, *catty, *res_ca;
    float *ln_ff, *rstd_ff, *a0, *a1, *hd, *out;
} blk_acts;

struct rt_t5 {
    rt_t5_config cfg;
    rt_tensor_table params;
    float *params_mem, *grads_mem;
    rt_t5_views w, g;
    rt_lora *lora;      /* borrowed adapters (rt_t5_set_lora), NULL: none */
    float **pat, **gat; /* [params.n] or NULL: redirected tensors (rt_t5_redirect) */
    int *blk_first;     /* [Le + Ld + 1]: first tensor of each block (combined numbering), then the
                           decoder's final norm; the encoder's final norm is blk_first[Le] - 1 */
    /* activations for (B, Ts, Tt) */
    int B, Ts, Tt, cur_B, cur_Ts, cur_Tt;
    float *acts_mem;
    blk_acts *ea, *da;
    float *enc_emb, *enc_norm, *enc_rstd, *enc_out;
    float *dec_emb, *dec_norm, *dec_rstd, *hidden;
    float *bias_enc, *bias_dec; /* (NH, Ts, Ts), (NH, Tt, Tt) */
    int *bk_enc, *bk_dec;       /* (Ts, Ts), (Tt, Tt) bucket of each (query, key) */
    /* backward scratch */
    float *dres, *denc, *dtmp, *dln, *dq, *dk, *dv, *datt, *dff0, *dff1, *dS, *dbias, *scratch;
    int scratch_threads;
    int *bk_mem;
    const int32_t *src, *dec;
    const uint8_t *src_mask;
    rt_step_key key;
};

enum {
    SITE_EMB = 0,
    SITE_ATT = 1,
    SITE_SA = 2,
    SITE_CA = 3,
    SITE_FFH = 4,
    SITE_FF = 5,
    SITE_FINAL = 6
};
/* One key per (stack, block, site) and micro-batch; block -1 for the embeddings and the final
   norm. */
static inline uint64_t drop_key(const rt_t5 *m, int dec, int block, int site) {
    return rt_rng_key(m->key.seed, m->key.step, m->key.micro,
                      0x7500 + ((uint64_t)dec * 4096 + (uint64_t)(block + 1)) * 8 + site);
}

/* m->g from m->grads_mem with NULL for every frozen tensor (call after the flags change). */
void rt_t5_grad_views(rt_t5 *m);

/* ---- forward pieces shared with compute/t5_decode.c (t5_fwd.c) ----------------------------
   They read m's configuration and weight views (m->cfg, m->w), m->key (its train flag and
   seed: dropout) and write the activations they are given. */
/* out (N, d) = table rows ids (the embedding lookup). */
void rt_t5_gather(float *out, const int32_t *ids, const float *table, int N, int d);
/* The encoder over m->src / m->src_mask (m->cur_B x m->cur_Ts) into m->enc_out, through the
   activations m->ea[l] (which may all alias one set: layer l reads only layer l-1's out, before
   it writes its own), m->enc_emb, enc_norm, enc_rstd, bias_enc, bk_enc, dtmp and scratch. */
void rt_t5_encoder_forward(rt_t5 *m);
/* a->out = x + dropout(wo(dropout(act(ln(x))))) over N rows (a's ln_ff, rstd_ff, a0, a1, hd and
   m->dtmp hold N rows); dec and l pick the dropout keys. */
void rt_t5_ff_forward(rt_t5 *m, const rt_t5_block *w, blk_acts *a, const float *x, int N, int dec,
                      int l);
/* The decoder's final norm of x (N, d) into norm / rstd, dropout into hidden, times
   d_model^-0.5 when scale_decoder_outputs. */
void rt_t5_decoder_final(rt_t5 *m, float *hidden, float *norm, float *rstd, const float *x, int N);

/* Takes one block's activations (dec: with cross-attention over Ts source positions) for B rows
   of T positions from cv (compute/arena.h). */
void rt_t5_carve_block(rt_carve *cv, blk_acts *a, const rt_t5_config *c, int dec, size_t B,
                       size_t T, size_t Ts);

/* The adapter of (stack dec, block l, slot) or NULL (compute/lora.h). */
static inline const rt_lora_site *rt_t5_lsite(const rt_t5 *m, int dec, int l, int slot) {
    return m->lora ? rt_lora_site_at(m->lora, (dec ? m->cfg.num_layers : 0) + l, slot) : NULL;
}
