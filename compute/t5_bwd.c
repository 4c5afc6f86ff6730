/* T5 backward and FLOP counts (compute/t5.h). */
#include "layers.h"
#include "layers_t5.h"
#include "t5.h"
#include "t5_internal.h"
#include <math.h>
#include <string.h>

static int range_trains(const rt_t5 *m, int a, int b) {
    for (int i = a; i < b; i++)
        if (m->params.t[i].trainable) return 1;
    return 0;
}

/* The lowest block whose backward runs (combined numbering): -1 when shared.weight trains, else
   the lowest block with a trainable tensor (the top encoder block owns encoder.final_layer_norm),
   Le + Ld when none. */
static int backward_lowest(const rt_t5 *m) {
    int nb = m->cfg.num_layers + m->cfg.num_decoder_layers;
    int lo = m->lora ? rt_lora_lowest_block(m->lora) : nb;
    if (m->params.t[0].trainable) return -1;
    for (int b = 0; b < lo; b++)
        if (range_trains(m, m->blk_first[b], m->blk_first[b + 1])) return b;
    return lo;
}

int rt_t5_backbone_trains(const rt_t5 *m) {
    int nb = m->cfg.num_layers + m->cfg.num_decoder_layers;
    return backward_lowest(m) < nb || m->params.t[m->blk_first[nb]].trainable;
}

static float rate(const rt_t5 *m) {
    return m->key.train ? m->cfg.dropout_rate : 0.0f;
}

/* d(sublayer output) from d(residual): dropout's backward, or dres itself without dropout. */
static const float *through_dropout(rt_t5 *m, const float *dres, size_t n, uint64_t key) {
    float p = rate(m);
    if (p <= 0.0f) return dres;
    rt_dropout_backward(m->dtmp, dres, n, p, key);
    return m->dtmp;
}

/* Sublayer weights and gradients (NULL: frozen) of one attention. */
typedef struct {
    const float *wq, *wk, *wv, *wo, *lnw;
    float *gq, *gk, *gv, *go, *glnw;
    const float *ln, *rstd, *q, *k, *v, *P, *atty;
    const float *kv_in; /* cross: the encoder output; NULL: ln */
    float *dkv_in;      /* cross: d(encoder output) (+=), NULL when not needed */
    float *dbias;       /* (NH, Tq, Tk) (+=) or NULL */
    int Tq, Tk, site;
} attn_bw;

/* On entry m->dres is d(res); on return d(x), the sublayer's input. */
static void attn_backward(rt_t5 *m, const attn_bw *s, const float *x, int dec, int l, int acc) {
    const rt_t5_config *c = &m->cfg;
    int B = m->cur_B, d = c->d_model, NH = c->num_heads, in = NH * c->d_kv;
    int Nq = B * s->Tq, Nk = B * s->Tk;
    const float *dout = through_dropout(m, m->dres, (size_t)Nq * d, drop_key(m, dec, l, s->site));
    int s0 = s->site == SITE_CA ? RT_T5_LORA_CA_Q : RT_T5_LORA_SA_Q;
    const rt_step_key *key = &m->key;
    rt_linear_nt_backward(m->datt, 0, s->go, dout, s->atty, s->wo, Nq, in, d, acc);
    rt_lora_backward(m->lora, rt_t5_lsite(m, dec, l, s0 + 3), m->datt, dout, s->atty, Nq, key, acc);
    rt_t5_attention_backward(m->dq, m->dk, m->dv, s->dbias ? m->dS : NULL, s->dbias, m->datt, s->q,
                             in, s->k, s->v, in, s->P, B, s->Tq, s->Tk, NH, c->d_kv, rate(m),
                             drop_key(m, dec, l, SITE_ATT + (s->site == SITE_CA ? 8 : 0)),
                             m->scratch, m->scratch_threads);
    rt_linear_nt_backward(m->dln, 0, s->gq, m->dq, s->ln, s->wq, Nq, d, in, acc);
    rt_lora_backward(m->lora, rt_t5_lsite(m, dec, l, s0), m->dln, m->dq, s->ln, Nq, key, acc);
    const float *kv = s->kv_in ? s->kv_in : s->ln;
    float *dkv = s->kv_in ? s->dkv_in : m->dln;
    rt_linear_nt_backward(dkv, 1, s->gk, m->dk, kv, s->wk, Nk, d, in, acc);
    rt_lora_backward(m->lora, rt_t5_lsite(m, dec, l, s0 + 1), dkv, m->dk, kv, Nk, key, acc);
    rt_linear_nt_backward(dkv, 1, s->gv, m->dv, kv, s->wv, Nk, d, in, acc);
    rt_lora_backward(m->lora, rt_t5_lsite(m, dec, l, s0 + 2), dkv, m->dv, kv, Nk, key, acc);
    rt_rmsnorm_backward(m->dres, s->glnw, m->dln, x, s->lnw, s->rstd, Nq, d, acc);
}

