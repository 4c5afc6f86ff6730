/* Global sampler: a keyed Feistel permutation with cycle walking over window indices. */
#include "sampler.h"
#include "rng.h"

uint64_t rt_sampler_windows(uint64_t n_tokens, int T) {
    return T > 0 && n_tokens > (uint64_t)T ? (n_tokens - 1) / (uint64_t)T : 0;
}

void rt_sampler_init(rt_sampler *s, uint64_t n_windows, uint64_t seed, int global_batch) {
    s->n_windows = n_windows;
    s->seed = seed;
    s->global_batch = global_batch;
}

/* Four Feistel rounds over 2*half bits are a bijection of [0, 2^(2 half)); walking the cycle
   until the value falls below n restricts it to a bijection of [0, n). The domain is at most 4n,
   so the expected walk is short. */
uint64_t rt_sampler_permute(uint64_t n, uint64_t seed, uint64_t epoch, uint64_t i) {
    if (n <= 1) return 0;
    unsigned bits = 2;
    while (bits < 64 && (1ull << bits) < n) bits++;
    if (bits & 1) bits++;
    unsigned half = bits / 2;
    uint64_t mask = (1ull << half) - 1, key = rt_rng_key(seed, epoch, 0x5eed, 0x5a);
    uint64_t x = i;
    do {
        uint64_t l = x >> half, r = x & mask;
        for (uint64_t round = 0; round < 4; round++) {
            uint64_t f = rt_mix64(r ^ key ^ (round << 56)) & mask;
            uint64_t nl = r;
            r = l ^ f;
            l = nl;
        }
        x = (l << half) | r;
    } while (x >= n);
    return x;
}

uint64_t rt_sampler_epoch(const rt_sampler *s, uint64_t k) {
    return s->n_windows ? k / s->n_windows : 0;
}

uint64_t rt_sampler_sample(const rt_sampler *s, uint64_t k) {
    if (!s->n_windows) return 0;
    return rt_sampler_permute(s->n_windows, s->seed, k / s->n_windows, k % s->n_windows);
}

void rt_sampler_slice(int global_batch, int rank, int size, int *start, int *count) {
    long long G = global_batch;
    long long a = G * rank / size, b = G * (rank + 1) / size;
    *start = (int)a;
    *count = (int)(b - a);
}

int rt_sampler_batch(const rt_sampler *s, uint64_t batch, int rank, int size, uint64_t *out) {
    int start, count;
    rt_sampler_slice(s->global_batch, rank, size, &start, &count);
    uint64_t base = batch * (uint64_t)s->global_batch + (uint64_t)start;
    for (int i = 0; i < count; i++) out[i] = rt_sampler_sample(s, base + (uint64_t)i);
    return count;
}
