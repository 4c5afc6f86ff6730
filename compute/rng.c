#include "rng.h"
#include <math.h>

float rt_rng_normal(uint64_t key, uint64_t counter) {
    double u1 = ((double)(rt_mix64(key ^ (2 * counter * 0xD1B54A32D192ED03ull)) >> 11) + 0.5) *
                (1.0 / 9007199254740992.0);
    double u2 = (double)(rt_mix64(key ^ ((2 * counter + 1) * 0xD1B54A32D192ED03ull)) >> 11) *
                (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}
