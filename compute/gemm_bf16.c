/* bf16 products with fp32 accumulation (compute/gemm.h, "bf16 compute mode").

   Kernels (rt_gemm_bf16_kernel), chosen by CPU features, RT_BF16_KERNEL overriding:
   - "own": ringtune's VDPBF16PS kernel (compute/sbgemm.c), rounding while it packs. Chosen on
     CPUs with AVX512_BF16 by measurement: over the GEMMs of a GPT-2 124M step (bench_sbgemm,
     1 thread, the 2-core AVX512_BF16 development machine) it took 4.09 s against oneDNN's 4.40 s
     and BLIS sgemm's 8.71 s (2.13x and 1.93x BLIS); oneDNN was faster on 2 of the 21 products.
   - "onednn": oneDNN's matmul (Debian's libdnnl 2.6; brgemm with VDPBF16PS, or AMX tiles where
     the CPU has them). A and B are rounded to bf16 into per-thread scratch (same layout, dense),
     then one cached primitive computes C = alpha A B + beta C. Chosen on CPUs with AMX-BF16,
     whose tile instructions oneDNN uses and the own kernel does not (not measured here: the
     development machine has no AMX).
   - "emulated": a CPU without AVX512_BF16: A and B rounded to bf16 into fp32 scratch, then BLIS
     sgemm. The same products (a product of two bf16 values is exact in fp32) at fp32 speed, so
     results differ from the others only in the order of the fp32 sums.
   All round fp32 to bf16 to nearest even, as torch's float -> bfloat16 conversion does (the
   AVX512_BF16 conversions treat fp32 denormals as zero). */
#include <cpuid.h>
#include <math.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "gemm.h"
#include "gemm_internal.h"
#include "sbgemm.h"

/* ---- rounding ---------------------------------------------------------------------------- */

static inline uint16_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float rt_bf16_round(float x) {
    uint32_t u = (uint32_t)bf16_bits(x) << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#include <immintrin.h>

/* rows x cols of src (row stride ld) into dense bf16 dst (row stride cols). */
BF16_TARGET static void to_bf16_avx(uint16_t *dst, const float *src, int rows, int cols, int ld) {
    for (int i = 0; i < rows; i++) {
        const float *s = src + (size_t)i * ld;
        uint16_t *d = dst + (size_t)i * cols;
        int j = 0;
        for (; j + 32 <= cols; j += 32) {
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + j + 16), _mm512_loadu_ps(s + j));
            _mm512_storeu_si512((void *)(d + j), (__m512i)v);
        }
        if (j < cols) {
            int n = cols - j;
            __mmask16 lo = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1u);
            __mmask16 hi = (__mmask16)(n <= 16 ? 0 : (1u << (n - 16)) - 1u);
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, s + j + 16),
                                             _mm512_maskz_loadu_ps(lo, s + j));
            _mm512_mask_storeu_epi16(d + j, (__mmask32)(((uint64_t)1 << n) - 1u), (__m512i)v);
        }
    }
}

static void to_bf16_f32(float *dst, const float *src, int rows, int cols, int ld) {
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            dst[(size_t)i * cols + j] = rt_bf16_round(src[(size_t)i * ld + j]);
}

/* ---- per-thread scratch ------------------------------------------------------------------ */

typedef struct {
    void *p;
    size_t bytes;
} scratch;

static _Thread_local scratch t_a, t_b;

static void *scratch_get(scratch *s, size_t bytes) {
    if (s->bytes < bytes) {
        void *p = realloc(s->p, bytes);
        if (!p) return NULL;
        s->p = p;
        s->bytes = bytes;
    }
    return s->p;
}

/* ---- kernel choice ----------------------------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
enum { K_EMULATED, K_ONEDNN, K_OWN };
static int g_kernel;
static dnnl_engine_t g_engine;
static const char *const kernel_names[] = {"emulated", "onednn", "own"};

/* AMX-BF16 (CPUID.(EAX=7,ECX=0):EDX bit 22), read directly: not every compiler's
   __builtin_cpu_supports knows the feature. oneDNN asks the kernel for the tile state itself. */
static int cpu_has_amx_bf16(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 22 & 1u);
}

