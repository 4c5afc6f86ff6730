/* T5 activations, forward and backward (compute/t5.h). */
#include "layers.h"
#include "layers_t5.h"
#include "t5.h"
#include "t5_internal.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void rt_t5_carve_block(rt_carve *cv, blk_acts *a, const rt_t5_config *c, int dec, size_t B,
                       size_t T, size_t Ts) {
    size_t d = c->d_model, in = (size_t)c->num_heads * c->d_kv, F = c->d_ff, NH = c->num_heads;
    size_t N = B * T, Ns = B * Ts;
#define TAKE(ptr, n) ((ptr) = rt_carve_take(cv, (n)))
    TAKE(a->ln_sa, N * d);
    TAKE(a->rstd_sa, N);
    TAKE(a->q, N * in);
    TAKE(a->k, N * in);
    TAKE(a->v, N * in);
    TAKE(a->P, B * NH * T * T);
    TAKE(a->atty, N * in);
    TAKE(a->res_sa, N * d);
    if (dec) {
        TAKE(a->ln_ca, N * d);
        TAKE(a->rstd_ca, N);
        TAKE(a->cq, N * in);
        TAKE(a->ck, Ns * in);
        TAKE(a->cv, Ns * in);
        TAKE(a->cP, B * NH * T * Ts);
        TAKE(a->catty, N * in);
        TAKE(a->res_ca, N * d);
    }
    TAKE(a->ln_ff, N * d);
    TAKE(a->rstd_ff, N);
    TAKE(a->a0, N * F);
    if (c->ff == RT_T5_FF_GATED_GELU) TAKE(a->a1, N * F);
    TAKE(a->hd, N * F);
    TAKE(a->out, N * d);
#undef TAKE
}

/* Carves the activation arena from base (NULL: only counts); returns its size in floats. */
static size_t layout(rt_t5 *m, float *base, int B, int Ts, int Tt, int nth) {
    const rt_t5_config *c = &m->cfg;
    size_t d = c->d_model, in = (size_t)c->num_heads * c->d_kv, F = c->d_ff, NH = c->num_heads;
    size_t Ns = (size_t)B * Ts, Nt = (size_t)B * Tt, Nm = Ns > Nt ? Ns : Nt;
    size_t Tm = Ts > Tt ? Ts : Tt;
    rt_carve cv = {base, 0};
#define TAKE(ptr, n) ((ptr) = rt_carve_take(&cv, (n)))
    for (int l = 0; l < c->num_layers; l++) rt_t5_carve_block(&cv, &m->ea[l], c, 0, B, Ts, Ts);
    for (int l = 0; l < c->num_decoder_layers; l++)
        rt_t5_carve_block(&cv, &m->da[l], c, 1, B, Tt, Ts);
    TAKE(m->enc_emb, Ns * d);
    TAKE(m->enc_norm, Ns * d);
    TAKE(m->enc_rstd, Ns);
    TAKE(m->enc_out, Ns * d);
    TAKE(m->dec_emb, Nt * d);
    TAKE(m->dec_norm, Nt * d);
    TAKE(m->dec_rstd, Nt);
    TAKE(m->hidden, Nt * d);
    TAKE(m->bias_enc, NH * Ts * Ts);
    TAKE(m->bias_dec, NH * Tt * Tt);
    TAKE(m->dres, Nm * d);
    TAKE(m->denc, Ns * d);
    TAKE(m->dtmp, Nm * d);
    TAKE(m->dln, Nm * d);
    TAKE(m->dq, Nm * in);
    TAKE(m->dk, Nm * in);
    TAKE(m->dv, Nm * in);
    TAKE(m->datt, Nm * in);
    TAKE(m->dff0, Nm * F);
    TAKE(m->dff1, Nm * F);
    TAKE(m->dS, B * NH * Tm * Tm);
    TAKE(m->dbias, NH * Tm * Tm);
    TAKE(m->scratch, (size_t)nth * 2 * Tm * Tm);
#undef TAKE
    return cv.off;
}

