/* A model with low-rank adapters behind the model interface (compute/model_lora.h). */
#include "model_lora.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    rt_model *base;   /* owned */
    rt_lora *L;       /* owned */
    rt_model_ops ops; /* the base's name, the calls below */
    rt_head_ops head; /* the base's head, called on the base */
    int *gmap;        /* [base->n_groups]: this handle's group of each base group, -1 none */
    char *config;     /* rt_model_lora_set_config's text (owned) */
} lora_state;

#define LS(m) ((lora_state *)(m)->impl)
#define BASE(m) (LS(m)->base)

static void lo_destroy(void *impl) {
    lora_state *s = impl;
    rt_model_destroy(&s->base);
    rt_lora_destroy(&s->L);
    free(s->gmap);
    free(s->config);
    free(s);
}

/* Points the base's saved tensors (and their gradients, once there are any) at the set's. */
static rt_status redirect_saved(rt_model *m) {
    rt_lora *L = LS(m)->L;
    rt_model *b = BASE(m);
    for (int i = 0; i < L->n_saved; i++) {
        const rt_tensor_info *ti = &L->tab.t[L->saved_idx[i]];
        float *p = L->params + ti->offset, *g = L->grads ? L->grads + ti->offset : NULL;
        RT_CALL(b->ops->redirect(b, L->saved_base[i], p, g));
        b->pat[L->saved_base[i]] = p;
        b->gat[L->saved_base[i]] = g;
    }
    return RT_OK;
}

static rt_status lo_alloc_acts(rt_model *m, int B, int T) {
    rt_model *b = BASE(m);
    b->src_T = m->src_T;
    RT_CALL(rt_model_alloc_acts(b, B, T));
    size_t rows = (size_t)B * (size_t)(m->src_T > T ? m->src_T : T);
    RT_CALL(rt_lora_alloc_acts(LS(m)->L, rows));
    m->grads_mem = LS(m)->L->grads;
    m->hidden = b->hidden;
    m->dhidden = b->dhidden;
    return redirect_saved(m);
}

static rt_status lo_forward_hidden(rt_model *m, const rt_batch *bt, const rt_step_key *key) {
    rt_model *b = BASE(m);
    RT_CALL(b->ops->forward_hidden(b, bt, key));
    m->cur_B = b->cur_B;
    m->cur_T = b->cur_T;
    m->hidden = b->hidden;
    return RT_OK;
}

static int lo_backbone_trains(const rt_model *m) {
    return BASE(m)->ops->backbone_trains(BASE(m));
}

typedef struct {
    rt_group_done_fn done;
    void *arg;
    const int *gmap;
} done_map;

static void group_done(void *arg, int group) {
    done_map *d = arg;
    if (d->gmap[group] >= 0) d->done(d->arg, d->gmap[group]);
}

static void lo_backward_hidden(rt_model *m, const float *dhidden, int accumulate,
                               int shared_written, rt_group_done_fn done, void *arg) {
    rt_model *b = BASE(m);
    done_map d = {done, arg, LS(m)->gmap};
    b->ops->backward_hidden(b, dhidden, accumulate, shared_written, done ? group_done : NULL, &d);
}

static double lo_flops_hidden(const rt_model *m, int B, int T, int src_T) {
    return BASE(m)->ops->flops_hidden(BASE(m), B, T, src_T);
}

/* The base's index: only the head, which runs on the base, asks. */
static int lo_output_embedding(const rt_model *m, int *tied) {
    return BASE(m)->ops->output_embedding(BASE(m), tied);
}

static rt_status lo_untie(rt_model *m) {
    (void)m;
    return rt_error(RT_ERR_ARG, "a model with LoRA adapters keeps its output embedding frozen "
                                "(feature extraction and LoRA do not combine)");
}

static void lo_set_dropout(rt_model *m, double embd, double attn, double resid) {
    BASE(m)->ops->set_dropout(BASE(m), embd, attn, resid);
}

/* Decodes with the merged weights standing in for the adapted ones (the decoders run their own
   projections), then puts the base weights back. */