static int onednn_init(void) {
    return dnnl_engine_create(&g_engine, dnnl_cpu, 0) == dnnl_success;
}

static void choose_kernel(void) {
    __builtin_cpu_init();
    int avx_bf16 = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl");
    int amx = cpu_has_amx_bf16();
    const char *want = getenv("RT_BF16_KERNEL");
    int w = -1;
    for (int k = 0; want && k < 3; k++)
        if (strcmp(want, kernel_names[k]) == 0) w = k;
    if (want && w < 0)
        fprintf(stderr,
                "ringtune: RT_BF16_KERNEL=%s is not a bf16 kernel (own, onednn, "
                "emulated): choosing by the CPU\n",
                want);
    if (w == K_OWN && !rt_sbgemm_available()) {
        fprintf(stderr, "ringtune: RT_BF16_KERNEL=own needs AVX512_BF16, which this CPU lacks: "
                        "choosing by the CPU\n");
        w = -1;
    }
    if (w == K_ONEDNN && !(avx_bf16 && onednn_init())) {
        fprintf(stderr, "ringtune: RT_BF16_KERNEL=onednn needs AVX512_BF16 (and oneDNN's CPU "
                        "engine): choosing by the CPU\n");
        w = -1;
    }
    if (w < 0) {
        if (amx && avx_bf16 && onednn_init())
            w = K_ONEDNN;
        else if (rt_sbgemm_available())
            w = K_OWN;
        else
            w = K_EMULATED;
        if (w == K_EMULATED)
            fprintf(stderr, "ringtune: this CPU has no AVX512_BF16: bf16 products are emulated "
                            "(rounded to bf16, multiplied in fp32) at fp32 speed\n");
    }
    g_kernel = w;
}

const char *rt_gemm_bf16_kernel(void) {
    pthread_once(&g_once, choose_kernel);
    return kernel_names[g_kernel];
}

/* ---- oneDNN matmul primitives, cached per thread ----------------------------------------- */

typedef struct {
    int ta, tb, M, N, K, ldc;
    float alpha, beta;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c; /* made once per shape; each call points them at its buffers */
} prim_entry;

#define PRIM_CACHE 256
static _Thread_local prim_entry t_prims[PRIM_CACHE];
static _Thread_local int t_nprims, t_next;
static _Thread_local dnnl_stream_t t_stream;

/* The operands' descriptors: A [M,K] and B [K,N] bf16, dense in their stored layout (transposed
   ones by strides), C fp32 with row stride ldc. */
static int descs(const prim_entry *e, dnnl_memory_desc_t *a, dnnl_memory_desc_t *b,
                 dnnl_memory_desc_t *c) {
    int ta = e->ta, tb = e->tb, M = e->M, N = e->N, K = e->K;
    dnnl_dims_t da = {M, K}, db = {K, N}, dc = {M, N};
    dnnl_dims_t sa = {ta ? 1 : K, ta ? M : 1}, sb = {tb ? 1 : N, tb ? K : 1}, sc = {e->ldc, 1};
    return dnnl_memory_desc_init_by_strides(a, 2, da, dnnl_bf16, sa) == dnnl_success &&
           dnnl_memory_desc_init_by_strides(b, 2, db, dnnl_bf16, sb) == dnnl_success &&
           dnnl_memory_desc_init_by_strides(c, 2, dc, dnnl_f32, sc) == dnnl_success;
}

static void entry_destroy(prim_entry *e) {
    if (e->prim) dnnl_primitive_destroy(e->prim);
    if (e->a) dnnl_memory_destroy(e->a);
    if (e->b) dnnl_memory_destroy(e->b);
    if (e->c) dnnl_memory_destroy(e->c);
    memset(e, 0, sizeof *e);
}

/* The primitive C = alpha A B + beta C of e's shape and its memory objects; 0 on failure (e
   then holds nothing). */
static int entry_create(prim_entry *e) {
    dnnl_memory_desc_t a, b, c;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_matmul_desc_t md;
    int ok = descs(e, &a, &b, &c) && dnnl_matmul_desc_init(&md, &a, &b, NULL, &c) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && e->alpha != 1.0f)
        ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &e->alpha) == dnnl_success;
    if (ok && e->beta != 0.0f)
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_sum(po, e->beta) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pd, &md, attr, g_engine, NULL) == dnnl_success &&
         dnnl_primitive_create(&e->prim, pd) == dnnl_success &&
         dnnl_memory_create(&e->a, &a, g_engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&e->b, &b, g_engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&e->c, &c, g_engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) entry_destroy(e);
    return ok;
}

