/* Flat arenas filled from a table of tensor shapes: one aligned allocation per lifetime class
   (parameters, gradients, AdamW m and v, activations), with named views into it. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "status.h"

#define RT_MAX_DIMS 4
#define RT_NAME_MAX 96

typedef struct {
    char name[RT_NAME_MAX]; /* e.g. "h.3.attn.c_attn.weight" (Hugging Face name, no prefix) */
    int ndim;
    int64_t shape[RT_MAX_DIMS];
    size_t offset; /* in floats, from the start of the arena */
    size_t numel;
    int decay;     /* AdamW weight decay applies (matrices and embeddings, not biases/LN) */
    int trainable; /* takes part in backward weight gradients and the optimizer */
} rt_tensor_info;

typedef struct {
    rt_tensor_info *t; /* owned */
    int n, cap;
    size_t total; /* floats, each tensor start aligned to 16 floats (64 bytes) */
} rt_tensor_table;

void rt_table_init(rt_tensor_table *tab);
void rt_table_free(rt_tensor_table *tab);
/* Appends a tensor; shape has ndim entries. Returns its index or -1 when out of memory. */
int rt_table_add(rt_tensor_table *tab, const char *name, int ndim, const int64_t *shape, int decay);
/* Index of the tensor with this name, or -1. */
int rt_table_find(const rt_tensor_table *tab, const char *name);

/* An activation arena laid out in two passes over the same code: with base NULL rt_carve_take
   only counts (and returns NULL), so the first pass sizes the allocation and the second, over
   it, hands out consecutive pieces each starting 64-byte aligned. */
typedef struct {
    float *base;
    size_t off; /* floats taken so far */
} rt_carve;
static inline float *rt_carve_take(rt_carve *c, size_t n) {
    float *p = c->base ? c->base + c->off : NULL;
    c->off += (n + 15) & ~(size_t)15;
    return p;
}

/* 64-byte aligned, zero-filled allocation of n floats (touches the pages once, here, so the
   step loop never page-faults). Returns NULL on failure. Free with rt_free_floats. */
float *rt_alloc_floats(size_t n);
void rt_free_floats(float **p);

/* A backbone's per-tensor stand-ins (LoRA's redirects): *pat and *gat ([n] each, zeroed) are
   allocated on first use, then entry idx is set to param / grad. The caller owns both arrays. */
rt_status rt_redirect_set(float ***pat, float ***gat, int n, int idx, float *param, float *grad);
