/* The collective-wait watchdog: a thread that checks the innermost wait scope a few times a
   second and ends the process when it made no progress for the timeout; the polling waits. */
#include "watchdog.h"
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char host[64];
    int32_t pid;
} peer_info;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int running, stop;
    double timeout; /* seconds; 0 = off */
    char setting[64];
    int rank, size;
    peer_info *peers; /* (size) */
    long step;
    const char *phase;
    rt_wd_scope *top; /* innermost wait, NULL when the rank waits in nothing */
} wd = {.mu = PTHREAD_MUTEX_INITIALIZER, .phase = "setup"};

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the message -------------------------------------------------------------------------- */

static size_t put(char *buf, size_t cap, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t put(char *buf, size_t cap, size_t at, const char *fmt, ...) {
    if (at >= cap) return at;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + at, cap - at, fmt, ap);
    va_end(ap);
    return n < 0 ? at : at + (size_t)n;
}

static size_t put_peer(char *buf, size_t cap, size_t at, int r) {
    if (!wd.peers || r < 0 || r >= wd.size) return put(buf, cap, at, "rank %d", r);
    return put(buf, cap, at, "rank %d (host %s, pid %d)", r, wd.peers[r].host,
               (int)wd.peers[r].pid);
}

/* The expiry line for the innermost scope; called with wd.mu held. */
static void format_expiry(char *buf, size_t cap, double waited) {
    const rt_wd_scope *s = wd.top;
    size_t at = put(buf, cap, 0, "rank %d: %s %g s expired (no progress for %.0f s) ", wd.rank,
                    wd.setting, wd.timeout, waited);
    if (wd.step > 0)
        at = put(buf, cap, at, "at step %ld (%s)", wd.step, wd.phase);
    else
        at = put(buf, cap, at, "during %s", wd.phase);
    at = put(buf, cap, at, " in %s, waiting ", s->what);
    if (s->from == RT_WD_ALL || s->to == RT_WD_ALL) {
        at = put(buf, cap, at,
                 "for the other %d ranks of a collective (a rank that reports no "
                 "expiry itself is the one behind):",
                 wd.size - 1);
        int listed = 0;
        for (int r = 0; r < wd.size; r++) {
            if (r == wd.rank) continue;
            if (listed == 8) {
                at = put(buf, cap, at, " and %d more", wd.size - 1 - listed);
                break;
            }
            at = put(buf, cap, at, "%s", listed++ ? ", " : " ");
            at = put_peer(buf, cap, at, r);
        }
    } else {
        if (s->from >= 0) {
            at = put(buf, cap, at, "to receive from ");
            at = put_peer(buf, cap, at, s->from);
        }
        if (s->to >= 0) {
            at = put(buf, cap, at, "%s", s->from >= 0 ? " and to send to " : "to send to ");
            at = put_peer(buf, cap, at, s->to);
        }
        if (s->from < 0 && s->to < 0) at = put(buf, cap, at, "for a peer");
    }
    at = put(buf, cap, at, "; ending the job (exit code %d)\n", RT_EXIT_PEER_TIMEOUT);
    if (at >= cap) memcpy(buf + cap - 5, "...\n", 5);
}

/* ---- the thread --------------------------------------------------------------------------- */

static void *watch(void *arg) {
    (void)arg;
    pthread_mutex_lock(&wd.mu);
    double last = mono_s();
    while (!wd.stop) {
        double period = wd.timeout > 0 && wd.timeout < 1.0 ? wd.timeout / 4 : 0.25;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        long ns = until.tv_nsec + (long)(period * 1e9);
        until.tv_sec += ns / 1000000000L;
        until.tv_nsec = ns % 1000000000L;
        pthread_cond_timedwait(&wd.cv, &wd.mu, &until);
        double now = mono_s();
        /* a gap far beyond the period: this whole process was stopped (e.g. the job suspended
           and resumed), not a peer; the time it was away is nobody's delay */
        if (now - last > period + 2.0)
            for (rt_wd_scope *s = wd.top; s; s = s->outer) s->since += now - last - period;
        last = now;
        if (wd.stop || wd.timeout <= 0 || !wd.top || now - wd.top->since < wd.timeout) continue;
        char msg[2048];
        format_expiry(msg, sizeof msg, now - wd.top->since);
        pthread_mutex_unlock(&wd.mu);
        /* write(2) rather than stdio: the main thread may hold a stdio lock */
        for (size_t off = 0, len = strlen(msg); off < len;) {
            ssize_t n = write(2, msg + off, len - off);
            if (n <= 0) break;
            off += (size_t)n;
        }
        /* a moment for the other waiting ranks to report too before mpirun ends the job */
        struct timespec grace = {2, 0};
        nanosleep(&grace, NULL);
        _exit(RT_EXIT_PEER_TIMEOUT);
    }
    pthread_mutex_unlock(&wd.mu);
    return NULL;
}

