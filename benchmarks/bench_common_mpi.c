/* bench_openmpi_version (see bench_common.h): only the benchmarks that link MPI use it. */
#include <mpi.h>
#include <string.h>
#include "bench_common.h"

const char *bench_openmpi_version(void) {
    static char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) return NULL;
    lib[strcspn(lib, ",\n")] = 0; /* "Open MPI v4.1.4, package: ..." */
    return lib;
}
