/* GPT-2 model: tensor table in layer order (so gradient buckets and shards follow layers), views,
   activation arena, forward, backward, generation. */
#include "gpt2.h"
#include "gemm.h"
#include "layers.h"
#include "rng.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    T_LN1W,
    T_LN1B,
    T_QKVW,
    T_QKVB,
    T_APW,
    T_APB,
    T_LN2W,
    T_LN2B,
    T_FCW,
    T_FCB,
    T_MPW,
    T_MPB,
    T_PER_BLOCK
};
#define IDX_WTE 0
#define IDX_WPE 1
#define IDX_BLK(l, k) (2 + (l)*T_PER_BLOCK + (k))
#define IDX_LNFW(L) (2 + (L)*T_PER_BLOCK)
#define IDX_LNFB(L) (3 + (L)*T_PER_BLOCK)
#define IDX_HEAD(L) (4 + (L)*T_PER_BLOCK) /* untied models only */

/* Dropout sites: one key per (block, site) and micro-batch. */
enum { SITE_EMBD = 0, SITE_ATTN = 1, SITE_ATTN_RESID = 2, SITE_MLP_RESID = 3 };
static uint64_t drop_key(const rt_gpt2 *m, int layer, int site) {
    return rt_rng_key(m->key.seed, m->key.step, m->key.micro, (uint64_t)(layer + 1) * 8 + site);
}

#define LSITE(m, l, k) rt_lora_site_at((m)->lora, (l), RT_GPT2_LORA_##k)
static void set_views(rt_gpt2_views *v, rt_gpt2_block *h, float *base, const rt_tensor_table *t,
                      int L, float *const *over);

int rt_gpt2_lora_targets(const rt_gpt2 *m, rt_lora_target *out) {
    int C = m->cfg.n_embd, F = m->cfg.n_inner, n = 0;
    static const struct {
        const char *name;
        int w, b, in, out; /* in / out: 0 = C, 1 = F, 3 = 3C */
    } k[RT_GPT2_LORA_SLOTS] = {{"attn.c_attn", T_QKVW, T_QKVB, 0, 3},
                               {"attn.c_proj", T_APW, T_APB, 0, 0},
                               {"mlp.c_fc", T_FCW, T_FCB, 0, 1},
                               {"mlp.c_proj", T_MPW, T_MPB, 1, 0}};
    for (int l = 0; l < m->cfg.n_layer; l++)
        for (int s = 0; s < RT_GPT2_LORA_SLOTS; s++) {
            rt_lora_target *t = &out[n++];
            memset(t, 0, sizeof *t);
            snprintf(t->module, sizeof t->module, "h.%d.%s", l, k[s].name);
            t->block = l;
            t->slot = s;
            t->in = k[s].in == 1 ? F : C;
            t->out = k[s].out == 1 ? F : (k[s].out == 3 ? 3 * C : C);
            t->weight = IDX_BLK(l, k[s].w);
            t->bias = IDX_BLK(l, k[s].b);
            t->conv1d = 1;
        }
    return n;
}

void rt_gpt2_set_lora(rt_gpt2 *m, rt_lora *L) {
    m->lora = L;
    if (L) rt_free_floats(&m->grads_mem);
}

rt_status rt_gpt2_redirect(rt_gpt2 *m, int idx, float *param, float *grad) {
    RT_CALL(rt_redirect_set(&m->pat, &m->gat, m->params.n, idx, param, grad));
    set_views(&m->w, m->w.h, m->params_mem, &m->params, m->cfg.n_layer, m->pat);
    return RT_OK;
}

void rt_gpt2_config_default(rt_gpt2_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->vocab_size = 50257;
    cfg->n_positions = 1024;
    cfg->n_embd = 768;
    cfg->n_layer = 12;
    cfg->n_head = 12;
    cfg->n_inner = 4 * 768;
    cfg->layer_norm_epsilon = 1e-5f;
    cfg->embd_pdrop = cfg->attn_pdrop = cfg->resid_pdrop = 0.1f;
    cfg->initializer_range = 0.02f;
    cfg->bos_token_id = cfg->eos_token_id = 50256;
    cfg->tie_word_embeddings = 1;
}

