/* The sweep's messages: sends and receives that poll with a backoff instead of blocking in MPI
   (a blocked MPI call spins a core), under the watchdog on the main thread
   (dist/sweep_internal.h). */
#include "sweep_internal.h"
#include "watchdog.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

void sw_nap(double *nap, double max_s) {
    *nap = *nap <= 0 ? 1e-4 : *nap * 1.5 < max_s ? *nap * 1.5 : max_s;
    struct timespec ts = {(time_t)*nap, (long)((*nap - (double)(time_t)*nap) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Waits for req: the watchdog's own wait (rt_wd_wait) in a scope, or a plain polling loop. */
static int wait_req(MPI_Request *req, int scope, const char *what) {
    if (scope) return rt_wd_wait(req, what, RT_WD_NONE, RT_WD_NONE);
    double nap = 0;
    for (;;) {
        int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done) return rc;
        sw_nap(&nap, 0.01);
    }
}

rt_status sw_send(MPI_Comm comm, int dest, int tag, const char *buf, int len, int scope,
                  const char *what) {
    MPI_Request req;
    RT_CALL(rt_mpi_check(MPI_Isend(buf, len, MPI_CHAR, dest, tag, comm, &req), "MPI_Isend"));
    return rt_mpi_check(wait_req(&req, scope, what), "MPI_Isend (wait)");
}

static rt_status recv_probed(MPI_Comm comm, MPI_Status *ps, char **buf, int *len) {
    int n = 0;
    RT_CALL(rt_mpi_check(MPI_Get_count(ps, MPI_CHAR, &n), "MPI_Get_count"));
    char *b = malloc((size_t)n + 1);
    if (!b) return rt_error(RT_ERR_MEMORY, "out of memory for a message of %d bytes", n);
    rt_status st = rt_mpi_check(
        MPI_Recv(b, n, MPI_CHAR, ps->MPI_SOURCE, ps->MPI_TAG, comm, MPI_STATUS_IGNORE), "MPI_Recv");
    if (st != RT_OK) {
        free(b);
        return st;
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return RT_OK;
}

rt_status sw_recv(MPI_Comm comm, int src, int tag, char **buf, int *len, int scope,
                  const char *what) {
    rt_wd_scope s;
    rt_wd_backoff b = {0, 0};
    double nap = 0;
    if (scope) rt_watchdog_enter(&s, what, RT_WD_NONE, RT_WD_NONE);
    MPI_Status ps;
    int flag = 0, rc;
    while ((rc = MPI_Iprobe(src, tag, comm, &flag, &ps)) == MPI_SUCCESS && !flag) {
        if (scope)
            rt_wd_idle(&b);
        else
            sw_nap(&nap, 0.01);
    }
    if (scope) rt_watchdog_leave(&s);
    RT_CALL(rt_mpi_check(rc, "MPI_Iprobe"));
    return recv_probed(comm, &ps, buf, len);
}

int sw_try_recv(MPI_Comm comm, int tag, int *src, char **buf, int *len, rt_status *st) {
    MPI_Status ps;
    int flag = 0;
    *st = rt_mpi_check(MPI_Iprobe(MPI_ANY_SOURCE, tag, comm, &flag, &ps), "MPI_Iprobe");
    if (*st != RT_OK || !flag) return 0;
    *src = ps.MPI_SOURCE;
    *st = recv_probed(comm, &ps, buf, len);
    return *st == RT_OK;
}

rt_status sw_bcast(rt_mpi_ctx *g, char **buf, int *len) {
    if (g->size == 1) return RT_OK;
    RT_CALL(rt_mpi_check(rt_wd_bcast(len, 1, MPI_INT, 0, g->comm, "sweep job broadcast (size)"),
                         "MPI_Bcast"));
    rt_status st = RT_OK;
    if (g->rank != 0) {
        free(*buf);
        if (!(*buf = malloc((size_t)*len + 1)))
            st = rt_error(RT_ERR_MEMORY, "out of memory for a message of %d bytes", *len);
        else
            (*buf)[*len] = 0;
    }
    RT_CALL(rt_mpi_ctx_agree(g, st));
    return rt_mpi_check(rt_wd_bcast(*buf, *len, MPI_CHAR, 0, g->comm, "sweep job broadcast"),
                        "MPI_Bcast");
}
