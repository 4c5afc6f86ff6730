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

/* rows x cols of src (row stride ld) into dense dst (row stride cols). */
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

static void to_bf16(uint16_t *dst, const float *src, int rows, int cols, int ld, int avx) {
    if (avx) {
        to_bf16_avx(dst, src, rows, cols, ld);
        return;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            dst[(size_t)i * cols + j] = bf16_bits(src[(size_t)i * ld + j]);
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
static int g_avx_bf16;
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
    g_avx_bf16 = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") &&
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
    if (w == K_ONEDNN && !(g_avx_bf16 && onednn_init())) {
        fprintf(stderr, "ringtune: RT_BF16_KERNEL=onednn needs AVX512_BF16 (and oneDNN's CPU "
                        "engine): choosing by the CPU\n");
        w = -1;
    }
    if (w < 0) {
        if (amx && g_avx_bf16 && onednn_init())
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
    int ta, tb, M, N, K, ldc, has_beta;
    float alpha, beta;
    dnnl_primitive_t prim;
} prim_entry;

#define PRIM_CACHE 256
static _Thread_local prim_entry t_prims[PRIM_CACHE];
static _Thread_local int t_nprims, t_next;
static _Thread_local dnnl_stream_t t_stream;

static dnnl_primitive_t prim_create(int ta, int tb, int M, int N, int K, float alpha, float beta,
                                    int ldc) {
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t da = {M, K}, db = {K, N}, dc = {M, N};
    dnnl_dims_t sa = {ta ? 1 : K, ta ? M : 1}, sb = {tb ? 1 : N, tb ? K : 1}, sc = {ldc, 1};
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_matmul_desc_t md;
    int ok = dnnl_memory_desc_init_by_strides(&a, 2, da, dnnl_bf16, sa) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&b, 2, db, dnnl_bf16, sb) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&c, 2, dc, dnnl_f32, sc) == dnnl_success &&
             dnnl_matmul_desc_init(&md, &a, &b, NULL, &c) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && alpha != 1.0f)
        ok = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha) == dnnl_success;
    if (ok && beta != 0.0f)
        ok = dnnl_post_ops_create(&po) == dnnl_success &&
             dnnl_post_ops_append_sum(po, beta) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    if (ok) ok = dnnl_primitive_desc_create(&pd, &md, attr, g_engine, NULL) == dnnl_success;
    if (ok && dnnl_primitive_create(&prim, pd) != dnnl_success) prim = NULL;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return prim;
}

static dnnl_primitive_t prim_get(int ta, int tb, int M, int N, int K, float alpha, float beta,
                                 int ldc) {
    for (int i = 0; i < t_nprims; i++) {
        prim_entry *e = &t_prims[i];
        if (e->ta == ta && e->tb == tb && e->M == M && e->N == N && e->K == K && e->ldc == ldc &&
            e->alpha == alpha && e->has_beta == (beta != 0.0f) && e->beta == beta)
            return e->prim;
    }
    dnnl_primitive_t p = prim_create(ta, tb, M, N, K, alpha, beta, ldc);
    if (!p) return NULL;
    prim_entry *e;
    if (t_nprims < PRIM_CACHE) {
        e = &t_prims[t_nprims++];
    } else { /* round robin: a step uses fewer shapes than the cache holds */
        e = &t_prims[t_next];
        t_next = (t_next + 1) % PRIM_CACHE;
        dnnl_primitive_destroy(e->prim);
    }
    *e = (prim_entry){ta, tb, M, N, K, ldc, beta != 0.0f, alpha, beta, p};
    return p;
}

static int onednn_run(dnnl_primitive_t p, const uint16_t *A, const uint16_t *B, float *C, int ta,
                      int tb, int M, int N, int K, int ldc) {
    if (!t_stream &&
        dnnl_stream_create(&t_stream, g_engine, dnnl_stream_default_flags) != dnnl_success)
        return -1;
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t da = {M, K}, db = {K, N}, dc = {M, N};
    dnnl_dims_t sa = {ta ? 1 : K, ta ? M : 1}, sb = {tb ? 1 : N, tb ? K : 1}, sc = {ldc, 1};
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL;
    int ok = dnnl_memory_desc_init_by_strides(&a, 2, da, dnnl_bf16, sa) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&b, 2, db, dnnl_bf16, sb) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&c, 2, dc, dnnl_f32, sc) == dnnl_success &&
             dnnl_memory_create(&ma, &a, g_engine, (void *)A) == dnnl_success &&
             dnnl_memory_create(&mb, &b, g_engine, (void *)B) == dnnl_success &&
             dnnl_memory_create(&mc, &c, g_engine, C) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
        ok = dnnl_primitive_execute(p, t_stream, 3, args) == dnnl_success &&
             dnnl_stream_wait(t_stream) == dnnl_success;
    }
    if (ma) dnnl_memory_destroy(ma);
    if (mb) dnnl_memory_destroy(mb);
    if (mc) dnnl_memory_destroy(mc);
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
        to_bf16(a, A, ar, ac, lda, g_avx_bf16);
        to_bf16(b, B, br, bc, ldb, g_avx_bf16);
        dnnl_primitive_t p = prim_get(ta, tb, M, N, K, alpha, beta, ldc);
        /* oneDNN runs on OpenMP's thread count (one inside a parallel region): make it ours */
        int outer = omp_get_max_threads(), want = one_thread ? 1 : rt_gemm_threads();
        if (!omp_in_parallel() && want != outer) omp_set_num_threads(want);
        int rc = p ? onednn_run(p, a, b, C, ta, tb, M, N, K, ldc) : -1;
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
