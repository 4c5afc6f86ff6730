/* bf16 GEMM with fp32 accumulation on AVX512_BF16 (VDPBF16PS): ringtune's own kernel, a candidate
   for a bf16 compute mode. Same row-major contract as rt_gemm (gemm.h); see sbgemm.c. */
#pragma once

/* 1 when this CPU runs rt_sbgemm's AVX512_BF16 kernel (checked once with cpuid /
   __builtin_cpu_supports). */
int rt_sbgemm_available(void);

/* C[M,N] (row stride ldc) = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, the same row-major
   contract as rt_gemm in gemm.h (A stored [M,K] with lda >= K when !ta, [K,M] with lda >= M when
   ta; likewise B; beta == 0 ignores what C held, NaNs included), but A and B are rounded to
   bfloat16 (round to nearest even, as torch's float->bfloat16 conversion; the instruction treats
   fp32 denormals as zero) while being packed and the products are accumulated in fp32.
   nthreads >= 1 threads (OpenMP) split the work; nthreads == 1 runs on the calling thread and is
   safe to call from inside an OpenMP parallel region. Must not be called when
   rt_sbgemm_available() is 0. */
void rt_sbgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc, int nthreads);
