/* The sequence-classification head (compute/head_seqcls.h). */
#include "head_seqcls.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int K, pad, score; /* labels, pad id (< 0: none), the score's tensor index */
    char **names;      /* [K] owned */
    float *weights;    /* [K] class weights, NULL: none (owned) */
    rt_seqcls *h;      /* scratch of the current micro-batch shape (owned) */
} seqcls_state;

static void sc_destroy(void *state) {
    seqcls_state *s = state;
    if (!s) return;
    for (int k = 0; s->names && k < s->K; k++) free(s->names[k]);
    free(s->names);
    free(s->weights);
    rt_seqcls_destroy(&s->h);
    free(s);
}

static seqcls_state *S(const rt_model *m) {
    if (m->head_owner) m = m->head_owner;
    return m->head == &rt_head_seqcls_ops ? m->head_state : NULL;
}

rt_status rt_head_seqcls_attach(rt_model *m, int K, const char *const *names, int pad_id,
                                int score) {
    if (K < 2)
        return rt_error(RT_ERR_ARG, "a classification head needs at least 2 labels, got %d", K);
    if (score < 0 || score >= m->params->n ||
        m->params->t[score].numel != (size_t)K * m->hidden_size)
        return rt_error(RT_ERR_ARG, "tensor %d is not a score of %d x %d", score, K,
                        m->hidden_size);
    seqcls_state *s = calloc(1, sizeof *s);
    if (!s || !(s->names = calloc((size_t)K, sizeof *s->names))) {
        free(s);
        return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    s->K = K;
    s->pad = pad_id;
    s->score = score;
    for (int k = 0; k < K; k++) {
        char buf[32];
        snprintf(buf, sizeof buf, "LABEL_%d", k);
        if (!(s->names[k] = strdup(names && names[k] ? names[k] : buf))) {
            sc_destroy(s);
            return rt_error(RT_ERR_MEMORY, "out of memory");
        }
    }
    rt_model_set_head(m, NULL);
    m->head = &rt_head_seqcls_ops;
    m->head_state = s;
    m->head_tensors = m->params->n - score;
    return RT_OK;
}

int rt_head_seqcls_num_labels(const rt_model *m) {
    return S(m) ? S(m)->K : 0;
}

const char *rt_head_seqcls_label(const rt_model *m, int k) {
    return S(m) && k >= 0 && k < S(m)->K ? S(m)->names[k] : NULL;
}

int rt_head_seqcls_pad(const rt_model *m) {
    return S(m) ? S(m)->pad : -1;
}

rt_status rt_head_seqcls_set_class_weights(rt_model *m, const float *w) {
    seqcls_state *s = S(m);
    if (!s) return rt_error(RT_ERR_ARG, "class weights need a classification head");
    free(s->weights);
    s->weights = NULL;
    if (!w) return RT_OK;
    RT_CALL(rt_seqcls_check_weights(w, s->K));
    if (!(s->weights = malloc((size_t)s->K * sizeof *s->weights)))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    memcpy(s->weights, w, (size_t)s->K * sizeof *s->weights);
    return RT_OK;
}

const float *rt_head_seqcls_class_weights(const rt_model *m) {
    return S(m) ? S(m)->weights : NULL;
}

const int32_t *rt_head_seqcls_pooled(const rt_model *m) {
    return S(m) && S(m)->h ? S(m)->h->pooled : NULL;
}

const float *rt_head_seqcls_logits(const rt_model *m) {
    return S(m) && S(m)->h ? S(m)->h->logits : NULL;
}

static rt_status sc_alloc_acts(rt_model *m, int B, int T) {
    (void)T;
    seqcls_state *s = m->head_state;
    rt_seqcls_destroy(&s->h);
    return rt_seqcls_create(&s->h, s->K, m->hidden_size, B);
}

static const float *score_w(const rt_model *m, float **grad) {
    return rt_model_tensor(m, ((seqcls_state *)m->head_state)->score, grad);
}

/* The loss normaliser: the counted labels (not -100), or the sum of their class weights. */
static double sc_count(const rt_model *m, const rt_batch *b) {
    const seqcls_state *s = m->head_state;
    double n = 0.0;
    for (int i = 0; b->labels && i < b->B; i++) {
        int32_t y = b->labels[i];
        if (y == RT_SEQCLS_IGNORE) continue;
        n += s->weights && y >= 0 && y < s->K ? (double)s->weights[y] : 1.0;
    }
    return n;
}

static rt_status sc_forward(rt_model *m, const rt_batch *b, double *loss_sum, double *count) {
    seqcls_state *s = m->head_state;
    float *g;
    const float *w = score_w(m, &g);
    double ls = 0.0, ws = 0.0;
    RT_CALL(rt_seqcls_forward(s->h, w, m->hidden, b->ids, b->B, b->T, s->pad, b->labels, s->weights,
                              &ls, &ws));
    *loss_sum = ls;
    *count = ws; /* the counted rows, or their class-weight sum */
    return RT_OK;
}

static void sc_backward(rt_model *m, float scale, int accumulate, int need_dhidden, float *dhidden,
                        int *shared_written) {
    seqcls_state *s = m->head_state;
    float *dw;
    const float *w = score_w(m, &dw);
    *shared_written = 0;
    if (!s->h->labels) return;
    rt_seqcls_backward(s->h, w, dw, need_dhidden ? dhidden : NULL, scale, accumulate);
}

static double sc_flops(const rt_model *m, int B, int T) {
    (void)T;
    seqcls_state *s = m->head_state;
    double BKC = (double)B * s->K * m->hidden_size, fl = 2.0 * BKC; /* pooled logits */
    if (m->params->t[s->score].trainable) fl += 2.0 * BKC;
    if (m->ops->backbone_trains(m)) fl += 2.0 * BKC;
    return fl;
}

const rt_head_ops rt_head_seqcls_ops = {"seqcls", 0,          sc_destroy,  sc_alloc_acts,
                                        sc_count, sc_forward, sc_backward, sc_flops};
