/* The run configuration. One table describes every key (dotted path, type, range, default); the
   YAML walker, the override parser, the validator, the writer and the reference all read it, so
   adding a key is one table row plus one struct field. */
#include "config.h"
#include "metrics.h"
#include "text.h"
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "fsutil.h"

typedef enum { K_STR, K_INT, K_LONG, K_SEED, K_NUM, K_BOOL, K_ENUM } key_kind;

enum {
    F_NULL = 1,    /* null allowed */
    F_REQ = 2,     /* required: the default is null and validation insists on a value */
    F_LO_OPEN = 4, /* value > lo rather than >= lo */
    F_HI_OPEN = 8, /* value < hi rather than <= hi */
};

typedef struct {
    const char *path; /* dotted, e.g. "optim.lr" */
    key_kind kind;
    size_t off;       /* of the field in rt_run_config */
    const char *dflt; /* the default, as YAML text */
    double lo, hi;    /* numbers: allowed range; hi INFINITY: only the type's limit */
    unsigned flags;
    const char *const *names; /* enums: the names by value, NULL-terminated */
    const char *note;         /* F_NULL: what null means; F_REQ: what the value is; else, if
                                 set: what the key does (the reference prints it) */
} key_def;

static const char *const nan_policy_names[] = {"stop", "skip", NULL};
static const char *const precision_names[] = {"fp32", "bf16", NULL}; /* rt_precision's order */
static const char *const mode_names[] = {"full", "partial", "feature_extraction",
                                         "gradual_unfreeze", NULL};
static const char *const unit_names[] = {"steps", "epochs", NULL};
static const char *const task_names[] = {"lm", "classification", "seq2seq", NULL};
static const char *const lora_bias_names[] = {"none", "all", "lora_only", NULL};
_Static_assert(RT_FINETUNE_MODE_GRADUAL_UNFREEZE == 3 && RT_UNFREEZE_UNIT_EPOCHS == 1 &&
                   RT_NAN_POLICY_SKIP == 1 && RT_TASK_CLASSIFICATION == 1 && RT_TASK_SEQ2SEQ == 2,
               "the name tables follow the enums");

#define OFF(m) offsetof(rt_run_config, m)
#define INF INFINITY

/* Schema order: the writer emits the keys in this order, and a section's keys must be
   contiguous (nested sections included). */
