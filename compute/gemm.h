/* Row-major SGEMM over BLIS: C = alpha * op(A) * op(B) + beta * C, transposes expressed as strides
   (no copies). rt_gemm_setup picks BLIS's AVX-512 kernels where the CPU has them. */
#pragma once

/* Must run before any other BLIS use in the process and before threads are started. When the
   user has not set BLIS_ARCH_TYPE and the CPU has AVX-512 F/DQ/BW/VL, selects BLIS's "skx"
   kernels (BLIS 0.9 auto-detection falls back to AVX2 "haswell" on many such CPUs).
   nthreads: BLIS threads per GEMM call (<= 0: BLIS_NUM_THREADS, else OMP_NUM_THREADS, else the
   number of cores in this process's affinity mask).
   Returns the active kernel set's name (e.g. "skx"). Idempotent. */
const char *rt_gemm_setup(int nthreads);
int rt_gemm_threads(void);
/* The active kernel set's name (sets BLIS up with defaults when rt_gemm_setup was not called). */
const char *rt_gemm_arch(void);

/* Precision of the products of rt_gemm and rt_gemm_1t, process-wide (default fp32: BLIS sgemm).
   RT_PRECISION_BF16 is the bf16 compute mode (torch.autocast's matmuls): A and B are rounded to
   bfloat16 (to nearest even) and multiplied with fp32 accumulation into the fp32 C; alpha, beta
   and C stay fp32. Set it before any thread computes (it is read, never locked, by every call).
   Returns the kernel that now runs the products: "blis" for fp32; for bf16 "own" (ringtune's
   VDPBF16PS kernel, compute/sbgemm.h, on a CPU with AVX512_BF16), "onednn" (oneDNN's matmul, on
   a CPU with AMX-BF16) or "emulated" (bf16-rounded operands through BLIS sgemm, the same
   products at fp32 speed, with a one-line notice on stderr the first time); compute/gemm_bf16.c
   says why. RT_BF16_KERNEL=own|onednn|emulated overrides the choice. */
typedef enum { RT_PRECISION_FP32 = 0, RT_PRECISION_BF16 = 1 } rt_precision;
const char *rt_gemm_set_precision(rt_precision p);
rt_precision rt_gemm_precision(void);
/* What runs the products now, in words for a banner ("fp32 products", "bf16 products (...)"). */
const char *rt_gemm_describe(void);
/* The kernel bf16 products use on this CPU ("own", "onednn" or "emulated"); chooses it on the
   first call. */
const char *rt_gemm_bf16_kernel(void);
/* x rounded to the nearest bfloat16 (ties to even; NaN stays NaN), as a float. */
float rt_bf16_round(float x);
/* One bf16 product whatever the precision setting (tests, benchmarks): rt_gemm's contract, on one
   thread when one_thread (safe inside an OpenMP parallel region), else on rt_gemm_threads(). */
void rt_gemm_bf16(int one_thread, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* C[M,N] (row stride ldc) = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
   A is stored row-major as [M,K] (lda >= K) when !ta, as [K,M] (lda >= M) when ta; likewise B.
   beta == 0 ignores what C held (NaNs included). Uses the configured thread count. */
void rt_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
/* Same with one BLIS thread, for calls made from inside an OpenMP parallel loop. */
void rt_gemm_1t(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                const float *B, int ldb, float beta, float *C, int ldc);

/* The sustained sgemm rate (GFLOPS) of reps n x n x n products through rt_gemm, after one untimed
   call, into gflops[0..reps): the peak MFU is measured against is their maximum (noise only lowers
   it). Returns 0, or -1 when out of memory. */
int rt_gemm_peak(int n, int reps, double *gflops);

/* Naive triple loop with the same contract (double accumulation): the tests' reference. */
void rt_gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
