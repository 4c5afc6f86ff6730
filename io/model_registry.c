/* The model registry (io/model_registry.h) and its GPT-2 entry. */
#include "model_registry.h"
#include "model_lora.h"
#include "peft.h"
#include "safetensors.h"
#include "hf_common.h"
#include "ckpt.h"
#include "fsutil.h"
#include "head_lm.h"
#include "head_seqcls.h"
#include "hf_gpt2.h"
#include "model_gpt2.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- GPT-2 ---------------------------------------------------------------------------------- */

static rt_status gpt2_load_hf(const char *dir, rt_model **out) {
    rt_gpt2 *g;
    RT_CALL(rt_hf_gpt2_load(dir, &g));
    return rt_model_gpt2_wrap(g, out);
}

static rt_status gpt2_config_hf(const char *dir, rt_model **out) {
    rt_gpt2_config c;
    RT_CALL(rt_hf_gpt2_read_config(dir, &c));
    rt_gpt2 *g;
    RT_CALL(rt_gpt2_create(&g, &c));
    return rt_model_gpt2_wrap(g, out);
}

static rt_status gpt2_load_hf_seqcls(const char *dir, const rt_hf_seqcls_options *opt, FILE *log,
                                     rt_model **out) {
    rt_hf_gpt2_seqcls *sc;
    RT_CALL(rt_hf_gpt2_seqcls_load(dir, opt, log, &sc));
    rt_gpt2 *g = sc->body;
    sc->body = NULL; /* the model takes the body (and the score in its arena) */
    rt_status st = rt_model_gpt2_wrap(g, out);
    if (st == RT_OK) {
        const rt_hf_seqcls_config *c = &sc->cfg;
        st = rt_head_seqcls_attach(*out, c->num_labels, (const char *const *)c->id2label,
                                   rt_hf_seqcls_pool_pad(c), sc->score_index);
        if (st != RT_OK) rt_model_destroy(out);
    }
    rt_hf_gpt2_seqcls_destroy(&sc);
    return st;
}

static rt_status gpt2_save_hf(const rt_model *m, const char *dir) {
    rt_gpt2 *g = rt_model_gpt2(m);
    if (m->head != &rt_head_seqcls_ops) return rt_hf_gpt2_save(g, dir);
    int K = rt_head_seqcls_num_labels(m), pad = rt_head_seqcls_pad(m);
    const char *names[K];
    for (int k = 0; k < K; k++) names[k] = rt_head_seqcls_label(m, k);
    /* the pooling pad back to config.json's: INT32_MAX stood for a negative id (none matches) */
    rt_hf_gpt2_seqcls view = {.body = g,
                              .score = m->params_mem + m->params->t[m->params->n - 1].offset,
                              .score_index = m->params->n - 1,
                              .cfg = {K, pad >= 0, pad == INT32_MAX ? -1 : pad, (char **)names}};
    return rt_hf_gpt2_seqcls_save(&view, dir);
}

static void gpt2_warn_hf(const char *model_path, const rt_model *m, FILE *log) {
    rt_hf_gpt2_warn_config(model_path, &rt_model_gpt2(m)->cfg, log);
}

static void gpt2_to_manifest(const rt_model *m, rt_manifest_model *store) {
    const rt_gpt2_config *c = &rt_model_gpt2(m)->cfg;
    rt_ckpt_model_config_to_proto(c, &store->legacy);
    rt_ckpt_gpt2_config_to_proto(c, &store->gpt2);
    store->desc.arch_case = RINGTUNE__MODEL_DESC__ARCH_GPT2;
    store->desc.gpt2 = &store->gpt2;
}

static rt_status gpt2_from_manifest(const char *dir, const Ringtune__Manifest *man,
                                    const rt_head_codec *head, rt_model **out) {
    rt_gpt2 *g;
    RT_CALL(rt_ckpt_model_for_ext(dir, man, head->extend, (void *)man, &g));
    RT_CALL(rt_model_gpt2_wrap(g, out));
    rt_status st = head->attach(*out, man);
    if (st != RT_OK) rt_model_destroy(out);
    return st;
}

