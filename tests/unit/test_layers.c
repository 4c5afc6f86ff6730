/* Finite-difference gradient checks for every kernel of compute/layers.h, their acc / dinp += /
   overwrite semantics, forward values against double references, and thread-count independence. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "layers.h"

/* ---- helpers ---- */

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [-1, 1). */
static float urand(uint64_t *s) {
    return (float)((double)(next_u64(s) >> 40) * (2.0 / 16777216.0) - 1.0);
}
static void fill(float *x, size_t n, float scale, float shift, uint64_t seed) {
    for (size_t i = 0; i < n; i++) x[i] = shift + scale * urand(&seed);
}
static void fill_nan(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}
static float *falloc(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}
static double dotd(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}
static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}
static int bitwise_eq(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}
/* max |a - b| / max(|b|) over n (NaN -> inf). */
static double max_rel_norm(const float *a, const float *b, size_t n) {
    double d = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (isnan(e)) return INFINITY;
        if (e > d) d = e;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return s > 0 ? d / s : d;
}

/* |a - n| / max(1e-2, |a| + |n|), NaN -> inf. */
static double rel_err(double a, double n) {
    double den = fabs(a) + fabs(n);
    double e = fabs(a - n) / (den > 1e-2 ? den : 1e-2);
    return isnan(e) ? INFINITY : e;
}

typedef double (*objective_fn)(void *ctx);

/* Central differences of f with respect to x at up to nsample coordinates (all of them when
   n <= nsample), compared with the analytic gradient g; prints the max relative error and checks it
   against tol. The forward passes run on one thread (results do not depend on the thread count, as
   the *_threads tests check), which keeps the test fast on a loaded machine. */
static double fd_check(const char *what, float *x, const float *g, size_t n, size_t nsample,
                       float eps, objective_fn f, void *ctx, uint64_t seed, double tol) {
    double worst = 0.0, worst_a = 0.0, worst_n = 0.0;
    size_t cnt = n <= nsample ? n : nsample, worst_i = 0;
    int nth = omp_get_max_threads();
    omp_set_num_threads(1);
    rt_gemm_setup(1);
    for (size_t k = 0; k < cnt; k++) {
        size_t i = n <= nsample ? k : (size_t)(next_u64(&seed) % n);
        float x0 = x[i], xp = x0 + eps, xm = x0 - eps;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = x0;
        double num = (lp - lm) / ((double)xp - (double)xm);
        double e = rel_err(g[i], num);
        if (k == 0 || e > worst) {
            worst = e;
            worst_i = i;
            worst_a = g[i];
            worst_n = num;
        }
    }
    omp_set_num_threads(nth);
    rt_gemm_setup(2);
    f(ctx); /* leave the forward state of the unperturbed point */
    printf("fd %s: max rel err %.2e over %zu coords, eps %g, tol %.0e (worst at %zu: analytic "
           "%.6g, numeric %.6g)\n",
           what, worst, cnt, eps, tol, worst_i, worst_a, worst_n);
    ck_assert_msg(worst < tol, "fd %s: max rel err %g >= %g", what, worst, tol);
    return worst;
}

/* Tolerances: float32 central differences have truncation error O(eps^2) and rounding noise of the
   float forward / (2 eps), which the 1e-2 floor of the metric turns into up to a few 1e-3 for
   small gradients of non-linear kernels (eps 1e-2). Where the output is linear in the perturbed
   input there is no truncation error, so eps 1e-1 and tighter tolerances apply. A wrong term in a
   gradient shows up as O(1e-1..1). */
#define TOL_NONLIN 1e-2
#define TOL_LINEAR 1e-3

/* ---- embedding ---- */

typedef struct {
    float *out, *wte, *wpe, *R;
    const int32_t *ids;
    int B, T, C;
} emb_ctx;

static double emb_obj(void *p) {
    emb_ctx *c = p;
    rt_embedding_forward(c->out, c->ids, c->wte, c->wpe, c->B, c->T, c->C);
    return dotd(c->out, c->R, (size_t)c->B * c->T * c->C);
}