rt_status rt_gpt2_config_validate(const rt_gpt2_config *c) {
#define RANGE(f, lo, hi)                                                                           \
    if (c->f < (lo) || c->f > (hi))                                                                \
        return rt_error(RT_ERR_ARG, "GPT-2 config: %s = %g, expected %g..%g", #f, (double)c->f,    \
                        (double)(lo), (double)(hi));
    RANGE(vocab_size, 1, 1 << 24);
    RANGE(n_positions, 1, 1 << 20);
    RANGE(n_embd, 1, 1 << 16);
    RANGE(n_layer, 1, 1024);
    RANGE(n_head, 1, 1024);
    RANGE(n_inner, 1, 1 << 18);
    RANGE(layer_norm_epsilon, 0.0f, 1.0f);
    RANGE(embd_pdrop, 0.0f, 0.999f);
    RANGE(attn_pdrop, 0.0f, 0.999f);
    RANGE(resid_pdrop, 0.0f, 0.999f);
    RANGE(initializer_range, 0.0f, 10.0f);
#undef RANGE
    if (c->n_embd % c->n_head != 0)
        return rt_error(RT_ERR_ARG, "GPT-2 config: n_embd %d is not a multiple of n_head %d",
                        c->n_embd, c->n_head);
    return RT_OK;
}

static void set_views(rt_gpt2_views *v, rt_gpt2_block *h, float *base, const rt_tensor_table *t,
                      int L, float *const *over) {
#define AT(i) (over && over[i] ? over[i] : base + t->t[i].offset)
    v->wte = AT(IDX_WTE);
    v->wpe = AT(IDX_WPE);
    v->h = h;
    for (int l = 0; l < L; l++) {
        rt_gpt2_block *b = &h[l];
        float **f[T_PER_BLOCK] = {&b->ln_1_w,      &b->ln_1_b,      &b->c_attn_w,   &b->c_attn_b,
                                  &b->attn_proj_w, &b->attn_proj_b, &b->ln_2_w,     &b->ln_2_b,
                                  &b->c_fc_w,      &b->c_fc_b,      &b->mlp_proj_w, &b->mlp_proj_b};
        for (int k = 0; k < T_PER_BLOCK; k++) *f[k] = AT(IDX_BLK(l, k));
    }
    v->ln_f_w = AT(IDX_LNFW(L));
    v->ln_f_b = AT(IDX_LNFB(L));
    v->lm_head = t->n > IDX_HEAD(L) ? AT(IDX_HEAD(L)) : v->wte;
#undef AT
}

/* The tensor table of a (validated) configuration; 0 when out of memory. */
static int build_table(rt_tensor_table *t, const rt_gpt2_config *cfg) {
    int64_t V = cfg->vocab_size, C = cfg->n_embd, F = cfg->n_inner, P = cfg->n_positions;
    rt_table_init(t);
    int ok = 1;
    ok &= rt_table_add(t, "wte.weight", 2, (int64_t[]){V, C}, 1) >= 0;
    ok &= rt_table_add(t, "wpe.weight", 2, (int64_t[]){P, C}, 1) >= 0;
    for (int l = 0; l < cfg->n_layer && ok; l++) {
        static const char *nm[T_PER_BLOCK] = {
            "ln_1.weight",        "ln_1.bias",        "attn.c_attn.weight", "attn.c_attn.bias",
            "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",        "ln_2.bias",
            "mlp.c_fc.weight",    "mlp.c_fc.bias",    "mlp.c_proj.weight",  "mlp.c_proj.bias"};
        int64_t shp[T_PER_BLOCK][2] = {{C, 0}, {C, 0}, {C, 3 * C}, {3 * C, 0}, {C, C}, {C, 0},
                                       {C, 0}, {C, 0}, {C, F},     {F, 0},     {F, C}, {C, 0}};
        for (int k = 0; k < T_PER_BLOCK; k++) {
            char name[RT_NAME_MAX];
            snprintf(name, sizeof name, "h.%d.%s", l, nm[k]);
            int nd = shp[k][1] ? 2 : 1;
            ok &= rt_table_add(t, name, nd, shp[k], nd == 2) >= 0;
        }
    }
    ok &= rt_table_add(t, "ln_f.weight", 1, (int64_t[]){C}, 0) >= 0;
    ok &= rt_table_add(t, "ln_f.bias", 1, (int64_t[]){C}, 0) >= 0;
    if (!cfg->tie_word_embeddings)
        ok &= rt_table_add(t, "lm_head.weight", 2, (int64_t[]){V, C}, 1) >= 0;
    return ok;
}

