/* The measured sgemm peak and the MFU against it (dist/peak.h). */
#include "peak.h"
#include "arena.h"
#include "gemm.h"
#include <time.h>

static double peak_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* This rank's best round (GFLOPS); the barrier before each round starts all ranks together. */
static rt_status best_round(rt_mpi_ctx *ctx, int n, int trials, double trial_s, const float *A,
                            const float *B, float *C, double *best) {
    double flop = 2.0 * n * (double)n * n;
    *best = 0.0;
    rt_gemm(0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n); /* untimed: first touch, packing */
    for (int r = 0; r < trials; r++) {
        RT_CALL(rt_mpi_check(MPI_Barrier(ctx->comm), "MPI_Barrier(sgemm peak)"));
        double t0 = peak_now(), dt;
        long k = 0;
        do {
            rt_gemm(0, 0, n, n, n, 1.0f, A, n, B, n, 0.0f, C, n);
            k++;
        } while ((dt = peak_now() - t0) < trial_s);
        double g = flop * (double)k / dt / 1e9;
        if (g > *best) *best = g;
    }
    return RT_OK;
}

rt_status rt_peak_measure(rt_mpi_ctx *ctx, int n, int trials, double trial_s, rt_peak *p) {
    size_t nn = (size_t)n * n;
    float *A = rt_alloc_floats(nn), *B = rt_alloc_floats(nn), *C = rt_alloc_floats(nn);
    rt_status st =
        A && B && C ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory for the sgemm peak");
    for (size_t i = 0; st == RT_OK && i < nn; i++) {
        A[i] = (float)(i % 7) * 0.1f;
        B[i] = (float)(i % 5) * 0.1f;
    }
    st = rt_mpi_ctx_agree(ctx, st);
    double best = 0.0, hi = 0.0, lo = 0.0;
    if (st == RT_OK) st = best_round(ctx, n, trials, trial_s, A, B, C, &best);
    rt_free_floats(&A);
    rt_free_floats(&B);
    rt_free_floats(&C);
    RT_CALL(rt_mpi_ctx_agree(ctx, st));
    RT_CALL(rt_mpi_check(MPI_Allreduce(&best, &hi, 1, MPI_DOUBLE, MPI_MAX, ctx->comm),
                         "MPI_Allreduce(sgemm peak)"));
    RT_CALL(rt_mpi_check(MPI_Allreduce(&best, &lo, 1, MPI_DOUBLE, MPI_MIN, ctx->comm),
                         "MPI_Allreduce(sgemm peak)"));
    *p = (rt_peak){hi, hi, lo, trial_s, trials, ctx->size, rt_gemm_threads(), n, 0};
    return RT_OK;
}

/* What the peak is of: the kernel that runs the products. */
static const char *peak_kind(void) {
    return rt_gemm_precision() == RT_PRECISION_BF16 ? "bf16 GEMM" : "sgemm";
}

void rt_peak_describe(const rt_peak *p, FILE *out) {
    if (!out) return;
    fprintf(out,
            "MFU against a measured %s peak of %.1f GFLOPS per rank (%dx%dx%d, best of %d "
            "rounds of %.2f s, all %d rank%s at once, %d thread%s each; the slowest rank's best "
            "%.1f)\n",
            peak_kind(), p->gflops, p->n, p->n, p->n, p->trials, p->trial_s, p->ranks,
            p->ranks == 1 ? "" : "s", p->threads, p->threads == 1 ? "" : "s", p->slowest);
}

double rt_peak_mfu(rt_peak *p, double flops, double seconds, long step, FILE *out) {
    if (!(p->gflops > 0) || !(seconds > 0)) return 0.0;
    double rate = flops / seconds / 1e9;
    if (rate > p->gflops) {
        if (out)
            fprintf(out,
                    "notice: step %ld ran at %.1f GFLOPS per rank, above the %s peak of %.1f "
                    "(so the peak was measured low): MFU from here on is against %.1f\n",
                    step, rate, peak_kind(), p->gflops, rate);
        p->gflops = rate;
        p->raised_at = step;
    }
    return rate / p->gflops;
}

double rt_eta_s(double done, double total, double elapsed_s) {
    if (!(done > 0) || !(elapsed_s >= 0)) return -1.0;
    return done >= total ? 0.0 : elapsed_s / done * (total - done);
}
