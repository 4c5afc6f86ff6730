/* T5 behind the model interface (compute/model.h): the encoder-decoder of compute/t5.h with its
   parameter groups (head: decoder.final_layer_norm and an untied lm_head; the decoder blocks
   from the top; the encoder blocks from the top, the top one with encoder.final_layer_norm;
   shared.weight) and, by default, the language-model head (compute/head_lm.h) over the decoder's
   (rescaled) output. Batches carry the source in rt_batch.src_*; rt_model.src_T must be set
   before rt_model_alloc_acts. */
#pragma once
#include "model.h"
#include "t5.h"

extern const rt_model_ops rt_t5_model_ops;

/* Wraps t (ownership passes to *out, also on failure, when t is destroyed) with the LM head. */
rt_status rt_model_t5_wrap(rt_t5 *t, rt_model **out);
/* The T5 inside m (borrowed), or NULL when m is another architecture. */
rt_t5 *rt_model_t5(const rt_model *m);