rt_status rt_gpt2_config_num_params(const rt_gpt2_config *cfg, size_t *n) {
    *n = 0;
    RT_CALL(rt_gpt2_config_validate(cfg));
    rt_tensor_table t;
    int ok = build_table(&t, cfg);
    *n = t.total;
    rt_table_free(&t);
    return ok ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory building a tensor table");
}

rt_status rt_gpt2_create(rt_gpt2 **out, const rt_gpt2_config *cfg) {
    return rt_gpt2_create_ext(out, cfg, NULL, NULL);
}

rt_status rt_gpt2_create_ext(rt_gpt2 **out, const rt_gpt2_config *cfg, rt_gpt2_extend_fn extend,
                             void *arg) {
    *out = NULL;
    RT_CALL(rt_gpt2_config_validate(cfg));
    rt_gpt2 *m = calloc(1, sizeof *m);
    if (!m) return rt_error(RT_ERR_MEMORY, "out of memory creating the model");
    m->cfg = *cfg;
    rt_tensor_table *t = &m->params;
    int ok = build_table(t, cfg);
    m->n_body = t->n;
    if (ok && extend) ok = extend(arg, t);
    m->w.h = calloc((size_t)cfg->n_layer, sizeof(rt_gpt2_block));
    m->g.h = calloc((size_t)cfg->n_layer, sizeof(rt_gpt2_block));
    m->a = calloc((size_t)cfg->n_layer, sizeof(rt_gpt2_block_acts));
    if (ok && m->w.h && m->g.h && m->a) m->params_mem = rt_alloc_floats(t->total);
    if (!ok || !m->params_mem) {
        rt_gpt2_destroy(&m);
        return rt_error(RT_ERR_MEMORY, "out of memory allocating GPT-2 parameters");
    }
    set_views(&m->w, m->w.h, m->params_mem, t, cfg->n_layer, NULL);
    /* Only the LayerNorm weights start at 1; everything else is zero until loaded/initialised. */
    for (int i = 0; i < t->n; i++)
        if (strstr(t->t[i].name, "ln_") && strstr(t->t[i].name, ".weight"))
            for (size_t j = 0; j < t->t[i].numel; j++) m->params_mem[t->t[i].offset + j] = 1.0f;
    *out = m;
    return RT_OK;
}

void rt_gpt2_destroy(rt_gpt2 **pm) {
    if (!pm || !*pm) return;
    rt_gpt2 *m = *pm;
    rt_free_floats(&m->params_mem);
    rt_free_floats(&m->grads_mem);
    rt_free_floats(&m->acts_mem);
    free(m->w.h);
    free(m->g.h);
    free(m->a);
    rt_table_free(&m->params);
    free(m->pat);
    free(m->gat);
    free(m);
    *pm = NULL;
}

size_t rt_gpt2_num_params(const rt_gpt2 *m) {
    size_t n = 0;
    for (int i = 0; i < m->params.n; i++) n += m->params.t[i].numel;
    return n;
}

