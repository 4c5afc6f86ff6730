/* Whole-model gradient check of T5: rt_t5_backward_hidden of tiny T5s (relu + tied + rescale,
   gated-gelu + untied) against central differences of L = sum(R * hidden) for every parameter
   tensor, with and without dropout and with source padding; accumulation, frozen tensors and the
   relative position buckets. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "t5.h"

enum { B = 2, TS = 6, TT = 5, V = 29, D = 12 };

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float urand(uint64_t *s) {
    return (float)((double)(next_u64(s) >> 40) * (2.0 / 16777216.0) - 1.0);
}

static int32_t g_src[B * TS], g_dec[B * TT];
static uint8_t g_mask[B * TS];
static float g_R[B * TT * D];
static rt_step_key g_key;
static int g_gated;

static void set_threads(int n) {
    omp_set_num_threads(n);
    rt_gemm_setup(n);
}

/* A tiny T5 with large random weights (factor 3) and random layer norms so every path carries
   gradient; row 1 of the source is padded after 4 tokens. */
static rt_t5 *make_model(int train) {
    rt_t5_config c;
    rt_t5_config_default(&c);
    c.vocab_size = V;
    c.d_model = D;
    c.d_kv = 5;
    c.num_heads = 3;
    c.d_ff = 10;
    c.num_layers = 2;
    c.num_decoder_layers = 2;
    c.relative_attention_num_buckets = 8;
    c.relative_attention_max_distance = 10;
    c.dropout_rate = 0.1f;
    c.initializer_factor = 1.0f;
    c.ff = g_gated ? RT_T5_FF_GATED_GELU : RT_T5_FF_RELU;
    c.tie_word_embeddings = c.scale_decoder_outputs = !g_gated;
    rt_t5 *m = NULL;
    ck_assert_int_eq(rt_t5_create(&m, &c), RT_OK);
    rt_t5_init_weights(m, 4321);
    rt_tensor_table *t = rt_t5_table(m);
    float *p = rt_t5_params(m);
    uint64_t s = 99;
    for (int i = 0; i < t->n; i++)
        if (t->t[i].ndim == 1)
            for (size_t j = 0; j < t->t[i].numel; j++)
                p[t->t[i].offset + j] = 1.0f + 0.3f * urand(&s);
    ck_assert_int_eq(rt_t5_alloc_acts(m, B, TS, TT), RT_OK);
    g_key = (rt_step_key){7, 3, 1, train};
    uint64_t u = 5;
    for (int i = 0; i < B * TS; i++) {
        g_src[i] = (int32_t)(next_u64(&u) % V);
        g_mask[i] = !(i >= TS + 4);
    }
    for (int i = 0; i < B * TT; i++) g_dec[i] = (int32_t)(next_u64(&u) % V);
    for (int i = 0; i < B * TT * D; i++) g_R[i] = urand(&u);
    return m;
}

static double loss(rt_t5 *m) {
    const float *h = NULL;
    ck_assert_int_eq(rt_t5_forward_hidden(m, g_src, g_mask, TS, g_dec, TT, B, &g_key, &h), RT_OK);
    double l = 0.0;
    for (int i = 0; i < B * TT * D; i++) l += (double)g_R[i] * h[i];
    return l;
}

static float *grads_of(rt_t5 *m, int acc) {
    loss(m);
    rt_t5_backward_hidden(m, g_R, acc, 0, NULL, NULL);
    size_t n = rt_t5_table(m)->total;
    float *g = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(g);
    memcpy(g, rt_t5_grads(m), n * sizeof(float));
    return g;
}

/* Directional central differences: for each tensor and 4 random directions u (entries +-1 on
   the tensor, 0 elsewhere; eps = 3e-3 / sqrt(numel), a step of L2 norm 3e-3), (L(p + eps u) - L(p -
   eps u)) / 2 eps against sum(grad * u). The forward runs in float and the loss sum in double; a
   directional derivative sums many coordinates, so float noise and the odd relu kink inside eps
   stay far below the tolerance while a wrong gradient on any part of the tensor shows (the signs
   are random). The error is |analytic - numeric| / max(|analytic| + |numeric|, |grad|_2): a
   direction whose derivative cancels to near zero is measured against the size a random direction's
   has. Element by element the gradients are checked against transformers (test_t5_golden). */
#define FD_STEP 3e-3 /* the L2 norm of eps * u */
#define FD_TOL 1e-2
#define FD_DIRS 4

