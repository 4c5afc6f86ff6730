/* The sequence-classification head (kind "seqcls") behind the model interface: the kernels of
   compute/seqcls.h (transformers' GPT2ForSequenceClassification: a bias-free score (K, C) over
   the hidden state of each row's last non-pad token, cross-entropy over K labels) on the
   backbone's final hidden states. Its one tensor, "score.weight", is the last of the model's
   table (the backbone appends it at creation), so it trains in every fine-tuning mode and shares
   the arenas, the optimizer and checkpoints with the backbone. The loss is the mean over the
   counted labels or, with class weights, torch's weighted mean sum(w_y nll) / sum(w_y) (the
   head's count is the weight sum). Not collective. */
#pragma once
#include "model.h"
#include "seqcls.h"

extern const rt_head_ops rt_head_seqcls_ops;

/* Makes the seqcls head m's head: K >= 2 labels named names[K] (copied; NULL: LABEL_<i>),
   pad_id as rt_seqcls_pool's (< 0: none), score the index of "score.weight" (K, hidden) in
   m->params. Its scratch is allocated by rt_model_alloc_acts. */
rt_status rt_head_seqcls_attach(rt_model *m, int K, const char *const *names, int pad_id,
                                int score);
/* The attached head's labels, names and pad id (m's head must be seqcls). */
int rt_head_seqcls_num_labels(const rt_model *m);
const char *rt_head_seqcls_label(const rt_model *m, int k);
int rt_head_seqcls_pad(const rt_model *m);
/* Per-class loss weights (K: each finite, >= 0, not all 0; copied), or NULL for none. */
rt_status rt_head_seqcls_set_class_weights(rt_model *m, const float *w);
/* The weights set (K, borrowed), or NULL. */
const float *rt_head_seqcls_class_weights(const rt_model *m);
/* The position each row of the last forward was read at (cur_B; borrowed), or NULL. */
const int32_t *rt_head_seqcls_pooled(const rt_model *m);
/* The logits (cur_B, K) of the last forward (borrowed), or NULL. */
const float *rt_head_seqcls_logits(const rt_model *m);
