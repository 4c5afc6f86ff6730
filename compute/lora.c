/* Low-rank adapters (compute/lora.h). */
#include "lora.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "layers.h"
#include "rng.h"

void rt_lora_destroy(rt_lora **pL) {
    rt_lora *L = *pL;
    if (!L) return;
    rt_table_free(&L->tab);
    rt_free_floats(&L->params);
    rt_free_floats(&L->grads);
    rt_free_floats(&L->acts);
    free(L->sites);
    free(L->site_at);
    free(L->saved_base);
    free(L->saved_idx);
    free(L);
    *pL = NULL;
}

static rt_status add_site(rt_lora *L, const rt_lora_target *t) {
    rt_lora_site *s = &L->sites[L->n_sites];
    char name[RT_NAME_MAX + 32];
    int r = L->prm.r;
    s->t = *t;
    if (snprintf(name, sizeof name, "%s.lora_A.weight", t->module) >= RT_NAME_MAX)
        return rt_error(RT_ERR_ARG, "LoRA: module name %s is too long", t->module);
    s->ia = rt_table_add(&L->tab, name, 2, (int64_t[]){r, t->in}, 1);
    snprintf(name, sizeof name, "%s.lora_B.weight", t->module);
    s->ib = rt_table_add(&L->tab, name, 2, (int64_t[]){t->out, r}, 1);
    if (s->ia < 0 || s->ib < 0) return rt_error(RT_ERR_MEMORY, "out of memory (LoRA table)");
    s->scale = (float)(L->prm.alpha / (L->prm.rslora ? sqrt((double)r) : (double)r));
    s->key = (uint64_t)L->n_sites;
    L->site_at[t->block * L->n_slots + t->slot] = L->n_sites++;
    return RT_OK;
}

static rt_status check_params(const rt_lora_params *p) {
    if (p->r < 1) return rt_error(RT_ERR_ARG, "lora.r = %d: expected an integer >= 1", p->r);
    if (!(p->alpha > 0.0) || !isfinite(p->alpha))
        return rt_error(RT_ERR_ARG, "lora.alpha = %g: expected a number > 0", p->alpha);
    if (!(p->dropout >= 0.0 && p->dropout < 1.0))
        return rt_error(RT_ERR_ARG, "lora.dropout = %g: expected a number in [0, 1)", p->dropout);
    return RT_OK;
}

rt_status rt_lora_create(rt_lora **out, const rt_lora_params *prm, const rt_lora_target *targets,
                         const int *pick, int n_targets, int n_blocks, int n_slots,
                         const rt_tensor_table *base_tab, const float *base_params, const int *save,
                         const int *save_ord, int n_save) {
    *out = NULL;
    RT_CALL(check_params(prm));
    rt_lora *L = calloc(1, sizeof *L);
    if (!L) return rt_error(RT_ERR_MEMORY, "out of memory (LoRA)");
    L->prm = *prm;
    L->n_blocks = n_blocks;
    L->n_slots = n_slots;
    rt_table_init(&L->tab);
    size_t ns = (size_t)(n_save > 0 ? n_save : 1);
    L->sites = calloc((size_t)(n_targets > 0 ? n_targets : 1), sizeof *L->sites);
    L->site_at = malloc(sizeof(int) * (size_t)(n_blocks * n_slots > 0 ? n_blocks * n_slots : 1));
    L->saved_base = malloc(sizeof(int) * ns);
    L->saved_idx = malloc(sizeof(int) * ns);
    rt_status st = L->sites && L->site_at && L->saved_base && L->saved_idx
                       ? RT_OK
                       : rt_error(RT_ERR_MEMORY, "out of memory (LoRA)");
    for (int i = 0; st == RT_OK && i < n_blocks * n_slots; i++) L->site_at[i] = -1;
    /* table order: the embeddings' saved tensors, then block by block its adapters and saved
       tensors, then the head's: the backbone's group order, so the set's groups follow it */
    for (int ord = 0; st == RT_OK && ord <= n_blocks + 1; ord++) {
        for (int i = 0; st == RT_OK && i < n_targets; i++)
            if (pick[i] && targets[i].block + 1 == ord) st = add_site(L, &targets[i]);
        for (int i = 0; st == RT_OK && i < n_save; i++) {
            if (save_ord[i] != ord || rt_lora_saved_index(L, save[i]) >= 0) continue;
            const rt_tensor_info *b = &base_tab->t[save[i]];
            int k = rt_table_add(&L->tab, b->name, b->ndim, b->shape, b->decay);
            if (k < 0) {
                st = rt_error(RT_ERR_MEMORY, "out of memory (LoRA table)");
                break;
            }
            L->saved_base[L->n_saved] = save[i];
            L->saved_idx[L->n_saved++] = k;
        }
    }
    if (st == RT_OK && L->n_sites + L->n_saved == 0)
        st = rt_error(RT_ERR_ARG, "LoRA: nothing to train (no layer matched, nothing saved)");
    if (st == RT_OK && !(L->params = rt_alloc_floats(L->tab.total)))
        st = rt_error(RT_ERR_MEMORY, "out of memory (LoRA parameters)");
    for (int i = 0; st == RT_OK && i < L->tab.n; i++) L->tab.t[i].trainable = 1;
    for (int i = 0; st == RT_OK && i < L->n_saved; i++)
        memcpy(L->params + L->tab.t[L->saved_idx[i]].offset,
               base_params + base_tab->t[L->saved_base[i]].offset,
               base_tab->t[L->saved_base[i]].numel * sizeof(float));
    if (st != RT_OK) {
        rt_lora_destroy(&L);
        return st;
    }
    *out = L;
    return RT_OK;
}

