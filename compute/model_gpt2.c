/* GPT-2 behind the model interface (compute/model_gpt2.h). */
#include "model_gpt2.h"
#include "head_lm.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define G(m) ((rt_gpt2 *)(m)->impl)
#define T_PER_BLOCK 12 /* tensors per block in compute/gpt2.c's table */

/* Points the handle at the backbone's arenas and rebuilds the groups (after create, untie). */
static rt_status refresh(rt_model *m) {
    rt_gpt2 *g = G(m);
    int L = g->cfg.n_layer, n = L + 2;
    m->params = &g->params;
    m->params_mem = g->params_mem;
    m->grads_mem = g->grads_mem;
    m->hidden = g->lnf;
    m->dhidden = g->dbtc; /* backward reads its input before reusing dbtc */
    m->hidden_size = g->cfg.n_embd;
    m->vocab_size = g->cfg.vocab_size;
    m->max_positions = g->cfg.n_positions;
    rt_group_kind kind[n];
    int block[n], first[n];
    /* backward order: ln_f (+ lm_head), blocks L-1 .. 0, the embeddings wte and wpe */
    kind[0] = RT_GROUP_HEAD;
    block[0] = -1;
    first[0] = 2 + T_PER_BLOCK * L;
    for (int l = L - 1; l >= 0; l--) {
        kind[L - l] = RT_GROUP_BLOCK;
        block[L - l] = l;
        first[L - l] = 2 + T_PER_BLOCK * l;
    }
    kind[L + 1] = RT_GROUP_EMBED;
    block[L + 1] = -1;
    first[L + 1] = 0;
    return rt_model_set_groups(m, n, kind, block, first);
}

static void gpt2_destroy(void *impl) {
    rt_gpt2 *g = impl;
    rt_gpt2_destroy(&g);
}

static rt_status gpt2_alloc_acts(rt_model *m, int B, int T) {
    G(m)->no_logits = 1; /* the head owns the outputs */
    RT_CALL(rt_gpt2_alloc_acts(G(m), B, T));
    m->grads_mem = G(m)->grads_mem;
    m->hidden = G(m)->lnf;
    m->dhidden = G(m)->dbtc;
    return RT_OK;
}

static rt_status gpt2_forward_hidden(rt_model *m, const rt_batch *b, const rt_step_key *key) {
    RT_CALL(rt_gpt2_forward_hidden_keyed(G(m), b->ids, b->B, b->T, key));
    m->cur_B = b->B;
    m->cur_T = b->T;
    return RT_OK;
}

static int gpt2_backbone_trains(const rt_model *m) {
    return rt_gpt2_backbone_trains(G(m));
}

/* Translates gpt2.c's block numbers into group indices: block l is group L - l, the embeddings
   (-1) group L + 1. */
typedef struct {
    rt_group_done_fn done;
    void *arg;
    int L;
} done_map;

static void layer_done(void *arg, int layer) {
    done_map *d = arg;
    d->done(d->arg, layer >= 0 ? d->L - layer : d->L + 1);
}

static void gpt2_backward_hidden(rt_model *m, const float *dhidden, int accumulate,
                                 int shared_written, rt_group_done_fn done, void *arg) {
    done_map d = {done, arg, G(m)->cfg.n_layer};
    rt_gpt2_backward_hidden_ex(G(m), dhidden, accumulate, shared_written, done ? layer_done : NULL,
                               &d);
}

static double gpt2_flops_hidden(const rt_model *m, int B, int T, int src_T) {
    (void)src_T;
    return rt_gpt2_flops_done_hidden(G(m), B, T);
}

static int gpt2_output_embedding(const rt_model *m, int *tied) {
    const rt_gpt2 *g = G(m);
    *tied = g->cfg.tie_word_embeddings != 0;
    return *tied ? 0 : 4 + T_PER_BLOCK * g->cfg.n_layer; /* wte, or "lm_head.weight" */
}

static rt_status gpt2_untie(rt_model *m) {
    if (!G(m)->cfg.tie_word_embeddings) return RT_OK;
    rt_gpt2 *u;
    RT_CALL(rt_gpt2_untie(G(m), &u));
    rt_gpt2 *old = G(m);
    rt_gpt2_destroy(&old);
    m->impl = u;
    return refresh(m);
}

static void gpt2_set_dropout(rt_model *m, double embd, double attn, double resid) {
    rt_gpt2_config *c = &G(m)->cfg;
    if (!isnan(embd)) c->embd_pdrop = (float)embd;
    if (!isnan(attn)) c->attn_pdrop = (float)attn;
    if (!isnan(resid)) c->resid_pdrop = (float)resid;
}

static int gpt2_lora_targets(const rt_model *m, rt_lora_target *out, int *n_slots) {
    *n_slots = RT_GPT2_LORA_SLOTS;
    return out ? rt_gpt2_lora_targets(G(m), out) : G(m)->cfg.n_layer * RT_GPT2_LORA_SLOTS;
}

static void gpt2_set_lora(rt_model *m, rt_lora *L) {
    rt_gpt2_set_lora(G(m), L);
    m->grads_mem = G(m)->grads_mem;
}

static rt_status gpt2_redirect(rt_model *m, int idx, float *param, float *grad) {
    return rt_gpt2_redirect(G(m), idx, param, grad);
}

const rt_model_ops rt_gpt2_model_ops = {"gpt2",
                                        gpt2_destroy,
                                        gpt2_alloc_acts,
                                        gpt2_forward_hidden,
                                        gpt2_backbone_trains,
                                        gpt2_backward_hidden,
                                        gpt2_flops_hidden,
                                        gpt2_output_embedding,
                                        gpt2_untie,
                                        gpt2_set_dropout,
                                        NULL,
                                        gpt2_lora_targets,
                                        gpt2_set_lora,
                                        gpt2_redirect};

rt_status rt_model_gpt2_wrap(rt_gpt2 *g, rt_model **out) {
    *out = NULL;
    rt_model *m = calloc(1, sizeof *m);
    if (!m) {
        rt_gpt2_destroy(&g);
        return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    m->ops = &rt_gpt2_model_ops;
    m->impl = g;
    rt_status st = refresh(m);
    if (st != RT_OK) {
        rt_model_destroy(&m);
        return st;
    }
    rt_model_set_head(m, &rt_head_lm_ops);
    *out = m;
    return RT_OK;
}

rt_gpt2 *rt_model_gpt2(const rt_model *m) {
    return m && m->ops == &rt_gpt2_model_ops ? G(m) : NULL;
}