static void ff_backward(rt_t5 *m, const rt_t5_block *w, const rt_t5_block *g, const blk_acts *a,
                        const float *x, int N, int dec, int l, int acc) {
    const rt_t5_config *c = &m->cfg;
    int d = c->d_model, F = c->d_ff;
    size_t nf = (size_t)N * F;
    const float *dout = through_dropout(m, m->dres, (size_t)N * d, drop_key(m, dec, l, SITE_FF));
    const rt_step_key *key = &m->key;
    rt_linear_nt_backward(m->dff0, 0, g->wo, dout, a->hd, w->wo, N, F, d, acc);
    rt_lora_backward(m->lora, rt_t5_lsite(m, dec, l, RT_T5_LORA_WO), m->dff0, dout, a->hd, N, key,
                     acc);
    rt_dropout_backward(m->dff0, m->dff0, nf, rate(m), drop_key(m, dec, l, SITE_FFH));
    if (c->ff == RT_T5_FF_RELU) {
        rt_relu_backward(m->dff0, a->a0, m->dff0, nf);
        rt_linear_nt_backward(m->dln, 0, g->wi, m->dff0, a->ln_ff, w->wi, N, d, F, acc);
    } else {
        rt_gated_gelu_backward(m->dff0, m->dff1, m->dff0, a->a0, a->a1, nf);
        rt_linear_nt_backward(m->dln, 0, g->wi, m->dff0, a->ln_ff, w->wi, N, d, F, acc);
        rt_linear_nt_backward(m->dln, 1, g->wi_1, m->dff1, a->ln_ff, w->wi_1, N, d, F, acc);
        rt_lora_backward(m->lora, rt_t5_lsite(m, dec, l, RT_T5_LORA_WI_1), m->dln, m->dff1,
                         a->ln_ff, N, key, acc);
    }
    rt_lora_backward(m->lora, rt_t5_lsite(m, dec, l, RT_T5_LORA_WI), m->dln, m->dff0, a->ln_ff, N,
                     key, acc);
    rt_rmsnorm_backward(m->dres, g->ln_ff, m->dln, x, w->ln_ff, a->rstd_ff, N, d, acc);
}

static attn_bw self_bw(const rt_t5_block *w, const rt_t5_block *g, const blk_acts *a, int T,
                       float *dbias) {
    attn_bw s = {w->sa_q, w->sa_k,  w->sa_v,  w->sa_o,    w->ln_sa, g->sa_q, g->sa_k, g->sa_v,
                 g->sa_o, g->ln_sa, a->ln_sa, a->rstd_sa, a->q,     a->k,    a->v,    a->P,
                 a->atty, NULL,     NULL,     dbias,      T,        T,       SITE_SA};
    return s;
}

static attn_bw cross_bw(const rt_t5_block *w, const rt_t5_block *g, const blk_acts *a,
                        const float *enc_out, float *denc, int Tt, int Ts) {
    attn_bw s = {w->ca_q,  w->ca_k,  w->ca_v,  w->ca_o,    w->ln_ca, g->ca_q, g->ca_k, g->ca_v,
                 g->ca_o,  g->ln_ca, a->ln_ca, a->rstd_ca, a->cq,    a->ck,   a->cv,   a->cP,
                 a->catty, enc_out,  denc,     NULL,       Tt,       Ts,      SITE_CA};
    return s;
}

