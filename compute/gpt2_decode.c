/* GPT-2 incremental decoding over key/value caches, and generation (compute/gpt2.h). */
#include "gemm.h"
#include "gpt2.h"
#include "layers.h"
#include "layers_t5.h"
#include "rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rt_gpt2_kv {
    rt_gpt2 *m;    /* borrowed */
    int B, Tmax;   /* capacity */
    int rows, pos; /* rows of the last prefill, positions cached */
    float *mem;    /* the arena (owned) */
    float *K, *V;  /* (L, B, Tmax, C) each */
    float *x, *ln, *mean, *rstd, *qkv, *att, *P, *tmp, *res2, *fch, *fchg, *res3, *lnf, *logits;
};

/* Carves the arena from base (NULL: only counts); returns its size in floats. */
static size_t carve(rt_gpt2_kv *kv, float *base) {
    const rt_gpt2_config *c = &kv->m->cfg;
    size_t B = kv->B, C = c->n_embd, F = c->n_inner;
    rt_carve cv = {base, 0};
#define TAKE(ptr, n) ((ptr) = rt_carve_take(&cv, (n)))
    TAKE(kv->K, (size_t)c->n_layer * B * kv->Tmax * C);
    TAKE(kv->V, (size_t)c->n_layer * B * kv->Tmax * C);
    TAKE(kv->x, B * C);
    TAKE(kv->ln, B * C);
    TAKE(kv->mean, B);
    TAKE(kv->rstd, B);
    TAKE(kv->qkv, B * 3 * C);
    TAKE(kv->att, B * C);
    TAKE(kv->P, B * c->n_head * kv->Tmax);
    TAKE(kv->tmp, B * C);
    TAKE(kv->res2, B * C);
    TAKE(kv->fch, B * F);
    TAKE(kv->fchg, B * F);
    TAKE(kv->res3, B * C);
    TAKE(kv->lnf, B * C);
    TAKE(kv->logits, B * c->vocab_size);
#undef TAKE
    return cv.off;
}

rt_status rt_gpt2_kv_create(rt_gpt2_kv **out, rt_gpt2 *m, int B, int Tmax) {
    *out = NULL;
    if (B < 1 || Tmax < 1 || Tmax > m->cfg.n_positions || (size_t)B * Tmax > (1u << 30))
        return rt_error(RT_ERR_ARG,
                        "GPT-2 caches for %d rows x %d positions: expected 1..%d "
                        "positions",
                        B, Tmax, m->cfg.n_positions);
    rt_gpt2_kv *kv = calloc(1, sizeof *kv);
    if (!kv) return rt_error(RT_ERR_MEMORY, "out of memory creating GPT-2 caches");
    kv->m = m;
    kv->B = B;
    kv->Tmax = Tmax;
    size_t n = carve(kv, NULL);
    if (!(kv->mem = rt_alloc_floats(n))) {
        free(kv);
        return rt_error(RT_ERR_MEMORY, "out of memory allocating %.1f MB of GPT-2 caches",
                        n * 4.0 / 1e6);
    }
    carve(kv, kv->mem);
    *out = kv;
    return RT_OK;
}

void rt_gpt2_kv_destroy(rt_gpt2_kv **pkv) {
    if (!pkv || !*pkv) return;
    rt_free_floats(&(*pkv)->mem);
    free(*pkv);
    *pkv = NULL;
}

int rt_gpt2_kv_len(const rt_gpt2_kv *kv) {
    return kv->pos;
}

/* Layer l's cache of keys (kv 0) or values (1), rows of Tmax * C floats. */
static float *cache(rt_gpt2_kv *kv, int l, int v) {
    size_t per = (size_t)kv->B * kv->Tmax * kv->m->cfg.n_embd;
    return (v ? kv->V : kv->K) + l * per;
}

