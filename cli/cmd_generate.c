/* `ringtune generate`: a GPT-2's continuation of a prompt (ids or text; greedy or top-k
   sampling) and a T5's output for source texts or ids (greedy or beam search over key/value
   caches, compute/t5_decode.h, equal to transformers' generate), from a Hugging Face directory
   (through the model registry) or a ringtune checkpoint. One process, no MPI. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include "bpe.h"
#include "ckpt.h"
#include "cli_opts.h"
#include "fsutil.h"
#include "gpt2.h"
#include "hf_gpt2.h"
#include "hf_tokenizer.h"
#include "model_gpt2.h"
#include "model_lora.h"
#include "model_registry.h"
#include "model_t5.h"
#include "spm.h"
#include "t5_decode.h"

#define GEN "ringtune generate"

static void generate_usage(FILE *f) {
    fprintf(f,
            "usage: ringtune generate --model DIR (--ids 1,2,3 | --text TEXT | --input IN.jsonl)\n"
            "         [options]\n"
            "  DIR: a Hugging Face directory (GPT-2 or T5) or a ringtune checkpoint (step-N or\n"
            "  a training's output.dir).\n"
            "input:\n"
            "  --ids 1,2,3              token ids: GPT-2's prompt, T5's source (used as given:\n"
            "                           no </s> is appended)\n"
            "  --text TEXT              text, tokenized with the model directory's tokenizer or\n"
            "                           --tokenizer's (T5: spiece.model [+ tokenizer.json], </s>\n"
            "                           appended as T5's tokenizer does; GPT-2: vocab.json +\n"
            "                           merges.txt)\n"
            "  --input IN.jsonl         T5: one input per line, the value of --field (default\n"
            "                           \"text\"): a string (text) or an array of ids; one JSON\n"
            "                           line out per input, in input order: {\"input\", \"text\",\n"
            "                           \"ids\"} (\"score\" with beam search), generated in\n"
            "                           batches of --batch inputs (default 8)\n"
            "  --out OUT.jsonl          with --input: write the lines there (default stdout)\n"
            "  --source-prefix TEXT     T5: prepended to every text input (e.g. \"translate\n"
            "                           English to German: \")\n"
            "  --tokenizer DIR          the tokenizer's directory (default: the model's)\n"
            "  --allow-special          added tokens written in the text become their ids\n"
            "                           (T5: <extra_id_N>, </s>, <pad>, <unk>; GPT-2:\n"
            "                           <|endoftext|>) instead of being tokenized as text\n"
            "  --print-ids              also print the generated ids (a line after the text;\n"
            "                           without a tokenizer only the ids are printed)\n"
            "T5 (do_sample=False, as transformers' generate):\n"
            "  --max-new-tokens N       at most N generated tokens (default 20)\n"
            "  --num-beams N            1: greedy search (default); N >= 2: beam search\n"
            "  --length-penalty X       beam search: a hypothesis scores sum(log p) / length^X\n"
            "                           (default 1.0)\n"
            "  --early-stopping true|false|never   beam search's stopping rule (default false)\n"
            "  --eos-id N|model|none    the id that ends a sequence (default model: the\n"
            "                           config's eos_token_id)\n"
            "GPT-2 (prints the prompt and its continuation: ids, or text with --text):\n"
            "  --new N (or --max-new-tokens N)  tokens to generate (default 20)\n"
            "  --top-k K --temperature X --seed S   sampling (top-k 1, the default: greedy)\n"
            "  --eos-id N|model         stop after generating token N (model: the config's\n"
            "                           eos_token_id)\n"
            "  --threads N              BLIS and OpenMP threads\n");
}

/* ---- options -------------------------------------------------------------------------------- */

typedef struct {
    const char *model, *ids, *text, *input, *out, *field, *tokdir, *prefix;
    int allow_special, print_ids;
    long max_new;
} gen_opts;

/* Moves the options that take no value out of argv (into the flags of o); kept gets the others,
   each option with its value. */
static void take_flags(int argc, char **argv, char **kept, int *nk, gen_opts *o) {
    *nk = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--allow-special")) {
            o->allow_special = 1;
        } else if (!strcmp(argv[i], "--print-ids")) {
            o->print_ids = 1;
        } else {
            kept[(*nk)++] = argv[i];
            if (!strncmp(argv[i], "--", 2) && i + 1 < argc) kept[(*nk)++] = argv[++i];
        }
    }
}

