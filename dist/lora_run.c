/* A run's LoRA adapters (dist/lora_run.h). */
#include "lora_run.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "fsutil.h"
#include "hf_common.h"
#include "model_lora.h"
#include "model_registry.h"

int rt_lora_run_enabled(const rt_run_config *cfg) {
    return cfg->lora.r != RT_CONFIG_NULL_INT || cfg->lora.adapter != NULL;
}

/* "a,b,c" into a list of strings (owned) */
static rt_status split(const char *key, const char *s, char ***out, int *n) {
    *out = NULL;
    *n = 0;
    if (!s) return RT_OK;
    size_t k = 1;
    for (const char *p = s; *p; p++) k += *p == ',';
    if (!(*out = calloc(k, sizeof **out))) return rt_error(RT_ERR_MEMORY, "out of memory");
    for (const char *p = s; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (p[len - 1] == ' ')) len--;
        while (len && *p == ' ') p++, len--;
        if (!len) return rt_error(RT_ERR_ARG, "%s '%s': an empty name in the list", key, s);
        if (!((*out)[(*n)++] = strndup(p, len))) return rt_error(RT_ERR_MEMORY, "out of memory");
        p = e ? e + 1 : p + len;
    }
    return RT_OK;
}

static rt_status parse_layers(const char *s, rt_peft_config *pc) {
    if (!s) return RT_OK;
    size_t k = 1;
    for (const char *p = s; *p; p++) k += *p == ',';
    if (!(pc->layers = malloc(sizeof(int) * k))) return rt_error(RT_ERR_MEMORY, "out of memory");
    for (const char *p = s;;) {
        char *end;
        long v = strtol(p, &end, 10);
        while (*end == ' ') end++;
        if (end == p || v < 0 || v > 1 << 20 || (*end != ',' && *end))
            return rt_error(RT_ERR_ARG, "lora.layers '%s': expected comma-separated layer numbers",
                            s);
        pc->layers[pc->n_layers++] = (int)v;
        if (!*end) break;
        p = end + 1;
    }
    return RT_OK;
}

/* The spec the lora.* keys give. */
static rt_status from_keys(rt_peft_config *pc, const rt_run_config *c) {
    memset(pc, 0, sizeof *pc);
    pc->prm = (rt_lora_params){c->lora.r, c->lora.alpha, c->lora.dropout, c->lora.rslora};
    pc->bias = (rt_lora_bias)c->lora.bias;
    RT_CALL(split("lora.target_modules", c->lora.target_modules, &pc->targets, &pc->n_targets));
    RT_CALL(parse_layers(c->lora.layers, pc));
    if (c->lora.modules_to_save)
        return split("lora.modules_to_save", c->lora.modules_to_save, &pc->save, &pc->n_save);
    if (c->data.task == RT_TASK_CLASSIFICATION) /* PEFT's SEQ_CLS: the head trains in full */
        return split("lora.modules_to_save", "classifier,score", &pc->save, &pc->n_save);
    return RT_OK;
}

static const char *task_type(const rt_model *m) {
    if (strcmp(m->head->kind, "seqcls") == 0) return "SEQ_CLS";
    return m->encoder_decoder ? "SEQ_2_SEQ_LM" : "CAUSAL_LM";
}

/* The adapters' adapter_config.json, kept with the handle (checkpoints, the export): an
   imported adapter's own file, else the spec's, naming model.path (absolute) as the base. */
static rt_status describe(const rt_lora_run *lr, const rt_run_config *cfg, rt_model *m) {
    char *text = NULL;
    if (cfg->lora.adapter) {
        char path[4096];
        size_t n;
        snprintf(path, sizeof path, "%s/adapter_config.json", cfg->lora.adapter);
        RT_CALL(rt_fs_read_file(path, &text, &n));
    } else {
        char base[PATH_MAX];
        const char *b = realpath(cfg->model.path, base) ? base : cfg->model.path;
        if (!(text = rt_peft_config_text(m, &lr->sp, task_type(m), b)))
            return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    rt_status st = rt_model_lora_set_config(m, text);
    free(text);
    return st;
}

rt_status rt_lora_run_setup(rt_lora_run *lr, const rt_run_config *cfg, rt_model **m) {
    memset(lr, 0, sizeof *lr);
    if (!rt_lora_run_enabled(cfg)) return RT_OK;
    lr->on = 1;
    rt_status st = cfg->lora.adapter ? rt_peft_read_config(cfg->lora.adapter, &lr->pc)
                                     : from_keys(&lr->pc, cfg);
    if (st != RT_OK) return st;
    rt_peft_spec(&lr->pc, *m, &lr->sp);
    rt_model *base = *m;
    *m = NULL;
    st = rt_model_lora_create(base, &lr->sp, cfg->train.seed, m);
    if (st != RT_OK && cfg->lora.adapter) { /* the adapter's config chose what failed */
        char path[4096];
        snprintf(path, sizeof path, "lora.adapter %s/adapter_config.json", cfg->lora.adapter);
        return rt_hf_in_file(st, path);
    }
    RT_CALL(st);
    if (cfg->lora.adapter) RT_CALL(rt_peft_load_adapter(cfg->lora.adapter, *m));
    return describe(lr, cfg, *m);
}

void rt_lora_run_free(rt_lora_run *lr) {
    rt_peft_config_free(&lr->pc);
    memset(lr, 0, sizeof *lr);
}

static double mb(double floats) {
    return floats * 4.0 / 1048576.0;
}

void rt_lora_run_report(const rt_lora_run *lr, const rt_model *m, int P, int zero1, FILE *out) {
    if (!lr->on || !out) return;
    const rt_model *b = rt_model_unwrapped(m);
    const rt_lora *L = rt_model_lora(m);
    double n = (double)rt_model_num_params(m), full = (double)rt_model_num_params(b);
    double share = zero1 ? 1.0 / P : 1.0;
    fprintf(out,
            "LoRA r=%d alpha=%g%s on %d layers (+%d tensors in full): %.0f trainable parameters "
            "of %.0f (%.3f%%)\n",
            L->prm.r, L->prm.alpha, L->prm.rslora ? " (rsLoRA)" : "", L->n_sites, L->n_saved, n,
            full, 100.0 * n / full);
    fprintf(out,
            "  gradients reduced per step: %.3f MB (full fine-tuning: %.1f MB, %.0fx less); AdamW "
            "state per rank: %.3f MB (full: %.1f MB)%s\n",
            mb(n), mb(full), full / n, 2.0 * mb(n) * share, 2.0 * mb(full) * share,
            zero1 ? ", ZeRO-1 sharded" : "");
}

rt_status rt_lora_run_export(rt_model **m, const char *dir) {
    return rt_peft_export(m, dir);
}