rt_status rt_gpt2_alloc_acts(rt_gpt2 *m, int B, int T) {
    const rt_gpt2_config *c = &m->cfg;
    if (B < 1 || T < 1 || T > c->n_positions)
        return rt_error(RT_ERR_ARG, "micro-batch %d x %d: expected B >= 1 and 1 <= T <= %d", B, T,
                        c->n_positions);
    if (!m->grads_mem && !m->lora) {
        m->grads_mem = rt_alloc_floats(m->params.total);
        if (!m->grads_mem) return rt_error(RT_ERR_MEMORY, "out of memory allocating gradients");
        set_views(&m->g, m->g.h, m->grads_mem, &m->params, c->n_layer, NULL);
    }
    rt_free_floats(&m->acts_mem);
    size_t N = (size_t)B * T, C = c->n_embd, F = c->n_inner, V = c->vocab_size, L = c->n_layer;
    size_t att = (size_t)B * c->n_head * T * T;
    int nth = omp_get_max_threads();
    size_t per_block = N * C * 6 + N * 4 + N * 3 * C + att + N * F * 2;
    size_t head = m->no_logits ? 0 : N * V + 2 * N; /* logits, lse, losses */
    size_t total = N * C + L * per_block + N * C + 2 * N + head + 3 * N * C + 3 * N * C + N * F +
                   (size_t)nth * 2 * T * T;
    float *p = rt_alloc_floats(total + 64 * 64);
    if (!p)
        return rt_error(RT_ERR_MEMORY, "out of memory allocating %.1f MB of activations",
                        total * 4.0 / 1e6);
    m->acts_mem = p;
    m->acts_total = total;
    m->B = B;
    m->T = T;
#define TAKE(n) (p += (((n) + 15) & ~(size_t)15), p - (((n) + 15) & ~(size_t)15))
    m->encoded = TAKE(N * C);
    for (size_t l = 0; l < L; l++) {
        rt_gpt2_block_acts *a = &m->a[l];
        a->ln1 = TAKE(N * C);
        a->ln1_mean = TAKE(N);
        a->ln1_rstd = TAKE(N);
        a->qkv = TAKE(N * 3 * C);
        a->att = TAKE(att);
        a->atty = TAKE(N * C);
        a->res2 = TAKE(N * C);
        a->ln2 = TAKE(N * C);
        a->ln2_mean = TAKE(N);
        a->ln2_rstd = TAKE(N);
        a->fch = TAKE(N * F);
        a->fch_gelu = TAKE(N * F);
        a->res3 = TAKE(N * C);
    }
    m->lnf = TAKE(N * C);
    m->lnf_mean = TAKE(N);
    m->lnf_rstd = TAKE(N);
    if (!m->no_logits) {
        m->logits = TAKE(N * V);
        m->lse = TAKE(N);
        m->losses = TAKE(N);
    } else {
        m->logits = m->lse = m->losses = NULL;
    }
    m->dres = TAKE(N * C);
    m->dbtc = TAKE(N * C);
    m->dbtc2 = TAKE(N * C);
    m->dqkv = TAKE(N * 3 * C);
    m->dfch = TAKE(N * F);
    m->datt_scratch = TAKE((size_t)nth * 2 * T * T);
    m->scratch_threads = nth;
#undef TAKE
    return RT_OK;
}

void rt_gpt2_init_weights(rt_gpt2 *m, uint64_t seed) {
    const rt_gpt2_config *c = &m->cfg;
    float std = c->initializer_range, std_proj = std / sqrtf(2.0f * c->n_layer);
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *ti = &m->params.t[i];
        float *p = m->params_mem + ti->offset;
        if (ti->ndim == 1) {
            float v = strstr(ti->name, "ln_") && strstr(ti->name, ".weight") ? 1.0f : 0.0f;
            for (size_t j = 0; j < ti->numel; j++) p[j] = v;
            continue;
        }
        float s = strstr(ti->name, "c_proj.weight") ? std_proj : std;
        uint64_t key = rt_rng_key(seed, (uint64_t)i, 0, 0x1417);
#pragma omp parallel for schedule(static)
        for (size_t j = 0; j < ti->numel; j++) p[j] = s * rt_rng_normal(key, j);
    }
}

rt_status rt_gpt2_forward_hidden(rt_gpt2 *m, const int32_t *ids, int B, int T) {
    return rt_gpt2_forward_hidden_keyed(m, ids, B, T, NULL);
}

