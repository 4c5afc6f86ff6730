/* Sequence-classification head over final hidden states, computed exactly as transformers'
   GPT2ForSequenceClassification: a bias-free linear "score" W (K, C) applied to the hidden state
   of each row's last non-pad token, then cross-entropy over the K labels (torch's
   CrossEntropyLoss: ignore_index -100, optional per-class weights with the weighted mean
   sum(w_y * nll) / sum(w_y)). Independent of the backbone: every tensor is a raw float pointer
   the caller owns (the head's own state is scratch for one micro-batch). Not collective.

   Pooling (transformers 5, GPT2ForSequenceClassification.forward): with a pad id, row b reads
   position argmax_t(t * (ids[b,t] != pad)), i.e. the rightmost token that is not the pad id, and
   position 0 for a row made only of pads; without a pad id (null) a batch of one row reads its
   last position and a batch of more rows is an error. Right padding and causal attention: the
   pooled token never attends to the pads after it, so a backbone without an attention mask gives
   transformers' result with the tokenizer's mask (tests/fixtures/seqcls_<name>/golden.json,
   no_attention_mask_check: identical logits, loss and gradients). Left padding does not (the
   backbone would need the mask). */
#pragma once
#include <stdint.h>
#include "arena.h"
#include "status.h"

#define RT_SEQCLS_IGNORE (-100) /* a label that counts for nothing, as torch's ignore_index */

typedef struct {
    int K, C, Bmax; /* labels, hidden width, rows per micro-batch */
    /* Results of the last rt_seqcls_forward (cur_B rows), owned: */
    int cur_B, cur_T;
    int32_t *pooled; /* (Bmax) position read in each row */
    float *logits;   /* (Bmax, K) pooled logits, transformers' output.logits */
    double *probs;   /* (Bmax, K) softmax of the logits (computed only with labels) */
    double *nll;     /* (Bmax) -log p(label), 0 for an ignored row */
    double loss_sum; /* sum over counted rows of w_label * nll (w = 1 without class weights) */
    double weight_sum;
    int n_counted;   /* rows whose label is not -100 */
    double *scratch; /* (K + C) for backward */
    /* Borrowed from the last forward, read by backward: */
    const float *hidden;       /* (cur_B, cur_T, C) */
    const int32_t *labels;     /* (cur_B) or NULL */
    const float *class_weight; /* (K) or NULL */
} rt_seqcls;

/* Scratch for micro-batches of up to Bmax rows of hidden width C with K >= 2 labels. Caller owns
 *out (rt_seqcls_destroy). */
rt_status rt_seqcls_create(rt_seqcls **out, int K, int C, int Bmax);
void rt_seqcls_destroy(rt_seqcls **h);

/* The pooled position of each of B rows of ids (B, T) into pooled (B), by the rule above; pad_id
   < 0 means none (null). RT_ERR_ARG for B > 1 without a pad id (transformers: "Cannot handle
   batch sizes > 1 if no padding token is defined."). */
rt_status rt_seqcls_pool(const int32_t *ids, int B, int T, int pad_id, int32_t *pooled);

/* Checks class weights (K): each finite and >= 0 and not all 0. The message names the class. */
rt_status rt_seqcls_check_weights(const float *class_weight, int K);

/* Forward over hidden (B, T, C) (the backbone's final LayerNorm output for ids (B, T)) with the
   score weight W (K, C): pooled positions, logits (B, K) and, when labels (B) is not NULL, the
   per-row nll, loss_sum = sum of w_y * nll and weight_sum = sum of w_y over rows whose label is
   not -100 (w = class_weight[y], or 1 when class_weight is NULL; the mean loss is
   loss_sum / weight_sum, which is torch's for one micro-batch). *loss_sum / *weight_sum may be
   NULL; both are 0 without labels. A label outside [0, K) other than -100 is RT_ERR_ARG naming
   the row. hidden, labels and class_weight are borrowed until backward. */
rt_status rt_seqcls_forward(rt_seqcls *h, const float *W, const float *hidden, const int32_t *ids,
                            int B, int T, int pad_id, const int32_t *labels,
                            const float *class_weight, double *loss_sum, double *weight_sum);

/* Backward of scale * loss_sum of the last forward (which had labels); scale is 1 / (the
   weight_sum of the whole global batch). dW (K, C): the score gradient, overwritten
   (accumulate = 0) or added to (1); NULL when the head is frozen. dhidden (cur_B, cur_T, C):
   always overwritten, zero except at each row's pooled position; NULL when nothing below the head
   needs it. W is the weight the forward used. */
void rt_seqcls_backward(rt_seqcls *h, const float *W, float *dW, float *dhidden, float scale,
                        int accumulate);

/* Adds the head's one tensor, "score.weight" (K, C), weight decay on (a matrix, as torch's
   ndim >= 2 rule), to tab. Returns its index or -1 when out of memory. */
int rt_seqcls_table_add(rt_tensor_table *tab, int K, int C);

/* transformers' initialisation of the score: N(0, std) for each of the K*C elements,
   deterministic in seed (the same values for any thread count). */
void rt_seqcls_init(float *W, int K, int C, float std, uint64_t seed);
