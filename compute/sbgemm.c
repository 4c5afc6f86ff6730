/* rt_sbgemm: C = alpha * op(A) * op(B) + beta * C with A and B rounded to bfloat16 and fp32
   accumulation, on AVX512_BF16's VDPBF16PS (_mm512_dpbf16_ps: per fp32 lane, acc += a0*b0 +
   a1*b1 over a pair of bf16), i.e. twice the multiply-adds per instruction of an fp32 FMA.

   Why our own kernel: BLIS 0.9 (what rt_gemm runs) has no bf16 GEMM, and the products of the bf16
   compute mode need only this one operation, so a few hundred lines of GotoBLAS-style code buy
   it without a new dependency. Everything here is compiled for AVX512_BF16 through a target
   attribute only; the rest of the library stays baseline x86-64, and rt_sbgemm_available() says
   whether the CPU (and OS) can run it.

   Layout. K is taken in pairs (k = 2p, 2p + 1); one pair of one row / column is a dword of two
   bf16, the even k in the low half (odd K: the missing partner is zero). A packed B panel is, for
   each pair p, NR consecutive dwords (the NR columns): one zmm load gives 16 columns' pairs. The
   micro-kernel broadcasts one A dword per row and pair: A (rows contiguous along k) is packed
   row-major, MR rows of kp pairs each (a plain conversion, MR broadcast streams); A^T is packed
   pair-major in groups of 48 rows (for each pair, 48 consecutive dwords; a micro-tile starts at
   a multiple of MR inside its group). fp32 -> bf16 is VCVTNE2PS2BF16 (round to nearest even,
   NaN stays NaN, denormal inputs read as zero) while packing: sources contiguous along the
   panel's width (B, A^T) are converted two k rows at a time and interleaved with one VPERMW; B^T
   is converted 32 k at a time per row and turned with a 16 x 16 dword transpose. Edge panels are
   padded with zeros and the edge tiles stored with masks.

   Blocking (BLIS's loop order): N blocks of NC = 3072 columns, K blocks of at most 1024 (equal
   sizes: K = 1024 is one block, not 768 + 256; the first applies beta, the others add), B packed
   per (N, K) block (<= 6 MiB, L3), A per M block of MC = 144 rows (<= 288 KiB, L2), then 64-column
   B micro-panels (<= 128 KiB) against 6-row A micro-panels. The micro-kernel keeps a 6 x 64 tile
   in 24 zmm accumulators (4 B loads + 6 broadcasts per 24 VDPBF16PS), prefetches its C tile, and
   applies alpha / beta in the epilogue. 6 x 64 and 14 x 32 ran about as fast on the big linears;
   6 x 64 wastes nothing on the attention products' 64 columns. The packing buffer is per thread
   and kept between calls (a fresh one per call cost page faults).
   Threads: the dimension with more micro-tiles is split into nthreads ranges of whole tiles,
   each thread packing its own operands (nthreads == 1: no OpenMP at all).

   Measured (benchmarks/bench_sbgemm, 1 thread, AMD EPYC Zen 4 at ~3.6 GHz, by CPU time: the
   machine was shared with other work, which stretched the wall clock by ~1.4x for both kernels
   alike): VDPBF16PS register peak 232 GFLOPS (fp32 FMA 116); the GPT-2 124M linears (1024 rows)
   190-212 GFLOPS against BLIS skx's 85-100, 1.96-2.24x; 2048^3 209 vs 96 (2.17x); the per-head
   attention products (256 x 256 x 64 and 256 x 64 x 256, 48 calls) 124-180 vs 55-78; the step's
   788 GFLOP of GEMMs 196 vs 94 GFLOPS, 2.09x (2.15x by the wall clock). */
#include "sbgemm.h"
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Blocking (see the header comment): MR x NR micro-tiles, NR = 16 * NV fp32 columns; K blocks
   of KCP bf16 pairs, M blocks of MC rows, N blocks of NC columns. */
