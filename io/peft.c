/* PEFT's LoRA adapter files (io/peft.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "peft.h"
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fsutil.h"
#include "hf_common.h"
#include "model_registry.h"
#include "safetensors.h"

#define CONFIG "adapter_config.json"
#define WEIGHTS "adapter_model.safetensors"
#define PEFT_PREFIX "base_model.model."

void rt_peft_config_free(rt_peft_config *c) {
    for (int i = 0; i < c->n_targets; i++) free(c->targets[i]);
    for (int i = 0; i < c->n_save; i++) free(c->save[i]);
    free(c->targets);
    free(c->save);
    free(c->layers);
    free(c->target_regex);
    free(c->task_type);
    free(c->base_model);
    pcre2_code_free(c->re);
    memset(c, 0, sizeof *c);
}

static rt_status bad(const char *path, const char *key, const json_t *v, const char *want) {
    char buf[128];
    return rt_error(RT_ERR_FORMAT, "%s: %s is %s, expected %s", path, key,
                    rt_hf_json_found(v, buf, sizeof buf), want);
}

/* A list of strings (or null: none) into *out / *n. */
static rt_status str_list(const char *path, json_t *root, const char *key, char ***out, int *n) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return RT_OK;
    if (!json_is_array(v)) return bad(path, key, v, "a list of strings or null");
    size_t k = json_array_size(v);
    if (!(*out = calloc(k + 1, sizeof **out))) return rt_error(RT_ERR_MEMORY, "out of memory");
    for (size_t i = 0; i < k; i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) return bad(path, key, e, "a list of strings");
        if (!((*out)[(*n)++] = strdup(json_string_value(e))))
            return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    return RT_OK;
}

static rt_status opt_str(json_t *root, const char *key, char **out) {
    json_t *v = json_object_get(root, key);
    if (v && json_is_string(v) && !(*out = strdup(json_string_value(v))))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    return RT_OK;
}

static rt_status number(const char *path, json_t *root, const char *key, double *dst) {
    json_t *v = json_object_get(root, key);
    if (!v) return RT_OK;
    if (!json_is_number(v)) return bad(path, key, v, "a number");
    *dst = json_number_value(v);
    return RT_OK;
}

/* Keys whose non-default value changes what the adapters compute, which ringtune does not
   implement: refused rather than silently ignored. */
static rt_status unsupported(const char *path, json_t *root) {
    static const char *const empty_obj[] = {"rank_pattern", "alpha_pattern"};
    static const char *const null_keys[] = {"layers_pattern", "layer_replication",
                                            "exclude_modules", "target_parameters"};
    static const char *const false_keys[] = {"use_dora", "lora_bias", "use_qalora"};
    for (size_t i = 0; i < sizeof empty_obj / sizeof *empty_obj; i++) {
        json_t *v = json_object_get(root, empty_obj[i]);
        if (v && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0))
            return bad(path, empty_obj[i], v, "{} (per-module ranks and alphas are not supported)");
    }
    for (size_t i = 0; i < sizeof null_keys / sizeof *null_keys; i++) {
        json_t *v = json_object_get(root, null_keys[i]);
        if (v && !json_is_null(v)) return bad(path, null_keys[i], v, "null (not supported)");
    }
    for (size_t i = 0; i < sizeof false_keys / sizeof *false_keys; i++) {
        json_t *v = json_object_get(root, false_keys[i]);
        if (v && !json_is_false(v) && !json_is_null(v))
            return bad(path, false_keys[i], v, "false (not supported)");
    }
    return RT_OK;
}

static rt_status read_targets(const char *path, json_t *root, rt_peft_config *c) {
    json_t *v = json_object_get(root, "target_modules");
    if (!v || json_is_null(v)) return RT_OK; /* PEFT's default for the architecture */
    if (!json_is_string(v))
        return str_list(path, root, "target_modules", &c->targets, &c->n_targets);
    if (!(c->target_regex = strdup(json_string_value(v))))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    int err;
    PCRE2_SIZE off;
    c->re = pcre2_compile((PCRE2_SPTR)c->target_regex, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (!c->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        return rt_error(RT_ERR_FORMAT,
                        "%s: target_modules \"%s\" is no regular expression (%s at %zu)", path,
                        c->target_regex, (const char *)msg, (size_t)off);
    }
    return RT_OK;
}

static rt_status read_layers(const char *path, json_t *root, rt_peft_config *c) {
    json_t *v = json_object_get(root, "layers_to_transform");
    if (!v || json_is_null(v)) return RT_OK;
    size_t k = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_integer(v))
        return bad(path, "layers_to_transform", v, "an integer, a list of integers or null");
    if (!(c->layers = malloc(sizeof(int) * (k + 1))))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    for (size_t i = 0; i < k; i++) {
        json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 1 << 20)
            return bad(path, "layers_to_transform", e, "layer numbers >= 0");
        c->layers[c->n_layers++] = (int)json_integer_value(e);
    }
    return RT_OK;
}

