/* The benchmarks' shared pieces (see bench_common.h). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "bench_common.h"
#include "text.h"
#include <blis.h>
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef RT_GIT_DESCRIBE
#define RT_GIT_DESCRIBE ""
#endif

/* ---- clocks and statistics ---------------------------------------------------------------- */

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-quantile of sorted v[0..n): linear interpolation between the closest ranks. */
static double quantile(const double *v, int n, double p) {
    double k = (n - 1) * p;
    int lo = (int)k, hi = lo + 1 < n ? lo + 1 : n - 1;
    return v[lo] + (v[hi] - v[lo]) * (k - lo);
}

bench_stats bench_stats_of(const double *v, int n) {
    bench_stats s = {NAN, NAN, NAN, NAN, NAN, 0};
    if (!v || n <= 0) return s;
    double *c = malloc((size_t)n * sizeof *c);
    if (!c) return s;
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_d);
    s.median = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
    s.min = c[0];
    s.max = c[n - 1];
    s.p25 = quantile(c, n, 0.25);
    s.p75 = quantile(c, n, 0.75);
    s.n = n;
    free(c);
    return s;
}

double bench_median(const double *v, int n) {
    return bench_stats_of(v, n).median;
}

double bench_min(const double *v, int n) {
    double m = n > 0 ? v[0] : NAN;
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

double bench_max(const double *v, int n) {
    double m = n > 0 ? v[0] : NAN;
    for (int i = 1; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

/* ---- JSON writer ---------------------------------------------------------------------------- */

void bench_json_string(FILE *f, const char *s) {
    rt_json_write_string(f, s); /* compute/text.h */
}

/* The separator, the layout and the key of the next member of the innermost container. Members
   of the top-level object, and elements of arrays that are its members, start a line. */
static void member(bench_json *j, const char *key) {
    if (j->depth > 0) {
        int d = j->depth - 1;
        if (j->count[d]++) fputc(',', j->f);
        if (d == 0 || (d == 1 && j->is_array[d])) {
            fputc('\n', j->f);
            for (int i = 0; i <= d; i++) fputs("  ", j->f);
        } else if (j->count[d] > 1) {
            fputc(' ', j->f);
        }
    }
    if (key) {
        bench_json_string(j->f, key);
        fputs(": ", j->f);
    }
}

static void open_container(bench_json *j, const char *key, int is_array) {
    if (j->depth >= BENCH_JSON_DEPTH) {
        fprintf(stderr, "bench_json: more than %d nested containers\n", BENCH_JSON_DEPTH);
        abort();
    }
    member(j, key);
    fputc(is_array ? '[' : '{', j->f);
    j->count[j->depth] = 0;
    j->is_array[j->depth] = (char)is_array;
    j->depth++;
}

void bj_object(bench_json *j, const char *key) {
    open_container(j, key, 0);
}

void bj_array(bench_json *j, const char *key) {
    open_container(j, key, 1);
}

void bj_end(bench_json *j) {
    if (j->depth <= 0) return;
    int d = --j->depth;
    /* a container whose members started lines ends on a line of its own */
    if (j->count[d] && (d == 0 || (d == 1 && j->is_array[d]))) {
        fputc('\n', j->f);
        for (int i = 0; i < d; i++) fputs("  ", j->f);
    }
    fputc(j->is_array[d] ? ']' : '}', j->f);
}

void bj_str(bench_json *j, const char *key, const char *s) {
    member(j, key);
    bench_json_string(j->f, s);
}

static void num(FILE *f, double x) {
    if (isfinite(x))
        fprintf(f, "%.6g", x);
    else
        fputs("null", f);
}

void bj_num(bench_json *j, const char *key, double x) {
    member(j, key);
    num(j->f, x);
}

void bj_int(bench_json *j, const char *key, long long x) {
    member(j, key);
    fprintf(j->f, "%lld", x);
}

void bj_bool(bench_json *j, const char *key, int b) {
    member(j, key);
    fputs(b ? "true" : "false", j->f);
}

void bj_null(bench_json *j, const char *key) {
    member(j, key);
    fputs("null", j->f);
}

void bj_stats(bench_json *j, const char *key, const double *v, int n) {
    bench_stats s = bench_stats_of(v, n);
    bj_object(j, key);
    bj_num(j, "median", s.median);
    bj_num(j, "min", s.min);
    bj_num(j, "max", s.max);
    bj_num(j, "p25", s.p25);
    bj_num(j, "p75", s.p75);
    bj_int(j, "n", s.n);
    bj_end(j);
}

/* ---- the header ----------------------------------------------------------------------------- */

/* The value of "key<spaces>: value" of the first /proc/cpuinfo line starting with key. */
static int cpuinfo(const char *key, char *out, size_t cap) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    static char line[8192];
    int found = 0;
    size_t kl = strlen(key);
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) || (line[kl] != ' ' && line[kl] != '\t' && line[kl] != ':'))
            continue;
        char *v = strchr(line, ':');
        if (!v) continue;
        for (v++; *v == ' ' || *v == '\t'; v++) continue;
        v[strcspn(v, "\n")] = 0;
        snprintf(out, cap, "%s", v);
        found = 1;
    }
    fclose(f);
    return found;
}

