/* T5's entry of the model registry (io/model_registry.h): Hugging Face import/export through
   io/hf_t5.h and the manifest's T5Config. Not collective. */
#include <stdlib.h>
#include <string.h>
#include "ckpt.h"
#include "hf_t5.h"
#include "model_registry.h"
#include "model_t5.h"

static rt_status t5_load_hf(const char *dir, rt_model **out) {
    rt_t5 *t;
    RT_CALL(rt_hf_t5_load(dir, &t));
    return rt_model_t5_wrap(t, out);
}

static rt_status t5_config_hf(const char *dir, rt_model **out) {
    rt_t5_config c;
    RT_CALL(rt_hf_t5_read_config(dir, &c));
    rt_t5 *t;
    RT_CALL(rt_t5_create(&t, &c));
    return rt_model_t5_wrap(t, out);
}

static rt_status t5_save_hf(const rt_model *m, const char *dir) {
    if (m->head->uses_output_embedding == 0)
        return rt_error(RT_ERR_ARG,
                        "export of T5 with a \"%s\" head is not supported (only the "
                        "language-model head of T5ForConditionalGeneration)",
                        m->head->kind);
    return rt_hf_t5_save(rt_model_t5(m), dir);
}

/* Nothing in a T5 config loads but looks wrong (its token ids are checked when used). */
static void t5_warn_hf(const char *model_path, const rt_model *m, FILE *log) {
    (void)model_path;
    (void)m;
    (void)log;
}

static const char *ff_name(rt_t5_ff ff) {
    return ff == RT_T5_FF_GATED_GELU ? "gated-gelu" : "relu";
}

static void t5_to_manifest(const rt_model *m, rt_manifest_model *store) {
    const rt_t5_config *c = rt_t5_cfg(rt_model_t5(m));
    Ringtune__T5Config *p = &store->t5;
    ringtune__t5_config__init(p);
    p->vocab_size = c->vocab_size;
    p->d_model = c->d_model;
    p->d_kv = c->d_kv;
    p->d_ff = c->d_ff;
    p->num_layers = c->num_layers;
    p->num_decoder_layers = c->num_decoder_layers;
    p->num_heads = c->num_heads;
    p->relative_attention_num_buckets = c->relative_attention_num_buckets;
    p->relative_attention_max_distance = c->relative_attention_max_distance;
    p->layer_norm_epsilon = c->layer_norm_epsilon;
    p->dropout_rate = c->dropout_rate;
    p->initializer_factor = c->initializer_factor;
    p->feed_forward_proj = (char *)ff_name(c->ff);
    p->tie_word_embeddings = c->tie_word_embeddings != 0;
    p->scale_decoder_outputs = c->scale_decoder_outputs != 0;
    p->pad_token_id = c->pad_token_id;
    p->eos_token_id = c->eos_token_id;
    p->decoder_start_token_id = c->decoder_start_token_id;
    store->desc.arch_case = RINGTUNE__MODEL_DESC__ARCH_T5;
    store->desc.t5 = p;
}

