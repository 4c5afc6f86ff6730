/* All-reduce bandwidth: ringtune's ring (dist/ring.c) against the MPI library's MPI_Allreduce, on
   float32 buffers from 4 KiB to 256 MiB (powers of 4). Each repeat times the slowest rank; per
   size, stats objects over the repeats of the time and of algbw = bytes / time and busbw = algbw *
   2(P-1)/P, as nccl-tests define them for all-reduce (GB = 1e9 bytes); the ring/MPI ratios are
   taken from the median times. Rank 0 prints JSON (bench_common.h) on stdout and a table on
   stderr.
   usage: mpirun -n P bench_allreduce [--min-bytes B] [--max-bytes B] [--repeats R]
          [--segment-kib K] [--window W] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_common.h"
#include "mpictx.h"
#include "ring.h"

static void fill(float *x, size_t n, float v) {
    for (size_t i = 0; i < n; i++) x[i] = v;
}

/* One timed run of the chosen algorithm: the slowest rank's seconds. */
static double run_once(rt_mpi_ctx *ctx, rt_ring *h, int ring, float *buf, size_t n, int *ok) {
    MPI_Barrier(ctx->comm);
    double t0 = MPI_Wtime();
    if (ring) {
        if (rt_ring_start(h, ctx, buf, n, RT_RING_ALLREDUCE) != RT_OK || rt_ring_wait(h) != RT_OK)
            *ok = 0;
    } else if (MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, ctx->comm) !=
               MPI_SUCCESS) {
        *ok = 0;
    }
    double dt = MPI_Wtime() - t0, worst = 0;
    MPI_Allreduce(&dt, &worst, 1, MPI_DOUBLE, MPI_MAX, ctx->comm);
    return worst;
}