#define SB_MR 6
#define SB_NV 4
#define SB_NR (16 * SB_NV)
#ifndef SB_KCP
#define SB_KCP 512
#endif
#define SB_MG 48 /* rows per pair-major A group: a multiple of 16 and of SB_MR */
#define SB_MC (SB_MG * 3)
#define SB_NC (SB_NR * 48)

#define SB_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

int rt_sbgemm_available(void) {
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        /* libgcc's checks include the OS's XSAVE support for the zmm / opmask state */
        v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512bf16");
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}

static inline __mmask16 sb_mask(int n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* ---- packing ------------------------------------------------------------------------------- */

/* Where the 16 dwords for columns c0 .. c0 + 15 of a block go in its panels of width W (panel q
   at out + q * kp * W, row p of a panel at + p * W): n pieces, piece i the lanes mask[i] stored
   at out + off[i] + p * W. The offsets may point before their panel (never before out): lane l
   lands at column c0 + l, and masked-off lanes are not written. Columns >= wtot are dropped. */
typedef struct {
    int n;
    ptrdiff_t off[17];
    __mmask16 mask[17];
} sb_plan;

static inline void plan16(sb_plan *pl, int W, int kp, int c0, int wtot) {
    int end = c0 + 16 < wtot ? c0 + 16 : wtot;
    pl->n = 0;
    for (int c = c0; c < end;) {
        int q = c / W, e = (q + 1) * W < end ? (q + 1) * W : end;
        pl->mask[pl->n] = (__mmask16)(sb_mask(e - c0) & ~sb_mask(c - c0));
        pl->off[pl->n++] = (ptrdiff_t)q * kp * W + (c0 - q * W);
        c = e;
    }
}

SB_TARGET static inline void store16(uint32_t *out, const sb_plan *pl, int W, int p, __m512i v) {
    if (pl->n == 1 && pl->mask[0] == 0xffff) {
        _mm512_storeu_si512((void *)(out + pl->off[0] + (ptrdiff_t)p * W), v);
        return;
    }
    for (int i = 0; i < pl->n; i++)
        _mm512_mask_storeu_epi32(out + pl->off[i] + (ptrdiff_t)p * W, pl->mask[i], v);
}

/* Source contiguous along the block's width, one row per k ("interleave"): panel element
   (p, w) is the dword (bf16(src[2p][w]), bf16(src[2p+1][w])) (low half first) for p < kp and
   w < round_up(nw, W); columns w >= nw and k >= klen are zero. */
SB_TARGET static inline __attribute__((always_inline)) void
pack_interleave(const float *src, size_t ld, int nw, int klen, int kp, int W, uint32_t *out) {
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24,
                                         8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    int wtot = (nw + W - 1) / W * W;
    for (int c = 0; c < wtot; c += 16) {
        sb_plan pl;
        plan16(&pl, W, kp, c, wtot);
        __mmask16 m = sb_mask(nw - c);
        for (int p = 0; p < kp; p++) {
            const float *r0 = src + (size_t)(2 * p) * ld + c;
            __m512 x0 = _mm512_maskz_loadu_ps(m, r0);
            __m512 x1 = 2 * p + 1 < klen ? _mm512_maskz_loadu_ps(m, r0 + ld) : _mm512_setzero_ps();
            __m512i v = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
            store16(out, &pl, W, p, _mm512_permutexvar_epi16(idx, v));
        }
    }
}

/* 16 x 16 dword transpose of r[0..16) in place. */
SB_TARGET static inline void transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int q = 0; q < 4; q++) {
        __m512i a = _mm512_shuffle_i32x4(u[q], u[4 + q], 0x44);
        __m512i b = _mm512_shuffle_i32x4(u[q], u[4 + q], 0xee);
        __m512i c = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0x44);
        __m512i d = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0xee);
        r[q] = _mm512_shuffle_i32x4(a, c, 0x88);
        r[4 + q] = _mm512_shuffle_i32x4(a, c, 0xdd);
        r[8 + q] = _mm512_shuffle_i32x4(b, d, 0x88);
        r[12 + q] = _mm512_shuffle_i32x4(b, d, 0xdd);
    }
}