/* The first of the options names (NULL-terminated) that argv carries, or NULL. */
static const char *first_given(int argc, char **argv, const char *const *names) {
    for (const char *const *n = names; *n; n++)
        if (rt_cli_opt(argc, argv, *n)) return *n;
    return NULL;
}

/* --new / --max-new-tokens (one of them) into *n; 0 after printing an error. */
static int max_new_tokens(int argc, char **argv, long *n) {
    if (rt_cli_opt(argc, argv, "--new") && rt_cli_opt(argc, argv, "--max-new-tokens")) {
        fprintf(stderr, GEN ": --new and --max-new-tokens are the same option: give one\n");
        return 0;
    }
    const char *key = rt_cli_opt(argc, argv, "--new") ? "--new" : "--max-new-tokens";
    return rt_cli_num_l(argc, argv, key, 20, 1, 100000, n);
}

/* Comma-separated ids in [0, V) into a new array; 0 after printing an error. */
static int parse_ids(const char *s, int V, int32_t **out, size_t *n) {
    size_t cap = 16;
    *n = 0;
    *out = malloc(sizeof(int32_t) * cap);
    for (const char *p = s; *out && *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= V || (*end && *end != ',')) {
            fprintf(stderr, GEN ": --ids '%s': expected comma-separated ids in [0, %d)\n", s, V);
            free(*out);
            *out = NULL;
            return 0;
        }
        if (*n == cap) {
            int32_t *q = realloc(*out, sizeof(int32_t) * (cap *= 2));
            if (!q) break;
            *out = q;
        }
        (*out)[(*n)++] = (int32_t)v;
        p = *end == ',' ? end + 1 : end;
    }
    if (!*out || *n == 0) {
        fprintf(stderr, GEN ": --ids '%s': %s\n", s, *out ? "no ids" : "out of memory");
        free(*out);
        *out = NULL;
        return 0;
    }
    return 1;
}

/* The model at path: a checkpoint (step-N or an output.dir with `latest`) or a Hugging Face
   directory of any architecture the registry knows. */
static rt_status load_model(const char *path, rt_model **out, int *is_ckpt) {
    char dir[4096];
    *out = NULL;
    *is_ckpt = rt_ckpt_find(path, dir, sizeof dir) == RT_OK;
    if (*is_ckpt) {
        RT_CALL(rt_model_load_ckpt(dir, out));
    } else {
        rt_error_clear();
        RT_CALL(rt_model_load_hf(path, out));
    }
    if (rt_model_lora(*out)) { /* a PEFT adapter or a LoRA checkpoint: decode merged weights */
        rt_model *merged = NULL;
        rt_status st = rt_model_lora_merge(out, &merged);
        if (st != RT_OK) {
            rt_model_destroy(out);
            return st;
        }
        *out = merged;
    }
    if (strcmp((*out)->head->kind, "lm") != 0) {
        rt_status st = rt_error(RT_ERR_ARG,
                                "%s has a \"%s\" head; generate needs a language model (the \"lm\" "
                                "head: GPT2LMHeadModel, T5ForConditionalGeneration)",
                                path, (*out)->head->kind);
        rt_model_destroy(out);
        return st;
    }
    return RT_OK;
}

/* The tokenizer kind in dir must be `want`; RT_ERR_ARG naming dir and what it holds otherwise
   (what: the model's architecture, for the message). */
static rt_status check_tokenizer(const char *dir, rt_tokenizer_kind want, const char *what) {
    rt_tokenizer_kind k;
    RT_CALL(rt_hf_tokenizer_kind(dir, &k));
    if (k == want) return RT_OK;
    if (want == RT_TOKENIZER_SPM)
        return rt_error(RT_ERR_ARG,
                        "tokenizer directory %s holds a GPT-2 tokenizer (vocab.json + "
                        "merges.txt); %s needs a SentencePiece one (spiece.model, e.g. "
                        "cli/demo/tokenizers/t5)",
                        dir, what);
    return rt_error(RT_ERR_ARG,
                    "tokenizer directory %s holds a SentencePiece tokenizer (spiece.model); %s "
                    "needs a GPT-2 one (vocab.json + merges.txt)",
                    dir, what);
}

/* ---- GPT-2 ---------------------------------------------------------------------------------- */

/* --eos-id N|model: *eos = N, or the model's eos_token_id; -1 when not given. 0 after printing
   an error. */