static const key_def keys[] = {
    {"model.path", K_STR, OFF(model.path), "null", 0, 0, F_REQ, NULL,
     "a Hugging Face model directory or a ringtune checkpoint"},
    {"model.dropout.embd", K_NUM, OFF(model.dropout.embd), "null", 0, 1, F_NULL | F_HI_OPEN, NULL,
     "keep the checkpoint's value"},
    {"model.dropout.attn", K_NUM, OFF(model.dropout.attn), "null", 0, 1, F_NULL | F_HI_OPEN, NULL,
     "keep the checkpoint's value"},
    {"model.dropout.resid", K_NUM, OFF(model.dropout.resid), "null", 0, 1, F_NULL | F_HI_OPEN, NULL,
     "keep the checkpoint's value"},

    {"data.corpus", K_STR, OFF(data.corpus), "null", 0, 0, F_REQ, NULL,
     "an HDF5 corpus made by `ringtune prep`"},
    {"data.val_corpus", K_STR, OFF(data.val_corpus), "null", 0, 0, F_NULL, NULL,
     "the validation split of data.corpus"},
    {"data.task", K_ENUM, OFF(data.task), "lm", 0, 0, 0, task_names,
     "lm: causal-LM fine-tuning on packed windows of a text corpus; classification: sequence "
     "classification on the examples of a labeled corpus (`prep --label-field`); seq2seq: an "
     "encoder-decoder model on the source-target pairs of a pairs corpus (`prep --source-field "
     "--target-field`)"},
    {"data.seq_len", K_INT, OFF(data.seq_len), "256", 1, 1048576, 0, NULL, NULL},
    {"data.length_pool", K_INT, OFF(data.length_pool), "50", 1, 1000000, 0, NULL,
     "data.task seq2seq: global batches per pool of the sample order sorted by length, so a "
     "micro-batch holds pairs of similar lengths and pads little (as HF's group_by_length); the "
     "batches of a pool are shuffled and none depends on the rank count; 1: no grouping"},
    {"data.tokenizer", K_STR, OFF(data.tokenizer), "null", 0, 0, F_NULL, NULL,
     "model.path (or, for a checkpoint, the tokenizer it was trained with): the directory of "
     "the tokenizer files (spiece.model) that turn generated ids into text for the seq2seq "
     "evaluation's BLEU, chrF, ROUGE-L and exact match"},
    {"data.seed", K_SEED, OFF(data.seed), "1234", 0, INF, 0, NULL, NULL},

    {"train.global_batch", K_INT, OFF(train.global_batch), "64", 1, INF, 0, NULL, NULL},
    {"train.micro_batch", K_INT, OFF(train.micro_batch), "8", 1, INF, 0, NULL, NULL},
    {"train.max_steps", K_LONG, OFF(train.max_steps), "null", 1, INF, F_NULL, NULL,
     "train for train.epochs"},
    {"train.epochs", K_NUM, OFF(train.epochs), "1.0", 0, 1e6, F_NULL | F_LO_OPEN, NULL,
     "train for train.max_steps"},
    {"train.seed", K_SEED, OFF(train.seed), "1234", 0, INF, 0, NULL, NULL},
    {"train.nan_policy", K_ENUM, OFF(train.nan_policy), "stop", 0, 0, 0, nan_policy_names, NULL},
    {"train.max_skipped_ratio", K_NUM, OFF(train.max_skipped_ratio), "0.1", 0, 1, 0, NULL, NULL},
    {"train.precision", K_ENUM, OFF(train.precision), "fp32", 0, 0, 0, precision_names,
     "fp32: every product in fp32 (BLIS sgemm), exact and deterministic; bf16: the matrix "
     "products of forward and backward take bf16-rounded operands with fp32 accumulation (what "
     "torch.autocast(\"cpu\", dtype=torch.bfloat16) does to matmuls), while the weights, "
     "gradients, optimizer state, softmax, norms, activations and the loss stay fp32; a "
     "checkpoint resumes in either precision"},
    {"train.class_weights", K_STR, OFF(train.class_weights), "null", 0, 0, F_NULL, NULL,
     "no class weights (data.task classification: \"balanced\" weighs class k by n / (K n_k) "
     "over the train split, as sklearn's compute_class_weight; or K comma-separated weights; the "
     "loss is then sum(w_y nll) / sum(w_y), as torch's CrossEntropyLoss(weight=...))"},

    {"optim.lr", K_NUM, OFF(optim.lr), "5e-5", 0, 1, F_LO_OPEN, NULL, NULL},
    {"optim.min_lr", K_NUM, OFF(optim.min_lr), "0.0", 0, 1, 0, NULL, NULL},
    {"optim.warmup_steps", K_LONG, OFF(optim.warmup_steps), "0", 0, INF, 0, NULL, NULL},
    {"optim.warmup_ratio", K_NUM, OFF(optim.warmup_ratio), "0.0", 0, 1, F_HI_OPEN, NULL, NULL},
    {"optim.schedule", K_ENUM, OFF(optim.schedule), "linear", 0, 0, 0, rt_schedule_names, NULL},
    {"optim.weight_decay", K_NUM, OFF(optim.weight_decay), "0.0", 0, 1, 0, NULL, NULL},
    {"optim.beta1", K_NUM, OFF(optim.beta1), "0.9", 0, 1, F_HI_OPEN, NULL, NULL},
    {"optim.beta2", K_NUM, OFF(optim.beta2), "0.999", 0, 1, F_HI_OPEN, NULL, NULL},
    {"optim.eps", K_NUM, OFF(optim.eps), "1e-8", 0, 1, F_LO_OPEN, NULL, NULL},
    {"optim.clip_norm", K_NUM, OFF(optim.clip_norm), "1.0", 0, INF, 0, NULL, NULL},
    {"optim.schedule_steps", K_LONG, OFF(optim.schedule_steps), "null", 1, INF, F_NULL, NULL,
     "the run's steps: the warmup ratio and the decay span the run; N: they span N steps, so a "
     "run of fewer steps stops partway along the schedule of a longer one and a resume with more "
     "steps continues it (`ringtune sweep`'s successive halving)"},

    {"finetune.mode", K_ENUM, OFF(finetune.mode), "full", 0, 0, 0, mode_names, NULL},
    {"finetune.last_n_blocks", K_INT, OFF(finetune.last_n_blocks), "2", 0, INF, 0, NULL, NULL},
    {"finetune.unfreeze_every", K_INT, OFF(finetune.unfreeze_every), "100", 1, INF, 0, NULL, NULL},
    {"finetune.unfreeze_unit", K_ENUM, OFF(finetune.unfreeze_unit), "steps", 0, 0, 0, unit_names,
     NULL},
    {"finetune.feature_cache", K_BOOL, OFF(finetune.feature_cache), "true", 0, 0, 0, NULL,
     "mode feature_extraction of a classifier (data.task classification): compute the frozen "
     "backbone's pooled features once per example, without dropout, and train the score on them "
     "every epoch; false: run the backbone (with its dropout) at every step"},
    {"finetune.feature_cache_max_mb", K_NUM, OFF(finetune.feature_cache_max_mb), "1024", 0, INF, 0,
     NULL,
     "features up to this size (MB, every rank holds them all) stay in memory; larger ones go to "
     "HDF5 shards in finetune.feature_cache_dir, read per micro-batch (0: always on disk)"},
    {"finetune.feature_cache_dir", K_STR, OFF(finetune.feature_cache_dir), "null", 0, 0, F_NULL,
     NULL,
     "<output.dir>/feature_cache: where features kept on disk go; a cache there from an earlier "
     "run with the same frozen weights, corpus and pooling is reused, any other is rebuilt"},

    {"lora.r", K_INT, OFF(lora.r), "null", 1, 1 << 20, F_NULL, NULL,
     "no adapters; a rank >= 1: LoRA adapters (PEFT's LoraConfig) train while the base model "
     "stays frozen, and only their bytes are reduced, sharded, given AdamW state and "
     "checkpointed; finetune.mode must be full"},
    {"lora.alpha", K_NUM, OFF(lora.alpha), "8", 0, INF, F_LO_OPEN, NULL,
     "lora_alpha: the adapters' output is scaled by alpha / r"},
    {"lora.dropout", K_NUM, OFF(lora.dropout), "0.0", 0, 1, F_HI_OPEN, NULL,
     "lora_dropout: dropout on the adapters' input while training"},
    {"lora.rslora", K_BOOL, OFF(lora.rslora), "false", 0, 0, 0, NULL,
     "use_rslora: scale by alpha / sqrt(r)"},
    {"lora.target_modules", K_STR, OFF(lora.target_modules), "null", 0, 0, F_NULL, NULL,
     "PEFT's default target modules for the model's architecture (README, LoRA adapters); "
     "else comma-separated module names as the model's Hugging Face checkpoint names its layers, "
     "a layer matching when its name ends with one, or all-linear"},
    {"lora.layers", K_STR, OFF(lora.layers), "null", 0, 0, F_NULL, NULL,
     "every layer; else comma-separated layer numbers (layers_to_transform)"},
    {"lora.bias", K_ENUM, OFF(lora.bias), "none", 0, 0, 0, lora_bias_names,
     "none; all: every bias trains; lora_only: the adapted layers' biases train"},
    {"lora.modules_to_save", K_STR, OFF(lora.modules_to_save), "null", 0, 0, F_NULL, NULL,
     "a classifier's head, as PEFT's SEQ_CLS task does; else comma-separated module names that "
     "train in full"},
    {"lora.adapter", K_STR, OFF(lora.adapter), "null", 0, 0, F_NULL, NULL,
     "fresh adapters (A Kaiming-uniform, B zero: step 0 is the base model); else a PEFT adapter "
     "directory (adapter_config.json, adapter_model.safetensors) to continue from, whose config "
     "then gives every lora.* value (leave them at their defaults)"},

    {"eval.every_steps", K_LONG, OFF(eval.every_steps), "0", 0, INF, 0, NULL, NULL},
    {"eval.max_batches", K_LONG, OFF(eval.max_batches), "null", 1, INF, F_NULL, NULL,
     "the whole validation split"},
    {"eval.micro_batch", K_INT, OFF(eval.micro_batch), "null", 1, INF, F_NULL, NULL,
     "train.micro_batch"},
    {"eval.at_start", K_BOOL, OFF(eval.at_start), "false", 0, 0, 0, NULL,
     "true: the evaluation before training (always run, the \"before\" figure) is also logged as "
     "step 0 in metrics.jsonl and TensorBoard"},
    {"eval.generate.max_examples", K_LONG, OFF(eval.generate.max_examples), "256", 0, INF, 0, NULL,
     "data.task seq2seq: validation pairs decoded (greedy or beam search) for BLEU, chrF, "
     "ROUGE-L and exact match before and after training (the first ones of the split); 0: none, "
     "loss and perplexity only"},
    {"eval.generate.max_new_tokens", K_INT, OFF(eval.generate.max_new_tokens), "null", 1, INF,
     F_NULL, NULL, "the validation split's longest target"},
    {"eval.generate.num_beams", K_INT, OFF(eval.generate.num_beams), "1", 1, 64, 0, NULL,
     "1: greedy; more: beam search"},
    {"eval.generate.length_penalty", K_NUM, OFF(eval.generate.length_penalty), "1.0", -INF, INF, 0,
     NULL, "beam search: a finished hypothesis scores sum(log p) / length^length_penalty"},
    {"eval.metric", K_STR, OFF(eval.metric), "loss", 0, 0, 0, NULL,
     "what early stopping, the kept best weights and checkpoint.keep_best follow: loss (lower is "
     "better) or, for data.task classification, accuracy, f1_macro, f1_micro, f1_weighted, "
     "precision_macro, recall_macro, ... (higher is better)"},
    {"eval.early_stopping.patience", K_INT, OFF(eval.early_stopping.patience), "0", 0, INF, 0, NULL,
     NULL},
    {"eval.early_stopping.min_delta", K_NUM, OFF(eval.early_stopping.min_delta), "0.0", 0, INF, 0,
     NULL, NULL},

    {"dist.bucket_mb", K_NUM, OFF(dist.bucket_mb), "25", 0, 4096, F_LO_OPEN, NULL, NULL},
    {"dist.overlap", K_BOOL, OFF(dist.overlap), "true", 0, 0, 0, NULL, NULL},
    {"dist.zero1", K_BOOL, OFF(dist.zero1), "true", 0, 0, 0, NULL, NULL},
    {"dist.threads_per_rank", K_INT, OFF(dist.threads_per_rank), "0", 0, 4096, 0, NULL, NULL},
    {"dist.timeout_s", K_NUM, OFF(dist.timeout_s), "1800", 0, 1e9, 0, NULL, NULL},

    {"output.dir", K_STR, OFF(output.dir), "null", 0, 0, F_REQ, NULL,
     "the directory for checkpoints, metrics and the effective config"},
    {"output.log_every", K_INT, OFF(output.log_every), "1", 0, INF, 0, NULL, NULL},
    {"output.metrics_file", K_STR, OFF(output.metrics_file), "metrics.jsonl", 0, 0, F_NULL, NULL,
     "no metrics file"},
    {"output.tensorboard", K_BOOL, OFF(output.tensorboard), "false", 0, 0, 0, NULL,
     "true: TensorBoard event files in <output.dir>/tensorboard/ (train/*, eval/* scalars)"},
    {"output.log_samples", K_BOOL, OFF(output.log_samples), "false", 0, 0, 0, NULL, NULL},

    {"checkpoint.every_steps", K_LONG, OFF(checkpoint.every_steps), "0", 0, INF, 0, NULL, NULL},
    {"checkpoint.keep_last", K_INT, OFF(checkpoint.keep_last), "2", 1, INF, F_NULL, NULL,
     "keep every checkpoint"},
    {"checkpoint.keep_best", K_BOOL, OFF(checkpoint.keep_best), "true", 0, 0, 0, NULL, NULL},
    {"checkpoint.resume", K_STR, OFF(checkpoint.resume), "null", 0, 0, F_NULL, NULL,
     "start fresh; \"latest\": output.dir's latest checkpoint; or a checkpoint path"},
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

/* Pairs of keys of which at most one is set (non-null and non-zero). */
static const char *const exclusive[][2] = {
    {"train.max_steps", "train.epochs"},
    {"optim.warmup_steps", "optim.warmup_ratio"},
};

enum { L_DEFAULT = 0, L_FILE, L_CMDLINE };

struct rt_config_origin {
    char *file;          /* the YAML name given to load, or NULL */
    int layer[N_KEYS];   /* L_DEFAULT, L_FILE or L_CMDLINE */
    char *where[N_KEYS]; /* "run.yaml:7", "command line argument 'k=v'"; NULL: default */
};

/* ---- the table ---- */

static int find_key(const char *path) {
    for (int k = 0; k < N_KEYS; k++)
        if (strcmp(keys[k].path, path) == 0) return k;
    return -1;
}

/* 1 when some key lies under section ("" is the root). */
static int is_section(const char *section) {
    size_t n = strlen(section);
    if (n == 0) return 1;
    for (int k = 0; k < N_KEYS; k++)
        if (strncmp(keys[k].path, section, n) == 0 && keys[k].path[n] == '.') return 1;
    return 0;
}

/* 1 when key k lies under section ("" is the root). */
static int key_under(int k, const char *section) {
    size_t n = strlen(section);
    return n == 0 || (strncmp(keys[k].path, section, n) == 0 && keys[k].path[n] == '.');
}

/* Appends to buf the names directly under section, in schema order, comma-separated. */
static void list_children(const char *section, char *buf, size_t cap) {
    size_t n = strlen(section), used = 0;
    buf[0] = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    for (int k = 0; k < N_KEYS; k++) {
        if (!key_under(k, section)) continue;
        const char *name = keys[k].path + (n ? n + 1 : 0);
        size_t len = strcspn(name, ".");
        if (prev && prev_len == len && strncmp(prev, name, len) == 0) continue;
        int w = snprintf(buf + used, cap - used, "%s%.*s", used ? ", " : "", (int)len, name);
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
        prev = name;
        prev_len = len;
    }
}

static void *field(rt_run_config *cfg, int k) {
    return (char *)cfg + keys[k].off;
}
static const void *cfield(const rt_run_config *cfg, int k) {
    return (const char *)cfg + keys[k].off;
}

/* The integer range of key k, the type's limits included. */
static void int_range(int k, long long *lo, long long *hi) {
    const key_def *d = &keys[k];
    long long tmax = d->kind == K_INT ? INT_MAX : d->kind == K_LONG ? LONG_MAX : LLONG_MAX;
    *lo = (long long)d->lo + ((d->flags & F_LO_OPEN) ? 1 : 0);
    *hi = isinf(d->hi) ? tmax : (long long)d->hi - ((d->flags & F_HI_OPEN) ? 1 : 0);
}

/* What key k accepts, e.g. "a number > 0 and <= 1" or "one of stop, skip, or null (...)". */
static void describe(int k, char *buf, size_t cap) {
    const key_def *d = &keys[k];
    size_t u = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(buf + u, cap - u, __VA_ARGS__);                                          \
        if (w_ > 0) u = (size_t)w_ < cap - u ? u + (size_t)w_ : cap - 1;                           \
    } while (0)
    buf[0] = 0;
    switch (d->kind) {
    case K_STR:
        if (d->flags & F_REQ)
            PUT("%s", d->note);
        else
            PUT("a non-empty string");
        break;
    case K_INT:
    case K_LONG:
    case K_SEED: {
        long long lo, hi;
        int_range(k, &lo, &hi);
        PUT("an integer >= %lld", lo);
        if (d->kind == K_SEED)
            PUT(" and < 2^63");
        else if (!isinf(d->hi))
            PUT(" and <= %lld", hi);
        break;
    }
    case K_NUM:
        PUT("a number %s %g", (d->flags & F_LO_OPEN) ? ">" : ">=", d->lo);
        if (!isinf(d->hi)) PUT(" and %s %g", (d->flags & F_HI_OPEN) ? "<" : "<=", d->hi);
        break;
    case K_BOOL:
        PUT("true or false");
        break;
    case K_ENUM:
        PUT("one of");
        for (int i = 0; d->names[i]; i++) PUT("%s %s", i ? "," : "", d->names[i]);
        break;
    }
    if (d->flags & F_NULL) PUT(", or null (%s)", d->note);
#undef PUT
}

