/* T5 encoder-decoder (compute/t5.h): tensor table in forward order, views, activation arena,
   forward and backward. */
#include "t5.h"
#include "t5_internal.h"
#include "fastmath.h"
#include "layers.h"
#include "layers_t5.h"
#include "rng.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rt_t5_config_default(rt_t5_config *c) {
    memset(c, 0, sizeof *c);
    c->vocab_size = 32128;
    c->d_model = 512;
    c->d_kv = 64;
    c->d_ff = 2048;
    c->num_layers = 6;
    c->num_decoder_layers = 6;
    c->num_heads = 8;
    c->relative_attention_num_buckets = 32;
    c->relative_attention_max_distance = 128;
    c->layer_norm_epsilon = 1e-6f;
    c->dropout_rate = 0.1f;
    c->initializer_factor = 1.0f;
    c->ff = RT_T5_FF_RELU;
    c->tie_word_embeddings = 1;
    c->scale_decoder_outputs = 1;
    c->pad_token_id = 0;
    c->eos_token_id = 1;
    c->decoder_start_token_id = 0;
}

rt_status rt_t5_config_validate(const rt_t5_config *c) {
#define RANGE(f, lo, hi)                                                                           \
    if (!(c->f >= (lo) && c->f <= (hi)))                                                           \
        return rt_error(RT_ERR_ARG, "T5 config: %s = %g, expected %g..%g", #f, (double)c->f,       \
                        (double)(lo), (double)(hi));
    RANGE(vocab_size, 1, 1 << 24);
    RANGE(d_model, 1, 1 << 16);
    RANGE(d_kv, 1, 1 << 12);
    RANGE(d_ff, 1, 1 << 18);
    RANGE(num_layers, 1, 1024);
    RANGE(num_decoder_layers, 1, 1024);
    RANGE(num_heads, 1, 1024);
    RANGE(relative_attention_num_buckets, 2, 1 << 12);
    RANGE(relative_attention_max_distance, 1, 1 << 20);
    RANGE(layer_norm_epsilon, 0.0f, 1.0f);
    RANGE(dropout_rate, 0.0f, 0.999f);
    RANGE(initializer_factor, 0.0f, 100.0f);
#undef RANGE
    if ((size_t)c->num_heads * c->d_kv > (1u << 16))
        return rt_error(RT_ERR_ARG, "T5 config: num_heads * d_kv = %d, expected at most 65536",
                        c->num_heads * c->d_kv);
    return RT_OK;
}

int rt_t5_bucket(int rel, int bidirectional, int num_buckets, int max_distance) {
    int bucket = 0, n;
    if (bidirectional) {
        num_buckets /= 2;
        if (rel > 0) bucket += num_buckets;
        n = rel < 0 ? -rel : rel;
    } else {
        n = rel < 0 ? -rel : 0;
    }
    int max_exact = num_buckets / 2;
    if (n < max_exact) return bucket + n;
    /* as transformers computes it: float32 log of n / max_exact, divided by a float32
       log(max_distance / max_exact) computed in double, times (buckets - max_exact), truncated */
    float l = logf((float)n / (float)max_exact) /
              (float)log((double)max_distance / (double)max_exact) *
              (float)(num_buckets - max_exact);
    int large = max_exact + (int)l;
    return bucket + (large < num_buckets - 1 ? large : num_buckets - 1);
}

/* ---- the table ------------------------------------------------------------------------------ */

static int add(rt_tensor_table *t, const char *name, int64_t r, int64_t c) {
    return rt_table_add(t, name, c ? 2 : 1, (int64_t[]){r, c}, c != 0) >= 0;
}

