/* The classification head (rt_seqcls) against central differences: d loss / d score and
   d loss / d hidden for every element (the pooling: only each row's pooled position has a
   gradient, and perturbing any other position leaves the loss unchanged), with and without class
   weights; accumulation, frozen outputs, the pooling rule and the input checks; and the whole
   model (a tiny GPT-2 backbone + head) against central differences. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "gpt2.h"
#include "seqcls.h"

enum { B = 4, T = 5, C = 6, K = 3, PAD = 9 };

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float urand(uint64_t *s) {
    return (float)((double)(next_u64(s) >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* Rows: full length, right-padded (length 3) with a pad id inside (position 1), length 1, and
   only pads (transformers reads position 0). Labels: one ignored row. */
static const int32_t IDS[B * T] = {1, 2,   3,   4,   5,   6,   PAD, 7,   PAD, PAD,
                                   8, PAD, PAD, PAD, PAD, PAD, PAD, PAD, PAD, PAD};
static const int32_t POOLED[B] = {4, 2, 0, 0};
static const int32_t LABELS[B] = {2, 0, -100, 1};
static const float CW[K] = {0.5f, 2.0f, 1.25f};

static float g_W[K * C], g_h[B * T * C];

static void init_data(void) {
    uint64_t s = 42;
    for (int i = 0; i < K * C; i++) g_W[i] = urand(&s);
    for (int i = 0; i < B * T * C; i++) g_h[i] = urand(&s);
}

/* mean loss (double) of the head on the current g_W / g_h */
static double head_loss(rt_seqcls *h, const float *cw) {
    double ls, ws;
    ck_assert_int_eq(rt_seqcls_forward(h, g_W, g_h, IDS, B, T, PAD, LABELS, cw, &ls, &ws), RT_OK);
    return ls / ws;
}

/* central difference of head_loss in x[i], dividing by the step the floats really took */
static double fd(rt_seqcls *h, const float *cw, float *x, int i) {
    float x0 = x[i], eps = 1e-3f;
    x[i] = x0 + eps;
    double up = (double)x[i];
    double lp = head_loss(h, cw);
    x[i] = x0 - eps;
    double dn = (double)x[i];
    double lm = head_loss(h, cw);
    x[i] = x0;
    return (lp - lm) / (up - dn);
}

static void check_head(const float *cw) {
    init_data();
    rt_seqcls *h;
    ck_assert_int_eq(rt_seqcls_create(&h, K, C, B), RT_OK);
    double ls, ws;
    ck_assert_int_eq(rt_seqcls_forward(h, g_W, g_h, IDS, B, T, PAD, LABELS, cw, &ls, &ws), RT_OK);
    for (int b = 0; b < B; b++) ck_assert_int_eq(h->pooled[b], POOLED[b]);
    ck_assert_int_eq(h->n_counted, 3);
    double want_ws = cw ? (double)cw[2] + cw[0] + cw[1] : 3.0;
    ck_assert_double_eq_tol(ws, want_ws, 1e-12);
    float dW[K * C], dh[B * T * C];
    rt_seqcls_backward(h, g_W, dW, dh, (float)(1.0 / ws), 0);
    double worst_w = 0.0, worst_h = 0.0;
    for (int i = 0; i < K * C; i++) {
        double n = fd(h, cw, g_W, i);
        worst_w = fmax(worst_w, fabs(n - dW[i]) / fmax(fabs(n), 1e-3));
    }
    int nonzero_outside = 0;
    for (int i = 0; i < B * T * C; i++) {
        int row = i / C, b = row / T, t = row % T;
        double n = fd(h, cw, g_h, i);
        if (t != POOLED[b] || LABELS[b] == -100) { /* not read, or read but ignored: exactly 0 */
            nonzero_outside += n != 0.0 || dh[i] != 0.0f;
            continue;
        }
        worst_h = fmax(worst_h, fabs(n - dh[i]) / fmax(fabs(n), 1e-3));
    }
    printf("head FD%s: d score worst rel %.3g, d hidden (pooled rows) worst rel %.3g, %d nonzero "
           "elsewhere\n",
           cw ? " (class weights)" : "", worst_w, worst_h, nonzero_outside);
    ck_assert_msg(worst_w <= 1e-4, "d score rel err %g", worst_w);
    ck_assert_msg(worst_h <= 1e-4, "d hidden rel err %g", worst_h);
    ck_assert_int_eq(nonzero_outside, 0);

    /* accumulate adds to dW and overwrites dhidden; NULL outputs are skipped */
    float dW2[K * C], dh2[B * T * C];
    memcpy(dW2, dW, sizeof dW);
    for (int i = 0; i < B * T * C; i++) dh2[i] = 7.0f;
    rt_seqcls_backward(h, g_W, dW2, dh2, (float)(1.0 / ws), 1);
    for (int i = 0; i < K * C; i++) ck_assert_float_eq_tol(dW2[i], 2.0f * dW[i], 1e-7f);
    ck_assert(memcmp(dh2, dh, sizeof dh) == 0);
    rt_seqcls_backward(h, g_W, NULL, NULL, 1.0f, 0);
    rt_seqcls_destroy(&h);
}