rt_status rt_gpt2_forward_hidden_keyed(rt_gpt2 *m, const int32_t *ids, int B, int T,
                                       const rt_step_key *key) {
    const rt_gpt2_config *c = &m->cfg;
    if (!m->acts_mem || B > m->B || T > m->T || B * T > m->B * m->T || B < 1 || T < 1)
        return rt_error(RT_ERR_ARG, "forward of %d x %d tokens: activations hold %d x %d", B, T,
                        m->B, m->T);
    int C = c->n_embd, F = c->n_inner, V = c->vocab_size, NH = c->n_head, N = B * T;
    if (omp_get_max_threads() > m->scratch_threads)
        return rt_error(RT_ERR_ARG,
                        "forward with %d OpenMP threads: activations were allocated for %d "
                        "(call rt_gpt2_alloc_acts after changing the thread count)",
                        omp_get_max_threads(), m->scratch_threads);
    for (int i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return rt_error(RT_ERR_ARG,
                            "token id %d at position %d is outside the vocabulary [0, %d)", ids[i],
                            i, V);
    m->ids = ids;
    m->targets = NULL;
    m->n_counted = 0;
    m->cur_B = B;
    m->cur_T = T;
    static const rt_step_key eval_key = {0, 0, 0, 0};
    m->key = key ? *key : eval_key;
    int train = m->key.train;
    float pe = train ? c->embd_pdrop : 0.0f, pa = train ? c->attn_pdrop : 0.0f,
          pr = train ? c->resid_pdrop : 0.0f;

    rt_embedding_forward(m->encoded, ids, m->w.wte, m->w.wpe, B, T, C);
    rt_dropout_forward(m->encoded, m->encoded, (size_t)N * C, pe, drop_key(m, -1, SITE_EMBD));
    const float *x = m->encoded;
    for (int l = 0; l < c->n_layer; l++) {
        rt_gpt2_block_acts *a = &m->a[l];
        const rt_gpt2_block *w = &m->w.h[l];
        rt_layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, x, w->ln_1_w, w->ln_1_b, N, C,
                             c->layer_norm_epsilon);
        rt_linear_forward(a->qkv, a->ln1, w->c_attn_w, w->c_attn_b, N, C, 3 * C);
        rt_lora_forward(m->lora, LSITE(m, l, C_ATTN), a->qkv, a->ln1, N, &m->key);
        rt_attention_forward(a->atty, a->att, a->qkv, B, T, C, NH, pa, drop_key(m, l, SITE_ATTN),
                             m->datt_scratch, m->scratch_threads);
        rt_linear_forward(m->dbtc, a->atty, w->attn_proj_w, w->attn_proj_b, N, C, C);
        rt_lora_forward(m->lora, LSITE(m, l, ATTN_PROJ), m->dbtc, a->atty, N, &m->key);
        rt_residual_dropout_forward(a->res2, x, m->dbtc, (size_t)N * C, pr,
                                    drop_key(m, l, SITE_ATTN_RESID));
        rt_layernorm_forward(a->ln2, a->ln2_mean, a->ln2_rstd, a->res2, w->ln_2_w, w->ln_2_b, N, C,
                             c->layer_norm_epsilon);
        rt_linear_forward(a->fch, a->ln2, w->c_fc_w, w->c_fc_b, N, C, F);
        rt_lora_forward(m->lora, LSITE(m, l, C_FC), a->fch, a->ln2, N, &m->key);
        rt_gelu_forward(a->fch_gelu, a->fch, (size_t)N * F);
        rt_linear_forward(m->dbtc, a->fch_gelu, w->mlp_proj_w, w->mlp_proj_b, N, F, C);
        rt_lora_forward(m->lora, LSITE(m, l, MLP_PROJ), m->dbtc, a->fch_gelu, N, &m->key);
        rt_residual_dropout_forward(a->res3, a->res2, m->dbtc, (size_t)N * C, pr,
                                    drop_key(m, l, SITE_MLP_RESID));
        x = a->res3;
    }
    rt_layernorm_forward(m->lnf, m->lnf_mean, m->lnf_rstd, x, m->w.ln_f_w, m->w.ln_f_b, N, C,
                         c->layer_norm_epsilon);
    return RT_OK;
}

rt_status rt_gpt2_forward(rt_gpt2 *m, const int32_t *ids, const int32_t *targets, int B, int T,
                          double *loss_sum) {
    return rt_gpt2_forward_keyed(m, ids, targets, B, T, NULL, loss_sum);
}

rt_status rt_gpt2_forward_keyed(rt_gpt2 *m, const int32_t *ids, const int32_t *targets, int B,
                                int T, const rt_step_key *key, double *loss_sum) {
    if (m->acts_mem && !m->logits)
        return rt_error(RT_ERR_ARG, "forward with logits: activations were allocated without "
                                    "them (no_logits: a task head computes the outputs)");
    RT_CALL(rt_gpt2_forward_hidden_keyed(m, ids, B, T, key));
    int C = m->cfg.n_embd, V = m->cfg.vocab_size, N = B * T;
    m->targets = targets;
    rt_gemm(0, 1, N, V, C, 1.0f, m->lnf, C, m->w.lm_head, C, 0.0f, m->logits, V);
    if (targets) {
        int bad = -1;
        double s = rt_crossentropy_forward(m->losses, m->lse, m->logits, targets, N, V,
                                           &m->n_counted, &bad);
        if (bad >= 0)
            return rt_error(RT_ERR_ARG,
                            "target %d at position %d: expected -100 (ignored) or an id in [0, %d)",
                            targets[bad], bad, V);
        if (loss_sum) *loss_sum = s;
    } else if (loss_sum) {
        *loss_sum = 0.0;
    }
    return RT_OK;
}

