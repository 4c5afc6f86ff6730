/* Hugging Face GPT-2 checkpoint directories: config.json <-> rt_gpt2_config and
   model.safetensors (single or sharded) <-> the flat parameter arena. Every refusal names the
   file and the field or tensor, because a user fixing a checkpoint has nothing else to go on. */
#include "hf_gpt2.h"
#include "fsutil.h"
#include "hf_common.h"
#include "safetensors.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "transformer."
#define PREFIX_LEN (sizeof PREFIX - 1)

/* ---- config.json ---- */

static rt_status cfg_activation(const char *path, json_t *root) {
    json_t *act = json_object_get(root, "activation_function");
    char fb[128];
    if (!act) return RT_OK;
    if (!json_is_string(act))
        return rt_error(
            RT_ERR_FORMAT,
            "%s: field 'activation_function' is %s, expected one of " RT_HF_TANH_GELU_LIST, path,
            rt_hf_json_found(act, fb, sizeof fb));
    if (rt_hf_is_tanh_gelu(json_string_value(act))) return RT_OK;
    return rt_error(RT_ERR_ARG,
                    "%s: field 'activation_function' is \"%.60s\"; ringtune computes only the tanh "
                    "GELU, which transformers calls " RT_HF_TANH_GELU_LIST,
                    path, json_string_value(act));
}

static void gpt2_defaults(rt_gpt2_config *cfg) { /* HF GPT2Config's */
    memset(cfg, 0, sizeof *cfg);
    cfg->vocab_size = 50257;
    cfg->n_positions = 1024;
    cfg->n_embd = 768;
    cfg->n_layer = 12;
    cfg->n_head = 12;
    cfg->n_inner = -1; /* null: 4 * n_embd, resolved by parse_config */
    cfg->layer_norm_epsilon = 1e-5f;
    cfg->resid_pdrop = cfg->embd_pdrop = cfg->attn_pdrop = 0.1f;
    cfg->initializer_range = 0.02f;
    cfg->bos_token_id = cfg->eos_token_id = 50256;
    cfg->tie_word_embeddings = 1;
}

/* The switches transformers has that would build another architecture. */
static rt_status cfg_architecture(const char *path, json_t *root) {
    char fb[128];
    RT_CALL(rt_hf_cfg_bool_must(path, root, "scale_attn_weights", 1, "GPT-2",
                                "scores are scaled by 1/sqrt(d)"));
    RT_CALL(rt_hf_cfg_bool_must(path, root, "scale_attn_by_inverse_layer_idx", 0, "GPT-2",
                                "no per-layer score scaling"));
    RT_CALL(
        rt_hf_cfg_bool_must(path, root, "add_cross_attention", 0, "GPT-2", "decoder-only blocks"));
    /* transformers builds layers that differ from one another from a non-empty per_layer_config */
    json_t *plc = json_object_get(root, "per_layer_config");
    if (plc && !json_is_null(plc) && !(json_is_object(plc) && json_object_size(plc) == 0))
        return rt_error(RT_ERR_ARG,
                        "%s: field 'per_layer_config' is %s; ringtune's GPT-2 needs identical "
                        "layers (null or {})",
                        path, rt_hf_json_found(plc, fb, sizeof fb));
    return RT_OK;
}