static rt_status gpt2_check_manifest(const char *dir, const Ringtune__Manifest *man,
                                     const rt_model *m, const char *model_path) {
    const rt_gpt2_config *c = &rt_model_gpt2(m)->cfg;
    rt_gpt2_config stored;
    rt_ckpt_model_config(man, &stored);
    const rt_gpt2_config *p = &stored;
#define FIELD(a, b, name)                                                                          \
    if ((a) != (b))                                                                                \
        return rt_error(RT_ERR_ARG,                                                                \
                        "%s: model config %s is %lld in the checkpoint but %lld in the model "     \
                        "(model.path %s): not the same architecture",                              \
                        dir, name, (long long)(b), (long long)(a), model_path);
    FIELD(c->vocab_size, p->vocab_size, "vocab_size");
    FIELD(c->n_positions, p->n_positions, "n_positions");
    FIELD(c->n_embd, p->n_embd, "n_embd");
    FIELD(c->n_layer, p->n_layer, "n_layer");
    FIELD(c->n_head, p->n_head, "n_head");
    FIELD(c->n_inner, p->n_inner, "n_inner");
    FIELD(c->tie_word_embeddings, (int)p->tie_word_embeddings, "tie_word_embeddings");
#undef FIELD
    if (c->layer_norm_epsilon != p->layer_norm_epsilon)
        return rt_error(RT_ERR_ARG,
                        "%s: model config layer_norm_epsilon is %g in the checkpoint "
                        "but %g in the model",
                        dir, (double)p->layer_norm_epsilon, (double)c->layer_norm_epsilon);
    return RT_OK;
}

/* ---- heads ---------------------------------------------------------------------------------- */

static void lm_to_manifest(const rt_model *m, rt_manifest_model *store) {
    (void)m;
    store->desc.task_head_case = RINGTUNE__MODEL_DESC__TASK_HEAD_LM;
    store->desc.lm = &store->lm;
}

static rt_status lm_check_manifest(const char *dir, const Ringtune__Manifest *man) {
    (void)dir;
    (void)man;
    return RT_OK;
}

static rt_status lm_attach(rt_model *m, const Ringtune__Manifest *man) {
    (void)man;
    rt_model_set_head(m, &rt_head_lm_ops);
    return RT_OK;
}

#define RT_SEQCLS_MAX_LABELS 65536

static void seqcls_to_manifest(const rt_model *m, rt_manifest_model *store) {
    Ringtune__SeqClsHead *h = &store->seqcls;
    int K = rt_head_seqcls_num_labels(m), pad = rt_head_seqcls_pad(m);
    h->num_labels = K;
    h->n_label_names = (size_t)K;
    h->label_names = store->label_names;
    for (int k = 0; k < K && k < RT_MANIFEST_MAX_LABEL_NAMES; k++)
        store->label_names[k] = (char *)rt_head_seqcls_label(m, k);
    if (K > RT_MANIFEST_MAX_LABEL_NAMES) h->n_label_names = 0; /* LABEL_<i> on reading */
    h->pad_token_id = pad < 0 ? -1 : pad;
    store->desc.task_head_case = RINGTUNE__MODEL_DESC__TASK_HEAD_SEQCLS;
    store->desc.seqcls = h;
}

static const Ringtune__SeqClsHead *seqcls_of(const Ringtune__Manifest *man) {
    const Ringtune__ModelDesc *d = man->model_desc;
    return d && d->task_head_case == RINGTUNE__MODEL_DESC__TASK_HEAD_SEQCLS ? d->seqcls : NULL;
}

