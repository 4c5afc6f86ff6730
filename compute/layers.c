/* Layer kernels of GPT-2-style transformers: embeddings, LayerNorm, Conv1D-layout linear layers,
   gelu_new, causal attention, dropout and fused softmax cross-entropy. OpenMP over rows; column
   reductions (weight and bias gradients) run over column blocks, so results never depend on the
   thread count. */
#include "layers.h"
#include "gemm.h"
#include "fastmath.h"
#include "rng.h"
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#define COLBLK 64

void rt_embedding_forward(float *out, const int32_t *ids, const float *wte, const float *wpe, int B,
                          int T, int C) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B * T; r++) {
        const float *we = wte + (size_t)ids[r] * C, *pe = wpe + (size_t)(r % T) * C;
        float *o = out + (size_t)r * C;
        for (int c = 0; c < C; c++) o[c] = we[c] + pe[c];
    }
}

void rt_embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *ids, int B,
                           int T, int C, int acc) {
    /* Threads own column blocks, so repeated ids never race. */
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += COLBLK) {
        int c1 = c0 + COLBLK < C ? c0 + COLBLK : C;
        if (dwpe && !acc)
            for (int t = 0; t < T; t++)
                memset(dwpe + (size_t)t * C + c0, 0, (c1 - c0) * sizeof(float));
        for (int r = 0; r < B * T; r++) {
            const float *d = dout + (size_t)r * C;
            if (dwte) {
                float *g = dwte + (size_t)ids[r] * C;
                for (int c = c0; c < c1; c++) g[c] += d[c];
            }
            if (dwpe) {
                float *g = dwpe + (size_t)(r % T) * C;
                for (int c = c0; c < c1; c++) g[c] += d[c];
            }
        }
    }
}

void rt_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                          const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C;
        float *o = out + (size_t)r * C;
        float m = 0.0f;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        float v = 0.0f;
        for (int c = 0; c < C; c++) {
            float d = x[c] - m;
            v += d * d;
        }
        v /= C;
        float s = 1.0f / sqrtf(v + eps);
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * s * w[c] + b[c];
        mean[r] = m;
        rstd[r] = s;
    }
}

void rt_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, const float *mean, const float *rstd, int N, int C,
                           int acc) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
        float *di = dinp + (size_t)r * C;
        float m = mean[r], s = rstd[r];
        float dn_mean = 0.0f, dn_norm_mean = 0.0f;
        for (int c = 0; c < C; c++) {
            float dn = w[c] * d[c];
            dn_mean += dn;
            dn_norm_mean += dn * (x[c] - m) * s;
        }
        dn_mean /= C;
        dn_norm_mean /= C;
        for (int c = 0; c < C; c++) {
            float norm = (x[c] - m) * s;
            di[c] += (w[c] * d[c] - dn_mean - norm * dn_norm_mean) * s;
        }
    }
    if (!dw && !db) return;
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += COLBLK) {
        int c1 = c0 + COLBLK < C ? c0 + COLBLK : C;
        float sw[COLBLK], sb[COLBLK];
        for (int c = c0; c < c1; c++) sw[c - c0] = sb[c - c0] = 0.0f;
        for (int r = 0; r < N; r++) {
            const float *x = inp + (size_t)r * C, *d = dout + (size_t)r * C;
            float m = mean[r], s = rstd[r];
            for (int c = c0; c < c1; c++) {
                sw[c - c0] += d[c] * (x[c] - m) * s;
                sb[c - c0] += d[c];
            }
        }
        for (int c = c0; c < c1; c++) {
            if (dw) dw[c] = (acc ? dw[c] : 0.0f) + sw[c - c0];
            if (db) db[c] = (acc ? db[c] : 0.0f) + sb[c - c0];
        }
    }
}

void rt_linear_forward(float *out, const float *inp, const float *w, const float *b, int N, int IC,
                       int OC) {
    if (b) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < N; r++) memcpy(out + (size_t)r * OC, b, (size_t)OC * sizeof(float));
    }
    rt_gemm(0, 0, N, OC, IC, 1.0f, inp, IC, w, OC, b ? 1.0f : 0.0f, out, OC);
}

/* db (+)= column sums of dout (N, OC). */
static void colsum(float *db, const float *dout, int N, int OC, int acc) {
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < OC; c0 += COLBLK) {
        int c1 = c0 + COLBLK < OC ? c0 + COLBLK : OC;
        float s[COLBLK];
        for (int c = c0; c < c1; c++) s[c - c0] = 0.0f;
        for (int r = 0; r < N; r++) {
            const float *d = dout + (size_t)r * OC;
            for (int c = c0; c < c1; c++) s[c - c0] += d[c];
        }
        for (int c = c0; c < c1; c++) db[c] = (acc ? db[c] : 0.0f) + s[c - c0];
    }
}