rt_status rt_watchdog_start(MPI_Comm comm, double timeout_s, const char *setting) {
    if (!(timeout_s >= 0) || !isfinite(timeout_s))
        return rt_error(RT_ERR_ARG, "watchdog: timeout %g s: expected a number >= 0 (0 = off)",
                        timeout_s);
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    peer_info me, *all = calloc((size_t)size, sizeof *all);
    if (!all) return rt_error(RT_ERR_MEMORY, "watchdog: out of memory for %d peers", size);
    memset(&me, 0, sizeof me);
    if (gethostname(me.host, sizeof me.host - 1) != 0) snprintf(me.host, sizeof me.host, "?");
    me.pid = (int32_t)getpid();
    int rc = rt_wd_allgather(&me, (int)sizeof me, MPI_BYTE, all, (int)sizeof me, MPI_BYTE, comm,
                             "watchdog startup (MPI_Allgather)");
    if (rc != MPI_SUCCESS) {
        free(all);
        char text[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, text, &len);
        return rt_error(RT_ERR_MPI, "watchdog: MPI_Allgather: %s", text);
    }
    for (int r = 0; r < size; r++) all[r].host[sizeof all[r].host - 1] = 0;
    pthread_mutex_lock(&wd.mu);
    free(wd.peers);
    wd.peers = all;
    wd.rank = rank;
    wd.size = size;
    wd.timeout = timeout_s;
    snprintf(wd.setting, sizeof wd.setting, "%s", setting ? setting : "timeout");
    int start = !wd.running;
    pthread_mutex_unlock(&wd.mu);
    if (!start) return RT_OK;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd.cv, &ca);
    pthread_condattr_destroy(&ca);
    wd.stop = 0;
    if (pthread_create(&wd.thread, NULL, watch, NULL) != 0) {
        pthread_cond_destroy(&wd.cv);
        return rt_error(RT_ERR_MEMORY, "watchdog: cannot start its thread");
    }
    wd.running = 1;
    return RT_OK;
}

void rt_watchdog_stop(void) {
    pthread_mutex_lock(&wd.mu);
    int running = wd.running;
    wd.stop = 1;
    if (running) pthread_cond_signal(&wd.cv);
    pthread_mutex_unlock(&wd.mu);
    if (running) {
        pthread_join(wd.thread, NULL);
        pthread_cond_destroy(&wd.cv);
    }
    pthread_mutex_lock(&wd.mu);
    wd.running = 0;
    free(wd.peers);
    wd.peers = NULL;
    pthread_mutex_unlock(&wd.mu);
}

/* ---- scopes ------------------------------------------------------------------------------- */

void rt_watchdog_step(long step) {
    pthread_mutex_lock(&wd.mu);
    wd.step = step;
    pthread_mutex_unlock(&wd.mu);
}

const char *rt_watchdog_phase(const char *phase) {
    pthread_mutex_lock(&wd.mu);
    const char *old = wd.phase;
    wd.phase = phase ? phase : "setup";
    pthread_mutex_unlock(&wd.mu);
    return old;
}

void rt_watchdog_enter(rt_wd_scope *s, const char *what, int from, int to) {
    snprintf(s->what, sizeof s->what, "%s", what ? what : "a wait");
    s->from = from;
    s->to = to;
    s->since = mono_s();
    pthread_mutex_lock(&wd.mu);
    s->outer = wd.top;
    wd.top = s;
    pthread_mutex_unlock(&wd.mu);
}

void rt_watchdog_progress(int from, int to) {
    double now = mono_s();
    pthread_mutex_lock(&wd.mu);
    if (wd.top) {
        wd.top->since = now;
        wd.top->from = from;
        wd.top->to = to;
    }
    pthread_mutex_unlock(&wd.mu);
}

