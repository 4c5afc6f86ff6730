/* Sequence classification over whole examples (dist/cls_eval.h). */
#include "cls_eval.h"
#include "head_seqcls.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static rt_status corpus_read(void *ctx, uint64_t i, int32_t *dst, size_t cap, size_t *len,
                             int32_t *label) {
    const rt_corpus_source *cs = ctx; /* only the tokens kept are read: no copy, no buffer */
    return rt_corpus_read_example_head(cs->corpus, cs->split, i, dst, cap, len, label);
}

rt_example_source rt_example_source_corpus(const rt_corpus_source *cs) {
    const rt_corpus_info *in = rt_corpus_get_info(cs->corpus);
    return (rt_example_source){in->n_docs[cs->split], corpus_read, (void *)cs};
}

/* Softmax of one row of K logits into p (double inside, as the oracle's float64 check). */
static int row_softmax_argmax(const float *z, int K, float *p) {
    int best = 0;
    for (int k = 1; k < K; k++)
        if (z[k] > z[best]) best = k;
    if (p) {
        double s = 0.0;
        for (int k = 0; k < K; k++) s += exp((double)z[k] - z[best]);
        for (int k = 0; k < K; k++) p[k] = (float)(exp((double)z[k] - z[best]) / s);
    }
    return best;
}

rt_status rt_cls_fill(const rt_example_source *src, const uint64_t *idx, uint64_t i, int nb, int T,
                      int32_t pad, int32_t *ids, int32_t *labels, int *Tb, int64_t *truncated) {
    size_t len[nb];
    *Tb = 1;
    for (int r = 0; r < nb; r++) {
        uint64_t e = idx ? idx[r] : i + (uint64_t)r;
        RT_CALL(src->read(src->ctx, e, ids + (size_t)r * T, (size_t)T, &len[r], &labels[r]));
        if (len[r] > (size_t)T) {
            len[r] = (size_t)T;
            (*truncated)++;
        }
        if (len[r] == 0)
            return rt_error(RT_ERR_ARG, "example %llu has no tokens",
                            (unsigned long long)(idx ? idx[r] : i + (uint64_t)r));
        if ((int)len[r] > *Tb) *Tb = (int)len[r];
    }
    /* repack (nb, T) rows into (nb, Tb), padding each on the right */
    for (int r = 0; r < nb; r++) {
        int32_t *dst = ids + (size_t)r * *Tb;
        memmove(dst, ids + (size_t)r * T, len[r] * sizeof *dst);
        for (int t = (int)len[r]; t < *Tb; t++) dst[t] = pad;
    }
    return RT_OK;
}

rt_status rt_cls_run(rt_model *m, const rt_example_source *src, uint64_t lo, uint64_t hi, int B,
                     int T, rt_cls_tally *t, int32_t *pred, float *probs) {
    int K = rt_head_seqcls_num_labels(m), pad = rt_head_seqcls_pad(m);
    if (K < 2) return rt_error(RT_ERR_ARG, "the model has no classification head");
    if (hi > src->n || lo > hi)
        return rt_error(RT_ERR_ARG, "examples [%llu, %llu) of %llu", (unsigned long long)lo,
                        (unsigned long long)hi, (unsigned long long)src->n);
    if (pad < 0) B = 1; /* no pad id: one row per forward (transformers refuses more) */
    int32_t *ids = malloc((size_t)B * T * sizeof *ids),
            *labels = malloc((size_t)B * sizeof *labels);
    int32_t *pb = malloc((size_t)B * sizeof *pb);
    rt_status st = ids && labels && pb ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    for (uint64_t i = lo; i < hi && st == RT_OK; i += (uint64_t)B) {
        int nb = hi - i < (uint64_t)B ? (int)(hi - i) : B, Tb;
        int64_t trunc = 0;
        st = rt_cls_fill(src, NULL, i, nb, T, pad < 0 ? 0 : pad, ids, labels, &Tb, &trunc);
        if (st != RT_OK) break;
        int any = 0;
        for (int r = 0; r < nb; r++) any |= labels[r] != RT_SEQCLS_IGNORE;
        rt_batch b = {.B = nb, .T = Tb, .ids = ids, .labels = any ? labels : NULL};
        double ls = 0.0;
        double n = 0.0;
        st = rt_model_forward(m, &b, NULL, &ls, &n);
        if (st != RT_OK) break;
        const float *z = rt_head_seqcls_logits(m);
        for (int r = 0; r < nb; r++) {
            size_t o = (size_t)(i - lo) + (size_t)r;
            pb[r] = row_softmax_argmax(z + (size_t)r * K, K, probs ? probs + o * K : NULL);
            if (pred) pred[o] = pb[r];
        }
        if (!t) continue;
        t->n_truncated += trunc;
        t->loss_sum += ls;
        t->n_loss += n;
        for (int r = 0; r < nb && st == RT_OK; r++)
            if (labels[r] != RT_SEQCLS_IGNORE)
                st = rt_confusion_add(&t->conf, &pb[r], &labels[r], 1);
    }
    free(ids);
    free(labels);
    free(pb);
    return st;
}

rt_status rt_cls_features(rt_model *m, const rt_example_source *src, uint64_t lo, uint64_t hi,
                          int B, int T, float *feats) {
    int pad = rt_head_seqcls_pad(m);
    if (pad < 0) B = 1;
    size_t C = (size_t)m->hidden_size;
    int32_t *ids = malloc((size_t)B * T * sizeof *ids),
            *labels = malloc((size_t)B * sizeof *labels);
    rt_status st = ids && labels ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    for (uint64_t i = lo; i < hi && st == RT_OK; i += (uint64_t)B) {
        int nb = hi - i < (uint64_t)B ? (int)(hi - i) : B, Tb;
        int64_t trunc = 0;
        st = rt_cls_fill(src, NULL, i, nb, T, pad < 0 ? 0 : pad, ids, labels, &Tb, &trunc);
        rt_batch b = {.B = nb, .T = Tb, .ids = ids};
        if (st == RT_OK) st = rt_model_forward(m, &b, NULL, NULL, NULL); /* no dropout */
        if (st != RT_OK) break;
        const int32_t *pos = rt_head_seqcls_pooled(m);
        for (int r = 0; r < nb; r++)
            memcpy(feats + ((size_t)(i - lo) + (size_t)r) * C,
                   m->hidden + ((size_t)r * Tb + (size_t)pos[r]) * C, C * sizeof(float));
    }
    free(ids);
    free(labels);
    return st;
}

static rt_status cached_read(void *ctx, uint64_t i, int32_t *dst, size_t cap, size_t *len,
                             int32_t *label) {
    const rt_cached_examples *c = ctx;
    if (cap < 1) return rt_error(RT_ERR_ARG, "no room for a cached example");
    dst[0] = (int32_t)i;
    *len = 1;
    *label = c->labels[i];
    return RT_OK;
}

rt_example_source rt_example_source_cached(const rt_cached_examples *c, uint64_t n) {
    return (rt_example_source){n, cached_read, (void *)c};
}
