/* The BLIS GEMM wrapper against a naive double-precision reference, for every transpose
   combination, odd sizes, padded leading dimensions and beta in {0, 1, 0.5}. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "gemm.h"

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

static double check_case(int ta, int tb, int M, int N, int K, float beta, int threads1) {
    int pad = 3;
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int arows = ta ? K : M, brows = tb ? N : K;
    float *A = malloc(sizeof(float) * arows * lda), *B = malloc(sizeof(float) * brows * ldb);
    float *C = malloc(sizeof(float) * M * ldc), *R = malloc(sizeof(float) * M * ldc);
    fill(A, (size_t)arows * lda, 1 + M);
    fill(B, (size_t)brows * ldb, 2 + N);
    fill(C, (size_t)M * ldc, 3 + K);
    if (beta == 0.0f) /* beta 0 must ignore C's contents, NaN included */
        for (int i = 0; i < M * ldc; i++) C[i] = NAN;
    for (int i = 0; i < M * ldc; i++) R[i] = C[i];
    if (threads1)
        rt_gemm_1t(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, beta, C, ldc);
    else
        rt_gemm(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, beta, C, ldc);
    rt_gemm_ref(ta, tb, M, N, K, 0.75f, A, lda, B, ldb, beta, R, ldc);
    double maxd = 0.0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double d = fabs((double)C[i * ldc + j] - R[i * ldc + j]);
            if (!(d <= maxd)) maxd = isnan(d) ? INFINITY : (d > maxd ? d : maxd);
        }
    /* padding columns untouched */
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++)
            if (!(C[i * ldc + j] == R[i * ldc + j] ||
                  (isnan(C[i * ldc + j]) && isnan(R[i * ldc + j]))))
                maxd = INFINITY;
    free(A);
    free(B);
    free(C);
    free(R);
    return maxd;
}

START_TEST(test_all_transposes) {
    static const int sizes[][3] = {
        {1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {64, 96, 128}, {130, 77, 259}};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    double worst = 0.0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                for (int bi = 0; bi < 3; bi++)
                    for (int t1 = 0; t1 < 2; t1++) {
                        int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
                        double d = check_case(ta, tb, M, N, K, betas[bi], t1);
                        if (d > worst) worst = d;
                        ck_assert_msg(d <= 1e-4 * (1 + K / 64.0),
                                      "ta=%d tb=%d M=%d N=%d K=%d beta=%g: max |diff| %g", ta, tb,
                                      M, N, K, betas[bi], d);
                    }
    printf("gemm: max |diff| vs reference over all transposes: %.3g\n", worst);
}
END_TEST

START_TEST(test_k_zero) {
    float C[4] = {1, 2, 3, 4};
    rt_gemm(0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, C, 2);
    ck_assert_float_eq(C[3], 2.0f);
    rt_gemm(0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.0f, C, 2);
    ck_assert_float_eq(C[0], 0.0f);
}
END_TEST

int main(void) {
    const char *arch = rt_gemm_setup(2);
    printf("gemm: BLIS kernels '%s', %d threads\n", arch, rt_gemm_threads());
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_all_transposes);
    tcase_add_test(tc, test_k_zero);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
