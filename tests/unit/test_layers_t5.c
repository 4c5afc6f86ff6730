/* Finite-difference gradient checks for every kernel of compute/layers_t5.h (RMSNorm, the
   bias-free linear layer, relu and gated-gelu, attention with position bias, key padding, causal
   mask, cross-attention shapes, strided rows and dropout), their acc / += / overwrite / aliasing /
   NULL semantics, forward values against double references, and thread-count independence. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "layers_t5.h"
#include "rng.h"

/* ---- helpers (as tests/unit/test_layers.c) ---- */

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

/* Central differences of f with respect to the rows x cols matrix x (row stride ld) at up to
   nsample of its elements (all of them when rows * cols <= nsample), compared with the analytic
   gradient g stored with the same layout; prints the max relative error and checks it against
   tol. The forward passes run on one thread (results do not depend on the thread count, as the
   *_threads tests check), which keeps the test fast on a loaded machine. */
static double fd_check_2d(const char *what, float *x, const float *g, size_t rows, size_t cols,
                          size_t ld, size_t nsample, float eps, objective_fn f, void *ctx,
                          uint64_t seed, double tol) {
    size_t n = rows * cols;
    double worst = 0.0, worst_a = 0.0, worst_n = 0.0;
    size_t cnt = n <= nsample ? n : nsample, worst_i = 0;
    int nth = omp_get_max_threads();
    omp_set_num_threads(1);
    rt_gemm_setup(1);
    for (size_t k = 0; k < cnt; k++) {
        size_t e = n <= nsample ? k : (size_t)(next_u64(&seed) % n);
        size_t i = e / cols * ld + e % cols;
        float x0 = x[i], xp = x0 + eps, xm = x0 - eps;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = x0;
        double num = (lp - lm) / ((double)xp - (double)xm);
        double r = rel_err(g[i], num);
        if (k == 0 || r > worst) {
            worst = r;
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
static double fd_check(const char *what, float *x, const float *g, size_t n, size_t nsample,
                       float eps, objective_fn f, void *ctx, uint64_t seed, double tol) {
    return fd_check_2d(what, x, g, 1, n, n, nsample, eps, f, ctx, seed, tol);
}

/* Tolerances as test_layers.c: float32 central differences have truncation error O(eps^2) and
   rounding noise of the float forward / (2 eps), which the 1e-2 floor of the metric turns into up
   to a few 1e-3 for small gradients of non-linear kernels (eps 1e-2). Where the output is linear
   in the perturbed input there is no truncation error, so eps 1e-1 and tighter tolerances apply.
   A wrong term in a gradient shows up as O(1e-1..1). */
#define TOL_NONLIN 1e-2
#define TOL_LINEAR 1e-3

/* ---- RMSNorm ---- */

typedef struct {
    float *out, *rstd, *inp, *w, *R;
    int N, C;
    float eps;
} rms_ctx;

static double rms_obj(void *p) {
    rms_ctx *c = p;
    rt_rmsnorm_forward(c->out, c->rstd, c->inp, c->w, c->N, c->C, c->eps);
    return dotd(c->out, c->R, (size_t)c->N * c->C);
}

static void rms_setup(rms_ctx *c, int N, int C, uint64_t seed) {
    c->N = N;
    c->C = C;
    c->eps = 1e-6f; /* T5's layer_norm_epsilon */
    c->out = falloc((size_t)N * C);
    c->rstd = falloc(N);
    c->inp = falloc((size_t)N * C);
    c->w = falloc(C);
    c->R = falloc((size_t)N * C);
    for (int r = 0; r < N; r++) /* rows with different means and spreads (RMSNorm keeps the mean) */
        fill(c->inp + (size_t)r * C, C, 0.5f + 0.25f * (r % 5), 0.3f * (r % 3) - 0.3f, seed + r);
    fill(c->w, C, 0.5f, 1.0f, seed + 1000);
    fill(c->R, (size_t)N * C, 1.0f, 0.0f, seed + 1002);
}
static void rms_free(rms_ctx *c) {
    free(c->out), free(c->rstd), free(c->inp), free(c->w), free(c->R);
}

START_TEST(test_rmsnorm) {
    rms_ctx c;
    rms_setup(&c, 7, 130, 100); /* C crosses the 64-column blocks of the weight-gradient pass */
    int N = c.N, C = c.C;
    size_t NC = (size_t)N * C;
    fill_nan(c.out, NC);
    fill_nan(c.rstd, N);
    rms_obj(&c);
    /* rstd / out against double */
    double wd = 0.0, ws = 0.0;
    for (int r = 0; r < N; r++) {
        const float *x = c.inp + (size_t)r * C;
        double ss = 0.0;
        for (int k = 0; k < C; k++) ss += (double)x[k] * x[k];
        double s = 1.0 / sqrt(ss / C + 1e-6);
        ws = fmax(ws, fabs(c.rstd[r] - s) / s);
        for (int k = 0; k < C; k++)
            wd = fmax(wd, fabs(c.out[(size_t)r * C + k] - (double)c.w[k] * x[k] * s));
    }
    wd = isnan(wd) || isnan(ws) ? INFINITY : wd;
    printf("rmsnorm forward: max diff vs double %.2e (out), %.2e (rstd, relative)\n", wd, ws);
    ck_assert_msg(wd < 1e-5 && ws < 1e-6, "rmsnorm forward: out %g, rstd %g", wd, ws);

    float *dinp = falloc(NC), *dw = falloc(C);
    memset(dinp, 0, NC * sizeof(float));
    fill_nan(dw, C); /* acc = 0 overwrites dw */
    rt_rmsnorm_backward(dinp, dw, c.R, c.inp, c.w, c.rstd, N, C, 0);
    ck_assert(all_finite(dinp, NC) && all_finite(dw, C));
    fd_check("rmsnorm dinp", c.inp, dinp, NC, 400, 1e-2f, rms_obj, &c, 21, TOL_NONLIN);
    fd_check("rmsnorm dw", c.w, dw, C, 400, 1e-1f, rms_obj, &c, 22, TOL_LINEAR);

    /* dinp +=: a prefilled D0 gives D0 + (the gradient from zero), bitwise. */
    float *D0 = falloc(NC), *dinp2 = falloc(NC), *dw2 = falloc(C);
    fill(D0, NC, 1.0f, 0.0f, 24);
    memcpy(dinp2, D0, NC * sizeof(float));
    memcpy(dw2, dw, C * sizeof(float));
    rt_rmsnorm_backward(dinp2, dw2, c.R, c.inp, c.w, c.rstd, N, C, 1);
    for (size_t i = 0; i < NC; i++) ck_assert(dinp2[i] == D0[i] + dinp[i]);
    /* acc = 1 adds the same column sums again: exactly twice */
    for (int i = 0; i < C; i++) ck_assert(dw2[i] == 2.0f * dw[i]);
    /* frozen weight (dw NULL): dinp unchanged */
    memset(dinp2, 0, NC * sizeof(float));
    rt_rmsnorm_backward(dinp2, NULL, c.R, c.inp, c.w, c.rstd, N, C, 0);
    ck_assert(bitwise_eq(dinp2, dinp, NC));
    printf("rmsnorm backward: dinp += and dw acc=0/1/NULL as documented\n");
    free(dinp), free(dw), free(D0), free(dinp2), free(dw2);
    rms_free(&c);
}
END_TEST

START_TEST(test_rmsnorm_threads) {
    rms_ctx c;
    rms_setup(&c, 61, 200, 300);
    int N = c.N, C = c.C;
    size_t NC = (size_t)N * C;
    float *o[2], *rs[2], *di[2], *dw[2];
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        rms_obj(&c);
        o[k] = falloc(NC), rs[k] = falloc(N), di[k] = falloc(NC), dw[k] = falloc(C);
        memcpy(o[k], c.out, NC * sizeof(float));
        memcpy(rs[k], c.rstd, N * sizeof(float));
        memset(di[k], 0, NC * sizeof(float));
        rt_rmsnorm_backward(di[k], dw[k], c.R, c.inp, c.w, c.rstd, N, C, 0);
    }
    omp_set_num_threads(2);
    ck_assert_msg(bitwise_eq(o[0], o[1], NC) && bitwise_eq(rs[0], rs[1], N),
                  "rmsnorm forward differs between 1 and 2 threads");
    ck_assert_msg(bitwise_eq(dw[0], dw[1], C), "rmsnorm dw differs between 1 and 2 threads");
    ck_assert_msg(bitwise_eq(di[0], di[1], NC), "rmsnorm dinp differs between 1 and 2 threads");
    printf("rmsnorm: out/rstd/dinp/dw bitwise equal for 1 and 2 threads\n");
    for (int k = 0; k < 2; k++) free(o[k]), free(rs[k]), free(di[k]), free(dw[k]);
    rms_free(&c);
}
END_TEST

/* ---- bias-free linear, w stored [out, in] ---- */

typedef struct {
    float *out, *inp, *w, *R;
    int N, IC, OC;
} lnt_ctx;

static double lnt_obj(void *p) {
    lnt_ctx *c = p;
    rt_linear_nt_forward(c->out, c->inp, c->w, c->N, c->IC, c->OC);
    return dotd(c->out, c->R, (size_t)c->N * c->OC);
}

START_TEST(test_linear_nt) {
    enum { N = 9, IC = 70, OC = 67 };
    float *out = falloc(N * OC), *inp = falloc(N * IC), *w = falloc(OC * IC), *R = falloc(N * OC);
    fill(inp, N * IC, 1.0f, 0.0f, 31);
    fill(w, OC * IC, 0.3f, 0.0f, 32);
    fill(R, N * OC, 1.0f, 0.0f, 34);
    lnt_ctx c = {out, inp, w, R, N, IC, OC};
    fill_nan(out, N * OC); /* out is overwritten */
    lnt_obj(&c);
    double wd = 0.0;
    for (int r = 0; r < N; r++)
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int k = 0; k < IC; k++) s += (double)inp[r * IC + k] * w[o * IC + k];
            double d = fabs(out[r * OC + o] - s);
            wd = isnan(d) ? INFINITY : fmax(wd, d);
        }
    printf("linear_nt forward: max diff vs double %.2e\n", wd);
    ck_assert_msg(wd < 1e-5, "linear_nt forward: %g", wd);

    float *dinp = falloc(N * IC), *dw = falloc(OC * IC);
    fill_nan(dinp, N * IC); /* dinp_acc = 0 and acc = 0 overwrite */
    fill_nan(dw, OC * IC);
    rt_linear_nt_backward(dinp, 0, dw, R, inp, w, N, IC, OC, 0);
    ck_assert(all_finite(dinp, N * IC) && all_finite(dw, OC * IC));
    fd_check("linear_nt dinp", inp, dinp, N * IC, 400, 1e-1f, lnt_obj, &c, 35, TOL_LINEAR);
    fd_check("linear_nt dw", w, dw, OC * IC, 400, 1e-1f, lnt_obj, &c, 36, TOL_LINEAR);

    /* dinp_acc = 1 adds into a prefilled D0; acc = 1 adds to dw */
    float *D0 = falloc(N * IC), *dinp2 = falloc(N * IC), *dw2 = falloc(OC * IC);
    fill(D0, N * IC, 1.0f, 0.0f, 37);
    memcpy(dinp2, D0, N * IC * sizeof(float));
    memcpy(dw2, dw, OC * IC * sizeof(float));
    rt_linear_nt_backward(dinp2, 1, dw2, R, inp, w, N, IC, OC, 1);
    double ei = 0.0;
    for (int i = 0; i < N * IC; i++) {
        double d = fabs((double)dinp2[i] - ((double)D0[i] + dinp[i]));
        ei = isnan(d) ? INFINITY : fmax(ei, d);
    }
    float *twice = falloc(OC * IC);
    for (int i = 0; i < OC * IC; i++) twice[i] = 2.0f * dw[i];
    double ea = max_rel_norm(dw2, twice, OC * IC);
    printf("linear_nt backward: dinp_acc=1 max |dinp2 - (D0 + dinp)| %.2e, acc=1 max |dw2 - 2 dw| "
           "/ max|2 dw| %.2e\n",
           ei, ea);
    ck_assert_msg(ei < 1e-5, "linear_nt dinp_acc=1 must add: %g", ei);
    ck_assert_msg(ea < 1e-6, "linear_nt acc=1 must add: %g", ea);
    /* NULL skips: dinp NULL leaves dw's values, dw NULL (frozen) leaves dinp's */
    fill_nan(dw2, OC * IC);
    rt_linear_nt_backward(NULL, 0, dw2, R, inp, w, N, IC, OC, 0);
    ck_assert(bitwise_eq(dw2, dw, OC * IC));
    fill_nan(dinp2, N * IC);
    rt_linear_nt_backward(dinp2, 0, NULL, R, inp, w, N, IC, OC, 0);
    ck_assert(bitwise_eq(dinp2, dinp, N * IC));

    /* the BLIS thread count does not change the results */
    float *o1 = falloc(N * OC), *di1 = falloc(N * IC), *dw1 = falloc(OC * IC);
    rt_gemm_setup(1);
    rt_linear_nt_forward(o1, inp, w, N, IC, OC);
    rt_linear_nt_backward(di1, 0, dw1, R, inp, w, N, IC, OC, 0);
    rt_gemm_setup(2);
    rt_linear_nt_forward(out, inp, w, N, IC, OC);
    ck_assert_msg(bitwise_eq(o1, out, N * OC) && bitwise_eq(di1, dinp, N * IC) &&
                      bitwise_eq(dw1, dw, OC * IC),
                  "linear_nt differs between 1 and 2 GEMM threads");
    printf("linear_nt: out/dinp/dw bitwise equal for 1 and 2 GEMM threads\n");
    free(out), free(inp), free(w), free(R), free(dinp), free(dw), free(D0), free(dinp2), free(dw2),
        free(twice), free(o1), free(di1), free(dw1);
}
END_TEST