void rt_lora_init(rt_lora *L, uint64_t seed) {
    for (int i = 0; i < L->n_sites; i++) {
        const rt_lora_site *s = &L->sites[i];
        const rt_tensor_info *a = &L->tab.t[s->ia], *b = &L->tab.t[s->ib];
        float bound = 1.0f / sqrtf((float)s->t.in);
        uint64_t key = rt_rng_key(seed, (uint64_t)i, 0, 0x10A4);
        float *A = L->params + a->offset;
        for (size_t j = 0; j < a->numel; j++) A[j] = bound * (2.0f * rt_rng_uniform(key, j) - 1.0f);
        memset(L->params + b->offset, 0, b->numel * sizeof(float));
    }
}

static size_t max_width(const rt_lora *L) {
    size_t w = 1;
    for (int i = 0; i < L->n_sites; i++) {
        if ((size_t)L->sites[i].t.in > w) w = (size_t)L->sites[i].t.in;
        if ((size_t)L->sites[i].t.out > w) w = (size_t)L->sites[i].t.out;
    }
    return w;
}

rt_status rt_lora_alloc_acts(rt_lora *L, size_t rows) {
    if (!L->grads && !(L->grads = rt_alloc_floats(L->tab.total)))
        return rt_error(RT_ERR_MEMORY, "out of memory (LoRA gradients)");
    size_t r = (size_t)L->prm.r, per = (rows * r + 15) & ~(size_t)15;
    size_t scratch = rows * (2 * max_width(L) + r) + 64;
    rt_free_floats(&L->acts);
    if (!(L->acts = rt_alloc_floats(per * (size_t)L->n_sites + scratch)))
        return rt_error(RT_ERR_MEMORY, "out of memory (LoRA activations)");
    for (int i = 0; i < L->n_sites; i++) L->sites[i].u = L->acts + per * (size_t)i;
    L->scratch = L->acts + per * (size_t)L->n_sites;
    L->rows_cap = rows;
    return RT_OK;
}

int rt_lora_saved_index(const rt_lora *L, int base_idx) {
    for (int i = 0; i < L->n_saved; i++)
        if (L->saved_base[i] == base_idx) return L->saved_idx[i];
    return -1;
}

int rt_lora_lowest_block(const rt_lora *L) {
    int lo = L ? L->n_blocks : 0;
    for (int i = 0; L && i < L->n_sites; i++)
        if (L->sites[i].t.block < lo) lo = L->sites[i].t.block;
    return lo;
}

static float rate(const rt_lora *L, const rt_step_key *key) {
    return key && key->train ? (float)L->prm.dropout : 0.0f;
}

static uint64_t drop_key(const rt_lora_site *s, const rt_step_key *key) {
    return key ? rt_rng_key(key->seed, key->step, key->micro, 0x4C6F5241u + s->key) : 0;
}