static double directional(rt_t5 *m, float *p, size_t n, const float *g, uint64_t *s, double *ana) {
    int8_t *u = malloc(n);
    float *x0 = malloc(n * sizeof(float));
    ck_assert(u && x0);
    double dot = 0.0;
    float eps = (float)(FD_STEP / sqrt((double)n));
    for (size_t j = 0; j < n; j++) {
        u[j] = next_u64(s) & 1 ? 1 : -1;
        x0[j] = p[j];
        dot += (double)g[j] * u[j];
    }
    for (size_t j = 0; j < n; j++) p[j] = x0[j] + eps * u[j];
    double lp = loss(m);
    for (size_t j = 0; j < n; j++) p[j] = x0[j] - eps * u[j];
    double lm = loss(m);
    memcpy(p, x0, n * sizeof(float));
    free(u);
    free(x0);
    *ana = dot;
    return (lp - lm) / (2.0 * (double)eps);
}

static void fd_model(int train) {
    rt_t5 *m = make_model(train);
    float *g = grads_of(m, 0);
    set_threads(1);
    rt_tensor_table *t = rt_t5_table(m);
    float *params = rt_t5_params(m);
    double overall = 0.0;
    uint64_t s = 2024;
    for (int i = 0; i < t->n; i++) {
        const rt_tensor_info *ti = &t->t[i];
        double worst = 0.0, wa = 0.0, wn = 0.0, maxg = 0.0;
        if (strcmp(ti->name, "lm_head.weight") == 0) { /* the LM head's, not the backbone's */
            for (size_t j = 0; j < ti->numel; j++) ck_assert(g[ti->offset + j] == 0.0f);
            continue;
        }
        double gnorm = 0.0; /* sqrt(sum g^2): the typical size of sum(g * u) */
        for (size_t j = 0; j < ti->numel; j++) {
            maxg = fmax(maxg, fabs(g[ti->offset + j]));
            gnorm += (double)g[ti->offset + j] * g[ti->offset + j];
        }
        gnorm = sqrt(gnorm);
        for (int k = 0; k < FD_DIRS; k++) {
            double ana,
                num = directional(m, params + ti->offset, ti->numel, g + ti->offset, &s, &ana);
            double e = fabs(ana - num) / fmax(fabs(ana) + fabs(num), gnorm);
            e = isnan(e) ? INFINITY : e;
            if (k == 0 || e > worst) worst = e, wa = ana, wn = num;
        }
        printf("fd t5 (%s, %s) %-58s max rel err %.2e over %d directions (max |grad| %.2e; "
               "worst: analytic %.6g numeric %.6g)\n",
               g_gated ? "gated" : "relu", train ? "dropout" : "eval", ti->name, worst, FD_DIRS,
               maxg, wa, wn);
        ck_assert_msg(worst < FD_TOL, "t5 fd %s: max rel err %g", ti->name, worst);
        ck_assert_msg(maxg > 1e-4, "%s: gradient unexpectedly ~0", ti->name);
        overall = fmax(overall, worst);
    }
    printf("fd t5 (%s, %s): max rel err over all %d tensors %.2e\n", g_gated ? "gated" : "relu",
           train ? "dropout" : "eval", t->n, overall);
    set_threads(2);
    free(g);
    rt_t5_destroy(&m);
}

START_TEST(test_fd_relu_eval) {
    fd_model(0);
}
END_TEST
START_TEST(test_fd_relu_dropout) {
    fd_model(1);
}
END_TEST
START_TEST(test_fd_gated_eval) {
    g_gated = 1;
    fd_model(0);
    g_gated = 0;
}
END_TEST
START_TEST(test_fd_gated_dropout) {
    g_gated = 1;
    fd_model(1);
    g_gated = 0;
}
END_TEST

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0.0;
    for (size_t i = 0; i < n; i++) d = fmax(d, isnan(a[i]) ? INFINITY : fabs(a[i] - b[i]));
    return d;
}

/* acc 0 then acc 1 of the same batch gives twice one backward; masked source padding does not
   change the decoder's output. */