START_TEST(test_embedding) {
    enum { V = 11, B = 3, T = 4, C = 70 };
    int32_t ids[B * T] = {3, 0, 3, 10, 7, 3, 3, 1, 0, 10, 5, 3}; /* repeated ids */
    float *wte = falloc(V * C), *wpe = falloc(T * C), *out = falloc(B * T * C),
          *R = falloc(B * T * C);
    fill(wte, V * C, 1.0f, 0.0f, 1);
    fill(wpe, T * C, 1.0f, 0.0f, 2);
    fill(R, B * T * C, 1.0f, 0.0f, 3);
    emb_ctx c = {out, wte, wpe, R, ids, B, T, C};
    /* forward value */
    emb_obj(&c);
    for (int r = 0; r < B * T; r++)
        for (int k = 0; k < C; k++)
            ck_assert(out[r * C + k] == wte[ids[r] * C + k] + wpe[(r % T) * C + k]);

    float *dwte = falloc(V * C), *dwpe = falloc(T * C);
    memset(dwte, 0, V * C * sizeof(float));
    fill_nan(dwpe, T * C); /* acc = 0 must overwrite dwpe */
    rt_embedding_backward(dwte, dwpe, R, ids, B, T, C, 0);
    ck_assert(all_finite(dwpe, T * C));
    fd_check("embedding dwte", wte, dwte, V * C, 400, 1e-1f, emb_obj, &c, 11, TOL_LINEAR);
    fd_check("embedding dwpe", wpe, dwpe, T * C, 400, 1e-1f, emb_obj, &c, 12, TOL_LINEAR);

    /* dwte always adds: prefilled D0 -> D0 + grad. */
    float *D0 = falloc(V * C), *dwte2 = falloc(V * C), *dwpe2 = falloc(T * C);
    fill(D0, V * C, 1.0f, 0.0f, 4);
    memcpy(dwte2, D0, V * C * sizeof(float));
    fill_nan(dwpe2, T * C);
    rt_embedding_backward(dwte2, dwpe2, R, ids, B, T, C, 0);
    double worst = 0.0;
    for (int i = 0; i < V * C; i++) {
        double d = fabs((double)dwte2[i] - ((double)D0[i] + dwte[i]));
        worst = d > worst ? d : worst;
    }
    ck_assert_msg(worst < 1e-5, "embedding dwte must add into its contents: |diff| %g", worst);
    ck_assert(bitwise_eq(dwpe2, dwpe, T * C));
    /* acc = 1 adds to dwpe */
    rt_embedding_backward(NULL, dwpe2, R, ids, B, T, C, 1);
    for (int i = 0; i < T * C; i++) ck_assert(fabsf(dwpe2[i] - 2.0f * dwpe[i]) < 1e-5f);
    /* NULL dwte (frozen) leaves dwpe's values; NULL dwpe leaves dwte's */
    fill_nan(dwpe2, T * C);
    rt_embedding_backward(NULL, dwpe2, R, ids, B, T, C, 0);
    ck_assert(bitwise_eq(dwpe2, dwpe, T * C));
    memset(dwte2, 0, V * C * sizeof(float));
    rt_embedding_backward(dwte2, NULL, R, ids, B, T, C, 0);
    ck_assert(bitwise_eq(dwte2, dwte, V * C));
    free(wte), free(wpe), free(out), free(R), free(dwte), free(dwpe), free(D0), free(dwte2),
        free(dwpe2);
}
END_TEST

/* ---- layernorm ---- */

typedef struct {
    float *out, *mean, *rstd, *inp, *w, *b, *R;
    int N, C;
    float eps;
} ln_ctx;

static double ln_obj(void *p) {
    ln_ctx *c = p;
    rt_layernorm_forward(c->out, c->mean, c->rstd, c->inp, c->w, c->b, c->N, c->C, c->eps);
    return dotd(c->out, c->R, (size_t)c->N * c->C);
}

static void ln_setup(ln_ctx *c, int N, int C, uint64_t seed) {
    c->N = N;
    c->C = C;
    c->eps = 1e-5f;
    c->out = falloc((size_t)N * C);
    c->mean = falloc(N);
    c->rstd = falloc(N);
    c->inp = falloc((size_t)N * C);
    c->w = falloc(C);
    c->b = falloc(C);
    c->R = falloc((size_t)N * C);
    for (int r = 0; r < N; r++) /* rows with different means and spreads */
        fill(c->inp + (size_t)r * C, C, 0.5f + 0.25f * (r % 5), 0.3f * (r % 3) - 0.3f, seed + r);
    fill(c->w, C, 0.5f, 1.0f, seed + 1000);
    fill(c->b, C, 0.5f, 0.0f, seed + 1001);
    fill(c->R, (size_t)N * C, 1.0f, 0.0f, seed + 1002);
}
static void ln_free(ln_ctx *c) {
    free(c->out), free(c->mean), free(c->rstd), free(c->inp), free(c->w), free(c->b), free(c->R);
}

