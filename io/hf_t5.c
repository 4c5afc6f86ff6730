/* Hugging Face T5ForConditionalGeneration directories: config.json <-> rt_t5_config,
   model.safetensors (single or sharded) <-> the model's parameter arena, generation_config.json
   on export. Every refusal names the file and the field or tensor. */
#include "hf_t5.h"
#include "fsutil.h"
#include "hf_common.h"
#include "safetensors.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARED "shared.weight"
#define LM_HEAD "lm_head.weight"
/* transformers' _keys_to_ignore_on_load_unexpected: a bias table old checkpoints carry */
#define IGNORED "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"
#define FF_SUPPORTED                                                                               \
    "ringtune's T5 supports \"relu\" (T5 v1.0) and \"gated-gelu\" (a gated gelu_new, T5 v1.1 / "   \
    "flan-t5; any gated tanh GELU: " RT_HF_TANH_GELU_LIST ")"

/* ---- config.json ---- */

/* feed_forward_proj's form, as T5Config.validate_architecture checks it: "ACT" or "gated-ACT".
 *gated and *act as __post_init__ derives them ("gated-gelu" means gelu_new). */
static rt_status ff_split(const char *path, const char *proj, int *gated, const char **act) {
    const char *dash = strchr(proj, '-');
    if (dash && (dash - proj != 5 || strncmp(proj, "gated", 5) != 0 || strchr(dash + 1, '-')))
        return rt_error(RT_ERR_ARG,
                        "%s: field 'feed_forward_proj' is \"%.60s\", which transformers refuses: "
                        "expected \"ACT\" or \"gated-ACT\"; " FF_SUPPORTED,
                        path, proj);
    *gated = dash ? 1 : strcmp(proj, "gated") == 0;
    *act = dash ? dash + 1 : proj;
    if (strcmp(proj, "gated-gelu") == 0) *act = "gelu_new";
    return RT_OK;
}

/* A string field, left alone when absent. */
static rt_status cfg_string(const char *path, json_t *root, const char *key, const char **dst) {
    json_t *v = json_object_get(root, key);
    char fb[128];
    if (!v) return RT_OK;
    if (!json_is_string(v))
        return rt_error(RT_ERR_FORMAT, "%s: field '%s' is %s, expected a string", path, key,
                        rt_hf_json_found(v, fb, sizeof fb));
    *dst = json_string_value(v);
    return RT_OK;
}

/* The feed-forward: feed_forward_proj, then the saved dense_act_fn / is_gated_act over it. */
static rt_status cfg_ff(const char *path, json_t *root, rt_t5_ff *ff) {
    const char *proj = "relu", *act = NULL;
    int gated = 0;
    RT_CALL(cfg_string(path, root, "feed_forward_proj", &proj));
    RT_CALL(ff_split(path, proj, &gated, &act));
    RT_CALL(cfg_string(path, root, "dense_act_fn", &act));
    RT_CALL(rt_hf_cfg_bool(path, root, "is_gated_act", 0, 0, &gated));
    if (!gated && strcmp(act, "relu") == 0) {
        *ff = RT_T5_FF_RELU;
        return RT_OK;
    }
    if (gated && rt_hf_is_tanh_gelu(act)) {
        *ff = RT_T5_FF_GATED_GELU;
        return RT_OK;
    }
    int saved = json_object_get(root, "dense_act_fn") || json_object_get(root, "is_gated_act");
    return rt_error(RT_ERR_ARG,
                    "%s: field 'feed_forward_proj' is \"%.60s\"%s: a %s feed-forward with "
                    "activation \"%.60s\"; " FF_SUPPORTED,
                    path, proj,
                    saved ? " (with the saved dense_act_fn / is_gated_act, which transformers "
                            "applies over it)"
                          : "",
                    gated ? "gated" : "plain", act);
}

/* num_decoder_layers absent or null: num_layers, copied before transformers applies the alias
   num_hidden_layers (so {"num_hidden_layers": 3} is 3 encoder and 6 decoder blocks). */