/* Source contiguous along k, one row per block column ("transpose"): panel element (p, w) is the
   dword (bf16(src[w][2p]), bf16(src[w][2p+1])) for p < kp and w < round_up(nw, W); rows w >= nw
   and k >= klen are zero. */
SB_TARGET static inline __attribute__((always_inline)) void
pack_transpose(const float *src, size_t ld, int nw, int klen, int kp, int W, uint32_t *out) {
    int wtot = (nw + W - 1) / W * W;
    for (int g = 0; g < wtot; g += 16) {
        sb_plan pl;
        plan16(&pl, W, kp, g, wtot);
        for (int p0 = 0; p0 < kp; p0 += 16) {
            int k0 = 2 * p0;
            __mmask16 m0 = sb_mask(klen - k0), m1 = sb_mask(klen - k0 - 16);
            __m512i r[16];
            for (int i = 0; i < 16; i++) {
                if (g + i < nw) {
                    const float *s = src + (size_t)(g + i) * ld + k0;
                    __m512 lo = _mm512_maskz_loadu_ps(m0, s);
                    __m512 hi = _mm512_maskz_loadu_ps(m1, s + 16);
                    r[i] = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
                } else {
                    r[i] = _mm512_setzero_si512();
                }
            }
            transpose16(r);
            int np = kp - p0 < 16 ? kp - p0 : 16;
            for (int j = 0; j < np; j++) store16(out, &pl, W, p0 + j, r[j]);
        }
    }
}

/* A not transposed (rows contiguous along k) into row-major MR x kp panels: row r of panel q
   at out + q * kp * MR + r * kp, its pairs in order; rows >= nw (up to whole panels) and
   k >= klen are zero. No transpose: the micro-kernel broadcasts from MR row streams. */
SB_TARGET static void pack_rows(const float *src, size_t ld, int nw, int klen, int kp,
                                uint32_t *out) {
    int wtot = (nw + SB_MR - 1) / SB_MR * SB_MR;
    for (int i = 0; i < wtot; i++) {
        uint32_t *o = out + (size_t)(i / SB_MR) * kp * SB_MR + (size_t)(i % SB_MR) * kp;
        const float *s = src + (size_t)i * ld;
        for (int p0 = 0; p0 < kp; p0 += 16) {
            int k0 = 2 * p0;
            __mmask16 m0 = i < nw ? sb_mask(klen - k0) : 0,
                      m1 = i < nw ? sb_mask(klen - k0 - 16) : 0;
            __m512 lo = _mm512_maskz_loadu_ps(m0, s + k0);
            __m512 hi = _mm512_maskz_loadu_ps(m1, s + k0 + 16);
            _mm512_mask_storeu_epi32(o + p0, sb_mask(kp - p0),
                                     (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
    }
}

/* ---- micro-kernel -------------------------------------------------------------------------- */

/* C[mr, nr] = alpha * Ap * Bp + beta * C over kp k-pairs (beta == 0: C not read). Ap: MR x kp
   dwords, pair p of row r at Ap[p * sp + r * sr]; Bp: kp x NR dwords (bf16 pairs). */
SB_TARGET static inline __attribute__((always_inline)) void
micro_tile(int kp, const uint32_t *restrict Ap, size_t sp, size_t sr, const uint32_t *restrict Bp,
           float *C, size_t ldc, int mr, int nr, float alpha, float beta) {
    __m512 acc[SB_MR][SB_NV];
    /* the epilogue's C tile: fetched while the k loop runs */
#pragma GCC unroll 16
    for (int r = 0; r < SB_MR; r++)
        if (r < mr) {
#pragma GCC unroll 4
            for (int v = 0; v < SB_NV; v++)
                _mm_prefetch((const char *)(C + (size_t)r * ldc + 16 * v), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + (size_t)r * ldc + SB_NR - 1), _MM_HINT_T0);
        }
#pragma GCC unroll 16
    for (int r = 0; r < SB_MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < SB_NV; v++) acc[r][v] = _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int p = 0; p < kp; p++) {
        __m512bh b[SB_NV];
#pragma GCC unroll 4
        for (int v = 0; v < SB_NV; v++)
            b[v] = (__m512bh)_mm512_load_si512((const void *)(Bp + (size_t)p * SB_NR + 16 * v));
#pragma GCC unroll 16
        for (int r = 0; r < SB_MR; r++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)Ap[(size_t)p * sp + r * sr]);
#pragma GCC unroll 4
            for (int v = 0; v < SB_NV; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], b[v], a);
        }
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 m[SB_NV];
#pragma GCC unroll 4
    for (int v = 0; v < SB_NV; v++) m[v] = sb_mask(nr - 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < SB_MR; r++) {
        if (r >= mr) break;
        float *c = C + (size_t)r * ldc;
#pragma GCC unroll 4
        for (int v = 0; v < SB_NV; v++) {
            __m512 x = _mm512_mul_ps(acc[r][v], va);
            if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m[v], c + 16 * v), x);
            _mm512_mask_storeu_ps(c + 16 * v, m[v], x);
        }
    }
}

