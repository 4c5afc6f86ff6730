/* rt_sbgemm (compute/sbgemm.c, bf16 inputs, fp32 accumulation) against a double-precision
   reference on the bf16-rounded inputs, and its float -> bfloat16 rounding against torch's
   round-to-nearest-even.

   The bound: with A and B rounded to bf16 the products a*b are exact in fp32 (8 + 8 significant
   bits), so the only errors are the fp32 additions. Each output is a chain of at most K
   additions inside VDPBF16PS (2 per k pair), plus per K block one rounding of alpha * acc and
   one of the sum with beta * C; with at least one k pair per block that is at most
   K + 2 * K + 2 roundings, each of relative size <= u = 2^-24 of a partial sum bounded by
   S = |alpha| * sum_k |a_ik| |b_kj| + |beta| |c_ij| (the standard gamma_n bound, n u < 1). So
   |C - R| <= (3K + 2) u S / (1 - (3K + 2) u); the test asserts that, and prints the largest
   |C - R| / S seen (typically ~sqrt(K) u: the rounding errors do not all line up). fp32 denormals
   are flushed by the instruction; the inputs here stay far away from them.

   Skipped (passes with a notice) where the CPU has no AVX512_BF16. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "sbgemm.h"

static double g_worst; /* largest |C - R| / S over the GEMM cases */

/* torch's float -> bfloat16 (c10::round_to_nearest_even), returned as the float it stands for. */
static float bf16_ref(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if (isnan(x))
        u = (u & 0x80000000u) | 0x7fc00000u;
    else
        u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    float y;
    memcpy(&y, &u, 4);
    return y;
}

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = ((seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
}

/* One product with padded leading dimensions: returns max |C - R| / S and fails the test when it
   exceeds the bound, or when a padding element of C changed. */
static double check_case(int ta, int tb, int M, int N, int K, float alpha, float beta, int pad,
                         int threads) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4), *R = malloc(nc * 4);
    float *Ar = malloc(na * 4), *Br = malloc(nb * 4), *Aa = malloc(na * 4), *Ba = malloc(nb * 4);
    float *S = malloc(nc * 4);
    ck_assert(A && B && C && R && Ar && Br && Aa && Ba && S);
    fill(A, na, 11u + (unsigned)M);
    fill(B, nb, 23u + (unsigned)N);
    fill(C, nc, 37u + (unsigned)K);
    if (beta == 0.0f) /* beta 0 must ignore C's contents, NaN included */
        for (size_t i = 0; i < nc; i++) C[i] = NAN;
    for (size_t i = 0; i < na; i++) Aa[i] = fabsf(Ar[i] = bf16_ref(A[i]));
    for (size_t i = 0; i < nb; i++) Ba[i] = fabsf(Br[i] = bf16_ref(B[i]));
    for (size_t i = 0; i < nc; i++) {
        R[i] = C[i];
        S[i] = beta == 0.0f ? 0.0f : fabsf(beta * C[i]);
    }
    rt_sbgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
    rt_gemm_ref(ta, tb, M, N, K, alpha, Ar, lda, Br, ldb, beta, R, ldc);
    /* S = |alpha| |A| |B| + |beta C| */
    rt_gemm_ref(ta, tb, M, N, K, fabsf(alpha), Aa, lda, Ba, ldb, 1.0f, S, ldc);
    double u = ldexp(1.0, -24), n = 3.0 * K + 2, bound = n * u / (1 - n * u), worst = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            size_t e = (size_t)i * ldc + j;
            double d = fabs((double)C[e] - R[e]), s = S[e] > 0 ? S[e] : 1e-30;
            ck_assert_msg(
                d <= bound * s + 1e-37,
                "ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g threads=%d: C[%d,%d] = %.9g, "
                "reference %.9g, |diff| %.3g > bound %.3g",
                ta, tb, M, N, K, alpha, beta, threads, i, j, C[e], R[e], d, bound * s);
            if (d / s > worst) worst = d / s;
        }
        for (int j = N; j < ldc; j++) { /* padding untouched */
            size_t e = (size_t)i * ldc + j;
            ck_assert_msg(C[e] == R[e] || (isnan(C[e]) && isnan(R[e])), "padding C[%d,%d] changed",
                          i, j);
        }
    }
    if (worst > g_worst) g_worst = worst;
    free(A);
    free(B);
    free(C);
    free(R);
    free(Ar);
    free(Br);
    free(Aa);
    free(Ba);
    free(S);
    return worst;
}