static rt_status seqcls_check_manifest(const char *dir, const Ringtune__Manifest *man) {
    const Ringtune__SeqClsHead *h = seqcls_of(man);
    if (!h)
        return rt_error(RT_ERR_FORMAT,
                        "%s/%s: head \"seqcls\" without its model_desc.seqcls fields", dir,
                        RT_CKPT_MANIFEST);
    if (h->num_labels < 2 || h->num_labels > RT_SEQCLS_MAX_LABELS)
        return rt_error(RT_ERR_FORMAT, "%s/%s: seqcls.num_labels is %d, expected 2 to %d", dir,
                        RT_CKPT_MANIFEST, h->num_labels, RT_SEQCLS_MAX_LABELS);
    if (h->n_label_names && h->n_label_names != (size_t)h->num_labels)
        return rt_error(RT_ERR_FORMAT,
                        "%s/%s: seqcls.label_names has %zu names for num_labels %d (expected "
                        "one per label, or none)",
                        dir, RT_CKPT_MANIFEST, h->n_label_names, h->num_labels);
    if (h->pad_token_id < -1)
        return rt_error(RT_ERR_FORMAT,
                        "%s/%s: seqcls.pad_token_id is %d, expected -1 (none) or an id", dir,
                        RT_CKPT_MANIFEST, h->pad_token_id);
    return RT_OK;
}

static int seqcls_extend(void *man, rt_tensor_table *tab) {
    const Ringtune__Manifest *m = man;
    return rt_seqcls_table_add(tab, seqcls_of(m)->num_labels,
                               m->model_desc->gpt2 ? m->model_desc->gpt2->n_embd
                                                   : m->model->n_embd) >= 0;
}

static rt_status seqcls_attach(rt_model *m, const Ringtune__Manifest *man) {
    const Ringtune__SeqClsHead *h = seqcls_of(man);
    return rt_head_seqcls_attach(m, h->num_labels,
                                 h->n_label_names ? (const char *const *)h->label_names : NULL,
                                 h->pad_token_id, m->params->n - 1);
}

static const rt_head_codec HEADS[] = {
    {"lm", &rt_head_lm_ops, lm_to_manifest, lm_check_manifest, NULL, lm_attach},
    {"seqcls", &rt_head_seqcls_ops, seqcls_to_manifest, seqcls_check_manifest, seqcls_extend,
     seqcls_attach},
};
#define N_HEADS (sizeof HEADS / sizeof HEADS[0])

const rt_head_codec *rt_head_registry_find(const char *kind) {
    for (size_t i = 0; i < N_HEADS; i++)
        if (!strcmp(HEADS[i].kind, kind)) return &HEADS[i];
    return NULL;
}

static const char *const GPT2_TOP[] = {"lm_head.", "score.", NULL};
static const rt_model_codec GPT2 = {"gpt2",
                                    "transformer.",
                                    GPT2_TOP,
                                    gpt2_load_hf,
                                    gpt2_config_hf,
                                    gpt2_save_hf,
                                    gpt2_warn_hf,
                                    gpt2_to_manifest,
                                    gpt2_from_manifest,
                                    gpt2_load_hf_seqcls,
                                    gpt2_check_manifest};
extern const rt_model_codec rt_t5_codec; /* io/codec_t5.c */
static const rt_model_codec *const REGISTRY[] = {&GPT2, &rt_t5_codec};
#define N_REGISTRY (sizeof REGISTRY / sizeof REGISTRY[0])

/* ---- lookup --------------------------------------------------------------------------------- */

const rt_model_codec *rt_model_registry_find(const char *model_type) {
    for (size_t i = 0; i < N_REGISTRY; i++)
        if (!strcmp(REGISTRY[i]->model_type, model_type)) return REGISTRY[i];
    return NULL;
}

const char *rt_model_hf_name(const rt_model *m, const char *name, char *buf, size_t cap) {
    const rt_model_codec *c = rt_model_codec_of(m);
    const char *pre = c && c->hf_prefix ? c->hf_prefix : "";
    for (int i = 0; c && c->hf_top_level && c->hf_top_level[i]; i++)
        if (!strncmp(name, c->hf_top_level[i], strlen(c->hf_top_level[i]))) pre = "";
    snprintf(buf, cap, "%s%s", pre, name);
    return buf;
}

const rt_model_codec *rt_model_codec_of(const rt_model *m) {
    return rt_model_registry_find(m->ops->arch);
}

