/* Hugging Face GPT-2 checkpoint directories: config.json <-> rt_gpt2_config and
   model.safetensors (single or sharded) <-> the flat parameter arena. Every refusal names the
   file and the field or tensor, because a user fixing a checkpoint has nothing else to go on. */
#include "hf_gpt2.h"
#include "fsutil.h"
#include "safetensors.h"
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "transformer."
#define PREFIX_LEN (sizeof PREFIX - 1)

/* ---- config.json ---- */

/* "a string (\"twelve\")" etc. into buf, for messages about what was found. */
static const char *json_found(const json_t *v, char *buf, size_t cap) {
    const char *kind = "?";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        kind = "an object";
        break;
    case JSON_ARRAY:
        kind = "an array";
        break;
    case JSON_STRING:
        kind = "a string";
        break;
    case JSON_INTEGER:
        kind = "an integer";
        break;
    case JSON_REAL:
        kind = "a real number";
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        kind = "a boolean";
        break;
    case JSON_NULL:
        kind = "null";
        break;
    }
    if (json_is_null(v) || json_is_object(v) || json_is_array(v)) {
        snprintf(buf, cap, "%s", kind);
        return buf;
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, cap, "%s (%.60s)", kind, text ? text : "?");
    free(text);
    return buf;
}

static rt_status cfg_int(const char *path, json_t *root, const char *key, int *dst, int null_value,
                         int allow_null) {
    json_t *v = json_object_get(root, key);
    if (!v) return RT_OK;
    if (json_is_null(v) && allow_null) {
        *dst = null_value;
        return RT_OK;
    }
    char fb[128];
    if (!json_is_integer(v))
        return rt_error(RT_ERR_FORMAT, "%s: field '%s' is %s, expected an integer%s", path, key,
                        json_found(v, fb, sizeof fb), allow_null ? " or null" : "");
    json_int_t x = json_integer_value(v);
    if (x < INT_MIN || x > INT_MAX)
        return rt_error(RT_ERR_ARG, "%s: field '%s' is %lld, which does not fit in an int", path,
                        key, (long long)x);
    *dst = (int)x;
    return RT_OK;
}

static rt_status cfg_float(const char *path, json_t *root, const char *key, float *dst) {
    json_t *v = json_object_get(root, key);
    if (!v) return RT_OK;
    char fb[128];
    if (!json_is_number(v))
        return rt_error(RT_ERR_FORMAT, "%s: field '%s' is %s, expected a number", path, key,
                        json_found(v, fb, sizeof fb));
    double x = json_number_value(v);
    if (!isfinite((float)x))
        return rt_error(RT_ERR_ARG, "%s: field '%s' is %g, expected a finite float", path, key, x);
    *dst = (float)x;
    return RT_OK;
}

/* A boolean field that must have value `want` when present (architecture switches). */
static rt_status cfg_bool_must(const char *path, json_t *root, const char *key, int want,
                               const char *why) {
    json_t *v = json_object_get(root, key);
    if (!v) return RT_OK;
    char fb[128];
    if (!json_is_boolean(v))
        return rt_error(RT_ERR_FORMAT, "%s: field '%s' is %s, expected a boolean", path, key,
                        json_found(v, fb, sizeof fb));
    if (json_is_true(v) != want)
        return rt_error(RT_ERR_ARG, "%s: field '%s' is %s, ringtune's GPT-2 needs %s (%s)", path,
                        key, want ? "false" : "true", want ? "true" : "false", why);
    return RT_OK;
}

/* The activation_function values transformers maps to the tanh approximation of GELU,
   0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): the one function ringtune computes. */
static const char *const TANH_GELU[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_python_tanh",
                                        "gelu_fast", "gelu_accurate"};
#define TANH_GELU_LIST                                                                             \
    "\"gelu_new\", \"gelu_pytorch_tanh\", \"gelu_python_tanh\", \"gelu_fast\" or "                 \
    "\"gelu_accurate\""

