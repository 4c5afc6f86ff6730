/* GPT-2 (decoder-only) forward and backward over flat arenas, matching Hugging Face
   transformers' GPT2LMHeadModel. Parameters use HF names without the "transformer." prefix and
   HF storage layouts (Conv1D weights [in, out]); the LM head is tied to wte. */
#pragma once
#include <stdint.h>
#include "arena.h"
#include "batch.h"
#include "lora.h"
#include "status.h"

typedef struct {
    int vocab_size;  /* V */
    int n_positions; /* maximum T */
    int n_embd;      /* C */
    int n_layer;     /* L */
    int n_head;      /* NH, C % NH == 0 */
    int n_inner;     /* FFN width, 4*C when the HF config says null */
    float layer_norm_epsilon;
    float embd_pdrop, attn_pdrop, resid_pdrop;
    float initializer_range;
    int bos_token_id, eos_token_id; /* -1: null; may lie outside [0, V) (see validate) */
    int tie_word_embeddings;        /* 1 (GPT-2's default): the LM head is wte; 0: a separate
                                       "lm_head.weight" (V, C) after ln_f in the table */
} rt_gpt2_config;

/* Views of one block's parameters (or gradients) inside a flat arena. */
typedef struct {
    float *ln_1_w, *ln_1_b;           /* (C) */
    float *c_attn_w, *c_attn_b;       /* (C, 3C), (3C) */
    float *attn_proj_w, *attn_proj_b; /* (C, C), (C)  "attn.c_proj" */
    float *ln_2_w, *ln_2_b;           /* (C) */
    float *c_fc_w, *c_fc_b;           /* (C, F), (F) */
    float *mlp_proj_w, *mlp_proj_b;   /* (F, C), (C)  "mlp.c_proj" */
} rt_gpt2_block;

typedef struct {
    float *wte;             /* (V, C) */
    float *wpe;             /* (n_positions, C) */
    rt_gpt2_block *h;       /* [L] */
    float *ln_f_w, *ln_f_b; /* (C) */
    float *lm_head;         /* (V, C): wte when tied */
} rt_gpt2_views;

/* Activations of one block, (B, T, ...) row-major. */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd; /* (B,T,C), (B,T), (B,T) */
    float *qkv;                       /* (B,T,3C) */
    float *att;                       /* (B,NH,T,T) softmax probabilities, before dropout */
    float *atty;                      /* (B,T,C) heads merged, before c_proj */
    float *res2;                      /* (B,T,C) residual after the attention branch */
    float *ln2, *ln2_mean, *ln2_rstd; /* (B,T,C), (B,T), (B,T) */
    float *fch;                       /* (B,T,F) before gelu */
    float *fch_gelu;                  /* (B,T,F) */
    float *res3;                      /* (B,T,C) residual after the MLP branch = next input */
} rt_gpt2_block_acts;

