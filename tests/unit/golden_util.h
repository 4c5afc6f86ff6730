/* What the golden tests share (tests/unit/test_*_golden.c): golden.json fields, golden.safetensors
   tensors copied out, and the max difference between two float arrays. Check assertions name the
   field or tensor that is missing. */
#pragma once
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "safetensors.h"
#include "status.h"

static inline int golden_jint(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    ck_assert_msg(json_is_integer(v), "golden.json: %s", k);
    return (int)json_integer_value(v);
}

static inline double golden_jnum(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    ck_assert_msg(json_is_number(v), "golden.json: %s", k);
    return json_number_value(v);
}

/* n floats of tensor name (any float dtype), malloc'd. */
static inline float *golden_f32_of(rt_st_file *g, const char *name, size_t n) {
    float *v = malloc(n * sizeof(float));
    ck_assert_msg(rt_st_read_f32(g, name, v, n) == RT_OK, "%s", rt_error_message());
    return v;
}

/* A copy of tensor name, which must have dtype dt (malloc'd). */
static inline void *golden_copy_of(rt_st_file *g, const char *name, rt_st_dtype dt) {
    const rt_st_tensor *t = rt_st_find(g, name);
    ck_assert_msg(t && t->dtype == dt, "golden %s", name);
    void *p = malloc(t->nbytes);
    memcpy(p, t->data, t->nbytes);
    return p;
}

/* max |a - b| (NaN in a: infinity), and max |b| in *ref_max (may be NULL). */
static inline double golden_max_abs_diff(const float *a, const float *b, size_t n,
                                         double *ref_max) {
    double d = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, isnan(a[i]) ? INFINITY : fabs((double)a[i] - b[i]));
        r = fmax(r, fabs((double)b[i]));
    }
    if (ref_max) *ref_max = r;
    return d;
}
