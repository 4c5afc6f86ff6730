/* T5 generation (compute/t5_decode.h): the decoder's arena, the encoder pass, the cached decoder
   step, the beam reorder and greedy search. Beam search is compute/t5_beam.c. */
#include "t5_decode.h"
#include "layers.h"
#include "layers_t5.h"
#include "t5_decode_internal.h"
#include "t5_internal.h"
#include <stdlib.h>
#include <string.h>

/* Carves the arena from base (NULL: only counts); returns its size in floats. */
static size_t carve(rt_t5_decoder *d, float *base) {
    const rt_t5_config *c = &d->shape;
    size_t dm = c->d_model, in = (size_t)c->num_heads * c->d_kv, F = c->d_ff, NH = c->num_heads;
    size_t V = c->vocab_size, Ld = c->num_decoder_layers, R = d->capR, Ts = d->capTs;
    size_t Ns = (size_t)d->capB * Ts, Tm = d->Tmax, Nm = Ns > R ? Ns : R, Tk = Tm > Ts ? Tm : Ts;
    int gated = c->ff == RT_T5_FF_GATED_GELU;
    rt_carve cv = {base, 0};
#define TAKE(ptr, n) ((ptr) = rt_carve_take(&cv, (n)))
    TAKE(d->self_k, Ld * R * Tm * in);
    TAKE(d->self_v, Ld * R * Tm * in);
    TAKE(d->cross_k, Ld * Ns * in);
    TAKE(d->cross_v, Ld * Ns * in);
    TAKE(d->reorder, R * Tm * in);
    /* the encoder: one block's activations, which every block reuses */
    rt_t5_carve_block(&cv, &d->enc_blk[0], c, 0, (size_t)d->capB, Ts, Ts);
    TAKE(d->enc.enc_emb, Ns * dm);
    TAKE(d->enc.enc_norm, Ns * dm);
    TAKE(d->enc.enc_rstd, Ns);
    TAKE(d->enc.enc_out, Ns * dm);
    TAKE(d->enc.bias_enc, NH * Ts * Ts);
    TAKE(d->enc.dtmp, Nm * dm);
    /* one decoder step */
    step_acts *s = &d->s;
    TAKE(s->x, R * dm);
    TAKE(s->ln, R * dm);
    TAKE(s->rstd, R);
    TAKE(s->q, R * in);
    TAKE(s->kn, R * in);
    TAKE(s->vn, R * in);
    TAKE(s->att, R * in);
    TAKE(s->res_sa, R * dm);
    TAKE(s->res_ca, R * dm);
    TAKE(s->bias, NH * Tm);
    TAKE(s->P, R * NH * Tk);
    TAKE(s->ff.ln_ff, R * dm);
    TAKE(s->ff.rstd_ff, R);
    TAKE(s->ff.a0, R * F);
    if (gated) TAKE(s->ff.a1, R * F);
    TAKE(s->ff.hd, R * F);
    TAKE(s->ff.out, R * dm);
    TAKE(s->norm, R * dm);
    TAKE(s->rstd_f, R);
    TAKE(s->hidden, R * dm);
    TAKE(s->logits, R * V);
#undef TAKE
    return cv.off;
}

rt_status rt_t5_decoder_create(rt_t5_decoder **out, rt_t5 *m, int B, int beams, int Ts, int Tmax) {
    *out = NULL;
    if (B < 1 || beams < 1 || Ts < 1 || Tmax < 1 || (size_t)B * beams > (1u << 24) ||
        (size_t)B * Ts > (1u << 28) || Tmax > (1 << 20))
        return rt_error(RT_ERR_ARG,
                        "T5 decoder for %d inputs x %d beams, %d source tokens, %d steps: expected "
                        "positive sizes",
                        B, beams, Ts, Tmax);
    rt_t5_decoder *d = calloc(1, sizeof *d);
    if (!d) return rt_error(RT_ERR_MEMORY, "out of memory creating the T5 decoder");
    d->m = m;
    d->shape = m->cfg;
    d->capB = B;
    d->capTs = Ts;
    d->capR = B * beams;
    d->Tmax = Tmax;
    int Le = m->cfg.num_layers;
    d->enc_blk = calloc((size_t)Le, sizeof(blk_acts));
    d->mask = malloc((size_t)B * Ts);
    d->bk_enc = malloc((size_t)Ts * Ts * sizeof(int));
    d->ibuf = malloc((size_t)d->capR * 2 * sizeof(int32_t));
    size_t n = carve(d, NULL);
    d->bytes = n * sizeof(float) + (size_t)B * Ts + (size_t)Ts * Ts * sizeof(int) +
               (size_t)d->capR * 2 * sizeof(int32_t) + (size_t)Le * sizeof(blk_acts);
    if (d->enc_blk && d->mask && d->bk_enc && d->ibuf) d->mem = rt_alloc_floats(n);
    if (!d->mem) {
        rt_t5_decoder_destroy(&d);
        return rt_error(RT_ERR_MEMORY, "out of memory allocating %.1f MB for the T5 decoder",
                        n * 4.0 / 1e6);
    }
    carve(d, d->mem);
    for (int l = 1; l < Le; l++) d->enc_blk[l] = d->enc_blk[0];
    *out = d;
    return RT_OK;
}

