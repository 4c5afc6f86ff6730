/* bf16 products (compute/gemm.h, rt_gemm_bf16) against a double-precision reference over the
   bf16-rounded operands, for every transpose combination, odd sizes, padded leading dimensions,
   alpha != 1 and beta in {0 (C full of NaN), 1, 0.5}, on one thread and on several. Run twice by
   ctest: with the kernel this CPU gets (oneDNN where it has AVX512_BF16) and with
   RT_BF16_KERNEL=emulated.

   Bound: a product of two bf16 values is exact in fp32, so what is left is fp32 accumulation:
   |C - R| <= gamma_K * S with gamma_K = K u / (1 - K u), u = 2^-24 and
   S = |alpha| sum_k |a_ik b_kj| + |beta c_ij| (Higham, Accuracy and Stability of Numerical
   Algorithms, 3.1), plus one rounding of the fp32 result. The test allows 2 (K + 2) u S and
   prints the largest |C - R| / ((K + 2) u S) it saw. A wrong rounding (truncation instead of
   nearest even) or operands left in fp32 would be off by ~2^-9 S, far outside. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static double worst_ratio;

static void round_all(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = rt_bf16_round(x[i]);
}

/* The largest |C - R| / ((K + 2) u S) of one case; INFINITY when padding was written or a NaN. */
static double check_case(int ta, int tb, int M, int N, int K, float alpha, float beta, int one) {
    int pad = 3;
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int arows = ta ? K : M, brows = tb ? N : K;
    size_t na = (size_t)arows * lda, nb = (size_t)brows * ldb, nc = (size_t)M * ldc;
    float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
    float *Ar = malloc(sizeof(float) * na), *Br = malloc(sizeof(float) * nb);
    float *C = malloc(sizeof(float) * nc), *R = malloc(sizeof(float) * nc);
    float *S = malloc(sizeof(float) * nc);
    fill(A, na, 1 + M);
    fill(B, nb, 2 + N);
    fill(C, nc, 3 + K);
    if (beta == 0.0f)
        for (size_t i = 0; i < nc; i++) C[i] = NAN;
    memcpy(Ar, A, sizeof(float) * na);
    memcpy(Br, B, sizeof(float) * nb);
    round_all(Ar, na);
    round_all(Br, nb);
    memcpy(R, C, sizeof(float) * nc);
    rt_gemm_bf16(one, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    rt_gemm_ref(ta, tb, M, N, K, alpha, Ar, lda, Br, ldb, beta, R, ldc);
    for (size_t i = 0; i < na; i++) Ar[i] = fabsf(Ar[i]);
    for (size_t i = 0; i < nb; i++) Br[i] = fabsf(Br[i]);
    fill(S, nc, 3 + K); /* C as it was before the product */
    for (size_t i = 0; i < nc; i++) S[i] = beta == 0.0f ? 0.0f : fabsf(beta * S[i]);
    rt_gemm_ref(ta, tb, M, N, K, fabsf(alpha), Ar, lda, Br, ldb, 1.0f, S, ldc);
    double u = ldexp(1.0, -24), worst = 0.0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            size_t k = (size_t)i * ldc + j;
            double d = fabs((double)C[k] - R[k]), lim = (K + 2) * u * S[k] + 1e-30;
            double r = isnan(d) ? INFINITY : d / lim;
            if (r > worst) worst = r;
        }
    for (int i = 0; i < M; i++) /* padding columns untouched */
        for (int j = N; j < ldc; j++) {
            size_t k = (size_t)i * ldc + j;
            if (!(C[k] == R[k] || (isnan(C[k]) && isnan(R[k])))) worst = INFINITY;
        }
    free(A), free(B), free(Ar), free(Br), free(C), free(R), free(S);
    return worst;
}

