/* The MFU figures: the sgemm peak measured by every rank at once (the same value on every rank),
   MFU capped at 100% by raising a peak that a step outran (with a notice), and the FLOPs a step
   really performs when tensors are frozen (rt_gpt2_flops_done against closed forms). */
#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "gpt2.h"
#include "mpictx.h"
#include "peak.h"

static int rank;
static rt_mpi_ctx *world;

START_TEST(test_measure_agrees) {
    rt_gemm_setup(1);
    rt_peak p;
    ck_assert(rt_peak_measure(world, 128, 3, 0.02, &p) == RT_OK);
    double v[2] = {p.gflops, -p.gflops}, mx[2];
    MPI_Allreduce(v, mx, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    ck_assert(mx[0] == p.gflops && -mx[1] == p.gflops); /* every rank got the same denominator */
    ck_assert(p.gflops > 0 && p.slowest > 0 && p.slowest <= p.gflops && p.measured == p.gflops);
    ck_assert_int_eq(p.trials, 3);
    ck_assert_int_eq(p.ranks, 2);
    ck_assert_int_eq(p.threads, 1);
    ck_assert_int_eq(p.n, 128);
    ck_assert(p.trial_s == 0.02 && p.raised_at == 0);
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    rt_peak_describe(&p, f);
    fclose(f);
    ck_assert_msg(strstr(buf, "best of 3 rounds of 0.02 s, all 2 ranks at once, 1 thread each"),
                  "%s", buf);
    if (rank == 0) printf("peak: %s", buf);
}
END_TEST

START_TEST(test_mfu_never_above_one) {
    rt_peak p = {100.0, 100.0, 90.0, 0.1, 5, 2, 1, 768, 0};
    ck_assert(fabs(rt_peak_mfu(&p, 50e9, 1.0, 1, NULL) - 0.5) < 1e-12);
    ck_assert(p.gflops == 100.0 && p.raised_at == 0);
    char buf[512] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    double u = rt_peak_mfu(&p, 300e9, 2.0, 7, f); /* 150 GFLOPS: faster than the peak */
    fclose(f);
    ck_assert(u == 1.0);
    ck_assert(p.gflops == 150.0 && p.measured == 100.0 && p.raised_at == 7);
    ck_assert_msg(strstr(buf, "step 7 ran at 150.0 GFLOPS per rank, above the sgemm peak of "
                              "100.0") &&
                      strstr(buf, "against 150.0"),
                  "%s", buf);
    ck_assert(fabs(rt_peak_mfu(&p, 120e9, 1.0, 8, NULL) - 0.8) < 1e-12); /* the raised peak */
    ck_assert(p.raised_at == 7);
    rt_peak none = {0};
    ck_assert(rt_peak_mfu(&none, 1e9, 1.0, 1, NULL) == 0.0); /* unknown peak: no figure */
    ck_assert(rt_peak_mfu(&p, 1e9, 0.0, 1, NULL) == 0.0);
}
END_TEST

START_TEST(test_eta) {
    ck_assert(rt_eta_s(0, 10, 5.0) == -1.0);              /* nothing done: unknown */
    ck_assert(fabs(rt_eta_s(2, 10, 4.0) - 16.0) < 1e-12); /* 2 s each, 8 left */
    ck_assert(rt_eta_s(10, 10, 4.0) == 0.0);
    ck_assert(rt_eta_s(12, 10, 4.0) == 0.0);
}
END_TEST

static rt_gpt2 *model(int tied) {
    rt_gpt2_config c;
    rt_gpt2_config_default(&c);
    c.vocab_size = 100;
    c.n_positions = 16;
    c.n_embd = 8;
    c.n_inner = 32;
    c.n_layer = 3;
    c.n_head = 2;
    c.tie_word_embeddings = tied;
    c.eos_token_id = c.bos_token_id = 99;
    rt_gpt2 *m;
    ck_assert_msg(rt_gpt2_create(&m, &c) == RT_OK, "%s", rt_error_message());
    return m;
}

/* Trainable: the blocks >= lowest, the embeddings (embd) and the rest (ln_f, untied head). */
static void set_trainable(rt_gpt2 *m, int lowest, int embd) {
    int L = m->cfg.n_layer;
    for (int i = 0; i < m->params.n; i++) {
        int in_block = i >= 2 && i < 2 + 12 * L;
        m->params.t[i].trainable = in_block ? (i - 2) / 12 >= lowest : (i < 2 ? embd : 1);
    }
}

START_TEST(test_flops_done) {
    int B = 3, T = 10;
    double N = B * T, C = 8, F = 32, V = 100, L = 3;
    double blk = 3 * C * C + C * C + 2 * C * F, attn = 4 * N * T * C;
    double fwd = L * (2 * N * blk + attn) + 2 * N * V * C;
    double block_bwd = 4 * N * blk + 2 * attn; /* input and weight gradients, attention x2 */
    rt_gpt2 *m = model(1);
    set_trainable(m, 0, 1); /* full */
    double full = rt_gpt2_flops_done(m, B, T), ref = rt_gpt2_flops_per_step(&m->cfg, B, T);
    ck_assert_msg(fabs(full - ref) <= 1e-12 * ref, "full %.17g vs %.17g", full, ref);
    ck_assert(fabs(full - 3 * fwd) <= 1e-12 * full);
    /* partial, the top block: tied head frozen with wte (no head weight gradient), the gradient
       into ln_f, one block's backward */
    set_trainable(m, 2, 0);
    double part = rt_gpt2_flops_done(m, B, T), want = fwd + 2 * N * V * C + block_bwd;
    ck_assert_msg(fabs(part - want) <= 1e-12 * want, "partial %.17g vs %.17g", part, want);
    set_trainable(m, 1, 0);
    ck_assert(fabs(rt_gpt2_flops_done(m, B, T) - (want + block_bwd)) <= 1e-12 * want);
    rt_gpt2_destroy(&m);
    /* feature extraction: an untied head and ln_f only: the head's weight gradient and the
       gradient into ln_f, no block's backward */
    m = model(0);
    set_trainable(m, 3, 0);
    double fe = rt_gpt2_flops_done(m, B, T);
    want = fwd + 4 * N * V * C;
    ck_assert_msg(fabs(fe - want) <= 1e-12 * want, "feature extraction %.17g vs %.17g", fe, want);
    if (rank == 0)
        printf("flops per micro-batch: full %.0f, partial(1 block) %.0f, feature extraction %.0f "
               "(%.0f%% of full)\n",
               full, part, fe, 100.0 * fe / full);
    rt_gpt2_destroy(&m);
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    rt_mpi_ctx_create(&world);
    Suite *s = suite_create("peak");
    TCase *tc = tcase_create("peak");
    tcase_add_test(tc, test_measure_agrees);
    tcase_add_test(tc, test_mfu_never_above_one);
    tcase_add_test(tc, test_flops_done);
    tcase_add_test(tc, test_eta);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    int nf = srunner_ntests_failed(sr), total = 0;
    srunner_free(sr);
    MPI_Allreduce(&nf, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    rt_mpi_ctx_destroy(&world);
    MPI_Finalize();
    return total ? EXIT_FAILURE : EXIT_SUCCESS;
}