static rt_status cfg_activation(const char *path, json_t *root) {
    json_t *act = json_object_get(root, "activation_function");
    char fb[128];
    if (!act) return RT_OK;
    if (!json_is_string(act))
        return rt_error(RT_ERR_FORMAT,
                        "%s: field 'activation_function' is %s, expected one of " TANH_GELU_LIST,
                        path, json_found(act, fb, sizeof fb));
    for (size_t i = 0; i < sizeof TANH_GELU / sizeof TANH_GELU[0]; i++)
        if (strcmp(json_string_value(act), TANH_GELU[i]) == 0) return RT_OK;
    return rt_error(RT_ERR_ARG,
                    "%s: field 'activation_function' is \"%.60s\"; ringtune computes only the tanh "
                    "GELU, which transformers calls " TANH_GELU_LIST,
                    path, json_string_value(act));
}

/* bos_token_id / eos_token_id: an integer, null (-1) or, as transformers allows for
   eos_token_id, a list of integers (the first is kept; an empty list is null). Any integer is
   accepted: transformers does not check the ids against the vocabulary either (see
   rt_hf_gpt2_warn_config). */
static rt_status cfg_token_id(const char *path, json_t *root, const char *key, int allow_list,
                              int *dst) {
    json_t *v = json_object_get(root, key);
    char fb[128];
    if (v && allow_list && json_is_array(v)) {
        json_t *e;
        size_t i;
        json_array_foreach(v, i, e) {
            if (!json_is_integer(e) || json_integer_value(e) < INT_MIN ||
                json_integer_value(e) > INT_MAX)
                return rt_error(RT_ERR_FORMAT,
                                "%s: field '%s' element %zu is %s, expected an integer id", path,
                                key, i, json_found(e, fb, sizeof fb));
        }
        *dst = json_array_size(v) ? (int)json_integer_value(json_array_get(v, 0)) : -1;
        return RT_OK;
    }
    if (v && !json_is_integer(v) && !json_is_null(v))
        return rt_error(RT_ERR_FORMAT, "%s: field '%s' is %s, expected an integer%s or null", path,
                        key, json_found(v, fb, sizeof fb),
                        allow_list ? ", a list of integers" : "");
    return cfg_int(path, root, key, dst, -1, 1);
}

/* An integer field and its transformers alias (GPT2Config.attribute_map): like transformers, the
   alias wins when both are present. */
static rt_status cfg_int_alias(const char *path, json_t *root, const char *key, const char *alias,
                               int *dst) {
    RT_CALL(cfg_int(path, root, key, dst, 0, 0));
    return cfg_int(path, root, alias, dst, 0, 0);
}

