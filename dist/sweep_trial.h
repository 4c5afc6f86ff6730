/* The run configs of a sweep's trials and what a finished trial leaves: every trial is
   `ringtune train`'s config built by rt_config_load (dist/config.h) from the sweep's base run
   config, its `base:` keys, the trial's values of the space as `key=value` overrides (so any
   run-config key can be searched), and the sweep's own keys: the trial's output directory under
   the sweep's out dir, its metrics file, `checkpoint.resume: auto` (an interrupted or promoted
   trial continues from its checkpoint) and the budget. Also the checks before any trial runs,
   the reading of a trial's metrics and the best trial's ready-to-run config. Not collective. */
#pragma once
#include <stddef.h>
#include "config.h"
#include "status.h"
#include "sweep_space.h"
#include "sweep_spec.h"

/* The recorded error message (rt_error_message) for a message about a trial or the base config:
   without the traceback lines, and the run config's "command line argument" (the sweep's
   overrides are not on a command line) said as "override". Local. */
void rt_sweep_error_text(char *dst, size_t cap);

/* Trial t's output directory into buf: "<out>/trial-007" (3 digits, more for > 1000 trials). */
void rt_sweep_trial_dir(const char *out, int n_trials, int t, char *buf, size_t cap);

/* The run config of trial t (tr's values; t = -1: none, for the check of the base config) whose
   output goes to dir, for a job of `steps` training steps (-1: the run config's own budget;
   successive halving's rungs also keep the schedule of budget.max_steps). On failure the message
   says "trial t (key=value, ...)" and why the config is invalid (RT_ERR_ARG), or that the base
   run config cannot be read (RT_ERR_IO). On success the caller owns *cfg (rt_config_free). */
rt_status rt_sweep_trial_config(const rt_sweep_spec *s, const rt_sweep_trials *tr, int t,
                                const char *dir, long steps, rt_run_config *cfg);

/* What would fail every trial, checked before any runs: a space key that is not a run-config key
   or is one the sweep sets itself (output.dir, the budget's keys, ...), the base run config with
   the sweep's keys, and the model directory and corpora it names (unless the space sets them).
   first_steps: the steps of rung 0. RT_ERR_ARG / RT_ERR_IO / RT_ERR_FORMAT / RT_ERR_HDF5 naming
   the file, the key and what was expected. Needs no MPI (HDF5 files are opened serially). */
rt_status rt_sweep_check(const rt_sweep_spec *s, const char *out, long first_steps);

/* From a trial's metrics.jsonl (path): *best and *last, the best and the last value of metric
   over its evaluation lines after step 0 (NAN when none has it), and *steps, the last step it
   logged. *has_metric: whether any line names the metric at all (a metric the trainer does not
   report, rather than one whose values are not finite). RT_ERR_IO when unreadable,
   RT_ERR_MEMORY. */
rt_status rt_sweep_read_metrics(const char *path, const char *metric, int maximize, double *best,
                                double *last, long *steps, int *has_metric);

/* The evaluation fields of the first evaluation line of path, comma-separated ("val_loss,
   val_ppl"), for the message of a metric no trial reports; "" when none. */
void rt_sweep_metric_fields(const char *path, char *buf, size_t cap);

/* The sweep's fingerprint (16 hex digits) over its trials' values, its rungs, its budget and its
   metric: a state file written by another sweep is refused. Pure. */
void rt_sweep_fingerprint(const rt_sweep_spec *s, const rt_sweep_trials *tr, const long *rungs,
                          int n_rungs, char *buf, size_t cap);

/* Writes trial t's config for a fresh run of `steps` steps (its final budget) into
   <out>/best.yaml, with output.dir <out>/best: `ringtune train <out>/best.yaml` reruns the best
   trial from scratch. */
rt_status rt_sweep_write_best(const rt_sweep_spec *s, const rt_sweep_trials *tr, int t, long steps,
                              const char *out);
