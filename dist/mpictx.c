/* The MPI context: communicator duplicates with MPI_ERRORS_RETURN, node topology, and status
   agreement (MAX of the status, the lowest failing rank's message broadcast to all). */
#include "mpictx.h"
#include "watchdog.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rt_status rt_mpi_check(int mpi_rc, const char *call) {
    if (mpi_rc == MPI_SUCCESS) return RT_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpi_rc, text, &len) != MPI_SUCCESS || len <= 0)
        snprintf(text, sizeof text, "MPI error code %d", mpi_rc);
    return rt_error(RT_ERR_MPI, "%s: %s", call, text);
}

#define MPI_TRY(call) RT_CALL(rt_mpi_check((call), #call))

static rt_status topology(rt_mpi_ctx *c) {
    MPI_TRY(MPI_Comm_rank(c->comm, &c->rank));
    MPI_TRY(MPI_Comm_size(c->comm, &c->size));
    MPI_TRY(
        MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &c->node_comm));
    MPI_TRY(MPI_Comm_set_errhandler(c->node_comm, MPI_ERRORS_RETURN));
    MPI_TRY(MPI_Comm_rank(c->node_comm, &c->node_rank));
    MPI_TRY(MPI_Comm_size(c->node_comm, &c->node_size));
    int leader = c->node_rank == 0, before = 0;
    MPI_TRY(MPI_Allreduce(&leader, &c->nodes, 1, MPI_INT, MPI_SUM, c->comm));
    /* MPI_Exscan leaves rank 0's result undefined: it is 0 there. */
    MPI_TRY(MPI_Exscan(&leader, &before, 1, MPI_INT, MPI_SUM, c->comm));
    if (c->rank == 0) before = 0;
    c->node_index = before;
    MPI_TRY(MPI_Bcast(&c->node_index, 1, MPI_INT, 0, c->node_comm));
    MPI_TRY(MPI_Allreduce(&c->node_size, &c->ranks_per_node, 1, MPI_INT, MPI_MAX, c->comm));
    return RT_OK;
}

rt_status rt_mpi_ctx_create_on(MPI_Comm parent, rt_mpi_ctx **out) {
    if (!out) return rt_error(RT_ERR_ARG, "rt_mpi_ctx_create: out is NULL");
    *out = NULL;
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (!inited || finalized)
        return rt_error(RT_ERR_ARG, "rt_mpi_ctx_create: MPI is not initialized (call MPI_Init "
                                    "first)");
    rt_mpi_ctx *c = calloc(1, sizeof *c);
    if (!c) return rt_error(RT_ERR_MEMORY, "rt_mpi_ctx_create: out of memory");
    c->comm = MPI_COMM_NULL;
    c->node_comm = MPI_COMM_NULL;
    rt_status st = rt_mpi_check(MPI_Comm_dup(parent, &c->comm), "MPI_Comm_dup");
    if (st == RT_OK)
        st = rt_mpi_check(MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN),
                          "MPI_Comm_set_errhandler");
    if (st == RT_OK) st = topology(c);
    if (st != RT_OK) {
        if (c->node_comm != MPI_COMM_NULL) MPI_Comm_free(&c->node_comm);
        if (c->comm != MPI_COMM_NULL) MPI_Comm_free(&c->comm);
        free(c);
        return st;
    }
    *out = c;
    return RT_OK;
}

rt_status rt_mpi_ctx_create(rt_mpi_ctx **out) {
    return rt_mpi_ctx_create_on(MPI_COMM_WORLD, out);
}

void rt_mpi_ctx_destroy(rt_mpi_ctx **ctx) {
    if (!ctx || !*ctx) return;
    rt_mpi_ctx *c = *ctx;
    if (c->node_comm != MPI_COMM_NULL) MPI_Comm_free(&c->node_comm);
    if (c->comm != MPI_COMM_NULL) MPI_Comm_free(&c->comm);
    free(c);
    *ctx = NULL;
}

rt_status rt_mpi_ctx_agree(rt_mpi_ctx *ctx, rt_status st) {
    if (!ctx) return rt_error(RT_ERR_ARG, "rt_mpi_ctx_agree: ctx is NULL");
    /* One allreduce carries both answers: v[0] the worst status, v[1] = size - (lowest failing
       rank), so the MAX of v[1] names the lowest failing rank. */
    int v[2] = {(int)st, st != RT_OK ? ctx->size - ctx->rank : 0}, all[2];
    RT_CALL(rt_mpi_check(
        rt_wd_allreduce(v, all, 2, MPI_INT, MPI_MAX, ctx->comm, "status agreement (MPI_Allreduce)"),
        "MPI_Allreduce"));
    if (all[0] == RT_OK) return RT_OK;
    int root = ctx->size - all[1];
    char msg[4096];
    if (ctx->rank == root) snprintf(msg, sizeof msg, "rank %d: %s", root, rt_error_message());
    RT_CALL(rt_mpi_check(rt_wd_bcast(msg, (int)sizeof msg, MPI_CHAR, root, ctx->comm,
                                     "error message broadcast (MPI_Bcast)"),
                         "MPI_Bcast"));
    msg[sizeof msg - 1] = 0;
    return rt_error((rt_status)all[0], "%s", msg);
}