START_TEST(test_head_fd) {
    check_head(NULL);
}
END_TEST

START_TEST(test_head_fd_weighted) {
    check_head(CW);
}
END_TEST

/* torch's CrossEntropyLoss: mean = sum(w_y nll) / sum(w_y); nll from a double softmax */
START_TEST(test_weighted_value) {
    init_data();
    rt_seqcls *h;
    ck_assert_int_eq(rt_seqcls_create(&h, K, C, B), RT_OK);
    double got = head_loss(h, CW), num = 0.0, den = 0.0;
    for (int b = 0; b < B; b++) {
        if (LABELS[b] == -100) continue;
        const float *x = g_h + ((size_t)b * T + POOLED[b]) * C;
        double z[K], mx = -INFINITY, s = 0.0;
        for (int k = 0; k < K; k++) {
            z[k] = 0.0;
            for (int c = 0; c < C; c++) z[k] += (double)g_W[k * C + c] * x[c];
            mx = fmax(mx, z[k]);
        }
        for (int k = 0; k < K; k++) s += exp(z[k] - mx);
        num += CW[LABELS[b]] * (mx + log(s) - z[LABELS[b]]);
        den += CW[LABELS[b]];
    }
    printf("weighted CE %.12f vs reference %.12f\n", got, num / den);
    ck_assert_double_eq_tol(got, num / den, 1e-12);
    rt_seqcls_destroy(&h);
}
END_TEST

START_TEST(test_pool_and_checks) {
    int32_t p[B];
    /* no pad id: one row reads its last position, more rows are refused as transformers does */
    ck_assert_int_eq(rt_seqcls_pool(IDS, 1, T, -1, p), RT_OK);
    ck_assert_int_eq(p[0], T - 1);
    ck_assert_int_eq(rt_seqcls_pool(IDS, 2, T, -1, p), RT_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "Cannot handle batch sizes > 1"));
    /* a pad id no token has: every row at its end */
    ck_assert_int_eq(rt_seqcls_pool(IDS, B, T, 1000, p), RT_OK);
    for (int b = 0; b < B; b++) ck_assert_int_eq(p[b], T - 1);
    /* left padding: the last position */
    const int32_t left[T] = {PAD, PAD, 3, 4, 5};
    ck_assert_int_eq(rt_seqcls_pool(left, 1, T, PAD, p), RT_OK);
    ck_assert_int_eq(p[0], T - 1);

    init_data();
    rt_seqcls *h;
    ck_assert_int_eq(rt_seqcls_create(&h, K, C, B), RT_OK);
    int32_t bad[B] = {0, 1, K, 0};
    ck_assert_int_eq(rt_seqcls_forward(h, g_W, g_h, IDS, B, T, PAD, bad, NULL, NULL, NULL),
                     RT_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "label 3 of row 2"));
    bad[2] = -5;
    ck_assert_int_eq(rt_seqcls_forward(h, g_W, g_h, IDS, B, T, PAD, bad, NULL, NULL, NULL),
                     RT_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "row 2"));
    float cw[K] = {1.0f, -1.0f, 1.0f};
    ck_assert_int_eq(rt_seqcls_forward(h, g_W, g_h, IDS, B, T, PAD, LABELS, cw, NULL, NULL),
                     RT_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "class weight 1"));
    cw[1] = NAN;
    ck_assert_int_eq(rt_seqcls_check_weights(cw, K), RT_ERR_ARG);
    float zero[K] = {0};
    ck_assert_int_eq(rt_seqcls_check_weights(zero, K), RT_ERR_ARG);
    ck_assert_int_eq(rt_seqcls_forward(h, g_W, g_h, IDS, B + 1, T, PAD, NULL, NULL, NULL, NULL),
                     RT_ERR_ARG);
    /* every label ignored: nothing counted, zero gradients */
    const int32_t none[B] = {-100, -100, -100, -100};
    double ls = 1, ws = 1;
    ck_assert_int_eq(rt_seqcls_forward(h, g_W, g_h, IDS, B, T, PAD, none, NULL, &ls, &ws), RT_OK);
    ck_assert(ls == 0.0 && ws == 0.0 && h->n_counted == 0);
    float dW[K * C], dh[B * T * C];
    rt_seqcls_backward(h, g_W, dW, dh, 1.0f, 0);
    for (int i = 0; i < K * C; i++) ck_assert(dW[i] == 0.0f);
    for (int i = 0; i < B * T * C; i++) ck_assert(dh[i] == 0.0f);
    /* logits only */
    ck_assert_int_eq(rt_seqcls_forward(h, g_W, g_h, IDS, B, T, PAD, NULL, NULL, &ls, &ws), RT_OK);
    ck_assert(ls == 0.0 && ws == 0.0);
    rt_seqcls_destroy(&h);
    ck_assert_int_eq(rt_seqcls_create(&h, 1, C, B), RT_ERR_ARG);
    ck_assert_ptr_null(h);

    /* the fresh initialisation: deterministic in the seed, about N(0, std) */
    enum { NK = 8, NC = 500 };
    static float a[NK * NC], b2[NK * NC];
    rt_seqcls_init(a, NK, NC, 0.02f, 7);
    rt_seqcls_init(b2, NK, NC, 0.02f, 7);
    ck_assert(memcmp(a, b2, sizeof a) == 0);
    rt_seqcls_init(b2, NK, NC, 0.02f, 8);
    ck_assert(memcmp(a, b2, sizeof a) != 0);
    double s1 = 0, s2 = 0;
    for (int i = 0; i < NK * NC; i++) {
        s1 += a[i];
        s2 += (double)a[i] * a[i];
    }
    double mean = s1 / (NK * NC), sd = sqrt(s2 / (NK * NC) - mean * mean);
    printf("fresh score: mean %.3g, std %.4g (want 0, 0.02)\n", mean, sd);
    ck_assert(fabs(mean) < 0.002 && fabs(sd - 0.02) < 0.001);
}
END_TEST