static int add_attn(rt_tensor_table *t, const char *pre, const rt_t5_config *c, int bias) {
    int64_t d = c->d_model, in = (int64_t)c->num_heads * c->d_kv;
    char nm[2 * RT_NAME_MAX];
    int ok = 1;
    const char *qkv[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        snprintf(nm, sizeof nm, "%s.%s.weight", pre, qkv[i]);
        ok &= add(t, nm, in, d);
    }
    snprintf(nm, sizeof nm, "%s.o.weight", pre);
    ok &= add(t, nm, d, in);
    if (bias) {
        snprintf(nm, sizeof nm, "%s.relative_attention_bias.weight", pre);
        ok &= add(t, nm, c->relative_attention_num_buckets, c->num_heads);
    }
    return ok;
}

static int add_norm(rt_tensor_table *t, const char *pre, int k, int64_t d) {
    char nm[2 * RT_NAME_MAX];
    snprintf(nm, sizeof nm, "%s.layer.%d.layer_norm.weight", pre, k);
    return add(t, nm, d, 0);
}

static int add_ff(rt_tensor_table *t, const char *pre, int k, const rt_t5_config *c) {
    char nm[2 * RT_NAME_MAX];
    int ok = 1;
    if (c->ff == RT_T5_FF_RELU) {
        snprintf(nm, sizeof nm, "%s.layer.%d.DenseReluDense.wi.weight", pre, k);
        ok &= add(t, nm, c->d_ff, c->d_model);
    } else {
        snprintf(nm, sizeof nm, "%s.layer.%d.DenseReluDense.wi_0.weight", pre, k);
        ok &= add(t, nm, c->d_ff, c->d_model);
        snprintf(nm, sizeof nm, "%s.layer.%d.DenseReluDense.wi_1.weight", pre, k);
        ok &= add(t, nm, c->d_ff, c->d_model);
    }
    snprintf(nm, sizeof nm, "%s.layer.%d.DenseReluDense.wo.weight", pre, k);
    ok &= add(t, nm, c->d_model, c->d_ff);
    return ok && add_norm(t, pre, k, c->d_model);
}

/* first[b] = the first tensor of block b (combined numbering), first[Le + Ld] = the decoder's
   final norm; the encoder's final norm follows the top encoder block. */
static int build_table(rt_tensor_table *t, const rt_t5_config *c, int *first) {
    int Le = c->num_layers, Ld = c->num_decoder_layers, ok = 1;
    rt_table_init(t);
    ok &= add(t, "shared.weight", c->vocab_size, c->d_model);
    char pre[RT_NAME_MAX];
    for (int l = 0; l < Le && ok; l++) {
        first[l] = t->n;
        snprintf(pre, sizeof pre, "encoder.block.%d.layer.0.SelfAttention", l);
        ok &= add_attn(t, pre, c, l == 0);
        snprintf(pre, sizeof pre, "encoder.block.%d", l);
        ok &= add_norm(t, pre, 0, c->d_model) && add_ff(t, pre, 1, c);
    }
    ok &= add(t, "encoder.final_layer_norm.weight", c->d_model, 0);
    for (int l = 0; l < Ld && ok; l++) {
        first[Le + l] = t->n;
        snprintf(pre, sizeof pre, "decoder.block.%d.layer.0.SelfAttention", l);
        ok &= add_attn(t, pre, c, l == 0);
        snprintf(pre, sizeof pre, "decoder.block.%d", l);
        ok &= add_norm(t, pre, 0, c->d_model);
        snprintf(pre, sizeof pre, "decoder.block.%d.layer.1.EncDecAttention", l);
        ok &= add_attn(t, pre, c, 0);
        snprintf(pre, sizeof pre, "decoder.block.%d", l);
        ok &= add_norm(t, pre, 1, c->d_model) && add_ff(t, pre, 2, c);
    }
    first[Le + Ld] = t->n;
    ok &= add(t, "decoder.final_layer_norm.weight", c->d_model, 0);
    if (!c->tie_word_embeddings) ok &= add(t, "lm_head.weight", c->vocab_size, c->d_model);
    return ok;
}

/* Where tensor i is read (grads 0) or its gradient written (grads 1; NULL when frozen): the
   redirect when there is one (rt_t5_redirect), else base (NULL: no arena) at its offset. */