rt_status rt_t5_alloc_acts(rt_t5 *m, int B, int Ts, int Tt) {
    if (B < 1 || Ts < 1 || Tt < 1 || (size_t)B * (Ts > Tt ? Ts : Tt) > (1u << 30))
        return rt_error(RT_ERR_ARG,
                        "T5 micro-batch %d rows x %d source x %d target tokens: expected "
                        "positive sizes",
                        B, Ts, Tt);
    if (!m->grads_mem && !m->lora && !(m->grads_mem = rt_alloc_floats(m->params.total)))
        return rt_error(RT_ERR_MEMORY, "out of memory allocating gradients");
    rt_t5_grad_views(m);
    rt_free_floats(&m->acts_mem);
    free(m->bk_mem);
    int nth = omp_get_max_threads();
    size_t total = layout(m, NULL, B, Ts, Tt, nth);
    m->acts_mem = rt_alloc_floats(total);
    m->bk_mem = malloc(((size_t)Ts * Ts + (size_t)Tt * Tt) * sizeof(int));
    if (!m->acts_mem || !m->bk_mem) {
        rt_free_floats(&m->acts_mem);
        free(m->bk_mem);
        m->bk_mem = NULL;
        m->B = m->Ts = m->Tt = 0;
        return rt_error(RT_ERR_MEMORY, "out of memory allocating %.1f MB of T5 activations",
                        total * 4.0 / 1e6);
    }
    layout(m, m->acts_mem, B, Ts, Tt, nth);
    m->bk_enc = m->bk_mem;
    m->bk_dec = m->bk_mem + (size_t)Ts * Ts;
    m->B = B;
    m->Ts = Ts;
    m->Tt = Tt;
    m->scratch_threads = nth;
    return RT_OK;
}

/* ---- forward -------------------------------------------------------------------------------- */

void rt_t5_gather(float *out, const int32_t *ids, const float *table, int N, int d) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++)
        memcpy(out + (size_t)r * d, table + (size_t)ids[r] * d, (size_t)d * sizeof(float));
}

/* bias (NH, T, T) of one stack from its table (buckets, NH), and the buckets it used. */
static void position_bias(float *bias, int *bk, const float *table, int T, int bidirectional,
                          const rt_t5_config *c) {
    int NH = c->num_heads;
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++)
            bk[i * T + j] = rt_t5_bucket(j - i, bidirectional, c->relative_attention_num_buckets,
                                         c->relative_attention_max_distance);
#pragma omp parallel for schedule(static)
    for (int h = 0; h < NH; h++)
        for (size_t k = 0; k < (size_t)T * T; k++)
            bias[(size_t)h * T * T + k] = table[(size_t)bk[k] * NH + h];
}

/* What one attention sublayer reads and writes. */
typedef struct {
    const float *wq, *wk, *wv, *wo, *lnw;
    float *ln, *rstd, *q, *k, *v, *P, *atty, *res;
    const float *kv_in; /* cross-attention: the encoder output; NULL: ln (self-attention) */
    const float *bias;  /* (NH, Tq, Tk) or NULL */
    const uint8_t *kmask;
    int causal, Tq, Tk, site;
} attn_io;

static attn_io self_io(const rt_t5_block *w, blk_acts *a, int T, const float *bias,
                       const uint8_t *kmask, int causal) {
    attn_io io = {w->sa_q, w->sa_k, w->sa_v, w->sa_o, w->ln_sa, a->ln_sa,  a->rstd_sa,
                  a->q,    a->k,    a->v,    a->P,    a->atty,  a->res_sa, NULL,
                  bias,    kmask,   causal,  T,       T,        SITE_SA};
    return io;
}

static attn_io cross_io(const rt_t5_block *w, blk_acts *a, const float *enc_out,
                        const uint8_t *kmask, int Tt, int Ts) {
    attn_io io = {w->ca_q, w->ca_k, w->ca_v, w->ca_o, w->ln_ca, a->ln_ca,  a->rstd_ca,
                  a->cq,   a->ck,   a->cv,   a->cP,   a->catty, a->res_ca, enc_out,
                  NULL,    kmask,   0,       Tt,      Ts,       SITE_CA};
    return io;
}

static float rate(const rt_t5 *m) {
    return m->key.train ? m->cfg.dropout_rate : 0.0f;
}