START_TEST(test_all_transposes) {
    static const int sizes[][3] = {{1, 1, 1},      {7, 5, 3},      {33, 17, 65}, {64, 96, 128},
                                   {130, 77, 259}, {256, 64, 256}, {3, 200, 1}};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    double worst = 0.0;
    for (int one = 0; one < 2; one++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                    for (int bi = 0; bi < 3; bi++) {
                        const int *z = sizes[s];
                        float alpha = bi == 1 ? 1.0f : 0.75f;
                        double r = check_case(ta, tb, z[0], z[1], z[2], alpha, betas[bi], one);
                        ck_assert_msg(r <= 2.0, "ta %d tb %d %dx%dx%d beta %g one %d: %g", ta, tb,
                                      z[0], z[1], z[2], betas[bi], one, r);
                        if (r > worst) worst = r;
                    }
    if (worst > worst_ratio) worst_ratio = worst;
    printf("bf16 GEMM (%s): max |C - R| / ((K + 2) u S) = %.3g (bound 2)\n", rt_gemm_bf16_kernel(),
           worst);
}
END_TEST

/* A step's shapes (GPT-2 124M's attention and a linear, cut down in rows). */
START_TEST(test_step_shapes) {
    double worst = 0.0;
    worst = fmax(worst, check_case(0, 1, 256, 256, 64, 1.0f, 0.0f, 1));   /* Q K^T */
    worst = fmax(worst, check_case(0, 0, 256, 64, 256, 1.0f, 0.0f, 1));   /* P V */
    worst = fmax(worst, check_case(0, 0, 128, 2304, 768, 1.0f, 0.0f, 0)); /* X W */
    worst = fmax(worst, check_case(0, 1, 128, 768, 2304, 1.0f, 0.0f, 0)); /* dY W^T */
    worst = fmax(worst, check_case(1, 0, 768, 2304, 128, 1.0f, 1.0f, 0)); /* X^T dY, += */
    ck_assert_msg(worst <= 2.0, "step shapes: %g", worst);
    printf("step shapes (%s): max ratio %.3g\n", rt_gemm_bf16_kernel(), worst);
}
END_TEST

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

START_TEST(test_rounding) {
    ck_assert_float_eq(rt_bf16_round(1.0f), 1.0f);
    ck_assert_float_eq(rt_bf16_round(1.0f + 0x1p-8f), 1.0f);               /* tie: to even */
    ck_assert_float_eq(rt_bf16_round(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f); /* tie: to even */
    ck_assert_float_eq(rt_bf16_round(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);
    ck_assert_float_eq(rt_bf16_round(-2.0f - 0x1p-7f - 0x1p-12f), -2.0f - 0x1p-6f);
    ck_assert(isinf(rt_bf16_round(INFINITY)) && rt_bf16_round(-INFINITY) < 0);
    ck_assert(isinf(rt_bf16_round(from_bits(0x7f7fffffu)))); /* FLT_MAX rounds up, as torch */
    ck_assert(isnan(rt_bf16_round(NAN)));
    ck_assert(isnan(rt_bf16_round(from_bits(0x7f800001u)))); /* a NaN that would round to inf */
    ck_assert_float_eq(rt_bf16_round(from_bits(0x00010000u)),
                       from_bits(0x00010000u)); /* denormal */
}
END_TEST

/* rt_gemm follows the precision setting; fp32 is the default and stays BLIS's exact path. */
START_TEST(test_precision_switch) {
    enum { M = 37, N = 29, K = 300 };
    float A[M * K], B[K * N], C1[M * N], C2[M * N], C3[M * N];
    fill(A, M * K, 7);
    fill(B, K * N, 8);
    ck_assert_int_eq(rt_gemm_precision(), RT_PRECISION_FP32);
    rt_gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C1, N);
    const char *k = rt_gemm_set_precision(RT_PRECISION_BF16);
    ck_assert_str_eq(k, rt_gemm_bf16_kernel());
    rt_gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C2, N);
    rt_gemm_bf16(0, 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C3, N);
    ck_assert_str_eq(rt_gemm_set_precision(RT_PRECISION_FP32), "blis");
    double d12 = 0, d23 = 0;
    for (int i = 0; i < M * N; i++) {
        d12 = fmax(d12, fabs(C1[i] - C2[i]));
        d23 = fmax(d23, fabs(C2[i] - C3[i]));
    }
    printf("fp32 vs bf16 max |diff| %.3g (K %d), bf16 through rt_gemm vs rt_gemm_bf16 %.3g\n", d12,
           K, d23);
    ck_assert_msg(d23 == 0.0, "rt_gemm in bf16 mode is not rt_gemm_bf16: %g", d23);
    ck_assert_msg(d12 > 0.0, "bf16 mode gave fp32's exact result: operands not rounded?");
}
END_TEST

int main(void) {
    Suite *s = suite_create("gemm_bf16");
    TCase *tc = tcase_create("gemm_bf16");
    tcase_add_test(tc, test_rounding);
    tcase_add_test(tc, test_all_transposes);
    tcase_add_test(tc, test_step_shapes);
    tcase_add_test(tc, test_precision_switch);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