static int gpt2_eos(int argc, char **argv, const char *model, const rt_gpt2 *m, int *eos) {
    *eos = -1;
    const char *v = rt_cli_opt(argc, argv, "--eos-id");
    if (!v) return 1;
    if (strcmp(v, "model") == 0) {
        if (rt_hf_gpt2_eos_id(model, &m->cfg, "generate --eos-id model", "--eos-id N", eos) ==
            RT_OK)
            return 1;
        fprintf(stderr, GEN ": %s\n", rt_error_message());
        return 0;
    }
    long n;
    if (!rt_cli_num_l(argc, argv, "--eos-id", 0, 0, m->cfg.vocab_size - 1, &n)) return 0;
    *eos = (int)n;
    return 1;
}

#ifndef RT_TOKENIZER_DIR
#define RT_TOKENIZER_DIR "cli/demo/tokenizers/gpt2"
#endif

/* dir's vocab.json + merges.txt (explicit: --tokenizer named dir). */
static rt_status gpt2_tokenizer(const char *dir, int explicit, rt_bpe **tok) {
    rt_tokenizer_kind k;
    if (!explicit && rt_hf_tokenizer_kind(dir, &k) != RT_OK)
        return rt_error(RT_ERR_ARG,
                        "--text needs GPT-2's tokenizer, and %s has no vocab.json + merges.txt: "
                        "pass --tokenizer DIR (GPT-2's ships in " RT_TOKENIZER_DIR
                        ") or prompt ids (--ids)",
                        dir);
    RT_CALL(check_tokenizer(dir, RT_TOKENIZER_BPE, "a GPT-2 model"));
    char *v = rt_fs_join(dir, "vocab.json"), *m = rt_fs_join(dir, "merges.txt");
    rt_status st = v && m ? rt_bpe_load(tok, v, m) : rt_error(RT_ERR_MEMORY, "out of memory");
    free(v);
    free(m);
    return st;
}

/* The prompt from --text: tokenized with the GPT-2 tokenizer; 0 after printing an error. */
static int gpt2_encode(const gen_opts *o, const rt_gpt2 *g, rt_bpe **tok, int32_t **ids,
                       size_t *n) {
    const char *dir = o->tokdir ? o->tokdir : o->model;
    rt_bpe_scratch *s = NULL;
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    rt_bpe_encode_opts eo = {o->allow_special, 0, "--text", 0};
    rt_status st = gpt2_tokenizer(dir, o->tokdir != NULL, tok);
    if (st == RT_OK && rt_bpe_vocab_size(*tok) > g->cfg.vocab_size)
        st = rt_error(RT_ERR_ARG,
                      "the tokenizer in %s has %d tokens, more than the model's vocabulary of %d "
                      "(a tokenizer that does not match the model)",
                      dir, rt_bpe_vocab_size(*tok), g->cfg.vocab_size);
    if (st == RT_OK) st = rt_bpe_scratch_create(&s);
    if (st == RT_OK) st = rt_bpe_encode(*tok, s, o->text, strlen(o->text), &eo, ids, n, &cap, NULL);
    rt_bpe_scratch_destroy(&s);
    if (st == RT_OK && *n == 0) st = rt_error(RT_ERR_ARG, "--text: the text has no tokens");
    if (st == RT_OK) return 1;
    fprintf(stderr, GEN ": %s\n", rt_error_message());
    free(*ids);
    *ids = NULL;
    return 0;
}