/* The bias table's gradient (buckets, NH) from d(bias) (NH, T, T). */
static void bias_scatter(float *dtab, const float *dbias, const int *bk, int T,
                         const rt_t5_config *c, int acc) {
    int NH = c->num_heads;
    size_t TT = (size_t)T * T;
    if (!acc) memset(dtab, 0, (size_t)c->relative_attention_num_buckets * NH * sizeof(float));
    for (int h = 0; h < NH; h++)
        for (size_t k = 0; k < TT; k++) dtab[(size_t)bk[k] * NH + h] += dbias[(size_t)h * TT + k];
}

/* One stack's blocks from the top down to block `stop` of the stack; m->dres holds d(top
   output) and ends as d(embeddings after dropout). */
static void stack_backward(rt_t5 *m, int dec, int stop, int acc, rt_t5_layer_done_fn done,
                           void *arg) {
    const rt_t5_config *c = &m->cfg;
    int B = m->cur_B, Ts = m->cur_Ts, Tt = m->cur_Tt, Le = c->num_layers;
    int L = dec ? c->num_decoder_layers : Le, T = dec ? Tt : Ts, N = B * T;
    rt_t5_block *W = dec ? m->w.dec : m->w.enc, *G = dec ? m->g.dec : m->g.enc;
    blk_acts *A = dec ? m->da : m->ea;
    float *dbias = G[0].rel_bias && stop == 0 ? m->dbias : NULL;
    int enc_needed = backward_lowest(m) < Le;
    if (dbias) memset(dbias, 0, (size_t)c->num_heads * T * T * sizeof(float));
    for (int l = L - 1; l >= stop; l--) {
        const blk_acts *a = &A[l];
        const float *x = l ? A[l - 1].out : dec ? m->dec_emb : m->enc_emb;
        ff_backward(m, &W[l], &G[l], a, dec ? a->res_ca : a->res_sa, N, dec, l, acc);
        if (dec) {
            attn_bw ca = cross_bw(&W[l], &G[l], a, m->enc_out, enc_needed ? m->denc : NULL, Tt, Ts);
            attn_backward(m, &ca, a->res_sa, 1, l, acc);
        }
        attn_bw sa = self_bw(&W[l], &G[l], a, T, dbias);
        attn_backward(m, &sa, x, dec, l, acc);
        if (l == 0 && dbias)
            bias_scatter(G[0].rel_bias, dbias, dec ? m->bk_dec : m->bk_enc, T, c, acc);
        if (done) done(arg, (dec ? Le : 0) + l);
    }
}

/* d(shared) += the embedding lookup's gradient from m->dres (after the embedding dropout). */
static void embedding_backward(rt_t5 *m, int dec) {
    int B = m->cur_B, T = dec ? m->cur_Tt : m->cur_Ts, d = m->cfg.d_model;
    const float *dout =
        through_dropout(m, m->dres, (size_t)B * T * d, drop_key(m, dec, -1, SITE_EMB));
    rt_embedding_backward(m->g.shared, NULL, dout, dec ? m->dec : m->src, B, T, d, 1);
}

/* d(final norm input) into m->dres from d(final norm output after dropout) dnorm. */
static void final_backward(rt_t5 *m, int dec, const float *dnorm, int acc) {
    const rt_t5_config *c = &m->cfg;
    int B = m->cur_B, T = dec ? m->cur_Tt : m->cur_Ts, d = c->d_model, N = B * T;
    int L = dec ? c->num_decoder_layers : c->num_layers;
    const float *dn = through_dropout(m, dnorm, (size_t)N * d, drop_key(m, dec, -1, SITE_FINAL));
    blk_acts *A = dec ? m->da : m->ea;
    memset(m->dres, 0, (size_t)N * d * sizeof(float));
    rt_rmsnorm_backward(m->dres, dec ? m->g.dec_final : m->g.enc_final, dn, A[L - 1].out,
                        dec ? m->w.dec_final : m->w.enc_final, dec ? m->dec_rstd : m->enc_rstd, N,
                        d, acc);
}

