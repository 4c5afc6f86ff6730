/* Classification metrics from a confusion matrix, with scikit-learn's formulas and its default
   zero_division="warn" (an undefined 0/0 is 0, flagged). Integer counts stay int64 until the
   final division so that merged counts give exactly the figures of one big batch. */
#include "metrics.h"
#include <stdlib.h>
#include <string.h>

/* K * K int64 must fit a size_t and the label a positive int32 */
#define RT_METRICS_MAX_LABELS 46340

rt_status rt_confusion_init(rt_confusion *c, int num_labels) {
    c->num_labels = 0;
    c->counts = NULL;
    if (num_labels < 1 || num_labels > RT_METRICS_MAX_LABELS)
        return rt_error(RT_ERR_ARG, "confusion matrix: num_labels %d, expected 1..%d", num_labels,
                        RT_METRICS_MAX_LABELS);
    c->counts = calloc((size_t)num_labels * (size_t)num_labels, sizeof(int64_t));
    if (!c->counts)
        return rt_error(RT_ERR_MEMORY, "confusion matrix: out of memory for %d x %d counts",
                        num_labels, num_labels);
    c->num_labels = num_labels;
    return RT_OK;
}

void rt_confusion_free(rt_confusion *c) {
    free(c->counts);
    c->counts = NULL;
    c->num_labels = 0;
}

void rt_confusion_reset(rt_confusion *c) {
    if (c->counts)
        memset(c->counts, 0, (size_t)c->num_labels * (size_t)c->num_labels * sizeof(int64_t));
}

rt_status rt_confusion_add(rt_confusion *c, const int32_t *pred, const int32_t *truth, int64_t n) {
    const int K = c->num_labels;
    if (n < 0) return rt_error(RT_ERR_ARG, "confusion matrix: negative count %lld", (long long)n);
    if (n > 0 && (!pred || !truth))
        return rt_error(RT_ERR_ARG, "confusion matrix: %lld pairs but no arrays", (long long)n);
    for (int64_t i = 0; i < n; i++) { /* check everything first: all or nothing is counted */
        if (truth[i] < 0 || truth[i] >= K)
            return rt_error(RT_ERR_ARG,
                            "confusion matrix: true label %d at index %lld, expected "
                            "0..%d",
                            (int)truth[i], (long long)i, K - 1);
        if (pred[i] < 0 || pred[i] >= K)
            return rt_error(RT_ERR_ARG,
                            "confusion matrix: predicted label %d at index %lld, "
                            "expected 0..%d",
                            (int)pred[i], (long long)i, K - 1);
    }
    for (int64_t i = 0; i < n; i++) c->counts[(int64_t)truth[i] * K + pred[i]]++;
    return RT_OK;
}

rt_status rt_confusion_merge(rt_confusion *dst, const rt_confusion *src) {
    if (dst->num_labels != src->num_labels)
        return rt_error(RT_ERR_ARG, "confusion matrix merge: %d labels into %d", src->num_labels,
                        dst->num_labels);
    size_t kk = (size_t)dst->num_labels * (size_t)dst->num_labels;
    for (size_t i = 0; i < kk; i++) dst->counts[i] += src->counts[i];
    return RT_OK;
}

int64_t rt_confusion_total(const rt_confusion *c) {
    size_t kk = (size_t)c->num_labels * (size_t)c->num_labels;
    int64_t s = 0;
    for (size_t i = 0; i < kk; i++) s += c->counts[i];
    return s;
}

rt_status rt_metrics_init(rt_metrics *m, int num_labels) {
    memset(m, 0, sizeof *m);
    if (num_labels < 1 || num_labels > RT_METRICS_MAX_LABELS)
        return rt_error(RT_ERR_ARG, "metrics: num_labels %d, expected 1..%d", num_labels,
                        RT_METRICS_MAX_LABELS);
    m->per_class = calloc((size_t)num_labels, sizeof *m->per_class);
    m->support = calloc((size_t)num_labels, sizeof *m->support);
    if (!m->per_class || !m->support) {
        rt_metrics_free(m);
        return rt_error(RT_ERR_MEMORY, "metrics: out of memory for %d labels", num_labels);
    }
    m->num_labels = num_labels;
    return RT_OK;
}

void rt_metrics_free(rt_metrics *m) {
    free(m->per_class);
    free(m->support);
    m->per_class = NULL;
    m->support = NULL;
    m->num_labels = 0;
}

