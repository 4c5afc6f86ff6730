/* What every C benchmark shares: clocks, statistics over repeats, the peak size, and the JSON
   document they print, field for field the one benchmarks/benchlib.py writes:

     {"benchmark": NAME, "schema": 1, "date": ISO-8601 with offset,
      "machine": {...}, "versions": {...}, "config": {...}, "results": [...], summary fields...}

   A repeated measurement is a stats object {"median", "min", "max", "p25", "p75", "n"} (quartiles
   by linear interpolation between closest ranks, as benchlib.stats).

   Output goes through a small streaming writer (bench_json) that places the commas and the
   layout: one line per top-level field and per element of a top-level array, anything deeper on
   that line. */
#pragma once
#include <stdio.h>

#define BENCH_SCHEMA 1

/* ---- clocks and statistics ---------------------------------------------------------------- */

double bench_now(void); /* CLOCK_MONOTONIC seconds */

typedef struct {
    double median, min, max, p25, p75; /* NaN when n == 0 */
    int n;
} bench_stats;

/* Statistics of v[0..n) (v is not modified). */
bench_stats bench_stats_of(const double *v, int n);
double bench_median(const double *v, int n);
double bench_min(const double *v, int n);
double bench_max(const double *v, int n);

/* ---- the machine's sgemm peak --------------------------------------------------------------- */

/* The benchmarks' peak: rt_gemm_peak(BENCH_PEAK_DIM, reps, gflops) (compute/gemm.h), big enough
   for the kernel's steady state. rt_gemm_setup must have run when the caller wants its thread
   count / kernels. */
#define BENCH_PEAK_DIM 2048

/* ---- JSON ----------------------------------------------------------------------------------- */

/* s as a JSON string (quotes included); NULL prints null. */
void bench_json_string(FILE *f, const char *s);

#define BENCH_JSON_DEPTH 16
typedef struct {
    FILE *f;
    int depth;                   /* open containers */
    int count[BENCH_JSON_DEPTH]; /* members written in each open container */
    char is_array[BENCH_JSON_DEPTH];
} bench_json;

/* Each call writes one member: key is its name inside an object and must be NULL inside an
   array. Numbers that are not finite print as null. */
void bj_object(bench_json *j, const char *key);             /* opens {  */
void bj_array(bench_json *j, const char *key);              /* opens [  */
void bj_end(bench_json *j);                                 /* closes the innermost container */
void bj_str(bench_json *j, const char *key, const char *s); /* NULL: null */
void bj_num(bench_json *j, const char *key, double x);
void bj_int(bench_json *j, const char *key, long long x);
void bj_bool(bench_json *j, const char *key, int b);
void bj_null(bench_json *j, const char *key);
void bj_stats(bench_json *j, const char *key, const double *v, int n); /* n == 0: nulls */

/* Starts the document on f: opens the top-level object and writes benchmark, schema, date,
   machine and versions. openmpi, hdf5: the library versions where the benchmark links them
   (bench_openmpi_version / bench_hdf5_version), else NULL. The caller then writes "config",
   "results" and its summary fields, and calls bench_finish. */
void bench_begin(bench_json *j, FILE *f, const char *name, const char *openmpi, const char *hdf5);
/* Closes every open container and ends the line; flushes. */
void bench_finish(bench_json *j);

/* ---- versions of the libraries only some benchmarks link (library bench_common_mpi) --------- */

/* "Open MPI v4.1.4" (MPI_Get_library_version up to the first comma; callable before MPI_Init). */
const char *bench_openmpi_version(void);
/* "1.10.8" (H5get_libversion). */
const char *bench_hdf5_version(void);
