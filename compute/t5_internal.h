/* compute/t5.c's and compute/t5_fwd.c's shared state: the model struct behind rt_t5. Not a
   public header. */
#pragma once
#include "rng.h"
#include "t5.h"

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
    int *blk_first; /* [Le + Ld + 1]: first tensor of each block (combined numbering), then the
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
