/* The pieces of the Hugging Face checkpoint readers and writers that do not depend on the model:
   config.json fields, the weight files of a directory, tensor checks, JSON writes. */
#include "hf_common.h"
#include "fsutil.h"
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- config.json fields ---- */

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

const char *rt_hf_json_found(const json_t *v, char *buf, size_t cap) {
    const char *kind = json_kind(v);
    if (json_is_null(v) || json_is_object(v) || json_is_array(v)) {
        snprintf(buf, cap, "%s", kind);
        return buf;
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, cap, "%s (%.60s)", kind, text ? text : "?");
    free(text);
    return buf;
}

rt_status rt_hf_json_read(const char *path, json_t **root) {
    *root = NULL;
    char *text = NULL;
    size_t len = 0;
    rt_status rs = rt_fs_read_file(path, &text, &len);
    if (rs != RT_OK) return rs;
    json_error_t jerr;
    json_t *r = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    free(text);
    if (!r)
        return rt_error(RT_ERR_FORMAT, "%s: not valid JSON: %s (line %d column %d)", path,
                        jerr.text, jerr.line, jerr.column);
    if (!json_is_object(r)) {
        char fb[128];
        rt_status s = rt_error(RT_ERR_FORMAT, "%s: top level is %s, expected an object", path,
                               rt_hf_json_found(r, fb, sizeof fb));
        json_decref(r);
        return s;
    }
    *root = r;
    return RT_OK;
}

rt_status rt_hf_in_file(rt_status s, const char *path) {
    if (s == RT_OK) return s;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rt_error_message());
    return rt_error(s, "%s: %s", path, msg);
}

rt_status rt_hf_cfg_int(const char *path, json_t *root, const char *key, int *dst, int null_value,
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
                        rt_hf_json_found(v, fb, sizeof fb), allow_null ? " or null" : "");
    json_int_t x = json_integer_value(v);
    if (x < INT_MIN || x > INT_MAX)
        return rt_error(RT_ERR_ARG, "%s: field '%s' is %lld, which does not fit in an int", path,
                        key, (long long)x);
    *dst = (int)x;
    return RT_OK;
}

rt_status rt_hf_cfg_int_alias(const char *path, json_t *root, const char *key, const char *alias,
                              int *dst) {
    RT_CALL(rt_hf_cfg_int(path, root, key, dst, 0, 0));
    return rt_hf_cfg_int(path, root, alias, dst, 0, 0);
}

rt_status rt_hf_cfg_float(const char *path, json_t *root, const char *key, float *dst) {
    json_t *v = json_object_get(root, key);
    if (!v) return RT_OK;
    char fb[128];
    if (!json_is_number(v))
        return rt_error(RT_ERR_FORMAT, "%s: field '%s' is %s, expected a number", path, key,
                        rt_hf_json_found(v, fb, sizeof fb));
    double x = json_number_value(v);
    if (!isfinite((float)x))
        return rt_error(RT_ERR_ARG, "%s: field '%s' is %g, expected a finite float", path, key, x);
    *dst = (float)x;
    return RT_OK;
}

rt_status rt_hf_cfg_bool(const char *path, json_t *root, const char *key, int allow_null,
                         int null_value, int *dst) {
    json_t *v = json_object_get(root, key);
    if (!v) return RT_OK;
    if (json_is_null(v) && allow_null) {
        *dst = null_value;
        return RT_OK;
    }
    char fb[128];
    if (!json_is_boolean(v))
        return rt_error(RT_ERR_FORMAT, "%s: field '%s' is %s, expected true or false%s", path, key,
                        rt_hf_json_found(v, fb, sizeof fb), allow_null ? " (or null)" : "");
    *dst = json_is_true(v);
    return RT_OK;
}

rt_status rt_hf_cfg_bool_must(const char *path, json_t *root, const char *key, int want,
                              const char *model, const char *why) {
    json_t *v = json_object_get(root, key);
    if (!v) return RT_OK;
    char fb[128];
    if (!json_is_boolean(v))
        return rt_error(RT_ERR_FORMAT, "%s: field '%s' is %s, expected a boolean", path, key,
                        rt_hf_json_found(v, fb, sizeof fb));
    if (json_is_true(v) != want)
        return rt_error(RT_ERR_ARG, "%s: field '%s' is %s, ringtune's %s needs %s (%s)", path, key,
                        want ? "false" : "true", model, want ? "true" : "false", why);
    return RT_OK;
}