/* A transposed: pair-major groups of SB_MG rows (pack_interleave with W = SB_MG: pair p of row o
   of a group at p * SB_MG + o), a micro-tile starting at row o of its group. */
SB_TARGET static void micro_kernel_pm(int kp, const uint32_t *Ap, const uint32_t *Bp, float *C,
                                      size_t ldc, int mr, int nr, float alpha, float beta) {
    micro_tile(kp, Ap, SB_MG, 1, Bp, C, ldc, mr, nr, alpha, beta);
}

/* A not transposed: row-major MR x kp panels (pack_rows), one broadcast stream per row. */
SB_TARGET static void micro_kernel_rm(int kp, const uint32_t *Ap, const uint32_t *Bp, float *C,
                                      size_t ldc, int mr, int nr, float alpha, float beta) {
    micro_tile(kp, Ap, 1, (size_t)kp, Bp, C, ldc, mr, nr, alpha, beta);
}

/* ---- blocking ------------------------------------------------------------------------------ */

typedef struct {
    int ta, tb;
    const float *A, *B;
    size_t lda, ldb, ldc;
    float alpha, beta;
    float *C;
} sb_args;

/* C[m0.., n0..][M, N] of the product, on the calling thread. */
SB_TARGET static void sb_serial(const sb_args *g, int m0, int M, int n0, int N, int K, int kblk,
                                uint32_t *At, uint32_t *Bt) {
    for (int jc = 0; jc < N; jc += SB_NC) {
        int nc = N - jc < SB_NC ? N - jc : SB_NC;
        for (int pc = 0; pc < K; pc += kblk) {
            int kc = K - pc < kblk ? K - pc : kblk, kp = (kc + 1) / 2;
            if (g->tb)
                pack_transpose(g->B + (size_t)(n0 + jc) * g->ldb + pc, g->ldb, nc, kc, kp, SB_NR,
                               Bt);
            else
                pack_interleave(g->B + (size_t)pc * g->ldb + n0 + jc, g->ldb, nc, kc, kp, SB_NR,
                                Bt);
            float beta = pc == 0 ? g->beta : 1.0f;
            for (int ic = 0; ic < M; ic += SB_MC) {
                int mc = M - ic < SB_MC ? M - ic : SB_MC;
                if (g->ta)
                    pack_interleave(g->A + (size_t)pc * g->lda + m0 + ic, g->lda, mc, kc, kp, SB_MG,
                                    At);
                else
                    pack_rows(g->A + (size_t)(m0 + ic) * g->lda + pc, g->lda, mc, kc, kp, At);
                for (int jr = 0; jr < nc; jr += SB_NR) {
                    const uint32_t *bp = Bt + (size_t)(jr / SB_NR) * kp * SB_NR;
                    int nr = nc - jr < SB_NR ? nc - jr : SB_NR;
                    for (int ir = 0; ir < mc; ir += SB_MR) {
                        int mr = mc - ir < SB_MR ? mc - ir : SB_MR;
                        float *c = g->C + (size_t)(m0 + ic + ir) * g->ldc + n0 + jc + jr;
                        if (g->ta)
                            micro_kernel_pm(kp, At + (size_t)(ir / SB_MG) * kp * SB_MG + ir % SB_MG,
                                            bp, c, g->ldc, mr, nr, g->alpha, beta);
                        else
                            micro_kernel_rm(kp, At + (size_t)(ir / SB_MR) * kp * SB_MR, bp, c,
                                            g->ldc, mr, nr, g->alpha, beta);
                    }
                }
            }
        }
    }
}