typedef struct rt_gpt2 {
    rt_gpt2_config cfg;
    rt_tensor_table params; /* names, shapes, offsets; the same table indexes grads, m, v */
    int n_body;             /* GPT-2's own tensors, params.t[0, n_body); a task head's tensors
                               (rt_gpt2_create_ext) follow them */
    float *params_mem;      /* (params.total) owned */
    float *grads_mem;       /* (params.total) owned, allocated by rt_gpt2_alloc_acts */
    rt_gpt2_views w, g;     /* views into params_mem / grads_mem */

    /* Activations for micro-batch shape (B, T), allocated once by rt_gpt2_alloc_acts. */
    int B, T;         /* allocated capacity */
    int cur_B, cur_T; /* shape of the last forward */
    float *acts_mem;
    size_t acts_total;
    float *encoded;                   /* (B,T,C) embeddings after dropout = input of block 0 */
    rt_gpt2_block_acts *a;            /* [L] */
    float *lnf, *lnf_mean, *lnf_rstd; /* (B,T,C), (B,T), (B,T) */
    float *logits;                    /* (B,T,V); backward overwrites it with dlogits */
    float *lse;                       /* (B,T) log-sum-exp of each row's logits */
    float *losses;                    /* (B,T) per-token loss, 0 where the target is ignored */
    /* scratch for backward, reused across blocks */
    float *dres;         /* (B,T,C) gradient flowing down the residual stream */
    float *dbtc;         /* (B,T,C) */
    float *dbtc2;        /* (B,T,C) */
    float *dqkv;         /* (B,T,3C) */
    float *dfch;         /* (B,T,F) */
    float *datt_scratch; /* (nthreads, 2, T, T) per-thread attention backward scratch */
    int scratch_threads;

    const int32_t *ids;     /* (B,T) inputs of the last forward (borrowed) */
    const int32_t *targets; /* (B,T) targets of the last forward, -100 = ignored (borrowed) */
    int n_counted;          /* targets != -100 in the last forward */
    rt_step_key key;        /* the key of the last forward, recorded by it: backward draws the
                               same dropout masks (callers pass keys to the forward functions) */
    int no_logits;          /* set before rt_gpt2_alloc_acts: no logits / per-token loss buffers
                               (a task head over the backbone allocates its own outputs) */
    rt_lora *lora;          /* borrowed adapters (rt_gpt2_set_lora), NULL: none */
    float **pat, **gat;     /* [params.n] or NULL: tensor i is read from pat[i] and its gradient
                               written to gat[i] instead of the arenas (rt_gpt2_redirect) */
} rt_gpt2;

/* Called by the backward functions after block l's gradients are final (l = L-1 down to the
   lowest block they visit) and with l = -1 after the embeddings'; lets a data-parallel caller
   start reducing finished gradient buckets while backward continues. */
typedef void (*rt_gpt2_layer_done_fn)(void *arg, int layer);

/* LoRA target slots of a block (compute/lora.h): the four linear layers PEFT can adapt. */
enum {
    RT_GPT2_LORA_C_ATTN = 0,
    RT_GPT2_LORA_ATTN_PROJ,
    RT_GPT2_LORA_C_FC,
    RT_GPT2_LORA_MLP_PROJ,
    RT_GPT2_LORA_SLOTS
};
/* The layers an adapter may target, 4 per block in table order, into out (4 * n_layer). */
int rt_gpt2_lora_targets(const rt_gpt2 *m, rt_lora_target *out);
/* Attaches adapters (borrowed; NULL detaches). With adapters the model keeps no gradient arena:
   the tensors that train are the adapters and the redirected tensors; any gradient arena is
   freed. */
void rt_gpt2_set_lora(rt_gpt2 *m, rt_lora *L);
/* Tensor idx is read from param (NULL: its own storage again) and its gradient goes to grad
   (NULL: the arena's). The caller keeps both alive while they stand in. */
rt_status rt_gpt2_redirect(rt_gpt2 *m, int idx, float *param, float *grad);

/* The GPT-2 124M configuration (HF defaults). */
void rt_gpt2_config_default(rt_gpt2_config *cfg);
/* Checks ranges and divisibility; the message names the field and what was expected. The token
   ids (bos/eos) are not checked: nothing in the model reads them, and transformers saves ids
   outside small vocabularies (the user that needs one checks it, see rt_hf_gpt2_eos_id). */
rt_status rt_gpt2_config_validate(const rt_gpt2_config *cfg);

/* The number of parameters (flat elements, tensors 16-aligned) a valid configuration has,
   without allocating them. */
rt_status rt_gpt2_config_num_params(const rt_gpt2_config *cfg, size_t *n);
/* Builds the tensor table and allocates zeroed parameters. Caller owns *out. */
rt_status rt_gpt2_create(rt_gpt2 **out, const rt_gpt2_config *cfg);
/* Appends a task head's own tensors (names under its prefix, e.g. "score.weight") to the table
   rt_gpt2_create_ext builds, after GPT-2's; returns 0 when out of memory. GPT-2's code never
   touches them; they share the arenas (params, grads, AdamW state, checkpoints). */