rt_status rt_hf_cfg_token_id(const char *path, json_t *root, const char *key, int allow_list,
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
                                key, i, rt_hf_json_found(e, fb, sizeof fb));
        }
        *dst = json_array_size(v) ? (int)json_integer_value(json_array_get(v, 0)) : -1;
        return RT_OK;
    }
    if (v && !json_is_integer(v) && !json_is_null(v))
        return rt_error(RT_ERR_FORMAT, "%s: field '%s' is %s, expected an integer%s or null", path,
                        key, rt_hf_json_found(v, fb, sizeof fb),
                        allow_list ? ", a list of integers" : "");
    return rt_hf_cfg_int(path, root, key, dst, -1, 1);
}

rt_status rt_hf_cfg_model_type(const char *path, json_t *root, const char *want) {
    json_t *mt = json_object_get(root, "model_type");
    char fb[128];
    if (mt && !json_is_string(mt))
        return rt_error(RT_ERR_FORMAT, "%s: field 'model_type' is %s, expected the string \"%s\"",
                        path, rt_hf_json_found(mt, fb, sizeof fb), want);
    if (mt && strcmp(json_string_value(mt), want) != 0)
        return rt_error(RT_ERR_ARG, "%s: field 'model_type' is \"%s\", expected \"%s\"", path,
                        json_string_value(mt), want);
    return RT_OK;
}

int rt_hf_is_tanh_gelu(const char *name) {
    static const char *const names[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_python_tanh",
                                        "gelu_fast", "gelu_accurate"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    return 0;
}

/* ---- writing JSON ---- */

json_t *rt_hf_json_float(float x) {
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    return json_real(strtod(buf, NULL));
}

json_t *rt_hf_json_id(int id) {
    return id < 0 ? json_null() : json_integer(id);
}

rt_status rt_hf_write_json(const char *path, const json_t *root) {
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
    if (!text) return rt_error(RT_ERR_MEMORY, "%s: out of memory building the JSON", path);
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

/* ---- weight files ---- */

void rt_hf_ckpt_close(rt_hf_ckpt *c) {
    for (int i = 0; i < c->n_files; i++) rt_st_close(&c->files[i]);
    free(c->files);
    free(c->src);
    free(c->desc);
    memset(c, 0, sizeof *c);
}

const rt_hf_source *rt_hf_ckpt_find(const rt_hf_ckpt *c, const char *name) {
    for (int i = 0; i < c->n_src; i++)
        if (strcmp(c->src[i].name, name) == 0) return &c->src[i];
    return NULL;
}

/* c takes path. */
static rt_status ckpt_single(rt_hf_ckpt *c, char *path) {
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
        c->src[i] = (rt_hf_source){t->name, t, c->files[0]};
    }
    c->n_src = n;
    return RT_OK;
}

/* The weight_map object of the index root. */
static rt_status index_weight_map(const char *index_path, json_t *root, json_t **wm) {
    char fb[128];
    *wm = json_object_get(root, "weight_map");
    if (!*wm) return rt_error(RT_ERR_FORMAT, "%s: missing field 'weight_map'", index_path);
    if (!json_is_object(*wm))
        return rt_error(RT_ERR_FORMAT,
                        "%s: field 'weight_map' is %s, expected an object {tensor: file}",
                        index_path, rt_hf_json_found(*wm, fb, sizeof fb));
    return RT_OK;
}

/* The index of the shard named file in c->files (names[k] is file k's name), opening it on its
   first mention (for tensor key). */
static rt_status index_shard(rt_hf_ckpt *c, const char *dir, const char **names, const char *key,
                             const char *file, int *k) {
    const char *index_path = c->desc;
    for (*k = 0; *k < c->n_files; (*k)++)
        if (strcmp(names[*k], file) == 0) return RT_OK;
    if (file[0] == 0 || strchr(file, '/'))
        return rt_error(RT_ERR_FORMAT,
                        "%s: weight_map entry '%s' names file \"%s\", expected a plain file name "
                        "in the same directory",
                        index_path, key, file);
    char *p = rt_fs_join(dir, file);
    if (!p) return rt_error(RT_ERR_MEMORY, "%s: out of memory", index_path);
    rt_status s = RT_OK;
    if (!rt_fs_exists(p))
        s = rt_error(RT_ERR_FORMAT,
                     "%s: weight_map entry '%s' names shard %s, which does not exist", index_path,
                     key, p);
    else
        s = rt_st_open(&c->files[*k], p);
    free(p);
    if (s != RT_OK) return s;
    names[*k] = file;
    c->n_files++;
    return RT_OK;
}

/* One weight_map entry: key in the shard named by v. */
static rt_status index_entry(rt_hf_ckpt *c, const char *dir, const char **names, const char *key,
                             json_t *v) {
    char fb[128];
    if (!json_is_string(v))
        return rt_error(RT_ERR_FORMAT,
                        "%s: weight_map entry '%s' is %s, expected a file name string", c->desc,
                        key, rt_hf_json_found(v, fb, sizeof fb));
    int k;
    RT_CALL(index_shard(c, dir, names, key, json_string_value(v), &k));
    const rt_st_tensor *t = rt_st_find(c->files[k], key);
    if (!t)
        return rt_error(RT_ERR_FORMAT,
                        "%s: weight_map puts tensor '%s' in %s, but that file has no such tensor",
                        c->desc, key, rt_st_path(c->files[k]));
    c->src[c->n_src++] = (rt_hf_source){t->name, t, c->files[k]};
    return RT_OK;
}

/* c takes index_path. */
static rt_status ckpt_sharded(rt_hf_ckpt *c, const char *dir, char *index_path) {
    c->desc = index_path;
    json_t *root = NULL, *wm = NULL;
    RT_CALL(rt_hf_json_read(index_path, &root));
    rt_status s = index_weight_map(index_path, root, &wm);
    size_t n = s == RT_OK ? json_object_size(wm) : 0;
    const char **names = NULL; /* [n_files] shard file names, borrowed from root */
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
            s = index_entry(c, dir, names, key, v);
            if (s != RT_OK) break;
        }
    }
    free(names);
    json_decref(root);
    return s;
}

