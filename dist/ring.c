/* Ring reduce-scatter / all-gather / all-reduce as one state machine over a numbered sequence of
   segment messages. Step g moves chunk (r-g-1) to the right and takes chunk (r-g-2) from the
   left (indices mod P); steps 0..P-2 add what arrives (reduce-scatter), steps P-1..2P-3 copy it
   (all-gather). A chunk's segments travel in order, so segment k of step g can be sent as soon as
   segment k of step g-1 has arrived (and been added): that is the pipeline. */
#include "ring.h"
#include "watchdog.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tags of ring operations: one per start, cycling; ranks agree because they start operations in
   the same order. Any MPI implementation allows tags up to at least 32767. */
#define RING_TAG_BASE 1024
#define RING_TAGS 16384
/* Largest segment: counts are ints in MPI. */
#define RING_SEG_MAX ((size_t)1 << 28)

typedef struct {
    int g;    /* absolute step */
    size_t k; /* segment within the step's chunk */
} cursor;

struct rt_ring {
    size_t seg;            /* floats per segment */
    size_t slot;           /* floats between receive slots in scratch: min(seg, largest chunk) */
    int window;            /* receives (and sends) in flight at most */
    float *scratch;        /* (window, slot) receive slots of reduce steps; NULL in a blocking
                              all-gather */
    size_t scratch_floats; /* capacity of scratch */
    MPI_Request *req;      /* (2 * window): [0, window) receives, [window, 2 * window) sends */
    MPI_Status *stat;      /* (2 * window) */
    int *idx;              /* (2 * window) */

    /* the operation in flight */
    int busy, failed;
    rt_status err;
    char msg[1024];
    MPI_Comm comm;
    int tag, P, rank, left, right;
    float *buf;
    size_t n;
    int g0, g1; /* steps [g0, g1); reduce where g < P - 1 */
    size_t *bounds_store;
    size_t *bounds; /* (P + 1) chunk boundaries of the operation in flight, or NULL: the
                       rt_ring_chunk rule */
    int bounds_cap;
    char label[96];   /* what the reduction is of, for the watchdog ("" = unnamed) */
    cursor rcur_post; /* next receive to post */
    cursor rcur_done; /* next receive to complete */
    cursor scur_post; /* next send to post */
    size_t nrecv, rpost, rdone;
    size_t nsend, spost, sdone;
    size_t s0;         /* sends of step g0: the rank's own data, ready at once */
    size_t guard_base; /* all-reduce: receive i >= guard_base overwrites the chunk that send
                          i - guard_base read in the reduce-scatter half, so it waits for that
                          send to complete (MPI forbids reusing a send buffer earlier) */
    int exchange;      /* P = 2 all-reduce as one exchange: each rank sends all of buf and adds
                          all it receives (step 0 only, both chunks [0, n)); receive i is added
                          once send i, which reads the same segment, has completed */
};

static size_t exchange_min_bytes(void) {
    static size_t v = (size_t)-1;
    if (v == (size_t)-1) {
        const char *e = getenv("RT_RING_EXCHANGE_MIN_BYTES");
        v = e ? (size_t)strtoull(e, NULL, 10) : RT_RING_EXCHANGE_MIN_BYTES_DEFAULT;
    }
    return v;
}

int rt_ring_uses_exchange(int P, size_t n, rt_ring_kind kind) {
    return P == 2 && kind == RT_RING_ALLREDUCE && n > 0 &&
           n * sizeof(float) >= exchange_min_bytes();
}

void rt_ring_chunk(size_t n, int P, int r, size_t *lo, size_t *hi) {
    /* floor(i*n/P) = i*(n/P) + floor(i*(n%P)/P): no overflow for any n */
    size_t p = (size_t)P, q = n / p, m = n % p, i = (size_t)r;
    *lo = i * q + i * m / p;
    *hi = (i + 1) * q + (i + 1) * m / p;
}

/* Chunk c of the operation in flight. */
static void chunk_of(const rt_ring *h, int c, size_t *lo, size_t *hi) {
    if (h->exchange) {
        *lo = 0;
        *hi = h->n;
    } else if (h->bounds) {
        *lo = h->bounds[c];
        *hi = h->bounds[c + 1];
    } else {
        rt_ring_chunk(h->n, h->P, c, lo, hi);
    }
}

static int mod(int a, int P) {
    a %= P;
    return a < 0 ? a + P : a;
}