/* ---- relu ---- */

typedef struct {
    float *out, *a, *b, *R;
    size_t n;
} act_ctx;

static double relu_obj(void *p) {
    act_ctx *c = p;
    rt_relu_forward(c->out, c->a, c->n);
    return dotd(c->out, c->R, c->n);
}

START_TEST(test_relu) {
    enum { n = 600 };
    float *out = falloc(n), *inp = falloc(n), *R = falloc(n), *dinp = falloc(n), *buf = falloc(n);
    fill(inp, n, 5.0f, 0.0f, 41);
    /* keep the finite differences (eps 1e-2) off the kink, except two exact zeros below */
    for (int i = 0; i < n; i++)
        if (fabsf(inp[i]) < 0.05f) inp[i] = inp[i] < 0.0f ? inp[i] - 0.05f : inp[i] + 0.05f;
    fill(R, n, 1.0f, 0.0f, 42);
    act_ctx c = {out, inp, NULL, R, n};
    fill_nan(out, n);
    relu_obj(&c);
    int npos = 0;
    for (int i = 0; i < n; i++) {
        ck_assert(out[i] == (inp[i] > 0.0f ? inp[i] : 0.0f));
        npos += inp[i] > 0.0f;
    }
    printf("relu forward: equal to max(x, 0) (%d of %d positive)\n", npos, n);
    ck_assert(npos > n / 4 && npos < 3 * n / 4);
    fill_nan(dinp, n); /* overwritten */
    rt_relu_backward(dinp, inp, R, n);
    ck_assert(all_finite(dinp, n));
    fd_check("relu dinp", inp, dinp, n, 1000, 1e-2f, relu_obj, &c, 43, TOL_LINEAR);
    /* dinp may alias dout */
    memcpy(buf, R, n * sizeof(float));
    rt_relu_backward(buf, inp, buf, n);
    ck_assert(bitwise_eq(buf, dinp, n));
    /* at 0 (either sign) the output and the gradient are 0 */
    float z[2] = {0.0f, -0.0f}, zo[2], zd[2], one[2] = {1.0f, 1.0f};
    rt_relu_forward(zo, z, 2);
    rt_relu_backward(zd, z, one, 2);
    ck_assert(zo[0] == 0.0f && zo[1] == 0.0f && zd[0] == 0.0f && zd[1] == 0.0f);
    free(out), free(inp), free(R), free(dinp), free(buf);
}
END_TEST