typedef int (*rt_gpt2_extend_fn)(void *arg, rt_tensor_table *tab);
/* rt_gpt2_create with extra tensors appended by extend (NULL: none). rt_gpt2_untie does not
   support extended tables (a head of its own needs no untied LM head). */
rt_status rt_gpt2_create_ext(rt_gpt2 **out, const rt_gpt2_config *cfg, rt_gpt2_extend_fn extend,
                             void *arg);
void rt_gpt2_destroy(rt_gpt2 **m);
/* Allocates gradients and activations for micro-batches of B x T (T <= n_positions). Called once;
   calling again with another shape reallocates. */
rt_status rt_gpt2_alloc_acts(rt_gpt2 *m, int B, int T);
/* A copy of m with an untied LM head initialised from the embeddings (feature extraction trains a
   head of its own). Caller owns *out; m is unchanged. */
rt_status rt_gpt2_untie(const rt_gpt2 *m, rt_gpt2 **out);
/* Hugging Face's initialisation: N(0, initializer_range) weights, residual projections
   N(0, initializer_range/sqrt(2L)), zero biases, LayerNorm 1/0. Deterministic in seed. */
void rt_gpt2_init_weights(rt_gpt2 *m, uint64_t seed);
size_t rt_gpt2_num_params(const rt_gpt2 *m);

/* Forward over ids (B,T) with B,T no larger than allocated, without dropout (evaluation).
   targets (B,T) may be NULL (logits only). Returns sum of per-token losses over counted targets
   in *loss_sum (may be NULL) and the count in m->n_counted. Ids out of [0,V) are an error. */
rt_status rt_gpt2_forward(rt_gpt2 *m, const int32_t *ids, const int32_t *targets, int B, int T,
                          double *loss_sum);
/* rt_gpt2_forward with the randomness key of this forward (key->train: dropout on); key NULL is
   evaluation. */
rt_status rt_gpt2_forward_keyed(rt_gpt2 *m, const int32_t *ids, const int32_t *targets, int B,
                                int T, const rt_step_key *key, double *loss_sum);
/* The backbone alone: embeddings, blocks and the final LayerNorm over ids (B,T); the final
   hidden states are left in m->lnf (B,T,C) (what transformers returns as hidden_states[-1]) for a
   task head. Same checks as rt_gpt2_forward; no logits, m->n_counted = 0. */
rt_status rt_gpt2_forward_hidden(rt_gpt2 *m, const int32_t *ids, int B, int T);
/* rt_gpt2_forward_hidden with the key of this forward (NULL: evaluation, no dropout). */
rt_status rt_gpt2_forward_hidden_keyed(rt_gpt2 *m, const int32_t *ids, int B, int T,
                                       const rt_step_key *key);
/* Backward of the last rt_gpt2_forward_hidden from dlnf (cur_B, cur_T, C), the gradient of the
   loss with respect to m->lnf (caller owns dlnf; it may not alias m->lnf; it may be m->dbtc).
   accumulate as in rt_gpt2_backward. The LM head gets no gradient. Does nothing when no tensor
   below the head trains. */
void rt_gpt2_backward_hidden(rt_gpt2 *m, const float *dlnf, int accumulate);
/* rt_gpt2_backward_hidden for a head that shares wte (a tied LM head): wte_written = 1 when the
   head already wrote its part of wte's gradient (with accumulate), so the embeddings add to it.
   done (may be NULL) is called with arg as blocks and the embeddings finish. */
void rt_gpt2_backward_hidden_ex(rt_gpt2 *m, const float *dlnf, int accumulate, int wte_written,
                                rt_gpt2_layer_done_fn done, void *arg);
/* Whether rt_gpt2_backward_hidden has anything to do: a trainable ln_f, block or embedding. */
int rt_gpt2_backbone_trains(const rt_gpt2 *m);
/* Backward of (sum of counted token losses) * scale for the last forward; scale is
   1/(counted tokens of the whole global batch). accumulate = 0 overwrites the gradients
   (first micro-batch), 1 adds to them. Destroys m->logits. */