void rt_t5_backward_hidden(rt_t5 *m, const float *dhidden, int accumulate, int shared_written,
                           rt_t5_layer_done_fn done, void *arg) {
    if (!rt_t5_backbone_trains(m)) return;
    const rt_t5_config *c = &m->cfg;
    int Le = c->num_layers, d = c->d_model;
    size_t nt = (size_t)m->cur_B * m->cur_Tt * d, ns = (size_t)m->cur_B * m->cur_Ts * d;
    rt_t5_grad_views(m);
    int lowest = backward_lowest(m);
    /* d(decoder final norm output after dropout) = dhidden * the rescale, in dln */
    float s = c->scale_decoder_outputs ? (float)pow((double)d, -0.5) : 1.0f;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < nt; i++) m->dln[i] = dhidden[i] * s;
    final_backward(m, 1, m->dln, accumulate);
    if (lowest < Le) memset(m->denc, 0, ns * sizeof(float));
    if (m->g.shared && !accumulate && !shared_written)
        memset(m->g.shared, 0, (size_t)c->vocab_size * d * sizeof(float));
    stack_backward(m, 1, lowest > Le ? lowest - Le : 0, accumulate, done, arg);
    if (m->g.shared) embedding_backward(m, 1);
    if (lowest >= Le) return;
    final_backward(m, 0, m->denc, accumulate);
    stack_backward(m, 0, lowest > 0 ? lowest : 0, accumulate, done, arg);
    if (!m->g.shared) return;
    embedding_backward(m, 0);
    if (done) done(arg, -1);
}

/* ---- FLOPs ---------------------------------------------------------------------------------- */

double rt_t5_flops_hidden(const rt_t5 *m, int B, int Ts, int Tt) {
    const rt_t5_config *c = &m->cfg;
    int Le = c->num_layers, nb = Le + c->num_decoder_layers, lowest = backward_lowest(m);
    int trains = rt_t5_backbone_trains(m);
    double Ns = (double)B * Ts, Nt = (double)B * Tt, NH = c->num_heads, dk = c->d_kv;
    double fl = 0.0;
    for (int b = 0; b < nb; b++) {
        int dec = b >= Le, run = trains && b >= (lowest < 0 ? 0 : lowest);
        for (int i = m->blk_first[b]; i < m->blk_first[b + 1]; i++) {
            const rt_tensor_info *t = &m->params.t[i];
            if (t->ndim != 2 || strstr(t->name, "relative_attention_bias")) continue;
            int cross_kv =
                strstr(t->name, "EncDecAttention.k.") || strstr(t->name, "EncDecAttention.v.");
            double N = dec && !cross_kv ? Nt : Ns, f = 2.0 * N * (double)t->numel;
            fl += f;                                        /* forward */
            if (run && (!cross_kv || lowest < Le)) fl += f; /* d(input) */
            if (run && t->trainable) fl += f;               /* d(weight) */
        }
        double Tq = dec ? Tt : Ts, att = 2.0 * 2.0 * B * NH * Tq * Tq * dk;
        if (dec) att += 2.0 * 2.0 * B * NH * Tt * Ts * dk; /* cross-attention */
        fl += att * (run ? 3.0 : 1.0);
    }
    for (int i = 0; m->lora && i < m->lora->n_sites; i++) {
        const rt_lora_target *t = &m->lora->sites[i].t;
        int cross_kv = t->slot == RT_T5_LORA_CA_K || t->slot == RT_T5_LORA_CA_V;
        double N = t->block >= Le && !cross_kv ? Nt : Ns;
        fl += 6.0 * N * m->lora->prm.r * (t->in + t->out);
    }
    return fl;
}