/* res = x + dropout(o(attention(q(ln(x)), k(kv), v(kv)))) */
static void attn_forward(rt_t5 *m, const attn_io *io, const float *x, int dec, int l) {
    const rt_t5_config *c = &m->cfg;
    int B = m->cur_B, d = c->d_model, NH = c->num_heads, in = NH * c->d_kv;
    int Nq = B * io->Tq, Nk = B * io->Tk;
    float p = rate(m);
    rt_rmsnorm_forward(io->ln, io->rstd, x, io->lnw, Nq, d, c->layer_norm_epsilon);
    const float *kv = io->kv_in ? io->kv_in : io->ln;
    int s0 = io->site == SITE_CA ? RT_T5_LORA_CA_Q : RT_T5_LORA_SA_Q;
    rt_linear_nt_forward(io->q, io->ln, io->wq, Nq, d, in);
    rt_lora_forward(m->lora, rt_t5_lsite(m, dec, l, s0), io->q, io->ln, Nq, &m->key);
    rt_linear_nt_forward(io->k, kv, io->wk, Nk, d, in);
    rt_lora_forward(m->lora, rt_t5_lsite(m, dec, l, s0 + 1), io->k, kv, Nk, &m->key);
    rt_linear_nt_forward(io->v, kv, io->wv, Nk, d, in);
    rt_lora_forward(m->lora, rt_t5_lsite(m, dec, l, s0 + 2), io->v, kv, Nk, &m->key);
    rt_t5_attention_forward(io->atty, io->P, io->q, in, io->k, io->v, in, io->bias, io->kmask,
                            io->causal, B, io->Tq, io->Tk, NH, c->d_kv, p,
                            drop_key(m, dec, l, SITE_ATT + (io->site == SITE_CA ? 8 : 0)),
                            m->scratch, m->scratch_threads);
    rt_linear_nt_forward(m->dtmp, io->atty, io->wo, Nq, in, d);
    rt_lora_forward(m->lora, rt_t5_lsite(m, dec, l, s0 + 3), m->dtmp, io->atty, Nq, &m->key);
    rt_residual_dropout_forward(io->res, x, m->dtmp, (size_t)Nq * d, p,
                                drop_key(m, dec, l, io->site));
}

/* out = x + dropout(wo(dropout(act(ln(x))))) */
void rt_t5_ff_forward(rt_t5 *m, const rt_t5_block *w, blk_acts *a, const float *x, int N, int dec,
                      int l) {
    const rt_t5_config *c = &m->cfg;
    int d = c->d_model, F = c->d_ff;
    float p = rate(m);
    rt_rmsnorm_forward(a->ln_ff, a->rstd_ff, x, w->ln_ff, N, d, c->layer_norm_epsilon);
    rt_linear_nt_forward(a->a0, a->ln_ff, w->wi, N, d, F);
    rt_lora_forward(m->lora, rt_t5_lsite(m, dec, l, RT_T5_LORA_WI), a->a0, a->ln_ff, N, &m->key);
    if (c->ff == RT_T5_FF_RELU) {
        rt_relu_forward(a->hd, a->a0, (size_t)N * F);
    } else {
        rt_linear_nt_forward(a->a1, a->ln_ff, w->wi_1, N, d, F);
        rt_lora_forward(m->lora, rt_t5_lsite(m, dec, l, RT_T5_LORA_WI_1), a->a1, a->ln_ff, N,
                        &m->key);
        rt_gated_gelu_forward(a->hd, a->a0, a->a1, (size_t)N * F);
    }
    rt_dropout_forward(a->hd, a->hd, (size_t)N * F, p, drop_key(m, dec, l, SITE_FFH));
    rt_linear_nt_forward(m->dtmp, a->hd, w->wo, N, F, d);
    rt_lora_forward(m->lora, rt_t5_lsite(m, dec, l, RT_T5_LORA_WO), m->dtmp, a->hd, N, &m->key);
    rt_residual_dropout_forward(a->out, x, m->dtmp, (size_t)N * d, p, drop_key(m, dec, l, SITE_FF));
}

