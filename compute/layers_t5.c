/* T5's kernels (compute/layers_t5.h). */
#include "layers_t5.h"
#include "fastmath.h"
#include "gemm.h"
#include "rng.h"
#include <math.h>
#include <omp.h>
#include <string.h>

#define COLBLK 64
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

void rt_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C,
                        float eps) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C;
        float *o = out + (size_t)r * C;
        float ss = 0.0f;
        for (int c = 0; c < C; c++) ss += x[c] * x[c];
        float s = 1.0f / sqrtf(ss / (float)C + eps);
        for (int c = 0; c < C; c++) o[c] = w[c] * (x[c] * s);
        rstd[r] = s;
    }
}

void rt_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
                         const float *w, const float *rstd, int N, int C, int acc) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
        float *di = dinp + (size_t)r * C;
        float s = rstd[r], dot = 0.0f;
        for (int c = 0; c < C; c++) dot += w[c] * d[c] * x[c];
        float k = dot * s * s / (float)C;
        for (int c = 0; c < C; c++) di[c] += s * (w[c] * d[c] - k * x[c]);
    }
    if (!dw) return;
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += COLBLK) {
        int c1 = c0 + COLBLK < C ? c0 + COLBLK : C;
        float sw[COLBLK];
        for (int c = c0; c < c1; c++) sw[c - c0] = 0.0f;
        for (int r = 0; r < N; r++) {
            const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
            float s = rstd[r];
            for (int c = c0; c < c1; c++) sw[c - c0] += d[c] * (x[c] * s);
        }
        for (int c = c0; c < c1; c++) dw[c] = (acc ? dw[c] : 0.0f) + sw[c - c0];
    }
}

void rt_linear_nt_forward(float *out, const float *inp, const float *w, int N, int IC, int OC) {
    rt_gemm(0, 1, N, OC, IC, 1.0f, inp, IC, w, IC, 0.0f, out, OC);
}

void rt_linear_nt_backward(float *dinp, int dinp_acc, float *dw, const float *dout,
                           const float *inp, const float *w, int N, int IC, int OC, int acc) {
    if (dinp) rt_gemm(0, 0, N, IC, OC, 1.0f, dout, OC, w, IC, dinp_acc ? 1.0f : 0.0f, dinp, IC);
    if (dw) rt_gemm(1, 0, OC, IC, N, 1.0f, dout, OC, inp, IC, acc ? 1.0f : 0.0f, dw, IC);
}

void rt_relu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void rt_relu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dinp[i] = inp[i] > 0.0f ? dout[i] : 0.0f;
}

static inline float gelu(float x) {
    return 0.5f * x * (1.0f + rt_tanhf(GELU_K * (x + 0.044715f * x * x * x)));
}

void rt_gated_gelu_forward(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = gelu(a[i]) * b[i];
}

void rt_gated_gelu_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                            size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = a[i], d = dout[i], th = rt_tanhf(GELU_K * (x + 0.044715f * x * x * x));
        float g = 0.5f * x * (1.0f + th);
        float dg = 0.5f * (1.0f + th) +
                   0.5f * x * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        da[i] = d * b[i] * dg;
        db[i] = d * g;
    }
}

/* Row i of one head's scores S (Tk) -> probabilities, masked keys exactly 0. */
static void softmax_row(float *row, const float *bias, const uint8_t *km, int i, int Tk,
                        int causal) {
    int lim = causal ? (i + 1 < Tk ? i + 1 : Tk) : Tk;
    float mx = -INFINITY;
    for (int j = 0; j < lim; j++) {
        if (bias) row[j] += bias[j];
        if ((!km || km[j]) && row[j] > mx) mx = row[j];
    }
    if (mx == -INFINITY) { /* every key masked: HF's finfo.min scores give a uniform row */
        for (int j = 0; j < Tk; j++) row[j] = 1.0f / (float)Tk;
        return;
    }
    float sum = 0.0f;
    for (int j = 0; j < lim; j++) {
        row[j] = !km || km[j] ? rt_expf(row[j] - mx) : 0.0f;
        sum += row[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < lim; j++) row[j] *= inv;
    for (int j = lim; j < Tk; j++) row[j] = 0.0f;
}

/* D = dropout(P) of one (b, h) block. */
static void att_dropout(float *D, const float *P, size_t n, size_t base, float p, uint64_t key) {
    float s = 1.0f / (1.0f - p);
    for (size_t k = 0; k < n; k++) D[k] = rt_rng_uniform(key, base + k) < p ? 0.0f : P[k] * s;
}

static float *thread_scratch(float *scratch, int scratch_threads, size_t per) {
    int tid = omp_get_thread_num();
    return scratch + (size_t)(tid < scratch_threads ? tid : 0) * per;
}

/* The forward of both entry points: row b's queries at Q + b*sq, its keys and values at
   K/V + (b / group)*skv, its key mask row at kmask + (b / group)*Tk; scores times scale. */
static void attention_core(float *out, float *P, const float *Q, int ldq, size_t sq, const float *K,
                           const float *V, int ldkv, size_t skv, int group, float scale,
                           const float *bias, const uint8_t *kmask, int causal, int B, int Tq,
                           int Tk, int NH, int dk, float p, uint64_t key, float *scratch,
                           int scratch_threads) {
    int inner = NH * dk;
    size_t TT = (size_t)Tq * Tk;
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH, src = b / group;
        const float *q = Q + (size_t)b * sq + h * dk;
        const float *k = K + (size_t)src * skv + h * dk, *v = V + (size_t)src * skv + h * dk;
        float *S = P + (size_t)bh * TT;
        rt_gemm_1t(0, 1, Tq, Tk, dk, scale, q, ldq, k, ldkv, 0.0f, S, Tk);
        const uint8_t *km = kmask ? kmask + (size_t)src * Tk : NULL;
        for (int i = 0; i < Tq; i++)
            softmax_row(S + (size_t)i * Tk, bias ? bias + (size_t)h * TT + (size_t)i * Tk : NULL,
                        km, i, Tk, causal);
        const float *Pd = S;
        if (p > 0.0f) {
            float *D = thread_scratch(scratch, scratch_threads, 2 * TT);
            att_dropout(D, S, TT, (size_t)bh * TT, p, key);
            Pd = D;
        }
        rt_gemm_1t(0, 0, Tq, dk, Tk, 1.0f, Pd, Tk, v, ldkv, 0.0f,
                   out + (size_t)b * Tq * inner + h * dk, inner);
    }
}