/* "\"gpt2\", \"t5\"" (the registry's names, for messages); heads: the head names. */
static const char *known(char *buf, size_t cap, int heads) {
    size_t u = 0, n = heads ? N_HEADS : N_REGISTRY;
    buf[0] = '\0';
    for (size_t i = 0; i < n && u < cap; i++)
        u += (size_t)snprintf(buf + u, cap - u, "%s\"%s\"", i ? ", " : "",
                              heads ? HEADS[i].kind : REGISTRY[i]->model_type);
    return buf;
}

/* A PEFT adapter directory (adapter_config.json and no config.json): 1, and its config in *pc
   (the caller frees it); 0 for anything else. */
static int adapter_dir(const char *dir, rt_peft_config *pc, rt_status *st) {
    *st = RT_OK;
    char *cfg = rt_fs_join(dir, "config.json"), *ad = rt_fs_join(dir, "adapter_config.json");
    int is = cfg && ad && !rt_fs_exists(cfg) && rt_fs_exists(ad);
    free(cfg);
    free(ad);
    if (!is) return 0;
    *st = rt_peft_read_config(dir, pc);
    if (*st == RT_OK && !pc->base_model) {
        rt_peft_config_free(pc);
        *st = rt_error(RT_ERR_FORMAT,
                       "%s/adapter_config.json: base_model_name_or_path is null: "
                       "which model the adapter is for is not said",
                       dir);
    }
    return 1;
}

/* The classes of a classifier's PEFT adapter: the rows of its saved score. */
static rt_status adapter_labels(const char *dir, int *K) {
    char *path = rt_fs_join(dir, "adapter_model.safetensors");
    rt_st_file *f = NULL;
    rt_status st = path ? rt_st_open(&f, path) : rt_error(RT_ERR_MEMORY, "out of memory");
    for (int i = 0; st == RT_OK && i < rt_st_count(f) && *K == 0; i++) {
        const rt_st_tensor *t = rt_st_get(f, i);
        size_t n = strlen(t->name), k = strlen(".score.weight");
        if (n >= k && !strcmp(t->name + n - k, ".score.weight") && t->ndim == 2)
            *K = (int)t->shape[0];
    }
    if (st == RT_OK && *K == 0)
        st = rt_error(RT_ERR_FORMAT, "%s: no score.weight: not the adapter of a classifier", path);
    rt_st_close(&f);
    free(path);
    return st;
}

/* The adapters of PEFT directory dir over base (ownership moves into *out). */
static rt_status adapter_wrap(const char *dir, rt_peft_config *pc, rt_model *base, rt_model **out) {
    rt_lora_spec sp;
    rt_peft_spec(pc, base, &sp);
    RT_CALL(rt_model_lora_create(base, &sp, 0, out));
    char *path = rt_fs_join(dir, "adapter_config.json"), *text = NULL;
    size_t n;
    rt_status st =
        path ? rt_fs_read_file(path, &text, &n) : rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK) st = rt_model_lora_set_config(*out, text);
    if (st == RT_OK) st = rt_peft_load_adapter(dir, *out);
    free(path);
    free(text);
    if (st != RT_OK) rt_model_destroy(out);
    return st;
}

rt_status rt_hf_model_type(const char *dir, char *buf, size_t cap) {
    rt_peft_config pc;
    rt_status ast;
    if (adapter_dir(dir, &pc, &ast)) { /* an adapter: its base's type */
        if (ast != RT_OK) return ast;
        ast = rt_hf_model_type(pc.base_model, buf, cap);
        rt_peft_config_free(&pc);
        return ast;
    }
    char *path = rt_fs_join(dir, "config.json");
    if (!path) return rt_error(RT_ERR_MEMORY, "out of memory");
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    rt_status st = RT_OK;
    buf[0] = '\0';
    if (!root) {
        st = rt_error(rt_fs_exists(path) ? RT_ERR_FORMAT : RT_ERR_IO, "%s: %s (line %d)", path,
                      je.text, je.line);
    } else {
        json_t *mt = json_object_get(root, "model_type");
        if (mt && !json_is_string(mt))
            st = rt_error(RT_ERR_FORMAT, "%s: field 'model_type' is not a string", path);
        else if (mt)
            snprintf(buf, cap, "%s", json_string_value(mt));
        json_decref(root);
    }
    free(path);
    return st;
}