void rt_watchdog_leave(rt_wd_scope *s) {
    double now = mono_s();
    pthread_mutex_lock(&wd.mu);
    /* scopes are left in order; the enclosing wait just saw progress (the inner one ended) */
    wd.top = s->outer;
    if (wd.top) wd.top->since = now;
    pthread_mutex_unlock(&wd.mu);
}

/* ---- polling waits ------------------------------------------------------------------------ */

void rt_wd_idle(rt_wd_backoff *b) {
    double now = mono_s();
    if (b->idle_since <= 0) {
        b->idle_since = now;
        b->sleep_ns = 0;
        return;
    }
    if (now - b->idle_since < RT_WD_SPIN_S) return;
    b->sleep_ns = b->sleep_ns ? 2 * b->sleep_ns : 10000;
    if (b->sleep_ns > RT_WD_SLEEP_MAX_NS) b->sleep_ns = RT_WD_SLEEP_MAX_NS;
    struct timespec ts = {0, b->sleep_ns};
    nanosleep(&ts, NULL);
}

void rt_wd_busy(rt_wd_backoff *b) {
    b->idle_since = 0;
    b->sleep_ns = 0;
}

int rt_wd_wait(MPI_Request *req, const char *what, int from, int to) {
    int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS || done) return rc;
    rt_wd_scope s;
    rt_watchdog_enter(&s, what, from, to);
    rt_wd_backoff b = {0, 0};
    while ((rc = MPI_Test(req, &done, MPI_STATUS_IGNORE)) == MPI_SUCCESS && !done) rt_wd_idle(&b);
    rt_watchdog_leave(&s);
    return rc;
}

#define WD_COLLECTIVE(start)                                                                       \
    do {                                                                                           \
        MPI_Request req = MPI_REQUEST_NULL;                                                        \
        int rc_ = (start);                                                                         \
        if (rc_ != MPI_SUCCESS) return rc_;                                                        \
        return rt_wd_wait(&req, what, RT_WD_ALL, RT_WD_ALL);                                       \
    } while (0)

int rt_wd_allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op,
                    MPI_Comm comm, const char *what) {
    WD_COLLECTIVE(MPI_Iallreduce(sendbuf, recvbuf, count, type, op, comm, &req));
}

int rt_wd_reduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype type, MPI_Op op,
                 int root, MPI_Comm comm, const char *what) {
    WD_COLLECTIVE(MPI_Ireduce(sendbuf, recvbuf, count, type, op, root, comm, &req));
}

int rt_wd_bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm,
                const char *what) {
    WD_COLLECTIVE(MPI_Ibcast(buf, count, type, root, comm, &req));
}

int rt_wd_gather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 int recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm, const char *what) {
    WD_COLLECTIVE(
        MPI_Igather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm, &req));
}

int rt_wd_gatherv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                  const int *recvcounts, const int *displs, MPI_Datatype recvtype, int root,
                  MPI_Comm comm, const char *what) {
    WD_COLLECTIVE(MPI_Igatherv(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype,
                               root, comm, &req));
}

int rt_wd_allgather(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                    int recvcount, MPI_Datatype recvtype, MPI_Comm comm, const char *what) {
    WD_COLLECTIVE(
        MPI_Iallgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm, &req));
}

int rt_wd_barrier(MPI_Comm comm, const char *what) {
    WD_COLLECTIVE(MPI_Ibarrier(comm, &req));
}

int rt_wd_send(const void *buf, int count, MPI_Datatype type, int dest, int tag, MPI_Comm comm,
               const char *what) {
    MPI_Request req = MPI_REQUEST_NULL;
    int rc = MPI_Isend(buf, count, type, dest, tag, comm, &req);
    return rc != MPI_SUCCESS ? rc : rt_wd_wait(&req, what, RT_WD_NONE, dest);
}

int rt_wd_recv(void *buf, int count, MPI_Datatype type, int src, int tag, MPI_Comm comm,
               const char *what) {
    MPI_Request req = MPI_REQUEST_NULL;
    int rc = MPI_Irecv(buf, count, type, src, tag, comm, &req);
    return rc != MPI_SUCCESS ? rc : rt_wd_wait(&req, what, src, RT_WD_NONE);
}