START_TEST(test_layernorm) {
    ln_ctx c;
    ln_setup(&c, 7, 130, 100); /* C crosses the 64-column blocks of the weight-gradient pass */
    int N = c.N, C = c.C;
    size_t NC = (size_t)N * C;
    ln_obj(&c);
    /* mean / rstd / out against double */
    double wd = 0.0;
    for (int r = 0; r < N; r++) {
        const float *x = c.inp + (size_t)r * C;
        double m = 0.0, v = 0.0;
        for (int k = 0; k < C; k++) m += x[k];
        m /= C;
        for (int k = 0; k < C; k++) v += (x[k] - m) * (x[k] - m);
        v /= C;
        double s = 1.0 / sqrt(v + 1e-5);
        wd = fmax(wd, fabs(c.mean[r] - m));
        wd = fmax(wd, fabs(c.rstd[r] - s) / s);
        for (int k = 0; k < C; k++)
            wd = fmax(wd, fabs(c.out[(size_t)r * C + k] - ((x[k] - m) * s * c.w[k] + c.b[k])));
    }
    printf("layernorm forward: max diff vs double %.2e\n", wd);
    ck_assert_msg(wd < 1e-5, "layernorm forward: %g", wd);

    float *dinp = falloc(NC), *dw = falloc(C), *db = falloc(C);
    memset(dinp, 0, NC * sizeof(float));
    fill_nan(dw, C);
    fill_nan(db, C);
    rt_layernorm_backward(dinp, dw, db, c.R, c.inp, c.w, c.mean, c.rstd, N, C, 0);
    ck_assert(all_finite(dw, C) && all_finite(db, C));
    fd_check("layernorm dinp", c.inp, dinp, NC, 400, 1e-2f, ln_obj, &c, 21, TOL_NONLIN);
    fd_check("layernorm dw", c.w, dw, C, 400, 1e-1f, ln_obj, &c, 22, TOL_LINEAR);
    fd_check("layernorm db", c.b, db, C, 400, 1e-1f, ln_obj, &c, 23, TOL_LINEAR);

    /* dinp +=: a prefilled D0 gives D0 + (the gradient from zero), bitwise. */
    float *D0 = falloc(NC), *dinp2 = falloc(NC), *dw2 = falloc(C), *db2 = falloc(C);
    fill(D0, NC, 1.0f, 0.0f, 24);
    memcpy(dinp2, D0, NC * sizeof(float));
    memcpy(dw2, dw, C * sizeof(float));
    memcpy(db2, db, C * sizeof(float));
    rt_layernorm_backward(dinp2, dw2, db2, c.R, c.inp, c.w, c.mean, c.rstd, N, C, 1);
    for (size_t i = 0; i < NC; i++) ck_assert(dinp2[i] == D0[i] + dinp[i]);
    /* acc = 1 adds the same column sums again: exactly twice */
    for (int i = 0; i < C; i++) ck_assert(dw2[i] == 2.0f * dw[i] && db2[i] == 2.0f * db[i]);
    /* frozen weights: dinp unchanged */
    memset(dinp2, 0, NC * sizeof(float));
    rt_layernorm_backward(dinp2, NULL, NULL, c.R, c.inp, c.w, c.mean, c.rstd, N, C, 0);
    ck_assert(bitwise_eq(dinp2, dinp, NC));
    fill_nan(dw2, C);
    memset(dinp2, 0, NC * sizeof(float));
    rt_layernorm_backward(dinp2, dw2, NULL, c.R, c.inp, c.w, c.mean, c.rstd, N, C, 0);
    ck_assert(bitwise_eq(dw2, dw, C));
    free(dinp), free(dw), free(db), free(D0), free(dinp2), free(dw2), free(db2);
    ln_free(&c);
}
END_TEST