/* ---- suggestions for unknown keys ---- */

static int edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* "; did you mean 'optim.lr'?" for a near miss or a key put in the wrong section, else "". */
static void suggest(const char *path, char *buf, size_t cap) {
    buf[0] = 0;
    const char *leaf = strrchr(path, '.');
    leaf = leaf ? leaf + 1 : path;
    int best = -1, best_d = 3;
    for (int k = 0; k < N_KEYS; k++) {
        const char *kleaf = strrchr(keys[k].path, '.') + 1;
        int d = edit_distance(path, keys[k].path);
        if (strcmp(kleaf, leaf) == 0 && d > 0 && best_d > 1) d = 1; /* right key, wrong section */
        if (d < best_d) {
            best_d = d;
            best = k;
        }
    }
    if (best >= 0) snprintf(buf, cap, "; did you mean '%s'?", keys[best].path);
}

static rt_status unknown_key(const char *path, const char *where) {
    /* the deepest known section above path */
    char parent[256];
    snprintf(parent, sizeof parent, "%s", path);
    for (;;) {
        char *dot = strrchr(parent, '.');
        if (!dot) {
            parent[0] = 0;
            break;
        }
        *dot = 0;
        if (is_section(parent) && find_key(parent) < 0) break;
    }
    char allowed[1024], hint[300];
    list_children(parent, allowed, sizeof allowed);
    suggest(path, hint, sizeof hint);
    if (parent[0])
        return rt_error(RT_ERR_ARG, "unknown key '%s' in %s; allowed keys under '%s': %s%s", path,
                        where, parent, allowed, hint);
    return rt_error(RT_ERR_ARG, "unknown key '%s' in %s; allowed top-level keys: %s%s", path, where,
                    allowed, hint);
}

