/* T5 behind the model interface (compute/model_t5.h). */
#include "model_t5.h"
#include "head_lm.h"
#include "t5_decode.h"
#include <math.h>
#include <stdlib.h>

#define T5(m) ((rt_t5 *)(m)->impl)

/* Points the handle at the backbone's arenas and rebuilds the groups (after create, untie). */
static rt_status refresh(rt_model *m) {
    rt_t5 *t = T5(m);
    const rt_t5_config *c = rt_t5_cfg(t);
    int nb = c->num_layers + c->num_decoder_layers, n = nb + 2;
    m->params = rt_t5_table(t);
    m->params_mem = rt_t5_params(t);
    m->grads_mem = rt_t5_grads(t);
    m->hidden_size = c->d_model;
    m->vocab_size = c->vocab_size;
    m->max_positions = 1 << 20; /* relative positions: no table bounds the length */
    rt_group_kind kind[n];
    int block[n], first[n];
    /* backward order: the decoder's final norm (+ lm_head), blocks nb-1 .. 0, shared.weight */
    kind[0] = RT_GROUP_HEAD;
    block[0] = -1;
    first[0] = rt_t5_block_first(t, nb);
    for (int b = nb - 1; b >= 0; b--) {
        kind[nb - b] = RT_GROUP_BLOCK;
        block[nb - b] = b;
        first[nb - b] = rt_t5_block_first(t, b);
    }
    kind[nb + 1] = RT_GROUP_EMBED;
    block[nb + 1] = -1;
    first[nb + 1] = 0;
    return rt_model_set_groups(m, n, kind, block, first);
}

static void t5_destroy(void *impl) {
    rt_t5 *t = impl;
    rt_t5_destroy(&t);
}

static rt_status t5_alloc_acts(rt_model *m, int B, int T) {
    RT_CALL(rt_t5_alloc_acts(T5(m), B, m->src_T > 0 ? m->src_T : T, T));
    m->grads_mem = rt_t5_grads(T5(m));
    m->dhidden = rt_t5_dhidden_scratch(T5(m));
    return RT_OK;
}

static rt_status t5_forward_hidden(rt_model *m, const rt_batch *b, const rt_step_key *key) {
    if (!b->src_ids || b->src_T < 1)
        return rt_error(RT_ERR_ARG,
                        "T5 forward without a source (rt_batch.src_ids, src_T %d): an "
                        "encoder-decoder model needs source-target pairs",
                        b->src_T);
    const float *h;
    RT_CALL(rt_t5_forward_hidden(T5(m), b->src_ids, b->src_mask, b->src_T, b->ids, b->T, b->B, key,
                                 &h));
    m->hidden = (float *)h;
    m->cur_B = b->B;
    m->cur_T = b->T;
    return RT_OK;
}

static int t5_backbone_trains(const rt_model *m) {
    return rt_t5_backbone_trains(T5(m));
}

/* t5.c's block numbers into group indices: block b is group nb - b, shared.weight (-1) nb + 1. */
typedef struct {
    rt_group_done_fn done;
    void *arg;
    int nb;
} done_map;

static void block_done(void *arg, int b) {
    done_map *d = arg;
    d->done(d->arg, b >= 0 ? d->nb - b : d->nb + 1);
}

static void t5_backward_hidden(rt_model *m, const float *dhidden, int accumulate,
                               int shared_written, rt_group_done_fn done, void *arg) {
    const rt_t5_config *c = rt_t5_cfg(T5(m));
    done_map d = {done, arg, c->num_layers + c->num_decoder_layers};
    rt_t5_backward_hidden(T5(m), dhidden, accumulate, shared_written, done ? block_done : NULL, &d);
}

static double t5_flops_hidden(const rt_model *m, int B, int T, int src_T) {
    return rt_t5_flops_hidden(T5(m), B, src_T > 0 ? src_T : T, T);
}

static int t5_output_embedding(const rt_model *m, int *tied) {
    const rt_t5_config *c = rt_t5_cfg(T5(m));
    *tied = c->tie_word_embeddings != 0;
    return *tied ? 0 : rt_t5_block_first(T5(m), c->num_layers + c->num_decoder_layers) + 1;
}