#define SKIP_WITHOUT_BF16()                                                                        \
    do {                                                                                           \
        if (!rt_sbgemm_available()) {                                                              \
            printf("sbgemm: this CPU has no AVX512_BF16: %s skipped\n", __func__);                 \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Every transpose combination, odd sizes, K = 1, sizes around and past the blocking (micro-tiles
   6 x 64, K split into equal blocks of at most 1024, M blocks of 144, N blocks of 3072), alpha !=
   1, beta 0 over NaN, 1 and 0.5, leading dimensions above the minimum. */
START_TEST(test_transposes_sizes) {
    SKIP_WITHOUT_BF16();
    static const int sizes[][3] = {{1, 1, 1},      {7, 5, 3},     {13, 65, 1},   {33, 17, 65},
                                   {6, 64, 2},     {145, 130, 9}, {64, 96, 128}, {130, 77, 259},
                                   {37, 200, 769}, {5, 3, 1537},  {9, 70, 2501}, {150, 3100, 31}};
    static const float betas[] = {0.0f, 1.0f, 0.5f};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                for (int bi = 0; bi < 3; bi++) {
                    int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
                    check_case(ta, tb, M, N, K, bi == 1 ? 1.0f : -0.75f, betas[bi],
                               (int)(s % 3) * 5, 1);
                }
    printf("sbgemm: max |C - R| / (|alpha| |A| |B| + |beta C|) over all transposes: %.3g "
           "(%.2f u)\n",
           g_worst, g_worst / ldexp(1.0, -24));
}
END_TEST

/* Two threads split the work (by rows, or by columns when N has more micro-tiles), also from
   inside an OpenMP parallel region with nthreads 1 per call. */
START_TEST(test_threads) {
    SKIP_WITHOUT_BF16();
    double w = 0, d;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            d = check_case(ta, tb, 301, 77, 400, 0.5f, 0.0f, 3, 2); /* rows */
            if (d > w) w = d;
            d = check_case(ta, tb, 20, 700, 129, 1.0f, 1.0f, 1, 2); /* columns */
            if (d > w) w = d;
            d = check_case(ta, tb, 5, 7, 9, 1.0f, 0.0f, 0, 2); /* fewer tiles than threads */
            if (d > w) w = d;
        }
    /* per-head calls from an OpenMP loop, as the attention runs them */
    int T = 96, hs = 16, H = 4, ld = H * hs;
    float *Q = malloc(sizeof(float) * T * ld), *K = malloc(sizeof(float) * T * ld);
    float *P = malloc(sizeof(float) * H * T * T), *R = malloc(sizeof(float) * T * T);
    ck_assert(Q && K && P && R);
    fill(Q, (size_t)T * ld, 5);
    fill(K, (size_t)T * ld, 6);
    for (int i = 0; i < T * ld; i++) {
        Q[i] = bf16_ref(Q[i]);
        K[i] = bf16_ref(K[i]);
    }
#pragma omp parallel for num_threads(2)
    for (int h = 0; h < H; h++)
        rt_sbgemm(0, 1, T, T, hs, 0.25f, Q + h * hs, ld, K + h * hs, ld, 0.0f,
                  P + (size_t)h * T * T, T, 1);
    for (int h = 0; h < H; h++) {
        rt_gemm_ref(0, 1, T, T, hs, 0.25f, Q + h * hs, ld, K + h * hs, ld, 0.0f, R, T);
        for (int i = 0; i < T * T; i++)
            ck_assert_msg(fabsf(P[(size_t)h * T * T + i] - R[i]) <= 1e-5f, "head %d [%d]", h, i);
    }
    free(Q);
    free(K);
    free(P);
    free(R);
    printf("sbgemm: 2 threads: max |C - R| / S %.3g\n", w);
}
END_TEST

/* K = 0 or alpha = 0: C = beta C (beta 0: zeros, whatever C held). */
START_TEST(test_degenerate) {
    SKIP_WITHOUT_BF16();
    float C[4] = {1, 2, 3, NAN};
    rt_sbgemm(0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, C, 2, 1);
    ck_assert_float_eq(C[2], 1.5f);
    rt_sbgemm(0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.0f, C, 2, 1);
    ck_assert_float_eq(C[3], 0.0f);
    float A[2] = {1, 2}, B[2] = {3, 4};
    C[0] = 7;
    rt_sbgemm(0, 0, 1, 1, 2, 0.0f, A, 2, B, 1, 1.0f, C, 1, 1);
    ck_assert_float_eq(C[0], 7.0f);
}
END_TEST

/* The float -> bfloat16 rounding, seen through 1 x 1 x 1 products x * 1 (exact in fp32), for
   every packing path (A and B, transposed or not): known values, then random bit patterns
   against torch's formula. */
static void round_through(int path, const float *x, float *y, int n) {
    static const float one = 1.0f;
    for (int i = 0; i < n; i++) {
        int ta = path & 1, tb = (path >> 1) & 1, a_is_x = path >> 2;
        rt_sbgemm(ta, tb, 1, 1, 1, 1.0f, a_is_x ? &x[i] : &one, 1, a_is_x ? &one : &x[i], 1, 0.0f,
                  &y[i], 1, 1);
    }
}

START_TEST(test_rounding) {
    SKIP_WITHOUT_BF16();
    const float t = ldexpf(1.0f, -8); /* half an ulp of bf16 at 1 */
    const float in[] = {1.0f,
                        1.0f + t,               /* tie: to even, 1 */
                        1.0f + 3 * t,           /* tie: to even, 1 + 2^-6 */
                        1.0f + t + t / 4096,    /* above the tie: 1 + 2^-7 */
                        -(1.0f + 3 * t),        /* sign kept */
                        from_bits(0x7f7fffffu), /* FLT_MAX rounds to inf */
                        INFINITY,
                        -INFINITY,
                        0.1f,
                        -3.14159265f};
    const float want[] = {1.0f,
                          1.0f,
                          1.0f + ldexpf(1.0f, -6),
                          1.0f + ldexpf(1.0f, -7),
                          -(1.0f + ldexpf(1.0f, -6)),
                          INFINITY,
                          INFINITY,
                          -INFINITY,
                          from_bits(0x3dcd0000u),
                          from_bits(0xc0490000u)};
    int n = (int)(sizeof in / sizeof in[0]);
    float out[16];
    for (int path = 0; path < 8; path++) {
        round_through(path, in, out, n);
        for (int i = 0; i < n; i++)
            ck_assert_msg(out[i] == want[i], "path %d: bf16(%.9g) = %.9g, want %.9g", path, in[i],
                          out[i], want[i]);
        float nan_in = NAN, nan_out = 0;
        round_through(path, &nan_in, &nan_out, 1);
        ck_assert_msg(isnan(nan_out), "path %d: NaN became %g", path, nan_out);
    }
    /* random normal numbers, one row of 1000 through the vector packing (B not transposed) */
    enum { NR = 1000 };
    float *x = malloc(sizeof(float) * NR), *y = malloc(sizeof(float) * NR), one = 1.0f;
    ck_assert(x && y);
    unsigned seed = 99;
    for (int i = 0; i < NR; i++) {
        uint32_t u;
        do {
            seed = seed * 1103515245u + 12345u;
            u = seed ^ (seed << 13);
        } while (((u >> 23) & 0xff) < 2 || ((u >> 23) & 0xff) > 253);
        x[i] = from_bits(u);
    }
    rt_sbgemm(0, 0, 1, NR, 1, 1.0f, &one, 1, x, NR, 0.0f, y, NR, 1);
    for (int i = 0; i < NR; i++)
        ck_assert_msg(y[i] == bf16_ref(x[i]), "bf16(%a) = %a, torch %a", x[i], y[i],
                      bf16_ref(x[i]));
    rt_sbgemm(0, 1, NR, 1, 1, 1.0f, x, 1, &one, 1, 0.0f, y, 1, 1); /* A not transposed */
    for (int i = 0; i < NR; i++)
        ck_assert_msg(y[i] == bf16_ref(x[i]), "bf16(%a) = %a, torch %a", x[i], y[i],
                      bf16_ref(x[i]));
    free(x);
    free(y);
    printf("sbgemm: rounding matches round-to-nearest-even on %d values\n", NR + n + 1);
}
END_TEST

int main(void) {
    rt_gemm_setup(2);
    printf("sbgemm: AVX512_BF16 %s\n", rt_sbgemm_available() ? "available" : "not available");
    Suite *s = suite_create("sbgemm");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_transposes_sizes);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_degenerate);
    tcase_add_test(tc, test_rounding);
    tcase_set_timeout(tc, 240);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