static rt_status lo_generate(rt_model *m, const rt_batch *bt, const rt_gen_opts *o, int32_t *out,
                             int *lengths) {
    rt_model *b = BASE(m);
    rt_lora *L = LS(m)->L;
    size_t total = 0;
    for (int i = 0; i < L->n_sites; i++)
        total += ((size_t)L->sites[i].t.in * L->sites[i].t.out + 15) & ~(size_t)15;
    float *w = rt_alloc_floats(total ? total : 1);
    if (!w) return rt_error(RT_ERR_MEMORY, "out of memory for the merged adapter weights");
    rt_status st = RT_OK;
    size_t off = 0;
    for (int i = 0; i < L->n_sites && st == RT_OK; i++) {
        const rt_lora_site *s = &L->sites[i];
        rt_lora_merged_weight(L, s, b->params_mem + b->params->t[s->t.weight].offset, w + off);
        st = b->ops->redirect(b, s->t.weight, w + off, NULL);
        off += ((size_t)s->t.in * s->t.out + 15) & ~(size_t)15;
    }
    L->merged = 1;
    if (st == RT_OK) st = rt_model_generate(b, bt, o, out, lengths);
    L->merged = 0;
    for (int i = 0; i < L->n_sites; i++) {
        rt_status r = b->ops->redirect(b, L->sites[i].t.weight, NULL, NULL);
        if (st == RT_OK) st = r;
    }
    rt_free_floats(&w);
    return st;
}

static double lo_count(const rt_model *m, const rt_batch *b) {
    return BASE(m)->head->count(BASE(m), b);
}

static rt_status lo_head_forward(rt_model *m, const rt_batch *b, double *loss_sum, double *count) {
    return BASE(m)->head->forward(BASE(m), b, loss_sum, count);
}

static void lo_head_backward(rt_model *m, float scale, int accumulate, int need_dhidden,
                             float *dhidden, int *shared_written) {
    BASE(m)->head->backward(BASE(m), scale, accumulate, need_dhidden, dhidden, shared_written);
}

static double lo_head_flops(const rt_model *m, int B, int T) {
    return BASE(m)->head->flops(BASE(m), B, T);
}

/* ---- choosing the layers and tensors ------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return k <= n && strcmp(s + n - k, suffix) == 0;
}

/* PEFT's target_modules rule for a list: the name itself or a "." + target suffix. */
static int name_matches(const char *name, const char *target) {
    size_t n = strlen(name), k = strlen(target);
    return strcmp(name, target) == 0 ||
           (k < n && ends_with(name, target) && name[n - k - 1] == '.');
}

/* PEFT's layer index without layers_pattern (peft 0.21, checked on the fixtures of
   tests/fixtures/gen_lora_fixtures.py): the digits of the first ".<word>.<digits>." of the full
   module name ("." + name stands for the full name's prefix, e.g. "transformer."), so T5's
   "encoder.block.3.layer.1..." is layer 3; -1 when there is none. */
static int layer_index(const char *name) {
    char buf[RT_NAME_MAX + 2];
    snprintf(buf, sizeof buf, ".%s", name);
    for (const char *p = buf; *p; p++) {
        if (*p != '.') continue;
        const char *q = p + 1;
        while (*q && *q != '.') q++;
        if (*q != '.' || q[1] < '0' || q[1] > '9') continue;
        const char *e = q + 1;
        while (*e >= '0' && *e <= '9') e++;
        if (*e == '.') return atoi(q + 1);
    }
    return -1;
}

static int picked(const rt_lora_spec *sp, const rt_lora_target *t) {
    int hit = 0;
    if (sp->match) hit = sp->match(sp->match_arg, t->module);
    for (int k = 0; k < sp->n_targets && !hit; k++)
        hit = strcmp(sp->targets[k], "all-linear") == 0 || name_matches(t->module, sp->targets[k]);
    if (!hit || !sp->layers) return hit;
    int li = layer_index(t->module);
    for (int k = 0; k < sp->n_layers; k++)
        if (sp->layers[k] == li) return 1;
    return 0;
}

/* Whether base tensor i trains in full: a bias (bias all / lora_only) or a module to save. */
static int saved(const rt_lora_spec *sp, const rt_model *b, int i, const rt_lora_target *tg,
                 const int *pick, int nt) {
    const char *name = b->params->t[i].name;
    if (sp->bias == RT_LORA_BIAS_ALL && strstr(name, "bias")) return 1;
    for (int k = 0; sp->bias == RT_LORA_BIAS_LORA_ONLY && k < nt; k++)
        if (pick[k] && tg[k].bias == i) return 1;
    char mod[RT_NAME_MAX];
    snprintf(mod, sizeof mod, "%s", name);
    char *dot = strrchr(mod, '.');
    if (dot) *dot = 0;
    for (int k = 0; k < sp->n_save; k++)
        if (ends_with(mod, sp->save[k])) return 1;
    return 0;
}

/* Where base tensor i sits among the groups (rt_lora_create's save_ord). */
static int order_of(const rt_model *b, int i) {
    for (int k = 0; k < b->n_groups; k++) {
        const rt_param_group *g = &b->groups[k];
        if (i < g->first || i >= g->first + g->count) continue;
        return g->kind == RT_GROUP_EMBED   ? 0
               : g->kind == RT_GROUP_BLOCK ? 1 + g->block
                                           : b->n_blocks + 1;
    }
    return b->n_blocks + 1;
}

