/* The deterministic global sampler. Sample k of the training stream (k = 0, 1, ... over all
   epochs) is window perm_e(k mod n) of epoch e = k / n, where perm_e is a pseudorandom bijection
   of [0, n) keyed by (seed, e). Global batch b is samples [b*G, (b+1)*G); rank r of p takes the
   contiguous slice [r*G/p, (r+1)*G/p) of it (uneven when p does not divide G). Nothing depends
   on p, so a run resumes at any rank count from one integer: the samples consumed so far.
   No MPI here: rank and size are plain integers. */
#pragma once
#include <stdint.h>

typedef struct {
    uint64_t n_windows; /* windows of T+1 tokens at stride T in the training stream */
    uint64_t seed;
    int global_batch; /* G, samples per optimizer step */
} rt_sampler;

/* Windows of T+1 tokens at stride T in a stream of n_tokens tokens. */
uint64_t rt_sampler_windows(uint64_t n_tokens, int T);
void rt_sampler_init(rt_sampler *s, uint64_t n_windows, uint64_t seed, int global_batch);
/* perm_e(i): a bijection of [0, n) keyed by (seed, epoch); O(1) memory, no table. */
uint64_t rt_sampler_permute(uint64_t n, uint64_t seed, uint64_t epoch, uint64_t i);
/* Window index of global sample k. */
uint64_t rt_sampler_sample(const rt_sampler *s, uint64_t k);
uint64_t rt_sampler_epoch(const rt_sampler *s, uint64_t k);
/* Rank r's slice of any global batch: [*start, *start + *count) within the batch. */
void rt_sampler_slice(int global_batch, int rank, int size, int *start, int *count);
/* Window indices of rank r's slice of global batch b, written to out (capacity >= its count);
   returns the count. */
int rt_sampler_batch(const rt_sampler *s, uint64_t batch, int rank, int size, uint64_t *out);