/* sklearn's _prf_divide with zero_division="warn": 0 and the flag when den == 0 */
static double ratio(double num, double den, unsigned bit, unsigned *undefined) {
    if (den == 0.0) {
        *undefined |= bit;
        return 0.0;
    }
    return num / den;
}

/* precision tp/pred, recall tp/true, F1 2tp/(true+pred) (sklearn's F-beta from counts) */
static rt_prf prf_of(int64_t tp, int64_t pred, int64_t truth) {
    rt_prf r = {0};
    r.precision = ratio((double)tp, (double)pred, RT_UNDEF_PRECISION, &r.undefined);
    r.recall = ratio((double)tp, (double)truth, RT_UNDEF_RECALL, &r.undefined);
    r.f1 = ratio(2.0 * (double)tp, (double)truth + (double)pred, RT_UNDEF_F1, &r.undefined);
    return r;
}

/* Macro and weighted means of the per-class figures; an average is undefined where any class
   is (sklearn warns from the per-class division before averaging), weighted also when the
   total support is 0. */
static void averages(rt_metrics *m) {
    const int K = m->num_labels;
    rt_prf mac = {0}, wtd = {0};
    double wsum = 0.0;
    for (int k = 0; k < K; k++) {
        const rt_prf *p = &m->per_class[k];
        double w = (double)m->support[k];
        mac.precision += p->precision, mac.recall += p->recall, mac.f1 += p->f1;
        wtd.precision += w * p->precision, wtd.recall += w * p->recall, wtd.f1 += w * p->f1;
        wsum += w;
        mac.undefined |= p->undefined;
    }
    mac.precision /= K, mac.recall /= K, mac.f1 /= K;
    wtd.undefined = mac.undefined;
    wtd.precision = ratio(wtd.precision, wsum, RT_UNDEF_PRECISION, &wtd.undefined);
    wtd.recall = ratio(wtd.recall, wsum, RT_UNDEF_RECALL, &wtd.undefined);
    wtd.f1 = ratio(wtd.f1, wsum, RT_UNDEF_F1, &wtd.undefined);
    m->macro = mac;
    m->weighted = wtd;
}

rt_status rt_metrics_from_confusion(rt_metrics *m, const rt_confusion *c) {
    const int K = c->num_labels;
    if (m->num_labels != K || !m->per_class)
        return rt_error(RT_ERR_ARG, "metrics: a %d-label confusion matrix into metrics for %d", K,
                        m->num_labels);
    int64_t n = 0, trace = 0;
    for (int k = 0; k < K; k++) {
        int64_t pred = 0, truth = 0, tp = c->counts[(int64_t)k * K + k];
        for (int j = 0; j < K; j++) {
            truth += c->counts[(int64_t)k * K + j];
            pred += c->counts[(int64_t)j * K + k];
        }
        m->per_class[k] = prf_of(tp, pred, truth);
        m->support[k] = truth;
        n += truth;
        trace += tp;
    }
    m->n = n;
    m->accuracy_undef = n == 0;
    m->accuracy = n ? (double)trace / (double)n : 0.0;
    m->micro = prf_of(trace, n, n);
    averages(m);
    return RT_OK;
}

rt_status rt_metrics_compute(rt_metrics *m, const int32_t *pred, const int32_t *truth, int64_t n) {
    rt_confusion c;
    RT_CALL(rt_confusion_init(&c, m->num_labels));
    rt_status s = rt_confusion_add(&c, pred, truth, n);
    if (s == RT_OK) s = rt_metrics_from_confusion(m, &c);
    rt_confusion_free(&c);
    return s;
}

rt_status rt_metrics_copy(rt_metrics *dst, const rt_metrics *src) {
    if (dst->num_labels != src->num_labels || !dst->per_class || !src->per_class)
        return rt_error(RT_ERR_ARG, "metrics of %d labels copied into metrics of %d",
                        src->num_labels, dst->num_labels);
    rt_prf *pc = dst->per_class;
    int64_t *sup = dst->support;
    size_t K = (size_t)src->num_labels;
    *dst = *src;
    dst->per_class = pc;
    dst->support = sup;
    memcpy(pc, src->per_class, K * sizeof *pc);
    memcpy(sup, src->support, K * sizeof *sup);
    return RT_OK;
}