rt_status rt_hf_ckpt_open(const char *dir, rt_hf_ckpt *c) {
    char *single = rt_fs_join(dir, "model.safetensors");
    char *index = rt_fs_join(dir, "model.safetensors.index.json");
    if (!single || !index) {
        free(single);
        free(index);
        return rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    }
    if (rt_fs_exists(single)) {
        free(index);
        return ckpt_single(c, single);
    }
    if (rt_fs_exists(index)) {
        free(single);
        return ckpt_sharded(c, dir, index);
    }
    rt_status s =
        rt_error(RT_ERR_IO, "%s: no weights: neither %s nor %s exists", dir, single, index);
    free(single);
    free(index);
    return s;
}

const char *rt_hf_fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

int rt_hf_is_float_dtype(rt_st_dtype d) {
    return d == RT_ST_F32 || d == RT_ST_F16 || d == RT_ST_BF16;
}

float rt_hf_elem_f32(const rt_st_tensor *t, size_t i) {
    const unsigned char *p = t->data;
    if (t->dtype == RT_ST_F32) {
        float x;
        memcpy(&x, p + 4 * i, sizeof x);
        return x;
    }
    uint16_t h = (uint16_t)(p[2 * i] | (unsigned)p[2 * i + 1] << 8);
    return t->dtype == RT_ST_F16 ? rt_st_f16_to_f32(h) : rt_st_bf16_to_f32(h);
}

int rt_hf_same_shape(const rt_st_tensor *t, int ndim, const int64_t *shape) {
    int same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = t->shape[d] == shape[d];
    return same;
}

rt_status rt_hf_check_tensor(const rt_hf_source *s, int ndim, const int64_t *shape) {
    const rt_st_tensor *t = s->t;
    const char *path = rt_st_path(s->f);
    char a[128], b[128];
    if (!rt_hf_same_shape(t, ndim, shape))
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor '%s': shape %s in the file, but the model built from "
                        "config.json expects %s",
                        path, s->name, rt_hf_fmt_shape(a, sizeof a, t->ndim, t->shape),
                        rt_hf_fmt_shape(b, sizeof b, ndim, shape));
    if (!rt_hf_is_float_dtype(t->dtype))
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                        path, s->name, rt_st_dtype_name(t->dtype));
    return RT_OK;
}

rt_status rt_hf_load_tensor(const rt_hf_source *s, int ndim, const int64_t *shape, float *dst) {
    RT_CALL(rt_hf_check_tensor(s, ndim, shape));
    return rt_st_tensor_to_f32(s->t, rt_st_path(s->f), dst, s->t->numel);
}