static float *view_at(const rt_t5 *m, float *base, int i, int grads) {
    const rt_tensor_info *ti = &m->params.t[i];
    float *const *over = grads ? m->gat : m->pat;
    if (grads && !ti->trainable) return NULL;
    if (over && over[i]) return over[i];
    return base ? base + ti->offset : NULL;
}

/* Views of one block: its tensors in table order from index i. */
static int block_views(rt_t5_block *b, float *base, const rt_t5 *m, int i, int dec, int has_bias,
                       rt_t5_ff ff, int grads) {
#define NEXT view_at(m, base, i++, grads)
    memset(b, 0, sizeof *b);
    b->sa_q = NEXT;
    b->sa_k = NEXT;
    b->sa_v = NEXT;
    b->sa_o = NEXT;
    if (has_bias) b->rel_bias = NEXT;
    b->ln_sa = NEXT;
    if (dec) {
        b->ca_q = NEXT;
        b->ca_k = NEXT;
        b->ca_v = NEXT;
        b->ca_o = NEXT;
        b->ln_ca = NEXT;
    }
    b->wi = NEXT;
    if (ff == RT_T5_FF_GATED_GELU) b->wi_1 = NEXT;
    b->wo = NEXT;
    b->ln_ff = NEXT;
#undef NEXT
    return i;
}

/* Views of base; grads: NULL for frozen tensors (the gradient views backward writes). */
static void set_views(rt_t5_views *v, float *base, const rt_t5 *m, int grads) {
    const rt_t5_config *c = &m->cfg;
    int Le = c->num_layers, Ld = c->num_decoder_layers;
#define AT(k) view_at(m, base, (k), grads)
    v->shared = AT(0);
    for (int l = 0; l < Le; l++)
        block_views(&v->enc[l], base, m, m->blk_first[l], 0, l == 0, c->ff, grads);
    v->enc_final = AT(m->blk_first[Le] - 1);
    for (int l = 0; l < Ld; l++)
        block_views(&v->dec[l], base, m, m->blk_first[Le + l], 1, l == 0, c->ff, grads);
    v->dec_final = AT(m->blk_first[Le + Ld]);
    v->lm_head = c->tie_word_embeddings ? v->shared : AT(m->blk_first[Le + Ld] + 1);
#undef AT
}

void rt_t5_grad_views(rt_t5 *m) {
    set_views(&m->g, m->grads_mem, m, 1);
}

static rt_status build(rt_t5 *m) {
    rt_table_free(&m->params);
    if (!build_table(&m->params, &m->cfg, m->blk_first))
        return rt_error(RT_ERR_MEMORY, "out of memory building the T5 tensor table");
    rt_free_floats(&m->params_mem);
    if (!(m->params_mem = rt_alloc_floats(m->params.total)))
        return rt_error(RT_ERR_MEMORY, "out of memory allocating %.1f MB of T5 parameters",
                        m->params.total * 4.0 / 1e6);
    set_views(&m->w, m->params_mem, m, 0);
    return RT_OK;
}

rt_status rt_t5_config_num_params(const rt_t5_config *cfg, size_t *n) {
    *n = 0;
    RT_CALL(rt_t5_config_validate(cfg));
    int *first = malloc(sizeof(int) * (size_t)(cfg->num_layers + cfg->num_decoder_layers + 1));
    rt_tensor_table t;
    int ok = first && build_table(&t, cfg, first);
    if (first) {
        *n = t.total;
        rt_table_free(&t);
    }
    free(first);
    return ok ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory building a tensor table");
}

static int is_norm(const char *name) {
    return strstr(name, "layer_norm.weight") != NULL;
}