static rt_status t5_untie(rt_model *m) {
    RT_CALL(rt_t5_untie(T5(m)));
    return refresh(m);
}

/* T5 has one dropout rate for every site: the residual one wins, then attention, then the
   embeddings' (NAN keeps the model's). */
static void t5_set_dropout(rt_model *m, double embd, double attn, double resid) {
    double r = !isnan(resid) ? resid : !isnan(attn) ? attn : embd;
    rt_t5_set_dropout(T5(m), (float)r);
}

/* Greedy or beam search through a decoder made for this call (its caches are the call's). */
static rt_status t5_generate(rt_model *m, const rt_batch *b, const rt_gen_opts *o, int32_t *out,
                             int *lengths) {
    rt_t5 *t = T5(m);
    int beams = o->num_beams > 1 ? o->num_beams : 1;
    rt_t5_decoder *d = NULL;
    RT_CALL(rt_t5_decoder_create(&d, t, b->B, beams, b->src_T, o->max_new_tokens));
    rt_status st;
    if (beams == 1) {
        st = rt_t5_generate_greedy(d, b->src_ids, b->src_mask, b->B, b->src_T, o->max_new_tokens,
                                   rt_t5_cfg(t)->eos_token_id, out, lengths);
    } else {
        rt_t5_beam_opts bo;
        rt_t5_beam_opts_default(&bo, rt_t5_cfg(t));
        bo.num_beams = beams;
        bo.length_penalty = o->length_penalty;
        bo.early_stopping = (rt_early_stop)o->early_stopping;
        bo.max_new_tokens = o->max_new_tokens;
        float *scores = malloc(sizeof(float) * (size_t)b->B);
        st = scores ? rt_t5_generate_beam(d, b->src_ids, b->src_mask, b->B, b->src_T, &bo, out,
                                          lengths, scores)
                    : rt_error(RT_ERR_MEMORY, "out of memory");
        free(scores);
    }
    rt_t5_decoder_destroy(&d);
    return st;
}

static int t5_lora_targets(const rt_model *m, rt_lora_target *out, int *n_slots) {
    *n_slots = RT_T5_LORA_SLOTS;
    const rt_t5_config *c = rt_t5_cfg(T5(m));
    if (out) return rt_t5_lora_targets(T5(m), out);
    return (c->num_layers + c->num_decoder_layers) * RT_T5_LORA_SLOTS;
}

static void t5_set_lora(rt_model *m, rt_lora *L) {
    rt_t5_set_lora(T5(m), L);
    m->grads_mem = rt_t5_grads(T5(m));
}

static rt_status t5_redirect(rt_model *m, int idx, float *param, float *grad) {
    return rt_t5_redirect(T5(m), idx, param, grad);
}

const rt_model_ops rt_t5_model_ops = {"t5",
                                      t5_destroy,
                                      t5_alloc_acts,
                                      t5_forward_hidden,
                                      t5_backbone_trains,
                                      t5_backward_hidden,
                                      t5_flops_hidden,
                                      t5_output_embedding,
                                      t5_untie,
                                      t5_set_dropout,
                                      t5_generate,
                                      t5_lora_targets,
                                      t5_set_lora,
                                      t5_redirect};

rt_status rt_model_t5_wrap(rt_t5 *t, rt_model **out) {
    *out = NULL;
    rt_model *m = calloc(1, sizeof *m);
    if (!m) {
        rt_t5_destroy(&t);
        return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    m->ops = &rt_t5_model_ops;
    m->impl = t;
    m->encoder_decoder = 1;
    m->decoder_start_id = rt_t5_cfg(t)->decoder_start_token_id;
    m->pad_id = rt_t5_cfg(t)->pad_token_id;
    rt_status st = refresh(m);
    if (st != RT_OK) {
        rt_model_destroy(&m);
        return st;
    }
    rt_model_set_head(m, &rt_head_lm_ops);
    *out = m;
    return RT_OK;
}

rt_t5 *rt_model_t5(const rt_model *m) {
    return m && m->ops == &rt_t5_model_ops ? T5(m) : NULL;
}