void rt_t5_attention_forward(float *out, float *P, const float *Q, int ldq, const float *K,
                             const float *V, int ldkv, const float *bias, const uint8_t *kmask,
                             int causal, int B, int Tq, int Tk, int NH, int dk, float p,
                             uint64_t key, float *scratch, int scratch_threads) {
    attention_core(out, P, Q, ldq, (size_t)Tq * ldq, K, V, ldkv, (size_t)Tk * ldkv, 1, 1.0f, bias,
                   kmask, causal, B, Tq, Tk, NH, dk, p, key, scratch, scratch_threads);
}

void rt_attention_cached_forward(float *out, float *P, const float *Q, int ldq, const float *K,
                                 const float *V, int ldkv, const float *bias, const uint8_t *kmask,
                                 int B, int Tq, int Tk, int NH, int dk, const rt_attn_layout *lay) {
    attention_core(out, P, Q, ldq, lay->q_stride, K, V, ldkv, lay->kv_stride,
                   lay->kv_group > 0 ? lay->kv_group : 1, lay->scale, bias, kmask, 0, B, Tq, Tk, NH,
                   dk, 0.0f, 0, NULL, 0);
}

void rt_t5_attention_backward(float *dQ, float *dK, float *dV, float *dS, float *dbias,
                              const float *dout, const float *Q, int ldq, const float *K,
                              const float *V, int ldkv, const float *P, int B, int Tq, int Tk,
                              int NH, int dk, float p, uint64_t key, float *scratch,
                              int scratch_threads) {
    int inner = NH * dk;
    size_t TT = (size_t)Tq * Tk;
    float keep = p > 0.0f ? 1.0f / (1.0f - p) : 1.0f;
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        float *S1 = thread_scratch(scratch, scratch_threads, 2 * TT), *S2 = S1 + TT;
        const float *q = Q + (size_t)b * Tq * ldq + h * dk;
        const float *k = K + (size_t)b * Tk * ldkv + h * dk,
                    *v = V + (size_t)b * Tk * ldkv + h * dk;
        float *dq = dQ + (size_t)b * Tq * ldq + h * dk;
        float *dkk = dK + (size_t)b * Tk * ldkv + h * dk, *dv = dV + (size_t)b * Tk * ldkv + h * dk;
        const float *dO = dout + (size_t)b * Tq * inner + h * dk;
        const float *Pb = P + (size_t)bh * TT, *Pd = Pb;
        size_t base = (size_t)bh * TT;
        if (p > 0.0f) {
            att_dropout(S1, Pb, TT, base, p, key);
            Pd = S1;
        }
        rt_gemm_1t(1, 0, Tk, dk, Tq, 1.0f, Pd, Tk, dO, inner, 0.0f, dv, ldkv); /* dV = Pd^T dO */
        float *G = dS ? dS + base : S2;
        rt_gemm_1t(0, 1, Tq, Tk, dk, 1.0f, dO, inner, v, ldkv, 0.0f, G, Tk); /* dPd = dO V^T */
        for (int i = 0; i < Tq; i++) {
            float *g = G + (size_t)i * Tk;
            const float *pr = Pb + (size_t)i * Tk;
            if (p > 0.0f)
                for (int j = 0; j < Tk; j++)
                    g[j] = rt_rng_uniform(key, base + (size_t)i * Tk + j) < p ? 0.0f : g[j] * keep;
            float c = 0.0f;
            for (int j = 0; j < Tk; j++) c += g[j] * pr[j];
            for (int j = 0; j < Tk; j++) g[j] = pr[j] * (g[j] - c);
        }
        rt_gemm_1t(0, 0, Tq, dk, Tk, 1.0f, G, Tk, k, ldkv, 0.0f, dq, ldq);  /* dQ = dS K */
        rt_gemm_1t(1, 0, Tk, dk, Tq, 1.0f, G, Tk, q, ldq, 0.0f, dkk, ldkv); /* dK = dS^T Q */
    }
    if (!dbias) return;
#pragma omp parallel for schedule(static)
    for (int hi = 0; hi < NH * Tq; hi++) {
        int h = hi / Tq, i = hi % Tq;
        float *db = dbias + (size_t)h * TT + (size_t)i * Tk;
        for (int b = 0; b < B; b++) {
            const float *g = dS + ((size_t)b * NH + h) * TT + (size_t)i * Tk;
            for (int j = 0; j < Tk; j++) db[j] += g[j];
        }
    }
}
