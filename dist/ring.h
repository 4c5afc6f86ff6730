/* Ring all-reduce on float32 buffers over MPI point-to-point: reduce-scatter, then all-gather,
   each P-1 steps around the ring rank r -> r+1, pipelined in segments so that sending, receiving
   and adding overlap. Blocking calls for the simple cases; a handle with start/progress/wait to
   overlap a reduction with computation (gradient buckets during backward).

   Chunks: chunk i of a length-n buffer over P ranks is [i*n/P, (i+1)*n/P) (rt_ring_chunk). After
   a reduce-scatter rank r owns chunk r; that is also rank r's ZeRO-1 optimizer shard.

   Determinism: element j of chunk c is summed in the fixed order
   ((x[c+1] + x[c+2]) + ...) + x[c] (ranks mod P), whatever the timing, so the same inputs on the
   same P give the same bits. P = 1 leaves the buffer untouched.

   A P = 2 all-reduce from RT_RING_EXCHANGE_MIN_BYTES_DEFAULT up (environment:
   RT_RING_EXCHANGE_MIN_BYTES) is one exchange instead: each rank sends its whole buffer, in the
   same pipelined segments, and adds what it receives. One phase instead of two (the second
   waits for the first), as Open MPI's 2-rank algorithm; the same bits as the ring (x0 + x1 is
   x1 + x0 in IEEE arithmetic), the same n floats sent per rank, but each rank adds all n
   instead of half.

   Every operation is collective over ctx->comm: all ranks call it with the same n and kind, and
   start their ring operations in the same order (tags are drawn from ctx->tag_seq). */
#pragma once
#include <stddef.h>
#include "mpictx.h"
#include "status.h"

typedef struct rt_ring_opts {
    size_t segment_bytes; /* pipeline segment; 0 = RT_RING_SEGMENT_DEFAULT. Rounded down to whole
                             floats (at least one) */
    int window;           /* segments in flight per direction (receive scratch = window segments);
                             0 = RT_RING_WINDOW_DEFAULT */
} rt_ring_opts;

#define RT_RING_SEGMENT_DEFAULT ((size_t)1 << 20)
#define RT_RING_EXCHANGE_MIN_BYTES_DEFAULT ((size_t)16 << 20)
#define RT_RING_WINDOW_DEFAULT 4

typedef enum {
    RT_RING_ALLREDUCE,      /* buf := sum over ranks, everywhere */
    RT_RING_REDUCE_SCATTER, /* chunk r of buf := sum over ranks on rank r; the rest is scratch */
    RT_RING_ALLGATHER,      /* every rank contributes its chunk r; all end with the whole buf */
} rt_ring_kind;

/* 1 when an all-reduce of n floats over P ranks runs as one exchange (P = 2, at least the
   exchange's minimum bytes); kind is the operation's. Local and pure but for reading the
   environment once. */
int rt_ring_uses_exchange(int P, size_t n, rt_ring_kind kind);

/* The chunk rule: [*lo, *hi) = [r*n/P, (r+1)*n/P) (exact, without overflow). Chunks of
   r = 0..P-1 cover [0, n) in order, disjointly; lengths differ by at most one. Local; P >= 1,
   0 <= r < P. */
void rt_ring_chunk(size_t n, int P, int r, size_t *lo, size_t *hi);

/* Sums buf[0..n) over the ranks of ctx->comm, in place. Collective. opts may be NULL (defaults).
   Allocates its receive scratch (window * segment bytes) per call: a loop that reduces every step
   should keep an rt_ring handle instead. Returns RT_ERR_ARG for bad arguments, RT_ERR_MEMORY,
   RT_ERR_MPI with MPI's error string; an MPI failure is local to the ranks that see it and the
   others may wait forever, so treat it as fatal (MPI_Abort). */
rt_status rt_ring_allreduce(rt_mpi_ctx *ctx, float *buf, size_t n, const rt_ring_opts *opts);

/* Afterwards chunk r of buf (rt_ring_chunk(n, P, rank)) holds the sum over ranks of that chunk;
   the other chunks are left holding partial sums (scratch). Collective; as rt_ring_allreduce. */