START_TEST(test_layernorm_threads) {
    ln_ctx c;
    ln_setup(&c, 61, 200, 300);
    int N = c.N, C = c.C;
    size_t NC = (size_t)N * C;
    float *di[2], *dw[2], *db[2];
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        ln_obj(&c);
        di[k] = falloc(NC), dw[k] = falloc(C), db[k] = falloc(C);
        memset(di[k], 0, NC * sizeof(float));
        rt_layernorm_backward(di[k], dw[k], db[k], c.R, c.inp, c.w, c.mean, c.rstd, N, C, 0);
    }
    omp_set_num_threads(2);
    ck_assert_msg(bitwise_eq(dw[0], dw[1], C), "layernorm dw differs between 1 and 2 threads");
    ck_assert_msg(bitwise_eq(db[0], db[1], C), "layernorm db differs between 1 and 2 threads");
    ck_assert_msg(bitwise_eq(di[0], di[1], NC), "layernorm dinp differs between 1 and 2 threads");
    printf("layernorm backward: dw/db/dinp bitwise equal for 1 and 2 threads\n");
    for (int k = 0; k < 2; k++) free(di[k]), free(dw[k]), free(db[k]);
    ln_free(&c);
}
END_TEST

/* ---- linear ---- */

typedef struct {
    float *out, *inp, *w, *b, *R;
    int N, IC, OC;
} lin_ctx;

static double lin_obj(void *p) {
    lin_ctx *c = p;
    rt_linear_forward(c->out, c->inp, c->w, c->b, c->N, c->IC, c->OC);
    return dotd(c->out, c->R, (size_t)c->N * c->OC);
}

START_TEST(test_linear) {
    enum { N = 9, IC = 70, OC = 67 };
    float *out = falloc(N * OC), *inp = falloc(N * IC), *w = falloc(IC * OC), *b = falloc(OC),
          *R = falloc(N * OC);
    fill(inp, N * IC, 1.0f, 0.0f, 31);
    fill(w, IC * OC, 0.3f, 0.0f, 32);
    fill(b, OC, 1.0f, 0.0f, 33);
    fill(R, N * OC, 1.0f, 0.0f, 34);
    lin_ctx c = {out, inp, w, b, R, N, IC, OC};
    /* forward against double, with and without bias */
    double wd = 0.0, wd0 = 0.0;
    fill_nan(out, N * OC);
    lin_obj(&c);
    float *out0 = falloc(N * OC);
    fill_nan(out0, N * OC); /* b == NULL must overwrite */
    rt_linear_forward(out0, inp, w, NULL, N, IC, OC);
    for (int r = 0; r < N; r++)
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int k = 0; k < IC; k++) s += (double)inp[r * IC + k] * w[k * OC + o];
            wd = fmax(wd, fabs(out[r * OC + o] - (s + b[o])));
            wd0 = fmax(wd0, fabs(out0[r * OC + o] - s));
        }
    printf("linear forward: max diff vs double %.2e (bias), %.2e (no bias)\n", wd, wd0);
    ck_assert(wd < 1e-5 && wd0 < 1e-5);

    float *dinp = falloc(N * IC), *dw = falloc(IC * OC), *db = falloc(OC);
    fill_nan(dinp, N * IC); /* dinp, and dw/db with acc = 0, are overwritten */
    fill_nan(dw, IC * OC);
    fill_nan(db, OC);
    rt_linear_backward(dinp, dw, db, R, inp, w, N, IC, OC, 0);
    ck_assert(all_finite(dinp, N * IC) && all_finite(dw, IC * OC) && all_finite(db, OC));
    fd_check("linear dinp", inp, dinp, N * IC, 400, 1e-1f, lin_obj, &c, 35, TOL_LINEAR);
    fd_check("linear dw", w, dw, IC * OC, 400, 1e-1f, lin_obj, &c, 36, TOL_LINEAR);
    fd_check("linear db", b, db, OC, 400, 1e-1f, lin_obj, &c, 37, TOL_LINEAR);

    /* acc = 1 adds; dinp NULL skips it */
    float *dw2 = falloc(IC * OC), *db2 = falloc(OC), *dinp2 = falloc(N * IC);
    memcpy(dw2, dw, IC * OC * sizeof(float));
    memcpy(db2, db, OC * sizeof(float));
    rt_linear_backward(NULL, dw2, db2, R, inp, w, N, IC, OC, 1);
    {
        float *twice = falloc(IC * OC);
        for (int i = 0; i < IC * OC; i++) twice[i] = 2.0f * dw[i];
        double ea = max_rel_norm(dw2, twice, IC * OC);
        printf("linear dw acc=1: max |dw2 - 2 dw| / max|2 dw| = %.2e\n", ea);
        ck_assert(ea < 1e-6);
        free(twice);
    }
    for (int i = 0; i < OC; i++) ck_assert(db2[i] == 2.0f * db[i]);
    /* frozen dw/db: dinp unchanged */
    fill_nan(dinp2, N * IC);
    rt_linear_backward(dinp2, NULL, NULL, R, inp, w, N, IC, OC, 0);
    ck_assert(bitwise_eq(dinp2, dinp, N * IC));
    free(out), free(inp), free(w), free(b), free(R), free(out0), free(dinp), free(dw), free(db),
        free(dw2), free(db2), free(dinp2);
}
END_TEST