static rt_status cfg_layers(const char *path, json_t *root, rt_t5_config *cfg) {
    RT_CALL(rt_hf_cfg_int(path, root, "num_layers", &cfg->num_layers, 0, 0));
    json_t *v = json_object_get(root, "num_decoder_layers");
    cfg->num_decoder_layers = cfg->num_layers;
    if (v && !json_is_null(v))
        RT_CALL(rt_hf_cfg_int(path, root, "num_decoder_layers", &cfg->num_decoder_layers, 0, 0));
    return rt_hf_cfg_int(path, root, "num_hidden_layers", &cfg->num_layers, 0, 0);
}

/* T5Config.__post_init__: scale_decoder_outputs = (tie_word_embeddings is not False), unless
   config.json has the key, which transformers sets afterwards (its truth value counts). */
static rt_status cfg_tie_scale(const char *path, json_t *root, rt_t5_config *cfg) {
    RT_CALL(rt_hf_cfg_bool(path, root, "tie_word_embeddings", 1, 1, &cfg->tie_word_embeddings));
    cfg->scale_decoder_outputs = cfg->tie_word_embeddings;
    return rt_hf_cfg_bool(path, root, "scale_decoder_outputs", 1, 0, &cfg->scale_decoder_outputs);
}

/* pad_token_id / decoder_start_token_id: an integer; null is refused (transformers' _shift_right
   refuses it too, and the decoder input starts with these ids). */
static rt_status cfg_needed_id(const char *path, json_t *root, const char *key, int *dst) {
    if (json_is_null(json_object_get(root, key)))
        return rt_error(RT_ERR_ARG,
                        "%s: field '%s' is null; ringtune's T5 needs an id (the decoder input is "
                        "the labels shifted right after decoder_start_token_id, padded with "
                        "pad_token_id; transformers' _shift_right refuses null as well)",
                        path, key);
    return rt_hf_cfg_int(path, root, key, dst, 0, 0);
}

static rt_status parse_config(const char *path, json_t *root, rt_t5_config *cfg) {
    RT_CALL(rt_hf_cfg_model_type(path, root, "t5"));
    RT_CALL(
        rt_hf_cfg_bool_must(path, root, "is_encoder_decoder", 1, "T5", "an encoder and a decoder"));
    rt_t5_config_default(cfg); /* T5Config's defaults */
    RT_CALL(rt_hf_cfg_int(path, root, "vocab_size", &cfg->vocab_size, 0, 0));
    RT_CALL(rt_hf_cfg_int_alias(path, root, "d_model", "hidden_size", &cfg->d_model));
    RT_CALL(rt_hf_cfg_int_alias(path, root, "d_kv", "head_dim", &cfg->d_kv));
    RT_CALL(rt_hf_cfg_int(path, root, "d_ff", &cfg->d_ff, 0, 0));
    RT_CALL(cfg_layers(path, root, cfg));
    RT_CALL(rt_hf_cfg_int_alias(path, root, "num_heads", "num_attention_heads", &cfg->num_heads));
    RT_CALL(rt_hf_cfg_int(path, root, "relative_attention_num_buckets",
                          &cfg->relative_attention_num_buckets, 0, 0));
    RT_CALL(rt_hf_cfg_int(path, root, "relative_attention_max_distance",
                          &cfg->relative_attention_max_distance, 0, 0));
    RT_CALL(rt_hf_cfg_float(path, root, "dropout_rate", &cfg->dropout_rate));
    RT_CALL(rt_hf_cfg_float(path, root, "layer_norm_epsilon", &cfg->layer_norm_epsilon));
    RT_CALL(rt_hf_cfg_float(path, root, "initializer_factor", &cfg->initializer_factor));
    RT_CALL(cfg_ff(path, root, &cfg->ff));
    RT_CALL(cfg_tie_scale(path, root, cfg));
    RT_CALL(cfg_needed_id(path, root, "pad_token_id", &cfg->pad_token_id));
    RT_CALL(rt_hf_cfg_token_id(path, root, "eos_token_id", 1, &cfg->eos_token_id));
    return cfg_needed_id(path, root, "decoder_start_token_id", &cfg->decoder_start_token_id);
}

