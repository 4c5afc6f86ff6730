/* rt_sbgemm (compute/sbgemm.c: bf16 inputs, fp32 accumulation, AVX512_BF16) against rt_gemm (BLIS
   fp32) on the GEMMs of one GPT-2 124M training step (B=4, T=256: 1024 rows, C=768, 12 heads,
   vocab 50257), with the layouts, transposes and leading dimensions of bench_gemm.c's
   build_shapes: per linear the forward X W, the backward dY W^T and X^T dY; the LM head's three
   products; the per-head attention products run as gpt2.c runs them, an OpenMP loop over the
   B*NH heads with one thread per call (rt_gemm_1t, rt_sbgemm(..., 1)).

   Per shape and kernel: the median GFLOPS over --repeats repeats (a warm-up call first; a repeat
   times enough back-to-back calls to last 20 ms; the two kernels' repeats take turns), and the
   ratio sbgemm / BLIS. Also a square
   2048^3 product for both (best over the repeats), and the FLOP-weighted step total: the step's
   GEMM FLOPs (each linear 12 times, the LM head once, each attention product 48 = B*NH times per
   layer) over the sum of FLOPs / median GFLOPS, for both kernels, and their ratio.
   Every figure also by this process's CPU time (the *_cpu fields): with one thread that is the
   time the kernels ran, which other work on a shared machine does not inflate as it inflates the
   wall clock (it still shares caches and memory bandwidth).
   JSON on stdout (bench_common.h), a table on stderr. Not part of any ctest label or suite.

   --kernel onednn times rt_gemm_bf16 on oneDNN's matmul (compute/gemm_bf16.c: rounding into
   scratch, then the matmul) in the sbgemm columns instead of rt_sbgemm, for the choice between
   the two bf16 kernels.

   usage: bench_sbgemm [--threads N] [--repeats N] [--kernel own|onednn]
   (defaults: 1 thread, 7 repeats, own) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "arena.h"
#include "bench_common.h"
#include "gemm.h"
#include "gemm_shapes.h"
#include "sbgemm.h"

#define MIN_REPEAT_S 0.02
#define MAX_SHAPES GEMM_MAX_SHAPES
#define PEAK_N 2048

enum { K_SB, K_BLIS };

static const model M124 = {"124m", 12, 768, 12, 4 * 768, 50257, 4, 256};

static int g_onednn; /* --kernel onednn: the bf16 side is rt_gemm_bf16 on oneDNN's matmul */

/* One product through kernel kern (ctx: a kernel_ctx): rt_sbgemm (or rt_gemm_bf16 through
   oneDNN) on the context's threads, or rt_gemm (BLIS's thread count); one thread when asked. */
typedef struct {
    int kern, threads;
} kernel_ctx;

static void gemm(void *ctx, int one_thread, int ta, int tb, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *Bm, int ldb, float beta, float *Cm,
                 int ldc) {
    const kernel_ctx *k = ctx;
    int nthreads = one_thread ? 1 : k->threads;
    if (k->kern == K_SB && g_onednn)
        rt_gemm_bf16(nthreads == 1, ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, Cm, ldc);
    else if (k->kern == K_SB)
        rt_sbgemm(ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, Cm, ldc, nthreads);
    else
        (nthreads == 1 ? rt_gemm_1t : rt_gemm)(ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, Cm,
                                               ldc);
}

static void run_kernel(int kern, const shape *s, buffers *b, int threads) {
    kernel_ctx k = {kern, threads};
    run_shape(s, &M124, b, gemm, &k);
}

/* CPU seconds of this process: with one thread, the time it actually ran, which a machine shared
   with other work does not stretch as it stretches the wall clock. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* GFLOPS of reps repeats of shape s through both kernels into g[kern * reps + r] (wall clock)
   and gc[kern * reps + r] (CPU time): a warm-up call
   of each first (it sizes the repeats), then the kernels take turns, repeat by repeat (the order
   alternating), so that a change in the machine's load hits both alike. */
static void time_shape(const shape *s, buffers *b, int threads, int reps, double *g, double *gc) {
    int iters[2];
    for (int kern = 0; kern < 2; kern++) {
        double t = bench_now();
        run_kernel(kern, s, b, threads);
        t = bench_now() - t;
        double it = t > 0 ? ceil(MIN_REPEAT_S / t) : 1e4;
        iters[kern] = it < 1 ? 1 : it > 1e4 ? 10000 : (int)it;
    }
    for (int r = 0; r < reps; r++)
        for (int turn = 0; turn < 2; turn++) {
            int kern = turn ^ (r & 1);
            double t0 = bench_now(), c0 = cpu_now();
            for (int k = 0; k < iters[kern]; k++) run_kernel(kern, s, b, threads);
            double c1 = cpu_now(), t1 = bench_now();
            g[kern * reps + r] = iters[kern] * shape_flops(s) / (t1 - t0) / 1e9;
            gc[kern * reps + r] = iters[kern] * shape_flops(s) / (c1 - c0) / 1e9;
        }
}

