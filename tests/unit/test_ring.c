/* dist/ring and dist/mpictx under MPI (run with 1, 2, 3 and 4 ranks; 3 catches uneven chunks).
   Every rank generates every rank's data (a hash of rank and index), so each can check the whole
   result locally: against a double-precision sum, and bit for bit against the documented
   summation order. Collectives first, assertions after: a failed assertion must not skip a
   collective on one rank while the others wait in it. */
#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpictx.h"
#include "ring.h"

static int rank, nranks;
static rt_mpi_ctx *ctx;

/* Option sets every reduction is run with: the default pipeline, odd segment sizes, one message
   in flight each way. */
static const rt_ring_opts OPTS[] = {
    {0, 0},               /* 256 KiB segments, window 4 */
    {12, 1},              /* 3 floats per segment: used only for n <= 4096 (many messages) */
    {1024 + 4, 1},        /* 257 floats, one in flight */
    {4096 + 4, 3},        /* 1025 floats, window 3 */
    {(size_t)1 << 20, 2}, /* 1 MiB */
};
#define NOPTS (sizeof OPTS / sizeof OPTS[0])
#define SKIP(o, n) ((o) == 1 && (n) > 4096)

static uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Rank q's element i: a 24-bit value in [-1, 1) times 2^-8..2^7, so float sums round and the
   order of additions shows in the bits. */
static float value(int q, size_t i, uint64_t seed) {
    uint64_t h = splitmix64(seed ^ ((uint64_t)q << 48) ^ i);
    float u = (float)(h >> 40) / 16777216.0f * 2.0f - 1.0f;
    return ldexpf(u, (int)(h & 15) - 8);
}

static void fill(float *x, size_t n, int q, uint64_t seed) {
    for (size_t i = 0; i < n; i++) x[i] = value(q, i, seed);
}

/* The documented order for element i of chunk c: ((x[c+1] + x[c+2]) + ...) + x[c]. */
static float ordered_sum(size_t i, size_t n, uint64_t seed) {
    int c = 0;
    for (; c < nranks; c++) {
        size_t lo, hi;
        rt_ring_chunk(n, nranks, c, &lo, &hi);
        if (i >= lo && i < hi) break;
    }
    float s = value((c + 1) % nranks, i, seed);
    for (int k = 2; k <= nranks; k++) s += value((c + k) % nranks, i, seed);
    return s;
}

static float *alloc_f(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "[rank %d] out of memory\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return p;
}