rt_status rt_hf_t5_read_config(const char *dir, rt_t5_config *cfg) {
    char *path = rt_fs_join(dir, "config.json");
    if (!path) return rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    json_t *root = NULL;
    rt_status s = rt_hf_json_read(path, &root);
    rt_t5_config c;
    if (s == RT_OK) s = parse_config(path, root, &c);
    if (s == RT_OK) s = rt_hf_in_file(rt_t5_config_validate(&c), path);
    if (s == RT_OK) *cfg = c;
    json_decref(root);
    free(path);
    return s;
}

/* ---- weights ---- */

/* The stored names of the one token embedding, in the order transformers' tying falls back on
   them when shared.weight is absent (T5ForConditionalGeneration._tied_weights_keys). */
enum { EMB_SHARED, EMB_ENCODER, EMB_DECODER, EMB_HEAD, N_EMB };
static const char *const EMB_NAMES[N_EMB] = {SHARED, "encoder.embed_tokens.weight",
                                             "decoder.embed_tokens.weight", LM_HEAD};

typedef struct {
    const rt_hf_source *stored[N_EMB]; /* NULL when absent */
    const rt_hf_source *shared;        /* what shared.weight is loaded from */
    int untied;                        /* lm_head.weight stored, and different */
} emb_plan;

/* The first element where a and b (same shape, float) differ, or -1 (torch.equal: by value). */
static long long first_difference(const rt_st_tensor *a, const rt_st_tensor *b) {
    for (size_t i = 0; i < a->numel; i++)
        if (!(rt_hf_elem_f32(a, i) == rt_hf_elem_f32(b, i))) return (long long)i;
    return -1;
}

static rt_status alias_differs(const rt_hf_source *alias, const rt_hf_source *shared,
                               long long at) {
    return rt_error(RT_ERR_FORMAT,
                    "%s: tensor '%s' differs from '%s' (in %s) at element %lld (%g vs %g): "
                    "ringtune's T5 has one token embedding for the encoder, the decoder and a "
                    "tied head; transformers would give this stack an embedding of its own",
                    rt_st_path(alias->f), alias->name, shared->name, rt_st_path(shared->f), at,
                    (double)rt_hf_elem_f32(alias->t, (size_t)at),
                    (double)rt_hf_elem_f32(shared->t, (size_t)at));
}

/* Where shared.weight comes from and whether the head is untied (see rt_hf_t5_load). */
static rt_status plan_embeddings(const rt_hf_ckpt *c, const rt_t5_config *cfg, emb_plan *p) {
    const int64_t shape[2] = {cfg->vocab_size, cfg->d_model};
    char a[64];
    memset(p, 0, sizeof *p);
    for (int k = 0; k < N_EMB; k++) {
        p->stored[k] = rt_hf_ckpt_find(c, EMB_NAMES[k]);
        if (p->stored[k]) RT_CALL(rt_hf_check_tensor(p->stored[k], 2, shape));
        if (p->stored[k] && !p->shared) p->shared = p->stored[k];
    }
    if (!p->shared)
        return rt_error(RT_ERR_FORMAT,
                        "%s: missing tensor '" SHARED "' (shape %s; also looked for "
                        "'encoder.embed_tokens.weight', 'decoder.embed_tokens.weight' and "
                        "'" LM_HEAD "')",
                        c->desc, rt_hf_fmt_shape(a, sizeof a, 2, shape));
    for (int k = EMB_ENCODER; k <= EMB_DECODER; k++) {
        const rt_hf_source *s = p->stored[k];
        long long at = s && s != p->shared ? first_difference(s->t, p->shared->t) : -1;
        if (at >= 0) return alias_differs(s, p->shared, at);
    }
    const rt_hf_source *head = p->stored[EMB_HEAD];
    p->untied = head && head != p->shared && first_difference(head->t, p->shared->t) >= 0;
    return RT_OK;
}

static int known_name(const rt_tensor_table *tab, const char *name) {
    for (int k = 0; k < N_EMB; k++)
        if (strcmp(name, EMB_NAMES[k]) == 0) return 1;
    return strcmp(name, IGNORED) == 0 || rt_table_find(tab, name) >= 0;
}

