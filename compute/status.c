/* The recorded error message: one per thread, so OpenMP workers do not race on it. */
#include "status.h"
#include <stdio.h>
#include <string.h>

static _Thread_local char rt_msg[4096];

rt_status rt_error(rt_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt_msg, sizeof rt_msg, fmt, ap);
    va_end(ap);
    return s;
}

void rt_error_trace(const char *file, int line, const char *func) {
    size_t n = strlen(rt_msg);
    if (n + 1 < sizeof rt_msg)
        snprintf(rt_msg + n, sizeof rt_msg - n, "\n  at %s:%d %s", file, line, func);
}

const char *rt_error_message(void) {
    return rt_msg;
}
void rt_error_clear(void) {
    rt_msg[0] = 0;
}

const char *rt_status_name(rt_status s) {
    static const char *names[] = {"ok",         "bad argument",     "out of memory",
                                  "I/O error",  "HDF5 error",       "MPI error",
                                  "bad format", "non-finite value", "internal error"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}