static rt_status check_targets(const rt_lora_spec *sp, const rt_model *b, const rt_lora_target *tg,
                               int nt) {
    if (sp->match) return RT_OK;
    for (int k = 0; k < sp->n_targets; k++) {
        int hit = strcmp(sp->targets[k], "all-linear") == 0;
        for (int i = 0; i < nt && !hit; i++) hit = name_matches(tg[i].module, sp->targets[k]);
        if (!hit)
            return rt_error(RT_ERR_ARG,
                            "lora.target_modules: \"%s\" is no layer of this %s model (its layers "
                            "end in e.g. \"%s\")",
                            sp->targets[k], b->ops->arch, nt ? tg[nt - 1].module : "");
    }
    if (sp->n_targets == 0 && sp->n_save == 0)
        return rt_error(RT_ERR_ARG, "lora.target_modules: expected at least one module name");
    return RT_OK;
}

/* The handle's groups: the base's (backward order) that hold an adapter tensor. */
static rt_status make_groups(rt_model *m, const int *ord_of_tensor) {
    rt_model *b = BASE(m);
    int nb = b->n_groups, n = 0;
    rt_group_kind kind[nb];
    int block[nb], first[nb];
    lora_state *s = LS(m);
    if (!(s->gmap = malloc(sizeof(int) * (size_t)nb)))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    for (int k = 0; k < nb; k++) {
        const rt_param_group *g = &b->groups[k];
        int ord = g->kind == RT_GROUP_EMBED   ? 0
                  : g->kind == RT_GROUP_BLOCK ? 1 + g->block
                                              : b->n_blocks + 1;
        int f = -1;
        for (int i = 0; i < m->params->n && f < 0; i++)
            if (ord_of_tensor[i] == ord) f = i;
        s->gmap[k] = f < 0 ? -1 : n;
        if (f < 0) continue;
        kind[n] = g->kind;
        block[n] = g->block;
        first[n++] = f;
    }
    /* the lowest group starts the table (rt_model_set_groups tiles it from 0) */
    if (n) first[n - 1] = 0;
    return rt_model_set_groups(m, n, kind, block, first);
}

static rt_status build(rt_model *m, const rt_lora_spec *sp, uint64_t seed) {
    rt_model *b = BASE(m);
    lora_state *s = LS(m);
    if (!b->ops->lora_targets)
        return rt_error(RT_ERR_ARG, "a %s model takes no LoRA adapters", b->ops->arch);
    int slots, nt = b->ops->lora_targets(b, NULL, &slots), nb = b->params->n;
    rt_lora_target *tg = calloc((size_t)nt + 1, sizeof *tg);
    /* ord: first the saved tensors' places, then those of every tensor of the set */
    size_t nord = (size_t)nb + 2 * (size_t)nt + 1;
    int *pick = calloc((size_t)nt + 1, sizeof(int)), *save = malloc(sizeof(int) * (size_t)nb),
        *ord = malloc(sizeof(int) * nord);
    rt_status st = tg && pick && save && ord ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK) nt = b->ops->lora_targets(b, tg, &slots);
    if (st == RT_OK) st = check_targets(sp, b, tg, nt);
    int ns = 0;
    for (int i = 0; st == RT_OK && i < nt; i++) pick[i] = picked(sp, &tg[i]);
    for (int i = 0; st == RT_OK && i < nb; i++)
        if (saved(sp, b, i, tg, pick, nt)) {
            save[ns] = i;
            ord[ns++] = order_of(b, i);
        }
    if (st == RT_OK)
        st = rt_lora_create(&s->L, &sp->prm, tg, pick, nt, b->n_blocks, slots, b->params,
                            b->params_mem, save, ord, ns);
    if (st == RT_OK) {
        rt_lora_init(s->L, seed);
        for (int i = 0; i < nb; i++) b->params->t[i].trainable = 0;
        for (int i = 0; i < ns; i++) b->params->t[save[i]].trainable = 1;
        b->ops->set_lora(b, s->L);
        b->pat = calloc((size_t)nb, sizeof *b->pat);
        b->gat = calloc((size_t)nb, sizeof *b->gat);
        if (!b->pat || !b->gat) st = rt_error(RT_ERR_MEMORY, "out of memory");
    }
    if (st == RT_OK) {
        /* every tensor's place among the groups, for this handle's groups */
        rt_lora *L = s->L;
        for (int i = 0; i < L->n_sites; i++) {
            ord[L->sites[i].ia] = 1 + L->sites[i].t.block;
            ord[L->sites[i].ib] = 1 + L->sites[i].t.block;
        }
        for (int i = 0; i < L->n_saved; i++) ord[L->saved_idx[i]] = order_of(b, L->saved_base[i]);
        m->params = &L->tab;
        m->params_mem = L->params;
        st = redirect_saved(m);
        if (st == RT_OK) st = make_groups(m, ord);
    }
    free(tg);
    free(pick);
    free(save);
    free(ord);
    return st;
}