void rt_t5_decoder_destroy(rt_t5_decoder **pd) {
    if (!pd || !*pd) return;
    rt_t5_decoder *d = *pd;
    rt_free_floats(&d->mem);
    free(d->enc_blk);
    free(d->mask);
    free(d->bk_enc);
    free(d->ibuf);
    free(d);
    *pd = NULL;
}

size_t rt_t5_decoder_bytes(const rt_t5_decoder *d) {
    return d->bytes;
}
int rt_t5_decoder_rows(const rt_t5_decoder *d) {
    return d->R;
}
int rt_t5_decoder_len(const rt_t5_decoder *d) {
    return d->pos;
}

/* The encoder's view of the model, refreshed from m at every call: m's configuration and
   weight views, the decoder's activations, evaluation (no dropout). */
static rt_status refresh(rt_t5_decoder *d) {
    const rt_t5_config *c = &d->m->cfg, *s = &d->shape;
    if (c->vocab_size != s->vocab_size || c->d_model != s->d_model || c->d_kv != s->d_kv ||
        c->d_ff != s->d_ff || c->num_heads != s->num_heads || c->num_layers != s->num_layers ||
        c->num_decoder_layers != s->num_decoder_layers || c->ff != s->ff)
        return rt_error(RT_ERR_ARG, "T5 decoder: the model's shape changed since the decoder was "
                                    "made (make a new decoder)");
    rt_t5 *e = &d->enc;
    e->cfg = *c;
    e->w = d->m->w;
    e->ea = d->enc_blk;
    e->bk_enc = d->bk_enc;
    memset(&e->key, 0, sizeof e->key);
    e->scratch = NULL; /* read by the attention only with dropout */
    e->scratch_threads = 0;
    return RT_OK;
}

static rt_status check_ids(const int32_t *ids, int n, int V, const char *what) {
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return rt_error(RT_ERR_ARG,
                            "%s token id %d at position %d is outside the vocabulary [0, %d)", what,
                            ids[i], i, V);
    return RT_OK;
}

rt_status rt_t5_decoder_encode(rt_t5_decoder *d, const int32_t *src, const uint8_t *src_mask, int B,
                               int Ts, int beams) {
    RT_CALL(refresh(d));
    if (B < 1 || Ts < 1 || beams < 1 || B > d->capB || Ts > d->capTs ||
        (size_t)B * beams > (size_t)d->capR)
        return rt_error(RT_ERR_ARG,
                        "T5 decoder: %d inputs x %d beams of %d source tokens, the decoder holds "
                        "%d rows and %d inputs of %d tokens",
                        B, beams, Ts, d->capR, d->capB, d->capTs);
    const rt_t5_config *c = &d->enc.cfg;
    RT_CALL(check_ids(src, B * Ts, c->vocab_size, "source"));
    d->R = 0; /* nothing to step until this encode is done */
    d->has_mask = src_mask != NULL;
    if (src_mask) memcpy(d->mask, src_mask, (size_t)B * Ts);
    rt_t5 *e = &d->enc;
    e->src = src;
    e->src_mask = src_mask ? d->mask : NULL;
    e->cur_B = B;
    e->cur_Ts = Ts;
    rt_t5_encoder_forward(e);
    int dm = c->d_model, in = c->num_heads * c->d_kv;
    size_t per = (size_t)B * Ts * in;
    for (int l = 0; l < c->num_decoder_layers; l++) {
        rt_linear_nt_forward(d->cross_k + l * per, e->enc_out, e->w.dec[l].ca_k, B * Ts, dm, in);
        rt_linear_nt_forward(d->cross_v + l * per, e->enc_out, e->w.dec[l].ca_v, B * Ts, dm, in);
    }
    e->src = NULL;
    d->B = B;
    d->Ts = Ts;
    d->beams = beams;
    d->R = B * beams;
    d->pos = 0;
    return RT_OK;
}

