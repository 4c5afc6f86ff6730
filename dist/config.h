/* The `ringtune train` run configuration: a YAML file (read with libyaml) plus `key.sub=value`
   command-line overrides, parsed into one typed struct, checked key by key and across keys, and
   written back as canonical YAML (every key, fixed order) that parses to an identical struct.
   Not collective: each function acts on the calling process only. Every rank may load the same
   file and overrides (all get the same result or the same error), or rank 0 may load, write the
   YAML into a buffer, broadcast it, and the others rt_config_load_string() it. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "optim.h"
#include "status.h"

/* Null, for the keys that allow it: nullable integers hold RT_CONFIG_NULL_INT, nullable numbers
   hold NAN (test with isnan()), nullable strings hold NULL. */
#define RT_CONFIG_NULL_INT (-1)

typedef enum { RT_NAN_POLICY_STOP = 0, RT_NAN_POLICY_SKIP } rt_nan_policy;
typedef enum {
    RT_FINETUNE_MODE_FULL = 0,
    RT_FINETUNE_MODE_PARTIAL,            /* train the last last_n_blocks blocks (+ final norm) */
    RT_FINETUNE_MODE_FEATURE_EXTRACTION, /* train the head only */
    RT_FINETUNE_MODE_GRADUAL_UNFREEZE,   /* unfreeze one more block every unfreeze_every units */
} rt_finetune_mode;
typedef enum { RT_UNFREEZE_UNIT_STEPS = 0, RT_UNFREEZE_UNIT_EPOCHS } rt_unfreeze_unit;
/* lora.bias, as PEFT's LoraConfig.bias (compute/lora.h's rt_lora_bias by value) */
typedef enum {
    RT_LORA_BIAS_KIND_NONE = 0,
    RT_LORA_BIAS_KIND_ALL,
    RT_LORA_BIAS_KIND_LORA_ONLY
} rt_lora_bias_kind;
/* What a run trains: a causal LM on packed windows of a text corpus, a sequence classifier on
   the examples of a labeled corpus, or an encoder-decoder on the pairs of a pairs corpus. */
typedef enum { RT_TASK_LM = 0, RT_TASK_CLASSIFICATION, RT_TASK_SEQ2SEQ } rt_task;

struct rt_config_origin; /* where each key was set, for messages (private to config.c) */

/* The effective configuration. Defaults are in the comments; "null" is the null of the key's type
   (see RT_CONFIG_NULL_INT). Strings are owned by the struct (freed by rt_config_free), so a copy
   by assignment must not outlive or be freed with the original. */