/* ---- values ---- */

static int is_null_text(const char *s) {
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* A decimal number: [+-] digits [. digits] [e [+-] digits] (YAML 1.2 core, no .inf/.nan, no
   hex). 0 when s is not one; *v may be +-inf when it overflows. */
static int parse_decimal(const char *s, double *v) {
    const char *p = s;
    int digits = 0;
    if (*p == '+' || *p == '-') p++;
    while (isdigit((unsigned char)*p)) p++, digits++;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++) digits++;
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return 0;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (*p) return 0;
    char *end;
    *v = strtod(s, &end);
    return end == p;
}

/* An integer: plain decimal digits, or a number with an integral value such as 1e4.
   Returns 0 when s is not one, -1 when it is one but overflows long long. */
static int parse_integer(const char *s, long long *v) {
    const char *p = s + (*s == '+' || *s == '-');
    if (*p && strspn(p, "0123456789") == strlen(p)) {
        errno = 0;
        *v = strtoll(s, NULL, 10);
        return errno == ERANGE ? -1 : 1;
    }
    double d;
    if (!parse_decimal(s, &d) || d != floor(d)) return 0;
    if (!(fabs(d) < 9.2e18)) return -1;
    *v = (long long)d;
    return 1;
}

static rt_status origin_record(rt_run_config *cfg, int k, int layer, const char *where) {
    struct rt_config_origin *o = cfg->origin;
    if (!o) return RT_OK;
    char *w = NULL;
    if (where && !(w = strdup(where)))
        return rt_error(RT_ERR_MEMORY, "run config: out of memory recording '%s'", keys[k].path);
    free(o->where[k]);
    o->where[k] = w;
    o->layer[k] = layer;
    return RT_OK;
}

/* Sets key k from the YAML scalar text (plain: unquoted). as_default: text is the schema's
   default, so a required key may become null. */
static rt_status set_scalar(rt_run_config *cfg, int k, const char *text, int plain, int as_default,
                            int layer, const char *where) {
    const key_def *d = &keys[k];
    void *p = field(cfg, k);
    char desc[512], got[300];
    describe(k, desc, sizeof desc);
    if (plain && is_null_text(text))
        snprintf(got, sizeof got, "null");
    else if (plain)
        snprintf(got, sizeof got, "'%s'", text);
    else
        snprintf(got, sizeof got, "the quoted string \"%s\"%s", text,
                 d->kind == K_STR || d->kind == K_ENUM ? "" : " (write it without quotes)");
#define BAD()                                                                                      \
    rt_error(RT_ERR_ARG, "invalid value for '%s' in %s: expected %s, got %s", d->path, where,      \
             desc, got)
    if (plain && is_null_text(text)) {
        if (!(d->flags & F_NULL) && !(as_default && (d->flags & F_REQ))) return BAD();
        switch (d->kind) {
        case K_STR:
            free(*(char **)p);
            *(char **)p = NULL;
            break;
        case K_INT:
            *(int *)p = RT_CONFIG_NULL_INT;
            break;
        case K_LONG:
            *(long *)p = RT_CONFIG_NULL_INT;
            break;
        case K_NUM:
            *(double *)p = NAN;
            break;
        default:
            return rt_error(RT_ERR_INTERNAL, "run config: key '%s' cannot be null", d->path);
        }
        return origin_record(cfg, k, layer, where);
    }
    switch (d->kind) {
    case K_STR: {
        if (!*text)
            return rt_error(RT_ERR_ARG, "invalid value for '%s' in %s: expected %s, got \"\"",
                            d->path, where, desc);
        char *s = strdup(text);
        if (!s) return rt_error(RT_ERR_MEMORY, "run config: out of memory setting '%s'", d->path);
        free(*(char **)p);
        *(char **)p = s;
        break;
    }
    case K_INT:
    case K_LONG:
    case K_SEED: {
        long long v, lo, hi;
        if (!plain || parse_integer(text, &v) != 1) return BAD();
        int_range(k, &lo, &hi);
        if (v < lo || v > hi) return BAD();
        if (d->kind == K_INT)
            *(int *)p = (int)v;
        else if (d->kind == K_LONG)
            *(long *)p = (long)v;
        else
            *(uint64_t *)p = (uint64_t)v;
        break;
    }
    case K_NUM: {
        double v;
        if (!plain || !parse_decimal(text, &v) || !isfinite(v)) return BAD();
        if ((d->flags & F_LO_OPEN) ? !(v > d->lo) : !(v >= d->lo)) return BAD();
        if ((d->flags & F_HI_OPEN) ? !(v < d->hi) : !(v <= d->hi)) return BAD();
        *(double *)p = v;
        break;
    }
    case K_BOOL:
        if (plain && (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "TRUE")))
            *(bool *)p = true;
        else if (plain &&
                 (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "FALSE")))
            *(bool *)p = false;
        else
            return BAD();
        break;
    case K_ENUM: {
        int i = 0;
        while (d->names[i] && strcmp(d->names[i], text) != 0) i++;
        if (!d->names[i]) return BAD();
        *(int *)p = i;
        break;
    }
    }
#undef BAD
    return origin_record(cfg, k, layer, where);
}

/* Every key under section ("" the root) back to its default. */
static rt_status reset_section(rt_run_config *cfg, const char *section, int layer,
                               const char *where) {
    for (int k = 0; k < N_KEYS; k++)
        if (key_under(k, section)) {
            rt_status s = set_scalar(cfg, k, keys[k].dflt, 1, 1, layer, where);
            if (s != RT_OK) return s;
        }
    return RT_OK;
}

/* ---- the YAML walker ---- */

typedef struct {
    rt_run_config *cfg;
    int layer;
    const char *name; /* the YAML file's name (L_FILE) */
    const char *arg;  /* the argument being applied (L_CMDLINE) */
    yaml_document_t *doc;
} walk_ctx;

static void where_text(const walk_ctx *c, int line, char *buf, size_t cap) {
    if (c->layer == L_CMDLINE)
        snprintf(buf, cap, "command line argument '%s'", c->arg);
    else
        snprintf(buf, cap, "%s:%d", c->name, line);
}