/* The manifest's T5Config as a config (RT_ERR_FORMAT naming dir when absent or invalid). */
static rt_status config_of(const char *dir, const Ringtune__Manifest *man, rt_t5_config *c) {
    const Ringtune__ModelDesc *d = man->model_desc;
    if (!d || d->arch_case != RINGTUNE__MODEL_DESC__ARCH_T5 || !d->t5)
        return rt_error(RT_ERR_FORMAT,
                        "%s/%s: architecture \"t5\" without its model_desc.t5 fields", dir,
                        RT_CKPT_MANIFEST);
    const Ringtune__T5Config *p = d->t5;
    rt_t5_config_default(c);
    c->vocab_size = p->vocab_size;
    c->d_model = p->d_model;
    c->d_kv = p->d_kv;
    c->d_ff = p->d_ff;
    c->num_layers = p->num_layers;
    c->num_decoder_layers = p->num_decoder_layers;
    c->num_heads = p->num_heads;
    c->relative_attention_num_buckets = p->relative_attention_num_buckets;
    c->relative_attention_max_distance = p->relative_attention_max_distance;
    c->layer_norm_epsilon = p->layer_norm_epsilon;
    c->dropout_rate = p->dropout_rate;
    c->initializer_factor = p->initializer_factor;
    if (!p->feed_forward_proj ||
        (strcmp(p->feed_forward_proj, "relu") && strcmp(p->feed_forward_proj, "gated-gelu")))
        return rt_error(
            RT_ERR_FORMAT,
            "%s/%s: t5.feed_forward_proj is \"%s\", expected \"relu\" or \"gated-gelu\"", dir,
            RT_CKPT_MANIFEST, p->feed_forward_proj ? p->feed_forward_proj : "");
    c->ff = strcmp(p->feed_forward_proj, "relu") ? RT_T5_FF_GATED_GELU : RT_T5_FF_RELU;
    c->tie_word_embeddings = p->tie_word_embeddings;
    c->scale_decoder_outputs = p->scale_decoder_outputs;
    c->pad_token_id = p->pad_token_id;
    c->eos_token_id = p->eos_token_id;
    c->decoder_start_token_id = p->decoder_start_token_id;
    if (rt_t5_config_validate(c) != RT_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", rt_error_message());
        return rt_error(RT_ERR_FORMAT, "%s/%s: model: %s", dir, RT_CKPT_MANIFEST, msg);
    }
    return RT_OK;
}

static rt_status t5_from_manifest(const char *dir, const Ringtune__Manifest *man,
                                  const rt_head_codec *head, rt_model **out) {
    *out = NULL;
    if (head->extend)
        return rt_error(RT_ERR_FORMAT, "%s/%s: task head \"%s\" is not supported for T5", dir,
                        RT_CKPT_MANIFEST, head->kind);
    rt_t5_config c;
    RT_CALL(config_of(dir, man, &c));
    RT_CALL(rt_ckpt_check_files(dir, man));
    size_t np = 0; /* nothing is allocated from an unchecked size */
    RT_CALL(rt_t5_config_num_params(&c, &np));
    if (np != man->total_params)
        return rt_error(RT_ERR_FORMAT,
                        "%s/%s: the model config implies %zu parameters, total_params is %llu", dir,
                        RT_CKPT_MANIFEST, np, (unsigned long long)man->total_params);
    rt_t5 *t;
    RT_CALL(rt_t5_create(&t, &c));
    rt_status st = rt_ckpt_check_table(dir, man, rt_t5_table(t));
    if (st != RT_OK) {
        rt_t5_destroy(&t);
        return st;
    }
    RT_CALL(rt_model_t5_wrap(t, out));
    st = head->attach(*out, man);
    if (st != RT_OK) rt_model_destroy(out);
    return st;
}

static rt_status t5_check_manifest(const char *dir, const Ringtune__Manifest *man,
                                   const rt_model *m, const char *model_path) {
    const rt_t5_config *c = rt_t5_cfg(rt_model_t5(m));
    rt_t5_config s;
    RT_CALL(config_of(dir, man, &s));
#define FIELD(f)                                                                                   \
    if (c->f != s.f)                                                                               \
        return rt_error(RT_ERR_ARG,                                                                \
                        "%s: model config %s is %g in the checkpoint but %g in the model "         \
                        "(model.path %s): not the same architecture",                              \
                        dir, #f, (double)s.f, (double)c->f, model_path);
    FIELD(vocab_size);
    FIELD(d_model);
    FIELD(d_kv);
    FIELD(d_ff);
    FIELD(num_layers);
    FIELD(num_decoder_layers);
    FIELD(num_heads);
    FIELD(relative_attention_num_buckets);
    FIELD(relative_attention_max_distance);
    FIELD(layer_norm_epsilon);
    FIELD(ff);
    FIELD(tie_word_embeddings);
    FIELD(scale_decoder_outputs);
#undef FIELD
    return RT_OK;
}

const rt_model_codec rt_t5_codec = {"t5",
                                    "",
                                    NULL,
                                    t5_load_hf,
                                    t5_config_hf,
                                    t5_save_hf,
                                    t5_warn_hf,
                                    t5_to_manifest,
                                    t5_from_manifest,
                                    NULL,
                                    t5_check_manifest};