/* Floats between consecutive layers' self-attention caches and between a cache's rows. */
static size_t layer_stride(const rt_t5_decoder *d) {
    return (size_t)d->capR * d->Tmax * d->shape.num_heads * d->shape.d_kv;
}
static size_t row_stride(const rt_t5_decoder *d) {
    return (size_t)d->Tmax * d->shape.num_heads * d->shape.d_kv;
}

/* The causal position bias (NH, 1, t+1) of query t against keys 0..t (block 0's table). */
static void step_bias(rt_t5_decoder *d, int t) {
    const rt_t5_config *c = &d->enc.cfg;
    const float *table = d->enc.w.dec[0].rel_bias;
    int NH = c->num_heads, Tk = t + 1;
    for (int j = 0; j < Tk; j++) {
        int bk = rt_t5_bucket(j - t, 0, c->relative_attention_num_buckets,
                              c->relative_attention_max_distance);
        for (int h = 0; h < NH; h++) d->s.bias[(size_t)h * Tk + j] = table[(size_t)bk * NH + h];
    }
}

/* s->res_sa = x + o(attention(q(ln(x)), the cached keys and values with this step's)). */
static void self_attention(rt_t5_decoder *d, const rt_t5_block *b, int l, const float *x) {
    const rt_t5_config *c = &d->enc.cfg;
    step_acts *s = &d->s;
    int R = d->R, t = d->pos, dm = c->d_model, in = c->num_heads * c->d_kv;
    size_t rs = row_stride(d);
    float *K = d->self_k + l * layer_stride(d), *V = d->self_v + l * layer_stride(d);
    rt_rmsnorm_forward(s->ln, s->rstd, x, b->ln_sa, R, dm, c->layer_norm_epsilon);
    rt_linear_nt_forward(s->q, s->ln, b->sa_q, R, dm, in);
    rt_linear_nt_forward(s->kn, s->ln, b->sa_k, R, dm, in);
    rt_linear_nt_forward(s->vn, s->ln, b->sa_v, R, dm, in);
    for (int r = 0; r < R; r++) {
        memcpy(K + r * rs + (size_t)t * in, s->kn + (size_t)r * in, (size_t)in * sizeof(float));
        memcpy(V + r * rs + (size_t)t * in, s->vn + (size_t)r * in, (size_t)in * sizeof(float));
    }
    rt_attn_layout lay = {(size_t)in, rs, 1, 1.0f};
    rt_attention_cached_forward(s->att, s->P, s->q, in, K, V, in, s->bias, NULL, R, 1, t + 1,
                                c->num_heads, c->d_kv, &lay);
    rt_linear_nt_forward(d->enc.dtmp, s->att, b->sa_o, R, in, dm);
    rt_residual_dropout_forward(s->res_sa, x, d->enc.dtmp, (size_t)R * dm, 0.0f, 0);
}

/* s->res_ca = x + o(attention(q(ln(x)), the input's encoder keys and values)). */
static void cross_attention(rt_t5_decoder *d, const rt_t5_block *b, int l, const float *x) {
    const rt_t5_config *c = &d->enc.cfg;
    step_acts *s = &d->s;
    int R = d->R, Ts = d->Ts, dm = c->d_model, in = c->num_heads * c->d_kv;
    size_t per = (size_t)d->B * Ts * in;
    rt_rmsnorm_forward(s->ln, s->rstd, x, b->ln_ca, R, dm, c->layer_norm_epsilon);
    rt_linear_nt_forward(s->q, s->ln, b->ca_q, R, dm, in);
    rt_attn_layout lay = {(size_t)in, (size_t)Ts * in, d->beams, 1.0f};
    rt_attention_cached_forward(s->att, s->P, s->q, in, d->cross_k + l * per, d->cross_v + l * per,
                                in, NULL, d->has_mask ? d->mask : NULL, R, 1, Ts, c->num_heads,
                                c->d_kv, &lay);
    rt_linear_nt_forward(d->enc.dtmp, s->att, b->ca_o, R, in, dm);
    rt_residual_dropout_forward(s->res_ca, x, d->enc.dtmp, (size_t)R * dm, 0.0f, 0);
}

