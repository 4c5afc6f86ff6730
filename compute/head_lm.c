/* The language-model head (compute/head_lm.h) over the final hidden states. */
#include "head_lm.h"
#include "gemm.h"
#include "layers.h"
#include <stdlib.h>

typedef struct {
    float *mem;
    float *logits;          /* (B, T, V); backward overwrites it with dlogits */
    float *lse;             /* (B, T) log-sum-exp of each row */
    float *losses;          /* (B, T) per-token loss, 0 where ignored */
    const int32_t *targets; /* of the last forward (borrowed) */
} lm_state;

static void lm_destroy(void *state) {
    lm_state *s = state;
    if (!s) return;
    rt_free_floats(&s->mem);
    free(s);
}

static rt_status lm_alloc_acts(rt_model *m, int B, int T) {
    lm_state *s = m->head_state;
    if (!s && !(s = m->head_state = calloc(1, sizeof *s)))
        return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_free_floats(&s->mem);
    size_t N = (size_t)B * T, V = (size_t)m->vocab_size, NV = (N * V + 15) & ~(size_t)15,
           N16 = (N + 15) & ~(size_t)15;
    if (!(s->mem = rt_alloc_floats(NV + 2 * N16)))
        return rt_error(RT_ERR_MEMORY, "out of memory allocating %.1f MB of logits",
                        NV * 4.0 / 1e6);
    s->logits = s->mem;
    s->lse = s->mem + NV;
    s->losses = s->lse + N16;
    return RT_OK;
}

static const float *weight(const rt_model *m, float **grad, int *tied) {
    return rt_model_tensor(m, m->ops->output_embedding(m, tied), grad);
}

static double lm_count(const rt_model *m, const rt_batch *b) {
    (void)m;
    long n = 0;
    if (!b->targets) return 0;
    for (long i = 0; i < (long)b->B * b->T; i++) n += b->targets[i] != -100;
    return (double)n;
}

static rt_status lm_forward(rt_model *m, const rt_batch *b, double *loss_sum, double *count) {
    lm_state *s = m->head_state;
    int C = m->hidden_size, V = m->vocab_size, N = b->B * b->T, tied, n = 0, bad = -1;
    float *g;
    const float *w = weight(m, &g, &tied);
    s->targets = b->targets;
    rt_gemm(0, 1, N, V, C, 1.0f, m->hidden, C, w, C, 0.0f, s->logits, V);
    *loss_sum = 0.0;
    *count = 0;
    if (!b->targets) return RT_OK;
    double sum = rt_crossentropy_forward(s->losses, s->lse, s->logits, b->targets, N, V, &n, &bad);
    if (bad >= 0)
        return rt_error(RT_ERR_ARG,
                        "target %d at position %d: expected -100 (ignored) or an id in [0, %d)",
                        b->targets[bad], bad, V);
    *loss_sum = sum;
    *count = (double)n;
    return RT_OK;
}

static void lm_backward(rt_model *m, float scale, int accumulate, int need_dhidden, float *dhidden,
                        int *shared_written) {
    lm_state *s = m->head_state;
    int C = m->hidden_size, V = m->vocab_size, N = m->cur_B * m->cur_T, tied;
    float *dw;
    const float *w = weight(m, &dw, &tied);
    rt_crossentropy_backward(s->logits, s->lse, s->targets, N, V, scale);
    const float *dlogits = s->logits;
    if (dw) rt_gemm(1, 0, V, C, N, 1.0f, dlogits, V, m->hidden, C, accumulate ? 1.0f : 0.0f, dw, C);
    *shared_written = tied;
    if (need_dhidden) rt_gemm(0, 0, N, C, V, 1.0f, dlogits, V, w, C, 0.0f, dhidden, C);
}

static double lm_flops(const rt_model *m, int B, int T) {
    double NVC = (double)B * T * m->vocab_size * m->hidden_size, fl = 2.0 * NVC; /* logits */
    int tied, idx = m->ops->output_embedding(m, &tied);
    if (m->params->t[idx].trainable) fl += 2.0 * NVC; /* the projection's gradient */
    if (m->ops->backbone_trains(m)) fl += 2.0 * NVC;  /* d(hidden) */
    return fl;
}

const rt_head_ops rt_head_lm_ops = {"lm",     1,          lm_destroy,  lm_alloc_acts,
                                    lm_count, lm_forward, lm_backward, lm_flops};

const float *rt_head_lm_logits(const rt_model *m) {
    if (m->head_owner) m = m->head_owner;
    if (m->head != &rt_head_lm_ops || !m->head_state) return NULL;
    return ((const lm_state *)m->head_state)->logits;
}