void rt_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, int N, int IC, int OC, int acc) {
    if (dinp) rt_gemm(0, 1, N, IC, OC, 1.0f, dout, OC, w, OC, 0.0f, dinp, IC);
    if (dw) rt_gemm(1, 0, IC, OC, N, 1.0f, inp, IC, dout, OC, acc ? 1.0f : 0.0f, dw, OC);
    if (db) colsum(db, dout, N, OC, acc);
}

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

void rt_gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + rt_tanhf(GELU_K * (x + 0.044715f * x * x * x)));
    }
}

void rt_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + 0.044715f * x * x * x);
        float th = rt_tanhf(u);
        float sech2 = 1.0f - th * th;
        float g =
            0.5f * (1.0f + th) + 0.5f * x * sech2 * GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] = dout[i] * g;
    }
}

void rt_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t key) {
    if (p <= 0.0f) {
        if (out != inp) memcpy(out, inp, n * sizeof(float));
        return;
    }
    float s = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = rt_rng_uniform(key, i) < p ? 0.0f : inp[i] * s;
}

void rt_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t key) {
    rt_dropout_forward(dinp, dout, n, p, key);
}

void rt_residual_dropout_forward(float *out, const float *a, const float *b, size_t n, float p,
                                 uint64_t key) {
    if (p <= 0.0f) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
        return;
    }
    float s = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + (rt_rng_uniform(key, i) < p ? 0.0f : b[i] * s);
}

/* Applies attention dropout to probabilities row block P (T,T) of head bh into D. */
static void att_dropout(float *D, const float *P, int T, size_t bh, float p, uint64_t key) {
    float s = 1.0f / (1.0f - p);
    size_t base = bh * (size_t)T * T;
    for (int i = 0; i < T; i++)
        for (int j = 0; j < T; j++) {
            size_t k = (size_t)i * T + j;
            D[k] = j > i || rt_rng_uniform(key, base + k) < p ? 0.0f : P[k] * s;
        }
}

/* Causal attention in row blocks of ATT_BLOCK queries: a block's products stop at its last key
   (scores, P V, dP, dQ) or start at its first query (dV, dK), so the masked upper triangle is
   neither computed nor multiplied (about 5/8 of the full T x T work at T = 256). The skipped
   terms are exact zeros of P and dS, so the sums are the same. */
#define ATT_BLOCK 64

void rt_attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH,
                          float p, uint64_t key, float *scratch, int scratch_threads) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        const float *Q = qkv + (size_t)b * T * C3 + h * hs;
        const float *K = Q + C, *V = Q + 2 * C;
        float *P = att + (size_t)bh * T * T;
        /* causal: row block [i0, i1) needs key columns [0, i1) only (the rest is masked) */
        for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
            int i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T;
            rt_gemm_1t(0, 1, i1 - i0, i1, hs, scale, Q + (size_t)i0 * C3, C3, K, C3, 0.0f,
                       P + (size_t)i0 * T, T);
        }
        for (int i = 0; i < T; i++) {
            float *row = P + (size_t)i * T;
            float mx = row[0];
            for (int j = 1; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j <= i; j++) {
                row[j] = rt_expf(row[j] - mx);
                sum += row[j];
            }
            float inv = 1.0f / sum;
            for (int j = 0; j <= i; j++) row[j] *= inv;
            for (int j = i + 1; j < T; j++) row[j] = 0.0f;
        }
        const float *Pd = P;
        if (p > 0.0f) {
            int tid = omp_get_thread_num();
            float *D = scratch + (size_t)(tid < scratch_threads ? tid : 0) * 2 * T * T;
            att_dropout(D, P, T, (size_t)bh, p, key);
            Pd = D;
        }
        float *O = out + (size_t)b * T * C + h * hs;
        for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) { /* P's columns >= i1 are 0 in the block */
            int i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T;
            rt_gemm_1t(0, 0, i1 - i0, hs, i1, 1.0f, Pd + (size_t)i0 * T, T, V, C3, 0.0f,
                       O + (size_t)i0 * C, C);
        }
    }
}