static const char *node_kind(const yaml_node_t *n) {
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

/* Applies node n (found at line, from the key that holds it) to path ("" is the root). */
static rt_status apply_node(walk_ctx *c, yaml_node_t *n, const char *path, int line) {
    char where[768];
    where_text(c, line, where, sizeof where);
    if (n->tag && strncmp((const char *)n->tag, "tag:yaml.org,2002:", 18) != 0)
        return rt_error(RT_ERR_ARG, "'%s' in %s: unsupported YAML tag '%s'", *path ? path : "(top)",
                        where, (const char *)n->tag);
    int k = find_key(path);
    if (k >= 0) {
        if (n->type != YAML_SCALAR_NODE) {
            char desc[512];
            describe(k, desc, sizeof desc);
            return rt_error(RT_ERR_ARG, "invalid value for '%s' in %s: expected %s, got %s", path,
                            where, desc, node_kind(n));
        }
        const char *text = (const char *)n->data.scalar.value;
        if (strlen(text) != n->data.scalar.length)
            return rt_error(RT_ERR_ARG, "invalid value for '%s' in %s: contains a NUL character",
                            path, where);
        return set_scalar(c->cfg, k, text, n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, 0,
                          c->layer, where);
    }
    char allowed[1024];
    list_children(path, allowed, sizeof allowed);
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        is_null_text((const char *)n->data.scalar.value))
        return reset_section(c->cfg, path, c->layer, where); /* "optim:" with nothing under it */
    if (n->type != YAML_MAPPING_NODE) {
        char got[300];
        if (n->type == YAML_SCALAR_NODE)
            snprintf(got, sizeof got, "'%s'", (const char *)n->data.scalar.value);
        else
            snprintf(got, sizeof got, "%s", node_kind(n));
        if (!*path)
            return rt_error(RT_ERR_ARG,
                            "the top level of %s must be a mapping of sections (%s), got %s",
                            c->layer == L_CMDLINE ? "the configuration" : c->name, allowed, got);
        return rt_error(RT_ERR_ARG,
                        "'%s' in %s is a section: expected a mapping of its keys (%s), got %s",
                        path, where, allowed, got);
    }
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
        int kline = (int)kn->start_mark.line + 1;
        char kwhere[768];
        where_text(c, kline, kwhere, sizeof kwhere);
        if (kn->type != YAML_SCALAR_NODE)
            return rt_error(RT_ERR_ARG, "%s: a key under '%s' must be a name, got %s", kwhere,
                            *path ? path : "(top)", node_kind(kn));
        const char *name = (const char *)kn->data.scalar.value;
        char child[256];
        int w = snprintf(child, sizeof child, "%s%s%s", path, *path ? "." : "", name);
        if (w < 0 || (size_t)w >= sizeof child) { /* too long to be a key */
            snprintf(child + sizeof child - 4, 4, "...");
            return unknown_key(child, kwhere);
        }
        if (!strcmp(name, "<<"))
            return rt_error(RT_ERR_ARG, "%s: YAML merge keys ('<<') are not supported", kwhere);
        if (strchr(name, '.')) {
            char msg[2048];
            unknown_key(child, kwhere);
            snprintf(msg, sizeof msg, "%s (in YAML, nest the keys: dotted paths are for overrides)",
                     rt_error_message());
            return rt_error(RT_ERR_ARG, "%s", msg);
        }
        if (!*name || (find_key(child) < 0 && !is_section(child)))
            return unknown_key(child, kwhere);
        /* after the unknown-key check, so a mapping is scanned at most (its keys + 1) times */
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < pr; q++) {
            yaml_node_t *qn = yaml_document_get_node(c->doc, q->key);
            if (qn->type != YAML_SCALAR_NODE || strcmp((const char *)qn->data.scalar.value, name))
                continue;
            if (c->layer == L_CMDLINE)
                return rt_error(RT_ERR_ARG, "duplicate key '%s' in %s", child, kwhere);
            return rt_error(RT_ERR_ARG, "duplicate key '%s' in %s (first at line %d)", child,
                            kwhere, (int)qn->start_mark.line + 1);
        }
        rt_status s = apply_node(c, vn, child, kline);
        if (s != RT_OK) return s;
    }
    return RT_OK;
}