static rt_status hf_codec(const char *dir, const rt_model_codec **out) {
    char mt[128], names[256];
    RT_CALL(rt_hf_model_type(dir, mt, sizeof mt));
    *out = rt_model_registry_find(mt[0] ? mt : "gpt2");
    if (!*out)
        return rt_error(RT_ERR_ARG,
                        "%s/config.json: model_type \"%s\" is not an architecture this build "
                        "knows (%s)",
                        dir, mt, known(names, sizeof names, 0));
    return RT_OK;
}

rt_status rt_hf_check_model_type(const char *dir) {
    const rt_model_codec *c;
    return hf_codec(dir, &c);
}

rt_status rt_model_load_hf(const char *dir, rt_model **out) {
    const rt_model_codec *c;
    *out = NULL;
    rt_peft_config pc;
    rt_status st;
    if (adapter_dir(dir, &pc, &st)) { /* a PEFT adapter: its base, then the adapters */
        rt_model *base = NULL;
        if (st == RT_OK) st = rt_model_load_hf(pc.base_model, &base);
        if (st == RT_OK) st = adapter_wrap(dir, &pc, base, out);
        rt_peft_config_free(&pc); /* a no-op after adapter_dir's failure */
        return st;
    }
    RT_CALL(hf_codec(dir, &c));
    return c->load_hf(dir, out);
}

rt_status rt_model_load_hf_seqcls(const char *dir, const rt_hf_seqcls_options *opt, FILE *log,
                                  rt_model **out) {
    const rt_model_codec *c;
    *out = NULL;
    RT_CALL(hf_codec(dir, &c));
    if (!c->load_hf_seqcls)
        return rt_error(RT_ERR_ARG, "%s: sequence classification is not implemented for %s", dir,
                        c->model_type);
    return c->load_hf_seqcls(dir, opt, log, out);
}

/* 1 when the config's names are transformers' defaults (LABEL_<i>): no classes named yet. */
static int default_names(const rt_hf_seqcls_config *c) {
    for (int k = 0; k < c->num_labels; k++) {
        char buf[32];
        snprintf(buf, sizeof buf, "LABEL_%d", k);
        if (strcmp(c->id2label[k], buf)) return 0;
    }
    return 1;
}

/* What from_pretrained(dir, num_labels=K, id2label=...) gets from a labeled corpus: its K and, when
   the directory names no classes, its names; a directory without a pad id pads with eos. */
static rt_status hf_options(const char *dir, int K, const char *const *names,
                            rt_hf_seqcls_options *o) {
    rt_hf_seqcls_config sc;
    RT_CALL(rt_hf_seqcls_read_config(dir, NULL, NULL, &sc));
    int named = !default_names(&sc), K0 = sc.num_labels, has_pad = sc.has_pad;
    rt_hf_seqcls_config_free(&sc);
    o->num_labels = K;
    o->labels = K && (!named || K != K0) ? names : NULL;
    o->pad_with_eos = !has_pad;
    return RT_OK;
}

rt_status rt_model_check_classifier(const rt_model *m, const char *path, int K,
                                    const char *const *names) {
    int mk = rt_head_seqcls_num_labels(m);
    if (mk < 2)
        return rt_error(RT_ERR_ARG, "%s: the model has no classification head (task head \"%s\")",
                        path, m->head->kind);
    if (K && mk != K)
        return rt_error(RT_ERR_ARG, "%s: the model classifies %d labels, the corpus has %d", path,
                        mk, K);
    for (int k = 0; K && names && k < K; k++)
        if (strcmp(rt_head_seqcls_label(m, k), names[k]))
            return rt_error(RT_ERR_ARG,
                            "%s: label %d is \"%s\" in the model but \"%s\" in the corpus: the "
                            "ids would not mean the same classes (re-run prep with --labels in "
                            "the model's order)",
                            path, k, rt_head_seqcls_label(m, k), names[k]);
    return RT_OK;
}

