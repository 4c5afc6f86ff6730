/* The cached-features backbone (compute/model_cached.h). */
#include "model_cached.h"
#include "arena.h"
#include "head_seqcls.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    rt_model *base; /* borrowed: the parameters and gradients */
    rt_feature_rows rows;
    float *hidden; /* (B, 1, C) owned */
} cached;

#define CB(m) ((cached *)(m)->impl)

static void cached_destroy(void *impl) {
    cached *c = impl;
    if (!c) return;
    rt_free_floats(&c->hidden);
    free(c);
}

static rt_status cached_alloc_acts(rt_model *m, int B, int T) {
    (void)T;
    cached *c = CB(m);
    rt_free_floats(&c->hidden);
    if (!(c->hidden = rt_alloc_floats((size_t)B * m->hidden_size)))
        return rt_error(RT_ERR_MEMORY, "out of memory for %d cached feature rows", B);
    m->hidden = c->hidden;
    m->dhidden = NULL;
    m->grads_mem = c->base->grads_mem; /* the base's, allocated with its activations */
    return RT_OK;
}

static rt_status cached_forward_hidden(rt_model *m, const rt_batch *b, const rt_step_key *key) {
    (void)key;
    cached *c = CB(m);
    if (b->T != 1)
        return rt_error(RT_ERR_ARG, "cached features: a batch of (B, 1) example indices, not T %d",
                        b->T);
    size_t C = (size_t)m->hidden_size;
    for (int r = 0; r < b->B; r++) {
        int32_t i = b->ids[r];
        if (i < 0 || (uint64_t)i >= c->rows.n)
            return rt_error(RT_ERR_ARG, "cached features: example %d of %llu", i,
                            (unsigned long long)c->rows.n);
        if (c->rows.mem)
            memcpy(c->hidden + (size_t)r * C, c->rows.mem + (size_t)i * C, C * sizeof(float));
    }
    if (!c->rows.mem) RT_CALL(c->rows.read(c->rows.ctx, b->ids, b->B, c->hidden));
    m->cur_B = b->B;
    m->cur_T = 1;
    return RT_OK;
}

static int cached_trains(const rt_model *m) {
    (void)m;
    return 0; /* the features are constants */
}

static void cached_backward_hidden(rt_model *m, const float *dhidden, int accumulate,
                                   int shared_written, rt_group_done_fn done, void *arg) {
    (void)m, (void)dhidden, (void)accumulate, (void)shared_written, (void)done, (void)arg;
}

static double cached_flops(const rt_model *m, int B, int T, int src_T) {
    (void)m, (void)B, (void)T, (void)src_T;
    return 0.0; /* a copy, no arithmetic */
}

static int cached_output_embedding(const rt_model *m, int *tied) {
    (void)m;
    *tied = 0;
    return -1; /* none: only a head of its own runs on cached features */
}

static rt_status cached_untie(rt_model *m) {
    (void)m;
    return rt_error(RT_ERR_ARG, "cached features have no output embedding to untie");
}

static void cached_set_dropout(rt_model *m, double embd, double attn, double resid) {
    (void)m, (void)embd, (void)attn, (void)resid;
}

static const rt_model_ops cached_ops = {"cached-features",
                                        cached_destroy,
                                        cached_alloc_acts,
                                        cached_forward_hidden,
                                        cached_trains,
                                        cached_backward_hidden,
                                        cached_flops,
                                        cached_output_embedding,
                                        cached_untie,
                                        cached_set_dropout,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL};

rt_status rt_model_cached_create(rt_model *base, const rt_feature_rows *rows, rt_model **out) {
    uint64_t n = rows->n;
    *out = NULL;
    int K = rt_head_seqcls_num_labels(base);
    if (K < 2 || base->head_tensors != 1)
        return rt_error(RT_ERR_ARG, "cached features need a sequence-classification head");
    rt_model *m = calloc(1, sizeof *m);
    cached *c = calloc(1, sizeof *c);
    rt_param_group *g = malloc((size_t)base->n_groups * sizeof *g);
    if (!m || !c || !g) {
        free(m), free(c), free(g);
        return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    *c = (cached){base, *rows, NULL};
    memcpy(g, base->groups, (size_t)base->n_groups * sizeof *g);
    m->ops = &cached_ops;
    m->impl = c;
    m->params = base->params;
    m->params_mem = base->params_mem;
    m->grads_mem = base->grads_mem;
    m->groups = g;
    m->n_groups = base->n_groups;
    m->n_blocks = base->n_blocks;
    m->hidden_size = base->hidden_size;
    m->vocab_size = n > INT32_MAX ? INT32_MAX : (int)n; /* the "tokens" are example indices */
    m->max_positions = 1;
    const char *names[K];
    for (int k = 0; k < K; k++) names[k] = rt_head_seqcls_label(base, k);
    rt_status st =
        rt_head_seqcls_attach(m, K, names, rt_head_seqcls_pad(base), base->params->n - 1);
    if (st == RT_OK) st = rt_head_seqcls_set_class_weights(m, rt_head_seqcls_class_weights(base));
    if (st != RT_OK) {
        rt_model_destroy(&m);
        return st;
    }
    *out = m;
    return RT_OK;
}
