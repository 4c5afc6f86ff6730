/* Status codes and the one error message a failing call records.
   Fallible functions return rt_status; RT_CALL propagates a failure and appends a traceback line.
 */
#pragma once
#include <stdarg.h>

typedef enum {
    RT_OK = 0,
    RT_ERR_ARG,      /* bad argument or configuration value */
    RT_ERR_MEMORY,   /* allocation failed */
    RT_ERR_IO,       /* open/read/write/fsync/rename failed */
    RT_ERR_HDF5,     /* HDF5 library call failed */
    RT_ERR_MPI,      /* MPI call failed */
    RT_ERR_FORMAT,   /* malformed file contents (safetensors, JSON, HDF5 layout) */
    RT_ERR_NUMERIC,  /* NaN/Inf where a finite value is required */
    RT_ERR_INTERNAL, /* a bug in ringtune */
} rt_status;

/* Records a printf-style message for status s (replacing any earlier message) and returns s. */
rt_status rt_error(rt_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends one traceback line ("  at file:line function") to the recorded message. */
void rt_error_trace(const char *file, int line, const char *func);
/* The recorded message ("" when none); owned by the library, valid until the next rt_error. */
const char *rt_error_message(void);
void rt_error_clear(void);
const char *rt_status_name(rt_status s);

#define RT_CALL(expr)                                                                              \
    do {                                                                                           \
        rt_status rt_call_s_ = (expr);                                                             \
        if (rt_call_s_ != RT_OK) {                                                                 \
            rt_error_trace(__FILE__, __LINE__, __func__);                                          \
            return rt_call_s_;                                                                     \
        }                                                                                          \
    } while (0)
