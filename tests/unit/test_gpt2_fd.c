/* Whole-model gradient check: rt_gpt2_backward of a tiny GPT-2 against central differences of the
   loss for every parameter tensor (dropout off/on); accumulation, frozen tensors, thread count. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "gpt2.h"

enum { B = 2, T = 5, V = 37 };

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float urand(uint64_t *s) {
    return (float)((double)(next_u64(s) >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* A batch with ignored targets: row 0 ends with -100, row 1 has one in the middle. */
static int32_t g_ids[B * T], g_targets[B * T];
static int g_counted;

static void set_threads(int n) {
    omp_set_num_threads(n);
    rt_gemm_setup(n);
}

/* Tiny model with initializer_range 0.2 and random (non-default) LayerNorm weights and biases, so
   every gradient is far from zero and every parameter's path is exercised. */
static int g_untied; /* build models with a separate lm_head.weight */

/* the randomness key of every forward of a test (seed 7, step 3, micro-batch 1) */
static rt_step_key g_key;

static rt_gpt2 *make_model(int train) {
    rt_gpt2_config cfg;
    rt_gpt2_config_default(&cfg);
    cfg.tie_word_embeddings = !g_untied;
    cfg.vocab_size = V;
    cfg.n_positions = 8;
    cfg.n_embd = 12;
    cfg.n_layer = 2;
    cfg.n_head = 3;
    cfg.n_inner = 48;
    cfg.initializer_range = 0.2f;
    cfg.embd_pdrop = cfg.attn_pdrop = cfg.resid_pdrop = 0.1f;
    cfg.bos_token_id = cfg.eos_token_id = V - 1;
    rt_gpt2 *m = NULL;
    ck_assert_int_eq(rt_gpt2_create(&m, &cfg), RT_OK);
    rt_gpt2_init_weights(m, 1234);
    uint64_t s = 99;
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *ti = &m->params.t[i];
        if (ti->ndim != 1) continue;
        float base = strstr(ti->name, ".weight") ? 1.0f : 0.0f;
        for (size_t j = 0; j < ti->numel; j++)
            m->params_mem[ti->offset + j] = base + 0.2f * urand(&s);
    }
    ck_assert_int_eq(rt_gpt2_alloc_acts(m, B, T), RT_OK);
    g_key = (rt_step_key){7, 3, 1, train};
    uint64_t t = 5;
    g_counted = 0;
    for (int i = 0; i < B * T; i++) g_ids[i] = (int32_t)(next_u64(&t) % V);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            int r = b * T + i;
            g_targets[r] = i + 1 < T ? g_ids[r + 1] : (int32_t)(next_u64(&t) % V);
            if ((b == 0 && i == T - 1) || (b == 1 && i == 2)) g_targets[r] = -100;
            g_counted += g_targets[r] != -100;
        }
    return m;
}

static double loss(rt_gpt2 *m) {
    double ls = 0.0;
    ck_assert_int_eq(rt_gpt2_forward_keyed(m, g_ids, g_targets, B, T, &g_key, &ls), RT_OK);
    ck_assert_int_eq(m->n_counted, g_counted);
    return ls / m->n_counted;
}

/* forward + backward of the mean loss; returns a copy of the gradients */
static float *grads_of(rt_gpt2 *m) {
    loss(m);
    rt_gpt2_backward(m, 1.0f / (float)g_counted, 0);
    float *g = malloc(m->params.total * sizeof(float));
    ck_assert_ptr_nonnull(g);
    memcpy(g, m->grads_mem, m->params.total * sizeof(float));
    return g;
}

static double rel_err(double a, double n) {
    double den = fabs(a) + fabs(n);
    double e = fabs(a - n) / (den > 1e-2 ? den : 1e-2);
    return isnan(e) ? INFINITY : e;
}

