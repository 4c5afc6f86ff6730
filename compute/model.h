/* The architecture-neutral model handle that the training loop works with: a backbone (a table
   of operations over flat arenas, like ggml's interface structs and llm.c's flat buffers) and a
   task head over its final hidden states (a second, small table of operations). Parameters of
   both live in one tensor table and one flat arena (the head's tensors carry a name prefix, e.g.
   "score."), so sharding, the optimizer, checkpoints and gradient buckets see one flat buffer.

   Ownership: an rt_model owns its backbone implementation and its head state. The arenas
   (params_mem, grads_mem) and the table belong to the backbone; the handle's fields point at
   them and are refreshed by every function that may reallocate them. Nothing here is
   collective: compute/ knows no MPI. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "batch.h"
#include "lora.h"
#include "status.h"

/* What a parameter group is to freezing and bucketing. */
typedef enum {
    RT_GROUP_HEAD = 0,  /* above the blocks: final norm, task head; always trains */
    RT_GROUP_BLOCK = 1, /* one transformer block */
    RT_GROUP_EMBED = 2  /* the input embeddings */
} rt_group_kind;

/* A contiguous run of tensors of the table, in the order backward finishes them: groups[0] is
   finished first (the top of the network), groups[n_groups - 1] last (the embeddings). */
typedef struct {
    rt_group_kind kind;
    int block;        /* RT_GROUP_BLOCK: its index from the bottom (0 = the lowest); else -1 */
    int first, count; /* tensors [first, first + count) of the table */
    size_t lo, hi;    /* the flat range they occupy, alignment padding included; the groups
                         tile [0, params->total) */
    int reports_done; /* backward calls the group-done callback for this group (blocks and
                         embeddings); a head group is finished with the group after it */
} rt_param_group;

/* Called by backward with a group's index once the gradients of every tensor in it are final,
   in increasing index order; lets a data-parallel caller start reducing finished buckets while
   backward continues. */
typedef void (*rt_group_done_fn)(void *arg, int group);

typedef struct rt_model rt_model;

/* How an encoder-decoder decodes (rt_model_generate): transformers' generate arguments. */
typedef struct {
    int num_beams;         /* 1: greedy search; more: beam search */
    int max_new_tokens;    /* >= 1 */
    double length_penalty; /* beam search: a hypothesis scores sum(log p) / length^this */
    int early_stopping;    /* beam search: 0 false, 1 true, 2 "never" (transformers' values) */
} rt_gen_opts;

/* The backbone's operations. impl is the architecture's own struct (e.g. rt_gpt2). */
typedef struct {
    const char *arch; /* "gpt2": the manifest's and the registry's name for it */
    void (*destroy)(void *impl);
    /* Gradients and activations for micro-batches of B x T (T <= max_positions). */
    rt_status (*alloc_acts)(rt_model *m, int B, int T);
    /* Backbone forward; leaves the final hidden states (B, T, hidden_size) in m->hidden. */
    rt_status (*forward_hidden)(rt_model *m, const rt_batch *b, const rt_step_key *key);
    /* Whether backward below the head has anything to do (a trainable backbone tensor). */
    int (*backbone_trains)(const rt_model *m);
    /* Backward of the last forward from dhidden (B, T, hidden_size; may be m->dhidden).
       shared_written: the head already wrote its part of a tensor it shares with the backbone
       (a tied LM head's wte) with `accumulate`. done (may be NULL) as rt_group_done_fn. */
    void (*backward_hidden)(rt_model *m, const float *dhidden, int accumulate, int shared_written,
                            rt_group_done_fn done, void *arg);
    /* FLOPs one forward + backward below the head of B x T tokens (an encoder-decoder: B x src_T
       source and B x T decoder tokens) performs with the current trainable flags. */
    double (*flops_hidden)(const rt_model *m, int B, int T, int src_T);
    /* The output embedding a language-model head projects with: its tensor index and whether it
       is tied to (shared with) the input embedding. */
    int (*output_embedding)(const rt_model *m, int *tied);
    /* Gives the output embedding a tensor of its own, initialised from the input embedding (a
       head that trains alone, e.g. feature extraction). No-op when untied. */
    rt_status (*untie)(rt_model *m);
    /* Overrides the dropout rates (NAN: keep the model's). */
    void (*set_dropout)(rt_model *m, double embd, double attn, double resid);
    /* Encoder-decoder: decodes the sources of b (b->B rows of b->src_T, b->src_mask) until the
       model's eos or o->max_new_tokens: out (b->B, 1 + max_new_tokens) gets the decoder start,
       the generated ids and padding, lengths (b->B) the generated ids of each row (eos
       included). NULL for a model that does not generate this way. */
    rt_status (*generate)(rt_model *m, const rt_batch *b, const rt_gen_opts *o, int32_t *out,
                          int *lengths);
    /* LoRA (compute/model_lora.h). The linear layers an adapter may target into out (NULL:
       only counted) and the slots a block has; attaching adapters (borrowed; NULL detaches);
       redirecting tensor idx's reads to param and its gradient to grad (NULL: the arenas). */
    int (*lora_targets)(const rt_model *m, rt_lora_target *out, int *n_slots);
    void (*set_lora)(rt_model *m, rt_lora *L);
    rt_status (*redirect)(rt_model *m, int idx, float *param, float *grad);
} rt_model_ops;

/* A task head over the backbone's final hidden states. Its state (activations, loss buffers) is
   the head's own; its parameters, if any, are tensors of the model's table under its prefix. */