static int has_flag(const char *flags, const char *flag) {
    size_t n = strlen(flag);
    for (const char *p = flags; (p = strstr(p, flag)); p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ')) return 1;
    return 0;
}

static long long mem_total_bytes(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

/* Local time as ISO-8601 with the UTC offset, seconds precision: 2024-05-01T12:00:00+02:00. */
static void iso_date(char *out, size_t cap) {
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm); /* ...+0200 */
    size_t n = strlen(buf);
    if (n >= 5 && (buf[n - 5] == '+' || buf[n - 5] == '-'))
        snprintf(out, cap, "%.*s:%s", (int)(n - 2), buf, buf + n - 2);
    else
        snprintf(out, cap, "%s", buf);
}

static void compiler(char *out, size_t cap) {
#if defined(__clang__)
    snprintf(out, cap, "clang %d.%d.%d", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
    snprintf(out, cap, "gcc %d.%d.%d", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
    snprintf(out, cap, "unknown");
#endif
}

void bench_begin(bench_json *j, FILE *f, const char *name, const char *openmpi, const char *hdf5) {
    memset(j, 0, sizeof *j);
    j->f = f;
    bj_object(j, NULL);
    bj_str(j, "benchmark", name);
    bj_int(j, "schema", BENCH_SCHEMA);
    char buf[256];
    iso_date(buf, sizeof buf);
    bj_str(j, "date", buf);

    bj_object(j, "machine");
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    bj_str(j, "hostname", host);
    bj_str(j, "cpu_model", cpuinfo("model name", buf, sizeof buf) ? buf : NULL);
    bj_int(j, "cpus_online", sysconf(_SC_NPROCESSORS_ONLN));
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        bj_int(j, "cpus_usable", CPU_COUNT(&set));
    else
        bj_null(j, "cpus_usable");
    static char flags[8192];
    bj_bool(j, "avx512f", cpuinfo("flags", flags, sizeof flags) && has_flag(flags, "avx512f"));
    long long mem = mem_total_bytes();
    if (mem >= 0)
        bj_int(j, "memory_bytes", mem);
    else
        bj_null(j, "memory_bytes");
    struct utsname u;
    int have_u = uname(&u) == 0;
    bj_str(j, "kernel", have_u ? u.release : NULL);
    bj_str(j, "arch", have_u ? u.machine : NULL);
    bj_str(j, "slurm_job_id", getenv("SLURM_JOB_ID"));
    bj_str(j, "slurm_nodelist", getenv("SLURM_JOB_NODELIST"));
    bj_end(j);

    bj_object(j, "versions");
    bj_str(j, "ringtune", RT_GIT_DESCRIBE[0] ? RT_GIT_DESCRIBE : NULL);
    bj_str(j, "blis", bli_info_get_version_str()); /* a constant string: BLIS stays uninitialised */
    bj_str(j, "openmpi", openmpi);
    bj_str(j, "hdf5", hdf5);
    compiler(buf, sizeof buf);
    bj_str(j, "compiler", buf);
    bj_end(j);
}

void bench_finish(bench_json *j) {
    while (j->depth > 0) bj_end(j);
    fputc('\n', j->f);
    fflush(j->f);
}
