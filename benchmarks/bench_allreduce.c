/* All-reduce bandwidth: ringtune's ring (dist/ring.c) against the MPI library's MPI_Allreduce, on
   float32 buffers from 4 KiB to 256 MiB (powers of 4). Each point is the median over repeats of
   the slowest rank's time; algbw = bytes / time and busbw = algbw * 2(P-1)/P, as nccl-tests define
   them (GB = 1e9 bytes). Rank 0 prints JSON on stdout and a table on stderr.
   usage: mpirun -n P bench_allreduce [--min-bytes B] [--max-bytes B] [--repeats R]
          [--segment-kib K] [--window W] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpictx.h"
#include "ring.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

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

    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int liblen = 0;
    MPI_Get_library_version(lib, &liblen);
    lib[strcspn(lib, ",\n")] = 0;
    size_t seg = opts.segment_bytes ? opts.segment_bytes : RT_RING_SEGMENT_DEFAULT;
    int window = opts.window ? opts.window : RT_RING_WINDOW_DEFAULT;
    if (ctx->rank == 0) {
        printf("{\n  \"benchmark\": \"allreduce\",\n  \"mpi\": \"%s\",\n  \"P\": %d,\n"
               "  \"nodes\": %d,\n  \"ranks_per_node\": %d,\n  \"segment_bytes\": %zu,\n"
               "  \"window\": %d,\n  \"time\": \"median over repeats of the slowest rank\",\n"
               "  \"busbw\": \"algbw * 2(P-1)/P, algbw = bytes / time, GB = 1e9 bytes\",\n"
               "  \"results\": [",
               lib, P, ctx->nodes, ctx->ranks_per_node, seg, window);
        fprintf(stderr, "all-reduce, P=%d (%d node(s), %d ranks/node), %s\n", P, ctx->nodes,
                ctx->ranks_per_node, lib);
        fprintf(stderr, "%12s %5s %11s %11s %11s %11s %8s\n", "bytes", "reps", "ring ms", "mpi ms",
                "ring busbw", "mpi busbw", "ring/mpi");
    }
    int first = 1, all_ok = 1;
    for (size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
        size_t n = bytes / sizeof(float);
        /* small messages are noisy: more repeats, bounded by the time they take */
        int reps = repeats;
        size_t more = ((size_t)64 << 20) / bytes;
        if (more > (size_t)reps) reps = more > 100 ? 100 : (int)more;
        double *tr = malloc(2 * (size_t)reps * sizeof *tr), *tm = tr + reps;
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
        double t_ring = median(tr, reps), t_mpi = median(tm, reps);
        double f = P > 1 ? 2.0 * (P - 1) / P : 0.0;
        double ring_alg = bytes / t_ring / 1e9, mpi_alg = bytes / t_mpi / 1e9;
        if (ctx->rank == 0) {
            printf("%s\n    {\"bytes\": %zu, \"repeats\": %d, \"correct\": %s, \"ring_s\": %.6e, "
                   "\"mpi_s\": %.6e, \"ring_algbw_GBps\": %.4f, \"ring_busbw_GBps\": %.4f, "
                   "\"mpi_algbw_GBps\": %.4f, \"mpi_busbw_GBps\": %.4f, "
                   "\"busbw_ratio_ring_over_mpi\": %.4f, \"time_ratio_ring_over_mpi\": %.4f}",
                   first ? "" : ",", bytes, reps, ok_all ? "true" : "false", t_ring, t_mpi,
                   ring_alg, ring_alg * f, mpi_alg, mpi_alg * f, t_mpi / t_ring, t_ring / t_mpi);
            fprintf(stderr, "%12zu %5d %11.3f %11.3f %11.3f %11.3f %8.2f%s\n", bytes, reps,
                    t_ring * 1e3, t_mpi * 1e3, ring_alg * f, mpi_alg * f, t_mpi / t_ring,
                    ok_all ? "" : "  WRONG RESULT");
            fflush(stdout);
        }
        first = 0;
        free(tr);
    }
    if (ctx->rank == 0) printf("\n  ]\n}\n");
    free(buf);
    rt_ring_destroy(&h);
    rt_mpi_ctx_destroy(&ctx);
    MPI_Finalize();
    return all_ok ? 0 : 1;
}