/* ---- gated gelu: gelu_new(a) * b ---- */

static double gg_obj(void *p) {
    act_ctx *c = p;
    rt_gated_gelu_forward(c->out, c->a, c->b, c->n);
    return dotd(c->out, c->R, c->n);
}

START_TEST(test_gated_gelu) {
    enum { n = 600 };
    float *out = falloc(n), *a = falloc(n), *b = falloc(n), *R = falloc(n), *da = falloc(n),
          *db = falloc(n), *buf = falloc(n), *other = falloc(n);
    fill(a, n, 5.0f, 0.0f, 44);
    fill(b, n, 2.0f, 0.0f, 45);
    fill(R, n, 1.0f, 0.0f, 46);
    act_ctx c = {out, a, b, R, n};
    fill_nan(out, n);
    gg_obj(&c);
    /* against gelu_new's tanh formula in double: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    double wd = 0.0;
    for (int i = 0; i < n; i++) {
        double x = a[i];
        double g = 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        double ref = g * b[i], d = fabs(out[i] - ref) / fmax(1.0, fabs(ref));
        wd = isnan(d) ? INFINITY : fmax(wd, d);
    }
    printf("gated gelu forward: max diff vs double gelu_new(a) * b %.2e (relative above 1)\n", wd);
    ck_assert_msg(wd < 1e-5, "gated gelu forward: %g", wd);
    fill_nan(da, n); /* both written */
    fill_nan(db, n);
    rt_gated_gelu_backward(da, db, R, a, b, n);
    ck_assert(all_finite(da, n) && all_finite(db, n));
    fd_check("gated gelu da", a, da, n, 1000, 1e-2f, gg_obj, &c, 47, TOL_NONLIN);
    fd_check("gated gelu db", b, db, n, 1000, 1e-1f, gg_obj, &c, 48, TOL_LINEAR);
    /* da may alias dout */
    memcpy(buf, R, n * sizeof(float));
    fill_nan(other, n);
    rt_gated_gelu_backward(buf, other, buf, a, b, n);
    ck_assert_msg(bitwise_eq(buf, da, n) && bitwise_eq(other, db, n),
                  "gated gelu backward with da aliasing dout differs");
    /* db may alias dout */
    memcpy(buf, R, n * sizeof(float));
    fill_nan(other, n);
    rt_gated_gelu_backward(other, buf, buf, a, b, n);
    ck_assert_msg(bitwise_eq(other, da, n) && bitwise_eq(buf, db, n),
                  "gated gelu backward with db aliasing dout differs");
    printf("gated gelu backward: da / db aliasing dout give the same bits\n");
    free(out), free(a), free(b), free(R), free(da), free(db), free(buf), free(other);
}
END_TEST

