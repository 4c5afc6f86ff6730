/* T5 (encoder-decoder) forward and backward over flat arenas, matching Hugging Face
   transformers' T5ForConditionalGeneration (v1.0: relu FFN, tied head with the d_model^-0.5
   rescale; v1.1 / flan-t5: gated gelu_new FFN, untied lm_head). Parameters use HF's state-dict
   names and layouts (nn.Linear weights stored [out, in], no biases anywhere).

   The table is in forward order, so gradient buckets and shards follow layers:
     shared.weight                                                 (V, d_model)
     encoder.block.N.layer.0.SelfAttention.{q,k,v,o}.weight        q,k,v (inner, d), o (d, inner)
     encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight   (buckets, heads)
     encoder.block.N.layer.0.layer_norm.weight                     (d)
     encoder.block.N.layer.1.DenseReluDense.{wi | wi_0, wi_1}.weight  (d_ff, d)
     encoder.block.N.layer.1.DenseReluDense.wo.weight              (d, d_ff)
     encoder.block.N.layer.1.layer_norm.weight
     encoder.final_layer_norm.weight
     decoder.block.N.layer.0.SelfAttention.* (bias table in block 0), layer.0.layer_norm
     decoder.block.N.layer.1.EncDecAttention.{q,k,v,o}.weight, layer.1.layer_norm
     decoder.block.N.layer.2.DenseReluDense.*, layer.2.layer_norm
     decoder.final_layer_norm.weight
     lm_head.weight                                                (V, d) untied models only
   where inner = num_heads * d_kv. The encoder.embed_tokens / decoder.embed_tokens aliases of
   shared.weight are not tensors of their own (io/ accepts and writes them).

   Backward order (parameter groups, compute/model.h): [decoder.final_layer_norm, lm_head],
   decoder blocks from the top, the top encoder block with encoder.final_layer_norm, the other
   encoder blocks from the top, [shared.weight]. Blocks are numbered from the bottom across both
   stacks: encoder blocks 0 .. Le-1, decoder blocks Le .. Le+Ld-1, so "the last N blocks" are the
   top of the decoder. Nothing here is collective. Generation (greedy and beam search over key /
   value caches) is compute/t5_decode.h. */
#pragma once
#include <stdint.h>
#include "arena.h"
#include "batch.h"
#include "lora.h"
#include "status.h"

typedef enum { RT_T5_FF_RELU = 0, RT_T5_FF_GATED_GELU = 1 } rt_t5_ff;

typedef struct {
    int vocab_size;                      /* V: embedding rows (32128 for the released models) */
    int d_model;                         /* d */
    int d_kv;                            /* per-head width */
    int d_ff;                            /* FFN width */
    int num_layers;                      /* encoder blocks Le */
    int num_decoder_layers;              /* decoder blocks Ld */
    int num_heads;                       /* NH; inner = NH * d_kv (need not equal d) */
    int relative_attention_num_buckets;  /* 32 */
    int relative_attention_max_distance; /* 128 */
    float layer_norm_epsilon;            /* 1e-6 */
    float dropout_rate;                  /* every dropout site (HF's single rate) */
    float initializer_factor;            /* 1.0 */
    rt_t5_ff ff;                         /* relu (v1.0) or gated-gelu (v1.1) */
    int tie_word_embeddings;   /* 1: the head is shared.weight; 0: "lm_head.weight" in the table */
    int scale_decoder_outputs; /* 1: decoder output * d_model^-0.5 before the head */
    int pad_token_id, eos_token_id, decoder_start_token_id; /* 0, 1, 0 */
} rt_t5_config;

/* Views of one block's parameters (or gradients) inside a flat arena. Decoder blocks use the
   cross-attention fields; encoder blocks leave them NULL. rel_bias is block 0's only. */
typedef struct {
    float *sa_q, *sa_k, *sa_v, *sa_o; /* (inner, d) x3, (d, inner) */
    float *rel_bias;                  /* (buckets, NH) block 0 of each stack, else NULL */
    float *ln_sa;                     /* (d) layer.0.layer_norm */
    float *ca_q, *ca_k, *ca_v, *ca_o; /* decoder: layer.1.EncDecAttention */
    float *ln_ca;                     /* decoder: layer.1.layer_norm */
    float *wi, *wi_1;                 /* (d_ff, d): wi (relu) or wi_0 (gated, in wi) and wi_1 */
    float *wo;                        /* (d, d_ff) */
    float *ln_ff;                     /* (d) the FFN's layer_norm */
} rt_t5_block;

typedef struct {
    float *shared;                /* (V, d) */
    rt_t5_block *enc, *dec;       /* [Le], [Ld] */
    float *enc_final, *dec_final; /* (d) */
    float *lm_head;               /* (V, d): shared when tied */
} rt_t5_views;

typedef struct rt_t5 rt_t5; /* opaque: activations and scratch are t5.c's own */

/* LoRA target slots of a block (compute/lora.h); the cross-attention slots are the decoder's,
   RT_T5_LORA_WI is wi (relu) or wi_0 (gated). */