rt_status rt_t5_decoder_step(rt_t5_decoder *d, const int32_t *tokens, const float **logits) {
    *logits = NULL;
    RT_CALL(refresh(d));
    if (d->R < 1) return rt_error(RT_ERR_ARG, "T5 decoder step before an encode");
    if (d->pos >= d->Tmax)
        return rt_error(RT_ERR_ARG, "T5 decoder step %d: the caches hold %d positions", d->pos + 1,
                        d->Tmax);
    const rt_t5_config *c = &d->enc.cfg;
    const rt_t5_views *w = &d->enc.w;
    int R = d->R;
    RT_CALL(check_ids(tokens, R, c->vocab_size, "decoder input"));
    rt_t5_gather(d->s.x, tokens, w->shared, R, c->d_model);
    step_bias(d, d->pos);
    const float *x = d->s.x;
    for (int l = 0; l < c->num_decoder_layers; l++) {
        const rt_t5_block *b = &w->dec[l];
        self_attention(d, b, l, x);
        cross_attention(d, b, l, d->s.res_sa);
        rt_t5_ff_forward(&d->enc, b, &d->s.ff, d->s.res_ca, R, 1, l);
        x = d->s.ff.out;
    }
    rt_t5_decoder_final(&d->enc, d->s.hidden, d->s.norm, d->s.rstd_f, x, R);
    rt_linear_nt_forward(d->s.logits, d->s.hidden, w->lm_head, R, c->d_model, c->vocab_size);
    d->pos++;
    *logits = d->s.logits;
    return RT_OK;
}

rt_status rt_t5_decoder_reorder(rt_t5_decoder *d, const int32_t *parent) {
    int R = d->R, moved = 0;
    for (int r = 0; r < R; r++) {
        if (parent[r] < 0 || parent[r] >= R || parent[r] / d->beams != r / d->beams)
            return rt_error(RT_ERR_ARG,
                            "T5 decoder reorder: row %d's parent %d is not a row of input %d", r,
                            parent[r], r / d->beams);
        moved |= parent[r] != r;
    }
    if (!moved || d->pos == 0) return RT_OK;
    size_t rs = row_stride(d), n = (size_t)d->pos * d->shape.num_heads * d->shape.d_kv;
    for (int l = 0; l < d->shape.num_decoder_layers; l++)
        for (int kv = 0; kv < 2; kv++) {
            float *cache = (kv ? d->self_v : d->self_k) + l * layer_stride(d);
            for (int r = 0; r < R; r++) /* every read before any write */
                if (parent[r] != r)
                    memcpy(d->reorder + r * rs, cache + parent[r] * rs, n * sizeof(float));
            for (int r = 0; r < R; r++)
                if (parent[r] != r) memcpy(cache + r * rs, d->reorder + r * rs, n * sizeof(float));
        }
    return RT_OK;
}

/* ---- greedy search -------------------------------------------------------------------------- */

/* The lowest index of the largest of n values (torch.argmax's choice). */
static int argmax(const float *v, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

rt_status rt_t5_generate_greedy(rt_t5_decoder *d, const int32_t *src, const uint8_t *src_mask,
                                int B, int Ts, int max_new_tokens, int eos_id, int32_t *out,
                                int *lengths) {
    if (max_new_tokens < 1 || max_new_tokens > d->Tmax)
        return rt_error(RT_ERR_ARG,
                        "greedy search of %d new tokens: expected 1..%d (the decoder's "
                        "steps)",
                        max_new_tokens, d->Tmax);
    RT_CALL(rt_t5_decoder_encode(d, src, src_mask, B, Ts, 1));
    const rt_t5_config *c = &d->enc.cfg;
    int W = 1 + max_new_tokens, V = c->vocab_size;
    int32_t *tok = d->ibuf, *open = d->ibuf + d->capR;
    for (int b = 0; b < B; b++) {
        out[(size_t)b * W] = c->decoder_start_token_id;
        for (int j = 1; j < W; j++) out[(size_t)b * W + j] = c->pad_token_id;
        lengths[b] = 0;
        tok[b] = c->decoder_start_token_id;
        open[b] = 1;
    }
    for (int s = 0; s < max_new_tokens; s++) {
        const float *logits;
        RT_CALL(rt_t5_decoder_step(d, tok, &logits));
        int n_open = 0;
        for (int b = 0; b < B; b++) {
            int next = c->pad_token_id;
            if (open[b]) {
                next = argmax(logits + (size_t)b * V, V);
                lengths[b] = s + 1;
                open[b] = next != eos_id;
            }
            out[(size_t)b * W + s + 1] = next;
            tok[b] = next;
            n_open += open[b];
        }
        if (!n_open) break;
    }
    return RT_OK;
}

void rt_t5_beam_opts_default(rt_t5_beam_opts *o, const rt_t5_config *cfg) {
    o->num_beams = 4;
    o->length_penalty = 1.0;
    o->early_stopping = RT_EARLY_STOP_FALSE;
    o->max_new_tokens = 20;
    o->eos_id = cfg->eos_token_id;
}
