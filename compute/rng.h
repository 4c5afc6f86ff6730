/* Counter-based random numbers: every value is a pure function of (key, counter), so dropout masks
   are reproducible, need not be stored for backward, and do not depend on the thread count. */
#pragma once
#include <stdint.h>

static inline uint64_t rt_mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Key for one dropout site: seed, optimizer step, micro-batch and site id mixed together. */
static inline uint64_t rt_rng_key(uint64_t seed, uint64_t step, uint64_t micro, uint64_t site) {
    return rt_mix64(rt_mix64(rt_mix64(seed ^ rt_mix64(step)) ^ micro) ^
                    (site * 0x2545F4914F6CDD1Dull));
}
/* Uniform in [0,1) with 24 bits. */
static inline float rt_rng_uniform(uint64_t key, uint64_t counter) {
    return (float)(rt_mix64(key ^ (counter * 0xD1B54A32D192ED03ull)) >> 40) * (1.0f / 16777216.0f);
}
/* Standard normal (Box-Muller over two counters). */
float rt_rng_normal(uint64_t key, uint64_t counter);