static rt_status read_bias(const char *path, json_t *root, rt_peft_config *c) {
    json_t *v = json_object_get(root, "bias");
    if (!v || json_is_null(v)) return RT_OK;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (!strcmp(s, "none"))
        c->bias = RT_LORA_BIAS_NONE;
    else if (!strcmp(s, "all"))
        c->bias = RT_LORA_BIAS_ALL;
    else if (!strcmp(s, "lora_only"))
        c->bias = RT_LORA_BIAS_LORA_ONLY;
    else
        return bad(path, "bias", v, "\"none\", \"all\" or \"lora_only\"");
    return RT_OK;
}

static rt_status parse(const char *path, json_t *root, rt_peft_config *c) {
    json_t *t = json_object_get(root, "peft_type");
    if (!t || !json_is_string(t) || strcmp(json_string_value(t), "LORA"))
        return bad(path, "peft_type", t, "\"LORA\" (ringtune reads LoRA adapters)");
    c->prm = (rt_lora_params){8, 8.0, 0.0, 0}; /* LoraConfig's defaults */
    int r = 8, rs = 0;
    RT_CALL(rt_hf_cfg_int(path, root, "r", &r, 8, 0));
    RT_CALL(number(path, root, "lora_alpha", &c->prm.alpha));
    RT_CALL(number(path, root, "lora_dropout", &c->prm.dropout));
    RT_CALL(rt_hf_cfg_bool(path, root, "use_rslora", 1, 0, &rs));
    c->prm.r = r;
    c->prm.rslora = rs;
    if (r < 1) return rt_error(RT_ERR_ARG, "%s: r is %d, expected an integer >= 1", path, r);
    if (!(c->prm.alpha > 0.0) || !isfinite(c->prm.alpha))
        return rt_error(RT_ERR_ARG, "%s: lora_alpha is %g, expected a number > 0", path,
                        c->prm.alpha);
    if (!(c->prm.dropout >= 0.0 && c->prm.dropout < 1.0))
        return rt_error(RT_ERR_ARG, "%s: lora_dropout is %g, expected a number in [0, 1)", path,
                        c->prm.dropout);
    RT_CALL(unsupported(path, root));
    RT_CALL(read_targets(path, root, c));
    RT_CALL(read_layers(path, root, c));
    RT_CALL(read_bias(path, root, c));
    RT_CALL(str_list(path, root, "modules_to_save", &c->save, &c->n_save));
    RT_CALL(opt_str(root, "task_type", &c->task_type));
    return opt_str(root, "base_model_name_or_path", &c->base_model);
}

rt_status rt_peft_read_config(const char *dir, rt_peft_config *c) {
    memset(c, 0, sizeof *c);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, CONFIG);
    json_t *root = NULL;
    RT_CALL(rt_hf_json_read(path, &root));
    rt_status st = parse(path, root, c);
    json_decref(root);
    if (st != RT_OK) rt_peft_config_free(c);
    return st;
}

rt_status rt_peft_parse_config(const char *text, const char *name, rt_peft_config *c) {
    memset(c, 0, sizeof *c);
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return rt_error(RT_ERR_FORMAT, "%s: not a JSON object (%s)", name, je.text);
    }
    rt_status st = parse(name, root, c);
    json_decref(root);
    if (st != RT_OK) rt_peft_config_free(c);
    return st;
}

/* re.fullmatch(target_modules, full module name) */
static int regex_match(void *arg, const char *module) {
    const rt_peft_config *a = arg;
    char w[RT_NAME_MAX + 16], full[RT_NAME_MAX + 64];
    snprintf(w, sizeof w, "%s.weight", module);
    rt_model_hf_name(a->re_model, w, full, sizeof full);
    full[strlen(full) - strlen(".weight")] = 0;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(a->re, NULL);
    int rc = md ? pcre2_match(a->re, (PCRE2_SPTR)full, PCRE2_ZERO_TERMINATED, 0, PCRE2_ANCHORED, md,
                              NULL)
                : -1;
    int hit = rc >= 0 && pcre2_get_ovector_pointer(md)[1] == strlen(full);
    pcre2_match_data_free(md);
    return hit;
}