static int round_up(int x, int m) {
    return (x + m - 1) / m * m;
}

/* The calling thread's packing buffer, grown as needed and kept for its next call (a fresh
   allocation per call costs page faults that a small product notices); freed when the thread
   exits (a key destructor), reachable from its TLS until then. */
static _Thread_local uint32_t *tl_buf;
static _Thread_local size_t tl_cap;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static int tl_key_ok;

static void tl_key_init(void) {
    tl_key_ok = pthread_key_create(&tl_key, free) == 0;
}

static uint32_t *thread_buffer(size_t n) {
    if (n > tl_cap) {
        pthread_once(&tl_once, tl_key_init);
        free(tl_buf);
        tl_cap = 0;
        tl_buf = aligned_alloc(64, (n * sizeof *tl_buf + 63) / 64 * 64);
        if (tl_key_ok) pthread_setspecific(tl_key, tl_buf);
        if (!tl_buf) return NULL;
        tl_cap = n;
    }
    return tl_buf;
}

/* Runs sb_serial on [m0, m0 + M) x [n0, n0 + N); 0 or -1 (out of memory). */
static int sb_run(const sb_args *g, int m0, int M, int n0, int N, int K) {
    if (M <= 0 || N <= 0) return 0;
    /* K blocks of equal size (even, <= 2 * SB_KCP): K = 1024 is one block, not 768 + 256 */
    int nblk = (K + 2 * SB_KCP - 1) / (2 * SB_KCP), kp = ((K + nblk - 1) / nblk + 1) / 2;
    size_t na = (size_t)round_up(M < SB_MC ? M : SB_MC, SB_MG) * kp; /* >= MR panels */
    size_t nb = (size_t)round_up(N < SB_NC ? N : SB_NC, SB_NR) * kp;
    uint32_t *buf = thread_buffer(nb + na);
    if (!buf) return -1;
    sb_serial(g, m0, M, n0, N, K, 2 * kp, buf + nb, buf);
    return 0;
}

static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof *c);
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

void rt_sbgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc, int nthreads) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    sb_args g = {ta, tb, A, B, (size_t)lda, (size_t)ldb, (size_t)ldc, alpha, beta, C};
    /* split the dimension with more micro-tiles into nthreads ranges of whole micro-tiles */
    int mt = (M + SB_MR - 1) / SB_MR, nt = (N + SB_NR - 1) / SB_NR;
    int maxt = mt > nt ? mt : nt;
    if (nthreads > maxt) nthreads = maxt;
    if (nthreads <= 1) {
        if (sb_run(&g, 0, M, 0, N, K) != 0) abort();
        return;
    }
    int fail = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : fail)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (mt >= nt) {
            int a = (int)((long)mt * t / T) * SB_MR, b = (int)((long)mt * (t + 1) / T) * SB_MR;
            if (b > M) b = M;
            fail |= sb_run(&g, a, b - a, 0, N, K) != 0;
        } else {
            int a = (int)((long)nt * t / T) * SB_NR, b = (int)((long)nt * (t + 1) / T) * SB_NR;
            if (b > N) b = N;
            fail |= sb_run(&g, 0, M, a, b - a, K) != 0;
        }
    }
    if (fail) abort();
}
