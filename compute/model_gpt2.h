/* GPT-2 behind the model interface (compute/model.h): the backbone of compute/gpt2.h with its
   parameter groups (head: ln_f and an untied lm_head; the blocks from the top; the embeddings)
   and, by default, the language-model head (compute/head_lm.h). */
#pragma once
#include "gpt2.h"
#include "model.h"

/* The GPT-2 backbone's operations (arch "gpt2"). */
extern const rt_model_ops rt_gpt2_model_ops;

/* Wraps g (ownership passes to *out, also on failure, when g is destroyed) with the LM head. */
rt_status rt_model_gpt2_wrap(rt_gpt2 *g, rt_model **out);
/* The GPT-2 inside m (borrowed), or NULL when m is another architecture. */
rt_gpt2 *rt_model_gpt2(const rt_model *m);
