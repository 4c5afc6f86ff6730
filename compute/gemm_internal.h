/* Shared by gemm.c and gemm_bf16.c: the BLIS sgemm path whatever the precision setting. */
#pragma once

/* rt_gemm's contract through BLIS, on one thread when one_thread, else rt_gemm_threads(). */
void rt_gemm_fp32(int one_thread, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);