static int send_chunk(const rt_ring *h, int g) {
    return mod(h->rank - g - 1, h->P);
}
static int recv_chunk(const rt_ring *h, int g) {
    return mod(h->rank - g - 2, h->P);
}

static size_t nseg(const rt_ring *h, int chunk) {
    size_t lo, hi;
    chunk_of(h, chunk, &lo, &hi);
    return (hi - lo + h->seg - 1) / h->seg;
}

/* The region of segment c.k of the chunk that step c.g sends (is_send) or receives. */
static void region(const rt_ring *h, cursor c, int is_send, size_t *off, size_t *len) {
    size_t lo, hi;
    chunk_of(h, is_send ? send_chunk(h, c.g) : recv_chunk(h, c.g), &lo, &hi);
    *off = lo + c.k * h->seg;
    *len = hi - *off < h->seg ? hi - *off : h->seg;
}

/* Moves c to the next segment, skipping steps whose chunk is empty. */
static void advance(const rt_ring *h, cursor *c, int is_send) {
    c->k++;
    while (c->g < h->g1 && c->k >= nseg(h, is_send ? send_chunk(h, c->g) : recv_chunk(h, c->g))) {
        c->g++;
        c->k = 0;
    }
}

static cursor first(const rt_ring *h, int is_send) {
    cursor c = {h->g0, (size_t)-1};
    advance(h, &c, is_send);
    return c;
}

static void add(float *restrict dst, const float *restrict src, size_t m) {
    for (size_t i = 0; i < m; i++) dst[i] += src[i];
}

/* Cancels the receives in flight and lets go of every request. Records nothing. */
static void abandon(rt_ring *h) {
    for (int i = 0; i < 2 * h->window; i++) {
        if (h->req[i] == MPI_REQUEST_NULL) continue;
        if (i < h->window) MPI_Cancel(&h->req[i]);
        MPI_Request_free(&h->req[i]);
    }
}

static rt_status fail(rt_ring *h, rt_status st) {
    h->failed = 1;
    h->err = st;
    snprintf(h->msg, sizeof h->msg, "%s", rt_error_message());
    abandon(h);
    return st;
}

static int finished(const rt_ring *h) {
    return h->rdone == h->nrecv && h->sdone == h->nsend;
}

/* Retires completed requests in order, then posts what the window and the dependencies allow.
   Sets *moved when anything changed. */
static rt_status pump(rt_ring *h, int *moved) {
    const int W = h->window;
    while (h->rdone < h->rpost && h->req[h->rdone % (size_t)W] == MPI_REQUEST_NULL &&
           (!h->exchange || h->sdone > h->rdone)) {
        if (h->rcur_done.g < h->P - 1) { /* reduce step: add the arrived partial sum */
            size_t off, len;
            region(h, h->rcur_done, 0, &off, &len);
            add(h->buf + off, h->scratch + (h->rdone % (size_t)W) * h->slot, len);
        }
        advance(h, &h->rcur_done, 0);
        h->rdone++;
        *moved = 1;
    }
    while (h->sdone < h->spost && h->req[W + h->sdone % (size_t)W] == MPI_REQUEST_NULL) {
        h->sdone++;
        *moved = 1;
    }
    /* Receives first: a receive posted before its message arrives avoids a copy. */
    while (h->rpost < h->nrecv && h->rpost - h->rdone < (size_t)W &&
           (h->rpost < h->guard_base || h->rpost - h->guard_base < h->sdone)) {
        size_t off, len, i = h->rpost % (size_t)W;
        region(h, h->rcur_post, 0, &off, &len);
        float *dst = h->rcur_post.g < h->P - 1 ? h->scratch + i * h->slot : h->buf + off;
        int rc = MPI_Irecv(dst, (int)len, MPI_FLOAT, h->left, h->tag, h->comm, &h->req[i]);
        if (rc != MPI_SUCCESS) return fail(h, rt_mpi_check(rc, "MPI_Irecv"));
        advance(h, &h->rcur_post, 0);
        h->rpost++;
        *moved = 1;
    }
    while (h->spost < h->nsend && h->spost - h->sdone < (size_t)W &&
           (h->spost < h->s0 || h->spost - h->s0 < h->rdone)) {
        size_t off, len, i = (size_t)W + h->spost % (size_t)W;
        region(h, h->scur_post, 1, &off, &len);
        int rc =
            MPI_Isend(h->buf + off, (int)len, MPI_FLOAT, h->right, h->tag, h->comm, &h->req[i]);
        if (rc != MPI_SUCCESS) return fail(h, rt_mpi_check(rc, "MPI_Isend"));
        advance(h, &h->scur_post, 1);
        h->spost++;
        *moved = 1;
    }
    return RT_OK;
}