static rt_status parse_config(const char *path, json_t *root, rt_gpt2_config *cfg) {
    char fb[128];
    if (!json_is_object(root))
        return rt_error(RT_ERR_FORMAT, "%s: top level is %s, expected an object", path,
                        json_found(root, fb, sizeof fb));
    json_t *mt = json_object_get(root, "model_type");
    if (mt && !json_is_string(mt))
        return rt_error(RT_ERR_FORMAT, "%s: field 'model_type' is %s, expected the string \"gpt2\"",
                        path, json_found(mt, fb, sizeof fb));
    if (mt && strcmp(json_string_value(mt), "gpt2") != 0)
        return rt_error(RT_ERR_ARG, "%s: field 'model_type' is \"%s\", expected \"gpt2\"", path,
                        json_string_value(mt));

    /* HF GPT2Config defaults. */
    memset(cfg, 0, sizeof *cfg);
    cfg->vocab_size = 50257;
    cfg->n_positions = 1024;
    cfg->n_embd = 768;
    cfg->n_layer = 12;
    cfg->n_head = 12;
    cfg->n_inner = -1; /* null: 4 * n_embd, resolved below */
    cfg->layer_norm_epsilon = 1e-5f;
    cfg->resid_pdrop = cfg->embd_pdrop = cfg->attn_pdrop = 0.1f;
    cfg->initializer_range = 0.02f;
    cfg->bos_token_id = cfg->eos_token_id = 50256;
    cfg->tie_word_embeddings = 1;
    json_t *tie = json_object_get(root, "tie_word_embeddings");
    if (tie && !json_is_boolean(tie))
        return rt_error(RT_ERR_FORMAT,
                        "%s: field 'tie_word_embeddings' is %s, expected true or false", path,
                        json_found(tie, fb, sizeof fb));
    if (tie) cfg->tie_word_embeddings = json_is_true(tie);

    RT_CALL(cfg_int(path, root, "vocab_size", &cfg->vocab_size, 0, 0));
    /* n_ctx is not a GPT2Config field (transformers ignores it): the default 1024 applies when
       neither n_positions nor max_position_embeddings is given. */
    RT_CALL(cfg_int_alias(path, root, "n_positions", "max_position_embeddings", &cfg->n_positions));
    RT_CALL(cfg_int_alias(path, root, "n_embd", "hidden_size", &cfg->n_embd));
    RT_CALL(cfg_int_alias(path, root, "n_layer", "num_hidden_layers", &cfg->n_layer));
    RT_CALL(cfg_int_alias(path, root, "n_head", "num_attention_heads", &cfg->n_head));
    RT_CALL(cfg_int(path, root, "n_inner", &cfg->n_inner, -1, 1));
    RT_CALL(cfg_token_id(path, root, "bos_token_id", 0, &cfg->bos_token_id));
    RT_CALL(cfg_token_id(path, root, "eos_token_id", 1, &cfg->eos_token_id));
    RT_CALL(cfg_float(path, root, "layer_norm_epsilon", &cfg->layer_norm_epsilon));
    RT_CALL(cfg_float(path, root, "resid_pdrop", &cfg->resid_pdrop));
    RT_CALL(cfg_float(path, root, "embd_pdrop", &cfg->embd_pdrop));
    RT_CALL(cfg_float(path, root, "attn_pdrop", &cfg->attn_pdrop));
    RT_CALL(cfg_float(path, root, "initializer_range", &cfg->initializer_range));
    if (cfg->n_inner == -1) cfg->n_inner = 4 * cfg->n_embd;
    RT_CALL(cfg_activation(path, root));

    RT_CALL(cfg_bool_must(path, root, "scale_attn_weights", 1, "scores are scaled by 1/sqrt(d)"));
    RT_CALL(cfg_bool_must(path, root, "scale_attn_by_inverse_layer_idx", 0,
                          "no per-layer score scaling"));
    RT_CALL(cfg_bool_must(path, root, "add_cross_attention", 0, "decoder-only blocks"));
    /* transformers builds layers that differ from one another from a non-empty per_layer_config */
    json_t *plc = json_object_get(root, "per_layer_config");
    if (plc && !json_is_null(plc) && !(json_is_object(plc) && json_object_size(plc) == 0))
        return rt_error(RT_ERR_ARG,
                        "%s: field 'per_layer_config' is %s; ringtune's GPT-2 needs identical "
                        "layers (null or {})",
                        path, json_found(plc, fb, sizeof fb));
    return RT_OK;
}

rt_status rt_hf_gpt2_read_config(const char *dir, rt_gpt2_config *cfg) {
    char *path = rt_fs_join(dir, "config.json");
    if (!path) return rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    char *text = NULL;
    size_t len = 0;
    rt_status s = rt_fs_read_file(path, &text, &len);
    json_t *root = NULL;
    if (s == RT_OK) {
        json_error_t jerr;
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!root)
            s = rt_error(RT_ERR_FORMAT, "%s: not valid JSON: %s (line %d column %d)", path,
                         jerr.text, jerr.line, jerr.column);
    }
    rt_gpt2_config c;
    if (s == RT_OK) s = parse_config(path, root, &c);
    if (s == RT_OK) {
        s = rt_gpt2_config_validate(&c);
        if (s != RT_OK) { /* say which file the bad value came from */
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", rt_error_message());
            rt_error(s, "%s: %s", path, msg);
        }
    }
    if (s == RT_OK) *cfg = c;
    json_decref(root);
    free(text);
    free(path);
    return s;
}

/* "DIR/config.json" when model_path is a directory holding one, else model_path (a ringtune
   checkpoint), into buf. */
static const char *config_source(const char *model_path, char *buf, size_t cap) {
    char *p = rt_fs_join(model_path, "config.json");
    snprintf(buf, cap, "%s", p && rt_fs_exists(p) ? p : model_path);
    free(p);
    return buf;
}

static int id_outside(int id, int vocab) {
    return id != -1 && (id < 0 || id >= vocab);
}

