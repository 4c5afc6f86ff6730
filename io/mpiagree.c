/* rt_mpi_agree: one MIN allreduce finds the lowest failing rank, which broadcasts its status and
   message. */
#include "mpiagree.h"
#include "watchdog.h"
#include <limits.h>
#include <stdio.h>

rt_status rt_mpi_agree(MPI_Comm comm, rt_status st) {
    int rank, mine, first;
    MPI_Comm_rank(comm, &rank);
    mine = st != RT_OK ? rank : INT_MAX;
    rt_wd_allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm, "status agreement (MPI_Allreduce)");
    if (first == INT_MAX) return RT_OK;
    int code = (int)st;
    char msg[4096];
    if (rank == first) snprintf(msg, sizeof msg, "%s", rt_error_message());
    rt_wd_bcast(&code, 1, MPI_INT, first, comm, "error status broadcast (MPI_Bcast)");
    rt_wd_bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm, "error message broadcast (MPI_Bcast)");
    if (rank != first) rt_error((rt_status)code, "%s", msg);
    return (rt_status)code;
}
