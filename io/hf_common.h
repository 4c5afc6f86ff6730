/* What the Hugging Face checkpoint readers and writers (hf_gpt2.c, hf_t5.c) share: config.json
   field readers whose refusals name the file and the field, the weight files of a checkpoint
   directory (model.safetensors, or model.safetensors.index.json and its shards), tensor checks
   and widening into caller memory, and JSON files written atomically.
   Nothing here is collective: each function acts on the calling process's files and memory. */
#pragma once
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "safetensors.h"
#include "status.h"

/* ---- config.json fields ---- */

/* Describes v for messages ("a string (\"twelve\")", "null", "an object", ...) in buf, which it
   returns. */
const char *rt_hf_json_found(const json_t *v, char *buf, size_t cap);

/* Reads and parses the JSON file at path (duplicate keys rejected) into *root, which must be an
   object. Caller owns *root (json_decref); NULL on failure. RT_ERR_IO when the file cannot be
   read, RT_ERR_FORMAT for bad JSON or another top-level type; the message names path. */
rt_status rt_hf_json_read(const char *path, json_t **root);

/* For a failed s: prefixes the recorded message with "path: " (which file a value came from) and
   returns s; RT_OK passes through untouched. */
rt_status rt_hf_in_file(rt_status s, const char *path);

/* The readers below leave *dst alone when root has no such key; path only names the file in
   messages. A wrong JSON type is RT_ERR_FORMAT, a bad value RT_ERR_ARG, naming path and key. */

/* An integer that fits an int; null gives null_value when allow_null. */
rt_status rt_hf_cfg_int(const char *path, json_t *root, const char *key, int *dst, int null_value,
                        int allow_null);
/* key, then its transformers alias (a config class's attribute_map), which wins when both are
   present: transformers sets the alias after the field. */
rt_status rt_hf_cfg_int_alias(const char *path, json_t *root, const char *key, const char *alias,
                              int *dst);
/* A number that is finite as a float. */
rt_status rt_hf_cfg_float(const char *path, json_t *root, const char *key, float *dst);
/* true / false as 1 / 0; null gives null_value when allow_null. */
rt_status rt_hf_cfg_bool(const char *path, json_t *root, const char *key, int allow_null,
                         int null_value, int *dst);
/* A boolean that must be `want` when present (a switch that changes the architecture):
   RT_ERR_ARG "ringtune's <model> needs <want> (<why>)" otherwise. */
rt_status rt_hf_cfg_bool_must(const char *path, json_t *root, const char *key, int want,
                              const char *model, const char *why);
/* A token id: an integer, null (-1) or, when allow_list (as transformers allows for
   eos_token_id), a list of integers whose first is kept (an empty list is null). Not checked
   against any vocabulary. */
rt_status rt_hf_cfg_token_id(const char *path, json_t *root, const char *key, int allow_list,
                             int *dst);
/* "model_type" must be the string want when present. */
rt_status rt_hf_cfg_model_type(const char *path, json_t *root, const char *want);

/* The activation names transformers maps to the tanh approximation of GELU,
   0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): the one GELU ringtune computes. */
int rt_hf_is_tanh_gelu(const char *name);
#define RT_HF_TANH_GELU_LIST                                                                       \
    "\"gelu_new\", \"gelu_pytorch_tanh\", \"gelu_python_tanh\", \"gelu_fast\" or "                 \
    "\"gelu_accurate\""

/* ---- writing JSON ---- */

/* A JSON real that prints as the shortest decimal reading back as the same float (new
   reference; NULL when out of memory). */
json_t *rt_hf_json_float(float x);
/* A token id: null for a negative id, else the integer (new reference). */
json_t *rt_hf_json_id(int id);
/* Writes root to path atomically as transformers lays out its JSON files: 2-space indent, sorted
   keys, a final newline. root is only read. RT_ERR_IO naming path on failure. */
rt_status rt_hf_write_json(const char *path, const json_t *root);

/* ---- weight files ---- */

/* One stored tensor: its name and data belong to the rt_st_file f. */
typedef struct {
    const char *name;
    const rt_st_tensor *t;
    const rt_st_file *f;
} rt_hf_source;

/* A checkpoint's open weight files and the tensors they contribute (each name once). */
typedef struct {
    rt_st_file **files; /* [n_files] owned */
    int n_files;
    rt_hf_source *src; /* [n_src] owned; borrows from files */
    int n_src;
    char *desc; /* owned path of the file that lists the tensors: model.safetensors or the index */
} rt_hf_ckpt;

/* Opens dir/model.safetensors or, when it is absent, dir/model.safetensors.index.json and every
   shard its weight_map names (plain file names in dir; each mapped tensor must be in its shard).
   *c must be zeroed; free it with rt_hf_ckpt_close, also after a failure. RT_ERR_IO when dir has
   neither file, RT_ERR_FORMAT for a malformed index or shard (naming the file and the entry). */
rt_status rt_hf_ckpt_open(const char *dir, rt_hf_ckpt *c);
/* Closes the files and frees and zeroes *c (a zeroed *c is fine). */
void rt_hf_ckpt_close(rt_hf_ckpt *c);
/* The stored tensor with this exact name, or NULL (owned by c). */
const rt_hf_source *rt_hf_ckpt_find(const rt_hf_ckpt *c, const char *name);

/* "[a,b]" into buf, which it returns. */
const char *rt_hf_fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape);
/* F32, F16 or BF16: the dtypes the loaders read. */
int rt_hf_is_float_dtype(rt_st_dtype d);
/* Element i of a float tensor (F16/BF16 widened). */
float rt_hf_elem_f32(const rt_st_tensor *t, size_t i);
/* Whether t has exactly this shape. */
int rt_hf_same_shape(const rt_st_tensor *t, int ndim, const int64_t *shape);
/* Checks s's shape and dtype: RT_ERR_FORMAT "PATH: tensor 'NAME': shape [..] in the file, but
   the model built from config.json expects [..]" or "... has dtype D, expected F32, F16 or
   BF16". */
rt_status rt_hf_check_tensor(const rt_hf_source *s, int ndim, const int64_t *shape);
/* rt_hf_check_tensor, then s's values (F32 copied, F16/BF16 widened) into dst (prod(shape)
   floats, caller-owned). */
rt_status rt_hf_load_tensor(const rt_hf_source *s, int ndim, const int64_t *shape, float *dst);