/* Central differences (eps 1e-2 on parameters of size ~0.2..1; the forward runs in float, the loss
   sum is double). The loss is a smooth function of every parameter (dropout masks are fixed by
   seed/step/micro), so a correct backward stays within a few 1e-3 of the float noise floor. */
#define FD_EPS 1e-2f
#define FD_TOL 1e-2
#define FD_SAMPLE 48

static void fd_model(int train) {
    rt_gpt2 *m = make_model(train);
    float *g = grads_of(m);
    set_threads(1); /* thread-count independence is checked separately; keeps this fast */
    double overall = 0.0;
    uint64_t s = 2024;
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *ti = &m->params.t[i];
        size_t cnt = ti->numel <= FD_SAMPLE ? ti->numel : FD_SAMPLE;
        double worst = 0.0, wa = 0.0, wn = 0.0, maxg = 0.0;
        for (size_t j = 0; j < ti->numel; j++) maxg = fmax(maxg, fabs(g[ti->offset + j]));
        for (size_t k = 0; k < cnt; k++) {
            size_t j = ti->numel <= FD_SAMPLE ? k : (size_t)(next_u64(&s) % ti->numel);
            float *p = m->params_mem + ti->offset + j;
            float x0 = *p, xp = x0 + FD_EPS, xm = x0 - FD_EPS;
            *p = xp;
            double lp = loss(m);
            *p = xm;
            double lm = loss(m);
            *p = x0;
            double num = (lp - lm) / ((double)xp - (double)xm);
            double e = rel_err(g[ti->offset + j], num);
            if (k == 0 || e > worst) worst = e, wa = g[ti->offset + j], wn = num;
        }
        printf("fd gpt2 (%s) %-20s max rel err %.2e over %3zu coords (max |grad| %.2e; worst: "
               "analytic %.5g numeric %.5g)\n",
               train ? "dropout 0.1" : "no dropout", ti->name, worst, cnt, maxg, wa, wn);
        ck_assert_msg(worst < FD_TOL, "gpt2 fd (train=%d) %s: max rel err %g", train, ti->name,
                      worst);
        ck_assert_msg(maxg > 1e-4 || strcmp(ti->name, "wpe.weight") == 0,
                      "%s: gradient unexpectedly ~0", ti->name);
        overall = fmax(overall, worst);
    }
    printf("fd gpt2 (%s): max rel err over all %d tensors %.2e\n",
           train ? "dropout 0.1" : "no dropout", m->params.n, overall);
    set_threads(2);
    free(g);
    rt_gpt2_destroy(&m);
}

START_TEST(test_fd_no_dropout) {
    fd_model(0);
}
END_TEST

START_TEST(test_fd_dropout) {
    fd_model(1);
}
END_TEST

/* An untied head (feature extraction): lm_head.weight and wte get separate, correct gradients. */
START_TEST(test_fd_untied_head) {
    g_untied = 1;
    fd_model(1);
    g_untied = 0;
}
END_TEST

/* Dropout really is active in train mode, and the same (seed, step, micro) repeats the masks. */
START_TEST(test_dropout_deterministic) {
    rt_gpt2 *m = make_model(1);
    double a = loss(m), b = loss(m);
    ck_assert(a == b);
    g_key.train = 0;
    double c = loss(m);
    g_key.train = 1;
    g_key.micro = 2;
    double d = loss(m);
    printf("gpt2 loss: train %.6f (repeat identical), eval %.6f, other micro %.6f\n", a, c, d);
    ck_assert(a != c && a != d);
    rt_gpt2_destroy(&m);
}
END_TEST