rt_status rt_gpt2_kv_prefill(rt_gpt2_kv *kv, const int32_t *ids, int B, int T,
                             const float **logits) {
    rt_gpt2 *m = kv->m;
    int C = m->cfg.n_embd, V = m->cfg.vocab_size;
    *logits = NULL;
    kv->rows = kv->pos = 0;
    if (B < 1 || T < 1 || B > kv->B || T > kv->Tmax)
        return rt_error(RT_ERR_ARG, "GPT-2 prefill of %d rows x %d tokens: the caches hold %d x %d",
                        B, T, kv->B, kv->Tmax);
    RT_CALL(rt_gpt2_forward(m, ids, NULL, B, T, NULL));
    size_t rs = (size_t)kv->Tmax * C;
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *q = m->a[l].qkv + ((size_t)b * T + t) * 3 * C; /* Q | K | V */
                memcpy(cache(kv, l, 0) + b * rs + (size_t)t * C, q + C, (size_t)C * sizeof(float));
                memcpy(cache(kv, l, 1) + b * rs + (size_t)t * C, q + 2 * C,
                       (size_t)C * sizeof(float));
            }
    for (int b = 0; b < B; b++)
        memcpy(kv->logits + (size_t)b * V, m->logits + ((size_t)b * T + T - 1) * V,
               (size_t)V * sizeof(float));
    kv->rows = B;
    kv->pos = T;
    *logits = kv->logits;
    return RT_OK;
}

/* kv->res2 = x + c_proj(attention(c_attn(ln_1(x)))) of block l, appending this step's keys and
   values at position kv->pos. */
static void attn_step(rt_gpt2_kv *kv, const rt_gpt2_block *w, int l, const float *x) {
    const rt_gpt2_config *c = &kv->m->cfg;
    int B = kv->rows, C = c->n_embd, NH = c->n_head, t = kv->pos;
    size_t rs = (size_t)kv->Tmax * C;
    float *K = cache(kv, l, 0), *V = cache(kv, l, 1);
    rt_layernorm_forward(kv->ln, kv->mean, kv->rstd, x, w->ln_1_w, w->ln_1_b, B, C,
                         c->layer_norm_epsilon);
    rt_linear_forward(kv->qkv, kv->ln, w->c_attn_w, w->c_attn_b, B, C, 3 * C);
    for (int b = 0; b < B; b++) {
        const float *q = kv->qkv + (size_t)b * 3 * C;
        memcpy(K + b * rs + (size_t)t * C, q + C, (size_t)C * sizeof(float));
        memcpy(V + b * rs + (size_t)t * C, q + 2 * C, (size_t)C * sizeof(float));
    }
    rt_attn_layout lay = {(size_t)3 * C, rs, 1, 1.0f / sqrtf((float)(C / NH))};
    rt_attention_cached_forward(kv->att, kv->P, kv->qkv, 3 * C, K, V, C, NULL, NULL, B, 1, t + 1,
                                NH, C / NH, &lay);
    rt_linear_forward(kv->tmp, kv->att, w->attn_proj_w, w->attn_proj_b, B, C, C);
    rt_residual_dropout_forward(kv->res2, x, kv->tmp, (size_t)B * C, 0.0f, 0);
}

/* kv->res3 = res2 + c_proj(gelu(c_fc(ln_2(res2)))) of one block. */
static void mlp_step(rt_gpt2_kv *kv, const rt_gpt2_block *w) {
    const rt_gpt2_config *c = &kv->m->cfg;
    int B = kv->rows, C = c->n_embd, F = c->n_inner;
    rt_layernorm_forward(kv->ln, kv->mean, kv->rstd, kv->res2, w->ln_2_w, w->ln_2_b, B, C,
                         c->layer_norm_epsilon);
    rt_linear_forward(kv->fch, kv->ln, w->c_fc_w, w->c_fc_b, B, C, F);
    rt_gelu_forward(kv->fchg, kv->fch, (size_t)B * F);
    rt_linear_forward(kv->tmp, kv->fchg, w->mlp_proj_w, w->mlp_proj_b, B, F, C);
    rt_residual_dropout_forward(kv->res3, kv->res2, kv->tmp, (size_t)B * C, 0.0f, 0);
}