/* The element-wise kernels over a length whose thread chunks start and end off the vector width:
   the same bits for 1 and 2 threads (vector body and scalar remainder agree). */
START_TEST(test_activations_threads) {
    enum { n = 10007 };
    float *a = falloc(n), *b = falloc(n), *R = falloc(n), *r[2][5];
    fill(a, n, 5.0f, 0.0f, 49);
    fill(b, n, 2.0f, 0.0f, 50);
    fill(R, n, 1.0f, 0.0f, 51);
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        for (int j = 0; j < 5; j++) r[k][j] = falloc(n);
        rt_relu_forward(r[k][0], a, n);
        rt_relu_backward(r[k][1], a, R, n);
        rt_gated_gelu_forward(r[k][2], a, b, n);
        rt_gated_gelu_backward(r[k][3], r[k][4], R, a, b, n);
    }
    omp_set_num_threads(2);
    for (int j = 0; j < 5; j++)
        ck_assert_msg(bitwise_eq(r[0][j], r[1][j], n),
                      "activation result %d differs between 1 and 2 threads", j);
    /* and the vector body agrees with a one-element call (the scalar path) everywhere */
    double wd = 0.0;
    for (int i = 0; i < n; i += 97) {
        float o, ga, gb;
        rt_gated_gelu_forward(&o, a + i, b + i, 1);
        rt_gated_gelu_backward(&ga, &gb, R + i, a + i, b + i, 1);
        wd = fmax(wd, fabs((double)o - r[0][2][i]));
        wd = fmax(wd, fabs((double)ga - r[0][3][i]));
        wd = fmax(wd, fabs((double)gb - r[0][4][i]));
    }
    printf("relu / gated gelu: bitwise equal for 1 and 2 threads; one-element calls within %.2e\n",
           wd);
    ck_assert(wd < 1e-5);
    free(a), free(b), free(R);
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 5; j++) free(r[k][j]);
}
END_TEST

/* ---- T5 attention ---- */

typedef struct {
    const char *name;
    int B, Tq, Tk, NH, dk;
    int causal, bias;
    int mask; /* 0: no key mask; 1: padded keys in rows 0 and 1; 2: also row B-1 all masked */
    int qpad, kvpad; /* ldq = NH*dk + qpad, ldkv = NH*dk + kvpad (wider buffers) */
    float p;
} att_cfg;

typedef struct {
    att_cfg cfg;
    int inner, ldq, ldkv, nth;
    size_t TT, nq, nkv;
    float *Qb, *Kb, *Vb, *dQb, *dKb, *dVb; /* buffers of B*Tq*ldq / B*Tk*ldkv floats */
    float *Q, *K, *V, *dQ, *dK, *dV;       /* head data inside them (column offsets) */
    float *out, *P, *R, *bias, *dS, *dbias, *D0, *scratch;
    uint8_t *kmask;
    uint64_t key;
} att_ctx;

static double att_obj(void *p) {
    att_ctx *c = p;
    const att_cfg *g = &c->cfg;
    rt_t5_attention_forward(c->out, c->P, c->Q, c->ldq, c->K, c->V, c->ldkv,
                            g->bias ? c->bias : NULL, c->kmask, g->causal, g->B, g->Tq, g->Tk,
                            g->NH, g->dk, g->p, c->key, c->scratch, c->nth);
    return dotd(c->out, c->R, (size_t)g->B * g->Tq * c->inner);
}

static void att_backward(att_ctx *c, float *dS, float *dbias) {
    const att_cfg *g = &c->cfg;
    rt_t5_attention_backward(c->dQ, c->dK, c->dV, dS, dbias, c->R, c->Q, c->ldq, c->K, c->V,
                             c->ldkv, c->P, g->B, g->Tq, g->Tk, g->NH, g->dk, g->p, c->key,
                             c->scratch, c->nth);
}

/* Rows of the strided buffer: padding columns NaN (the kernels must not read them), head data
   random. */