/* ---- gelu ---- */

typedef struct {
    float *out, *inp, *R;
    size_t n;
} gelu_ctx;

static double gelu_obj(void *p) {
    gelu_ctx *c = p;
    rt_gelu_forward(c->out, c->inp, c->n);
    return dotd(c->out, c->R, c->n);
}

START_TEST(test_gelu) {
    enum { n = 600 };
    float *out = falloc(n), *inp = falloc(n), *R = falloc(n), *dinp = falloc(n), *buf = falloc(n);
    fill(inp, n, 5.0f, 0.0f, 41);
    fill(R, n, 1.0f, 0.0f, 42);
    gelu_ctx c = {out, inp, R, n};
    gelu_obj(&c);
    double wd = 0.0;
    for (int i = 0; i < n; i++) {
        double x = inp[i];
        double ref = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        wd = fmax(wd, fabs(out[i] - ref));
    }
    printf("gelu forward: max diff vs double gelu_new %.2e\n", wd);
    ck_assert(wd < 1e-5);
    fill_nan(dinp, n);
    rt_gelu_backward(dinp, inp, R, n);
    fd_check("gelu dinp", inp, dinp, n, 1000, 1e-2f, gelu_obj, &c, 43, TOL_NONLIN);
    /* dinp may alias dout */
    memcpy(buf, R, n * sizeof(float));
    rt_gelu_backward(buf, inp, buf, n);
    ck_assert(bitwise_eq(buf, dinp, n));
    free(out), free(inp), free(R), free(dinp), free(buf);
}
END_TEST

/* ---- attention ---- */

typedef struct {
    float *out, *att, *qkv, *R, *scratch;
    int B, T, C, NH, nth;
    float p;
    uint64_t key;
} att_ctx;

static double att_obj(void *p) {
    att_ctx *c = p;
    rt_attention_forward(c->out, c->att, c->qkv, c->B, c->T, c->C, c->NH, c->p, c->key, c->scratch,
                         c->nth);
    return dotd(c->out, c->R, (size_t)c->B * c->T * c->C);
}

static void run_attention(float p, const char *label) {
    enum { B = 2, T = 7, C = 12, NH = 3, hs = C / NH };
    int nth = omp_get_max_threads();
    float *qkv = falloc(B * T * 3 * C), *out = falloc(B * T * C), *att = falloc(B * NH * T * T),
          *R = falloc(B * T * C), *dqkv = falloc(B * T * 3 * C),
          *scratch = falloc((size_t)nth * 2 * T * T), *out2 = falloc(B * T * C);
    fill(qkv, B * T * 3 * C, 1.5f, 0.0f, 51);
    fill(R, B * T * C, 1.0f, 0.0f, 52);
    att_ctx c = {out, att, qkv, R, scratch, B, T, C, NH, nth, p, 0xABCDEF0123ull};
    att_obj(&c);
    /* probabilities: causal, rows sum to 1 */
    for (int bh = 0; bh < B * NH; bh++)
        for (int i = 0; i < T; i++) {
            double s = 0.0;
            for (int j = 0; j < T; j++) {
                float a = att[((size_t)bh * T + i) * T + j];
                if (j > i) ck_assert(a == 0.0f);
                s += a;
            }
            ck_assert(fabs(s - 1.0) < 1e-5);
        }
    /* forward against double (no dropout) */
    if (p == 0.0f) {
        double wd = 0.0;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < T; i++) {
                    double sc[T], mx = -INFINITY, sum = 0.0;
                    const float *q = qkv + ((size_t)b * T + i) * 3 * C + h * hs;
                    for (int j = 0; j <= i; j++) {
                        const float *k = qkv + ((size_t)b * T + j) * 3 * C + C + h * hs;
                        double d = 0.0;
                        for (int e = 0; e < hs; e++) d += (double)q[e] * k[e];
                        sc[j] = d / sqrt((double)hs);
                        mx = fmax(mx, sc[j]);
                    }
                    for (int j = 0; j <= i; j++) sum += sc[j] = exp(sc[j] - mx);
                    for (int e = 0; e < hs; e++) {
                        double o = 0.0;
                        for (int j = 0; j <= i; j++)
                            o +=
                                sc[j] / sum * qkv[((size_t)b * T + j) * 3 * C + 2 * C + h * hs + e];
                        wd = fmax(wd, fabs(out[((size_t)b * T + i) * C + h * hs + e] - o));
                    }
                }
        printf("attention forward: max diff vs double %.2e\n", wd);
        ck_assert(wd < 1e-5);
    } else {
        /* dropout is active, and the mask is a pure function of the key */
        c.out = out2;
        att_obj(&c);
        c.out = out;
        ck_assert(bitwise_eq(out, out2, B * T * C));
        c.p = 0.0f;
        c.out = out2;
        att_obj(&c);
        c.p = p;
        c.out = out;
        ck_assert(!bitwise_eq(out, out2, B * T * C));
        att_obj(&c);
    }
    fill_nan(dqkv, B * T * 3 * C); /* dqkv is overwritten */
    rt_attention_backward(dqkv, R, qkv, att, B, T, C, NH, p, c.key, scratch, nth);
    ck_assert(all_finite(dqkv, B * T * 3 * C));
    fd_check(label, qkv, dqkv, B * T * 3 * C, 1000, 1e-2f, att_obj, &c, 53, TOL_NONLIN);
    free(qkv), free(out), free(att), free(R), free(dqkv), free(scratch), free(out2);
}