static rt_status parse_config(const char *path, json_t *root, rt_gpt2_config *cfg) {
    RT_CALL(rt_hf_cfg_model_type(path, root, "gpt2"));
    gpt2_defaults(cfg);
    RT_CALL(rt_hf_cfg_bool(path, root, "tie_word_embeddings", 0, 0, &cfg->tie_word_embeddings));
    RT_CALL(rt_hf_cfg_int(path, root, "vocab_size", &cfg->vocab_size, 0, 0));
    /* n_ctx is not a GPT2Config field (transformers ignores it): the default 1024 applies when
       neither n_positions nor max_position_embeddings is given. */
    RT_CALL(rt_hf_cfg_int_alias(path, root, "n_positions", "max_position_embeddings",
                                &cfg->n_positions));
    RT_CALL(rt_hf_cfg_int_alias(path, root, "n_embd", "hidden_size", &cfg->n_embd));
    RT_CALL(rt_hf_cfg_int_alias(path, root, "n_layer", "num_hidden_layers", &cfg->n_layer));
    RT_CALL(rt_hf_cfg_int_alias(path, root, "n_head", "num_attention_heads", &cfg->n_head));
    RT_CALL(rt_hf_cfg_int(path, root, "n_inner", &cfg->n_inner, -1, 1));
    RT_CALL(rt_hf_cfg_token_id(path, root, "bos_token_id", 0, &cfg->bos_token_id));
    RT_CALL(rt_hf_cfg_token_id(path, root, "eos_token_id", 1, &cfg->eos_token_id));
    RT_CALL(rt_hf_cfg_float(path, root, "layer_norm_epsilon", &cfg->layer_norm_epsilon));
    RT_CALL(rt_hf_cfg_float(path, root, "resid_pdrop", &cfg->resid_pdrop));
    RT_CALL(rt_hf_cfg_float(path, root, "embd_pdrop", &cfg->embd_pdrop));
    RT_CALL(rt_hf_cfg_float(path, root, "attn_pdrop", &cfg->attn_pdrop));
    RT_CALL(rt_hf_cfg_float(path, root, "initializer_range", &cfg->initializer_range));
    if (cfg->n_inner == -1) cfg->n_inner = 4 * cfg->n_embd;
    RT_CALL(cfg_activation(path, root));
    return cfg_architecture(path, root);
}

rt_status rt_hf_gpt2_read_config(const char *dir, rt_gpt2_config *cfg) {
    char *path = rt_fs_join(dir, "config.json");
    if (!path) return rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    json_t *root = NULL;
    rt_status s = rt_hf_json_read(path, &root);
    rt_gpt2_config c;
    if (s == RT_OK) s = parse_config(path, root, &c);
    if (s == RT_OK) s = rt_hf_in_file(rt_gpt2_config_validate(&c), path);
    if (s == RT_OK) *cfg = c;
    json_decref(root);
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

/* "h.<digits>.attn.bias" / "h.<digits>.attn.masked_bias": HF's causal-mask buffers. */
static int is_mask_buffer(const char *name) {
    if (strncmp(name, "h.", 2) != 0) return 0;
    const char *p = name + 2;
    if (*p < '0' || *p > '9') return 0;
    while (*p >= '0' && *p <= '9') p++;
    return strcmp(p, ".attn.bias") == 0 || strcmp(p, ".attn.masked_bias") == 0;
}

static rt_status check_lm_head(const rt_hf_source *s, const rt_gpt2 *m, int wte_idx) {
    const rt_tensor_info *ti = &m->params.t[wte_idx];
    const rt_st_tensor *t = s->t;
    const char *path = rt_st_path(s->f);
    char a[128], b[128];
    if (t->ndim != ti->ndim || t->shape[0] != ti->shape[0] || t->shape[1] != ti->shape[1])
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor 'lm_head.weight' has shape %s but wte.weight is %s; "
                        "ringtune's GPT-2 ties the LM head to wte and cannot load a separate one",
                        path, rt_hf_fmt_shape(a, sizeof a, t->ndim, t->shape),
                        rt_hf_fmt_shape(b, sizeof b, ti->ndim, ti->shape));
    if (!rt_hf_is_float_dtype(t->dtype))
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor 'lm_head.weight' has dtype %s, expected F32, F16 or BF16", path,
                        rt_st_dtype_name(t->dtype));
    const float *wte = m->params_mem + ti->offset;
    for (size_t i = 0; i < ti->numel; i++) {
        float x = rt_hf_elem_f32(t, i);
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
static int load_extra(const rt_hf_source *src, rt_hf_extra_tensor *extra, int n_extra,
                      rt_status *s) {
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
                          path, x->name, rt_hf_fmt_shape(a, sizeof a, t->ndim, t->shape),
                          rt_hf_fmt_shape(b, sizeof b, x->ndim, x->shape), x->why ? " " : "",
                          x->why ? x->why : "");
        else if (!rt_hf_is_float_dtype(t->dtype))
            *s = rt_error(RT_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                          path, x->name, rt_st_dtype_name(t->dtype));
        else
            *s = rt_st_tensor_to_f32(t, path, x->dst, n);
        x->found = *s == RT_OK;
        return 1;
    }
    return 0;
}

/* Source i into the body tensor it names (filled[] records which source filled each), or into
   the extra tensor of its name, or noted as the lm_head (*lm_head); buffers are skipped. */