/* The first failing request's error when a multiple-completion call reports MPI_ERR_IN_STATUS. */
static int first_error(const rt_ring *h, int rc, int outcount) {
    if (rc != MPI_ERR_IN_STATUS) return rc;
    for (int i = 0; i < outcount; i++)
        if (h->stat[i].MPI_ERROR != MPI_SUCCESS) return h->stat[i].MPI_ERROR;
    return rc;
}

static rt_status init(rt_ring *h, const rt_ring_opts *opts, size_t scratch_floats) {
    memset(h, 0, sizeof *h);
    size_t sb = opts && opts->segment_bytes ? opts->segment_bytes : RT_RING_SEGMENT_DEFAULT;
    int w = opts && opts->window ? opts->window : RT_RING_WINDOW_DEFAULT;
    if (w < 1 || w > 1024)
        return rt_error(RT_ERR_ARG, "ring: window %d: expected 1..1024 segments in flight", w);
    h->seg = sb / sizeof(float) ? sb / sizeof(float) : 1;
    if (h->seg > RING_SEG_MAX) h->seg = RING_SEG_MAX;
    h->window = w;
    h->req = malloc(2 * (size_t)w * sizeof *h->req);
    h->stat = malloc(2 * (size_t)w * sizeof *h->stat);
    h->idx = malloc(2 * (size_t)w * sizeof *h->idx);
    if (scratch_floats) {
        if (scratch_floats > (size_t)w * h->seg) scratch_floats = (size_t)w * h->seg;
        h->scratch = malloc(scratch_floats * sizeof(float));
        h->scratch_floats = scratch_floats;
    }
    if (!h->req || !h->stat || !h->idx || (scratch_floats && !h->scratch)) {
        free(h->req);
        free(h->stat);
        free(h->idx);
        free(h->scratch);
        return rt_error(RT_ERR_MEMORY, "ring: out of memory for %zu bytes of receive scratch",
                        scratch_floats * sizeof(float));
    }
    for (int i = 0; i < 2 * w; i++) h->req[i] = MPI_REQUEST_NULL;
    return RT_OK;
}

static void fini(rt_ring *h) {
    /* An operation still in flight is only destroyed on the way out after an error (another
       rank failed before its part of this reduction): abandon it quietly, because recording an
       error here would replace the one the caller is about to report. */
    if (h->busy && !h->failed && !finished(h)) abandon(h);
    free(h->req);
    free(h->stat);
    free(h->idx);
    free(h->scratch);
    free(h->bounds_store);
}

rt_status rt_ring_create(rt_ring **out, const rt_ring_opts *opts) {
    if (!out) return rt_error(RT_ERR_ARG, "rt_ring_create: out is NULL");
    *out = NULL;
    rt_ring *h = malloc(sizeof *h);
    if (!h) return rt_error(RT_ERR_MEMORY, "rt_ring_create: out of memory");
    rt_status st = init(h, opts, SIZE_MAX);
    if (st != RT_OK) {
        free(h);
        return st;
    }
    *out = h;
    return RT_OK;
}

void rt_ring_destroy(rt_ring **h) {
    if (!h || !*h) return;
    fini(*h);
    free(*h);
    *h = NULL;
}

int rt_ring_busy(const rt_ring *h) {
    return h && h->busy;
}

rt_status rt_ring_start(rt_ring *h, rt_mpi_ctx *ctx, float *buf, size_t n, rt_ring_kind kind) {
    return rt_ring_start_bounds(h, ctx, buf, n, kind, NULL);
}

