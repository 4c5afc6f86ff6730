/* BLIS binding. Row-major operands are passed as BLIS general-stride matrices (rs = ld, cs = 1),
   so op(A) = A^T is only a flag: no copy, and BLIS packs as it would anyway. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "gemm.h"
#include <blis.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "arena.h"
#include "gemm_internal.h"

static int g_threads = 1;
static int g_ready = 0;
static rntm_t g_rntm_n, g_rntm_1;

const char *rt_gemm_setup(int nthreads) {
    if (!g_ready) {
        if (!getenv("BLIS_ARCH_TYPE")) {
            __builtin_cpu_init();
            if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
                /* The index of "skx" differs between BLIS versions: look it up by name.
                   bli_arch_string only reads a table; it does not initialise BLIS. */
                for (int i = 0; i < BLIS_NUM_ARCHS; i++)
                    if (strcmp(bli_arch_string((arch_t)i), "skx") == 0) {
                        char buf[16];
                        snprintf(buf, sizeof buf, "%d", i);
                        setenv("BLIS_ARCH_TYPE", buf, 0);
                        break;
                    }
            }
        }
        bli_init(); /* querying the arch before bli_init with BLIS_ARCH_TYPE set aborts (0.9) */
        g_ready = 1;
    }
    if (nthreads <= 0) {
        const char *e = getenv("BLIS_NUM_THREADS");
        if (!e) e = getenv("OMP_NUM_THREADS");
        nthreads = e ? atoi(e) : 0;
        if (nthreads <= 0) {
            /* The cores this process may run on: all of them for a lone process, one for an MPI
               rank that mpirun bound to a core. */
            cpu_set_t set;
            nthreads = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
            if (nthreads <= 0) nthreads = 1;
        }
    }
    g_threads = nthreads;
    bli_rntm_init(&g_rntm_n);
    bli_rntm_set_num_threads(nthreads, &g_rntm_n);
    bli_rntm_init(&g_rntm_1);
    bli_rntm_set_num_threads(1, &g_rntm_1);
    return bli_arch_string(bli_arch_query_id());
}

int rt_gemm_threads(void) {
    return g_threads;
}

const char *rt_gemm_arch(void) {
    if (!g_ready) rt_gemm_setup(0);
    return bli_arch_string(bli_arch_query_id());
}

static void gemm_rntm(rntm_t *rntm, int ta, int tb, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta*C, with beta == 0 meaning overwrite */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    if (!g_ready) rt_gemm_setup(0);
    /* Dimensions of A and B as stored: A is m x k (or k x m when transposed). */
    dim_t am = ta ? K : M, an = ta ? M : K;
    dim_t bm = tb ? N : K, bn = tb ? K : N;
    obj_t a, b, c, al, be;
    bli_obj_create_with_attached_buffer(BLIS_FLOAT, am, an, (void *)A, lda, 1, &a);
    bli_obj_create_with_attached_buffer(BLIS_FLOAT, bm, bn, (void *)B, ldb, 1, &b);
    bli_obj_create_with_attached_buffer(BLIS_FLOAT, M, N, C, ldc, 1, &c);
    if (ta) bli_obj_toggle_trans(&a);
    if (tb) bli_obj_toggle_trans(&b);
    bli_obj_scalar_init_detached(BLIS_FLOAT, &al);
    bli_obj_scalar_init_detached(BLIS_FLOAT, &be);
    bli_setsc(alpha, 0.0, &al);
    bli_setsc(beta, 0.0, &be);
    bli_gemm_ex(&al, &a, &b, &be, &c, NULL, rntm);
}

void rt_gemm_fp32(int one_thread, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (!g_ready) rt_gemm_setup(0);
    rntm_t r = one_thread ? g_rntm_1 : g_rntm_n; /* BLIS writes into the rntm: a copy per call */
    gemm_rntm(&r, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static rt_precision g_precision = RT_PRECISION_FP32;

const char *rt_gemm_set_precision(rt_precision p) {
    g_precision = p;
    return p == RT_PRECISION_BF16 ? rt_gemm_bf16_kernel() : "blis";
}

rt_precision rt_gemm_precision(void) {
    return g_precision;
}

const char *rt_gemm_describe(void) {
    if (g_precision == RT_PRECISION_FP32) return "fp32 products";
    const char *k = rt_gemm_bf16_kernel();
    return strcmp(k, "own") == 0      ? "bf16 products (ringtune's AVX512_BF16 kernel) with fp32 "
                                        "accumulation"
           : strcmp(k, "onednn") == 0 ? "bf16 products (oneDNN matmul) with fp32 accumulation"
                                      : "bf16 products emulated in fp32 (bf16-rounded operands "
                                        "through BLIS)";
}

/* rt_gemm and rt_gemm_1t: the precision setting picks the path. */
static void gemm_dispatch(int one_thread, int ta, int tb, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb, float beta, float *C,
                          int ldc) {
    if (g_precision == RT_PRECISION_BF16)
        rt_gemm_bf16(one_thread, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        rt_gemm_fp32(one_thread, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void rt_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    gemm_dispatch(0, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void rt_gemm_1t(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc) {
    gemm_dispatch(1, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void rt_gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

static double gemm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int rt_gemm_peak(int n, int reps, double *gflops) {
    size_t nn = (size_t)n * n;
    float *A = rt_alloc_floats(nn), *B = rt_alloc_floats(nn), *C = rt_alloc_floats(nn);
    int rc = -1;
    if (A && B && C) {
        for (size_t i = 0; i < nn; i++) {
            A[i] = (float)(i % 7) * 0.1f;
            B[i] = (float)(i % 5) * 0.1f;
        }
        rt_gemm(0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
        for (int r = 0; r < reps; r++) {
            double t = gemm_now();
            rt_gemm(0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
            gflops[r] = 2.0 * n * n * (double)n / (gemm_now() - t) / 1e9;
        }
        rc = 0;
    }
    rt_free_floats(&A);
    rt_free_floats(&B);
    rt_free_floats(&C);
    return rc;
}
