/* The GEMMs of one GPT-2 training step (gemm_shapes.h). */
#include "gemm_shapes.h"
#include <math.h>

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