void rt_peft_spec(rt_peft_config *c, const rt_model *m, rt_lora_spec *sp) {
    /* PEFT's default target_modules per model_type (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_
       MAPPING) for a config that names none */
    static const char *const gpt2_default[] = {"c_attn"}, *const t5_default[] = {"q", "v"};
    memset(sp, 0, sizeof *sp);
    sp->prm = c->prm;
    sp->targets = (const char *const *)c->targets;
    sp->n_targets = c->n_targets;
    if (!c->targets && !c->re) {
        int t5 = !strcmp(m->ops->arch, "t5");
        sp->targets = t5 ? t5_default : gpt2_default;
        sp->n_targets = t5 ? 2 : 1;
    }
    if (c->re) {
        c->re_model = m;
        sp->match = regex_match;
        sp->match_arg = c;
    }
    sp->layers = c->layers;
    sp->n_layers = c->n_layers;
    sp->bias = c->bias;
    sp->save = (const char *const *)c->save;
    sp->n_save = c->n_save;
}

/* The module an adapter table tensor belongs to when it is an adapted layer's own tensor. */
static const rt_lora_site *site_of(const rt_lora *L, int i) {
    for (int s = 0; s < L->n_sites; s++)
        if (L->sites[s].ia == i || L->sites[s].ib == i) return &L->sites[s];
    return NULL;
}

const char *rt_peft_tensor_name(const rt_model *m, int i, char *buf, size_t cap) {
    const rt_lora *L = rt_model_lora(m);
    const rt_model *base = rt_model_lora_base(m);
    const char *name = L->tab.t[i].name;
    char ours[RT_NAME_MAX + 16], hf[RT_NAME_MAX + 64];
    snprintf(ours, sizeof ours, "%s", name);
    if (!site_of(L, i)) { /* a saved tensor: an adapted layer's bias is under base_layer */
        const char *dot = strrchr(name, '.');
        size_t k = dot ? (size_t)(dot - name) : 0;
        for (int s = 0; dot && s < L->n_sites; s++)
            if (strlen(L->sites[s].t.module) == k && !strncmp(L->sites[s].t.module, name, k)) {
                snprintf(ours, sizeof ours, "%.*s.base_layer%s", (int)k, name, dot);
                break;
            }
    }
    rt_model_hf_name(base, ours, hf, sizeof hf);
    snprintf(buf, cap, "%s%s", PEFT_PREFIX, hf);
    return buf;
}

rt_status rt_peft_load_adapter(const char *dir, rt_model *m) {
    rt_lora *L = rt_model_lora(m);
    if (!L)
        return rt_error(RT_ERR_ARG, "%s: an adapter loads into a model with LoRA adapters", dir);
    char path[4096], name[RT_NAME_MAX + 96], shp[96];
    snprintf(path, sizeof path, "%s/%s", dir, WEIGHTS);
    rt_st_file *f = NULL;
    RT_CALL(rt_st_open(&f, path));
    rt_status st = RT_OK;
    int found = 0;
    for (int i = 0; i < L->tab.n && st == RT_OK; i++) {
        const rt_tensor_info *ti = &L->tab.t[i];
        rt_peft_tensor_name(m, i, name, sizeof name);
        const rt_st_tensor *t = rt_st_find(f, name);
        if (!t)
            st = rt_error(RT_ERR_FORMAT,
                          "%s: no tensor %s (%s), which this adapter config gives the model "
                          "(another base model or another adapter config?)",
                          path, name, rt_hf_fmt_shape(shp, sizeof shp, ti->ndim, ti->shape));
        else if (!rt_hf_same_shape(t, ti->ndim, ti->shape))
            st = rt_error(RT_ERR_FORMAT,
                          "%s: tensor %s has another shape than %s, what the loaded "
                          "model gives it",
                          path, name, rt_hf_fmt_shape(shp, sizeof shp, ti->ndim, ti->shape));
        else
            st = rt_st_read_f32(f, name, L->params + ti->offset, ti->numel);
        found += st == RT_OK;
    }
    for (int k = 0; k < rt_st_count(f) && st == RT_OK && found != rt_st_count(f); k++) {
        const char *n = rt_st_get(f, k)->name;
        int mine = 0;
        for (int i = 0; i < L->tab.n && !mine; i++)
            mine = !strcmp(rt_peft_tensor_name(m, i, name, sizeof name), n);
        if (!mine)
            st = rt_error(RT_ERR_FORMAT,
                          "%s: tensor %s is not one of this model's adapters (its adapter "
                          "config, or its base model, differs)",
                          path, n);
    }
    rt_st_close(&f);
    return st;
}