static void fill_strided(float *buf, float *data, size_t rows, int cols, int ld, float scale,
                         uint64_t seed) {
    fill_nan(buf, rows * ld);
    for (size_t r = 0; r < rows; r++) fill(data + r * ld, cols, scale, 0.0f, seed + r);
}

static void att_setup(att_ctx *c, const att_cfg *g, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->cfg = *g;
    c->inner = g->NH * g->dk;
    c->ldq = c->inner + g->qpad;
    c->ldkv = c->inner + g->kvpad;
    c->nth = omp_get_max_threads();
    c->TT = (size_t)g->Tq * g->Tk;
    c->nq = (size_t)g->B * g->Tq * c->ldq;
    c->nkv = (size_t)g->B * g->Tk * c->ldkv;
    c->Qb = falloc(c->nq), c->dQb = falloc(c->nq);
    c->Kb = falloc(c->nkv), c->dKb = falloc(c->nkv);
    c->Vb = falloc(c->nkv), c->dVb = falloc(c->nkv);
    int qo = g->qpad / 2, ko = g->kvpad / 2, vo = g->kvpad - g->kvpad / 2;
    c->Q = c->Qb + qo, c->dQ = c->dQb + qo;
    c->K = c->Kb + ko, c->dK = c->dKb + ko;
    c->V = c->Vb + vo, c->dV = c->dVb + vo;
    fill_strided(c->Qb, c->Q, (size_t)g->B * g->Tq, c->inner, c->ldq, 1.0f, seed);
    fill_strided(c->Kb, c->K, (size_t)g->B * g->Tk, c->inner, c->ldkv, 1.0f, seed + 100);
    fill_strided(c->Vb, c->V, (size_t)g->B * g->Tk, c->inner, c->ldkv, 1.0f, seed + 200);
    size_t no = (size_t)g->B * g->Tq * c->inner, nS = (size_t)g->B * g->NH * c->TT;
    c->out = falloc(no), c->R = falloc(no), c->P = falloc(nS), c->dS = falloc(nS);
    c->bias = falloc((size_t)g->NH * c->TT), c->dbias = falloc((size_t)g->NH * c->TT);
    c->D0 = falloc((size_t)g->NH * c->TT);
    c->scratch = falloc((size_t)c->nth * 2 * c->TT);
    fill(c->R, no, 1.0f, 0.0f, seed + 300);
    fill(c->bias, (size_t)g->NH * c->TT, 1.0f, 0.0f, seed + 301);
    fill(c->D0, (size_t)g->NH * c->TT, 1.0f, 0.0f, seed + 302);
    c->key = 0xABCDEF0123ull + seed;
    if (g->mask) {
        c->kmask = malloc((size_t)g->B * g->Tk);
        ck_assert_ptr_nonnull(c->kmask);
        memset(c->kmask, 1, (size_t)g->B * g->Tk);
        c->kmask[2] = 0; /* row 0: a key in the middle */
        if (g->B > 1) c->kmask[g->Tk + g->Tk - 1] = c->kmask[g->Tk + g->Tk - 2] = 0; /* row 1 */
        if (g->mask == 2) memset(c->kmask + (size_t)(g->B - 1) * g->Tk, 0, g->Tk);
    }
}

static void att_free(att_ctx *c) {
    free(c->Qb), free(c->Kb), free(c->Vb), free(c->dQb), free(c->dKb), free(c->dVb);
    free(c->out), free(c->R), free(c->P), free(c->dS), free(c->bias), free(c->dbias), free(c->D0);
    free(c->scratch), free(c->kmask);
}

static int key_allowed(const att_ctx *c, int b, int i, int j) {
    return (!c->kmask || c->kmask[(size_t)b * c->cfg.Tk + j]) && (!c->cfg.causal || j <= i);
}

/* Double-precision reference of the last forward: per row b and head h, softmax(Q K^T + bias[h]
   + mask) with masked probabilities 0 (uniform 1/Tk when every key is masked), the dropout mask
   of the documented counter, out = dropout(P) V. Checks P and out; returns the max differences. */
static void att_reference(const att_ctx *c, double *wp, double *wo) {
    const att_cfg *g = &c->cfg;
    int Tq = g->Tq, Tk = g->Tk, dk = g->dk;
    double *pr = malloc(Tk * sizeof(double));
    ck_assert_ptr_nonnull(pr);
    *wp = *wo = 0.0;
    for (int b = 0; b < g->B; b++)
        for (int h = 0; h < g->NH; h++)
            for (int i = 0; i < Tq; i++) {
                const float *q = c->Q + ((size_t)b * Tq + i) * c->ldq + h * dk;
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j < Tk; j++) {
                    if (!key_allowed(c, b, i, j)) continue;
                    const float *k = c->K + ((size_t)b * Tk + j) * c->ldkv + h * dk;
                    double s = 0.0;
                    for (int e = 0; e < dk; e++) s += (double)q[e] * k[e];
                    if (g->bias) s += c->bias[(size_t)h * c->TT + (size_t)i * Tk + j];
                    pr[j] = s;
                    mx = fmax(mx, s);
                }
                const float *P = c->P + ((size_t)b * g->NH + h) * c->TT + (size_t)i * Tk;
                if (mx == -INFINITY) { /* every key masked */
                    for (int j = 0; j < Tk; j++) {
                        pr[j] = 1.0 / Tk;
                        ck_assert_msg(P[j] == 1.0f / (float)Tk,
                                      "%s: fully masked row must be uniform", g->name);
                    }
                } else {
                    for (int j = 0; j < Tk; j++)
                        if (key_allowed(c, b, i, j)) sum += pr[j] = exp(pr[j] - mx);
                    for (int j = 0; j < Tk; j++) {
                        if (key_allowed(c, b, i, j)) {
                            pr[j] /= sum;
                        } else {
                            pr[j] = 0.0;
                            ck_assert_msg(P[j] == 0.0f, "%s: masked probability must be 0",
                                          g->name);
                        }
                    }
                }
                for (int j = 0; j < Tk; j++) {
                    double d = fabs(P[j] - pr[j]);
                    *wp = isnan(d) ? INFINITY : fmax(*wp, d);
                }
                if (g->p > 0.0f) {
                    uint64_t base = ((uint64_t)b * g->NH + h) * c->TT + (uint64_t)i * Tk;
                    for (int j = 0; j < Tk; j++)
                        pr[j] =
                            rt_rng_uniform(c->key, base + j) < g->p ? 0.0 : pr[j] / (1.0 - g->p);
                }
                for (int e = 0; e < dk; e++) {
                    double o = 0.0;
                    for (int j = 0; j < Tk; j++)
                        o += pr[j] * c->V[((size_t)b * Tk + j) * c->ldkv + h * dk + e];
                    double d = fabs(c->out[((size_t)b * Tq + i) * c->inner + h * dk + e] - o);
                    *wo = isnan(d) ? INFINITY : fmax(*wo, d);
                }
            }
    free(pr);
}

