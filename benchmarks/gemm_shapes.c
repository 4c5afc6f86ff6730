/* The GEMMs of one GPT-2 training step (gemm_shapes.h). */
#include "gemm_shapes.h"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"

double shape_flops(const shape *s) {
    return 2.0 * s->m * s->n * s->k * s->batch;
}

shape mk(const char *layer, const char *pass, const char *product, int op, int ta, int tb, int m,
         int n, int k, int lda, int ldb, int ldc, int batch, int calls) {
    shape s = {layer, pass, product, op, ta, tb, m, n, k, lda, ldb, ldc, 1.0f, 0.0f, batch, calls};
    return s;
}

/* The linear IC -> OC as rt_linear_forward / rt_linear_backward call rt_gemm (weights [IC, OC],
   a bias: the forward accumulates onto it; the backward of a non-accumulating step). */
static void linear(shape *s, const char *layer, int N, int IC, int OC, int calls) {
    s[0] = mk(layer, "forward", "X W", LINEAR, 0, 0, N, OC, IC, IC, OC, OC, 1, calls);
    s[0].beta = 1.0f;
    s[1] = mk(layer, "backward_dx", "dY W^T", LINEAR, 0, 1, N, IC, OC, OC, OC, IC, 1, calls);
    s[2] = mk(layer, "backward_dw", "X^T dY", LINEAR, 1, 0, IC, OC, N, IC, OC, OC, 1, calls);
}

int build_shapes(const model *md, shape *s) {
    int N = md->B * md->T, C = md->C, T = md->T, hs = md->C / md->NH, C3 = 3 * C, L = md->L;
    int V = md->V, bh = md->B * md->NH, n = 0;
    /* attention, per (batch, head): Q, K, V, dQ, dK, dV are column blocks of (B,T,3C) rows, the
       output / dO of (B,T,C) rows, P and dS (T,T) */
    shape qk = mk("attn_scores", "forward", "Q K^T", SCORES_FWD, 0, 1, T, T, hs, C3, C3, T, bh, L);
    qk.alpha = 1.0f / sqrtf((float)hs);
    shape pv = mk("attn_values", "forward", "P V", VALUES_FWD, 0, 0, T, hs, T, T, C3, C, bh, L);
    shape dv =
        mk("attn_values", "backward_dv", "P^T dO", VALUES_DV, 1, 0, T, hs, T, T, C, C3, bh, L);
    shape dp =
        mk("attn_values", "backward_dp", "dO V^T", VALUES_DP, 0, 1, T, T, hs, C, C3, T, bh, L);
    shape dq =
        mk("attn_scores", "backward_dq", "dS K", SCORES_DQ, 0, 0, T, hs, T, T, C3, C3, bh, L);
    shape dk =
        mk("attn_scores", "backward_dk", "dS^T Q", SCORES_DK, 1, 0, T, hs, T, T, C3, C3, bh, L);
    /* LM head, tied to wte (V, C): logits = X E^T; dE = dZ^T X; dX = dZ E */
    shape hf = mk("lm_head", "forward", "X E^T", LINEAR, 0, 1, N, V, C, C, C, V, 1, 1);
    shape hw = mk("lm_head", "backward_dw", "dZ^T X", LINEAR, 1, 0, V, C, N, V, C, C, 1, 1);
    shape hx = mk("lm_head", "backward_dx", "dZ E", LINEAR, 0, 0, N, C, V, V, C, C, 1, 1);
    shape lin[3];
    /* forward */
    linear(lin, "attn_qkv", N, C, C3, L);
    s[n++] = lin[0];
    s[n++] = qk;
    s[n++] = pv;
    linear(lin, "attn_proj", N, C, C, L);
    s[n++] = lin[0];
    linear(lin, "mlp_fc", N, C, md->F, L);
    s[n++] = lin[0];
    linear(lin, "mlp_proj", N, md->F, C, L);
    s[n++] = lin[0];
    s[n++] = hf;
    /* backward */
    s[n++] = hw;
    s[n++] = hx;
    s[n++] = lin[1];
    s[n++] = lin[2];
    linear(lin, "mlp_fc", N, C, md->F, L);
    s[n++] = lin[1];
    s[n++] = lin[2];
    linear(lin, "attn_proj", N, C, C, L);
    s[n++] = lin[1];
    s[n++] = lin[2];
    s[n++] = dv;
    s[n++] = dp;
    s[n++] = dq;
    s[n++] = dk;
    linear(lin, "attn_qkv", N, C, C3, L);
    s[n++] = lin[1];
    s[n++] = lin[2];
    return n;
}

