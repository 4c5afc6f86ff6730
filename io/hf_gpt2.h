/* Hugging Face GPT-2 checkpoints: a directory with config.json and model.safetensors (or a
   sharded model.safetensors.index.json), as written by GPT2LMHeadModel.save_pretrained.
   Not collective: call on one rank (or every rank, each reading the same files). */
#pragma once
#include <jansson.h>
#include <stdio.h>
#include "gpt2.h"
#include "status.h"

/* Reads dir/config.json into *cfg as transformers' GPT2Config reads it: vocab_size,
   n_positions, n_embd, n_layer, n_head (or their aliases max_position_embeddings, hidden_size,
   num_hidden_layers, num_attention_heads, which win when both are given), n_inner (null or
   absent = 4*n_embd), activation_function (one of the tanh-GELU names: gelu_new,
   gelu_pytorch_tanh, gelu_python_tanh, gelu_fast, gelu_accurate), layer_norm_epsilon,
   resid/embd/attn_pdrop, initializer_range, bos_token_id (integer or null = -1), eos_token_id
   (integer, null = -1, or a list whose first id is kept). Absent fields take GPT2Config's
   defaults; n_ctx and other unknown fields are ignored; token ids are not checked against the
   vocabulary (see rt_hf_gpt2_warn_config). model_type must be "gpt2" when present; settings
   that change the architecture (scale_attn_weights false, scale_attn_by_inverse_layer_idx true,
   add_cross_attention true, a non-empty per_layer_config, another activation) are rejected. Then
   runs rt_gpt2_config_validate. Returns RT_ERR_IO when the file cannot be read, RT_ERR_FORMAT for
   bad JSON or a wrong JSON type, RT_ERR_ARG for a bad value; the message names the file and the
   field. */
rt_status rt_hf_gpt2_read_config(const char *dir, rt_gpt2_config *cfg);

/* Prints one "warning: ..." line to log (nothing when log is NULL) when c's bos_token_id or
   eos_token_id lies outside [0, vocab_size) (null is fine), naming model_path/config.json (or
   model_path itself when it holds no config.json, e.g. a ringtune checkpoint). transformers loads
   such configs (GPT2Config(vocab_size=1001) keeps the ids 50256); ringtune trains and evaluates
   them too, since neither reads the ids. Not collective: call on one rank. */
void rt_hf_gpt2_warn_config(const char *model_path, const rt_gpt2_config *c, FILE *log);

/* For a command that needs the end-of-text id (`user`, e.g. "generate --stop-at-eos"): *eos =
   c->eos_token_id when it is a token of the vocabulary; otherwise RT_ERR_ARG naming the config
   file and the field, and how to fix it (set the field, or pass `option`). */
rt_status rt_hf_gpt2_eos_id(const char *model_path, const rt_gpt2_config *c, const char *user,
                            const char *option, int *eos);

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

/* A tensor outside the GPT-2 body (a task head's, e.g. "score.weight"), stored under exactly
   this name. For loading: dst (prod(shape) floats, caller-owned) receives it and found says
   whether the checkpoint had it; why (may be NULL) ends a shape-mismatch message. For saving, dst
   is read. */
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[RT_MAX_DIMS];
    float *dst;
    const char *why;
    int found;
} rt_hf_extra_tensor;

/* rt_hf_gpt2_load_weights, where the checkpoint may also hold the n_extra tensors named in extra
   (each at most once; misshapen or non-float is RT_ERR_FORMAT naming file and tensor). An extra
   tensor the checkpoint lacks is not an error: its found stays 0 and its dst is untouched. */
rt_status rt_hf_gpt2_load_weights_ex(const char *dir, rt_gpt2 *m, rt_hf_extra_tensor *extra,
                                     int n_extra);

/* Writes m's config and parameters to dir (created with parents if needed) so that
   transformers' GPT2LMHeadModel.from_pretrained(dir) loads it: config.json (model_type "gpt2",
   architectures ["GPT2LMHeadModel"], n_inner null when it is 4*n_embd) and model.safetensors
   (F32, names prefixed "transformer.", metadata format "pt", wte stored once, no
   lm_head.weight). Each file is replaced atomically; the weights are written first. m is only
   read. Returns RT_ERR_IO naming the path on failure. */
rt_status rt_hf_gpt2_save(const rt_gpt2 *m, const char *dir);
/* rt_hf_gpt2_save plus n_extra F32 tensors after the body (names as given, data from dst) and,
   when config_extra is not NULL, its fields set on config.json over the GPT-2 ones (e.g.
   "architectures"). config_extra is only read. */
rt_status rt_hf_gpt2_save_ex(const rt_gpt2 *m, const char *dir, const rt_hf_extra_tensor *extra,
                             int n_extra, json_t *config_extra);