/* Used columns of a strided gradient buffer finite (written), padding columns still NaN (not
   touched: in a wider buffer they belong to someone else). */
static int strided_written(const float *buf, size_t rows, int off, int cols, int ld) {
    for (size_t r = 0; r < rows; r++)
        for (int k = 0; k < ld; k++) {
            float x = buf[r * ld + k];
            int used = k >= off && k < off + cols;
            if (used ? !isfinite(x) : !isnan(x)) return 0;
        }
    return 1;
}

/* Row b with every key masked: its probabilities are the constant 1/Tk, so finite differences see
   no gradient for its queries, keys and scores, while the kernel gives what autograd through
   finfo.min scores gives in transformers: the uniform softmax's Jacobian applied to
   G = dropout(dO V^T), dS = (G - mean G) / Tk, dQ = dS K, dK = dS^T Q. Checked against that in
   double; returns the max difference, *mag the largest |dQ| of the row (not 0). */
static double masked_row_check(const att_ctx *c, int b, double *mag) {
    const att_cfg *g = &c->cfg;
    int Tq = g->Tq, Tk = g->Tk, dk = g->dk;
    double *dq = malloc((size_t)Tq * dk * sizeof(double)),
           *dkk = malloc((size_t)Tk * dk * sizeof(double)), *gr = malloc(Tk * sizeof(double));
    ck_assert(dq && dkk && gr);
    double w = 0.0;
    *mag = 0.0;
    for (int h = 0; h < g->NH; h++) {
        memset(dq, 0, (size_t)Tq * dk * sizeof(double));
        memset(dkk, 0, (size_t)Tk * dk * sizeof(double));
        for (int i = 0; i < Tq; i++) {
            const float *dO = c->R + ((size_t)b * Tq + i) * c->inner + h * dk;
            const float *q = c->Q + ((size_t)b * Tq + i) * c->ldq + h * dk;
            uint64_t base = ((uint64_t)b * g->NH + h) * c->TT + (uint64_t)i * Tk;
            double mean = 0.0;
            for (int j = 0; j < Tk; j++) {
                const float *v = c->V + ((size_t)b * Tk + j) * c->ldkv + h * dk;
                double s = 0.0;
                for (int e = 0; e < dk; e++) s += (double)dO[e] * v[e];
                if (g->p > 0.0f)
                    s = rt_rng_uniform(c->key, base + j) < g->p ? 0.0 : s / (1.0 - g->p);
                gr[j] = s;
                mean += s / Tk;
            }
            const float *dS = c->dS + ((size_t)b * g->NH + h) * c->TT + (size_t)i * Tk;
            for (int j = 0; j < Tk; j++) {
                double ds = (gr[j] - mean) / Tk;
                const float *k = c->K + ((size_t)b * Tk + j) * c->ldkv + h * dk;
                w = fmax(w, fabs(dS[j] - ds));
                for (int e = 0; e < dk; e++) {
                    dq[(size_t)i * dk + e] += ds * k[e];
                    dkk[(size_t)j * dk + e] += ds * q[e];
                }
            }
        }
        for (int i = 0; i < Tq; i++)
            for (int e = 0; e < dk; e++) {
                double a = c->dQ[((size_t)b * Tq + i) * c->ldq + h * dk + e];
                w = fmax(w, fabs(a - dq[(size_t)i * dk + e]));
                *mag = fmax(*mag, fabs(a));
            }
        for (int j = 0; j < Tk; j++)
            for (int e = 0; e < dk; e++)
                w = fmax(w, fabs(c->dK[((size_t)b * Tk + j) * c->ldkv + h * dk + e] -
                                 dkk[(size_t)j * dk + e]));
    }
    free(dq), free(dkk), free(gr);
    return isnan(w) ? INFINITY : w;
}