void rt_gpt2_backward(rt_gpt2 *m, float scale, int accumulate);
/* Zeroes the gradients (only needed when skipping the accumulate=0 first pass). */
void rt_gpt2_zero_grad(rt_gpt2 *m);

/* FLOPs of one forward+backward for B x T tokens (matrix products incl. attention, x3). */
double rt_gpt2_flops_per_step(const rt_gpt2_config *cfg, int B, int T);
/* FLOPs that one forward + rt_gpt2_backward of B x T tokens actually perform with m's current
   trainable flags (the same matrix products): a frozen weight costs no weight gradient, and
   backward stops at the lowest block it needs (finetune modes partial, feature extraction,
   gradual unfreezing). Equals rt_gpt2_flops_per_step when every tensor trains. */
double rt_gpt2_flops_done(const rt_gpt2 *m, int B, int T);
/* The part of rt_gpt2_flops_done below the LM head: the backbone's forward and the backward from
   the final hidden states (the head's matrix products excluded). */
double rt_gpt2_flops_done_hidden(const rt_gpt2 *m, int B, int T);

/* ---- incremental decoding (compute/gpt2_decode.c) ----------------------------------------- */

/* Key/value caches for incremental decoding: rows of up to Tmax positions (Tmax <= n_positions),
   with one step's activations. Memory: keys and values 2 x (L, B, Tmax, C) plus one step's
   activations for B rows and the logits (B, V). */
typedef struct rt_gpt2_kv rt_gpt2_kv;
/* Caches for up to B rows of up to Tmax positions of m. Not collective. m is borrowed (it must
   outlive the caches; its parameters are read at each call); the caller owns *out. */
rt_status rt_gpt2_kv_create(rt_gpt2_kv **out, rt_gpt2 *m, int B, int Tmax);
/* Frees *kv (NULL: nothing) and sets it to NULL. Not collective. */
void rt_gpt2_kv_destroy(rt_gpt2_kv **kv);
/* Positions cached so far (0 after create and prefill's failure). Not collective. */
int rt_gpt2_kv_len(const rt_gpt2_kv *kv);
/* Empties the caches, then runs ids (B, T) through rt_gpt2_forward (m's activations, which must
   hold B x T, are overwritten) and keeps every block's keys and values; *logits (B, V) gets the
   last position's logits (the caches' buffer, valid until the next call on kv). Not
   collective; ids stay the caller's. */
rt_status rt_gpt2_kv_prefill(rt_gpt2_kv *kv, const int32_t *ids, int B, int T,
                             const float **logits);
/* Feeds one token per row (tokens: the prefill's B ids) at position rt_gpt2_kv_len(kv), appends
   its keys and values, and leaves that position's logits in *logits (B, V), as above. Equal to
   the full forward's logits of the sequence so far (within float rounding). Not collective. */
rt_status rt_gpt2_kv_step(rt_gpt2_kv *kv, const int32_t *tokens, const float **logits);

/* Greedy (top_k <= 1) or top-k sampling with temperature from prompt ids. out receives
   n_prompt + n_new ids (capacity n_prompt + n_new). Uses activations for B=1: call
   rt_gpt2_alloc_acts(m, 1, T) first; the context is T (at most n_positions). The prompt (its last
   T tokens when longer) runs through one forward, whose keys and values are cached; each new
   token then costs one cached step. Once prompt + new tokens exceed T the context slides (the
   last T tokens, at positions 0..T-1), and since every position moves, each further token
   recomputes the whole window with the forward, as it always did. Allocates its caches
   (rt_gpt2_kv, 2 x L x T x C floats) for the call. Not collective. */
rt_status rt_gpt2_generate(rt_gpt2 *m, const int32_t *prompt, int n_prompt, int n_new, int top_k,
                           float temperature, uint64_t seed, int32_t *out);