rt_status rt_model_lora_create(rt_model *base, const rt_lora_spec *spec, uint64_t seed,
                               rt_model **out) {
    *out = NULL;
    rt_model *m = calloc(1, sizeof *m);
    lora_state *s = calloc(1, sizeof *s);
    if (!m || !s) {
        free(m);
        free(s);
        rt_model_destroy(&base);
        return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    s->base = base;
    s->ops = (rt_model_ops){base->ops->arch,
                            lo_destroy,
                            lo_alloc_acts,
                            lo_forward_hidden,
                            lo_backbone_trains,
                            lo_backward_hidden,
                            lo_flops_hidden,
                            lo_output_embedding,
                            lo_untie,
                            lo_set_dropout,
                            base->ops->generate ? lo_generate : NULL,
                            NULL,
                            NULL,
                            NULL};
    s->head = (rt_head_ops){base->head->kind,
                            base->head->uses_output_embedding,
                            NULL,
                            NULL,
                            lo_count,
                            lo_head_forward,
                            lo_head_backward,
                            lo_head_flops};
    m->ops = &s->ops;
    m->impl = s;
    m->head = &s->head;
    m->head_owner = base;
    m->hidden_size = base->hidden_size;
    m->vocab_size = base->vocab_size;
    m->max_positions = base->max_positions;
    m->encoder_decoder = base->encoder_decoder;
    m->decoder_start_id = base->decoder_start_id;
    m->pad_id = base->pad_id;
    m->src_T = base->src_T;
    rt_status st = build(m, spec, seed);
    if (st != RT_OK) {
        rt_model_destroy(&m);
        return st;
    }
    *out = m;
    return RT_OK;
}

rt_lora *rt_model_lora(const rt_model *m) {
    return m && m->ops && m->ops->destroy == lo_destroy ? LS(m)->L : NULL;
}

rt_model *rt_model_lora_base(const rt_model *m) {
    return rt_model_lora(m) ? BASE(m) : NULL;
}

const rt_model *rt_model_unwrapped(const rt_model *m) {
    return rt_model_lora(m) ? BASE(m) : m;
}

rt_status rt_model_lora_merge(rt_model **pm, rt_model **base) {
    rt_model *m = *pm;
    *base = NULL;
    rt_lora *L = rt_model_lora(m);
    if (!L) return rt_error(RT_ERR_ARG, "merge: the model has no LoRA adapters");
    rt_model *b = BASE(m);
    float *tmp = NULL;
    for (int i = 0; i < L->n_sites; i++) {
        const rt_lora_site *s = &L->sites[i];
        float *W = b->params_mem + b->params->t[s->t.weight].offset;
        size_t n = (size_t)s->t.in * s->t.out;
        rt_free_floats(&tmp);
        if (!(tmp = rt_alloc_floats(n))) return rt_error(RT_ERR_MEMORY, "out of memory (merge)");
        rt_lora_merged_weight(L, s, W, tmp);
        memcpy(W, tmp, n * sizeof(float));
    }
    rt_free_floats(&tmp);
    for (int i = 0; i < L->n_saved; i++) {
        int bi = L->saved_base[i];
        memcpy(b->params_mem + b->params->t[bi].offset,
               L->params + L->tab.t[L->saved_idx[i]].offset,
               b->params->t[bi].numel * sizeof(float));
        RT_CALL(b->ops->redirect(b, bi, NULL, NULL));
        b->pat[bi] = b->gat[bi] = NULL;
    }
    b->ops->set_lora(b, NULL);
    for (int i = 0; i < b->params->n; i++) b->params->t[i].trainable = 1;
    LS(m)->base = NULL;
    rt_model_destroy(pm);
    *base = b;
    return RT_OK;
}

rt_status rt_model_lora_set_config(rt_model *m, const char *text) {
    if (!rt_model_lora(m)) return rt_error(RT_ERR_ARG, "the model has no LoRA adapters");
    char *c = text ? strdup(text) : NULL;
    if (text && !c) return rt_error(RT_ERR_MEMORY, "out of memory");
    free(LS(m)->config);
    LS(m)->config = c;
    return RT_OK;
}

const char *rt_model_lora_config(const rt_model *m) {
    return rt_model_lora(m) ? LS(m)->config : NULL;
}
