/* Hugging Face T5ForConditionalGeneration checkpoints: a directory with config.json and
   model.safetensors (or a sharded model.safetensors.index.json), as save_pretrained writes them,
   plus generation_config.json on export. Tensor names are the HF state-dict names of
   compute/t5.h. The rules are those of transformers 5.25.0 (T5Config in
   models/t5/configuration_t5.py, T5ForConditionalGeneration in modeling_t5.py, the tying in
   PreTrainedModel.tie_weights), checked against the library itself.
   Nothing here is collective: call on one rank, or on every rank, each reading the same files. */
#pragma once
#include "status.h"
#include "t5.h"

/* Reads dir/config.json into *cfg as T5Config reads it. Fields (absent = T5Config's default, the
   t5-small values of rt_t5_config_default): vocab_size, d_model, d_kv, d_ff, num_layers,
   num_heads (the attribute_map aliases hidden_size, head_dim, num_hidden_layers,
   num_attention_heads win when both are given), num_decoder_layers (absent or null: num_layers
   as given before its alias, as T5Config copies it), relative_attention_num_buckets,
   relative_attention_max_distance, dropout_rate, layer_norm_epsilon, initializer_factor.
   feed_forward_proj: "ACT" or "gated-ACT" (another form is refused, as T5Config does);
   "gated-gelu" means gelu_new; saved dense_act_fn / is_gated_act (T5Config writes both) win over
   what feed_forward_proj says, since transformers sets them afterwards. Supported: relu, not
   gated (RT_T5_FF_RELU), and a gated tanh GELU (gelu_new and its aliases,
   RT_T5_FF_GATED_GELU); anything else is RT_ERR_ARG naming the file, the field and both.
   tie_word_embeddings: as saved, default true (null counts as true). scale_decoder_outputs: the
   saved key when present (null = false, as Python tests None), else tie_word_embeddings is not
   false. pad_token_id (0) and decoder_start_token_id (0; T5Config itself has no default, the
   value every released T5 config carries) must be integers, not null; eos_token_id (1) may be
   null (-1) or a list (the first id is kept). Ids are not checked against the vocabulary.
   model_type must be "t5" when present; is_encoder_decoder false is refused. Unknown fields are
   ignored. Then rt_t5_config_validate. RT_ERR_IO when the file cannot be read, RT_ERR_FORMAT for
   bad JSON or a wrong JSON type, RT_ERR_ARG for a bad value; the message names the file and the
   field. The weights can still change the tying (rt_hf_t5_load). */
rt_status rt_hf_t5_read_config(const char *dir, rt_t5_config *cfg);

/* Creates a model from dir (config as above) and loads its weights from dir/model.safetensors,
   or when that is absent from dir/model.safetensors.index.json and the shards it names.
   F32 is copied, F16/BF16 widened. Embeddings, as transformers 5.25 ties them (it always ties,
   whatever config.json says, unless both tensors are stored with different values):
   - shared.weight comes from "shared.weight", or when that is absent from the first present of
     "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight";
   - an embed_tokens alias that is present must equal it (transformers would give that stack an
     embedding of its own, which ringtune's T5 does not have): RT_ERR_FORMAT otherwise;
   - "lm_head.weight" equal to it (or absent) gives a tied model; different, an untied one with
     that head (transformers keeps it, warning that the config says to tie). The rescale stays
     as config.json decides it; cfg.tie_word_embeddings of the model says the outcome.
   "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight" (old checkpoints)
   is ignored, as transformers does. Any other missing, unexpected, misshapen or non-float tensor
   is RT_ERR_FORMAT naming the file, the tensor and the expected shape. Caller owns *out
   (rt_t5_destroy); *out is NULL on failure. */
rt_status rt_hf_t5_load(const char *dir, rt_t5 **out);

/* Writes m to dir (created with parents if needed) so that
   T5ForConditionalGeneration.from_pretrained(dir) loads it without missing or unexpected keys:
   model.safetensors (F32, metadata format "pt", the names save_pretrained writes: the table's,
   i.e. shared.weight without the embed_tokens aliases, lm_head.weight only when untied),
   config.json (the fields T5Config writes: architectures ["T5ForConditionalGeneration"],
   model_type "t5", feed_forward_proj with dense_act_fn and is_gated_act, is_encoder_decoder
   true, the token ids, scale_decoder_outputs, and tie_word_embeddings saying whether the head is
   shared.weight: transformers 5 writes true for every T5, but reads the key only for the rescale
   default, which the written scale_decoder_outputs overrides, while 4.x reads it as the tying)
   and generation_config.json (decoder_start_token_id, eos_token_id,
   pad_token_id as transformers derives them from the config). Each file is replaced atomically,
   the weights first. m is only read. RT_ERR_IO naming the path on failure. */
rt_status rt_hf_t5_save(const rt_t5 *m, const char *dir);