rt_status rt_gpt2_kv_step(rt_gpt2_kv *kv, const int32_t *tokens, const float **logits) {
    rt_gpt2 *m = kv->m;
    const rt_gpt2_config *c = &m->cfg;
    int B = kv->rows, C = c->n_embd, V = c->vocab_size;
    *logits = NULL;
    if (B < 1) return rt_error(RT_ERR_ARG, "GPT-2 cached step before a prefill");
    if (kv->pos >= kv->Tmax)
        return rt_error(RT_ERR_ARG, "GPT-2 cached step at position %d: the caches hold %d", kv->pos,
                        kv->Tmax);
    for (int b = 0; b < B; b++)
        if (tokens[b] < 0 || tokens[b] >= V)
            return rt_error(RT_ERR_ARG, "token id %d of row %d is outside the vocabulary [0, %d)",
                            tokens[b], b, V);
    /* wte[token] + wpe[pos]: the embedding of one position (T = 1 from wpe's row pos) */
    rt_embedding_forward(kv->x, tokens, m->w.wte, m->w.wpe + (size_t)kv->pos * C, B, 1, C);
    const float *x = kv->x;
    for (int l = 0; l < c->n_layer; l++) { /* block l reads x before it writes res3 */
        attn_step(kv, &m->w.h[l], l, x);
        mlp_step(kv, &m->w.h[l]);
        x = kv->res3;
    }
    rt_layernorm_forward(kv->lnf, kv->mean, kv->rstd, x, m->w.ln_f_w, m->w.ln_f_b, B, C,
                         c->layer_norm_epsilon);
    rt_gemm(0, 1, B, V, C, 1.0f, kv->lnf, C, m->w.lm_head, C, 0.0f, kv->logits, V);
    kv->pos++;
    *logits = kv->logits;
    return RT_OK;
}

/* ---- generation ---------------------------------------------------------------------------- */

/* The next token from one row of logits (V): the argmax (top_k <= 1 or temperature <= 0), else
   a draw (uniform number i of key) from the softmax of the top_k (at most 256) logits divided by
   the temperature. */
static int pick_next(const float *row, int V, int top_k, float temperature, uint64_t key, int i) {
    int next = 0;
    if (top_k <= 1 || temperature <= 0.0f) {
        for (int j = 1; j < V; j++)
            if (row[j] > row[next]) next = j;
        return next;
    }
    /* Top-k by repeated selection (k is small), then sample from their softmax. */
    int k = top_k < V ? top_k : V;
    int idx[256];
    if (k > 256) k = 256;
    for (int a = 0; a < k; a++) {
        int best = -1;
        for (int j = 0; j < V; j++) {
            int taken = 0;
            for (int b = 0; b < a && !taken; b++) taken = idx[b] == j;
            if (!taken && (best < 0 || row[j] > row[best])) best = j;
        }
        idx[a] = best;
    }
    double p[256], s = 0.0;
    for (int a = 0; a < k; a++) s += p[a] = exp((row[idx[a]] - row[idx[0]]) / temperature);
    double u = rt_rng_uniform(key, (uint64_t)i) * s;
    next = idx[k - 1];
    for (int a = 0; a < k; a++) {
        if (u < p[a]) return idx[a];
        u -= p[a];
    }
    return next;
}

rt_status rt_gpt2_generate(rt_gpt2 *m, const int32_t *prompt, int n_prompt, int n_new, int top_k,
                           float temperature, uint64_t seed, int32_t *out) {
    if (n_prompt < 1) return rt_error(RT_ERR_ARG, "generate: the prompt needs at least one token");
    if (!m->acts_mem) return rt_error(RT_ERR_ARG, "generate: activations not allocated");
    int V = m->cfg.vocab_size,
        Tmax = m->T * m->B < m->cfg.n_positions ? m->T * m->B : m->cfg.n_positions;
    memcpy(out, prompt, (size_t)n_prompt * sizeof(int32_t));
    if (n_new < 1) return RT_OK;
    uint64_t key = rt_rng_key(seed, 0x6e6e, 0, 0);
    rt_gpt2_kv *kv = NULL;
    RT_CALL(rt_gpt2_kv_create(&kv, m, 1, Tmax));
    int len = n_prompt, start = len > Tmax ? len - Tmax : 0;
    const float *row = NULL;
    rt_status st = rt_gpt2_kv_prefill(kv, out + start, 1, len - start, &row);
    for (int i = 0; i < n_new && st == RT_OK; i++) {
        out[len] = pick_next(row, V, top_k, temperature, key, i);
        len++;
        if (i + 1 == n_new) break;
        if (len <= Tmax) {
            st = rt_gpt2_kv_step(kv, out + len - 1, &row);
        } else { /* the window slides: every position moves, so nothing cached holds */
            st = rt_gpt2_forward(m, out + len - Tmax, NULL, 1, Tmax, NULL);
            row = m->logits + (size_t)(Tmax - 1) * V;
        }
    }
    rt_gpt2_kv_destroy(&kv);
    return st;
}