rt_status rt_t5_create(rt_t5 **out, const rt_t5_config *cfg) {
    *out = NULL;
    RT_CALL(rt_t5_config_validate(cfg));
    rt_t5 *m = calloc(1, sizeof *m);
    int Le = cfg->num_layers, Ld = cfg->num_decoder_layers;
    if (!m) return rt_error(RT_ERR_MEMORY, "out of memory creating the model");
    m->cfg = *cfg;
    m->w.enc = calloc((size_t)Le, sizeof(rt_t5_block));
    m->w.dec = calloc((size_t)Ld, sizeof(rt_t5_block));
    m->g.enc = calloc((size_t)Le, sizeof(rt_t5_block));
    m->g.dec = calloc((size_t)Ld, sizeof(rt_t5_block));
    m->ea = calloc((size_t)Le, sizeof(blk_acts));
    m->da = calloc((size_t)Ld, sizeof(blk_acts));
    m->blk_first = calloc((size_t)(Le + Ld + 1), sizeof(int));
    rt_status st = m->w.enc && m->w.dec && m->g.enc && m->g.dec && m->ea && m->da && m->blk_first
                       ? build(m)
                       : rt_error(RT_ERR_MEMORY, "out of memory creating the model");
    if (st != RT_OK) {
        rt_t5_destroy(&m);
        return st;
    }
    for (int i = 0; i < m->params.n; i++)
        if (is_norm(m->params.t[i].name))
            for (size_t j = 0; j < m->params.t[i].numel; j++)
                m->params_mem[m->params.t[i].offset + j] = 1.0f;
    *out = m;
    return RT_OK;
}

void rt_t5_destroy(rt_t5 **pm) {
    if (!pm || !*pm) return;
    rt_t5 *m = *pm;
    rt_free_floats(&m->params_mem);
    rt_free_floats(&m->grads_mem);
    rt_free_floats(&m->acts_mem);
    free(m->bk_mem);
    free(m->pat);
    free(m->gat);
    free(m->w.enc);
    free(m->w.dec);
    free(m->g.enc);
    free(m->g.dec);
    free(m->ea);
    free(m->da);
    free(m->blk_first);
    rt_table_free(&m->params);
    free(m);
    *pm = NULL;
}

const rt_t5_config *rt_t5_cfg(const rt_t5 *m) {
    return &m->cfg;
}
rt_tensor_table *rt_t5_table(rt_t5 *m) {
    return &m->params;
}
float *rt_t5_params(rt_t5 *m) {
    return m->params_mem;
}
float *rt_t5_grads(rt_t5 *m) {
    return m->grads_mem;
}
const rt_t5_views *rt_t5_weights(const rt_t5 *m) {
    return &m->w;
}
int rt_t5_block_first(const rt_t5 *m, int block) {
    return m->blk_first[block];
}

void rt_t5_init_weights(rt_t5 *m, uint64_t seed) {
    const rt_t5_config *c = &m->cfg;
    float f = c->initializer_factor, d = (float)c->d_model, dkv = (float)c->d_kv,
          nh = (float)c->num_heads;
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *ti = &m->params.t[i];
        float *p = m->params_mem + ti->offset;
        const char *n = ti->name;
        if (ti->ndim == 1) {
            for (size_t j = 0; j < ti->numel; j++) p[j] = f;
            continue;
        }
        float s = f; /* shared, lm_head */
        if (strstr(n, ".wi.") || strstr(n, ".wi_0.") || strstr(n, ".wi_1.") || strstr(n, ".k.") ||
            strstr(n, ".v.") || strstr(n, "relative_attention_bias"))
            s = f / sqrtf(d);
        else if (strstr(n, ".wo."))
            s = f / sqrtf((float)c->d_ff);
        else if (strstr(n, ".q."))
            s = f / sqrtf(d * dkv);
        else if (strstr(n, ".o."))
            s = f / sqrtf(nh * dkv);
        uint64_t key = rt_rng_key(seed, (uint64_t)i, 0, 0x7515);
#pragma omp parallel for schedule(static)
        for (size_t j = 0; j < ti->numel; j++) p[j] = s * rt_rng_normal(key, j);
    }
}