static json_t *str_array(const char *const *v, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *config_json(const rt_model *m, const rt_lora_spec *sp, const char *task_type,
                           const char *base_model) {
    const rt_lora *L = rt_model_lora(m);
    json_t *o = json_object();
    double a = sp->prm.alpha;
    json_object_set_new(o, "alpha_pattern", json_object());
    json_object_set_new(o, "auto_mapping", json_null());
    json_object_set_new(o, "base_model_name_or_path",
                        base_model ? json_string(base_model) : json_null());
    static const char *const bias[] = {"none", "all", "lora_only"};
    json_object_set_new(o, "bias", json_string(bias[sp->bias]));
    json_object_set_new(o, "exclude_modules", json_null());
    json_object_set_new(o, "fan_in_fan_out", json_boolean(L->n_sites && L->sites[0].t.conv1d));
    json_object_set_new(o, "inference_mode", json_true());
    json_object_set_new(o, "init_lora_weights", json_true());
    json_object_set_new(o, "layer_replication", json_null());
    json_object_set_new(o, "layers_pattern", json_null());
    if (sp->layers) {
        json_t *l = json_array();
        for (int i = 0; i < sp->n_layers; i++)
            json_array_append_new(l, json_integer(sp->layers[i]));
        json_object_set_new(o, "layers_to_transform", l);
    } else {
        json_object_set_new(o, "layers_to_transform", json_null());
    }
    json_object_set_new(o, "loftq_config", json_object());
    json_object_set_new(o, "lora_alpha",
                        a == floor(a) && fabs(a) < 1e15 ? json_integer((json_int_t)a)
                                                        : json_real(a));
    json_object_set_new(o, "lora_bias", json_false());
    json_object_set_new(o, "lora_dropout", json_real(sp->prm.dropout));
    json_object_set_new(o, "modules_to_save",
                        sp->n_save ? str_array(sp->save, sp->n_save) : json_null());
    json_object_set_new(o, "peft_type", json_string("LORA"));
    json_object_set_new(o, "r", json_integer(sp->prm.r));
    json_object_set_new(o, "rank_pattern", json_object());
    json_object_set_new(o, "revision", json_null());
    json_object_set_new(o, "target_modules", str_array(sp->targets, sp->n_targets));
    json_object_set_new(o, "task_type", task_type ? json_string(task_type) : json_null());
    json_object_set_new(o, "use_dora", json_false());
    json_object_set_new(o, "use_rslora", json_boolean(sp->prm.rslora));
    return o;
}

char *rt_peft_config_text(const rt_model *m, const rt_lora_spec *sp, const char *task_type,
                          const char *base_model) {
    json_t *o = config_json(m, sp, task_type, base_model);
    char *text =
        o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(o);
    return text;
}

rt_status rt_peft_save_adapter_text(const char *dir, const rt_model *m, const char *config) {
    const rt_lora *L = rt_model_lora(m);
    if (!L) return rt_error(RT_ERR_ARG, "%s: the model has no LoRA adapters to save", dir);
    char path[4096], name[RT_NAME_MAX + 96];
    rt_st_writer *w = NULL;
    RT_CALL(rt_st_writer_create(&w));
    rt_status st = RT_OK;
    for (int i = 0; i < L->tab.n && st == RT_OK; i++) {
        const rt_tensor_info *ti = &L->tab.t[i];
        st = rt_st_writer_add(w, rt_peft_tensor_name(m, i, name, sizeof name), RT_ST_F32, ti->ndim,
                              ti->shape, L->params + ti->offset);
    }
    snprintf(path, sizeof path, "%s/%s", dir, WEIGHTS);
    if (st == RT_OK) st = rt_st_writer_write(w, path, NULL, NULL, 0);
    rt_st_writer_destroy(&w);
    RT_CALL(st);
    snprintf(path, sizeof path, "%s/%s", dir, CONFIG);
    size_t n = strlen(config);
    char *buf = malloc(n + 2);
    if (!buf) return rt_error(RT_ERR_MEMORY, "out of memory");
    memcpy(buf, config, n);
    buf[n] = '\n';
    st = rt_fs_write_file_atomic(path, buf, n + 1);
    free(buf);
    return st;
}

rt_status rt_peft_save_adapter(const char *dir, const rt_model *m, const rt_lora_spec *sp,
                               const char *task_type, const char *base_model) {
    if (sp->match)
        return rt_error(RT_ERR_ARG,
                        "%s: an adapter chosen by a regular expression is saved by "
                        "listing its modules (not implemented)",
                        dir);
    char *text = rt_peft_config_text(m, sp, task_type, base_model);
    if (!text) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status st = rt_peft_save_adapter_text(dir, m, text);
    free(text);
    return st;
}

rt_status rt_peft_export(rt_model **m, const char *dir) {
    const char *cfg = rt_model_lora_config(*m);
    if (!cfg)
        return rt_error(RT_ERR_ARG, "%s: the adapters carry no adapter config to export", dir);
    RT_CALL(rt_fs_mkdir_p(dir));
    RT_CALL(rt_peft_save_adapter_text(dir, *m, cfg));
    rt_model *merged = NULL;
    RT_CALL(rt_model_lora_merge(m, &merged));
    *m = merged;
    char path[4096];
    snprintf(path, sizeof path, "%s/merged", dir);
    return rt_model_save_hf(merged, path);
}