/* Gradient view of tensor idx, or NULL when it is frozen. */
static float *gview(rt_gpt2 *m, int idx) {
    const rt_tensor_info *ti = &m->params.t[idx];
    if (!ti->trainable) return NULL;
    if (m->gat && m->gat[idx]) return m->gat[idx];
    return m->grads_mem ? m->grads_mem + ti->offset : NULL;
}

static int block_trainable(const rt_gpt2 *m, int l) {
    for (int k = 0; k < T_PER_BLOCK; k++)
        if (m->params.t[IDX_BLK(l, k)].trainable) return 1;
    return 0;
}

/* The lowest block whose backward runs: 0 when the embeddings train, else the lowest block with a
   trainable tensor (n_layer: none). rt_gpt2_backward and rt_gpt2_flops_done share it. */
static int backward_lowest(const rt_gpt2 *m) {
    int L = m->cfg.n_layer, lo = m->lora ? rt_lora_lowest_block(m->lora) : L;
    if (m->params.t[IDX_WTE].trainable || m->params.t[IDX_WPE].trainable) return 0;
    for (int l = 0; l < lo; l++)
        if (block_trainable(m, l)) return l;
    return lo;
}

/* Whether any gradient below the final hidden states is needed (a trainable ln_f or block). */
static int below_head_trains(const rt_gpt2 *m) {
    int L = m->cfg.n_layer;
    return backward_lowest(m) < L || m->params.t[IDX_LNFW(L)].trainable ||
           m->params.t[IDX_LNFB(L)].trainable;
}

/* Backward from dlnf (B,T,C), the gradient of the final LayerNorm's output, through ln_f, the
   blocks and the embeddings. wte_has_head: the tied LM head already wrote (with acc) into dwte,
   so the embeddings add to it. dlnf may be m->dbtc (it is read before dbtc is reused). */