void rt_hf_gpt2_warn_config(const char *model_path, const rt_gpt2_config *c, FILE *log) {
    if (!log) return;
    char src[4200];
    int bos = id_outside(c->bos_token_id, c->vocab_size),
        eos = id_outside(c->eos_token_id, c->vocab_size);
    if (!bos && !eos) return;
    char ids[96];
    if (bos && eos && c->bos_token_id == c->eos_token_id)
        snprintf(ids, sizeof ids, "bos_token_id and eos_token_id %d are", c->eos_token_id);
    else if (bos && eos)
        snprintf(ids, sizeof ids, "bos_token_id %d and eos_token_id %d are", c->bos_token_id,
                 c->eos_token_id);
    else
        snprintf(ids, sizeof ids, "%s %d is", bos ? "bos_token_id" : "eos_token_id",
                 bos ? c->bos_token_id : c->eos_token_id);
    fprintf(log,
            "warning: %s: %s outside the vocabulary [0, %d) (transformers keeps GPT2Config's "
            "default 50256 for small vocabularies); loaded anyway: training and evaluation do not "
            "use %s\n",
            config_source(model_path, src, sizeof src), ids, c->vocab_size,
            bos && eos ? "them" : "it");
}

rt_status rt_hf_gpt2_eos_id(const char *model_path, const rt_gpt2_config *c, const char *user,
                            const char *option, int *eos) {
    char src[4200];
    config_source(model_path, src, sizeof src);
    if (c->eos_token_id == -1)
        return rt_error(RT_ERR_ARG,
                        "%s: eos_token_id is null, so %s has no end-of-text token: set "
                        "eos_token_id in %s to the id of the tokenizer's <|endoftext|>, or pass "
                        "%s",
                        src, user, src, option);
    if (id_outside(c->eos_token_id, c->vocab_size))
        return rt_error(RT_ERR_ARG,
                        "%s: eos_token_id %d is outside the vocabulary [0, %d), so %s cannot use "
                        "it: set eos_token_id in %s to the id of the tokenizer's <|endoftext|> "
                        "(a token below %d), or pass %s",
                        src, c->eos_token_id, c->vocab_size, user, src, c->vocab_size, option);
    *eos = c->eos_token_id;
    return RT_OK;
}

/* ---- weights ---- */

typedef struct {
    const char *name; /* as stored (owned by the rt_st_file) */
    const rt_st_tensor *t;
    const rt_st_file *f;
} hf_source;

/* The checkpoint's files and the tensors they contribute. */
typedef struct {
    rt_st_file **files;
    int n_files;
    hf_source *src;
    int n_src;
    char *desc; /* the file that lists the tensors: model.safetensors or the index */
} hf_ckpt;

static void ckpt_free(hf_ckpt *c) {
    for (int i = 0; i < c->n_files; i++) rt_st_close(&c->files[i]);
    free(c->files);
    free(c->src);
    free(c->desc);
    memset(c, 0, sizeof *c);
}

static rt_status ckpt_single(hf_ckpt *c, char *path) {
    c->desc = path;
    c->files = calloc(1, sizeof *c->files);
    if (!c->files) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    RT_CALL(rt_st_open(&c->files[0], path));
    c->n_files = 1;
    int n = rt_st_count(c->files[0]);
    c->src = calloc((size_t)(n ? n : 1), sizeof *c->src);
    if (!c->src) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        const rt_st_tensor *t = rt_st_get(c->files[0], i);
        c->src[i] = (hf_source){t->name, t, c->files[0]};
    }
    c->n_src = n;
    return RT_OK;
}