/* This thread's cached entry of the shape, made on first use; NULL when oneDNN refused it. */
static prim_entry *prim_get(int ta, int tb, int M, int N, int K, float alpha, float beta, int ldc) {
    for (int i = 0; i < t_nprims; i++) {
        prim_entry *e = &t_prims[i];
        if (e->ta == ta && e->tb == tb && e->M == M && e->N == N && e->K == K && e->ldc == ldc &&
            e->alpha == alpha && e->beta == beta)
            return e;
    }
    prim_entry *e;
    if (t_nprims < PRIM_CACHE) {
        e = &t_prims[t_nprims++];
    } else { /* round robin: a step uses fewer shapes than the cache holds */
        e = &t_prims[t_next];
        t_next = (t_next + 1) % PRIM_CACHE;
        entry_destroy(e);
    }
    *e = (prim_entry){ta, tb, M, N, K, ldc, alpha, beta, NULL, NULL, NULL, NULL};
    return entry_create(e) ? e : NULL;
}

static int onednn_run(prim_entry *e, const uint16_t *A, const uint16_t *B, float *C) {
    if (!t_stream &&
        dnnl_stream_create(&t_stream, g_engine, dnnl_stream_default_flags) != dnnl_success)
        return -1;
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
    int ok = dnnl_memory_set_data_handle(e->a, (void *)A) == dnnl_success &&
             dnnl_memory_set_data_handle(e->b, (void *)B) == dnnl_success &&
             dnnl_memory_set_data_handle(e->c, C) == dnnl_success &&
             dnnl_primitive_execute(e->prim, t_stream, 3, args) == dnnl_success &&
             dnnl_stream_wait(t_stream) == dnnl_success;
    return ok ? 0 : -1;
}

/* ---- the product ------------------------------------------------------------------------- */

static void fail(const char *what, int M, int N, int K) {
    fprintf(stderr, "ringtune: bf16 GEMM %dx%dx%d: %s\n", M, N, K, what);
    abort();
}

void rt_gemm_bf16(int one_thread, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        rt_gemm_fp32(one_thread, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    pthread_once(&g_once, choose_kernel);
    /* A and B as stored: A is M x K (K x M when transposed), B K x N (N x K). */
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    size_t na = (size_t)ar * ac, nb = (size_t)br * bc;
    if (g_kernel == K_OWN) {
        rt_sbgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                  one_thread ? 1 : rt_gemm_threads());
        return;
    }
    if (g_kernel == K_ONEDNN) {
        uint16_t *a = scratch_get(&t_a, na * sizeof *a), *b = scratch_get(&t_b, nb * sizeof *b);
        if (!a || !b) fail("out of memory for the bf16 operands", M, N, K);
        to_bf16_avx(a, A, ar, ac, lda); /* oneDNN runs only where AVX512_BF16 is */
        to_bf16_avx(b, B, br, bc, ldb);
        prim_entry *p = prim_get(ta, tb, M, N, K, alpha, beta, ldc);
        /* oneDNN runs on OpenMP's thread count (one inside a parallel region): make it ours */
        int outer = omp_get_max_threads(), want = one_thread ? 1 : rt_gemm_threads();
        if (!omp_in_parallel() && want != outer) omp_set_num_threads(want);
        int rc = p ? onednn_run(p, a, b, C) : -1;
        if (!omp_in_parallel() && want != outer) omp_set_num_threads(outer);
        if (rc != 0) fail("oneDNN refused the matmul", M, N, K);
        return;
    }
    float *a = scratch_get(&t_a, na * sizeof *a), *b = scratch_get(&t_b, nb * sizeof *b);
    if (!a || !b) fail("out of memory for the bf16 operands", M, N, K);
    to_bf16_f32(a, A, ar, ac, lda);
    to_bf16_f32(b, B, br, bc, ldb);
    rt_gemm_fp32(one_thread, ta, tb, M, N, K, alpha, a, ac, b, bc, beta, C, ldc);
}