/* The worst of a local flag or value over all ranks (a collective). */
static int all_ok(int ok) {
    int r = 0;
    MPI_Allreduce(&ok, &r, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return r;
}
static double all_max(double v) {
    double r = 0;
    MPI_Allreduce(&v, &r, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return r;
}

START_TEST(test_chunk_rule) {
    const size_t ns[] = {0, 1, 2, 5, 1000};
    int ok = 1;
    for (int P = 1; P <= 8; P++)
        for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
            size_t n = ns[j], prev = 0, minlen = SIZE_MAX, maxlen = 0;
            for (int r = 0; r < P; r++) {
                size_t lo, hi;
                rt_ring_chunk(n, P, r, &lo, &hi);
                ok &= lo == prev && lo <= hi && lo == (size_t)r * n / (size_t)P;
                prev = hi;
                if (hi - lo < minlen) minlen = hi - lo;
                if (hi - lo > maxlen) maxlen = hi - lo;
            }
            ok &= prev == n && maxlen - minlen <= 1;
            ck_assert_msg(ok, "chunks of n=%zu over P=%d do not tile [0, n)", n, P);
        }
    /* exact for huge n too (r*n would overflow) */
    size_t n = SIZE_MAX - 2, lo, hi;
    rt_ring_chunk(n, 7, 6, &lo, &hi);
    ck_assert(hi == n);
    rt_ring_chunk(n, 7, 3, &lo, &hi);
    ck_assert(lo == (size_t)((unsigned __int128)3 * n / 7));
    ck_assert(hi == (size_t)((unsigned __int128)4 * n / 7));
}
END_TEST

/* All-reduce of deterministic per-rank data against a double reference and against the documented
   float order, for each option set; lengths 1, P-1, 7, 1000003 and 0. */
START_TEST(test_allreduce_reference) {
    size_t lens[5];
    int nl = 0;
    lens[nl++] = 1;
    if (nranks > 1) lens[nl++] = (size_t)nranks - 1;
    lens[nl++] = 7;
    lens[nl++] = 1000003;
    lens[nl++] = 0;
    int ok = 1, bits = 1;
    double worst_ratio = 0;
    char err[512] = "";
    for (int l = 0; l < nl; l++) {
        size_t n = lens[l];
        float *x = alloc_f(n);
        double maxdiff = 0, ratio = 0;
        size_t mismatch = 0;
        for (size_t o = 0; o < NOPTS; o++) {
            if (SKIP(o, n)) continue;
            uint64_t seed = 1000 + (uint64_t)l;
            fill(x, n, rank, seed);
            rt_status st = rt_ring_allreduce(ctx, x, n, &OPTS[o]);
            if (st != RT_OK) {
                ok = 0;
                snprintf(err, sizeof err, "%s", rt_error_message());
            }
            for (size_t i = 0; i < n; i++) {
                double ref = 0, mag = 0;
                for (int q = 0; q < nranks; q++) {
                    double v = value(q, i, seed);
                    ref += v;
                    mag += fabs(v);
                }
                double d = fabs((double)x[i] - ref), tol = nranks * ldexp(mag, -24);
                if (d > maxdiff) maxdiff = d;
                if (tol > 0 && d / tol > ratio) ratio = d / tol;
                if (d > tol) ok = 0;
                if (x[i] != ordered_sum(i, n, seed) && !mismatch++) bits = 0;
            }
        }
        maxdiff = all_max(maxdiff);
        ratio = all_max(ratio);
        if (ratio > worst_ratio) worst_ratio = ratio;
        if (rank == 0)
            printf("allreduce P=%d n=%zu: max |ring - double sum| = %.3g (%.2f of the bound "
                   "P*2^-24*sum|x|), %zu elements off the documented order\n",
                   nranks, n, maxdiff, ratio, mismatch);
        free(x);
    }
    ok = all_ok(ok);
    bits = all_ok(bits);
    ck_assert_msg(ok, "all-reduce failed or out of tolerance (worst %.2f of bound): %s",
                  worst_ratio, err);
    ck_assert_msg(bits, "all-reduce is not bitwise the documented summation order");
}
END_TEST

/* Reduce-scatter then all-gather is bitwise the all-reduce; after the reduce-scatter alone this
   rank's chunk already holds it. */
START_TEST(test_reduce_scatter_allgather_round_trip) {
    const size_t lens[] = {1, 7, 1000003, 0, 3, 64};
    int ok = 1, chunk_ok = 1;
    char err[512] = "";
    for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
        for (size_t o = 0; o < NOPTS; o++) {
            size_t n = lens[l], lo, hi;
            if (SKIP(o, n)) continue;
            rt_ring_chunk(n, nranks, rank, &lo, &hi);
            float *a = alloc_f(n), *b = alloc_f(n);
            fill(a, n, rank, 77 + l);
            memcpy(b, a, n * sizeof *a);
            rt_status st = rt_ring_allreduce(ctx, a, n, &OPTS[o]);
            if (st == RT_OK) st = rt_ring_reduce_scatter(ctx, b, n, &OPTS[o]);
            if (st == RT_OK && n && memcmp(a + lo, b + lo, (hi - lo) * sizeof *a)) chunk_ok = 0;
            /* everything but this rank's chunk is garbage for the all-gather */
            for (size_t i = 0; i < n; i++)
                if (i < lo || i >= hi) b[i] = NAN;
            if (st == RT_OK) st = rt_ring_allgather(ctx, b, n, &OPTS[o]);
            if (st != RT_OK) snprintf(err, sizeof err, "%s", rt_error_message());
            if (st != RT_OK || (n && memcmp(a, b, n * sizeof *a))) ok = 0;
            free(a);
            free(b);
        }
    ok = all_ok(ok);
    chunk_ok = all_ok(chunk_ok);
    ck_assert_msg(chunk_ok, "reduce-scatter chunk differs from the all-reduce");
    ck_assert_msg(ok, "reduce-scatter + all-gather differs from the all-reduce %s", err);
}
END_TEST

/* Start/progress/wait gives the same bits as the blocking call, with computation between progress
   calls, two operations in flight at once on one ctx, and a handle reused after wait. */
START_TEST(test_nonblocking_matches_blocking) {
    const size_t n = 1000003, m = 4099;
    float *a = alloc_f(n), *ref_a = alloc_f(n), *b = alloc_f(m), *ref_b = alloc_f(m);
    float *c = alloc_f(n), *ref_c = alloc_f(n), *work = alloc_f(4096);
    fill(ref_a, n, rank, 5);
    fill(ref_b, m, rank, 6);
    fill(ref_c, n, rank, 7);
    memcpy(a, ref_a, n * sizeof *a);
    memcpy(b, ref_b, m * sizeof *b);
    memcpy(c, ref_c, n * sizeof *c);
    rt_ring_opts opts = {64 << 10, 2}; /* many segments: many progress steps */
    rt_status st = rt_ring_allreduce(ctx, ref_a, n, &opts);
    if (st == RT_OK) st = rt_ring_reduce_scatter(ctx, ref_b, m, &opts);
    if (st == RT_OK) st = rt_ring_allgather(ctx, ref_c, n, &opts);

    rt_ring *h1 = NULL, *h2 = NULL;
    if (st == RT_OK) st = rt_ring_create(&h1, &opts);
    if (st == RT_OK) st = rt_ring_create(&h2, &opts);
    int idle_done = 0, calls = 0, done1 = 0, done2 = 0, busy_rejected = 0;
    if (st == RT_OK) st = rt_ring_progress(h1, &idle_done);
    if (st == RT_OK) st = rt_ring_start(h1, ctx, a, n, RT_RING_ALLREDUCE);
    if (st == RT_OK) st = rt_ring_start(h2, ctx, b, m, RT_RING_REDUCE_SCATTER);
    if (st == RT_OK) {
        busy_rejected = rt_ring_start(h1, ctx, a, n, RT_RING_ALLREDUCE) == RT_ERR_ARG;
        rt_error_clear();
    }
    float acc = 0;
    for (int i = 0; i < 4096; i++) work[i] = (float)i;
    while (st == RT_OK && !(done1 && done2)) { /* "backward" between progress calls */
        for (int i = 0; i < 4096; i++) acc += work[i] * 1e-6f;
        st = rt_ring_progress(h1, &done1);
        if (st == RT_OK) st = rt_ring_progress(h2, &done2);
        calls++;
    }
    if (st == RT_OK) st = rt_ring_wait(h1);
    if (st == RT_OK) st = rt_ring_wait(h2);
    /* the handle again, this time finished by wait alone */
    if (st == RT_OK) st = rt_ring_start(h1, ctx, c, n, RT_RING_ALLGATHER);
    if (st == RT_OK) st = rt_ring_wait(h1);
    char err[512] = "";
    if (st != RT_OK) snprintf(err, sizeof err, "%s", rt_error_message());
    rt_ring_destroy(&h1);
    rt_ring_destroy(&h2);

    size_t lo, hi;
    rt_ring_chunk(m, nranks, rank, &lo, &hi);
    int same = st == RT_OK && !memcmp(a, ref_a, n * sizeof *a) &&
               !memcmp(b + lo, ref_b + lo, (hi - lo) * sizeof *b) &&
               !memcmp(c, ref_c, n * sizeof *c);
    int ok = all_ok(st == RT_OK), same_all = all_ok(same);
    int calls_max = (int)all_max(calls);
    if (rank == 0)
        printf("nonblocking P=%d: %d progress rounds (max over ranks) until both done, "
               "acc %.3g\n",
               nranks, calls_max, (double)acc);
    free(a);
    free(ref_a);
    free(b);
    free(ref_b);
    free(c);
    free(ref_c);
    free(work);
    ck_assert_msg(ok, "nonblocking ring failed: %s", err);
    ck_assert_msg(same_all, "nonblocking result differs from blocking");
    ck_assert(idle_done == 1);
    ck_assert(busy_rejected);
    ck_assert(h1 == NULL && h2 == NULL);
}
END_TEST

/* The same inputs give the same bits: twice with the same options, and across segment sizes and
   windows (segmentation never changes the order of additions). */
START_TEST(test_deterministic) {
    const size_t n = 300007;
    float *x = alloc_f(n), *first = alloc_f(n);
    int ok = 1, same = 1;
    for (int run = 0; run < 2; run++)
        for (size_t o = 0; o < NOPTS; o++) {
            if (SKIP(o, n)) continue;
            fill(x, n, rank, 99);
            if (rt_ring_allreduce(ctx, x, n, &OPTS[o]) != RT_OK) ok = 0;
            if (run == 0 && o == 0)
                memcpy(first, x, n * sizeof *x);
            else if (memcmp(first, x, n * sizeof *x))
                same = 0;
        }
    /* P = 1: the input itself */
    fill(x, n, rank, 99);
    rt_mpi_ctx *self = NULL;
    int self_ok = rt_mpi_ctx_create_on(MPI_COMM_SELF, &self) == RT_OK &&
                  rt_ring_allreduce(self, x, n, NULL) == RT_OK;
    fill(first, n, rank, 99);
    self_ok = self_ok && !memcmp(first, x, n * sizeof *x) && self->size == 1 && self->nodes == 1;
    rt_mpi_ctx_destroy(&self);
    free(x);
    free(first);
    ok = all_ok(ok);
    same = all_ok(same);
    self_ok = all_ok(self_ok);
    ck_assert_msg(ok, "all-reduce failed");
    ck_assert_msg(same, "two all-reduces of the same data differ");
    ck_assert_msg(self_ok, "a 1-rank all-reduce changed its input");
}
END_TEST

/* Many small shapes: lengths around P (empty chunks), one-float segments, windows 1..5, all three
   kinds through both the blocking and the handle path, each bitwise against the documented order.
 */
START_TEST(test_sweep_shapes) {
    const size_t seg_bytes[] = {4, 8, 12, 40, 400, 4096};
    const size_t cap = 5000;
    float *x = alloc_f(cap), *y = alloc_f(cap);
    rt_ring *h = NULL;
    int ok = rt_ring_create(&h, &(rt_ring_opts){8, 2}) == RT_OK, bits = 1, cases = 0;
    uint64_t r = 12345;
    for (int c = 0; c < 40; c++) {
        r = splitmix64(r);
        size_t n = c < 10 ? (size_t)c : (size_t)(r % cap);
        rt_ring_opts o = {seg_bytes[(r >> 20) % 6], 1 + (int)((r >> 30) % 5)};
        size_t lo, hi;
        rt_ring_chunk(n, nranks, rank, &lo, &hi);
        /* blocking all-reduce */
        fill(x, n, rank, 500 + (uint64_t)c);
        if (rt_ring_allreduce(ctx, x, n, &o) != RT_OK) ok = 0;
        for (size_t i = 0; i < n; i++)
            if (x[i] != ordered_sum(i, n, 500 + (uint64_t)c)) bits = 0;
        /* handle: reduce-scatter, then all-gather of the result, progress-driven */
        fill(y, n, rank, 500 + (uint64_t)c);
        int done = 0;
        if (rt_ring_start(h, ctx, y, n, RT_RING_REDUCE_SCATTER) != RT_OK) ok = 0;
        while (ok && !done)
            if (rt_ring_progress(h, &done) != RT_OK) ok = 0;
        if (rt_ring_wait(h) != RT_OK) ok = 0;
        for (size_t i = 0; i < n; i++)
            if (i < lo || i >= hi) y[i] = -1.0f;
        if (rt_ring_start(h, ctx, y, n, RT_RING_ALLGATHER) != RT_OK || rt_ring_wait(h) != RT_OK)
            ok = 0;
        if (n && memcmp(x, y, n * sizeof *x)) bits = 0;
        cases++;
    }
    rt_ring_destroy(&h);
    free(x);
    free(y);
    ok = all_ok(ok);
    bits = all_ok(bits);
    ck_assert_msg(ok, "a ring operation failed: %s", rt_error_message());
    ck_assert_msg(bits, "a shape is off the documented summation order");
    ck_assert_int_eq(cases, 40);
}
END_TEST

START_TEST(test_ctx_topology) {
    /* one machine: one node holding every rank */
    int hostlen = 0;
    char host[MPI_MAX_PROCESSOR_NAME];
    MPI_Get_processor_name(host, &hostlen);
    ck_assert_int_eq(ctx->size, nranks);
    ck_assert_int_eq(ctx->rank, rank);
    ck_assert_int_eq(ctx->nodes, 1);
    ck_assert_int_eq(ctx->ranks_per_node, nranks);
    ck_assert_int_eq(ctx->node_size, nranks);
    ck_assert_int_eq(ctx->node_rank, rank);
    ck_assert_int_eq(ctx->node_index, 0);
    if (rank == 0)
        printf("ctx on %s: size %d, nodes %d, ranks per node %d\n", host, ctx->size, ctx->nodes,
               ctx->ranks_per_node);
    /* errors come back as codes: a send to a rank that does not exist fails locally */
    float v = 0;
    int rc = MPI_Send(&v, 1, MPI_FLOAT, nranks, 0, ctx->comm);
    ck_assert_int_ne(rc, MPI_SUCCESS);
    ck_assert_int_eq(rt_mpi_check(rc, "MPI_Send"), RT_ERR_MPI);
    ck_assert_msg(!strncmp(rt_error_message(), "MPI_Send: ", 10) && strlen(rt_error_message()) > 12,
                  "%s", rt_error_message());
    ck_assert_int_eq(rt_mpi_check(MPI_SUCCESS, "x"), RT_OK);
}
END_TEST

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The status and message every rank got: the same on all? */
static int same_everywhere(rt_status st, const char *msg) {
    uint64_t v[2] = {(uint64_t)st, hash_str(msg)}, lo[2], hi[2];
    MPI_Allreduce(v, lo, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(v, hi, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    return lo[0] == hi[0] && lo[1] == hi[1];
}

START_TEST(test_status_agreement) {
    char msg[3][256], want[3][256];
    rt_status got[3], want_st[3];
    int same[3];

    /* 1: every rank fine: RT_OK, messages untouched */
    rt_error(RT_OK, "untouched");
    got[0] = rt_mpi_ctx_agree(ctx, RT_OK);
    snprintf(msg[0], sizeof msg[0], "%s", rt_error_message());
    same[0] = same_everywhere(got[0], msg[0]);
    want_st[0] = RT_OK;
    snprintf(want[0], sizeof want[0], "untouched");

    /* 2: only the last rank fails */
    int last = nranks - 1;
    rt_status st = RT_OK;
    if (rank == last) st = rt_error(RT_ERR_IO, "disk full on rank %d", rank);
    got[1] = rt_mpi_ctx_agree(ctx, st);
    snprintf(msg[1], sizeof msg[1], "%s", rt_error_message());
    same[1] = same_everywhere(got[1], msg[1]);
    want_st[1] = RT_ERR_IO;
    snprintf(want[1], sizeof want[1], "rank %d: disk full on rank %d", last, last);

    /* 3: ranks >= 1 fail with different statuses (rank 0 too when alone): MAX status, message of
       the lowest failing rank */
    int first_fail = nranks > 1 ? 1 : 0;
    want_st[2] = RT_OK;
    for (int q = first_fail; q < nranks; q++) {
        rt_status s = q % 2 ? RT_ERR_ARG : RT_ERR_HDF5;
        if (s > want_st[2]) want_st[2] = s;
    }
    st = RT_OK;
    if (rank >= first_fail)
        st = rt_error(rank % 2 ? RT_ERR_ARG : RT_ERR_HDF5, "bad thing %d", rank);
    got[2] = rt_mpi_ctx_agree(ctx, st);
    snprintf(msg[2], sizeof msg[2], "%s", rt_error_message());
    same[2] = same_everywhere(got[2], msg[2]);
    snprintf(want[2], sizeof want[2], "rank %d: bad thing %d", first_fail, first_fail);
    rt_error_clear();

    for (int k = 0; k < 3; k++) {
        ck_assert_msg(same[k], "case %d: ranks disagree", k);
        ck_assert_msg(got[k] == want_st[k], "case %d: status %s, want %s", k,
                      rt_status_name(got[k]), rt_status_name(want_st[k]));
        ck_assert_msg(!strcmp(msg[k], want[k]), "case %d: '%s', want '%s'", k, msg[k], want[k]);
    }
    if (rank == 0) printf("agree P=%d: '%s' / '%s'\n", nranks, msg[1], msg[2]);
}
END_TEST

/* Bad arguments are refused before anything is sent (the same on every rank). */
START_TEST(test_bad_arguments) {
    rt_ring *h = NULL;
    rt_ring_opts bad = {0, -2};
    ck_assert_int_eq(rt_ring_create(&h, &bad), RT_ERR_ARG);
    ck_assert(h == NULL);
    ck_assert_int_eq(rt_ring_allreduce(ctx, NULL, 5, NULL), RT_ERR_ARG);
    ck_assert_int_eq(rt_ring_allreduce(ctx, NULL, 0, NULL), RT_OK);
    ck_assert_int_eq(rt_ring_create(&h, NULL), RT_OK);
    float x = 1;
    ck_assert_int_eq(rt_ring_start(h, ctx, &x, 1, (rt_ring_kind)7), RT_ERR_ARG);
    ck_assert(!rt_ring_busy(h));
    ck_assert_int_eq(rt_ring_wait(h), RT_OK); /* idle: nothing to wait for */
    rt_ring_destroy(&h);
    rt_ring_destroy(&h); /* NULL: no-op */
    ck_assert(h == NULL);
    rt_error_clear();
}
END_TEST

/* Buckets: a reduce-scatter over sub-ranges [a, b) of a buffer with the whole buffer's chunk
   boundaries clipped to each bucket gives every rank its whole-buffer chunk with the same bits as
   one whole-buffer reduce-scatter (the ZeRO-1 shards with overlapped gradient buckets). */
START_TEST(test_bucketed_bounds_match_whole) {
    static const size_t N = 100003, cuts[] = {0, 7, 31000, 31001, 64000, 100003};
    float *whole = alloc_f(N), *bucketed = alloc_f(N);
    fill(whole, N, rank, 99);
    fill(bucketed, N, rank, 99);
    rt_status st = rt_ring_reduce_scatter(ctx, whole, N, NULL);
    rt_ring *h = NULL;
    if (st == RT_OK) st = rt_ring_create(&h, NULL);
    size_t bounds[17];
    for (size_t k = 0; st == RT_OK && k + 1 < sizeof cuts / sizeof cuts[0]; k++) {
        size_t a = cuts[k], b = cuts[k + 1];
        for (int c = 0; c <= nranks; c++) {
            size_t lo, hi;
            rt_ring_chunk(N, nranks, c < nranks ? c : nranks - 1, &lo, &hi);
            size_t edge = c < nranks ? lo : hi;
            bounds[c] = edge < a ? 0 : (edge > b ? b - a : edge - a);
        }
        st = rt_ring_start_bounds(h, ctx, bucketed + a, b - a, RT_RING_REDUCE_SCATTER, bounds);
        if (st == RT_OK) st = rt_ring_wait(h);
    }
    rt_ring_destroy(&h);
    size_t lo, hi, bad = 0;
    rt_ring_chunk(N, nranks, rank, &lo, &hi);
    for (size_t i = lo; i < hi; i++) bad += memcmp(&whole[i], &bucketed[i], sizeof(float)) != 0;
    int ok = st == RT_OK && bad == 0, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank == 0) printf("ring: bucketed reduce-scatter vs whole: %zu differing floats\n", bad);
    free(whole);
    free(bucketed);
    ck_assert_msg(all, "rank %d: status %d, %zu floats differ", rank, (int)st, bad);
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (rt_mpi_ctx_create(&ctx) != RT_OK) {
        fprintf(stderr, "[rank %d] test_ring: %s\n", rank, rt_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }

    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_chunk_rule);
    tcase_add_test(tc, test_allreduce_reference);
    tcase_add_test(tc, test_reduce_scatter_allgather_round_trip);
    tcase_add_test(tc, test_nonblocking_matches_blocking);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_sweep_shapes);
    tcase_add_test(tc, test_bucketed_bounds_match_whole);
    tcase_add_test(tc, test_ctx_topology);
    tcase_add_test(tc, test_status_agreement);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    int nf = srunner_ntests_failed(sr), total = 0;
    if (rank != 0 && nf > 0) { /* rank 0 printed its own; the others' would be lost */
        TestResult **tr = srunner_failures(sr);
        for (int i = 0; i < nf; i++)
            fprintf(stderr, "[rank %d] %s:%d: %s: %s\n", rank, tr_lfile(tr[i]), tr_lno(tr[i]),
                    tr_tcname(tr[i]), tr_msg(tr[i]));
        free(tr);
    }
    srunner_free(sr);
    MPI_Allreduce(&nf, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0 && total) fprintf(stderr, "test_ring: %d failures summed over ranks\n", total);
    rt_mpi_ctx_destroy(&ctx);
    MPI_Finalize();
    return total == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