START_TEST(test_attention) {
    run_attention(0.0f, "attention dqkv (p=0)");
    run_attention(0.3f, "attention dqkv (p=0.3)");
}
END_TEST

/* ---- dropout and residual dropout ---- */

typedef struct {
    float *out, *inp, *a, *R;
    size_t n;
    float p;
    uint64_t key;
} drop_ctx;

static double drop_obj(void *p) {
    drop_ctx *c = p;
    rt_dropout_forward(c->out, c->inp, c->n, c->p, c->key);
    return dotd(c->out, c->R, c->n);
}
static double resid_obj(void *p) {
    drop_ctx *c = p;
    rt_residual_dropout_forward(c->out, c->a, c->inp, c->n, c->p, c->key);
    return dotd(c->out, c->R, c->n);
}

START_TEST(test_dropout) {
    enum { n = 1000 };
    const float p = 0.3f;
    const uint64_t key = 0x5151u;
    float *inp = falloc(n), *out = falloc(n), *R = falloc(n), *dinp = falloc(n), *buf = falloc(n),
          *a = falloc(n);
    fill(inp, n, 1.0f, 0.0f, 61);
    fill(R, n, 1.0f, 0.0f, 62);
    fill(a, n, 1.0f, 0.0f, 63);
    drop_ctx c = {out, inp, a, R, n, p, key};
    drop_obj(&c);
    const float s = 1.0f / (1.0f - p);
    for (int i = 0; i < n; i++) ck_assert(out[i] == 0.0f || out[i] == inp[i] * s);
    /* in place gives the same */
    memcpy(buf, inp, n * sizeof(float));
    rt_dropout_forward(buf, buf, n, p, key);
    ck_assert(bitwise_eq(buf, out, n));
    /* backward applies the same mask */
    fill_nan(dinp, n);
    rt_dropout_backward(dinp, R, n, p, key);
    for (int i = 0; i < n; i++) ck_assert((dinp[i] == 0.0f) == (out[i] == 0.0f));
    fd_check("dropout dinp", inp, dinp, n, 300, 1e-1f, drop_obj, &c, 64, TOL_LINEAR);
    /* dinp may alias dout */
    memcpy(buf, R, n * sizeof(float));
    rt_dropout_backward(buf, buf, n, p, key);
    ck_assert(bitwise_eq(buf, dinp, n));

    /* residual: out = a + dropout(b); d/da = R, d/db = dropout_backward(R) */
    resid_obj(&c);
    rt_dropout_forward(buf, inp, n, p, key);
    for (int i = 0; i < n; i++) ck_assert(out[i] == a[i] + buf[i]);
    fd_check("residual dropout da", a, R, n, 300, 1e-1f, resid_obj, &c, 65, TOL_LINEAR);
    fd_check("residual dropout db", inp, dinp, n, 300, 1e-1f, resid_obj, &c, 66, TOL_LINEAR);

    /* p = 0: identity (copy, or nothing in place); residual adds */
    rt_dropout_forward(buf, inp, n, 0.0f, key);
    ck_assert(bitwise_eq(buf, inp, n));
    rt_residual_dropout_forward(buf, a, inp, n, 0.0f, key);
    for (int i = 0; i < n; i++) ck_assert(buf[i] == a[i] + inp[i]);

    /* kept fraction ~ 1 - p over many elements; different keys give different masks */
    size_t big = 200000, kept = 0, same = 0;
    float *ones = falloc(big), *m1 = falloc(big), *m2 = falloc(big);
    for (size_t i = 0; i < big; i++) ones[i] = 1.0f;
    rt_dropout_forward(m1, ones, big, p, key);
    rt_dropout_forward(m2, ones, big, p, key + 1);
    for (size_t i = 0; i < big; i++) {
        kept += m1[i] != 0.0f;
        same += (m1[i] != 0.0f) == (m2[i] != 0.0f);
    }
    double frac = (double)kept / big;
    printf("dropout p=0.3: kept fraction %.4f, agreement between two keys %.4f\n", frac,
           (double)same / big);
    ck_assert(fabs(frac - 0.7) < 0.005);
    ck_assert(fabs((double)same / big - 0.58) < 0.01); /* independent masks: 0.7^2 + 0.3^2 */
    free(inp), free(out), free(R), free(dinp), free(buf), free(a), free(ones), free(m1), free(m2);
}
END_TEST