static int gpt2_generate(int argc, char **argv, const gen_opts *o, rt_model *mm, int is_ckpt) {
    static const char *const t5_only[] = {
        "--num-beams", "--length-penalty", "--early-stopping", "--input", "--out",
        "--field",     "--source-prefix",  "--batch",          NULL};
    const char *bad = first_given(argc, argv, t5_only);
    if (bad) {
        fprintf(stderr,
                GEN ": %s is a GPT-2 (decoder-only) model: %s is for encoder-decoder models (T5); "
                    "GPT-2 continues one prompt (--ids or --text) greedily or by top-k sampling\n",
                o->model, bad);
        return 2;
    }
    long topk, seed;
    double temp;
    if (!rt_cli_num_l(argc, argv, "--top-k", 1, 1, 256, &topk) ||
        !rt_cli_num_l(argc, argv, "--seed", 1, 0, 1L << 62, &seed) ||
        !rt_cli_num_f(argc, argv, "--temperature", 1.0, 0.0, 100.0, &temp))
        return 2;
    rt_gpt2 *m = rt_model_gpt2(mm);
    if (!is_ckpt) rt_model_warn_hf(o->model, mm, stderr);
    int eos = -1;
    if (!gpt2_eos(argc, argv, o->model, m, &eos)) return 2;
    int32_t *prompt = NULL;
    size_t np = 0;
    rt_bpe *tok = NULL;
    if (o->text ? !gpt2_encode(o, m, &tok, &prompt, &np)
                : !parse_ids(o->ids, m->cfg.vocab_size, &prompt, &np))
        return 2;
    long nnew = o->max_new;
    int32_t *outv = malloc(sizeof(int32_t) * (np + (size_t)nnew));
    int rc = 1;
    char *txt = NULL;
    size_t tlen = 0, tcap = 0;
    if (outv && rt_gpt2_alloc_acts(m, 1, m->cfg.n_positions) == RT_OK &&
        rt_gpt2_generate(m, prompt, (int)np, (int)nnew, (int)topk, (float)temp, (uint64_t)seed,
                         outv) == RT_OK) {
        int n = (int)np + (int)nnew;
        for (int i = (int)np; eos >= 0 && i < n; i++)
            if (outv[i] == eos) n = i + 1; /* stop after the first generated eos */
        if (tok && rt_bpe_decode(tok, outv, (size_t)n, &txt, &tlen, &tcap) != RT_OK) {
            rt_cli_fail("generate");
        } else {
            if (tok) printf("%.*s\n", (int)tlen, txt ? txt : "");
            if (!tok || o->print_ids) {
                for (int i = 0; i < n; i++) printf("%s%d", i ? "," : "", outv[i]);
                printf("\n");
            }
            rc = 0;
        }
    } else {
        rt_cli_fail("generate");
    }
    free(txt);
    free(prompt);
    free(outv);
    rt_bpe_destroy(&tok);
    return rc;
}

/* ---- T5 ------------------------------------------------------------------------------------- */

/* One source and what was generated for it. */
typedef struct {
    int32_t *src;
    size_t n;
    json_t *input; /* --input: the field's value (owned reference); else NULL */
    int32_t *gen;  /* the generated ids (eos included when it ended the sequence) */
    int n_gen;
    float score; /* beam search: transformers' sequences_scores */
} t5_item;

typedef struct {
    t5_item *v;
    size_t n, cap;
} t5_items;

static void items_free(t5_items *it) {
    for (size_t i = 0; i < it->n; i++) {
        free(it->v[i].src);
        free(it->v[i].gen);
        json_decref(it->v[i].input);
    }
    free(it->v);
    memset(it, 0, sizeof *it);
}

/* Appends a source (ownership of src and input passes to it, also on failure). */
static rt_status items_push(t5_items *it, int32_t *src, size_t n, json_t *input) {
    if (it->n == it->cap) {
        size_t nc = it->cap ? 2 * it->cap : 16;
        t5_item *q = realloc(it->v, nc * sizeof *q);
        if (!q) {
            free(src);
            json_decref(input);
            return rt_error(RT_ERR_MEMORY, "out of memory for the inputs");
        }
        it->v = q;
        it->cap = nc;
    }
    it->v[it->n++] = (t5_item){src, n, input, NULL, 0, 0.0f};
    return RT_OK;
}

typedef struct {
    const gen_opts *o;
    rt_spm *tok;         /* NULL: none found (ids in, ids out) */
    const char *tok_dir; /* where it was looked for */
    int tok_explicit;    /* --tokenizer given */
    int V;               /* the model's vocabulary */
} t5_ctx;

/* The model directory's (or --tokenizer's) spiece.model (+ tokenizer.json). Without
   --tokenizer, a model directory without spiece.model leaves c->tok NULL (ids in and out; texts
   are refused when they come). */
static rt_status t5_tokenizer(t5_ctx *c) {
    const char *dir = c->tok_dir;
    rt_tokenizer_kind k;
    if (!c->tok_explicit && (rt_hf_tokenizer_kind(dir, &k) != RT_OK || k != RT_TOKENIZER_SPM)) {
        rt_error_clear();
        return RT_OK;
    }
    RT_CALL(check_tokenizer(dir, RT_TOKENIZER_SPM, "a T5 model"));
    char *sp = rt_fs_join(dir, "spiece.model"), *tj = rt_fs_join(dir, "tokenizer.json");
    rt_status st = sp && tj ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK) st = rt_spm_load(&c->tok, sp, rt_fs_exists(tj) ? tj : NULL);
    if (st == RT_OK && rt_spm_vocab_size(c->tok) > c->V)
        st = rt_error(RT_ERR_ARG,
                      "the tokenizer in %s has %d tokens, more than the model's vocabulary of %d "
                      "(a tokenizer that does not match the model)",
                      dir, rt_spm_vocab_size(c->tok), c->V);
    if (st != RT_OK) rt_spm_destroy(&c->tok);
    free(sp);
    free(tj);
    return st;
}