static rt_status check_unexpected(rt_t5 *m, const rt_hf_ckpt *c) {
    const rt_t5_config *cfg = rt_t5_cfg(m);
    for (int i = 0; i < c->n_src; i++)
        if (!known_name(rt_t5_table(m), c->src[i].name))
            return rt_error(RT_ERR_FORMAT,
                            "%s: unexpected tensor '%s': not part of the T5 config.json describes "
                            "(num_layers %d, num_decoder_layers %d, %s feed-forward)",
                            rt_st_path(c->src[i].f), c->src[i].name, cfg->num_layers,
                            cfg->num_decoder_layers,
                            cfg->ff == RT_T5_FF_RELU ? "relu" : "gated-gelu");
    return RT_OK;
}

static rt_status load_table(rt_t5 *m, const rt_hf_ckpt *c, const emb_plan *p) {
    const rt_tensor_table *tab = rt_t5_table(m);
    float *params = rt_t5_params(m);
    char a[128];
    for (int i = 0; i < tab->n; i++) {
        const rt_tensor_info *ti = &tab->t[i];
        const rt_hf_source *s = strcmp(ti->name, SHARED) == 0    ? p->shared
                                : strcmp(ti->name, LM_HEAD) == 0 ? p->stored[EMB_HEAD]
                                                                 : rt_hf_ckpt_find(c, ti->name);
        if (!s)
            return rt_error(RT_ERR_FORMAT, "%s: missing tensor '%s' (shape %s)", c->desc, ti->name,
                            rt_hf_fmt_shape(a, sizeof a, ti->ndim, ti->shape));
        RT_CALL(rt_hf_load_tensor(s, ti->ndim, ti->shape, params + ti->offset));
    }
    return RT_OK;
}

rt_status rt_hf_t5_load(const char *dir, rt_t5 **out) {
    *out = NULL;
    rt_t5_config cfg;
    RT_CALL(rt_hf_t5_read_config(dir, &cfg));
    rt_hf_ckpt c = {0};
    emb_plan p;
    rt_t5 *m = NULL;
    rt_status s = rt_hf_ckpt_open(dir, &c);
    if (s == RT_OK) s = plan_embeddings(&c, &cfg, &p);
    if (s == RT_OK) {
        cfg.tie_word_embeddings = !p.untied;
        s = rt_t5_create(&m, &cfg);
    }
    if (s == RT_OK) s = check_unexpected(m, &c);
    if (s == RT_OK) s = load_table(m, &c, &p);
    rt_hf_ckpt_close(&c);
    if (s != RT_OK) {
        rt_t5_destroy(&m);
        return s;
    }
    *out = m;
    return RT_OK;
}

/* ---- save ---- */

static rt_status save_weights(rt_t5 *m, const char *dir) {
    char *path = rt_fs_join(dir, "model.safetensors");
    rt_st_writer *w = NULL;
    rt_status s =
        path ? rt_st_writer_create(&w) : rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    const rt_tensor_table *tab = rt_t5_table(m);
    const float *params = rt_t5_params(m);
    for (int i = 0; i < tab->n && s == RT_OK; i++)
        s = rt_st_writer_add(w, tab->t[i].name, RT_ST_F32, tab->t[i].ndim, tab->t[i].shape,
                             params + tab->t[i].offset);
    if (s == RT_OK) s = rt_st_writer_write(w, path, NULL, NULL, 0); /* format: pt */
    rt_st_writer_destroy(&w);
    free(path);
    return s;
}

