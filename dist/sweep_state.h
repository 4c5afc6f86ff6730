/* The sweep's state file, <out>/sweep_state.jsonl: a header line naming the sweep (the
   fingerprint of its trials, budget and metric), then one JSON line per job result, appended and
   fsynced by the coordinator as results come in. A sweep started again on the same out dir
   replays it into its schedule (dist/sweep_sched.h): finished trials are not run again and
   interrupted ones resume from their checkpoints. The same JSON line carries a result from a
   group to the coordinator. Not collective (the coordinator, world rank 0, owns the file). */
#pragma once
#include <stddef.h>
#include <stdio.h>
#include "status.h"
#include "sweep_sched.h"

/* Writes r as one JSON line, newline included. */
void rt_sweep_result_write(FILE *f, const rt_job_result *r);

/* Parses a line of rt_sweep_result_write (len bytes, no NUL needed) into *r. RT_ERR_FORMAT
   naming `where` (e.g. "out/sweep_state.jsonl:3") and what is wrong. */
rt_status rt_sweep_result_parse(const char *line, size_t len, const char *where, rt_job_result *r);

typedef struct {
    FILE *f;    /* open for appending; owned */
    char *path; /* owned */
} rt_sweep_state;

/* Opens the state file at path. When it exists, its header must carry fingerprint (else
   RT_ERR_ARG saying the out dir holds another sweep), and every complete line is replayed into
   sched (a torn last line, from a crash mid-write, is dropped); *replayed counts the results.
   Otherwise the file is created with the header. RT_ERR_IO, RT_ERR_FORMAT (a malformed line,
   naming the file and line), RT_ERR_MEMORY. On success the caller closes *st. */
rt_status rt_sweep_state_open(rt_sweep_state *st, const char *path, const char *fingerprint,
                              rt_sweep_sched *sched, int *replayed);

/* Appends r and fsyncs, so a result survives a crash right after. RT_ERR_IO naming the file. */
rt_status rt_sweep_state_append(rt_sweep_state *st, const rt_job_result *r);

/* Closes the file and frees the path; safe on a closed or zeroed state. */
void rt_sweep_state_close(rt_sweep_state *st);