/* The source ids of a text: --source-prefix + text, </s> appended (T5's tokenizer). where names
   the input in messages. */
static rt_status t5_encode(const t5_ctx *c, const char *text, size_t len, const char *where,
                           int32_t **ids, size_t *n) {
    *ids = NULL;
    *n = 0;
    if (!c->tok)
        return rt_error(RT_ERR_ARG,
                        "%s: text needs T5's SentencePiece tokenizer, and %s has no spiece.model: "
                        "pass --tokenizer DIR (a directory with spiece.model, e.g. "
                        "cli/demo/tokenizers/t5) or source ids (--ids, or arrays of ids in "
                        "--input)",
                        where, c->tok_dir);
    const char *pre = c->o->prefix ? c->o->prefix : "";
    size_t np = strlen(pre);
    char *buf = malloc(np + len + 1);
    if (!buf) return rt_error(RT_ERR_MEMORY, "out of memory for a text");
    memcpy(buf, pre, np);
    memcpy(buf + np, text, len);
    buf[np + len] = 0;
    rt_spm_encode_opts eo = {1, c->o->allow_special};
    size_t cap = 0;
    rt_status st = rt_spm_encode(c->tok, buf, np + len, &eo, ids, n, &cap);
    free(buf);
    if (st != RT_OK) {
        free(*ids);
        *ids = NULL;
    }
    return st;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

/* The --input lines (blank lines skipped): the field's text or array of ids. Errors name the
   file, the line and the field. */
static rt_status t5_read_inputs(const t5_ctx *c, const char *path, const char *field,
                                t5_items *it) {
    FILE *f = fopen(path, "rb");
    if (!f) return rt_error(RT_ERR_IO, "%s: cannot open", path);
    char *line = NULL, where[4200];
    size_t lcap = 0;
    ssize_t got;
    long ln = 0;
    rt_status st = RT_OK;
    while (st == RT_OK && (got = getline(&line, &lcap, f)) >= 0) {
        ln++;
        if (blank(line, (size_t)got)) continue;
        snprintf(where, sizeof where, "%s:%ld", path, ln);
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)got, 0, &je);
        json_t *v = o ? json_object_get(o, field) : NULL;
        int32_t *ids = NULL;
        size_t n = 0;
        if (!o) {
            st = rt_error(RT_ERR_FORMAT, "%s: not valid JSON (%s)", where, je.text);
        } else if (json_is_string(v)) {
            st = t5_encode(c, json_string_value(v), json_string_length(v), where, &ids, &n);
        } else if (json_is_array(v) && json_array_size(v) > 0) {
            n = json_array_size(v);
            ids = malloc(n * sizeof *ids);
            if (!ids) st = rt_error(RT_ERR_MEMORY, "out of memory for the inputs");
            for (size_t j = 0; st == RT_OK && j < n; j++) {
                json_t *e = json_array_get(v, j);
                json_int_t x = json_is_integer(e) ? json_integer_value(e) : -1;
                if (x < 0 || x >= c->V)
                    st = rt_error(RT_ERR_FORMAT,
                                  "%s: field '%s': element %zu is not a token id in [0, %d)", where,
                                  field, j, c->V);
                else
                    ids[j] = (int32_t)x;
            }
        } else {
            st = rt_error(RT_ERR_FORMAT,
                          "%s: field '%s' is missing, or neither a string (text) nor a non-empty "
                          "array of token ids",
                          where, field);
        }
        if (st == RT_OK) {
            st = items_push(it, ids, n, json_incref(v));
        } else {
            free(ids);
        }
        json_decref(o);
    }
    if (st == RT_OK && ferror(f)) st = rt_error(RT_ERR_IO, "%s: read error", path);
    if (st == RT_OK && it->n == 0) st = rt_error(RT_ERR_ARG, "%s: no inputs", path);
    free(line);
    fclose(f);
    return st;
}

typedef struct {
    int num_beams, eos, batch;
    double length_penalty;
    rt_early_stop early;
} t5_search;

