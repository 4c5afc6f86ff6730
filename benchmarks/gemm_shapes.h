/* The GEMMs of one GPT-2 training step, with the layouts, transposes and leading dimensions
   compute/gpt2.c and compute/layers.c use (bench_gemm, bench_sbgemm): per linear the forward and
   both backward products, the LM head's three, and the per-(batch, head) attention products. */
#pragma once
#include <stddef.h>

#define GEMM_MAX_SHAPES 32

typedef struct {
    const char *name;
    int L, C, NH, F, V, B, T;
} model;

/* Attention products: each is B*NH calls of rt_gemm_1t over strided views (see run_attn). */
enum { LINEAR, SCORES_FWD, VALUES_FWD, VALUES_DV, VALUES_DP, SCORES_DQ, SCORES_DK };

typedef struct {
    const char *layer, *pass, *product;
    int op; /* LINEAR or an attention product */
    int ta, tb, m, n, k, lda, ldb, ldc;
    float alpha, beta;
    int batch; /* calls per product: 1, or B*NH for attention */
    int calls; /* products per training step */
} shape;

/* 2 m n k batch. */
double shape_flops(const shape *s);
/* A product of the step: alpha 1, beta 0 unless the caller changes them. */
shape mk(const char *layer, const char *pass, const char *product, int op, int ta, int tb, int m,
         int n, int k, int lda, int ldb, int ldc, int batch, int calls);
/* The step's GEMMs of md in the order gpt2.c runs them into s (at most GEMM_MAX_SHAPES);
   returns how many. */
int build_shapes(const model *md, shape *s);

/* A shape's operands: LINEAR's a, b, c, or the attention's views (as rt_attention_forward /
   _backward use them), filled with small values; NULL where unused. */
typedef struct {
    float *a, *b, *c;                      /* LINEAR operands */
    float *qkv, *dqkv, *att, *y, *scratch; /* attention: (B,T,3C) x2, (B,NH,T,T), (B,T,C) */
    int scratch_threads;
} buffers;

/* Exits with a message when out of memory (a benchmark has nothing to fall back to). */
void buffers_alloc(buffers *b, const shape *s, const model *md, int threads);
void buffers_free(buffers *b);

/* The GEMM a benchmark times: rt_gemm's contract, on one thread when one_thread (the attention
   products, called from an OpenMP loop over the heads). */
typedef void (*gemm_fn)(void *ctx, int one_thread, int ta, int tb, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C,
                        int ldc);
/* One product of shape s through fn: LINEAR once, an attention product for every (batch, head). */
void run_shape(const shape *s, const model *md, buffers *b, gemm_fn fn, void *ctx);
