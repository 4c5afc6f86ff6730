/* The sequence-classification head (kind "seqcls") behind the model interface: the kernels of
   compute/seqcls.h (transformers' GPT2ForSequenceClassification: a bias-free score (K, C) over
   the hidden state of each row's last non-pad token, cross-entropy over K labels) on the
   backbone's final hidden states. Its one tensor, "score.weight", is the last of the model's
   table (the backbone appends it at creation), so it trains in every fine-tuning mode and shares
   the arenas, the optimizer and checkpoints with the backbone. The loss is the mean over the
   counted labels (class weights, sum(w_y nll) / sum(w_y), need a non-integer normaliser in the
   training loop and are not wired here yet). Not collective. */
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
/* The logits (cur_B, K) of the last forward (borrowed), or NULL. */
const float *rt_head_seqcls_logits(const rt_model *m);