/* acc = 0 then acc = 1 with scale 1/2 each equals one backward with scale 1. */
START_TEST(test_accumulation) {
    rt_gpt2 *m = make_model(1);
    float *ref = grads_of(m);
    float sc = 1.0f / (float)g_counted;
    loss(m);
    rt_gpt2_backward(m, 0.5f * sc, 0);
    loss(m);
    rt_gpt2_backward(m, 0.5f * sc, 1);
    double overall = 0.0;
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *ti = &m->params.t[i];
        double d = 0.0, mx = 0.0;
        for (size_t j = 0; j < ti->numel; j++) {
            double a = m->grads_mem[ti->offset + j], r = ref[ti->offset + j];
            d = fmax(d, isnan(a) ? INFINITY : fabs(a - r));
            mx = fmax(mx, fabs(r));
        }
        double rel = mx > 0 ? d / mx : d;
        ck_assert_msg(rel <= 1e-6, "accumulated %s: max |diff| / max |grad| = %g", ti->name, rel);
        overall = fmax(overall, rel);
    }
    printf("gpt2 accumulation (2 x scale/2 vs 1 x scale): max |diff| / max |grad| per tensor "
           "%.2e\n",
           overall);
    free(ref);
    rt_gpt2_destroy(&m);
}
END_TEST

static int is_frozen_name(const char *name, int embeddings) {
    return strncmp(name, "h.0.", 4) == 0 ||
           (embeddings && (strcmp(name, "wte.weight") == 0 || strcmp(name, "wpe.weight") == 0));
}

/* Frozen tensors keep their gradient buffers untouched; trainable ones get the same values as a
   full backward. embeddings: also freeze wte (and so the tied head) and wpe. */
static void frozen_case(int train, int embeddings) {
    rt_gpt2 *m = make_model(train);
    float *ref = grads_of(m);
    for (int i = 0; i < m->params.n; i++)
        if (is_frozen_name(m->params.t[i].name, embeddings)) m->params.t[i].trainable = 0;
    const float sentinel = 12345.0f;
    for (int acc = 0; acc < 2; acc++) {
        for (size_t j = 0; j < m->params.total; j++) m->grads_mem[j] = sentinel;
        if (acc) /* trainable tensors start from the reference, so acc = 1 doubles them */
            for (int i = 0; i < m->params.n; i++)
                if (m->params.t[i].trainable)
                    memcpy(m->grads_mem + m->params.t[i].offset, ref + m->params.t[i].offset,
                           m->params.t[i].numel * sizeof(float));
        loss(m);
        rt_gpt2_backward(m, 1.0f / (float)g_counted, acc);
        int nfrozen = 0;
        for (int i = 0; i < m->params.n; i++) {
            const rt_tensor_info *ti = &m->params.t[i];
            const float *gg = m->grads_mem + ti->offset;
            if (!ti->trainable) {
                nfrozen++;
                for (size_t j = 0; j < ti->numel; j++)
                    ck_assert_msg(memcmp(&gg[j], &sentinel, sizeof(float)) == 0,
                                  "frozen %s[%zu] was written (%g), acc=%d", ti->name, j, gg[j],
                                  acc);
            } else if (!acc) {
                /* wpe rows >= T get no gradient from this batch; whether acc=0 clears them is
                   test_acc0_overwrites_all's business, so only rows < T are compared here. */
                size_t n =
                    strcmp(ti->name, "wpe.weight") == 0 ? (size_t)T * ti->shape[1] : ti->numel;
                ck_assert_msg(memcmp(gg, ref + ti->offset, n * sizeof(float)) == 0,
                              "trainable %s differs from the full backward", ti->name);
            } else {
                double mx = 0.0;
                size_t n =
                    strcmp(ti->name, "wpe.weight") == 0 ? (size_t)T * ti->shape[1] : ti->numel;
                for (size_t j = 0; j < n; j++) mx = fmax(mx, fabs(ref[ti->offset + j]));
                for (size_t j = 0; j < n; j++) {
                    float r = ref[ti->offset + j];
                    ck_assert_msg(fabs((double)gg[j] - 2.0 * r) <= 2e-6 * mx,
                                  "acc=1 %s[%zu]: %g vs 2 x %g", ti->name, j, gg[j], r);
                }
            }
        }
        ck_assert_int_eq(nfrozen, 12 + (embeddings ? 2 : 0));
    }
    printf("gpt2 frozen (train=%d, block 0%s): frozen grads keep the sentinel, trainable ones "
           "equal the full backward bitwise\n",
           train, embeddings ? " + embeddings" : "");
    free(ref);
    rt_gpt2_destroy(&m);
}

