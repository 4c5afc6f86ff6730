/* The generic half of the model handle (compute/model.h): the calls that compose backbone and
   head. */
#include "model.h"
#include <stdlib.h>

void rt_model_destroy(rt_model **pm) {
    rt_model *m = *pm;
    if (!m) return;
    if (m->head && m->head->destroy) m->head->destroy(m->head_state);
    if (m->ops && m->ops->destroy) m->ops->destroy(m->impl);
    free(m->groups);
    free(m->pat);
    free(m->gat);
    free(m);
    *pm = NULL;
}

void rt_model_set_head(rt_model *m, const rt_head_ops *head) {
    if (m->head && m->head != head && m->head->destroy) {
        m->head->destroy(m->head_state);
        m->head_state = NULL;
    }
    if (m->head != head) m->head_tensors = 0; /* a head with tensors sets them after this */
    m->head = head;
}

rt_status rt_model_alloc_acts(rt_model *m, int B, int T) {
    if (!m->head) return rt_error(RT_ERR_ARG, "%s model without a task head", m->ops->arch);
    RT_CALL(m->ops->alloc_acts(m, B, T));
    return m->head->alloc_acts ? m->head->alloc_acts(m, B, T) : RT_OK;
}

rt_status rt_model_forward(rt_model *m, const rt_batch *b, const rt_step_key *key, double *loss_sum,
                           double *count) {
    RT_CALL(m->ops->forward_hidden(m, b, key));
    double ls = 0.0, n = 0.0;
    RT_CALL(m->head->forward(m, b, &ls, &n));
    if (loss_sum) *loss_sum = ls;
    if (count) *count = n;
    return RT_OK;
}

void rt_model_backward(rt_model *m, float scale, int accumulate, rt_group_done_fn done, void *arg) {
    int below = m->ops->backbone_trains(m), shared = 0;
    m->head->backward(m, scale, accumulate, below, m->dhidden, &shared);
    if (below) m->ops->backward_hidden(m, m->dhidden, accumulate, shared, done, arg);
}

double rt_model_count(const rt_model *m, const rt_batch *b) {
    return m->head->count(m, b);
}

double rt_model_flops_done(const rt_model *m, int B, int T) {
    return m->ops->flops_hidden(m, B, T, m->src_T) + m->head->flops(m, B, T);
}

double rt_model_flops_batch(const rt_model *m, const rt_batch *b) {
    return m->ops->flops_hidden(m, b->B, b->T, b->src_T) + m->head->flops(m, b->B, b->T);
}

rt_status rt_model_generate(rt_model *m, const rt_batch *b, const rt_gen_opts *o, int32_t *out,
                            int *lengths) {
    if (!m->ops->generate)
        return rt_error(RT_ERR_ARG, "a %s model does not decode sources (not an encoder-decoder)",
                        m->ops->arch);
    return m->ops->generate(m, b, o, out, lengths);
}

size_t rt_model_num_params(const rt_model *m) {
    size_t n = 0;
    for (int i = 0; i < m->params->n; i++) n += m->params->t[i].numel;
    return n;
}

rt_status rt_model_set_groups(rt_model *m, int n, const rt_group_kind *kind, const int *block,
                              const int *first) {
    rt_param_group *g = calloc((size_t)n, sizeof *g);
    if (!g) return rt_error(RT_ERR_MEMORY, "out of memory for the parameter groups");
    const rt_tensor_table *tab = m->params;
    int nb = 0;
    for (int k = 0; k < n; k++) {
        int end = k ? first[k - 1] : tab->n; /* groups descend through the table */
        g[k].kind = kind[k];
        g[k].block = block[k];
        g[k].first = first[k];
        g[k].count = end - first[k];
        g[k].lo = k == n - 1 ? 0 : tab->t[first[k]].offset;
        g[k].hi = k ? g[k - 1].lo : tab->total;
        g[k].reports_done = kind[k] != RT_GROUP_HEAD;
        nb += kind[k] == RT_GROUP_BLOCK;
    }
    free(m->groups);
    m->groups = g;
    m->n_groups = n;
    m->n_blocks = nb;
    return RT_OK;
}

float *rt_model_tensor(const rt_model *m, int idx, float **grad) {
    const rt_tensor_info *ti = &m->params->t[idx];
    if (m->pat && m->pat[idx]) {
        *grad = ti->trainable ? m->gat[idx] : NULL;
        return m->pat[idx];
    }
    *grad = ti->trainable && m->grads_mem ? m->grads_mem + ti->offset : NULL;
    return m->params_mem + ti->offset;
}
