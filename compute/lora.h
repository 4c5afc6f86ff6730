/* Low-rank adapters (LoRA, Hu et al. 2021) as PEFT implements them: a targeted linear layer
   y = x W (+ b) becomes y + scale * dropout(x) A^T B^T with A (r, in) and B (out, r), scale =
   alpha / r (rsLoRA: alpha / sqrt(r)). A starts Kaiming-uniform (a = sqrt(5): U(-1/sqrt(in),
   1/sqrt(in))), B zero, so step 0 is the base model exactly.

   An adapter set owns its own tensor table and flat arenas (parameters, gradients): the A and B
   of every adapted layer, then the base tensors that train in full with the adapters (biases for
   bias all / lora_only, modules_to_save such as a classification score), copied out of the base
   model so that the base arena stays frozen and needs no gradients. The backbone reads those
   copies in place of its own (its redirect hook) and calls rt_lora_forward / rt_lora_backward
   after each targeted linear layer.

   Ownership: the set owns its table, arenas and activation scratch; it borrows nothing. Nothing
   here is collective: compute/ knows no MPI. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "batch.h"
#include "status.h"

/* A linear layer of a backbone that an adapter may target (listed by the architecture). */
typedef struct {
    char module[RT_NAME_MAX]; /* its module name in the backbone's table, e.g. "h.3.attn.c_attn"
                                 (the weight is "<module>.weight") */
    int block;                /* the block it belongs to (compute/model.h numbering) */
    int slot;                 /* the architecture's own id of the layer within its block */
    int in, out;              /* y (N, out) = x (N, in) . W */
    int weight, bias;         /* tensor indices in the backbone's table (bias -1: none) */
    int conv1d;               /* 1: W is stored (in, out) (GPT-2's Conv1D: PEFT's fan_in_fan_out);
                                 0: (out, in) (nn.Linear) */
} rt_lora_target;

typedef enum { RT_LORA_BIAS_NONE = 0, RT_LORA_BIAS_ALL, RT_LORA_BIAS_LORA_ONLY } rt_lora_bias;

typedef struct {
    int r;          /* rank, >= 1 */
    double alpha;   /* > 0 */
    double dropout; /* [0, 1): on the adapter's input */
    int rslora;     /* 1: scale alpha / sqrt(r); 0: alpha / r */
} rt_lora_params;

/* One adapted layer. */
typedef struct {
    rt_lora_target t;
    int ia, ib;   /* A's and B's index in the set's table */
    float scale;  /* alpha / r or alpha / sqrt(r) */
    float *u;     /* (rows_cap, r): dropout(x) A^T of the last forward, for backward */
    uint64_t key; /* dropout site id */
} rt_lora_site;

typedef struct rt_lora {
    rt_lora_params prm;
    rt_tensor_table tab; /* A, B of each site, then the saved base tensors */
    float *params;       /* (tab.total) owned */
    float *grads;        /* (tab.total) owned */
    int n_sites;
    rt_lora_site *sites; /* owned */
    int n_blocks, n_slots;
    int *site_at;    /* [n_blocks * n_slots]: the site of (block, slot), -1 none */
    int n_saved;     /* base tensors trained in full */
    int *saved_base; /* [n_saved] their index in the backbone's table */
    int *saved_idx;  /* [n_saved] their index in tab */
    size_t rows_cap; /* rows the saved u and the scratch hold (rt_lora_alloc_acts) */
    float *acts;     /* owned: every site's u, then the scratch */
    float *scratch;  /* (rows_cap, max(in, out) + r) */
    int merged;      /* 1 while rt_lora_merge's weights stand in: the hooks do nothing */
} rt_lora;

/* Creates a set adapting targets[i] for every i with pick[i] != 0; the base tensors save[i]
   (n_save indices of base_tab) train in full, their values copied from base_params (the
   backbone's arena). Names: "<module>.lora_A.weight" (r, in), "<module>.lora_B.weight"
   (out, r), the saved tensors under their base names. The table follows the backbone's
   parameter groups upwards: save_ord[i] places tensor save[i] (0: the embeddings, 1 + b: block
   b, n_blocks + 1: above the blocks), a target sits with its block. n_blocks x n_slots bound the
   targets' block and slot. Caller owns *out. Not collective. */
rt_status rt_lora_create(rt_lora **out, const rt_lora_params *prm, const rt_lora_target *targets,
                         const int *pick, int n_targets, int n_blocks, int n_slots,
                         const rt_tensor_table *base_tab, const float *base_params, const int *save,
                         const int *save_ord, int n_save);
void rt_lora_destroy(rt_lora **L);
/* PEFT's initialisation from seed: A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0 (the saved tensors keep
   their base values). */
void rt_lora_init(rt_lora *L, uint64_t seed);
/* Gradients and the per-site activations for forwards of up to rows rows per layer. */
rt_status rt_lora_alloc_acts(rt_lora *L, size_t rows);
/* The site adapting (block, slot), or NULL. L may be NULL (no adapters). */
static inline const rt_lora_site *rt_lora_site_at(const rt_lora *L, int block, int slot) {
    if (!L || L->merged) return NULL;
    int s = L->site_at[block * L->n_slots + slot];
    return s < 0 ? NULL : &L->sites[s];
}
/* The saved copy of base tensor idx in the set (its index in L->tab), or -1. */
int rt_lora_saved_index(const rt_lora *L, int base_idx);
/* Whether any site sits in block `block` or above it (backward must reach that block). */
int rt_lora_lowest_block(const rt_lora *L);

/* out (N, out) += scale * dropout(x) A^T B^T (x (N, in)); key: the forward's (dropout when
   key->train; NULL: evaluation). Keeps dropout(x) A^T for backward when N <= rows_cap. */
void rt_lora_forward(rt_lora *L, const rt_lora_site *s, float *out, const float *x, int N,
                     const rt_step_key *key);
/* Backward of the last rt_lora_forward of s from dout (N, out): dA, dB written (acc 0) or added
   (1); dx (N, in) += the adapter's part of d(x) (dx NULL: skipped). */
void rt_lora_backward(rt_lora *L, const rt_lora_site *s, float *dx, const float *dout,
                      const float *x, int N, const rt_step_key *key, int acc);

/* W + scale * (B A) of site s into dst, in the base weight's own layout (conv1d: (in, out)). */
void rt_lora_merged_weight(const rt_lora *L, const rt_lora_site *s, const float *W, float *dst);
/* FLOPs of the adapters in one forward + backward of rows_per_block[block] rows. */
double rt_lora_flops(const rt_lora *L, const double *rows_of_site);
/* Parameters the set trains (A, B and saved tensors). */
size_t rt_lora_num_params(const rt_lora *L);