/* The architecture fields of config.json; bad collects jansson's failures. */
static void config_shape(json_t *r, const rt_t5_config *c, int *bad) {
    int gated = c->ff == RT_T5_FF_GATED_GELU;
    *bad |= json_object_set_new(r, "vocab_size", json_integer(c->vocab_size));
    *bad |= json_object_set_new(r, "d_model", json_integer(c->d_model));
    *bad |= json_object_set_new(r, "d_kv", json_integer(c->d_kv));
    *bad |= json_object_set_new(r, "d_ff", json_integer(c->d_ff));
    *bad |= json_object_set_new(r, "num_layers", json_integer(c->num_layers));
    *bad |= json_object_set_new(r, "num_decoder_layers", json_integer(c->num_decoder_layers));
    *bad |= json_object_set_new(r, "num_heads", json_integer(c->num_heads));
    *bad |= json_object_set_new(r, "relative_attention_num_buckets",
                                json_integer(c->relative_attention_num_buckets));
    *bad |= json_object_set_new(r, "relative_attention_max_distance",
                                json_integer(c->relative_attention_max_distance));
    *bad |= json_object_set_new(r, "feed_forward_proj", json_string(gated ? "gated-gelu" : "relu"));
    *bad |= json_object_set_new(r, "dense_act_fn", json_string(gated ? "gelu_new" : "relu"));
    *bad |= json_object_set_new(r, "is_gated_act", json_boolean(gated));
    *bad |= json_object_set_new(r, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    *bad |= json_object_set_new(r, "scale_decoder_outputs", json_boolean(c->scale_decoder_outputs));
    *bad |= json_object_set_new(r, "is_encoder_decoder", json_true());
    *bad |= json_object_set_new(r, "is_decoder", json_false());
}

/* The token ids, as config.json and generation_config.json both carry them. */
static void config_ids(json_t *r, const rt_t5_config *c, int *bad) {
    *bad |= json_object_set_new(r, "pad_token_id", json_integer(c->pad_token_id));
    *bad |= json_object_set_new(r, "eos_token_id", rt_hf_json_id(c->eos_token_id));
    *bad |=
        json_object_set_new(r, "decoder_start_token_id", json_integer(c->decoder_start_token_id));
    *bad |= json_object_set_new(r, "use_cache", json_true());
}

/* config.json's object (new reference), or NULL when out of memory. */
static json_t *config_json(const rt_t5_config *c) {
    json_t *r = json_object();
    json_t *arch = json_array();
    int bad = !r || !arch || json_array_append_new(arch, json_string("T5ForConditionalGeneration"));
    if (!bad) {
        bad |= json_object_set(r, "architectures", arch);
        bad |= json_object_set_new(r, "model_type", json_string("t5"));
        config_shape(r, c, &bad);
        config_ids(r, c, &bad);
        bad |= json_object_set_new(r, "dropout_rate", rt_hf_json_float(c->dropout_rate));
        bad |=
            json_object_set_new(r, "layer_norm_epsilon", rt_hf_json_float(c->layer_norm_epsilon));
        bad |=
            json_object_set_new(r, "initializer_factor", rt_hf_json_float(c->initializer_factor));
        bad |= json_object_set_new(r, "classifier_dropout", json_real(0.0));
        bad |= json_object_set_new(r, "dtype", json_string("float32"));
    }
    json_decref(arch);
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* generation_config.json as save_pretrained derives it from the model config. */
static json_t *generation_json(const rt_t5_config *c) {
    json_t *r = json_object();
    int bad = !r;
    if (!bad) {
        bad |= json_object_set_new(r, "_from_model_config", json_true());
        config_ids(r, c, &bad);
        bad |= json_object_set_new(r, "output_attentions", json_false());
        bad |= json_object_set_new(r, "output_hidden_states", json_false());
    }
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* Writes r (consumed; NULL means building it ran out of memory) to dir/name. */
static rt_status save_json(const char *dir, const char *name, json_t *r) {
    char *path = rt_fs_join(dir, name);
    rt_status s = !path || !r
                      ? rt_error(RT_ERR_MEMORY, "%s/%s: out of memory building the file", dir, name)
                      : rt_hf_write_json(path, r);
    json_decref(r);
    free(path);
    return s;
}

rt_status rt_hf_t5_save(const rt_t5 *cm, const char *dir) {
    /* the table accessors take a non-const model; nothing here writes to it */
    rt_t5 *m = (rt_t5 *)cm;
    const rt_t5_config *c = rt_t5_cfg(m);
    RT_CALL(rt_fs_mkdir_p(dir));
    RT_CALL(save_weights(m, dir));
    RT_CALL(save_json(dir, "config.json", config_json(c)));
    return save_json(dir, "generation_config.json", generation_json(c));
}
