/* Agreeing on a status across the ranks of a communicator, for io and dist code that works on a
   plain MPI_Comm (dist/mpictx.h has the variant for an rt_mpi_ctx). */
#pragma once
#include <mpi.h>
#include "status.h"

/* Collective over comm: returns the status of the lowest failing rank on every rank (RT_OK when
   none failed), and records that rank's message everywhere, so a collective operation fails alike
   on all ranks. Waits under the watchdog (io/watchdog.h). MPI errors abort (the communicator's
   default handler). */
rt_status rt_mpi_agree(MPI_Comm comm, rt_status st);