rt_status rt_model_load_hf_classifier(const char *dir, int K, const char *const *names,
                                      uint64_t seed, FILE *log, rt_model **out) {
    *out = NULL;
    rt_peft_config pc;
    rt_status ast;
    if (adapter_dir(dir, &pc, &ast)) { /* a PEFT adapter of a classifier (its score saved) */
        rt_model *base = NULL;
        if (ast == RT_OK && K == 0) ast = adapter_labels(dir, &K);
        /* the base's notices (a fresh score) would mislead: the adapter holds the score */
        (void)log;
        if (ast == RT_OK)
            ast = rt_model_load_hf_classifier(pc.base_model, K, names, seed, NULL, &base);
        if (ast == RT_OK) ast = adapter_wrap(dir, &pc, base, out);
        rt_peft_config_free(&pc);
        return ast;
    }
    rt_hf_seqcls_options o = {0, NULL, 0, -1, seed, 0};
    RT_CALL(hf_options(dir, K, names, &o));
    RT_CALL(rt_model_load_hf_seqcls(dir, &o, log, out));
    rt_status st = rt_model_check_classifier(*out, dir, K, names);
    if (st != RT_OK) rt_model_destroy(out);
    return st;
}

rt_status rt_model_config_hf(const char *dir, rt_model **out) {
    const rt_model_codec *c;
    *out = NULL;
    RT_CALL(hf_codec(dir, &c));
    return c->config_hf(dir, out);
}

rt_status rt_model_save_hf(const rt_model *m, const char *dir) {
    if (rt_model_lora(m))
        return rt_error(RT_ERR_ARG,
                        "%s: a model with LoRA adapters is saved as a PEFT adapter "
                        "(io/peft.h) or merged first",
                        dir);
    return rt_model_codec_of(m)->save_hf(m, dir);
}

