/* A `ringtune sweep` file (docs/sweep.md): the base run config, the search space over run-config
   keys, how trials are drawn, the metric they are ranked by and the budget of each. Read with
   libyaml into one struct (with the base run config's text, read once, so every trial sees the
   same even if the file changes during the sweep); the values of the space stay YAML scalar texts,
   so each becomes a `key=value` override of rt_config_load (dist/config.h) and every run-config key
   can be searched. Not collective: each function acts on the calling process only (the sweep's
   coordinator, world rank 0, reads the file). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "status.h"

typedef enum { RT_SWEEP_GRID = 0, RT_SWEEP_RANDOM } rt_sweep_method;

/* How one key of the space is searched. */
typedef enum {
    RT_SPACE_LIST = 0,    /* a YAML list: grid values (random search: a uniform choice) */
    RT_SPACE_CHOICE,      /* {choice: [...]}: random search, each value equally likely */
    RT_SPACE_UNIFORM,     /* {uniform: [low, high]}: random search, uniform on [low, high] */
    RT_SPACE_LOG_UNIFORM, /* {log_uniform: [low, high]}: log(value) uniform, 0 < low */
} rt_space_kind;

typedef enum { RT_BUDGET_FIXED = 0, RT_BUDGET_EARLY_STOPPING, RT_BUDGET_ASHA } rt_budget_policy;

typedef struct {
    char *key; /* the run-config key, dotted ("optim.lr"); owned */
    rt_space_kind kind;
    char **values; /* (n_values) list and choice: each value as an override's YAML text (a
                      quoted string keeps quotes, so "'1e-3'" stays a string); owned */
    int n_values;
    double low, high; /* uniform, log_uniform */
    int line;         /* the key's line in the sweep file */
} rt_space_param;

typedef struct {
    rt_budget_policy policy;
    long steps;       /* fixed, early_stopping: train.max_steps of every trial; -1: the run
                         config's own budget (train.max_steps or train.epochs) */
    int patience;     /* early_stopping: eval.early_stopping.patience (>= 1) */
    double min_delta; /* early_stopping: eval.early_stopping.min_delta */
    long min_steps;   /* asha: the first rung */
    long max_steps;   /* asha: the last rung, every survivor's full budget */
    int eta;          /* asha: rungs at min_steps * eta^k; each keeps the best 1/eta (>= 2) */
} rt_sweep_budget;

typedef struct {
    char *path;        /* the sweep file, as given; owned */
    char *base_config; /* the `ringtune train` YAML, resolved against the sweep file's folder, or
                          NULL (then `base` must say everything); owned */
    char *base_text;   /* base_config's YAML, read once with the sweep file (NULL: none); owned */
    size_t base_len;
    char **base;    /* (n_base) "key=value" overrides from the `base:` mapping; owned */
    int *base_line; /* (n_base) their lines in the sweep file */
    int n_base;
    rt_sweep_method method;
    int n_trials;           /* random: trials drawn (>= 1); grid: the grid's size */
    uint64_t seed;          /* random: the sampler's seed (default 0) */
    rt_space_param *params; /* (n_params) in file order; owned */
    int n_params;
    char *metric; /* the metrics.jsonl field trials are ranked by ("val_loss"); owned */
    int maximize; /* 1: higher is better */
    rt_sweep_budget budget;
} rt_sweep_spec;

/* Reads the sweep file at path and its base_config. Errors name the file, the line, the key and
   what was expected: RT_ERR_IO (unreadable), RT_ERR_FORMAT (malformed YAML), RT_ERR_ARG (an unknown
   key, a bad value, an empty or malformed space, a distribution in a grid search). On failure *s
   holds nothing to free; on success the caller owns it (rt_sweep_spec_free). */
rt_status rt_sweep_spec_load(rt_sweep_spec *s, const char *path);

/* As rt_sweep_spec_load on the YAML text (len bytes); path names the file in messages and is
   what base_config resolves against. */
rt_status rt_sweep_spec_load_string(rt_sweep_spec *s, const char *text, size_t len,
                                    const char *path);

/* Frees everything and zeroes *s; safe on a zeroed or freed struct. */
void rt_sweep_spec_free(rt_sweep_spec *s);

/* The sweep's metric as eval.metric names it ("loss" for val_loss, "accuracy" for
   val_accuracy, ...) into buf, or "" when the trainer has no such eval.metric (val_ppl).
   Local and pure. */
void rt_sweep_spec_eval_metric(const rt_sweep_spec *s, char *buf, size_t cap);