/* Generates for every item, batches of s->batch consecutive inputs padded to their longest. */
static rt_status t5_run(rt_model *mm, const t5_search *s, int max_new, t5_items *it) {
    rt_t5 *t = rt_model_t5(mm);
    const rt_t5_config *cfg = rt_t5_cfg(t);
    size_t maxTs = 1;
    for (size_t i = 0; i < it->n; i++) maxTs = it->v[i].n > maxTs ? it->v[i].n : maxTs;
    if (maxTs > (1u << 20))
        return rt_error(RT_ERR_ARG, "a source of %zu tokens is too long", maxTs);
    int Bcap = (size_t)s->batch < it->n ? s->batch : (int)it->n, W = 1 + max_new;
    rt_t5_decoder *d = NULL;
    RT_CALL(rt_t5_decoder_create(&d, t, Bcap, s->num_beams, (int)maxTs, max_new));
    int32_t *src = malloc(sizeof(int32_t) * (size_t)Bcap * maxTs);
    uint8_t *mask = malloc((size_t)Bcap * maxTs);
    int32_t *out = malloc(sizeof(int32_t) * (size_t)Bcap * W);
    int *lengths = malloc(sizeof(int) * (size_t)Bcap);
    float *scores = malloc(sizeof(float) * (size_t)Bcap);
    rt_status st = src && mask && out && lengths && scores
                       ? RT_OK
                       : rt_error(RT_ERR_MEMORY, "out of memory for a batch of inputs");
    rt_t5_beam_opts bo;
    rt_t5_beam_opts_default(&bo, cfg);
    bo.num_beams = s->num_beams;
    bo.length_penalty = s->length_penalty;
    bo.early_stopping = s->early;
    bo.max_new_tokens = max_new;
    bo.eos_id = s->eos;
    for (size_t at = 0; st == RT_OK && at < it->n; at += (size_t)Bcap) {
        int B = it->n - at < (size_t)Bcap ? (int)(it->n - at) : Bcap, Ts = 1;
        for (int b = 0; b < B; b++) Ts = (int)it->v[at + b].n > Ts ? (int)it->v[at + b].n : Ts;
        for (int b = 0; b < B; b++) {
            const t5_item *x = &it->v[at + b];
            for (int j = 0; j < Ts; j++) {
                src[(size_t)b * Ts + j] = j < (int)x->n ? x->src[j] : cfg->pad_token_id;
                mask[(size_t)b * Ts + j] = j < (int)x->n;
            }
        }
        if (s->num_beams > 1)
            st = rt_t5_generate_beam(d, src, mask, B, Ts, &bo, out, lengths, scores);
        else
            st = rt_t5_generate_greedy(d, src, mask, B, Ts, max_new, s->eos, out, lengths);
        for (int b = 0; st == RT_OK && b < B; b++) {
            t5_item *x = &it->v[at + b];
            x->n_gen = lengths[b];
            x->score = s->num_beams > 1 ? scores[b] : 0.0f;
            x->gen = malloc(sizeof(int32_t) * (size_t)(lengths[b] > 0 ? lengths[b] : 1));
            if (!x->gen)
                st = rt_error(RT_ERR_MEMORY, "out of memory for the outputs");
            else
                memcpy(x->gen, out + (size_t)b * W + 1, sizeof(int32_t) * (size_t)lengths[b]);
        }
    }
    free(src);
    free(mask);
    free(out);
    free(lengths);
    free(scores);
    rt_t5_decoder_destroy(&d);
    return st;
}

/* The text of generated ids (sentencepiece's decode: </s> and <pad> skipped). Ids the tokenizer
   does not have (a model's vocabulary is padded past it, 32128 against 32100 for T5) are left
   out and counted in *skipped. */
static rt_status t5_decode(const rt_spm *tok, const int32_t *ids, int n, char **txt, size_t *len,
                           size_t *cap, long *skipped) {
    int32_t *keep = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (!keep) return rt_error(RT_ERR_MEMORY, "out of memory decoding");
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < rt_spm_vocab_size(tok))
            keep[k++] = ids[i];
        else
            (*skipped)++;
    }
    *len = 0;
    rt_status st = rt_spm_decode(tok, keep, k, txt, len, cap);
    free(keep);
    return st;
}

static int parse_early(const char *v, rt_early_stop *e) {
    if (!v || !strcmp(v, "false"))
        *e = RT_EARLY_STOP_FALSE;
    else if (!strcmp(v, "true"))
        *e = RT_EARLY_STOP_TRUE;
    else if (!strcmp(v, "never"))
        *e = RT_EARLY_STOP_NEVER;
    else {
        fprintf(stderr, GEN ": --early-stopping '%s': expected true, false or never\n", v);
        return 0;
    }
    return 1;
}