rt_status rt_ring_start_bounds(rt_ring *h, rt_mpi_ctx *ctx, float *buf, size_t n, rt_ring_kind kind,
                               const size_t *bounds) {
    if (!h || !ctx) return rt_error(RT_ERR_ARG, "rt_ring_start: NULL handle or context");
    if (bounds) {
        if (bounds[0] != 0 || bounds[ctx->size] != n)
            return rt_error(RT_ERR_ARG, "rt_ring_start: bounds must run from 0 to n = %zu", n);
        for (int c = 0; c < ctx->size; c++)
            if (bounds[c] > bounds[c + 1])
                return rt_error(RT_ERR_ARG, "rt_ring_start: bounds decrease at chunk %d", c);
    }
    if (h->busy)
        return rt_error(RT_ERR_ARG, "rt_ring_start: the handle has an operation in flight "
                                    "(call rt_ring_wait first)");
    if (!buf && n) return rt_error(RT_ERR_ARG, "rt_ring_start: buf is NULL, n = %zu", n);
    if (kind != RT_RING_ALLREDUCE && kind != RT_RING_REDUCE_SCATTER && kind != RT_RING_ALLGATHER)
        return rt_error(RT_ERR_ARG, "rt_ring_start: unknown kind %d", (int)kind);
    const int P = ctx->size;
    h->busy = 1;
    h->failed = 0;
    h->err = RT_OK;
    h->comm = ctx->comm;
    h->P = P;
    h->rank = ctx->rank;
    h->left = mod(ctx->rank - 1, P);
    h->right = mod(ctx->rank + 1, P);
    h->buf = buf;
    h->n = n;
    h->bounds = NULL;
    if (bounds) {
        if (h->bounds_cap < P + 1) {
            size_t *nb = realloc(h->bounds_store, sizeof(size_t) * (size_t)(P + 1));
            if (!nb) {
                h->busy = 0;
                return rt_error(RT_ERR_MEMORY, "rt_ring_start: out of memory");
            }
            h->bounds_store = nb;
            h->bounds_cap = P + 1;
        }
        memcpy(h->bounds_store, bounds, sizeof(size_t) * (size_t)(P + 1));
        h->bounds = h->bounds_store;
    }
    h->exchange = rt_ring_uses_exchange(P, n, kind) && !bounds;
    h->g0 = kind == RT_RING_ALLGATHER ? P - 1 : 0;
    h->g1 = h->exchange ? 1 : kind == RT_RING_REDUCE_SCATTER ? P - 1 : 2 * P - 2;
    h->nrecv = h->nsend = h->rpost = h->rdone = h->spost = h->sdone = h->s0 = 0;
    h->guard_base = SIZE_MAX;
    if (P == 1 || n == 0) { /* nothing to move: done (no tag drawn: no messages) */
        return RT_OK;
    }
    if (kind != RT_RING_ALLGATHER) {
        /* Slots are min(seg, largest chunk) apart. */
        size_t largest = 0;
        for (int c = 0; c < P; c++) {
            size_t lo, hi;
            chunk_of(h, c, &lo, &hi);
            largest = hi - lo > largest ? hi - lo : largest;
        }
        h->slot = largest < h->seg ? largest : h->seg;
        if ((size_t)h->window * h->slot > h->scratch_floats) {
            h->busy = 0;
            return rt_error(RT_ERR_INTERNAL, "rt_ring_start: receive scratch too small");
        }
    }
    h->tag = RING_TAG_BASE + (int)(ctx->tag_seq++ % RING_TAGS);
    for (int g = h->g0; g < h->g1; g++) {
        h->nrecv += nseg(h, recv_chunk(h, g));
        h->nsend += nseg(h, send_chunk(h, g));
    }
    h->s0 = nseg(h, send_chunk(h, h->g0));
    if (kind == RT_RING_ALLREDUCE && !h->exchange) {
        h->guard_base = 0;
        for (int g = 0; g < P - 1; g++) h->guard_base += nseg(h, recv_chunk(h, g));
    }
    h->rcur_post = h->rcur_done = first(h, 0);
    h->scur_post = first(h, 1);
    int moved = 0;
    rt_status st = pump(h, &moved);
    if (st != RT_OK) h->busy = 0; /* pump has cancelled what it posted */
    return st;
}

rt_status rt_ring_progress(rt_ring *h, int *done) {
    if (!h || !done) return rt_error(RT_ERR_ARG, "rt_ring_progress: NULL argument");
    *done = 1;
    if (!h->busy) return RT_OK;
    if (h->failed) return rt_error(h->err, "%s", h->msg);
    int moved;
    do {
        moved = 0;
        if (finished(h)) break;
        int out = 0, rc = MPI_Testsome(2 * h->window, h->req, &out, h->idx, h->stat);
        if (rc != MPI_SUCCESS)
            return fail(h, rt_mpi_check(first_error(h, rc, out), "MPI_Testsome"));
        RT_CALL(pump(h, &moved));
    } while (moved);
    *done = finished(h);
    return RT_OK;
}