static rt_status ckpt_sharded(hf_ckpt *c, const char *dir, char *index_path) {
    c->desc = index_path;
    char *text = NULL;
    size_t len = 0;
    RT_CALL(rt_fs_read_file(index_path, &text, &len));
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    free(text);
    if (!root)
        return rt_error(RT_ERR_FORMAT, "%s: not valid JSON: %s (line %d column %d)", index_path,
                        jerr.text, jerr.line, jerr.column);
    rt_status s = RT_OK;
    char fb[128];
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    const char **names = NULL; /* [n_files] shard file names, borrowed from root */
    if (!json_is_object(root)) {
        s = rt_error(RT_ERR_FORMAT, "%s: top level is %s, expected an object", index_path,
                     json_found(root, fb, sizeof fb));
    } else if (!wm) {
        s = rt_error(RT_ERR_FORMAT, "%s: missing field 'weight_map'", index_path);
    } else if (!json_is_object(wm)) {
        s = rt_error(RT_ERR_FORMAT,
                     "%s: field 'weight_map' is %s, expected an object {tensor: file}", index_path,
                     json_found(wm, fb, sizeof fb));
    }
    size_t n = wm && json_is_object(wm) ? json_object_size(wm) : 0;
    if (s == RT_OK) {
        c->files = calloc(n ? n : 1, sizeof *c->files);
        c->src = calloc(n ? n : 1, sizeof *c->src);
        names = calloc(n ? n : 1, sizeof *names);
        if (!c->files || !c->src || !names)
            s = rt_error(RT_ERR_MEMORY, "%s: out of memory", index_path);
    }
    const char *key;
    json_t *v;
    if (s == RT_OK) {
        json_object_foreach(wm, key, v) {
            if (!json_is_string(v)) {
                s = rt_error(RT_ERR_FORMAT,
                             "%s: weight_map entry '%s' is %s, expected a file name string",
                             index_path, key, json_found(v, fb, sizeof fb));
                break;
            }
            const char *file = json_string_value(v);
            int k = 0;
            while (k < c->n_files && strcmp(names[k], file) != 0) k++;
            if (k == c->n_files) { /* first mention of this shard: check and open it */
                if (file[0] == 0 || strchr(file, '/')) {
                    s = rt_error(RT_ERR_FORMAT,
                                 "%s: weight_map entry '%s' names file \"%s\", expected a plain "
                                 "file name in the same directory",
                                 index_path, key, file);
                    break;
                }
                char *p = rt_fs_join(dir, file);
                if (!p) {
                    s = rt_error(RT_ERR_MEMORY, "%s: out of memory", index_path);
                    break;
                }
                if (!rt_fs_exists(p))
                    s = rt_error(RT_ERR_FORMAT,
                                 "%s: weight_map entry '%s' names shard %s, which does not exist",
                                 index_path, key, p);
                else
                    s = rt_st_open(&c->files[k], p);
                free(p);
                if (s != RT_OK) break;
                names[k] = file;
                c->n_files++;
            }
            const rt_st_tensor *t = rt_st_find(c->files[k], key);
            if (!t) {
                s = rt_error(RT_ERR_FORMAT,
                             "%s: weight_map puts tensor '%s' in %s, but that file has no such "
                             "tensor",
                             index_path, key, rt_st_path(c->files[k]));
                break;
            }
            c->src[c->n_src++] = (hf_source){t->name, t, c->files[k]};
        }
    }
    free(names);
    json_decref(root);
    return s;
}

/* "h.<digits>.attn.bias" / "h.<digits>.attn.masked_bias": HF's causal-mask buffers. */
static int is_mask_buffer(const char *name) {
    if (strncmp(name, "h.", 2) != 0) return 0;
    const char *p = name + 2;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return strcmp(p, ".attn.bias") == 0 || strcmp(p, ".attn.masked_bias") == 0;
}

static const char *fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

static float elem_f32(const rt_st_tensor *t, size_t i) {
    const unsigned char *p = t->data;
    if (t->dtype == RT_ST_F32) {
        float x;
        memcpy(&x, p + 4 * i, sizeof x);
        return x;
    }
    uint16_t h = (uint16_t)(p[2 * i] | (unsigned)p[2 * i + 1] << 8);
    return t->dtype == RT_ST_F16 ? rt_st_f16_to_f32(h) : rt_st_bf16_to_f32(h);
}

static int is_float_dtype(rt_st_dtype d) {
    return d == RT_ST_F32 || d == RT_ST_F16 || d == RT_ST_BF16;
}

static rt_status check_lm_head(const hf_source *s, const rt_gpt2 *m, int wte_idx) {
    const rt_tensor_info *ti = &m->params.t[wte_idx];
    const rt_st_tensor *t = s->t;
    const char *path = rt_st_path(s->f);
    char a[128], b[128];
    if (t->ndim != ti->ndim || t->shape[0] != ti->shape[0] || t->shape[1] != ti->shape[1])
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor 'lm_head.weight' has shape %s but wte.weight is %s; "
                        "ringtune's GPT-2 ties the LM head to wte and cannot load a separate one",
                        path, fmt_shape(a, sizeof a, t->ndim, t->shape),
                        fmt_shape(b, sizeof b, ti->ndim, ti->shape));
    if (!is_float_dtype(t->dtype))
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor 'lm_head.weight' has dtype %s, expected F32, F16 or BF16", path,
                        rt_st_dtype_name(t->dtype));
    const float *wte = m->params_mem + ti->offset;
    for (size_t i = 0; i < ti->numel; i++) {
        float x = elem_f32(t, i);
        if (memcmp(&x, &wte[i], sizeof x) != 0)
            return rt_error(RT_ERR_FORMAT,
                            "%s: tensor 'lm_head.weight' differs from wte.weight (element %zu: "
                            "%g vs %g); with tie_word_embeddings true (config.json's value or "
                            "its default) ringtune ties the LM head to wte and cannot load an "
                            "untied head: set \"tie_word_embeddings\": false in config.json to "
                            "load the separate head (as transformers 5 does)",
                            path, i, (double)x, (double)wte[i]);
    }
    return RT_OK;
}

