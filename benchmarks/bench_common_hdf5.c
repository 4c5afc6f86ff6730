/* bench_hdf5_version (see bench_common.h): only the benchmarks that use HDF5 call it. */
#include <hdf5.h>
#include <stdio.h>
#include "bench_common.h"

const char *bench_hdf5_version(void) {
    static char v[32];
    unsigned maj = 0, min = 0, rel = 0;
    if (H5get_libversion(&maj, &min, &rel) < 0) return NULL;
    snprintf(v, sizeof v, "%u.%u.%u", maj, min, rel);
    return v;
}
