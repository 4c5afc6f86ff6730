/* "--key value" option parsing and small helpers shared by the ringtune subcommands. */
#pragma once
#include <stdio.h>

/* Prints "ringtune: WHAT: <the last error>" on stderr; returns 1 (the failure exit code). */
int rt_cli_fail(const char *what);
/* The value of --key, or NULL. */
const char *rt_cli_opt(int argc, char **argv, const char *key);
/* Every "--x" must be one of the allowed keys (NULL-terminated) and have a value; prints the
   error and returns 0 otherwise. */
int rt_cli_check_opts(int argc, char **argv, const char *const *allowed);
/* --key as an integer / a number in [lo, hi], def when absent; prints the error, returns 0. */
int rt_cli_num_l(int argc, char **argv, const char *key, long def, long lo, long hi, long *out);
int rt_cli_num_f(int argc, char **argv, const char *key, double def, double lo, double hi,
                 double *out);
/* --threads N (0: the default) for BLIS and OpenMP; exits with 2 on a bad value. */
void rt_cli_setup_threads(int argc, char **argv);