void rt_model_warn_hf(const char *model_path, const rt_model *m, FILE *log) {
    m = rt_model_unwrapped(m);
    rt_model_codec_of(m)->warn_hf(model_path, m, log);
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

void rt_model_to_manifest(const rt_model *m, rt_manifest_model *store, Ringtune__Manifest *man) {
    ringtune__model_config__init(&store->legacy);
    ringtune__model_desc__init(&store->desc);
    ringtune__gpt2_config__init(&store->gpt2);
    ringtune__t5_config__init(&store->t5);
    ringtune__lm_head__init(&store->lm);
    ringtune__seq_cls_head__init(&store->seqcls);
    ringtune__lora_desc__init(&store->lora);
    if (rt_model_lora_config(m)) { /* adapters: their config, then the base's description */
        store->lora.adapter_config = (char *)rt_model_lora_config(m);
        store->desc.lora = &store->lora;
    }
    m = rt_model_unwrapped(m);
    store->legacy.architecture = (char *)m->ops->arch;
    store->desc.architecture = (char *)m->ops->arch;
    store->desc.head = (char *)m->head->kind;
    rt_model_codec_of(m)->to_manifest(m, store);
    const rt_head_codec *h = rt_head_registry_find(m->head->kind);
    if (h) h->to_manifest(m, store);
    man->model = &store->legacy;
    man->model_desc = &store->desc;
}

const char *rt_manifest_arch(const Ringtune__Manifest *man) {
    const char *a = man->model_desc ? man->model_desc->architecture : NULL;
    if (!a || !a[0]) a = man->model ? man->model->architecture : NULL;
    return a && a[0] ? a : "gpt2";
}

const char *rt_manifest_head(const Ringtune__Manifest *man) {
    const char *h = man->model_desc ? man->model_desc->head : NULL;
    return h && h[0] ? h : "lm";
}

/* The base a LoRA checkpoint's adapters sit on: its config's base_model_name_or_path, a Hugging
   Face directory (a classifier gets the manifest's labels) or a ringtune checkpoint. */
static rt_status lora_base(const char *dir, const Ringtune__Manifest *man, const char *path,
                           rt_model **out) {
    const Ringtune__ModelDesc *d = man->model_desc;
    if (!path || !path[0])
        return rt_error(RT_ERR_FORMAT,
                        "%s/%s: the adapters' config names no base model "
                        "(base_model_name_or_path)",
                        dir, RT_CKPT_MANIFEST);
    if (rt_ckpt_is_checkpoint(path)) return rt_model_load_ckpt(path, out);
    if (strcmp(rt_manifest_head(man), "seqcls") || !d->seqcls) return rt_model_load_hf(path, out);
    const Ringtune__SeqClsHead *h = d->seqcls;
    int K = h->num_labels;
    return rt_model_load_hf_classifier(
        path, K, h->n_label_names == (size_t)K ? (const char *const *)h->label_names : NULL, 0,
        NULL, out);
}

/* A LoRA checkpoint's model: the base from its path, then fresh adapters of the stored config
   (the caller reads the adapters' values into the handle's arena). */
static rt_status lora_from_manifest(const char *dir, const Ringtune__Manifest *man,
                                    rt_model **out) {
    const char *text = man->model_desc->lora->adapter_config;
    char name[4200];
    snprintf(name, sizeof name, "%s/%s (its adapters' config)", dir, RT_CKPT_MANIFEST);
    rt_peft_config pc;
    RT_CALL(rt_peft_parse_config(text ? text : "", name, &pc));
    rt_model *base = NULL;
    rt_status st = lora_base(dir, man, pc.base_model, &base);
    if (st != RT_OK) {
        rt_peft_config_free(&pc);
        return rt_hf_in_file(st, name);
    }
    rt_lora_spec sp;
    rt_peft_spec(&pc, base, &sp);
    st = rt_model_lora_create(base, &sp, 0, out);
    if (st == RT_OK) st = rt_model_lora_set_config(*out, text);
    if (st == RT_OK && (*out)->params->total != man->total_params)
        st = rt_error(RT_ERR_FORMAT,
                      "%s/%s: the adapters' config gives %zu adapter parameters, total_params is "
                      "%llu (another base model at %s?)",
                      dir, RT_CKPT_MANIFEST, (*out)->params->total,
                      (unsigned long long)man->total_params, pc.base_model);
    if (st != RT_OK) rt_model_destroy(out);
    rt_peft_config_free(&pc);
    return st;
}

rt_status rt_model_from_manifest(const char *dir, const Ringtune__Manifest *man, rt_model **out) {
    *out = NULL;
    char names[256];
    if (man->model_desc && man->model_desc->lora) return lora_from_manifest(dir, man, out);
    const rt_model_codec *c = rt_model_registry_find(rt_manifest_arch(man));
    if (!c)
        return rt_error(RT_ERR_FORMAT,
                        "%s/%s: model architecture \"%s\" is not one this build knows (%s)", dir,
                        RT_CKPT_MANIFEST, rt_manifest_arch(man), known(names, sizeof names, 0));
    const rt_head_codec *h = rt_head_registry_find(rt_manifest_head(man));
    if (!h)
        return rt_error(RT_ERR_FORMAT, "%s/%s: task head \"%s\" is not one this build knows (%s)",
                        dir, RT_CKPT_MANIFEST, rt_manifest_head(man),
                        known(names, sizeof names, 1));
    RT_CALL(h->check_manifest(dir, man));
    return c->from_manifest(dir, man, h, out);
}

rt_status rt_model_load_ckpt(const char *dir, rt_model **out) {
    *out = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    Ringtune__Manifest *man = NULL;
    RT_CALL(rt_ckpt_manifest_read_bytes(dir, &buf, &n));
    rt_status st = rt_ckpt_manifest_decode(dir, buf, n, &man);
    free(buf);
    RT_CALL(st);
    rt_model *m = NULL;
    st = rt_model_from_manifest(dir, man, &m);
    float *scratch = st == RT_OK ? rt_alloc_floats(RT_CKPT_PIECE_ELEMS) : NULL;
    if (st == RT_OK && !scratch) st = rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK)
        st = rt_ckpt_read_range(dir, man, m->params, "params", 0, man->total_params, m->params_mem,
                                scratch);
    rt_free_floats(&scratch);
    rt_ckpt_manifest_free(&man);
    if (st != RT_OK) rt_model_destroy(&m);
    *out = m;
    return st;
}
