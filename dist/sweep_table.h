/* The results of a sweep: <out>/results.jsonl (one JSON object per trial, in trial order: its
   hyperparameters, status, metric, steps, wall time, error) and <out>/results.md (a markdown
   table sorted by the metric, rt_sweep_sched_rank's order), each replaced atomically. Not
   collective (the coordinator writes them after every result and at the end). */
#pragma once
#include <stdio.h>
#include "status.h"
#include "sweep_sched.h"
#include "sweep_space.h"
#include "sweep_spec.h"

/* Writes both files into out. *best (may be NULL) gets the best trial (-1: none finished).
   RT_ERR_IO naming the file, RT_ERR_MEMORY. */
rt_status rt_sweep_write_results(const char *out, const rt_sweep_spec *s, const rt_sweep_trials *tr,
                                 const rt_sweep_sched *sc, int *best);

/* The markdown table alone, to f. */
void rt_sweep_table_md(FILE *f, const rt_sweep_spec *s, const rt_sweep_trials *tr,
                       const rt_sweep_sched *sc);

/* A trial's status in words: "done", "stopped early", "pruned at rung 1 (8 steps)", "failed",
   "running", ... into buf. */
void rt_sweep_status_text(const rt_sweep_sched *sc, int t, char *buf, size_t cap);