static rt_status yaml_failure(const yaml_parser_t *p, const char *name, const char *text,
                              size_t len) {
    if (p->error == YAML_MEMORY_ERROR)
        return rt_error(RT_ERR_MEMORY, "%s: out of memory while parsing YAML", name);
    if (p->error == YAML_READER_ERROR) { /* bad encoding: libyaml knows the byte, not the line */
        size_t at = p->problem_offset < len ? p->problem_offset : len;
        int line = 1;
        for (size_t i = 0; i < at; i++) line += text[i] == '\n';
        return rt_error(RT_ERR_FORMAT, "malformed YAML in %s:%d (byte %zu): %s", name, line, at,
                        p->problem ? p->problem : "unreadable input");
    }
    char context[256] = "";
    if (p->context)
        snprintf(context, sizeof context, " (%s at line %d)", p->context,
                 (int)p->context_mark.line + 1);
    return rt_error(RT_ERR_FORMAT, "malformed YAML in %s:%d:%d: %s%s", name,
                    (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                    p->problem ? p->problem : "syntax error", context);
}

/* Applies one YAML document (text, len bytes) at path; more than one document is an error. */
static rt_status apply_yaml(walk_ctx *c, const char *text, size_t len, const char *path) {
    const char *name = c->layer == L_CMDLINE ? c->arg : c->name;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return rt_error(RT_ERR_MEMORY, "%s: cannot create a YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    rt_status s = RT_OK;
    if (!yaml_parser_load(&parser, &doc)) {
        if (c->layer == L_CMDLINE) {
            s = rt_error(RT_ERR_ARG,
                         "command line argument '%s': the value is not valid YAML (%s); quote it",
                         c->arg, parser.problem ? parser.problem : "syntax error");
        } else {
            s = yaml_failure(&parser, name, text, len);
        }
        yaml_parser_delete(&parser);
        return s;
    }
    c->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        s = apply_node(c, root, path, (int)root->start_mark.line + 1);
    } else if (c->layer == L_CMDLINE) { /* "key=" : null */
        char where[768];
        where_text(c, 0, where, sizeof where);
        int k = find_key(path);
        s = k >= 0 ? set_scalar(c->cfg, k, "", 1, 0, c->layer, where)
                   : reset_section(c->cfg, path, c->layer, where);
    }
    yaml_document_delete(&doc);
    c->doc = NULL;
    if (s == RT_OK && root) {
        if (!yaml_parser_load(&parser, &doc)) {
            s = yaml_failure(&parser, name, text, len);
        } else {
            yaml_node_t *second = yaml_document_get_root_node(&doc);
            if (second)
                s = rt_error(RT_ERR_FORMAT,
                             "%s:%d: a second YAML document; a run config is one mapping", name,
                             (int)second->start_mark.line + 1);
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
    return s;
}

static rt_status apply_override(rt_run_config *cfg, const char *arg) {
    const char *eq = strchr(arg, '=');
    size_t klen = eq ? (size_t)(eq - arg) : 0;
    char key[256];
    if (!eq || klen == 0 || klen >= sizeof key)
        return rt_error(RT_ERR_ARG,
                        "command line argument '%s': expected key.sub=value (e.g. optim.lr=3e-5)",
                        arg);
    memcpy(key, arg, klen);
    key[klen] = 0;
    char where[768];
    snprintf(where, sizeof where, "command line argument '%s'", arg);
    int ok = key[0] != '.' && key[klen - 1] != '.' && !strstr(key, "..");
    for (size_t i = 0; i < klen && ok; i++)
        ok = islower((unsigned char)key[i]) || isdigit((unsigned char)key[i]) || key[i] == '_' ||
             key[i] == '.';
    if (!ok || (find_key(key) < 0 && !is_section(key))) return unknown_key(key, where);
    walk_ctx c = {cfg, L_CMDLINE, NULL, arg, NULL};
    const char *value = eq + 1;
    return apply_yaml(&c, value, strlen(value), key);
}

/* ---- mutually exclusive keys ---- */

static int is_set(const rt_run_config *cfg, int k) {
    const void *p = cfield(cfg, k);
    switch (keys[k].kind) {
    case K_INT:
        return *(const int *)p != RT_CONFIG_NULL_INT && *(const int *)p != 0;
    case K_LONG:
        return *(const long *)p != RT_CONFIG_NULL_INT && *(const long *)p != 0;
    case K_NUM:
        return !isnan(*(const double *)p) && *(const double *)p != 0;
    default:
        return 1;
    }
}

static void clear_key(rt_run_config *cfg, int k) {
    void *p = field(cfg, k);
    int null = keys[k].flags & F_NULL;
    if (keys[k].kind == K_INT)
        *(int *)p = null ? RT_CONFIG_NULL_INT : 0;
    else if (keys[k].kind == K_LONG)
        *(long *)p = null ? RT_CONFIG_NULL_INT : 0;
    else if (keys[k].kind == K_NUM)
        *(double *)p = null ? NAN : 0.0;
}

static const char *origin_of(const rt_run_config *cfg, int k) {
    if (!cfg->origin || !cfg->origin->where[k]) return "default";
    return cfg->origin->where[k];
}

/* After a layer: of a pair, the key set in this layer clears the other; both set is an error. */
static rt_status resolve_exclusive(rt_run_config *cfg, int layer) {
    for (size_t i = 0; i < sizeof exclusive / sizeof exclusive[0]; i++) {
        int a = find_key(exclusive[i][0]), b = find_key(exclusive[i][1]);
        int sa = cfg->origin->layer[a] == layer && is_set(cfg, a);
        int sb = cfg->origin->layer[b] == layer && is_set(cfg, b);
        if (sa && sb)
            return rt_error(RT_ERR_ARG,
                            "'%s' (%s) and '%s' (%s) are mutually exclusive; set only one of them",
                            keys[a].path, origin_of(cfg, a), keys[b].path, origin_of(cfg, b));
        if (sa) clear_key(cfg, b);
        if (sb) clear_key(cfg, a);
    }
    return RT_OK;
}

/* ---- public ---- */

rt_status rt_config_defaults(rt_run_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->origin = calloc(1, sizeof *cfg->origin);
    if (!cfg->origin) return rt_error(RT_ERR_MEMORY, "run config: out of memory");
    rt_status s = reset_section(cfg, "", L_DEFAULT, NULL);
    if (s != RT_OK) rt_config_free(cfg);
    return s;
}

static rt_status load_layers(rt_run_config *cfg, const char *text, size_t len, const char *name,
                             int n_overrides, char **overrides) {
    if (name && !(cfg->origin->file = strdup(name)))
        return rt_error(RT_ERR_MEMORY, "run config: out of memory");
    if (text) {
        walk_ctx c = {cfg, L_FILE, name ? name : "(run config)", NULL, NULL};
        RT_CALL(apply_yaml(&c, text, len, ""));
        RT_CALL(resolve_exclusive(cfg, L_FILE));
    }
    for (int i = 0; i < n_overrides; i++) RT_CALL(apply_override(cfg, overrides[i]));
    if (n_overrides > 0) RT_CALL(resolve_exclusive(cfg, L_CMDLINE));
    RT_CALL(rt_config_validate(cfg));
    return RT_OK;
}

rt_status rt_config_load_string(rt_run_config *cfg, const char *text, size_t len, const char *name,
                                int n_overrides, char **overrides) {
    if (n_overrides < 0 || (n_overrides > 0 && !overrides))
        return rt_error(RT_ERR_ARG, "rt_config_load: bad override list");
    RT_CALL(rt_config_defaults(cfg));
    rt_status s = load_layers(cfg, text, len, name, n_overrides, overrides);
    if (s != RT_OK) {
        rt_config_free(cfg);
        rt_error_trace(__FILE__, __LINE__, __func__);
    }
    return s;
}

rt_status rt_config_load(rt_run_config *cfg, const char *yaml_path, int n_overrides,
                         char **overrides) {
    char *text = NULL;
    size_t len = 0;
    if (yaml_path) {
        rt_status s = rt_fs_read_file(yaml_path, &text, &len);
        if (s != RT_OK) {
            memset(cfg, 0, sizeof *cfg);
            char msg[2048];
            snprintf(msg, sizeof msg, "cannot read run config: %s", rt_error_message());
            return rt_error(s, "%s", msg);
        }
    }
    rt_status s = rt_config_load_string(cfg, text, len, yaml_path, n_overrides, overrides);
    free(text);
    return s;
}

/* The key's value as canonical YAML text (strings unquoted: the writer quotes them). */
static void format_value(const rt_run_config *cfg, int k, char *buf, size_t cap) {
    const void *p = cfield(cfg, k);
    switch (keys[k].kind) {
    case K_STR:
        snprintf(buf, cap, "%s", *(char *const *)p ? *(char *const *)p : "null");
        break;
    case K_INT:
        if (*(const int *)p == RT_CONFIG_NULL_INT && (keys[k].flags & F_NULL))
            snprintf(buf, cap, "null");
        else
            snprintf(buf, cap, "%d", *(const int *)p);
        break;
    case K_LONG:
        if (*(const long *)p == RT_CONFIG_NULL_INT && (keys[k].flags & F_NULL))
            snprintf(buf, cap, "null");
        else
            snprintf(buf, cap, "%ld", *(const long *)p);
        break;
    case K_SEED:
        snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case K_NUM: {
        double v = *(const double *)p;
        if (isnan(v)) {
            snprintf(buf, cap, "null");
            break;
        }
        /* the shortest %g that reads back exactly */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, cap, "%.*g", prec, v);
            if (strtod(buf, NULL) == v) break;
        }
        /* a decimal point in the mantissa, so YAML 1.1 readers (PyYAML) see a float */
        if (isfinite(v) && !strchr(buf, '.')) {
            char *e = strchr(buf, 'e');
            size_t at = e ? (size_t)(e - buf) : strlen(buf);
            if (strlen(buf) + 3 <= cap) {
                memmove(buf + at + 2, buf + at, strlen(buf + at) + 1);
                buf[at] = '.';
                buf[at + 1] = '0';
            }
        }
        break;
    }
    case K_BOOL:
        snprintf(buf, cap, "%s", *(const bool *)p ? "true" : "false");
        break;
    case K_ENUM: {
        int v = *(const int *)p, n = 0;
        while (keys[k].names[n]) n++;
        snprintf(buf, cap, "%s", v >= 0 && v < n ? keys[k].names[v] : "(invalid)");
        break;
    }
    }
}

rt_status rt_config_validate(const rt_run_config *cfg) {
    if (!cfg) return rt_error(RT_ERR_ARG, "rt_config_validate: cfg is NULL");
    const char *file = cfg->origin && cfg->origin->file ? cfg->origin->file : "the run config";
    char val[512], desc[512];
    /* every key on its own */
    for (int k = 0; k < N_KEYS; k++) {
        const key_def *d = &keys[k];
        const void *p = cfield(cfg, k);
        int bad = 0;
        switch (d->kind) {
        case K_STR: {
            const char *s = *(char *const *)p;
            if (!s && (d->flags & F_REQ))
                return rt_error(RT_ERR_ARG,
                                "missing required key '%s' (%s): set it in %s or on the command "
                                "line as %s=...",
                                d->path, d->note, file, d->path);
            bad = s ? !*s : !(d->flags & F_NULL);
            break;
        }
        case K_INT:
        case K_LONG:
        case K_SEED: {
            long long v = d->kind == K_INT    ? *(const int *)p
                          : d->kind == K_LONG ? *(const long *)p
                                              : (long long)*(const uint64_t *)p;
            long long lo, hi;
            int_range(k, &lo, &hi);
            int null = d->kind != K_SEED && v == RT_CONFIG_NULL_INT && (d->flags & F_NULL);
            bad = !null && (v < lo || v > hi ||
                            (d->kind == K_SEED && *(const uint64_t *)p > (uint64_t)LLONG_MAX));
            break;
        }
        case K_NUM: {
            double v = *(const double *)p;
            if (isnan(v))
                bad = !(d->flags & F_NULL);
            else
                bad = !isfinite(v) || ((d->flags & F_LO_OPEN) ? !(v > d->lo) : !(v >= d->lo)) ||
                      ((d->flags & F_HI_OPEN) ? !(v < d->hi) : !(v <= d->hi));
            break;
        }
        case K_BOOL:
            break;
        case K_ENUM: {
            int v = *(const int *)p, n = 0;
            while (d->names[n]) n++;
            bad = v < 0 || v >= n;
            break;
        }
        }
        if (bad) {
            format_value(cfg, k, val, sizeof val);
            describe(k, desc, sizeof desc);
            return rt_error(RT_ERR_ARG, "invalid value for '%s' (%s): expected %s, got %s", d->path,
                            origin_of(cfg, k), desc, val);
        }
    }
    /* across keys */
    const int k_steps = find_key("train.max_steps"), k_epochs = find_key("train.epochs");
    const int k_gb = find_key("train.global_batch"), k_mb = find_key("train.micro_batch");
    const int k_wsteps = find_key("optim.warmup_steps"), k_wratio = find_key("optim.warmup_ratio");
    const int k_lr = find_key("optim.lr"), k_minlr = find_key("optim.min_lr");
    const int k_blocks = find_key("finetune.last_n_blocks");
    const int k_pat = find_key("eval.early_stopping.patience"),
              k_every = find_key("eval.every_steps");
    int has_steps = cfg->train.max_steps != RT_CONFIG_NULL_INT,
        has_epochs = !isnan(cfg->train.epochs);
    if (!has_steps && !has_epochs)
        return rt_error(RT_ERR_ARG, "one of 'train.max_steps' and 'train.epochs' must be set (both "
                                    "are null)");
    if (has_steps && has_epochs)
        return rt_error(RT_ERR_ARG,
                        "'train.max_steps' = %ld (%s) and 'train.epochs' = %g (%s) are mutually "
                        "exclusive; set one and make the other null",
                        cfg->train.max_steps, origin_of(cfg, k_steps), cfg->train.epochs,
                        origin_of(cfg, k_epochs));
    if (cfg->optim.warmup_steps > 0 && cfg->optim.warmup_ratio > 0)
        return rt_error(RT_ERR_ARG,
                        "'optim.warmup_steps' = %ld (%s) and 'optim.warmup_ratio' = %g (%s) are "
                        "mutually exclusive; set one and make the other 0",
                        cfg->optim.warmup_steps, origin_of(cfg, k_wsteps), cfg->optim.warmup_ratio,
                        origin_of(cfg, k_wratio));
    if (cfg->optim.schedule_steps != RT_CONFIG_NULL_INT &&
        cfg->optim.warmup_steps > cfg->optim.schedule_steps)
        return rt_error(
            RT_ERR_ARG, "'optim.warmup_steps' = %ld (%s) exceeds 'optim.schedule_steps' = %ld (%s)",
            cfg->optim.warmup_steps, origin_of(cfg, k_wsteps), cfg->optim.schedule_steps,
            origin_of(cfg, find_key("optim.schedule_steps")));
    if (has_steps && cfg->optim.schedule_steps == RT_CONFIG_NULL_INT &&
        cfg->optim.warmup_steps > cfg->train.max_steps)
        return rt_error(RT_ERR_ARG,
                        "'optim.warmup_steps' = %ld (%s) exceeds 'train.max_steps' = %ld (%s)",
                        cfg->optim.warmup_steps, origin_of(cfg, k_wsteps), cfg->train.max_steps,
                        origin_of(cfg, k_steps));
    if (cfg->optim.min_lr > cfg->optim.lr)
        return rt_error(RT_ERR_ARG, "'optim.min_lr' = %g (%s) must be <= 'optim.lr' = %g (%s)",
                        cfg->optim.min_lr, origin_of(cfg, k_minlr), cfg->optim.lr,
                        origin_of(cfg, k_lr));
    if (cfg->train.micro_batch > cfg->train.global_batch)
        return rt_error(RT_ERR_ARG,
                        "'train.micro_batch' = %d (%s) must be <= 'train.global_batch' = %d (%s) "
                        "(micro_batch is per rank, global_batch for all ranks together)",
                        cfg->train.micro_batch, origin_of(cfg, k_mb), cfg->train.global_batch,
                        origin_of(cfg, k_gb));
    if (cfg->train.global_batch % cfg->train.micro_batch != 0)
        return rt_error(RT_ERR_ARG,
                        "'train.global_batch' = %d (%s) must be a multiple of 'train.micro_batch' "
                        "= %d (%s): gradient accumulation is global_batch / (micro_batch x world "
                        "size)",
                        cfg->train.global_batch, origin_of(cfg, k_gb), cfg->train.micro_batch,
                        origin_of(cfg, k_mb));
    if ((cfg->lora.r != RT_CONFIG_NULL_INT || cfg->lora.adapter) &&
        cfg->finetune.mode != RT_FINETUNE_MODE_FULL)
        return rt_error(RT_ERR_ARG,
                        "'lora.r' / 'lora.adapter' (%s) train adapters on a frozen base: "
                        "'finetune.mode' must be full (%s), not %s",
                        origin_of(cfg, find_key(cfg->lora.adapter ? "lora.adapter" : "lora.r")),
                        origin_of(cfg, find_key("finetune.mode")), mode_names[cfg->finetune.mode]);
    if (cfg->lora.adapter && cfg->lora.r != RT_CONFIG_NULL_INT)
        return rt_error(RT_ERR_ARG,
                        "'lora.r' (%s) and 'lora.adapter' (%s): the adapter's adapter_config.json "
                        "gives the rank; set one of them",
                        origin_of(cfg, find_key("lora.r")),
                        origin_of(cfg, find_key("lora.adapter")));
    if (cfg->finetune.mode == RT_FINETUNE_MODE_PARTIAL && cfg->finetune.last_n_blocks < 1)
        return rt_error(RT_ERR_ARG,
                        "'finetune.last_n_blocks' = %d (%s): finetune.mode partial trains at least "
                        "one block (to train only the head use mode feature_extraction)",
                        cfg->finetune.last_n_blocks, origin_of(cfg, k_blocks));
    const int k_metric = find_key("eval.metric"), k_task = find_key("data.task");
    rt_metric_id mid;
    rt_metric_dir mdir;
    if (rt_metric_by_name(cfg->eval.metric, &mid, &mdir) != RT_OK) {
        char why[512]; /* the lookup's message lists the names */
        snprintf(why, sizeof why, "%s", rt_error_message());
        return rt_error(RT_ERR_ARG, "'eval.metric' = '%s' (%s): %s", cfg->eval.metric,
                        origin_of(cfg, k_metric), why);
    }
    if (cfg->train.class_weights && cfg->data.task != RT_TASK_CLASSIFICATION)
        return rt_error(RT_ERR_ARG,
                        "'train.class_weights' = '%s' (%s) needs 'data.task' classification (%s)",
                        cfg->train.class_weights, origin_of(cfg, find_key("train.class_weights")),
                        origin_of(cfg, k_task));
    if (mid != RT_METRIC_LOSS && cfg->data.task != RT_TASK_CLASSIFICATION)
        return rt_error(RT_ERR_ARG,
                        "'eval.metric' = '%s' (%s) is a classification metric, but 'data.task' "
                        "is lm (%s): a language model is evaluated by its loss",
                        cfg->eval.metric, origin_of(cfg, k_metric), origin_of(cfg, k_task));
    if (cfg->eval.early_stopping.patience > 0 && cfg->eval.every_steps == 0)
        return rt_error(RT_ERR_ARG,
                        "'eval.early_stopping.patience' = %d (%s) needs periodic evaluation, but "
                        "'eval.every_steps' = 0 (%s) evaluates only at the end",
                        cfg->eval.early_stopping.patience, origin_of(cfg, k_pat),
                        origin_of(cfg, k_every));
    return RT_OK;
}

rt_status rt_config_derive(const rt_run_config *cfg, int world_size, int *grad_accum) {
    if (!cfg || !grad_accum) return rt_error(RT_ERR_ARG, "rt_config_derive: NULL argument");
    if (world_size < 1)
        return rt_error(RT_ERR_ARG, "world size %d: expected at least 1 rank", world_size);
    long g = cfg->train.global_batch, m = cfg->train.micro_batch;
    if (g < 1 || m < 1)
        return rt_error(RT_ERR_ARG,
                        "train.global_batch = %ld and train.micro_batch = %ld must "
                        "be >= 1",
                        g, m);
    long per = m * world_size; /* sequences per micro-step over all ranks */
    if (g % per == 0) {
        *grad_accum = (int)(g / per);
        return RT_OK;
    }
    int k_gb = find_key("train.global_batch"), k_mb = find_key("train.micro_batch");
    char fix[512];
    size_t u = 0;
    if (g % world_size == 0) {
        /* micro_batch values that divide global_batch / world_size */
        long q = g / world_size;
        u += (size_t)snprintf(fix, sizeof fix, "with %d rank%s use train.micro_batch one of",
                              world_size, world_size == 1 ? "" : "s");
        int shown = 0;
        for (long d = 1; d <= q && shown < 12; d++)
            if (q % d == 0 && u < sizeof fix)
                u += (size_t)snprintf(fix + u, sizeof fix - u, "%s %ld", shown++ ? "," : "", d);
        if (u < sizeof fix)
            u += (size_t)snprintf(fix + u, sizeof fix - u, "%s, or ", shown == 12 ? ", ..." : "");
    } else if (u < sizeof fix) {
        u += (size_t)snprintf(fix, sizeof fix, "%d ranks cannot split %ld sequences evenly; use ",
                              world_size, g);
    }
    long below = g / per * per, above = below + per;
    if (u < sizeof fix) {
        if (below > 0)
            snprintf(fix + u, sizeof fix - u,
                     "train.global_batch a multiple of %ld (e.g. %ld or %ld)", per, below, above);
        else
            snprintf(fix + u, sizeof fix - u, "train.global_batch a multiple of %ld (e.g. %ld)",
                     per, above);
    }
    return rt_error(RT_ERR_ARG,
                    "train.global_batch = %ld (%s) is not divisible by train.micro_batch = %ld "
                    "(%s) x world size %d = %ld: gradient accumulation steps must be a whole "
                    "number; %s",
                    g, origin_of(cfg, k_gb), m, origin_of(cfg, k_mb), world_size, per, fix);
}

/* A YAML double-quoted scalar (the JSON string form, compute/text.h). */
static void write_quoted(FILE *f, const char *s) {
    rt_json_write_string(f, s);
}

rt_status rt_config_write_yaml(const rt_run_config *cfg, FILE *f) {
    if (!cfg || !f) return rt_error(RT_ERR_ARG, "rt_config_write_yaml: NULL argument");
    fprintf(f, "# ringtune run configuration: every key, canonical form\n");
    const char *prev = "";
    for (int k = 0; k < N_KEYS; k++) {
        const char *path = keys[k].path;
        /* sections shared with the previous key are open already; open the rest */
        int depth = 0;
        const char *a = path, *b = prev;
        for (;;) {
            size_t la = strcspn(a, "."), lb = strcspn(b, ".");
            if (!a[la] || !b[lb] || la != lb || strncmp(a, b, la) != 0) break;
            a += la + 1;
            b += lb + 1;
            depth++;
        }
        if (depth == 0) fprintf(f, "\n");
        for (;;) {
            size_t la = strcspn(a, ".");
            if (!a[la]) break;
            fprintf(f, "%*s%.*s:\n", 2 * depth, "", (int)la, a);
            a += la + 1;
            depth++;
        }
        fprintf(f, "%*s%s: ", 2 * depth, "", a);
        const char *s = keys[k].kind == K_STR ? *(char *const *)cfield(cfg, k) : NULL;
        if (s) {
            write_quoted(f, s);
        } else {
            char val[64];
            format_value(cfg, k, val, sizeof val);
            fputs(val, f);
        }
        fputc('\n', f);
        prev = path;
    }
    if (ferror(f)) return rt_error(RT_ERR_IO, "writing the run config failed");
    return RT_OK;
}

rt_status rt_config_save(const rt_run_config *cfg, const char *path) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f) return rt_error(RT_ERR_MEMORY, "%s: cannot buffer the run config", path);
    rt_status s = rt_config_write_yaml(cfg, f);
    if (fclose(f) != 0 && s == RT_OK) s = rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    if (s == RT_OK) s = rt_fs_write_file_atomic(path, buf, n);
    free(buf);
    if (s != RT_OK) rt_error_trace(__FILE__, __LINE__, __func__);
    return s;
}