static void fill(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((int)(i % 13) - 6) * 0.01f;
}

static float *floats(size_t n, int init) {
    float *x = rt_alloc_floats(n);
    if (!x) {
        fprintf(stderr, "benchmarks: out of memory for %zu floats\n", n);
        exit(1);
    }
    if (init)
        fill(x, n);
    else
        memset(x, 0, n * sizeof *x);
    return x;
}

void buffers_alloc(buffers *b, const shape *s, const model *md, int threads) {
    memset(b, 0, sizeof *b);
    if (s->op == LINEAR) {
        b->a = floats((size_t)(s->ta ? s->k : s->m) * s->lda, 1);
        b->b = floats((size_t)(s->tb ? s->n : s->k) * s->ldb, 1);
        b->c = floats((size_t)s->m * s->ldc, 0);
        return;
    }
    size_t btc = (size_t)md->B * md->T * md->C, tt = (size_t)md->T * md->T;
    b->qkv = floats(3 * btc, 1);
    b->dqkv = floats(3 * btc, 0);
    b->att = floats((size_t)md->B * md->NH * tt, 1);
    b->y = floats(btc, 1);
    b->scratch_threads = threads;
    b->scratch = floats((size_t)threads * tt, 1);
}

void buffers_free(buffers *b) {
    float **all[] = {&b->a, &b->b, &b->c, &b->qkv, &b->dqkv, &b->att, &b->y, &b->scratch};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rt_free_floats(all[i]);
}

/* One attention product for every (batch, head), as rt_attention_forward / _backward run it:
   Q, K, V, dQ, dK, dV are column blocks of (B,T,3C); y is the heads-merged (B,T,C) output (the
   forward's out, the backward's dO); P the (B,NH,T,T) probabilities; dS a per-thread (T,T). */
static void run_attn(const shape *s, const model *md, buffers *b, gemm_fn fn, void *ctx) {
    int T = md->T, C = md->C, NH = md->NH, hs = C / NH, C3 = 3 * C;
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < md->B * NH; bh++) {
        int bi = bh / NH, h = bh % NH, tid = omp_get_thread_num();
        const float *Q = b->qkv + (size_t)bi * T * C3 + h * hs, *K = Q + C, *V = Q + 2 * C;
        float *dQ = b->dqkv + (size_t)bi * T * C3 + h * hs, *dK = dQ + C, *dV = dQ + 2 * C;
        float *y = b->y + (size_t)bi * T * C + h * hs, *P = b->att + (size_t)bh * T * T;
        float *S = b->scratch + (size_t)(tid < b->scratch_threads ? tid : 0) * T * T;
        switch (s->op) {
        case SCORES_FWD:
            fn(ctx, 1, 0, 1, T, T, hs, s->alpha, Q, C3, K, C3, 0.0f, P, T);
            break;
        case VALUES_FWD:
            fn(ctx, 1, 0, 0, T, hs, T, 1.0f, P, T, V, C3, 0.0f, y, C);
            break;
        case VALUES_DV:
            fn(ctx, 1, 1, 0, T, hs, T, 1.0f, P, T, y, C, 0.0f, dV, C3);
            break;
        case VALUES_DP:
            fn(ctx, 1, 0, 1, T, T, hs, 1.0f, y, C, V, C3, 0.0f, S, T);
            break;
        case SCORES_DQ:
            fn(ctx, 1, 0, 0, T, hs, T, 1.0f, S, T, K, C3, 0.0f, dQ, C3);
            break;
        case SCORES_DK:
            fn(ctx, 1, 1, 0, T, hs, T, 1.0f, S, T, Q, C3, 0.0f, dK, C3);
            break;
        default:
            break;
        }
    }
}

void run_shape(const shape *s, const model *md, buffers *b, gemm_fn fn, void *ctx) {
    if (s->op == LINEAR)
        fn(ctx, 0, s->ta, s->tb, s->m, s->n, s->k, s->alpha, b->a, s->lda, b->b, s->ldb, s->beta,
           b->c, s->ldc);
    else
        run_attn(s, md, b, fn, ctx);
}