/* Loads src into the extra tensor of the same name; 1 when one matched, 0 when none did. */
static int load_extra(const hf_source *src, rt_hf_extra_tensor *extra, int n_extra, rt_status *s) {
    char a[128], b[128];
    for (int e = 0; e < n_extra; e++) {
        rt_hf_extra_tensor *x = &extra[e];
        if (strcmp(src->name, x->name) != 0) continue;
        const rt_st_tensor *t = src->t;
        const char *path = rt_st_path(src->f);
        int same = t->ndim == x->ndim;
        size_t n = 1;
        for (int d = 0; d < x->ndim; d++) {
            same = same && t->shape[d] == x->shape[d];
            n *= (size_t)x->shape[d];
        }
        if (x->found)
            *s = rt_error(RT_ERR_FORMAT, "tensor '%s' appears twice (again in %s)", x->name, path);
        else if (!same)
            *s = rt_error(RT_ERR_FORMAT, "%s: tensor '%s': shape %s in the file, expected %s%s%s",
                          path, x->name, fmt_shape(a, sizeof a, t->ndim, t->shape),
                          fmt_shape(b, sizeof b, x->ndim, x->shape), x->why ? " " : "",
                          x->why ? x->why : "");
        else if (!is_float_dtype(t->dtype))
            *s = rt_error(RT_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                          path, x->name, rt_st_dtype_name(t->dtype));
        else
            *s = rt_st_tensor_to_f32(t, path, x->dst, n);
        x->found = *s == RT_OK;
        return 1;
    }
    return 0;
}

static rt_status load_sources(rt_gpt2 *m, const hf_ckpt *c, rt_hf_extra_tensor *extra,
                              int n_extra) {
    const rt_tensor_table *tab = &m->params;
    int *filled = malloc((size_t)(tab->n ? tab->n : 1) * sizeof *filled); /* source index */
    if (!filled) return rt_error(RT_ERR_MEMORY, "%s: out of memory", c->desc);
    for (int i = 0; i < tab->n; i++) filled[i] = -1;
    int lm_head = -1;
    rt_status s = RT_OK;
    char a[128], b[128];
    for (int i = 0; i < c->n_src && s == RT_OK; i++) {
        const hf_source *src = &c->src[i];
        const rt_st_tensor *t = src->t;
        const char *path = rt_st_path(src->f);
        const char *base = src->name;
        if (strncmp(base, PREFIX, PREFIX_LEN) == 0) base += PREFIX_LEN;
        int idx = rt_table_find(tab, base);
        if (idx >= m->n_body) idx = -1; /* a head's tensor: only through extra */
        if (idx < 0) {
            if (is_mask_buffer(base)) continue;
            if (load_extra(src, extra, n_extra, &s)) continue;
            if (strcmp(src->name, "lm_head.weight") == 0) {
                lm_head = i;
                continue;
            }
            s = rt_error(RT_ERR_FORMAT,
                         "%s: unexpected tensor '%s': not part of a GPT-2 with n_layer %d (names "
                         "are wte/wpe/h.N.*/ln_f, optionally prefixed \"transformer.\")",
                         path, src->name, m->cfg.n_layer);
            break;
        }
        if (filled[idx] >= 0) {
            const hf_source *prev = &c->src[filled[idx]];
            s = rt_error(RT_ERR_FORMAT,
                         "%s: tensor '%s' appears twice: as '%s' (in %s) and as '%s' (in %s)",
                         c->desc, base, prev->name, rt_st_path(prev->f), src->name, path);
            break;
        }
        const rt_tensor_info *ti = &tab->t[idx];
        int same = t->ndim == ti->ndim;
        for (int d = 0; same && d < ti->ndim; d++) same = t->shape[d] == ti->shape[d];
        if (!same) {
            s = rt_error(RT_ERR_FORMAT,
                         "%s: tensor '%s': shape %s in the file, but the model built from "
                         "config.json expects %s",
                         path, src->name, fmt_shape(a, sizeof a, t->ndim, t->shape),
                         fmt_shape(b, sizeof b, ti->ndim, ti->shape));
            break;
        }
        if (!is_float_dtype(t->dtype)) {
            s = rt_error(RT_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                         path, src->name, rt_st_dtype_name(t->dtype));
            break;
        }
        s = rt_st_tensor_to_f32(t, path, m->params_mem + ti->offset, ti->numel);
        filled[idx] = i;
    }
    for (int i = 0; i < m->n_body && s == RT_OK; i++)
        if (filled[i] < 0)
            s = rt_error(RT_ERR_FORMAT,
                         "%s: missing tensor '%s' (shape %s; looked for '%s' and '" PREFIX "%s')",
                         c->desc, tab->t[i].name,
                         fmt_shape(a, sizeof a, tab->t[i].ndim, tab->t[i].shape), tab->t[i].name,
                         tab->t[i].name);
    if (s == RT_OK && lm_head >= 0) {
        int wte = rt_table_find(tab, "wte.weight");
        s = wte < 0 ? rt_error(RT_ERR_INTERNAL, "model has no wte.weight")
                    : check_lm_head(&c->src[lm_head], m, wte);
    }
    free(filled);
    return s;
}