static void run_t5_attention(const att_cfg *g, uint64_t seed) {
    att_ctx c;
    att_setup(&c, g, seed);
    int B = g->B, Tq = g->Tq, Tk = g->Tk, NH = g->NH, inner = c.inner;
    size_t TT = c.TT, nS = (size_t)B * NH * TT, nb = (size_t)NH * TT;
    size_t no = (size_t)B * Tq * inner;
    char label[160];
    printf("-- t5 attention, %s: B %d Tq %d Tk %d NH %d dk %d, ldq %d ldkv %d, causal %d, bias %d, "
           "mask %d, p %g\n",
           g->name, B, Tq, Tk, NH, g->dk, c.ldq, c.ldkv, g->causal, g->bias, g->mask, g->p);
    fill_nan(c.out, no); /* out and P are written */
    fill_nan(c.P, nS);
    att_obj(&c);
    ck_assert_msg(all_finite(c.out, no) && all_finite(c.P, nS), "%s: forward not finite", g->name);
    double wp, wo;
    att_reference(&c, &wp, &wo);
    double wsum = 0.0; /* saved P rows sum to 1 (before dropout) */
    for (size_t r = 0; r < (size_t)B * NH * Tq; r++) {
        double s = 0.0;
        for (int j = 0; j < Tk; j++) s += c.P[r * Tk + j];
        wsum = fmax(wsum, fabs(s - 1.0));
    }
    printf("t5 attention %s forward: max diff vs double %.2e (P), %.2e (out), |row sum - 1| "
           "%.2e\n",
           g->name, wp, wo, wsum);
    ck_assert_msg(wp < 1e-6 && wo < 1e-5 && wsum < 1e-5, "%s forward: P %g out %g sum %g", g->name,
                  wp, wo, wsum);
    if (g->p > 0.0f) {
        /* the dropout mask is a pure function of the key: again the same bits; another key or
           p = 0 differ */
        float *o2 = falloc(no), *o1 = falloc(no);
        memcpy(o1, c.out, no * sizeof(float));
        att_obj(&c);
        ck_assert(bitwise_eq(o1, c.out, no));
        c.key++;
        att_obj(&c);
        memcpy(o2, c.out, no * sizeof(float));
        c.key--;
        ck_assert(!bitwise_eq(o1, o2, no));
        c.cfg.p = 0.0f;
        att_obj(&c);
        memcpy(o2, c.out, no * sizeof(float));
        c.cfg.p = g->p;
        ck_assert(!bitwise_eq(o1, o2, no));
        att_obj(&c);
        ck_assert(bitwise_eq(o1, c.out, no));
        free(o1), free(o2);
    }

    /* backward: dQ/dK/dV/dS written, dbias = D0 + sum over b of dS */
    fill_nan(c.dQb, c.nq);
    fill_nan(c.dKb, c.nkv);
    fill_nan(c.dVb, c.nkv);
    fill_nan(c.dS, nS);
    memcpy(c.dbias, c.D0, nb * sizeof(float));
    att_backward(&c, c.dS, c.dbias);
    int qo = g->qpad / 2, ko = g->kvpad / 2, vo = g->kvpad - g->kvpad / 2;
    ck_assert_msg(strided_written(c.dQb, (size_t)B * Tq, qo, inner, c.ldq), "%s: dQ", g->name);
    ck_assert_msg(strided_written(c.dKb, (size_t)B * Tk, ko, inner, c.ldkv), "%s: dK", g->name);
    ck_assert_msg(strided_written(c.dVb, (size_t)B * Tk, vo, inner, c.ldkv), "%s: dV", g->name);
    ck_assert_msg(all_finite(c.dS, nS), "%s: dS", g->name);
    /* finite differences see the rows b < fb (below: the one with every key masked) */
    int mrow = g->mask == 2 ? B - 1 : -1, fb = mrow >= 0 ? B - 1 : B;
    float *gsum = falloc(nb);
    for (size_t t = 0; t < nb; t++) {
        float acc = c.D0[t], s = 0.0f;
        for (int b = 0; b < B; b++) {
            acc += c.dS[(size_t)b * nb + t];
            if (b < fb) s += c.dS[(size_t)b * nb + t];
        }
        ck_assert_msg(c.dbias[t] == acc, "%s: dbias must be D0 + sum over b of dS", g->name);
        gsum[t] = s;
    }

    snprintf(label, sizeof label, "t5 attention %s dQ", g->name);
    fd_check_2d(label, c.Q, c.dQ, (size_t)fb * Tq, inner, c.ldq, 600, 1e-2f, att_obj, &c, seed + 1,
                TOL_NONLIN);
    snprintf(label, sizeof label, "t5 attention %s dK", g->name);
    fd_check_2d(label, c.K, c.dK, (size_t)fb * Tk, inner, c.ldkv, 600, 1e-2f, att_obj, &c, seed + 2,
                TOL_NONLIN);
    snprintf(label, sizeof label, "t5 attention %s dV", g->name);
    fd_check_2d(label, c.V, c.dV, (size_t)B * Tk, inner, c.ldkv, 600, 1e-1f, att_obj, &c, seed + 3,
                TOL_LINEAR);
    if (g->bias) {
        snprintf(label, sizeof label, "t5 attention %s dbias", g->name);
        fd_check(label, c.bias, gsum, nb, 600, 1e-2f, att_obj, &c, seed + 4, TOL_NONLIN);
        /* dS of row b is the gradient of row b's part of the loss with respect to the bias */
        float *Rfull = c.R, *Rb = falloc(no);
        for (int b = 0; b < fb; b++) {
            memset(Rb, 0, no * sizeof(float));
            memcpy(Rb + (size_t)b * Tq * inner, Rfull + (size_t)b * Tq * inner,
                   (size_t)Tq * inner * sizeof(float));
            c.R = Rb;
            snprintf(label, sizeof label, "t5 attention %s dS (row %d)", g->name, b);
            fd_check(label, c.bias, c.dS + (size_t)b * nb, nb, 300, 1e-2f, att_obj, &c,
                     seed + 10 + b, TOL_NONLIN);
        }
        c.R = Rfull;
        free(Rb);
    }

    if (mrow >= 0) {
        double mag, w = masked_row_check(&c, mrow, &mag);
        printf("t5 attention %s: row %d (every key masked) dS/dQ/dK vs double autograd of the "
               "uniform softmax: max diff %.2e (max |dQ| %.3g; finite differences: 0)\n",
               g->name, mrow, w, mag);
        ck_assert_msg(w < 1e-5 && mag > 1e-2, "%s: all-masked row: diff %g, |dQ| %g", g->name, w,
                      mag);
    }

    /* dS NULL with dbias NULL: the same dQ/dK/dV; dS without dbias: the same dS */
    float *q1 = falloc(c.nq), *k1 = falloc(c.nkv), *v1 = falloc(c.nkv), *s1 = falloc(nS);
    memcpy(q1, c.dQb, c.nq * sizeof(float));
    memcpy(k1, c.dKb, c.nkv * sizeof(float));
    memcpy(v1, c.dVb, c.nkv * sizeof(float));
    memcpy(s1, c.dS, nS * sizeof(float));
    fill_nan(c.dQb, c.nq);
    fill_nan(c.dKb, c.nkv);
    fill_nan(c.dVb, c.nkv);
    att_backward(&c, NULL, NULL);
    ck_assert_msg(bitwise_eq(q1, c.dQb, c.nq) && bitwise_eq(k1, c.dKb, c.nkv) &&
                      bitwise_eq(v1, c.dVb, c.nkv),
                  "%s: backward without dS differs", g->name);
    fill_nan(c.dS, nS);
    att_backward(&c, c.dS, NULL);
    ck_assert_msg(bitwise_eq(s1, c.dS, nS) && bitwise_eq(q1, c.dQb, c.nq),
                  "%s: backward without dbias differs", g->name);
    free(q1), free(k1), free(v1), free(s1), free(gsum);
    att_free(&c);
}