int main(int argc, char **argv) {
    size_t min_bytes = 4 << 10, max_bytes = (size_t)256 << 20;
    int repeats = 5;
    rt_ring_opts opts = {0, 0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--min-bytes") && i + 1 < argc)
            min_bytes = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--max-bytes") && i + 1 < argc)
            max_bytes = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--segment-kib") && i + 1 < argc)
            opts.segment_bytes = strtoull(argv[++i], NULL, 10) << 10;
        else if (!strcmp(argv[i], "--window") && i + 1 < argc)
            opts.window = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [--min-bytes B] [--max-bytes B] [--repeats R] [--segment-kib K] "
                    "[--window W]\n",
                    argv[0]);
            return 2;
        }
    }
    if (repeats < 1 || min_bytes < sizeof(float) || max_bytes < min_bytes ||
        max_bytes / sizeof(float) > (size_t)0x7fffffff) {
        fprintf(stderr, "bench_allreduce: bad sizes or repeats\n");
        return 2;
    }
    MPI_Init(&argc, &argv);
    rt_mpi_ctx *ctx = NULL;
    rt_ring *h = NULL;
    if (rt_mpi_ctx_create(&ctx) != RT_OK || rt_ring_create(&h, &opts) != RT_OK) {
        fprintf(stderr, "bench_allreduce: %s\n", rt_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    const int P = ctx->size;
    size_t nmax = max_bytes / sizeof(float);
    float *buf = malloc(nmax * sizeof *buf);
    if (!buf) {
        fprintf(stderr, "bench_allreduce: rank %d: out of memory for %zu bytes\n", ctx->rank,
                max_bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    fill(buf, nmax, 0.0f); /* fault the pages in before anything is timed */

    const char *lib = bench_openmpi_version();
    size_t seg = opts.segment_bytes ? opts.segment_bytes : RT_RING_SEGMENT_DEFAULT;
    int window = opts.window ? opts.window : RT_RING_WINDOW_DEFAULT;
    bench_json j = {0};
    if (ctx->rank == 0) {
        bench_begin(&j, stdout, "allreduce", lib, NULL);
        bj_object(&j, "config");
        bj_int(&j, "ranks", P);
        bj_int(&j, "nodes", ctx->nodes);
        bj_int(&j, "ranks_per_node", ctx->ranks_per_node);
        bj_int(&j, "min_bytes", (long long)min_bytes);
        bj_int(&j, "max_bytes", (long long)max_bytes);
        bj_int(&j, "repeats", repeats);
        bj_str(&j, "repeats_note",
               "at least --repeats; more for small sizes (up to 64 MiB of "
               "traffic per algorithm, at most 100)");
        bj_int(&j, "segment_bytes", (long long)seg);
        bj_int(&j, "window", window);
        bj_str(&j, "time", "per repeat, the slowest rank");
        bj_str(&j, "busbw", "algbw * 2(P-1)/P, algbw = bytes / time, GB = 1e9 bytes");
        bj_end(&j);
        bj_array(&j, "results");
        fprintf(stderr, "all-reduce, P=%d (%d node(s), %d ranks/node), %s\n", P, ctx->nodes,
                ctx->ranks_per_node, lib ? lib : "MPI");
        fprintf(stderr, "%12s %5s %11s %11s %11s %11s %8s\n", "bytes", "reps", "ring ms", "mpi ms",
                "ring busbw", "mpi busbw", "ring/mpi");
    }
    int all_ok = 1;
    for (size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
        size_t n = bytes / sizeof(float);
        /* small messages are noisy: more repeats, bounded by the time they take */
        int reps = repeats;
        size_t more = ((size_t)64 << 20) / bytes;
        if (more > (size_t)reps) reps = more > 100 ? 100 : (int)more;
        /* times, then algbw and busbw of each algorithm */
        double *tr = malloc(6 * (size_t)reps * sizeof *tr), *tm = tr + reps;
        double *ring_alg = tm + reps, *mpi_alg = ring_alg + reps, *ring_bus = mpi_alg + reps,
               *mpi_bus = ring_bus + reps;
        if (!tr) MPI_Abort(MPI_COMM_WORLD, 1);
        /* correctness and warm-up: every element must be 1 + 2 + ... + P exactly */
        int ok = 1;
        for (int alg = 0; alg < 2; alg++) {
            fill(buf, n, (float)(ctx->rank + 1));
            run_once(ctx, h, alg == 0, buf, n, &ok);
            for (size_t i = 0; i < n; i++)
                if (buf[i] != (float)(P * (P + 1) / 2)) {
                    ok = 0;
                    break;
                }
        }
        for (int r = 0; r < reps; r++) { /* alternate, so drift hits both alike */
            fill(buf, n, 1.0f);
            tr[r] = run_once(ctx, h, 1, buf, n, &ok);
            fill(buf, n, 1.0f);
            tm[r] = run_once(ctx, h, 0, buf, n, &ok);
        }
        int ok_all = 0;
        MPI_Allreduce(&ok, &ok_all, 1, MPI_INT, MPI_MIN, ctx->comm);
        all_ok &= ok_all;
        double t_ring = bench_median(tr, reps), t_mpi = bench_median(tm, reps);
        double f = P > 1 ? 2.0 * (P - 1) / P : 0.0;
        for (int r = 0; r < reps; r++) {
            ring_alg[r] = bytes / tr[r] / 1e9;
            mpi_alg[r] = bytes / tm[r] / 1e9;
            ring_bus[r] = ring_alg[r] * f;
            mpi_bus[r] = mpi_alg[r] * f;
        }
        if (ctx->rank == 0) {
            bj_object(&j, NULL);
            bj_int(&j, "ranks", P);
            bj_int(&j, "bytes", (long long)bytes);
            bj_int(&j, "repeats", reps);
            bj_bool(&j, "correct", ok_all);
            bj_stats(&j, "ring_s", tr, reps);
            bj_stats(&j, "mpi_s", tm, reps);
            bj_stats(&j, "ring_algbw_GBps", ring_alg, reps);
            bj_stats(&j, "ring_busbw_GBps", ring_bus, reps);
            bj_stats(&j, "mpi_algbw_GBps", mpi_alg, reps);
            bj_stats(&j, "mpi_busbw_GBps", mpi_bus, reps);
            bj_num(&j, "busbw_ratio_ring_over_mpi", t_mpi / t_ring);
            bj_num(&j, "time_ratio_ring_over_mpi", t_ring / t_mpi);
            bj_end(&j);
            fprintf(stderr, "%12zu %5d %11.3f %11.3f %11.3f %11.3f %8.2f%s\n", bytes, reps,
                    t_ring * 1e3, t_mpi * 1e3, bytes / t_ring / 1e9 * f, bytes / t_mpi / 1e9 * f,
                    t_mpi / t_ring, ok_all ? "" : "  WRONG RESULT");
            fflush(stdout);
        }
        free(tr);
    }
    if (ctx->rank == 0) {
        bj_end(&j);
        bj_bool(&j, "correct", all_ok);
        bench_finish(&j);
    }
    free(buf);
    rt_ring_destroy(&h);
    rt_mpi_ctx_destroy(&ctx);
    MPI_Finalize();
    return all_ok ? 0 : 1;
}