rt_status rt_hf_gpt2_load_weights(const char *dir, rt_gpt2 *m) {
    return rt_hf_gpt2_load_weights_ex(dir, m, NULL, 0);
}

rt_status rt_hf_gpt2_load_weights_ex(const char *dir, rt_gpt2 *m, rt_hf_extra_tensor *extra,
                                     int n_extra) {
    for (int e = 0; e < n_extra; e++) extra[e].found = 0;
    char *single = rt_fs_join(dir, "model.safetensors");
    char *index = rt_fs_join(dir, "model.safetensors.index.json");
    if (!single || !index) {
        free(single);
        free(index);
        return rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    }
    hf_ckpt c = {0};
    rt_status s;
    if (rt_fs_exists(single)) {
        free(index);
        s = ckpt_single(&c, single); /* c owns single */
    } else if (rt_fs_exists(index)) {
        free(single);
        s = ckpt_sharded(&c, dir, index); /* c owns index */
    } else {
        s = rt_error(RT_ERR_IO, "%s: no weights: neither %s nor %s exists", dir, single, index);
        free(single);
        free(index);
    }
    if (s == RT_OK) s = load_sources(m, &c, extra, n_extra);
    ckpt_free(&c);
    return s;
}

rt_status rt_hf_gpt2_load(const char *dir, rt_gpt2 **out) {
    *out = NULL;
    rt_gpt2_config cfg;
    RT_CALL(rt_hf_gpt2_read_config(dir, &cfg));
    rt_gpt2 *m = NULL;
    RT_CALL(rt_gpt2_create(&m, &cfg));
    rt_status s = rt_hf_gpt2_load_weights(dir, m);
    if (s != RT_OK) {
        rt_gpt2_destroy(&m);
        return s;
    }
    *out = m;
    return RT_OK;
}

/* ---- save ---- */

/* A JSON real that prints as the shortest decimal reading back as the same float. */
static json_t *json_float(float x) {
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    return json_real(strtod(buf, NULL));
}

static json_t *json_int_or_null(int x) {
    return x < 0 ? json_null() : json_integer(x);
}

