/* Option parsing shared by the subcommands (cli/cli_opts.h). */
#include "cli_opts.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "gemm.h"
#include "status.h"

int rt_cli_fail(const char *what) {
    fprintf(stderr, "ringtune: %s: %s\n", what, rt_error_message());
    return 1;
}

/* --key value options: returns the value of key or NULL. */
const char *rt_cli_opt(int argc, char **argv, const char *key) {
    for (int i = 0; i < argc - 1; i++)
        if (!strcmp(argv[i], key)) return argv[i + 1];
    return NULL;
}

/* Every "--x" must be one of the allowed keys and have a value. */
int rt_cli_check_opts(int argc, char **argv, const char *const *allowed) {
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) continue;
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = !strcmp(*a, argv[i]);
        if (!ok) {
            fprintf(stderr, "ringtune: unknown option '%s'\n", argv[i]);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ringtune: option '%s' needs a value\n", argv[i]);
            return 0;
        }
        i++;
    }
    return 1;
}

int rt_cli_num_l(int argc, char **argv, const char *key, long def, long lo, long hi, long *out) {
    const char *v = rt_cli_opt(argc, argv, key);
    if (!v) {
        *out = def;
        return 1;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "ringtune: %s '%s': expected an integer in [%ld, %ld]\n", key, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

int rt_cli_num_f(int argc, char **argv, const char *key, double def, double lo, double hi,
                 double *out) {
    const char *v = rt_cli_opt(argc, argv, key);
    if (!v) {
        *out = def;
        return 1;
    }
    char *end;
    double x = strtod(v, &end);
    if (*end || end == v || !(x >= lo && x <= hi)) {
        fprintf(stderr, "ringtune: %s '%s': expected a number in [%g, %g]\n", key, v, lo, hi);
        return 0;
    }
    *out = x;
    return 1;
}

void rt_cli_setup_threads(int argc, char **argv) {
    long th = 0;
    if (!rt_cli_num_l(argc, argv, "--threads", 0, 0, 1024, &th)) exit(2);
    rt_gemm_setup((int)th);
    omp_set_num_threads(rt_gemm_threads());
}