/* "ring all-reduce of gradient bucket 3": the watchdog's name of the operation in flight. */
static void describe(const rt_ring *h, char *buf, size_t cap) {
    const char *kind = h->exchange         ? "all-reduce (one exchange)"
                       : h->g0 == h->P - 1 ? "all-gather"
                       : h->g1 == h->P - 1 ? "reduce-scatter"
                                           : "all-reduce";
    snprintf(buf, cap, "ring %s%s%s (%zu floats)", kind, h->label[0] ? " of " : "", h->label, h->n);
}

/* The peers the operation still waits for: the left one while receives are due, the right one
   while sends are. */
static int wait_from(const rt_ring *h) {
    return h->rdone < h->nrecv ? h->left : RT_WD_NONE;
}
static int wait_to(const rt_ring *h) {
    return h->sdone < h->nsend ? h->right : RT_WD_NONE;
}

rt_status rt_ring_wait(rt_ring *h) {
    if (!h) return rt_error(RT_ERR_ARG, "rt_ring_wait: NULL handle");
    if (!h->busy) return RT_OK;
    /* MPI_Testsome with a backoff rather than MPI_Waitsome, which spins a core for as long as a
       peer is late; inside a watchdog scope, restarted at every completed segment */
    char what[160];
    describe(h, what, sizeof what);
    rt_wd_scope scope;
    rt_watchdog_enter(&scope, what, wait_from(h), wait_to(h));
    rt_wd_backoff bo = {0, 0};
    while (!h->failed && !finished(h)) {
        int moved = 0;
        if (pump(h, &moved) != RT_OK) break;
        if (finished(h)) break;
        int out = 0, rc = MPI_Testsome(2 * h->window, h->req, &out, h->idx, h->stat);
        if (rc != MPI_SUCCESS) {
            fail(h, rt_mpi_check(first_error(h, rc, out), "MPI_Testsome"));
            break;
        }
        if (out == MPI_UNDEFINED && !moved) { /* nothing in flight and nothing to post */
            rt_error(RT_ERR_INTERNAL, "ring: stalled at receive %zu/%zu, send %zu/%zu", h->rdone,
                     h->nrecv, h->sdone, h->nsend);
            fail(h, RT_ERR_INTERNAL);
        } else if (out > 0 || moved) {
            rt_wd_busy(&bo);
            rt_watchdog_progress(wait_from(h), wait_to(h));
        } else {
            rt_wd_idle(&bo);
        }
    }
    rt_watchdog_leave(&scope);
    h->busy = 0;
    if (h->failed) return rt_error(h->err, "%s", h->msg);
    return RT_OK;
}

void rt_ring_set_label(rt_ring *h, const char *label) {
    if (h) snprintf(h->label, sizeof h->label, "%s", label ? label : "");
}

static rt_status blocking(rt_mpi_ctx *ctx, float *buf, size_t n, const rt_ring_opts *opts,
                          rt_ring_kind kind) {
    if (!ctx) return rt_error(RT_ERR_ARG, "ring: ctx is NULL");
    rt_ring h;
    size_t scratch = 0;
    if (kind != RT_RING_ALLGATHER && ctx->size > 1 && n > 0) {
        size_t lo, hi;
        rt_ring_chunk(n, ctx->size, ctx->size - 1, &lo, &hi); /* the last chunk is the largest */
        if (rt_ring_uses_exchange(ctx->size, n, kind)) lo = 0, hi = n; /* one chunk: all of buf */
        size_t w = opts && opts->window ? (size_t)opts->window : RT_RING_WINDOW_DEFAULT;
        scratch = w * (hi - lo);
    }
    RT_CALL(init(&h, opts, scratch));
    rt_status st = rt_ring_start(&h, ctx, buf, n, kind);
    if (st == RT_OK) st = rt_ring_wait(&h);
    fini(&h);
    return st;
}

rt_status rt_ring_allreduce(rt_mpi_ctx *ctx, float *buf, size_t n, const rt_ring_opts *opts) {
    RT_CALL(blocking(ctx, buf, n, opts, RT_RING_ALLREDUCE));
    return RT_OK;
}

rt_status rt_ring_reduce_scatter(rt_mpi_ctx *ctx, float *buf, size_t n, const rt_ring_opts *opts) {
    RT_CALL(blocking(ctx, buf, n, opts, RT_RING_REDUCE_SCATTER));
    return RT_OK;
}

rt_status rt_ring_allgather(rt_mpi_ctx *ctx, float *buf, size_t n, const rt_ring_opts *opts) {
    RT_CALL(blocking(ctx, buf, n, opts, RT_RING_ALLGATHER));
    return RT_OK;
}