int main(int argc, char **argv) {
    int threads = 1, reps = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--kernel") && i + 1 < argc && !strcmp(argv[i + 1], "onednn"))
            g_onednn = 1, i++;
        else if (!strcmp(argv[i], "--kernel") && i + 1 < argc && !strcmp(argv[i + 1], "own"))
            g_onednn = 0, i++;
        else
            goto usage;
    }
    if (threads < 1 || reps < 1 || reps > 1000) goto usage;
    if (!rt_sbgemm_available()) {
        fprintf(stderr, "bench_sbgemm: this CPU has no AVX512_BF16: nothing to measure\n");
        return 0;
    }
    if (g_onednn) setenv("RT_BF16_KERNEL", "onednn", 1);
    const char *arch = rt_gemm_setup(threads);
    omp_set_num_threads(threads);

    shape s[MAX_SHAPES];
    int ns = build_shapes(&M124, s);
    /* [shape][kernel][rep]: wall-clock and CPU-time GFLOPS */
    double *g = calloc((size_t)(ns + 1) * 2 * reps, sizeof *g);
    double *gc = calloc((size_t)(ns + 1) * 2 * reps, sizeof *gc);
    if (!g || !gc) return 1;
    /* the square peak: shape index ns */
    shape sq = mk("square", "peak", "A B", LINEAR, 0, 0, PEAK_N, PEAK_N, PEAK_N, PEAK_N, PEAK_N,
                  PEAK_N, 1, 0);
    for (int i = 0; i <= ns; i++) {
        const shape *si = i < ns ? &s[i] : &sq;
        buffers b;
        buffers_alloc(&b, si, &M124, threads);
        time_shape(si, &b, threads, reps, g + (size_t)i * 2 * reps, gc + (size_t)i * 2 * reps);
        buffers_free(&b);
    }

    double total = 0, sec[2] = {0, 0}, csec[2] = {0, 0}, med[MAX_SHAPES + 1][2];
    double cmed[MAX_SHAPES + 1][2];
    for (int i = 0; i <= ns; i++)
        for (int kern = 0; kern < 2; kern++) {
            med[i][kern] = bench_median(g + ((size_t)i * 2 + kern) * reps, reps);
            cmed[i][kern] = bench_median(gc + ((size_t)i * 2 + kern) * reps, reps);
        }
    for (int i = 0; i < ns; i++) {
        double f = s[i].calls * shape_flops(&s[i]);
        total += f;
        for (int kern = 0; kern < 2; kern++) {
            sec[kern] += f / (med[i][kern] * 1e9);
            csec[kern] += f / (cmed[i][kern] * 1e9);
        }
    }
    double peak[2] = {bench_max(g + (size_t)ns * 2 * reps, reps),
                      bench_max(g + ((size_t)ns * 2 + 1) * reps, reps)};

    bench_json j;
    bench_begin(&j, stdout, "sbgemm", NULL, NULL);
    bj_object(&j, "config");
    bj_str(&j, "model", "124m");
    bj_int(&j, "rows", M124.B * M124.T);
    bj_int(&j, "threads", threads);
    bj_int(&j, "repeats", reps);
    bj_num(&j, "min_seconds_per_repeat", MIN_REPEAT_S);
    bj_str(&j, "blis_arch", arch);
    bj_str(&j, "sbgemm", "bf16 inputs (RNE), fp32 accumulation, AVX512_BF16");
    bj_str(&j, "bf16_kernel", g_onednn ? "onednn (rt_gemm_bf16)" : "own (rt_sbgemm)");
    bj_end(&j);
    bj_array(&j, "results");
    for (int i = 0; i <= ns; i++) {
        const shape *si = i < ns ? &s[i] : &sq;
        char name[64];
        snprintf(name, sizeof name, "%s.%s", si->layer, si->pass);
        bj_object(&j, NULL);
        bj_str(&j, "name", name);
        bj_str(&j, "product", si->product);
        bj_int(&j, "m", si->m);
        bj_int(&j, "n", si->n);
        bj_int(&j, "k", si->k);
        bj_int(&j, "ta", si->ta);
        bj_int(&j, "tb", si->tb);
        bj_int(&j, "lda", si->lda);
        bj_int(&j, "ldb", si->ldb);
        bj_int(&j, "ldc", si->ldc);
        bj_num(&j, "beta", si->beta);
        bj_int(&j, "batch", si->batch);
        bj_int(&j, "calls_per_step", si->calls);
        bj_stats(&j, "sbgemm_gflops", g + ((size_t)i * 2 + K_SB) * reps, reps);
        bj_stats(&j, "blis_gflops", g + ((size_t)i * 2 + K_BLIS) * reps, reps);
        bj_stats(&j, "sbgemm_cpu_gflops", gc + ((size_t)i * 2 + K_SB) * reps, reps);
        bj_stats(&j, "blis_cpu_gflops", gc + ((size_t)i * 2 + K_BLIS) * reps, reps);
        bj_num(&j, "speedup", med[i][K_SB] / med[i][K_BLIS]);
        if (i < ns) bj_num(&j, "step_flop_share", si->calls * shape_flops(si) / total);
        bj_end(&j);
    }
    bj_end(&j);
    bj_num(&j, "step_gemm_gflop", total / 1e9);
    bj_object(&j, "peak_gflops");
    bj_num(&j, "sbgemm", peak[K_SB]);
    bj_num(&j, "blis", peak[K_BLIS]);
    bj_end(&j);
    bj_object(&j, "step_gemm_seconds");
    bj_num(&j, "sbgemm", sec[K_SB]);
    bj_num(&j, "blis", sec[K_BLIS]);
    bj_end(&j);
    bj_object(&j, "step_gemm_gflops");
    bj_num(&j, "sbgemm", total / sec[K_SB] / 1e9);
    bj_num(&j, "blis", total / sec[K_BLIS] / 1e9);
    bj_end(&j);
    bj_num(&j, "step_speedup", sec[K_BLIS] / sec[K_SB]);
    bj_object(&j, "step_gemm_cpu_seconds");
    bj_num(&j, "sbgemm", csec[K_SB]);
    bj_num(&j, "blis", csec[K_BLIS]);
    bj_end(&j);
    bj_num(&j, "step_speedup_cpu", csec[K_BLIS] / csec[K_SB]);
    bench_finish(&j);

    fprintf(stderr,
            "%d thread(s); BLIS kernels '%s'; median GFLOPS over %d repeats, by the wall clock "
            "and (cpu) by this process's CPU time\n",
            threads, arch, reps);
    fprintf(stderr, "  %-24s %-5s %5s %5s %5s %3s %7s %7s %6s %7s %7s %6s %6s\n", "shape", "ta,tb",
            "m", "n", "k", "xN", "sbgemm", "blis", "ratio", "sb cpu", "bl cpu", "ratio", "share");
    for (int i = 0; i <= ns; i++) {
        const shape *si = i < ns ? &s[i] : &sq;
        char name[64];
        snprintf(name, sizeof name, "%s.%s", si->layer, si->pass);
        fprintf(stderr, "  %-24s %d,%d   %5d %5d %5d %3d %7.1f %7.1f %5.2fx %7.1f %7.1f %5.2fx",
                name, si->ta, si->tb, si->m, si->n, si->k, si->batch, med[i][K_SB], med[i][K_BLIS],
                med[i][K_SB] / med[i][K_BLIS], cmed[i][K_SB], cmed[i][K_BLIS],
                cmed[i][K_SB] / cmed[i][K_BLIS]);
        if (i < ns)
            fprintf(stderr, " %5.1f%%\n", 100 * si->calls * shape_flops(si) / total);
        else
            fprintf(stderr, "  best wall %.1f vs %.1f\n", peak[K_SB], peak[K_BLIS]);
    }
    fprintf(stderr,
            "  step GEMMs (%.1f GFLOP), wall: sbgemm %.3f s (%.1f GFLOPS), BLIS %.3f s (%.1f "
            "GFLOPS): %.2fx\n",
            total / 1e9, sec[K_SB], total / sec[K_SB] / 1e9, sec[K_BLIS], total / sec[K_BLIS] / 1e9,
            sec[K_BLIS] / sec[K_SB]);
    fprintf(stderr,
            "  step GEMMs, CPU time: sbgemm %.3f s (%.1f GFLOPS), BLIS %.3f s (%.1f GFLOPS): "
            "%.2fx\n",
            csec[K_SB], total / csec[K_SB] / 1e9, csec[K_BLIS], total / csec[K_BLIS] / 1e9,
            csec[K_BLIS] / csec[K_SB]);
    free(g);
    free(gc);
    return 0;

usage:
    fprintf(stderr, "usage: %s [--threads N] [--repeats N] [--kernel own|onednn]\n", argv[0]);
    return 2;
}
