/* Sequence-classification head: last-non-pad pooling, bias-free score, (weighted) cross-entropy.
   Small (B rows, K labels): plain loops with double accumulation, no GEMM. */
#include "seqcls.h"
#include "rng.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

rt_status rt_seqcls_create(rt_seqcls **out, int K, int C, int Bmax) {
    *out = NULL;
    if (K < 2 || C < 1 || Bmax < 1)
        return rt_error(RT_ERR_ARG,
                        "classification head with %d labels, width %d, %d rows: expected >= 2 "
                        "labels, width >= 1 and >= 1 row",
                        K, C, Bmax);
    rt_seqcls *h = calloc(1, sizeof *h);
    if (!h) return rt_error(RT_ERR_MEMORY, "out of memory creating the classification head");
    h->K = K;
    h->C = C;
    h->Bmax = Bmax;
    size_t BK = (size_t)Bmax * K;
    h->pooled = calloc((size_t)Bmax, sizeof *h->pooled);
    h->logits = calloc(BK, sizeof *h->logits);
    h->probs = calloc(BK, sizeof *h->probs);
    h->nll = calloc((size_t)Bmax, sizeof *h->nll);
    h->scratch = calloc((size_t)K + C, sizeof *h->scratch);
    if (!h->pooled || !h->logits || !h->probs || !h->nll || !h->scratch) {
        rt_seqcls_destroy(&h);
        return rt_error(RT_ERR_MEMORY, "out of memory creating the classification head");
    }
    *out = h;
    return RT_OK;
}

void rt_seqcls_destroy(rt_seqcls **ph) {
    if (!ph || !*ph) return;
    rt_seqcls *h = *ph;
    free(h->pooled);
    free(h->logits);
    free(h->probs);
    free(h->nll);
    free(h->scratch);
    free(h);
    *ph = NULL;
}

rt_status rt_seqcls_pool(const int32_t *ids, int B, int T, int pad_id, int32_t *pooled) {
    if (pad_id < 0) {
        if (B != 1)
            return rt_error(RT_ERR_ARG,
                            "sequence classification of a batch of %d rows without a pad token id: "
                            "Cannot handle batch sizes > 1 if no padding token is defined (set "
                            "pad_token_id, usually to the eos id)",
                            B);
        pooled[0] = T - 1;
        return RT_OK;
    }
    /* argmax_t(t * (id != pad)): the rightmost non-pad token; 0 (argmax's first maximum) when the
       row is only pads */
    for (int b = 0; b < B; b++) {
        int p = 0;
        for (int t = T - 1; t > 0; t--)
            if (ids[(size_t)b * T + t] != pad_id) {
                p = t;
                break;
            }
        pooled[b] = p;
    }
    return RT_OK;
}

rt_status rt_seqcls_check_weights(const float *w, int K) {
    double s = 0.0;
    for (int k = 0; k < K; k++) {
        if (!isfinite(w[k]) || w[k] < 0.0f)
            return rt_error(RT_ERR_ARG, "class weight %d is %g: expected a finite number >= 0", k,
                            (double)w[k]);
        s += w[k];
    }
    if (s <= 0.0) return rt_error(RT_ERR_ARG, "class weights: all %d are 0", K);
    return RT_OK;
}

/* logits of row b, in double (the float copy is the output) */
static void row_logits(const rt_seqcls *h, const float *W, const float *x, double *z, float *zf) {
    for (int k = 0; k < h->K; k++) {
        const float *w = W + (size_t)k * h->C;
        double s = 0.0;
        for (int c = 0; c < h->C; c++) s += (double)w[c] * x[c];
        z[k] = s;
        zf[k] = (float)s;
    }
}