static const att_cfg k_self_causal = {"self causal", 2, 7, 7, 3, 4, 1, 1, 1, 0, 0, 0.0f};
static const att_cfg k_self_wide = {
    "self non-causal wide rows", 2, 6, 6, 2, 5, 0, 1, 1, 5, 3, 0.0f};
static const att_cfg k_cross = {"cross Tq 5 Tk 8", 3, 5, 8, 3, 4, 0, 1, 1, 3, 2, 0.0f};
static const att_cfg k_cross_nobias = {"cross no bias", 2, 5, 8, 2, 4, 0, 0, 1, 0, 4, 0.0f};
static const att_cfg k_causal_nomask = {
    "causal Tq 8 Tk 5 no mask/bias", 2, 8, 5, 2, 3, 1, 0, 0, 0, 0, 0.0f};
static const att_cfg k_self_drop = {"self causal dropout", 2, 7, 7, 3, 4, 1, 1, 1, 2, 0, 0.3f};
static const att_cfg k_cross_drop = {"cross dropout", 2, 6, 9, 2, 4, 0, 0, 1, 3, 2, 0.3f};
static const att_cfg k_masked_row = {"cross all-masked row", 3, 5, 8, 2, 4, 0, 1, 2, 0, 0, 0.0f};

START_TEST(test_t5_attention) {
    run_t5_attention(&k_self_causal, 500);
    run_t5_attention(&k_self_wide, 520);
    run_t5_attention(&k_cross, 540);
    run_t5_attention(&k_cross_nobias, 560);
    run_t5_attention(&k_causal_nomask, 580);
}
END_TEST

START_TEST(test_t5_attention_dropout) {
    run_t5_attention(&k_self_drop, 600);
    run_t5_attention(&k_cross_drop, 620);
}
END_TEST

START_TEST(test_t5_attention_masked_row) {
    run_t5_attention(&k_masked_row, 640);
}
END_TEST

START_TEST(test_t5_attention_threads) {
    const att_cfg g = {"threads", 3, 9, 9, 4, 8, 1, 1, 2, 3, 2, 0.3f};
    att_ctx c;
    att_setup(&c, &g, 700);
    size_t nS = (size_t)g.B * g.NH * c.TT, nb = (size_t)g.NH * c.TT;
    size_t no = (size_t)g.B * g.Tq * c.inner;
    float *r[2][7];
    size_t len[7] = {no, nS, c.nq, c.nkv, c.nkv, nS, nb};
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k + 1);
        att_obj(&c);
        fill_nan(c.dQb, c.nq);
        fill_nan(c.dKb, c.nkv);
        fill_nan(c.dVb, c.nkv);
        memcpy(c.dbias, c.D0, nb * sizeof(float));
        att_backward(&c, c.dS, c.dbias);
        const float *src[7] = {c.out, c.P, c.dQb, c.dKb, c.dVb, c.dS, c.dbias};
        for (int j = 0; j < 7; j++) {
            r[k][j] = falloc(len[j]);
            memcpy(r[k][j], src[j], len[j] * sizeof(float));
        }
    }
    omp_set_num_threads(2);
    static const char *names[7] = {"out", "P", "dQ", "dK", "dV", "dS", "dbias"};
    for (int j = 0; j < 7; j++)
        ck_assert_msg(memcmp(r[0][j], r[1][j], len[j] * sizeof(float)) == 0,
                      "t5 attention %s differs between 1 and 2 threads", names[j]);
    printf("t5 attention: out/P/dQ/dK/dV/dS/dbias bitwise equal for 1 and 2 threads\n");
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 7; j++) free(r[k][j]);
    att_free(&c);
}
END_TEST

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep the report lines of a failing (forked) test */
    rt_gemm_setup(2);
    if (omp_get_max_threads() < 2) omp_set_num_threads(2);
    Suite *s = suite_create("layers_t5");
    TCase *tc = tcase_create("fd");
    tcase_add_test(tc, test_rmsnorm);
    tcase_add_test(tc, test_rmsnorm_threads);
    tcase_add_test(tc, test_linear_nt);
    tcase_add_test(tc, test_relu);
    tcase_add_test(tc, test_gated_gelu);
    tcase_add_test(tc, test_activations_threads);
    tcase_add_test(tc, test_t5_attention);
    tcase_add_test(tc, test_t5_attention_dropout);
    tcase_add_test(tc, test_t5_attention_masked_row);
    tcase_add_test(tc, test_t5_attention_threads);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