void rt_lora_forward(rt_lora *L, const rt_lora_site *s, float *out, const float *x, int N,
                     const rt_step_key *key) {
    /* the backbone allocates the set's activations with its own (model_lora.c), so a forward
       always finds them */
    if (!s || N < 1 || !L->acts) return;
    const float *A = L->params + L->tab.t[s->ia].offset, *B = L->params + L->tab.t[s->ib].offset;
    int r = L->prm.r, in = s->t.in, o = s->t.out;
    float p = rate(L, key);
    int keep = (size_t)N <= L->rows_cap;
    size_t step = L->rows_cap;
    for (size_t r0 = 0; r0 < (size_t)N; r0 += step) {
        int n = (int)((size_t)N - r0 < step ? (size_t)N - r0 : step);
        const float *xi = x + r0 * in;
        float *u = keep ? s->u : L->scratch + (size_t)n * in;
        if (p > 0.0f) {
            rt_dropout_forward(L->scratch, xi, (size_t)n * in, p, drop_key(s, key));
            xi = L->scratch;
        }
        rt_gemm(0, 1, n, r, in, 1.0f, xi, in, A, in, 0.0f, u, r);
        rt_gemm(0, 1, n, o, r, s->scale, u, r, B, r, 1.0f, out + r0 * o, o);
    }
}

void rt_lora_backward(rt_lora *L, const rt_lora_site *s, float *dx, const float *dout,
                      const float *x, int N, const rt_step_key *key, int acc) {
    if (!s || N < 1 || (size_t)N > L->rows_cap) return;
    const rt_tensor_info *ta = &L->tab.t[s->ia], *tb = &L->tab.t[s->ib];
    const float *A = L->params + ta->offset, *B = L->params + tb->offset;
    float *dA = L->grads + ta->offset, *dB = L->grads + tb->offset;
    int r = L->prm.r, in = s->t.in, o = s->t.out;
    float p = rate(L, key), beta = acc ? 1.0f : 0.0f;
    float *xd = L->scratch, *tmp = xd + (size_t)N * in, *du = tmp + (size_t)N * in;
    rt_gemm(1, 0, o, r, N, s->scale, dout, o, s->u, r, beta, dB, r);
    rt_gemm(0, 0, N, r, o, s->scale, dout, o, B, r, 0.0f, du, r);
    const float *xin = x;
    if (p > 0.0f) {
        rt_dropout_forward(xd, x, (size_t)N * in, p, drop_key(s, key));
        xin = xd;
    }
    rt_gemm(1, 0, r, in, N, 1.0f, du, r, xin, in, beta, dA, in);
    if (!dx) return;
    if (p == 0.0f) {
        rt_gemm(0, 0, N, in, r, 1.0f, du, r, A, in, 1.0f, dx, in);
        return;
    }
    rt_gemm(0, 0, N, in, r, 1.0f, du, r, A, in, 0.0f, tmp, in);
    rt_dropout_backward(tmp, tmp, (size_t)N * in, p, drop_key(s, key));
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < (size_t)N * in; i++) dx[i] += tmp[i];
}

void rt_lora_merged_weight(const rt_lora *L, const rt_lora_site *s, const float *W, float *dst) {
    const float *A = L->params + L->tab.t[s->ia].offset, *B = L->params + L->tab.t[s->ib].offset;
    int r = L->prm.r, in = s->t.in, o = s->t.out;
    memcpy(dst, W, (size_t)in * o * sizeof(float));
    if (s->t.conv1d)
        rt_gemm(1, 1, in, o, r, s->scale, A, in, B, r, 1.0f, dst, o); /* W + s A^T B^T */
    else
        rt_gemm(0, 0, o, in, r, s->scale, B, r, A, in, 1.0f, dst, in); /* W + s B A */
}

double rt_lora_flops(const rt_lora *L, const double *rows_of_site) {
    double f = 0.0;
    for (int i = 0; L && i < L->n_sites; i++)
        f += 6.0 * rows_of_site[i] * L->prm.r * (L->sites[i].t.in + L->sites[i].t.out);
    return f;
}

size_t rt_lora_num_params(const rt_lora *L) {
    size_t n = 0;
    for (int i = 0; i < L->tab.n; i++) n += L->tab.t[i].numel;
    return n;
}