typedef struct {
    struct {
        char *path; /* required: a Hugging Face model directory or a ringtune checkpoint */
        struct {
            double embd, attn, resid; /* [0, 1) or NAN (null: keep the checkpoint's config) */
        } dropout;
    } model;
    struct {
        char *corpus;     /* required: HDF5 corpus from `ringtune prep` */
        char *val_corpus; /* NULL: the validation split of corpus */
        rt_task task;     /* lm; classification: examples and labels of a labeled corpus */
        int seq_len;      /* 256; tokens per training window (classification: the longest
                             example; longer ones keep their first seq_len tokens) */
        uint64_t seed;    /* 1234; sample order (< 2^63) */
        int length_pool;  /* 50; seq2seq: global batches per length-sorted pool (1: off) */
        char *tokenizer;  /* NULL: model.path's; seq2seq: detokenizes generated ids */
    } data;
    struct {
        int global_batch;         /* 64 sequences per optimizer step, all ranks together */
        int micro_batch;          /* 8 sequences per rank per forward/backward */
        long max_steps;           /* null; exactly one of max_steps and epochs is set */
        double epochs;            /* 1.0 (> 0, may be fractional) or NAN */
        uint64_t seed;            /* 1234; dropout and other training randomness (< 2^63) */
        rt_nan_policy nan_policy; /* stop: fail naming the step; skip: drop that step's update */
        double max_skipped_ratio; /* 0.1 in [0, 1]: skip fails once more steps are skipped */
        int precision;            /* rt_precision (compute/gemm.h): fp32, or bf16 products with fp32
                                     accumulation, master weights, gradients and optimizer state */
        char *class_weights;      /* null; classification: "balanced" (sklearn's n / (K n_k) over
                                     the train split) or K comma-separated weights */
    } train;
    struct {
        double lr, min_lr;      /* 5e-5 in (0, 1]; 0 (the decay's floor, <= lr) */
        long warmup_steps;      /* 0; at most one of warmup_steps and warmup_ratio is non-zero */
        double warmup_ratio;    /* 0.0 in [0, 1): warmup as a fraction of the total steps */
        rt_sched_kind schedule; /* linear (constant, linear, cosine) */
        double weight_decay;    /* 0.0 in [0, 1] */
        double beta1, beta2;    /* 0.9, 0.999 in [0, 1) */
        double eps;             /* 1e-8 in (0, 1] */
        double clip_norm;       /* 1.0; global gradient norm clip, 0 disables */
        long schedule_steps;    /* null: the run's steps; else the steps the warmup ratio and
                                   the decay span (a shorter run stops partway along it) */
    } optim;
    struct {
        rt_finetune_mode mode;          /* full */
        int last_n_blocks;              /* 2; partial: >= 1 */
        int unfreeze_every;             /* 100; gradual_unfreeze: units between unfreezes */
        rt_unfreeze_unit unfreeze_unit; /* steps */
        bool feature_cache;             /* true; feature_extraction with a classifier: the
                                           backbone's pooled features once per example (no
                                           dropout), the head trained on them */
        double feature_cache_max_mb;    /* 1024; larger caches go to feature_cache_dir */
        char *feature_cache_dir;        /* NULL: <output.dir>/feature_cache */
    } finetune;
    struct {
        int r;                /* null: no adapters; >= 1: LoRA of this rank (finetune.mode full) */
        double alpha;         /* 8 (PEFT's lora_alpha default), > 0 */
        double dropout;       /* 0.0 in [0, 1): on the adapters' input */
        bool rslora;          /* false; true: scale alpha / sqrt(r) instead of alpha / r */
        char *target_modules; /* null: PEFT's default for the architecture; comma-separated
                                 module names (PEFT's suffix rule) or "all-linear" */
        char *layers;         /* null: every layer; comma-separated layer numbers */
        rt_lora_bias_kind bias; /* none (none, all, lora_only) */
        char *modules_to_save;  /* null: the task head of a classifier; comma-separated */
        char *adapter;          /* null; a PEFT adapter directory to start from (its
                                   adapter_config.json then decides the lora.* keys) */
    } lora;
    struct {
        long every_steps; /* 0: only at the end */
        long max_batches; /* null: the whole validation split */
        int micro_batch;  /* null: train.micro_batch (added) */
        bool at_start;    /* false; also log the "before" evaluation (always run) as step 0 */
        struct {
            long max_examples;     /* 256; seq2seq: validation pairs decoded (0: none) */
            int max_new_tokens;    /* null: the longest validation target */
            int num_beams;         /* 1: greedy */
            double length_penalty; /* 1.0 */
        } generate;
        char *metric; /* "loss"; what early stopping, the best weights and keep_best follow:
                         classification also accuracy, f1_macro, ... (compute/metrics.h
                         names, each with its direction) */
        struct {
            int patience;     /* 0: off; evaluations without improvement before stopping */
            double min_delta; /* 0.0; smallest improvement of eval.metric that counts */
        } early_stopping;
    } eval;
    struct {
        double bucket_mb;     /* 25 MiB of gradients per all-reduce bucket, in (0, 4096] */
        bool overlap;         /* true; reduce buckets while backward continues */
        bool zero1;           /* true; shard AdamW state across ranks */
        int threads_per_rank; /* 0: auto (cores / ranks per node) */
        double timeout_s;     /* 1800; a collective wait without progress this long ends the job
                                 (io/watchdog.h, exit 69); 0: off */
    } dist;
    struct {
        char *dir;          /* required: checkpoints, metrics and the effective config go here */
        int log_every;      /* 1; steps between progress lines, 0: none */
        char *metrics_file; /* "metrics.jsonl" (relative to dir) or NULL: no metrics file */
        bool tensorboard;   /* false; also write TensorBoard event files, dir/tensorboard/ */
        bool log_samples;   /* false; metrics lines list each step's global sample ids (added) */
    } output;
    struct {
        long every_steps; /* 0: only at the end (and on a signal) */
        int keep_last;    /* 2; null: keep all */
        bool keep_best;   /* true; also keep the checkpoint with the best eval loss */
        char *resume;     /* NULL: start fresh; "latest": output.dir's latest; or a path (added) */
    } checkpoint;
    struct rt_config_origin *origin; /* owned; NULL in a struct not made by this module */
} rt_run_config;