rt_status rt_t5_untie(rt_t5 *m) {
    if (!m->cfg.tie_word_embeddings) return RT_OK;
    float *old = m->params_mem;
    rt_tensor_table ot = m->params;
    memset(&m->params, 0, sizeof m->params);
    m->params_mem = NULL;
    m->cfg.tie_word_embeddings = 0;
    rt_status st = build(m);
    if (st != RT_OK) { /* back to the tied model */
        m->cfg.tie_word_embeddings = 1;
        rt_table_free(&m->params);
        m->params = ot;
        m->params_mem = old;
        set_views(&m->w, m->params_mem, m, 0);
        return st;
    }
    for (int i = 0; i < ot.n; i++) {
        m->params.t[i].trainable = ot.t[i].trainable;
        memcpy(m->params_mem + m->params.t[i].offset, old + ot.t[i].offset,
               ot.t[i].numel * sizeof(float));
    }
    memcpy(m->w.lm_head, m->w.shared, (size_t)m->cfg.vocab_size * m->cfg.d_model * sizeof(float));
    m->params.t[m->params.n - 1].trainable = 1;
    rt_free_floats(&old);
    rt_table_free(&ot);
    rt_free_floats(&m->grads_mem);
    rt_free_floats(&m->acts_mem);
    m->B = m->Ts = m->Tt = 0;
    return RT_OK;
}

void rt_t5_set_dropout(rt_t5 *m, float rate) {
    if (!isnan(rate)) m->cfg.dropout_rate = rate;
}

int rt_t5_lora_targets(const rt_t5 *m, rt_lora_target *out) {
    const rt_t5_config *c = &m->cfg;
    int Le = c->num_layers, Ld = c->num_decoder_layers, n = 0, inner = c->num_heads * c->d_kv;
    static const char *att[4] = {"q", "k", "v", "o"};
    for (int b = 0; b < Le + Ld; b++) {
        int dec = b >= Le, l = dec ? b - Le : b;
        const char *stack = dec ? "decoder" : "encoder";
        for (int s = 0; s < RT_T5_LORA_SLOTS; s++) {
            char mod[RT_NAME_MAX], w[RT_NAME_MAX + 8];
            int in = c->d_model, width = c->d_model;
            if (s <= RT_T5_LORA_CA_O) {
                int cross = s >= RT_T5_LORA_CA_Q, k = s % 4;
                if (cross && !dec) continue;
                snprintf(mod, sizeof mod, "%s.block.%d.layer.%d.%s.%s", stack, l, cross,
                         cross ? "EncDecAttention" : "SelfAttention", att[k]);
                if (k < 3)
                    width = inner;
                else
                    in = inner;
            } else {
                int gated = c->ff == RT_T5_FF_GATED_GELU;
                if (s == RT_T5_LORA_WI_1 && !gated) continue;
                const char *nm = s == RT_T5_LORA_WO     ? "wo"
                                 : s == RT_T5_LORA_WI_1 ? "wi_1"
                                                        : (gated ? "wi_0" : "wi");
                snprintf(mod, sizeof mod, "%s.block.%d.layer.%d.DenseReluDense.%s", stack, l,
                         dec ? 2 : 1, nm);
                if (s == RT_T5_LORA_WO)
                    in = c->d_ff;
                else
                    width = c->d_ff;
            }
            rt_lora_target *t = &out[n];
            memset(t, 0, sizeof *t);
            snprintf(t->module, sizeof t->module, "%s", mod);
            snprintf(w, sizeof w, "%s.weight", mod);
            t->block = b;
            t->slot = s;
            t->in = in;
            t->out = width;
            t->weight = rt_table_find(&m->params, w);
            t->bias = -1;
            t->conv1d = 0;
            if (t->weight >= 0) n++;
        }
    }
    return n;
}

void rt_t5_set_lora(rt_t5 *m, rt_lora *L) {
    m->lora = L;
    if (L) rt_free_floats(&m->grads_mem);
}

rt_status rt_t5_redirect(rt_t5 *m, int idx, float *param, float *grad) {
    RT_CALL(rt_redirect_set(&m->pat, &m->gat, m->params.n, idx, param, grad));
    set_views(&m->w, m->params_mem, m, 0);
    return RT_OK;
}