START_TEST(test_frozen) {
    frozen_case(0, 1);
    frozen_case(1, 1);
    frozen_case(0, 0);
    frozen_case(1, 0);
}
END_TEST

/* Losses, logits and gradients do not depend on the thread count (OpenMP and BLIS). */
START_TEST(test_threads) {
    rt_gpt2 *m = make_model(1);
    size_t nl = (size_t)B * T * V;
    float *logits[2], *grads[2];
    double losses[2];
    for (int k = 0; k < 2; k++) {
        set_threads(k + 1);
        losses[k] = loss(m);
        logits[k] = malloc(nl * sizeof(float));
        memcpy(logits[k], m->logits, nl * sizeof(float));
        rt_gpt2_backward(m, 1.0f / (float)g_counted, 0);
        grads[k] = malloc(m->params.total * sizeof(float));
        memcpy(grads[k], m->grads_mem, m->params.total * sizeof(float));
    }
    set_threads(2);
    ck_assert_msg(memcmp(&losses[0], &losses[1], sizeof(double)) == 0,
                  "loss differs between 1 and 2 threads: %.17g vs %.17g", losses[0], losses[1]);
    ck_assert_msg(memcmp(logits[0], logits[1], nl * sizeof(float)) == 0,
                  "logits differ between 1 and 2 threads");
    ck_assert_msg(memcmp(grads[0], grads[1], m->params.total * sizeof(float)) == 0,
                  "gradients differ between 1 and 2 threads");
    printf("gpt2: loss %.9f, logits and gradients bitwise equal for 1 and 2 threads\n", losses[0]);
    for (int k = 0; k < 2; k++) free(logits[k]), free(grads[k]);
    rt_gpt2_destroy(&m);
}
END_TEST

/* accumulate = 0 "overwrites the gradients" (gpt2.h; rt_gpt2_zero_grad is "only needed when
   skipping the accumulate=0 first pass"): whatever the buffer held before must not matter. */
START_TEST(test_acc0_overwrites_all) {
    rt_gpt2 *m = make_model(0);
    float *ref = grads_of(m); /* from the zero-filled buffer of rt_gpt2_alloc_acts */
    for (size_t j = 0; j < m->params.total; j++) m->grads_mem[j] = NAN;
    loss(m);
    rt_gpt2_backward(m, 1.0f / (float)g_counted, 0);
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *ti = &m->params.t[i];
        for (size_t j = 0; j < ti->numel; j++)
            ck_assert_msg(
                memcmp(&m->grads_mem[ti->offset + j], &ref[ti->offset + j], sizeof(float)) == 0,
                "accumulate=0 left %s[%zu] (row %zu) = %g from before (expected %g)", ti->name, j,
                ti->ndim == 2 ? j / (size_t)ti->shape[1] : j, m->grads_mem[ti->offset + j],
                ref[ti->offset + j]);
    }
    free(ref);
    rt_gpt2_destroy(&m);
}
END_TEST

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    rt_gemm_setup(2);
    if (omp_get_max_threads() < 2) omp_set_num_threads(2);
    Suite *s = suite_create("gpt2_fd");
    TCase *tc = tcase_create("fd");
    tcase_add_test(tc, test_fd_no_dropout);
    tcase_add_test(tc, test_fd_dropout);
    tcase_add_test(tc, test_fd_untied_head);
    tcase_add_test(tc, test_dropout_deterministic);
    tcase_add_test(tc, test_accumulation);
    tcase_add_test(tc, test_frozen);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_acc0_overwrites_all);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