/* ---- cross-entropy ---- */

typedef struct {
    float *losses, *lse, *logits;
    const int32_t *targets;
    int N, V;
    float scale;
} ce_ctx;

static double ce_obj(void *p) {
    ce_ctx *c = p;
    int count = 0, bad = 0;
    double s =
        rt_crossentropy_forward(c->losses, c->lse, c->logits, c->targets, c->N, c->V, &count, &bad);
    ck_assert_int_eq(bad, -1);
    return c->scale * s;
}

START_TEST(test_crossentropy_fd) {
    enum { N = 10, V = 53 };
    int32_t targets[N] = {4, 52, -100, 0, 17, 17, 9, -100, 30, 1};
    float *logits = falloc(N * V), *dl = falloc(N * V), *losses = falloc(N), *lse = falloc(N);
    fill(logits, N * V, 2.0f, 0.0f, 71);
    ce_ctx c = {losses, lse, logits, targets, N, V, 1.0f / 8};
    int count = -1, bad = 0;
    double sum = rt_crossentropy_forward(losses, lse, logits, targets, N, V, &count, &bad);
    ck_assert_int_eq(count, 8);
    ck_assert_int_eq(bad, -1);
    double chk = 0.0;
    for (int r = 0; r < N; r++) chk += losses[r];
    ck_assert(sum == chk);
    ck_assert(losses[2] == 0.0f && losses[7] == 0.0f);
    memcpy(dl, logits, N * V * sizeof(float));
    rt_crossentropy_backward(dl, lse, targets, N, V, c.scale);
    for (int r = 0; r < N; r++) {
        double rs = 0.0;
        for (int j = 0; j < V; j++) rs += dl[r * V + j];
        ck_assert(fabs(rs) < 1e-6); /* softmax - onehot sums to 0; ignored rows are 0 */
        if (targets[r] == -100)
            for (int j = 0; j < V; j++) ck_assert(dl[r * V + j] == 0.0f);
    }
    fd_check("crossentropy dlogits", logits, dl, N * V, 1000, 1e-2f, ce_obj, &c, 72, TOL_NONLIN);

    /* out-of-range targets are reported through bad (first offending row) */
    int32_t t2[N];
    memcpy(t2, targets, sizeof t2);
    t2[5] = -7;
    rt_crossentropy_forward(losses, lse, logits, t2, N, V, &count, &bad);
    ck_assert_int_eq(bad, 5);
    t2[3] = V;
    rt_crossentropy_forward(losses, lse, logits, t2, N, V, &count, &bad);
    ck_assert_int_eq(bad, 3);
    free(logits), free(dl), free(losses), free(lse);
}
END_TEST