void rt_config_write_reference(FILE *f) {
    char desc[512];
    for (int k = 0; k < N_KEYS; k++) {
        describe(k, desc, sizeof desc);
        fprintf(f, "%-30s %s%s; default %s", keys[k].path, desc,
                (keys[k].flags & F_REQ) ? " (required)" : "", keys[k].dflt);
        /* what the key does, where describe() has not said it */
        if (keys[k].note && !(keys[k].flags & (F_NULL | F_REQ))) fprintf(f, "; %s", keys[k].note);
        fprintf(f, "\n");
    }
}

bool rt_config_equal(const rt_run_config *a, const rt_run_config *b) {
    for (int k = 0; k < N_KEYS; k++) {
        const void *pa = cfield(a, k), *pb = cfield(b, k);
        switch (keys[k].kind) {
        case K_STR: {
            const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;
            if ((sa == NULL) != (sb == NULL) || (sa && strcmp(sa, sb) != 0)) return false;
            break;
        }
        case K_INT:
        case K_ENUM:
            if (*(const int *)pa != *(const int *)pb) return false;
            break;
        case K_LONG:
            if (*(const long *)pa != *(const long *)pb) return false;
            break;
        case K_SEED:
            if (*(const uint64_t *)pa != *(const uint64_t *)pb) return false;
            break;
        case K_NUM: {
            double x = *(const double *)pa, y = *(const double *)pb;
            if (!(x == y || (isnan(x) && isnan(y)))) return false;
            break;
        }
        case K_BOOL:
            if (*(const bool *)pa != *(const bool *)pb) return false;
            break;
        }
    }
    return true;
}

void rt_config_free(rt_run_config *cfg) {
    if (!cfg) return;
    for (int k = 0; k < N_KEYS; k++)
        if (keys[k].kind == K_STR) free(*(char **)field(cfg, k));
    if (cfg->origin) {
        free(cfg->origin->file);
        for (int k = 0; k < N_KEYS; k++) free(cfg->origin->where[k]);
        free(cfg->origin);
    }
    memset(cfg, 0, sizeof *cfg);
}

int rt_config_diff(const rt_run_config *a, const rt_run_config *b, rt_config_diff_fn fn,
                   void *arg) {
    char va[512], vb[512];
    int n = 0;
    for (int k = 0; k < N_KEYS; k++) {
        format_value(a, k, va, sizeof va);
        format_value(b, k, vb, sizeof vb);
        if (strcmp(va, vb) == 0) continue;
        n++;
        if (fn) fn(arg, keys[k].path, va, vb);
    }
    return n;
}