/* --eos-id N|model|none for T5 (default model); 0 after printing an error. */
static int t5_eos(int argc, char **argv, const rt_t5_config *cfg, int *eos) {
    const char *v = rt_cli_opt(argc, argv, "--eos-id");
    if (!v || !strcmp(v, "model")) {
        *eos = cfg->eos_token_id;
        if (*eos >= cfg->vocab_size) {
            fprintf(stderr,
                    GEN ": the model's eos_token_id %d is outside its vocabulary of %d: pass "
                        "--eos-id N or --eos-id none\n",
                    *eos, cfg->vocab_size);
            return 0;
        }
        return 1;
    }
    if (!strcmp(v, "none")) {
        *eos = -1;
        return 1;
    }
    long n;
    if (!rt_cli_num_l(argc, argv, "--eos-id", 0, 0, cfg->vocab_size - 1, &n)) {
        fprintf(stderr, GEN ": --eos-id takes an id, model or none\n");
        return 0;
    }
    *eos = (int)n;
    return 1;
}

static int write_jsonl(FILE *f, const t5_ctx *c, const t5_items *it, int beam, long *skipped) {
    char *txt = NULL;
    size_t len = 0, cap = 0;
    int ok = 1;
    for (size_t i = 0; ok && i < it->n; i++) {
        const t5_item *x = &it->v[i];
        json_t *o = json_object(), *ids = json_array();
        json_object_set(o, "input", x->input);
        if (c->tok) {
            if (t5_decode(c->tok, x->gen, x->n_gen, &txt, &len, &cap, skipped) != RT_OK) {
                rt_cli_fail("generate");
                ok = 0;
            }
            json_object_set_new(o, "text", json_stringn(txt ? txt : "", len));
        }
        for (int j = 0; j < x->n_gen; j++) json_array_append_new(ids, json_integer(x->gen[j]));
        json_object_set_new(o, "ids", ids);
        if (beam) json_object_set_new(o, "score", json_real(x->score));
        char *s =
            ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8)) : NULL;
        json_decref(o);
        if (ok && (!s || fprintf(f, "%s\n", s) < 0)) {
            fprintf(stderr, GEN ": cannot write %s\n", c->o->out ? c->o->out : "stdout");
            ok = 0;
        }
        free(s);
    }
    free(txt);
    return ok;
}

static int t5_generate(int argc, char **argv, const gen_opts *o, rt_model *mm) {
    static const char *const gpt2_only[] = {"--top-k", "--temperature", "--seed", NULL};
    const char *bad = first_given(argc, argv, gpt2_only);
    if (bad) {
        fprintf(stderr,
                GEN ": %s is an encoder-decoder model (T5), generated by greedy or beam search "
                    "(--num-beams); %s (sampling) is for GPT-2\n",
                o->model, bad);
        return 2;
    }
    if (o->out && !o->input) {
        fprintf(stderr, GEN ": --out goes with --input (one JSON line per input)\n");
        return 2;
    }
    const rt_t5_config *cfg = rt_t5_cfg(rt_model_t5(mm));
    t5_search s = {0};
    long nb, batch;
    if (!rt_cli_num_l(argc, argv, "--num-beams", 1, 1, 256, &nb) ||
        !rt_cli_num_l(argc, argv, "--batch", 8, 1, 4096, &batch) ||
        !rt_cli_num_f(argc, argv, "--length-penalty", 1.0, -100.0, 100.0, &s.length_penalty) ||
        !parse_early(rt_cli_opt(argc, argv, "--early-stopping"), &s.early) ||
        !t5_eos(argc, argv, cfg, &s.eos))
        return 2;
    s.num_beams = (int)nb;
    s.batch = (int)batch;
    if (s.num_beams == 1 &&
        (rt_cli_opt(argc, argv, "--length-penalty") || rt_cli_opt(argc, argv, "--early-stopping")))
        fprintf(stderr, GEN ": note: --length-penalty and --early-stopping apply to beam search "
                            "(--num-beams N >= 2); greedy search ignores them\n");
    t5_ctx c = {o, NULL, o->tokdir ? o->tokdir : o->model, o->tokdir != NULL, mm->vocab_size};
    t5_items it = {0};
    int rc = 1;
    FILE *f = NULL;
    long skipped = 0;
    char *txt = NULL;
    size_t tlen = 0, tcap = 0;
    rt_status st = t5_tokenizer(&c);
    if (st != RT_OK) {
        rt_cli_fail("tokenizer");
        rc = st == RT_ERR_ARG ? 2 : 1;
        goto done;
    }
    if (o->input) {
        st = t5_read_inputs(&c, o->input, o->field ? o->field : "text", &it);
    } else if (o->text) {
        int32_t *ids;
        size_t n;
        st = t5_encode(&c, o->text, strlen(o->text), "--text", &ids, &n);
        if (st == RT_OK) st = items_push(&it, ids, n, NULL);
    } else {
        int32_t *ids;
        size_t n;
        if (!parse_ids(o->ids, c.V, &ids, &n)) {
            rc = 2;
            goto done;
        }
        st = items_push(&it, ids, n, NULL);
    }
    if (st != RT_OK) {
        fprintf(stderr, GEN ": %s\n", rt_error_message());
        rc = st == RT_ERR_ARG ? 2 : 1;
        goto done;
    }
    if (t5_run(mm, &s, (int)o->max_new, &it) != RT_OK) {
        rt_cli_fail("generate");
        goto done;
    }
    if (o->input) {
        f = o->out ? fopen(o->out, "wb") : stdout;
        if (!f) {
            fprintf(stderr, GEN ": cannot create %s\n", o->out);
            goto done;
        }
        if (!write_jsonl(f, &c, &it, s.num_beams > 1, &skipped)) goto done;
        if (o->out) {
            FILE *g = f;
            f = NULL;
            if (fclose(g) != 0) {
                fprintf(stderr, GEN ": cannot write %s\n", o->out);
                goto done;
            }
            fprintf(stderr, "generate: %zu inputs -> %s\n", it.n, o->out);
        }
    } else {
        const t5_item *x = &it.v[0];
        if (c.tok) {
            if (t5_decode(c.tok, x->gen, x->n_gen, &txt, &tlen, &tcap, &skipped) != RT_OK) {
                rt_cli_fail("generate");
                goto done;
            }
            printf("%.*s\n", (int)tlen, txt ? txt : "");
        }
        if (!c.tok || o->print_ids) {
            for (int j = 0; j < x->n_gen; j++) printf("%s%d", j ? "," : "", x->gen[j]);
            printf("\n");
        }
    }
    if (skipped)
        fprintf(stderr,
                GEN ": note: %ld generated ids outside the tokenizer's %d tokens (the model's "
                    "vocabulary is %d) were left out of the text\n",
                skipped, rt_spm_vocab_size(c.tok), c.V);
    rc = 0;
done:
    if (f && f != stdout) fclose(f);
    free(txt);
    items_free(&it);
    rt_spm_destroy(&c.tok);
    return rc;
}

