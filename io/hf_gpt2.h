/* Hugging Face GPT-2 checkpoints: a directory with config.json and model.safetensors (or a
   sharded model.safetensors.index.json), as written by GPT2LMHeadModel.save_pretrained.
   Not collective: call on one rank (or every rank, each reading the same files). */
#pragma once
#include "gpt2.h"
#include "status.h"

/* Reads dir/config.json into *cfg: vocab_size, n_positions (n_ctx when n_positions is absent),
   n_embd, n_layer, n_head, n_inner (null or absent = 4*n_embd), activation_function ("gelu_new"
   or the identical "gelu_pytorch_tanh"), layer_norm_epsilon, resid/embd/attn_pdrop,
   initializer_range, bos/eos_token_id (null = -1); absent fields take HF GPT2Config's defaults.
   model_type must be "gpt2" when present; settings that change the architecture
   (scale_attn_weights false, scale_attn_by_inverse_layer_idx true, add_cross_attention true)
   are rejected. Then runs rt_gpt2_config_validate. Returns RT_ERR_IO when the file cannot be
   read, RT_ERR_FORMAT for bad JSON or a wrong JSON type, RT_ERR_ARG for a bad value; the message
   names the file and the field. */
rt_status rt_hf_gpt2_read_config(const char *dir, rt_gpt2_config *cfg);

/* Creates a model from dir (config as above) and loads its weights from dir/model.safetensors,
   or when that is absent from dir/model.safetensors.index.json and the shard files it names.
   Names may carry the "transformer." prefix or not (the same tensor twice is an error);
   "*.attn.bias" / "*.attn.masked_bias" buffers are ignored; "lm_head.weight", if present, must
   equal wte.weight (the head is tied). F32 is copied, F16/BF16 are widened to float. Any
   missing, unexpected, misshapen or wrongly typed tensor is RT_ERR_FORMAT naming the file and
   tensor. Caller owns *out (rt_gpt2_destroy); *out is NULL on failure. */
rt_status rt_hf_gpt2_load(const char *dir, rt_gpt2 **out);

/* Loads weights from dir (as rt_hf_gpt2_load does) into an existing model whose tensor table
   must match the checkpoint; does not read config.json. */
rt_status rt_hf_gpt2_load_weights(const char *dir, rt_gpt2 *m);

/* Writes m's config and parameters to dir (created with parents if needed) so that
   transformers' GPT2LMHeadModel.from_pretrained(dir) loads it: config.json (model_type "gpt2",
   architectures ["GPT2LMHeadModel"], n_inner null when it is 4*n_embd) and model.safetensors
   (F32, names prefixed "transformer.", metadata format "pt", wte stored once, no
   lm_head.weight). Each file is replaced atomically; the weights are written first. m is only
   read. Returns RT_ERR_IO naming the path on failure. */
rt_status rt_hf_gpt2_save(const rt_gpt2 *m, const char *dir);