static void backward_from_lnf(rt_gpt2 *m, const float *dlnf, int acc, int wte_has_head,
                              rt_gpt2_layer_done_fn done, void *arg) {
    const rt_gpt2_config *c = &m->cfg;
    int B = m->cur_B, T = m->cur_T, C = c->n_embd, F = c->n_inner, V = c->vocab_size,
        NH = c->n_head, L = c->n_layer, N = B * T;
    int train = m->key.train;
    float pa = train ? c->attn_pdrop : 0.0f, pr = train ? c->resid_pdrop : 0.0f,
          pe = train ? c->embd_pdrop : 0.0f;
    int embd_train = m->params.t[IDX_WTE].trainable || m->params.t[IDX_WPE].trainable;
    int lowest = backward_lowest(m); /* the lowest block whose input gradient is needed */
    float *dwte = gview(m, IDX_WTE);
    memset(m->dres, 0, (size_t)N * C * sizeof(float));
    const float *xL = L ? m->a[L - 1].res3 : m->encoded;
    rt_layernorm_backward(m->dres, gview(m, IDX_LNFW(L)), gview(m, IDX_LNFB(L)), dlnf, xL,
                          m->w.ln_f_w, m->lnf_mean, m->lnf_rstd, N, C, acc);

    for (int l = L - 1; l >= lowest; l--) {
        rt_gpt2_block_acts *a = &m->a[l];
        const rt_gpt2_block *w = &m->w.h[l];
        const float *xin = l ? m->a[l - 1].res3 : m->encoded;
        /* MLP branch: res3 = res2 + dropout(mlp_proj(gelu(c_fc(ln_2(res2))))) */
        const float *d = m->dres;
        if (pr > 0.0f) {
            rt_dropout_backward(m->dbtc, m->dres, (size_t)N * C, pr,
                                drop_key(m, l, SITE_MLP_RESID));
            d = m->dbtc;
        }
        rt_linear_backward(m->dfch, gview(m, IDX_BLK(l, T_MPW)), gview(m, IDX_BLK(l, T_MPB)), d,
                           a->fch_gelu, w->mlp_proj_w, N, F, C, acc);
        rt_lora_backward(m->lora, LSITE(m, l, MLP_PROJ), m->dfch, d, a->fch_gelu, N, &m->key, acc);
        rt_gelu_backward(m->dfch, a->fch, m->dfch, (size_t)N * F);
        rt_linear_backward(m->dbtc2, gview(m, IDX_BLK(l, T_FCW)), gview(m, IDX_BLK(l, T_FCB)),
                           m->dfch, a->ln2, w->c_fc_w, N, C, F, acc);
        rt_lora_backward(m->lora, LSITE(m, l, C_FC), m->dbtc2, m->dfch, a->ln2, N, &m->key, acc);
        rt_layernorm_backward(m->dres, gview(m, IDX_BLK(l, T_LN2W)), gview(m, IDX_BLK(l, T_LN2B)),
                              m->dbtc2, a->res2, w->ln_2_w, a->ln2_mean, a->ln2_rstd, N, C, acc);
        /* Attention branch: res2 = x + dropout(attn_proj(attention(c_attn(ln_1(x))))) */
        d = m->dres;
        if (pr > 0.0f) {
            rt_dropout_backward(m->dbtc, m->dres, (size_t)N * C, pr,
                                drop_key(m, l, SITE_ATTN_RESID));
            d = m->dbtc;
        }
        rt_linear_backward(m->dbtc2, gview(m, IDX_BLK(l, T_APW)), gview(m, IDX_BLK(l, T_APB)), d,
                           a->atty, w->attn_proj_w, N, C, C, acc);
        rt_lora_backward(m->lora, LSITE(m, l, ATTN_PROJ), m->dbtc2, d, a->atty, N, &m->key, acc);
        rt_attention_backward(m->dqkv, m->dbtc2, a->qkv, a->att, B, T, C, NH, pa,
                              drop_key(m, l, SITE_ATTN), m->datt_scratch, m->scratch_threads);
        rt_linear_backward(m->dbtc, gview(m, IDX_BLK(l, T_QKVW)), gview(m, IDX_BLK(l, T_QKVB)),
                           m->dqkv, a->ln1, w->c_attn_w, N, C, 3 * C, acc);
        rt_lora_backward(m->lora, LSITE(m, l, C_ATTN), m->dbtc, m->dqkv, a->ln1, N, &m->key, acc);
        rt_layernorm_backward(m->dres, gview(m, IDX_BLK(l, T_LN1W)), gview(m, IDX_BLK(l, T_LN1B)),
                              m->dbtc, xin, w->ln_1_w, a->ln1_mean, a->ln1_rstd, N, C, acc);
        if (done) done(arg, l);
    }
    if (!embd_train) return;
    rt_dropout_backward(m->dbtc, m->dres, (size_t)N * C, pe, drop_key(m, -1, SITE_EMBD));
    /* Tied: dwte already holds the LM head's contribution (written with acc), so embeddings add.
       If the head is frozen but wte is not, that cannot happen: they are one tensor. */
    float *dwpe = gview(m, IDX_WPE);
    /* no head contribution was written into dwte, so the embeddings' is the first */
    if (dwte && !acc && !wte_has_head) memset(dwte, 0, (size_t)V * C * sizeof(float));
    rt_embedding_backward(dwte, dwpe, pe > 0.0f ? m->dbtc : m->dres, m->ids, B, T, C, acc);
    /* Positions this micro-batch does not reach still get "overwritten" (with zeros). */
    if (dwpe && !acc && T < c->n_positions)
        memset(dwpe + (size_t)T * C, 0, (size_t)(c->n_positions - T) * C * sizeof(float));
    if (done) done(arg, -1);
}

void rt_gpt2_backward(rt_gpt2 *m, float scale, int accumulate) {
    const rt_gpt2_config *c = &m->cfg;
    int N = m->cur_B * m->cur_T, C = c->n_embd, V = c->vocab_size, L = c->n_layer;
    rt_crossentropy_backward(m->logits, m->lse, m->targets, N, V, scale);
    float *dlogits = m->logits;
    float *dhead = c->tie_word_embeddings ? gview(m, IDX_WTE) : gview(m, IDX_HEAD(L));
    if (dhead)
        rt_gemm(1, 0, V, C, N, 1.0f, dlogits, V, m->lnf, C, accumulate ? 1.0f : 0.0f, dhead, C);
    if (!below_head_trains(m)) return;
    rt_gemm(0, 0, N, C, V, 1.0f, dlogits, V, m->w.lm_head, C, 0.0f, m->dbtc, C);
    backward_from_lnf(m, m->dbtc, accumulate, c->tie_word_embeddings, NULL, NULL);
}

void rt_gpt2_backward_hidden(rt_gpt2 *m, const float *dlnf, int accumulate) {
    rt_gpt2_backward_hidden_ex(m, dlnf, accumulate, 0, NULL, NULL);
}