rt_status rt_seqcls_forward(rt_seqcls *h, const float *W, const float *hidden, const int32_t *ids,
                            int B, int T, int pad_id, const int32_t *labels,
                            const float *class_weight, double *loss_sum, double *weight_sum) {
    int K = h->K, C = h->C;
    if (B < 1 || B > h->Bmax || T < 1)
        return rt_error(RT_ERR_ARG, "classification head forward of %d x %d: it holds %d rows", B,
                        T, h->Bmax);
    if (labels)
        for (int b = 0; b < B; b++)
            if (labels[b] != RT_SEQCLS_IGNORE && (labels[b] < 0 || labels[b] >= K))
                return rt_error(RT_ERR_ARG,
                                "label %d of row %d: expected -100 (ignored) or a class in [0, %d)",
                                labels[b], b, K);
    if (class_weight) RT_CALL(rt_seqcls_check_weights(class_weight, K));
    RT_CALL(rt_seqcls_pool(ids, B, T, pad_id, h->pooled));
    h->cur_B = B;
    h->cur_T = T;
    h->hidden = hidden;
    h->labels = labels;
    h->class_weight = class_weight;
    h->loss_sum = h->weight_sum = 0.0;
    h->n_counted = 0;
    for (int b = 0; b < B; b++) {
        double *z = h->probs + (size_t)b * K;
        row_logits(h, W, hidden + ((size_t)b * T + h->pooled[b]) * C, z, h->logits + (size_t)b * K);
        h->nll[b] = 0.0;
        if (!labels) continue;
        double mx = z[0], s = 0.0;
        for (int k = 1; k < K; k++) mx = fmax(mx, z[k]);
        for (int k = 0; k < K; k++) s += exp(z[k] - mx);
        double lse = mx + log(s);
        int y = labels[b];
        if (y != RT_SEQCLS_IGNORE) {
            double w = class_weight ? class_weight[y] : 1.0;
            h->nll[b] = lse - z[y];
            h->loss_sum += w * h->nll[b];
            h->weight_sum += w;
            h->n_counted++;
        }
        for (int k = 0; k < K; k++) z[k] = exp(z[k] - lse);
    }
    if (loss_sum) *loss_sum = h->loss_sum;
    if (weight_sum) *weight_sum = h->weight_sum;
    return RT_OK;
}

void rt_seqcls_backward(rt_seqcls *h, const float *W, float *dW, float *dhidden, float scale,
                        int accumulate) {
    int K = h->K, C = h->C, B = h->cur_B, T = h->cur_T;
    if (dW && !accumulate) memset(dW, 0, (size_t)K * C * sizeof(float));
    if (dhidden) memset(dhidden, 0, (size_t)B * T * C * sizeof(float));
    if (!h->labels) return;
    double *dz = h->scratch, *dx = h->scratch + K;
    for (int b = 0; b < B; b++) {
        int y = h->labels[b];
        if (y == RT_SEQCLS_IGNORE) continue;
        double w = (h->class_weight ? h->class_weight[y] : 1.0) * scale;
        const double *p = h->probs + (size_t)b * K;
        for (int k = 0; k < K; k++) dz[k] = w * (p[k] - (k == y));
        size_t row = (size_t)b * T + h->pooled[b];
        const float *x = h->hidden + row * C;
        if (dW)
            for (int k = 0; k < K; k++)
                for (int c = 0; c < C; c++) dW[(size_t)k * C + c] += (float)(dz[k] * x[c]);
        if (!dhidden) continue;
        for (int c = 0; c < C; c++) dx[c] = 0.0;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < C; c++) dx[c] += dz[k] * W[(size_t)k * C + c];
        for (int c = 0; c < C; c++) dhidden[row * C + c] = (float)dx[c];
    }
}

int rt_seqcls_table_add(rt_tensor_table *tab, int K, int C) {
    return rt_table_add(tab, "score.weight", 2, (int64_t[]){K, C}, 1);
}

void rt_seqcls_init(float *W, int K, int C, float std, uint64_t seed) {
    uint64_t key = rt_rng_key(seed, 0x5c0e, 0, 0x1418);
    for (size_t j = 0; j < (size_t)K * C; j++) W[j] = std * rt_rng_normal(key, j);
}
