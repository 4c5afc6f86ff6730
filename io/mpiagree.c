/* rt_mpi_agree: one MIN allreduce finds the lowest failing rank, which broadcasts its status and
   message. */
#include "mpiagree.h"
#include <limits.h>
#include <stdio.h>

rt_status rt_mpi_agree(MPI_Comm comm, rt_status st) {
    int rank, mine, first;
    MPI_Comm_rank(comm, &rank);
    mine = st != RT_OK ? rank : INT_MAX;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX) return RT_OK;
    int code = (int)st;
    char msg[4096];
    if (rank == first) snprintf(msg, sizeof msg, "%s", rt_error_message());
    MPI_Bcast(&code, 1, MPI_INT, first, comm);
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm);
    if (rank != first) rt_error((rt_status)code, "%s", msg);
    return (rt_status)code;
}