void rt_gpt2_backward_hidden_ex(rt_gpt2 *m, const float *dlnf, int accumulate, int wte_written,
                                rt_gpt2_layer_done_fn done, void *arg) {
    if (below_head_trains(m)) backward_from_lnf(m, dlnf, accumulate, wte_written, done, arg);
}

int rt_gpt2_backbone_trains(const rt_gpt2 *m) {
    return below_head_trains(m);
}

void rt_gpt2_zero_grad(rt_gpt2 *m) {
    if (m->grads_mem) memset(m->grads_mem, 0, m->params.total * sizeof(float));
}

rt_status rt_gpt2_untie(const rt_gpt2 *m, rt_gpt2 **out) {
    *out = NULL;
    if (m->params.n != IDX_HEAD(m->cfg.n_layer))
        return rt_error(RT_ERR_ARG,
                        "untie: the table holds %d tensors, a tied GPT-2 of %d blocks "
                        "%d (untied already, or extended by a task head)",
                        m->params.n, m->cfg.n_layer, IDX_HEAD(m->cfg.n_layer));
    rt_gpt2_config c = m->cfg;
    c.tie_word_embeddings = 0;
    RT_CALL(rt_gpt2_create(out, &c));
    rt_gpt2 *u = *out;
    for (int i = 0; i < m->params.n; i++) /* the same tensors at the same offsets, then the head */
        memcpy(u->params_mem + u->params.t[i].offset, m->params_mem + m->params.t[i].offset,
               m->params.t[i].numel * sizeof(float));
    memcpy(u->w.lm_head, m->w.wte, (size_t)c.vocab_size * c.n_embd * sizeof(float));
    return RT_OK;
}

double rt_gpt2_flops_per_step(const rt_gpt2_config *c, int B, int T) {
    double C = c->n_embd, F = c->n_inner, V = c->vocab_size;
    double matmul_params = c->n_layer * (C * 3 * C + C * C + 2 * C * F) + V * C;
    double attn = c->n_layer * 2.0 * 2.0 * T * C; /* QK^T and PV per token, forward */
    return (double)B * T * (6.0 * matmul_params + 3.0 * attn);
}

/* 2*N*IC*OC for the input gradient of a linear layer, plus as much for its weight gradient when
   that weight trains (rt_linear_backward skips a NULL dw). */
static double linear_bwd(const rt_gpt2 *m, int idx, double N, double IC, double OC) {
    return 2.0 * N * IC * OC * (m->params.t[idx].trainable ? 2.0 : 1.0);
}

double rt_gpt2_flops_done(const rt_gpt2 *m, int B, int T) {
    const rt_gpt2_config *c = &m->cfg;
    double C = c->n_embd, V = c->vocab_size, N = (double)B * T;
    int L = c->n_layer;
    double fl = rt_gpt2_flops_done_hidden(m, B, T) + 2.0 * N * V * C; /* + the logits */
    int head = c->tie_word_embeddings ? IDX_WTE : IDX_HEAD(L);
    if (m->params.t[head].trainable) fl += 2.0 * N * V * C; /* the head's weight gradient */
    if (below_head_trains(m)) fl += 2.0 * N * V * C;        /* the gradient into ln_f's output */
    return fl;
}

double rt_gpt2_flops_done_hidden(const rt_gpt2 *m, int B, int T) {
    const rt_gpt2_config *c = &m->cfg;
    double C = c->n_embd, F = c->n_inner, N = (double)B * T;
    int L = c->n_layer;
    double blk = C * 3 * C + C * C + 2 * C * F, attn = 4.0 * N * T * C; /* attention, forward */
    double fl = L * (2.0 * N * blk + attn);                             /* forward */
    int lowest = backward_lowest(m);
    for (int l = lowest; l < L; l++)
        fl += linear_bwd(m, IDX_BLK(l, T_MPW), N, F, C) +
              linear_bwd(m, IDX_BLK(l, T_FCW), N, C, F) +
              linear_bwd(m, IDX_BLK(l, T_APW), N, C, C) +
              linear_bwd(m, IDX_BLK(l, T_QKVW), N, C, 3 * C) + 2.0 * attn;
    if (m->lora)
        for (int i = 0; i < m->lora->n_sites; i++) {
            const rt_lora_target *t = &m->lora->sites[i].t;
            fl += 6.0 * N * m->lora->prm.r * (t->in + t->out);
        }
    return fl;
}
