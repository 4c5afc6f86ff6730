/* The MPI context every dist/ module works in: a private duplicate of the world communicator
   (errors come back as return codes, never abort inside MPI), this rank's place in it and in its
   node, and the one way ranks agree on a status so a collective fails alike everywhere. */
#pragma once
#include <mpi.h>
#include "status.h"

typedef struct rt_mpi_ctx {
    MPI_Comm comm;      /* duplicate of the parent communicator, MPI_ERRORS_RETURN; owned */
    int rank, size;     /* in comm */
    MPI_Comm node_comm; /* the ranks of comm that share this node's memory, MPI_ERRORS_RETURN;
                           owned */
    int node_rank;      /* rank in node_comm */
    int node_size;      /* ranks on this node */
    int nodes;          /* distinct nodes in comm (node-local rank 0s counted by an allreduce) */
    int node_index;     /* 0..nodes-1: this node's place in the order of its node-local rank 0s */
    int ranks_per_node; /* the most ranks any node holds (= node_size when the job is uniform) */
    unsigned tag_seq;   /* point-to-point operations started on comm (dist/ring.c draws its tags
                           from it); every rank starts them in the same order, so it agrees */
} rt_mpi_ctx;

/* Creates the context from MPI_COMM_WORLD. Collective over MPI_COMM_WORLD; MPI must be
   initialized. *out is the caller's (rt_mpi_ctx_destroy). Returns RT_ERR_ARG when MPI is not
   initialized, RT_ERR_MEMORY or RT_ERR_MPI (same status on every rank unless MPI itself fails). */
rt_status rt_mpi_ctx_create(rt_mpi_ctx **out);

/* The same on any parent communicator (MPI_COMM_SELF gives a 1-rank context, e.g. to compare a
   run with a serial reference inside one job). Collective over parent. */
rt_status rt_mpi_ctx_create_on(MPI_Comm parent, rt_mpi_ctx **out);

/* Frees both communicators and the struct and sets *ctx to NULL; NULL is a no-op. Collective over
   ctx->comm (MPI_Comm_free is). No ring operation may be in flight on it. */
void rt_mpi_ctx_destroy(rt_mpi_ctx **ctx);

/* Agrees on a status: returns the MAX over ranks of st, and on every rank records the same
   message, "rank R: <message>", where R is the lowest rank whose st was not RT_OK and <message>
   is what that rank had recorded (rt_error_message). When every rank passes RT_OK nothing is
   recorded and RT_OK is returned. Collective over ctx->comm; call it before branching on the
   outcome of anything only some ranks can see fail. Waits under the watchdog (io/watchdog.h),
   without spinning a core. If MPI itself fails here, returns RT_ERR_MPI
   on the ranks that see it (no agreement is possible then; such a rank should MPI_Abort). */
rt_status rt_mpi_ctx_agree(rt_mpi_ctx *ctx, rt_status st);

/* Turns an MPI return code into a status: RT_OK for MPI_SUCCESS, else records
   "<call>: <MPI error string>" and returns RT_ERR_MPI. Local. */
rt_status rt_mpi_check(int mpi_rc, const char *call);