rt_status rt_ring_reduce_scatter(rt_mpi_ctx *ctx, float *buf, size_t n, const rt_ring_opts *opts);

/* Rank r's chunk r of buf is its contribution; afterwards every rank holds all chunks. The other
   chunks' contents on entry are ignored. Collective; as rt_ring_allreduce (no scratch). */
rt_status rt_ring_allgather(rt_mpi_ctx *ctx, float *buf, size_t n, const rt_ring_opts *opts);

/* ---- nonblocking: one handle per operation in flight ------------------------------------------

   RT_CALL(rt_ring_start(h, ctx, grads + off, len, RT_RING_REDUCE_SCATTER));
   for each remaining layer: backward(layer); RT_CALL(rt_ring_progress(h, &done));
   RT_CALL(rt_ring_wait(h));

   Nothing moves unless the owner calls rt_ring_progress or rt_ring_wait (MPI has no progress
   thread here): each call tests the requests in flight, adds what has arrived, and posts the next
   sends and receives the window allows, never blocking. Between start and the end of wait the
   buffer belongs to the operation: do not read or write it. Several handles may be in flight at
   once on one ctx (each has its own tag). */
typedef struct rt_ring rt_ring;

/* Creates a handle with its scratch (window * segment bytes) and request arrays, so start never
   allocates. opts may be NULL. Local. *out is the caller's (rt_ring_destroy). */
rt_status rt_ring_create(rt_ring **out, const rt_ring_opts *opts);

/* Frees the handle and sets *h to NULL; NULL is a no-op. Local. An operation still in flight is
   cancelled first (only sensible on the way to MPI_Abort/MPI_Finalize after an error), quietly:
   it records no error, so the error that led here stays the one reported. */
void rt_ring_destroy(rt_ring **h);

/* Starts kind on buf[0..n) and posts the first receives and sends. Collective (every rank starts
   the same operations in the same order; it does not synchronize). Returns RT_ERR_ARG when h is
   already in flight or the arguments are bad, RT_ERR_MPI. P = 1 or n = 0: done at once. */
rt_status rt_ring_start(rt_ring *h, rt_mpi_ctx *ctx, float *buf, size_t n, rt_ring_kind kind);

/* The same with explicit chunk boundaries: chunk c is [bounds[c], bounds[c+1]), bounds has
   ctx->size + 1 non-decreasing entries from 0 to n (chunks may be empty). A reduce-scatter over a
   gradient bucket with the whole buffer's shard boundaries clipped to the bucket lands every
   element on the rank that owns it, summed in the same order as a whole-buffer reduce-scatter.
   bounds is copied. */
rt_status rt_ring_start_bounds(rt_ring *h, rt_mpi_ctx *ctx, float *buf, size_t n, rt_ring_kind kind,
                               const size_t *bounds);

/* Advances the operation as far as it can without blocking (MPI_Testsome, adds, new posts).
   *done := 1 when it has finished (then rt_ring_wait returns at once), else 0. Local. Calling it
   on an idle or finished handle is allowed (*done = 1). Returns RT_ERR_MPI on failure (the
   operation is then abandoned; the status is returned again by rt_ring_wait). */
rt_status rt_ring_progress(rt_ring *h, int *done);

/* Completes the operation, polling MPI_Testsome between steps (spinning briefly, then sleeping,
   see io/watchdog.h; a watchdog scope covers the wait); afterwards the handle is idle
   and can be started again. Local (but it waits on the neighbours' progress). Returns the first
   error the operation met, else RT_OK. */
rt_status rt_ring_wait(rt_ring *h);

/* Names what h reduces (copied, up to 95 bytes; e.g. "gradient bucket 3") for the watchdog's
   message when a wait of h expires (io/watchdog.h). Local. */
void rt_ring_set_label(rt_ring *h, const char *label);

/* Whether h has an operation started and not yet waited for. Local. */
int rt_ring_busy(const rt_ring *h);