void rt_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                           int B, int T, int C, int NH, float p, uint64_t key, float *scratch,
                           int scratch_threads) {
    int hs = C / NH, C3 = 3 * C;
    float scale = 1.0f / sqrtf((float)hs);
    float keep = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
        int tid = omp_get_thread_num();
        float *S1 = scratch + (size_t)(tid < scratch_threads ? tid : 0) * 2 * T * T;
        float *S2 = S1 + (size_t)T * T;
        const float *Q = qkv + (size_t)b * T * C3 + h * hs;
        const float *K = Q + C, *V = Q + 2 * C;
        float *dQ = dqkv + (size_t)b * T * C3 + h * hs, *dK = dQ + C, *dV = dQ + 2 * C;
        const float *dO = dout + (size_t)b * T * C + h * hs;
        const float *P = att + (size_t)bh * T * T;
        const float *Pd = P;
        if (p > 0.0f) {
            att_dropout(S1, P, T, (size_t)bh, p, key);
            Pd = S1;
        }
        for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
            int i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T;
            /* dV = Pd^T dO: rows [i0, i1) of dV take query rows [i0, T) (Pd[i][j] = 0, i < j) */
            rt_gemm_1t(1, 0, i1 - i0, hs, T - i0, 1.0f, Pd + (size_t)i0 * T + i0, T,
                       dO + (size_t)i0 * C, C, 0.0f, dV + (size_t)i0 * C3, C3);
            /* dPd = dO V^T, key columns [0, i1) of the row block (the rest is masked) */
            rt_gemm_1t(0, 1, i1 - i0, i1, hs, 1.0f, dO + (size_t)i0 * C, C, V, C3, 0.0f,
                       S2 + (size_t)i0 * T, T);
        }
        size_t base = (size_t)bh * T * T;
        for (int i = 0; i < T; i++) {
            float *dp = S2 + (size_t)i * T;
            const float *pr = P + (size_t)i * T;
            if (p > 0.0f)
                for (int j = 0; j <= i; j++)
                    dp[j] = rt_rng_uniform(key, base + (size_t)i * T + j) < p ? 0.0f : dp[j] * keep;
            float c = 0.0f;
            for (int j = 0; j <= i; j++) c += dp[j] * pr[j];
            for (int j = 0; j <= i; j++) dp[j] = pr[j] * (dp[j] - c) * scale;
            for (int j = i + 1; j < T; j++) dp[j] = 0.0f;
        }
        for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
            int i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T;
            /* dQ = dS K over key columns [0, i1); dK = dS^T Q over query rows [i0, T) */
            rt_gemm_1t(0, 0, i1 - i0, hs, i1, 1.0f, S2 + (size_t)i0 * T, T, K, C3, 0.0f,
                       dQ + (size_t)i0 * C3, C3);
            rt_gemm_1t(1, 0, i1 - i0, hs, T - i0, 1.0f, S2 + (size_t)i0 * T + i0, T,
                       Q + (size_t)i0 * C3, C3, 0.0f, dK + (size_t)i0 * C3, C3);
        }
    }
}

double rt_crossentropy_forward(float *losses, float *lse, const float *logits,
                               const int32_t *targets, int N, int V, int *count, int *bad) {
    int badrow = -1;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        int t = targets[r];
        if (t == -100) {
            losses[r] = 0.0f;
            lse[r] = 0.0f;
            continue;
        }
        if (t < 0 || t >= V) {
#pragma omp critical
            if (badrow < 0 || r < badrow) badrow = r;
            losses[r] = 0.0f;
            lse[r] = 0.0f;
            continue;
        }
        const float *x = logits + (size_t)r * V;
        /* the max in 16 lanes, elementwise (clang does not take `omp simd reduction(max)` on a
           float comparison, and warns): the same result as the serial loop */
        float lane[16], mx = x[0];
        int j0 = 0;
        for (int k = 0; k < 16; k++) lane[k] = x[0];
        for (; j0 + 16 <= V; j0 += 16)
            for (int k = 0; k < 16; k++) lane[k] = x[j0 + k] > lane[k] ? x[j0 + k] : lane[k];
        for (int k = 0; k < 16; k++) mx = lane[k] > mx ? lane[k] : mx;
        for (int j = j0; j < V; j++) mx = x[j] > mx ? x[j] : mx;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < V; j++) s += rt_expf(x[j] - mx);
        float l = mx + logf(s);
        lse[r] = l;
        losses[r] = l - x[t];
    }
    /* Serial sum in row order: the same result for any thread count. */
    double sum = 0.0;
    int n = 0;
    for (int r = 0; r < N; r++)
        if (targets[r] >= 0 && targets[r] < V) {
            sum += losses[r];
            n++;
        }
    if (count) *count = n;
    if (bad) *bad = badrow;
    return sum;
}

void rt_crossentropy_backward(float *logits, const float *lse, const int32_t *targets, int N, int V,
                              float scale) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        float *x = logits + (size_t)r * V;
        int t = targets[r];
        if (t < 0 || t >= V) {
            memset(x, 0, (size_t)V * sizeof(float));
            continue;
        }
        float l = lse[r];
        /* A probability whose gradient term falls below FLT_MIN becomes 0 rather than a
           subnormal: subnormal operands make the GEMMs that read these gradients many times
           slower (a confident head at random init: 15x on a T5 backward), and the value lost
           is below 1.2e-38. */
#pragma omp simd
        for (int j = 0; j < V; j++) {
            float g = rt_expf(x[j] - l) * scale;
            x[j] = g < FLT_MIN ? 0.0f : g;
        }
        x[t] -= scale;
    }
}