static rt_status check_ids(const int32_t *ids, int N, int V, const char *what) {
    for (int i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return rt_error(RT_ERR_ARG,
                            "%s token id %d at position %d is outside the vocabulary [0, %d)", what,
                            ids[i], i, V);
    return RT_OK;
}

void rt_t5_encoder_forward(rt_t5 *m) {
    const rt_t5_config *c = &m->cfg;
    int B = m->cur_B, Ts = m->cur_Ts, d = c->d_model, Ns = B * Ts;
    float p = rate(m);
    rt_t5_gather(m->enc_emb, m->src, m->w.shared, Ns, d);
    rt_dropout_forward(m->enc_emb, m->enc_emb, (size_t)Ns * d, p, drop_key(m, 0, -1, SITE_EMB));
    position_bias(m->bias_enc, m->bk_enc, m->w.enc[0].rel_bias, Ts, 1, c);
    const float *x = m->enc_emb;
    for (int l = 0; l < c->num_layers; l++) {
        blk_acts *a = &m->ea[l];
        attn_io io = self_io(&m->w.enc[l], a, Ts, m->bias_enc, m->src_mask, 0);
        attn_forward(m, &io, x, 0, l);
        rt_t5_ff_forward(m, &m->w.enc[l], a, a->res_sa, Ns, 0, l);
        x = a->out;
    }
    rt_rmsnorm_forward(m->enc_norm, m->enc_rstd, x, m->w.enc_final, Ns, d, c->layer_norm_epsilon);
    rt_dropout_forward(m->enc_out, m->enc_norm, (size_t)Ns * d, p, drop_key(m, 0, -1, SITE_FINAL));
}

static void decoder_forward(rt_t5 *m) {
    const rt_t5_config *c = &m->cfg;
    int B = m->cur_B, Ts = m->cur_Ts, Tt = m->cur_Tt, d = c->d_model, Nt = B * Tt;
    float p = rate(m);
    rt_t5_gather(m->dec_emb, m->dec, m->w.shared, Nt, d);
    rt_dropout_forward(m->dec_emb, m->dec_emb, (size_t)Nt * d, p, drop_key(m, 1, -1, SITE_EMB));
    position_bias(m->bias_dec, m->bk_dec, m->w.dec[0].rel_bias, Tt, 0, c);
    const float *x = m->dec_emb;
    for (int l = 0; l < c->num_decoder_layers; l++) {
        blk_acts *a = &m->da[l];
        attn_io sa = self_io(&m->w.dec[l], a, Tt, m->bias_dec, NULL, 1);
        attn_forward(m, &sa, x, 1, l);
        attn_io ca = cross_io(&m->w.dec[l], a, m->enc_out, m->src_mask, Tt, Ts);
        attn_forward(m, &ca, a->res_sa, 1, l);
        rt_t5_ff_forward(m, &m->w.dec[l], a, a->res_ca, Nt, 1, l);
        x = a->out;
    }
    rt_t5_decoder_final(m, m->hidden, m->dec_norm, m->dec_rstd, x, Nt);
}

void rt_t5_decoder_final(rt_t5 *m, float *hidden, float *norm, float *rstd, const float *x, int N) {
    const rt_t5_config *c = &m->cfg;
    int d = c->d_model;
    rt_rmsnorm_forward(norm, rstd, x, m->w.dec_final, N, d, c->layer_norm_epsilon);
    rt_dropout_forward(hidden, norm, (size_t)N * d, rate(m), drop_key(m, 1, -1, SITE_FINAL));
    if (c->scale_decoder_outputs) {
        float s = (float)pow((double)d, -0.5);
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < (size_t)N * d; i++) hidden[i] *= s;
    }
}

rt_status rt_t5_forward_hidden(rt_t5 *m, const int32_t *src, const uint8_t *src_mask, int Ts,
                               const int32_t *dec_ids, int Tt, int B, const rt_step_key *key,
                               const float **hidden) {
    const rt_t5_config *c = &m->cfg;
    *hidden = NULL;
    if (!m->acts_mem || B < 1 || Ts < 1 || Tt < 1 || B > m->B || Ts > m->Ts || Tt > m->Tt)
        return rt_error(RT_ERR_ARG,
                        "T5 forward of %d rows x %d source x %d target tokens: activations hold "
                        "%d x %d x %d",
                        B, Ts, Tt, m->B, m->Ts, m->Tt);
    if (omp_get_max_threads() > m->scratch_threads)
        return rt_error(RT_ERR_ARG,
                        "T5 forward with %d OpenMP threads: activations were allocated for %d "
                        "(call rt_t5_alloc_acts after changing the thread count)",
                        omp_get_max_threads(), m->scratch_threads);
    RT_CALL(check_ids(src, B * Ts, c->vocab_size, "source"));
    RT_CALL(check_ids(dec_ids, B * Tt, c->vocab_size, "decoder input"));
    static const rt_step_key eval_key = {0, 0, 0, 0};
    m->key = key ? *key : eval_key;
    m->src = src;
    m->src_mask = src_mask;
    m->dec = dec_ids;
    m->cur_B = B;
    m->cur_Ts = Ts;
    m->cur_Tt = Tt;
    rt_t5_encoder_forward(m);
    decoder_forward(m);
    *hidden = m->hidden;
    return RT_OK;
}

float *rt_t5_dhidden_scratch(rt_t5 *m) {
    return m->dln;
}
