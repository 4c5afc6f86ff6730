/* expf and tanhf that the compiler vectorizes (glibc's scalar expf is not, without -ffast-math):
   Cephes' range reduction and degree-6 polynomial, within 2 ulp of expf for |x| < 87. */
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float rt_expf(float x) {
    /* clamp so the result stays a normal float (exp(-87) ~ 1.6e-38) and the exponent arithmetic
       below stays in range; written so a NaN becomes -87 here and is returned as NaN at the end */
    float xin = x;
    x = x > -87.0f ? x : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    /* round to nearest by the 1.5*2^23 trick (vectorizes; floorf is a libm call here). Needs
       IEEE float semantics, i.e. no -ffast-math. */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t e = (uint32_t)((int32_t)n + 127) << 23; /* n in [-126, 127] */
    float s;
    memcpy(&s, &e, sizeof s);
    return xin == xin ? p * s : xin;
}

/* tanh(u) = 1 - 2 / (exp(2u) + 1); exact limits for large |u|. */
static inline float rt_tanhf(float u) {
    return 1.0f - 2.0f / (rt_expf(2.0f * u) + 1.0f);
}