/* Fills cfg with the defaults (required strings NULL). cfg's previous contents are ignored, not
   freed. Returns RT_ERR_MEMORY (cfg then holds nothing to free). */
rt_status rt_config_defaults(rt_run_config *cfg);

/* Builds the configuration: defaults, then the YAML file yaml_path (NULL: none), then the
   overrides in order (each "key.sub=value"; the value is a YAML scalar, flow list or mapping, so
   "null", "5e-5", "'quoted'" and "{embd: 0.1}" mean what they mean in a file), then
   rt_config_validate. Of two mutually exclusive keys (train.max_steps / train.epochs,
   optim.warmup_steps / optim.warmup_ratio), setting one in the file clears the default of the
   other and setting one on the command line clears the other from the file; setting both in the
   same place is an error. overrides is borrowed. cfg's previous contents are ignored, not freed.
   Errors name the key by its dotted path, where it was set (file:line or the command-line
   argument) and what is allowed: RT_ERR_IO (file unreadable), RT_ERR_FORMAT (malformed YAML,
   naming the line and column), RT_ERR_ARG (unknown key, wrong type, value out of range,
   conflicting keys), RT_ERR_MEMORY. On failure cfg holds nothing to free; on success the caller
   owns it and calls rt_config_free. */
rt_status rt_config_load(rt_run_config *cfg, const char *yaml_path, int n_overrides,
                         char **overrides);

/* As rt_config_load, with the YAML text given (len bytes, need not be NUL-terminated) instead
   of read from a file; name stands for the file in messages. text NULL: no YAML layer. */
rt_status rt_config_load_string(rt_run_config *cfg, const char *text, size_t len, const char *name,
                                int n_overrides, char **overrides);

/* Checks every key's range and the rules across keys: required keys set, exactly one of
   train.max_steps / train.epochs, not both warmup keys, optim.min_lr <= optim.lr, micro_batch
   <= global_batch and dividing it, warmup_steps <= max_steps, partial mode with
   last_n_blocks >= 1, early stopping needing eval.every_steps > 0. Rules that need the model or
   the corpus (last_n_blocks <= n_layer, seq_len <= n_ctx) are the trainer's. Returns RT_OK or
   RT_ERR_ARG with a message naming the keys (and where they were set, when cfg was loaded). */
rt_status rt_config_validate(const rt_run_config *cfg);

/* Gradient accumulation for world_size ranks: global_batch / (micro_batch * world_size), which
   must be a whole number >= 1. Otherwise RT_ERR_ARG naming train.global_batch, train.micro_batch
   and the world size, with the micro_batch values and global_batch sizes that would work. */
rt_status rt_config_derive(const rt_run_config *cfg, int world_size, int *grad_accum);

/* Writes cfg as canonical YAML: every section and key in schema order, numbers in the shortest
   form that reads back exactly (with a decimal point, so YAML 1.1 readers see floats), strings
   double-quoted, null as null. Loading the output gives a struct equal to cfg (rt_config_equal).
   Returns RT_ERR_IO when writing to f fails. */
rt_status rt_config_write_yaml(const rt_run_config *cfg, FILE *f);

/* Writes the canonical YAML to path atomically (temp file, fsync, rename). */
rt_status rt_config_save(const rt_run_config *cfg, const char *path);

/* Writes the schema: every key with its type, allowed values and default, one per line
   (for `ringtune train --help-config`). */
void rt_config_write_reference(FILE *f);

/* true when every key of a and b has the same value (NAN equals NAN, strings by content);
   where the keys were set is ignored. */
bool rt_config_equal(const rt_run_config *a, const rt_run_config *b);

/* Calls fn(arg, key, value in a, value in b) for every key whose canonical value differs
   between a and b (values as the YAML writer formats them, strings unquoted), in schema order;
   returns how many differ. fn may be NULL (count only). */
typedef void (*rt_config_diff_fn)(void *arg, const char *key, const char *a_value,
                                  const char *b_value);
int rt_config_diff(const rt_run_config *a, const rt_run_config *b, rt_config_diff_fn fn, void *arg);

/* Frees the strings and the origin record and zeroes *cfg; safe on a zeroed or freed struct. */
void rt_config_free(rt_run_config *cfg);