START_TEST(test_crossentropy_reference_threads) {
    enum { N = 257, V = 300 };
    int32_t *targets = malloc(N * sizeof(int32_t));
    float *logits = falloc((size_t)N * V), *losses[2], *lse[2];
    fill(logits, (size_t)N * V, 8.0f, 0.0f, 81);
    uint64_t s = 82;
    for (int r = 0; r < N; r++) targets[r] = r % 9 == 4 ? -100 : (int32_t)(next_u64(&s) % V);
    double sums[2];
    int counts[2];
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        losses[k] = falloc(N), lse[k] = falloc(N);
        int bad = 0;
        sums[k] =
            rt_crossentropy_forward(losses[k], lse[k], logits, targets, N, V, &counts[k], &bad);
        ck_assert_int_eq(bad, -1);
    }
    omp_set_num_threads(2);
    ck_assert_msg(memcmp(&sums[0], &sums[1], sizeof(double)) == 0,
                  "crossentropy loss sum differs between 1 and 2 threads: %.17g vs %.17g", sums[0],
                  sums[1]);
    ck_assert(bitwise_eq(losses[0], losses[1], N));
    ck_assert_int_eq(counts[0], counts[1]);
    /* double-precision log-softmax reference */
    double wd = 0.0, wl = 0.0, ref_sum = 0.0;
    for (int r = 0; r < N; r++) {
        if (targets[r] == -100) {
            ck_assert(losses[0][r] == 0.0f);
            continue;
        }
        const float *x = logits + (size_t)r * V;
        double mx = -INFINITY, se = 0.0;
        for (int j = 0; j < V; j++) mx = fmax(mx, x[j]);
        for (int j = 0; j < V; j++) se += exp(x[j] - mx);
        double l = mx + log(se), loss = l - x[targets[r]];
        ref_sum += loss;
        wd = fmax(wd, fabs(losses[0][r] - loss));
        wl = fmax(wl, fabs(lse[0][r] - l));
    }
    printf("crossentropy forward: max |loss - ref| %.2e, max |lse - ref| %.2e, |sum - ref| %.2e "
           "(bitwise equal for 1 and 2 threads)\n",
           wd, wl, fabs(sums[0] - ref_sum));
    ck_assert(wd < 1e-5 && wl < 1e-5);
    ck_assert(fabs(sums[0] - ref_sum) < 1e-4);
    free(targets), free(logits);
    for (int k = 0; k < 2; k++) free(losses[k]), free(lse[k]);
}
END_TEST

/* A confident row (logits 120 apart) times a small scale would give subnormal gradients, which
   slow every GEMM that reads them: they are 0 instead, and the rest is unchanged. */
START_TEST(test_crossentropy_no_subnormals) {
    enum { NR = 2, NV = 64 };
    float logits[NR * NV], lse[NR], losses[NR];
    int32_t tg[NR] = {3, 60};
    /* per row: the target at 40, one rival at 39, the rest near -80 */
    for (int i = 0; i < NR * NV; i++)
        logits[i] = i % NV == tg[i / NV] ? 40.0f : i % NV == 10 ? 39.0f : -80.0f + (float)(i % 7);
    int cnt = 0, bad = -1;
    rt_crossentropy_forward(losses, lse, logits, tg, NR, NV, &cnt, &bad);
    float scale = 1.0f / 4096.0f;
    rt_crossentropy_backward(logits, lse, tg, NR, NV, scale);
    int zeros = 0;
    for (int i = 0; i < NR * NV; i++) {
        ck_assert_msg(fpclassify(logits[i]) != FP_SUBNORMAL, "element %d is subnormal: %g", i,
                      (double)logits[i]);
        zeros += logits[i] == 0.0f;
    }
    printf("crossentropy backward: %d of %d gradient terms flushed to 0 (no subnormals)\n", zeros,
           NR * NV);
    ck_assert_int_eq(zeros, NR * (NV - 2));
    for (int r = 0; r < NR; r++)
        ck_assert(logits[r * NV + tg[r]] < 0.0f && logits[r * NV + 10] > 0.0f);
}
END_TEST

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the report lines of a failing (forked) test */
    rt_gemm_setup(2);
    if (omp_get_max_threads() < 2) omp_set_num_threads(2);
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("fd");
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_layernorm);
    tcase_add_test(tc, test_layernorm_threads);
    tcase_add_test(tc, test_linear);
    tcase_add_test(tc, test_gelu);
    tcase_add_test(tc, test_attention);
    tcase_add_test(tc, test_dropout);
    tcase_add_test(tc, test_crossentropy_fd);
    tcase_add_test(tc, test_crossentropy_reference_threads);
    tcase_add_test(tc, test_crossentropy_no_subnormals);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
