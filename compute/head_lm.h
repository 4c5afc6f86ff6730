/* The causal language-model head (kind "lm"): logits = hidden x E^T over the backbone's output
   embedding E (its own "lm_head.weight" or, tied, the input embedding), mean token
   cross-entropy over the counted next-token targets of the batch (rt_batch.targets). */
#pragma once
#include "model.h"

extern const rt_head_ops rt_head_lm_ops;

/* The logits (cur_B, cur_T, V) of m's last forward through the LM head (borrowed; NULL when m's
   head is not this one or has not run). Backward overwrites them with d(logits). */
const float *rt_head_lm_logits(const rt_model *m);