enum {
    RT_T5_LORA_SA_Q = 0,
    RT_T5_LORA_SA_K,
    RT_T5_LORA_SA_V,
    RT_T5_LORA_SA_O,
    RT_T5_LORA_CA_Q,
    RT_T5_LORA_CA_K,
    RT_T5_LORA_CA_V,
    RT_T5_LORA_CA_O,
    RT_T5_LORA_WI,
    RT_T5_LORA_WI_1,
    RT_T5_LORA_WO,
    RT_T5_LORA_SLOTS
};
/* The layers an adapter may target, in table order, into out (RT_T5_LORA_SLOTS per block at
   most); returns their number. */
int rt_t5_lora_targets(const rt_t5 *m, rt_lora_target *out);
/* Attaches adapters (borrowed; NULL detaches). With adapters the model keeps no gradient arena
   (any is freed): what trains is the adapters and the redirected tensors. */
void rt_t5_set_lora(rt_t5 *m, rt_lora *L);
/* Tensor idx is read from param (NULL: its own storage) and its gradient goes to grad (NULL:
   the arena's). The caller keeps both alive while they stand in. */
rt_status rt_t5_redirect(rt_t5 *m, int idx, float *param, float *grad);

/* t5-small's configuration (HF T5Config defaults: v1.0, tied). */
void rt_t5_config_default(rt_t5_config *cfg);
/* Checks ranges; the message names the field and what was expected. */
rt_status rt_t5_config_validate(const rt_t5_config *cfg);
/* The flat size (floats, tensors 16-aligned) of a valid configuration's table, without
   allocating the parameters. */
rt_status rt_t5_config_num_params(const rt_t5_config *cfg, size_t *n);
/* Builds the table and allocates parameters (zero, the layer norms 1). Caller owns *out. */
rt_status rt_t5_create(rt_t5 **out, const rt_t5_config *cfg);
void rt_t5_destroy(rt_t5 **m);
const rt_t5_config *rt_t5_cfg(const rt_t5 *m);
/* The table (borrowed; indexes params, grads and optimizer state alike) and the arenas. grads
   is NULL before rt_t5_alloc_acts. */
rt_tensor_table *rt_t5_table(rt_t5 *m);
float *rt_t5_params(rt_t5 *m);
float *rt_t5_grads(rt_t5 *m);
const rt_t5_views *rt_t5_weights(const rt_t5 *m);
/* HF's _init_weights (N(0, factor * fan-based std) per tensor kind, layer norms 1),
   deterministic in seed. */
void rt_t5_init_weights(rt_t5 *m, uint64_t seed);
/* Gives the model an untied lm_head initialised from shared.weight (feature extraction trains
   the head alone); the rescale rule is kept. Reallocates the arenas (grads and activations are
   dropped: call rt_t5_alloc_acts again). */
rt_status rt_t5_untie(rt_t5 *m);

/* Gradients and activations for micro-batches of B rows, sources of at most Ts tokens and
   decoder inputs of at most Tt. Calling again reallocates the activations. */
rt_status rt_t5_alloc_acts(rt_t5 *m, int B, int Ts, int Tt);

/* Encoder over src (B, Ts) with src_mask (B, Ts; NULL = no padding), then the decoder over
   dec_ids (B, Tt) (causal; attends to the unmasked source positions); leaves the decoder's
   final hidden states, times d_model^-0.5 when scale_decoder_outputs, in *hidden (B, Tt, d),
   borrowed until the next call. key NULL: evaluation (no dropout). Ids outside [0, V) are an
   error naming the position. */
rt_status rt_t5_forward_hidden(rt_t5 *m, const int32_t *src, const uint8_t *src_mask, int Ts,
                               const int32_t *dec_ids, int Tt, int B, const rt_step_key *key,
                               const float **hidden);
/* A (B, Tt, d) buffer of m's that rt_t5_backward_hidden may take as dhidden (it reads dhidden
   before reusing it); valid after rt_t5_alloc_acts. */
float *rt_t5_dhidden_scratch(rt_t5 *m);
/* Called after each group's gradients are final, with the block index as numbered above
   (decoder Le+Ld-1 .. Le, encoder Le-1 .. 0) and -1 after shared.weight. */
typedef void (*rt_t5_layer_done_fn)(void *arg, int block);
/* Backward of the last forward from dhidden (B, Tt, d): the gradient of the loss with respect to
   *hidden (caller owns it; it must not alias *hidden). accumulate = 0 overwrites gradients,
   1 adds. shared_written: a tied head already wrote its part of shared.weight's gradient (with
   accumulate). Frozen tensors (table .trainable = 0) get no gradient and backward stops below
   the lowest trainable tensor. */
void rt_t5_backward_hidden(rt_t5 *m, const float *dhidden, int accumulate, int shared_written,
                           rt_t5_layer_done_fn done, void *arg);
/* Whether backward below the head has anything to do. */
int rt_t5_backbone_trains(const rt_t5 *m);
/* FLOPs (matrix products incl. attention) of one forward + backward below the head with the
   current trainable flags. */
double rt_t5_flops_hidden(const rt_t5 *m, int B, int Ts, int Tt);
/* Overrides the dropout rate (NAN keeps the config's). */
void rt_t5_set_dropout(rt_t5 *m, float rate);

/* The first tensor (table index) of block b in the combined numbering (b = Le + Ld: the
   decoder's final norm). */
int rt_t5_block_first(const rt_t5 *m, int b);

/* T5's relative position bucket (HF _relative_position_bucket) of rel = key_pos - query_pos. */
int rt_t5_bucket(int rel, int bidirectional, int num_buckets, int max_distance);