/* The whole model, backbone + head, against central differences of sampled parameters. */
START_TEST(test_model_fd) {
    enum { V = 23 };
    rt_gpt2_config cfg;
    rt_gpt2_config_default(&cfg);
    cfg.vocab_size = V;
    cfg.n_positions = 8;
    cfg.n_embd = C * 2;
    cfg.n_layer = 2;
    cfg.n_head = 3;
    cfg.n_inner = 20;
    cfg.initializer_range = 0.2f;
    cfg.bos_token_id = cfg.eos_token_id = PAD;
    rt_gpt2 *m;
    ck_assert_int_eq(rt_gpt2_create(&m, &cfg), RT_OK);
    rt_gpt2_init_weights(m, 5);
    uint64_t s = 17;
    for (int i = 0; i < m->params.n; i++) /* non-default LayerNorm weights and biases */
        if (m->params.t[i].ndim == 1)
            for (size_t j = 0; j < m->params.t[i].numel; j++)
                m->params_mem[m->params.t[i].offset + j] += 0.2f * urand(&s);
    ck_assert_int_eq(rt_gpt2_alloc_acts(m, B, T), RT_OK);
    int CC = cfg.n_embd;
    float *W = malloc(sizeof(float) * K * CC), *dW = malloc(sizeof(float) * K * CC);
    float *dh = malloc(sizeof(float) * B * T * CC);
    for (int i = 0; i < K * CC; i++) W[i] = 0.5f * urand(&s);
    rt_seqcls *h;
    ck_assert_int_eq(rt_seqcls_create(&h, K, CC, B), RT_OK);
#define LOSS(out)                                                                                  \
    do {                                                                                           \
        double ls_, ws_;                                                                           \
        ck_assert_int_eq(rt_gpt2_forward_hidden(m, IDS, B, T), RT_OK);                             \
        ck_assert_int_eq(rt_seqcls_forward(h, W, m->lnf, IDS, B, T, PAD, LABELS, CW, &ls_, &ws_),  \
                         RT_OK);                                                                   \
        (out) = ls_ / ws_;                                                                         \
    } while (0)
    double l0;
    LOSS(l0);
    ck_assert(isfinite(l0) && l0 > 0.0);
    rt_seqcls_backward(h, W, dW, dh, (float)(1.0 / h->weight_sum), 0);
    rt_gpt2_backward_hidden(m, dh, 0);
    float *g = malloc(m->params.total * sizeof(float));
    memcpy(g, m->grads_mem, m->params.total * sizeof(float));
    double worst = 0.0;
    const char *wn = "";
    for (int i = 0; i <= m->params.n; i++) {
        float *p = i < m->params.n ? m->params_mem + m->params.t[i].offset : W;
        const float *gi = i < m->params.n ? g + m->params.t[i].offset : dW;
        size_t n = i < m->params.n ? m->params.t[i].numel : (size_t)K * CC;
        for (int k = 0; k < 12; k++) {
            size_t j = next_u64(&s) % n;
            float x0 = p[j];
            double lp, lm;
            p[j] = x0 + 1e-2f;
            LOSS(lp);
            p[j] = x0 - 1e-2f;
            LOSS(lm);
            p[j] = x0;
            double num = (lp - lm) / 2e-2,
                   e = fabs(num - gi[j]) / fmax(fabs(num) + fabs(gi[j]), 1e-2);
            if (e > worst) {
                worst = e;
                wn = i < m->params.n ? m->params.t[i].name : "score.weight";
            }
        }
    }
#undef LOSS
    printf("model FD (backbone + head, class weights): worst rel err %.3g (%s)\n", worst, wn);
    ck_assert_msg(worst <= 1e-2, "%s: rel err %g", wn, worst);
    free(g);
    free(W);
    free(dW);
    free(dh);
    rt_seqcls_destroy(&h);
    rt_gpt2_destroy(&m);
}
END_TEST

int main(void) {
    rt_gemm_setup(0);
    Suite *s = suite_create("seqcls_fd");
    TCase *tc = tcase_create("fd");
    tcase_add_test(tc, test_head_fd);
    tcase_add_test(tc, test_head_fd_weighted);
    tcase_add_test(tc, test_weighted_value);
    tcase_add_test(tc, test_pool_and_checks);
    tcase_add_test(tc, test_model_fd);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