START_TEST(test_accumulation_and_padding) {
    rt_t5 *m = make_model(1);
    size_t n = rt_t5_table(m)->total;
    float *one = grads_of(m, 0);
    float *two = grads_of(m, 1);
    for (size_t i = 0; i < n; i++) one[i] *= 2.0f;
    double d = max_diff(one, two, n);
    printf("t5 accumulation: max |2 g - (g + g)| = %.3g\n", d);
    ck_assert(d < 1e-5);
    const float *h = NULL;
    g_key.train = 0;
    ck_assert_int_eq(rt_t5_forward_hidden(m, g_src, g_mask, TS, g_dec, TT, B, &g_key, &h), RT_OK);
    float *h0 = malloc(sizeof g_R);
    memcpy(h0, h, sizeof g_R);
    g_src[TS + 5] = (g_src[TS + 5] + 1) % V; /* a padded position of row 1 */
    ck_assert_int_eq(rt_t5_forward_hidden(m, g_src, g_mask, TS, g_dec, TT, B, &g_key, &h), RT_OK);
    d = max_diff(h0, h, B * TT * D);
    printf("t5 padding: a masked source token changes hidden by %.3g\n", d);
    ck_assert(d == 0.0);
    free(h0);
    free(one);
    free(two);
    rt_t5_destroy(&m);
}
END_TEST

/* Only the top decoder block trains: its gradients equal the full backward's, nothing else is
   written, and the FLOP count shrinks. */
START_TEST(test_frozen) {
    rt_t5 *m = make_model(1);
    rt_tensor_table *t = rt_t5_table(m);
    size_t n = t->total;
    float *full = grads_of(m, 0);
    double fl_full = rt_t5_flops_hidden(m, B, TS, TT);
    int top = rt_t5_block_first(m, 3), end = rt_t5_block_first(m, 4);
    for (int i = 0; i < t->n; i++) t->t[i].trainable = i >= top && i < end;
    float *g = rt_t5_grads(m);
    for (size_t i = 0; i < n; i++) g[i] = NAN;
    loss(m);
    rt_t5_backward_hidden(m, g_R, 0, 0, NULL, NULL);
    for (int i = 0; i < t->n; i++) {
        const rt_tensor_info *ti = &t->t[i];
        if (ti->trainable) {
            double d = max_diff(full + ti->offset, g + ti->offset, ti->numel);
            ck_assert_msg(d < 1e-6, "%s: %g", ti->name, d);
        } else {
            ck_assert_msg(isnan(g[ti->offset]), "%s was written", ti->name);
        }
    }
    double fl = rt_t5_flops_hidden(m, B, TS, TT);
    printf("t5 frozen: FLOPs %.4g of %.4g with the top decoder block alone\n", fl, fl_full);
    ck_assert(fl < 0.7 * fl_full);
    for (int i = 0; i < t->n; i++) t->t[i].trainable = 0;
    ck_assert(!rt_t5_backbone_trains(m));
    free(full);
    rt_t5_destroy(&m);
}
END_TEST

/* The buckets of transformers' _relative_position_bucket for 32 buckets / 128 (t5-small). */
START_TEST(test_buckets) {
    /* bidirectional: 0..7 exact, then log-spaced to 15; positive offsets + 16 */
    ck_assert_int_eq(rt_t5_bucket(0, 1, 32, 128), 0);
    ck_assert_int_eq(rt_t5_bucket(-7, 1, 32, 128), 7);
    ck_assert_int_eq(rt_t5_bucket(7, 1, 32, 128), 23);
    ck_assert_int_eq(rt_t5_bucket(-8, 1, 32, 128), 8);
    ck_assert_int_eq(rt_t5_bucket(-1000, 1, 32, 128), 15);
    ck_assert_int_eq(rt_t5_bucket(1000, 1, 32, 128), 31);
    /* causal: future keys all bucket 0; 16 exact */
    ck_assert_int_eq(rt_t5_bucket(5, 0, 32, 128), 0);
    ck_assert_int_eq(rt_t5_bucket(-15, 0, 32, 128), 15);
    ck_assert_int_eq(rt_t5_bucket(-16, 0, 32, 128), 16);
    ck_assert_int_eq(rt_t5_bucket(-1000, 0, 32, 128), 31);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("t5_fd");
    TCase *tc = tcase_create("t5_fd");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_fd_relu_eval);
    tcase_add_test(tc, test_fd_relu_dropout);
    tcase_add_test(tc, test_fd_gated_eval);
    tcase_add_test(tc, test_fd_gated_dropout);
    tcase_add_test(tc, test_accumulation_and_padding);
    tcase_add_test(tc, test_frozen);
    tcase_add_test(tc, test_buckets);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    set_threads(2);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