typedef struct {
    const char *kind; /* "lm", "seqcls": the manifest's name for it */
    /* 1: it projects with the backbone's output embedding (ops->output_embedding), which
       feature extraction unties so the head trains alone; 0: it has tensors of its own. A head
       with tensors of its own appends them to the backbone's table when the model is created
       (GPT-2: rt_gpt2_create_ext) under its name prefix; being last in the table they fall in
       groups[0] (kind RT_GROUP_HEAD), which trains in every fine-tuning mode. */
    int uses_output_embedding;
    void (*destroy)(void *state);
    rt_status (*alloc_acts)(rt_model *m, int B, int T);
    /* What the loss of b is normalised by: its loss terms (LM: counted targets; classification:
       counted labels, or their class-weight sum with class weights, as torch's weighted mean).
       Pure: needs no forward. */
    double (*count)(const rt_model *m, const rt_batch *b);
    /* Loss of the last backbone forward: *loss_sum over the counted terms, *count their
       normaliser (as count). */
    rt_status (*forward)(rt_model *m, const rt_batch *b, double *loss_sum, double *count);
    /* Backward of (loss_sum * scale) for the last forward: the head's own parameter gradients
       (accumulate as in rt_model_backward) and, when need_dhidden, d(hidden) into dhidden
       (B, T, hidden_size). *shared_written: it wrote into a backbone tensor's gradient. */
    void (*backward)(rt_model *m, float scale, int accumulate, int need_dhidden, float *dhidden,
                     int *shared_written);
    /* FLOPs of the head's forward + backward for B x T tokens with the current flags. */
    double (*flops)(const rt_model *m, int B, int T);
} rt_head_ops;

struct rt_model {
    const rt_model_ops *ops;
    void *impl; /* owned: the architecture's struct */
    const rt_head_ops *head;
    void *head_state; /* owned */

    /* the backbone's arenas (refreshed after create, alloc_acts and untie) */
    rt_tensor_table *params; /* names, shapes, offsets; indexes grads too */
    float *params_mem;       /* (params->total) */
    float *grads_mem;        /* (params->total), after alloc_acts */
    int n_groups;
    rt_param_group *groups; /* owned, backward order */

    int hidden_size, vocab_size, max_positions;
    int n_blocks;     /* groups of kind RT_GROUP_BLOCK */
    int head_tensors; /* the last head_tensors tensors of the table are the head's own (a
                         classifier's score); 0 for a head over the output embedding. Feature
                         extraction trains exactly these when there are any (the final norm is
                         the backbone's, frozen with it, as freezing model.transformer does) */
    float *hidden;    /* (B, T, hidden_size) final hidden states of the last forward (backbone's) */
    float *dhidden;   /* (B, T, hidden_size) scratch for d(hidden) (backbone's) */
    int cur_B, cur_T;
    int src_T; /* encoder-decoder: the source length activations are allocated for, set by the
                  caller before rt_model_alloc_acts (whose T is then the target length) */
    rt_model *head_owner; /* the handle the head's state lives on (a LoRA handle's base, which
                             it owns), NULL: this one; the head accessors look there */
    float **pat, **gat;   /* [params->n] or NULL (owned): tensors a head reads elsewhere and whose
                             gradient goes elsewhere (rt_model_tensor; LoRA's saved copies) */
    int encoder_decoder;  /* 1: forward reads rt_batch.src_* (T5); 0: decoder-only */
    int decoder_start_id, pad_id; /* encoder-decoder: the first decoder input, and the id that
                                     pads sources and decoder inputs */
};

/* Where tensor idx of m's table is read, and in *grad where its gradient goes (NULL when it is
   frozen or there is no gradient arena). Heads find their weights through it. */
float *rt_model_tensor(const rt_model *m, int idx, float **grad);

/* Frees m and everything it owns; *m = NULL. */
void rt_model_destroy(rt_model **m);
/* Sets the head (the model must have none or the same kind); the head allocates its state at
   rt_model_alloc_acts. */
void rt_model_set_head(rt_model *m, const rt_head_ops *head);
rt_status rt_model_alloc_acts(rt_model *m, int B, int T);
/* Backbone forward + head loss. *loss_sum over the counted terms, *count their number (either
   may be NULL). key NULL: evaluation. */
rt_status rt_model_forward(rt_model *m, const rt_batch *b, const rt_step_key *key, double *loss_sum,
                           double *count);
/* Backward of (loss_sum * scale) of the last forward; scale is 1 / (the loss terms of the whole
   global batch). accumulate = 0 overwrites the gradients, 1 adds to them. done as
   rt_group_done_fn (may be NULL). */
void rt_model_backward(rt_model *m, float scale, int accumulate, rt_group_done_fn done, void *arg);
/* The loss terms of a batch, as the head counts them. */
double rt_model_count(const rt_model *m, const rt_batch *b);
/* FLOPs one forward + backward of B x T tokens performs (frozen tensors cost no gradient); an
   encoder-decoder's source is taken as m->src_T tokens. */
double rt_model_flops_done(const rt_model *m, int B, int T);
/* The same for the shape of batch b (its src_T for an encoder-decoder). */
double rt_model_flops_batch(const rt_model *m, const rt_batch *b);
size_t rt_model_num_params(const rt_model *m);
/* ops->generate, or RT_ERR_ARG naming the architecture when it has none. */
rt_status rt_model_generate(rt_model *m, const rt_batch *b, const rt_gen_opts *o, int32_t *out,
                            int *lengths);
/* Fills m->groups from a table split into groups: the caller lists, in backward order, each
   group's kind, block and first tensor; counts and flat ranges are derived. Used by backbones. */
rt_status rt_model_set_groups(rt_model *m, int n, const rt_group_kind *kind, const int *block,
                              const int *first);