static rt_status load_source(rt_gpt2 *m, const rt_hf_ckpt *c, int i, int *filled, int *lm_head,
                             rt_hf_extra_tensor *extra, int n_extra) {
    const rt_hf_source *src = &c->src[i];
    const char *path = rt_st_path(src->f);
    const char *base = src->name;
    if (strncmp(base, PREFIX, PREFIX_LEN) == 0) base += PREFIX_LEN;
    int idx = rt_table_find(&m->params, base);
    if (idx >= m->n_body) idx = -1; /* a head's tensor: only through extra */
    if (idx < 0) {
        rt_status s = RT_OK;
        if (is_mask_buffer(base)) return RT_OK;
        if (load_extra(src, extra, n_extra, &s)) return s;
        if (strcmp(src->name, "lm_head.weight") == 0) {
            *lm_head = i;
            return RT_OK;
        }
        return rt_error(RT_ERR_FORMAT,
                        "%s: unexpected tensor '%s': not part of a GPT-2 with n_layer %d (names "
                        "are wte/wpe/h.N.*/ln_f, optionally prefixed \"transformer.\")",
                        path, src->name, m->cfg.n_layer);
    }
    if (filled[idx] >= 0) {
        const rt_hf_source *prev = &c->src[filled[idx]];
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor '%s' appears twice: as '%s' (in %s) and as '%s' (in %s)",
                        c->desc, base, prev->name, rt_st_path(prev->f), src->name, path);
    }
    const rt_tensor_info *ti = &m->params.t[idx];
    filled[idx] = i;
    return rt_hf_load_tensor(src, ti->ndim, ti->shape, m->params_mem + ti->offset);
}

static rt_status load_sources(rt_gpt2 *m, const rt_hf_ckpt *c, rt_hf_extra_tensor *extra,
                              int n_extra) {
    const rt_tensor_table *tab = &m->params;
    int *filled = malloc((size_t)(tab->n ? tab->n : 1) * sizeof *filled); /* source index */
    if (!filled) return rt_error(RT_ERR_MEMORY, "%s: out of memory", c->desc);
    for (int i = 0; i < tab->n; i++) filled[i] = -1;
    int lm_head = -1;
    rt_status s = RT_OK;
    char a[128];
    for (int i = 0; i < c->n_src && s == RT_OK; i++)
        s = load_source(m, c, i, filled, &lm_head, extra, n_extra);
    for (int i = 0; i < m->n_body && s == RT_OK; i++)
        if (filled[i] < 0)
            s = rt_error(RT_ERR_FORMAT,
                         "%s: missing tensor '%s' (shape %s; looked for '%s' and '" PREFIX "%s')",
                         c->desc, tab->t[i].name,
                         rt_hf_fmt_shape(a, sizeof a, tab->t[i].ndim, tab->t[i].shape),
                         tab->t[i].name, tab->t[i].name);
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
    rt_hf_ckpt c = {0};
    rt_status s = rt_hf_ckpt_open(dir, &c);
    if (s == RT_OK) s = load_sources(m, &c, extra, n_extra);
    rt_hf_ckpt_close(&c);
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

/* config.json's object (new reference), or NULL when out of memory. */
static json_t *config_json(const rt_gpt2_config *c, json_t *extra) {
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
        bad |=
            json_object_set_new(r, "layer_norm_epsilon", rt_hf_json_float(c->layer_norm_epsilon));
        bad |= json_object_set_new(r, "resid_pdrop", rt_hf_json_float(c->resid_pdrop));
        bad |= json_object_set_new(r, "embd_pdrop", rt_hf_json_float(c->embd_pdrop));
        bad |= json_object_set_new(r, "attn_pdrop", rt_hf_json_float(c->attn_pdrop));
        bad |= json_object_set_new(r, "initializer_range", rt_hf_json_float(c->initializer_range));
        bad |= json_object_set_new(r, "bos_token_id", rt_hf_json_id(c->bos_token_id));
        bad |= json_object_set_new(r, "eos_token_id", rt_hf_json_id(c->eos_token_id));
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
        bad |= json_object_set_new(r, "summary_first_dropout", rt_hf_json_float(0.1f));
        if (extra) bad |= json_object_update(r, extra); /* the caller's fields win */
    }
    json_decref(arch);
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static rt_status write_config(const rt_gpt2_config *c, const char *path, json_t *extra) {
    json_t *r = config_json(c, extra);
    if (!r) return rt_error(RT_ERR_MEMORY, "%s: out of memory building the config", path);
    rt_status s = rt_hf_write_json(path, r);
    json_decref(r);
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
