/* The metrics JSONL of a resumed run: one line per step. The run that crashed wrote lines for the
   steps after its last checkpoint; the resumed run computes those steps again, so their old lines
   are dropped before it appends. */
#pragma once
#include <stdio.h>
#include "config.h"
#include "mpictx.h"
#include "status.h"

/* Rewrites the JSONL file at path keeping only its lines whose leading {"step": N has N <= step
   (lines without one are kept) and dropping a last line without its newline (a write cut short).
   Atomic (temp file, fsync, rename: io/fsutil.h); the file is untouched when nothing is dropped.
   A missing file is no error. *dropped (may be NULL) receives the number of lines dropped.
   Local. */
rt_status rt_metrics_drop_after(const char *path, long step, long *dropped);

/* On resume from the checkpoint of step `step`: rank 0 applies rt_metrics_drop_after to
   <output.dir>/<output.metrics_file> (none: nothing) and says on log (NULL: silent) how many lines
   it dropped. Collective; the same status on every rank. */
rt_status rt_metrics_resume(rt_mpi_ctx *ctx, const rt_run_config *cfg, long step, FILE *log);