static rt_status write_config(const rt_gpt2_config *c, const char *path, json_t *extra) {
    json_t *r = json_object();
    json_t *arch = json_array();
    int bad = !r || !arch;
    if (!bad) {
        bad |= json_array_append_new(arch, json_string("GPT2LMHeadModel"));
        bad |= json_object_set_new(r, "architectures", arch);
        arch = NULL;
        bad |= json_object_set_new(r, "model_type", json_string("gpt2"));
        bad |= json_object_set_new(r, "activation_function", json_string("gelu_new"));
        bad |= json_object_set_new(r, "vocab_size", json_integer(c->vocab_size));
        bad |= json_object_set_new(r, "n_positions", json_integer(c->n_positions));
        bad |= json_object_set_new(r, "n_ctx", json_integer(c->n_positions));
        bad |= json_object_set_new(r, "n_embd", json_integer(c->n_embd));
        bad |= json_object_set_new(r, "n_layer", json_integer(c->n_layer));
        bad |= json_object_set_new(r, "n_head", json_integer(c->n_head));
        bad |= json_object_set_new(
            r, "n_inner", c->n_inner == 4 * c->n_embd ? json_null() : json_integer(c->n_inner));
        bad |= json_object_set_new(r, "layer_norm_epsilon", json_float(c->layer_norm_epsilon));
        bad |= json_object_set_new(r, "resid_pdrop", json_float(c->resid_pdrop));
        bad |= json_object_set_new(r, "embd_pdrop", json_float(c->embd_pdrop));
        bad |= json_object_set_new(r, "attn_pdrop", json_float(c->attn_pdrop));
        bad |= json_object_set_new(r, "initializer_range", json_float(c->initializer_range));
        bad |= json_object_set_new(r, "bos_token_id", json_int_or_null(c->bos_token_id));
        bad |= json_object_set_new(r, "eos_token_id", json_int_or_null(c->eos_token_id));
        bad |= json_object_set_new(r, "scale_attn_weights", json_true());
        bad |= json_object_set_new(r, "scale_attn_by_inverse_layer_idx", json_false());
        bad |= json_object_set_new(r, "reorder_and_upcast_attn", json_false());
        bad |= json_object_set_new(r, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
        bad |= json_object_set_new(r, "use_cache", json_true());
        bad |= json_object_set_new(r, "torch_dtype", json_string("float32"));
        /* GPT2DoubleHeadsModel's summary head; HF writes these defaults for every GPT-2. */
        bad |= json_object_set_new(r, "summary_type", json_string("cls_index"));
        bad |= json_object_set_new(r, "summary_use_proj", json_true());
        bad |= json_object_set_new(r, "summary_activation", json_null());
        bad |= json_object_set_new(r, "summary_proj_to_labels", json_true());
        bad |= json_object_set_new(r, "summary_first_dropout", json_float(0.1f));
        if (extra) bad |= json_object_update(r, extra); /* the caller's fields win */
    }
    char *text =
        bad ? NULL : json_dumps(r, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    json_decref(arch);
    json_decref(r);
    if (!text) return rt_error(RT_ERR_MEMORY, "%s: out of memory building the config", path);
    size_t n = strlen(text);
    char *buf = realloc(text, n + 2);
    if (!buf) {
        free(text);
        return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    }
    buf[n] = '\n';
    buf[n + 1] = 0;
    rt_status s = rt_fs_write_file_atomic(path, buf, n + 1);
    free(buf);
    return s;
}

rt_status rt_hf_gpt2_save(const rt_gpt2 *m, const char *dir) {
    return rt_hf_gpt2_save_ex(m, dir, NULL, 0, NULL);
}

rt_status rt_hf_gpt2_save_ex(const rt_gpt2 *m, const char *dir, const rt_hf_extra_tensor *extra,
                             int n_extra, json_t *config_extra) {
    RT_CALL(rt_fs_mkdir_p(dir));
    char *wpath = rt_fs_join(dir, "model.safetensors");
    char *cpath = rt_fs_join(dir, "config.json");
    rt_st_writer *w = NULL;
    rt_status s = wpath && cpath ? rt_st_writer_create(&w)
                                 : rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    char name[RT_NAME_MAX + PREFIX_LEN];
    for (int i = 0; i < m->n_body && s == RT_OK; i++) { /* a head's tensors: through extra */
        const rt_tensor_info *ti = &m->params.t[i];
        /* save_pretrained's names: the body under "transformer.", an untied head at the top */
        snprintf(name, sizeof name, "%s%s", strcmp(ti->name, "lm_head.weight") ? PREFIX : "",
                 ti->name);
        s = rt_st_writer_add(w, name, RT_ST_F32, ti->ndim, ti->shape, m->params_mem + ti->offset);
    }
    for (int e = 0; e < n_extra && s == RT_OK; e++)
        s = rt_st_writer_add(w, extra[e].name, RT_ST_F32, extra[e].ndim, extra[e].shape,
                             extra[e].dst);
    if (s == RT_OK) s = rt_st_writer_write(w, wpath, NULL, NULL, 0);
    if (s == RT_OK) s = write_config(&m->cfg, cpath, config_extra);
    rt_st_writer_destroy(&w);
    free(wpath);
    free(cpath);
    return s;
}