/* ---- the command ---------------------------------------------------------------------------- */

int rt_cmd_generate(int argc, char **argv) {
    static const char *const allowed[] = {
        "--model",          "--ids",    "--text",           "--input",          "--out",
        "--field",          "--new",    "--top-k",          "--seed",           "--threads",
        "--temperature",    "--eos-id", "--tokenizer",      "--source-prefix",  "--num-beams",
        "--max-new-tokens", "--batch",  "--length-penalty", "--early-stopping", NULL};
    if (argc == 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        generate_usage(stdout);
        return 0;
    }
    char **kept = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!kept) return 1;
    gen_opts o = {0};
    int n = 0;
    take_flags(argc, argv, kept, &n, &o);
    int rc = 2;
    if (!rt_cli_check_opts(n, kept, allowed)) goto done;
    o.model = rt_cli_opt(n, kept, "--model");
    o.ids = rt_cli_opt(n, kept, "--ids");
    o.text = rt_cli_opt(n, kept, "--text");
    o.input = rt_cli_opt(n, kept, "--input");
    o.out = rt_cli_opt(n, kept, "--out");
    o.field = rt_cli_opt(n, kept, "--field");
    o.tokdir = rt_cli_opt(n, kept, "--tokenizer");
    o.prefix = rt_cli_opt(n, kept, "--source-prefix");
    if (!o.model || (!o.ids + !o.text + !o.input) != 2) {
        fprintf(stderr, GEN ": --model and one of --ids, --text or --input are required "
                            "(`ringtune generate --help`)\n");
        goto done;
    }
    if (o.field && !o.input) {
        fprintf(stderr, GEN ": --field goes with --input\n");
        goto done;
    }
    if (!max_new_tokens(n, kept, &o.max_new)) goto done;
    rt_cli_setup_threads(n, kept);
    rt_model *m = NULL;
    int is_ckpt = 0;
    if (load_model(o.model, &m, &is_ckpt) != RT_OK) {
        rc = rt_cli_fail(o.model);
        goto done;
    }
    rc = m->encoder_decoder ? t5_generate(n, kept, &o, m) : gpt2_generate(n, kept, &o, m, is_ckpt);
    rt_model_destroy(&m);
done:
    free(kept);
    return rc;
}
