/* The sweep's sampler (dist/sweep_space.h): grid enumeration and counter-based random draws. */
#include "sweep_space.h"
#include "rng.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double rt_sweep_draw(uint64_t seed, int trial, int param) {
    uint64_t z = rt_mix64(rt_mix64(seed ^ 0x5357454550ull) ^ rt_mix64((uint64_t)trial));
    z = rt_mix64(z ^ ((uint64_t)param * 0x2545F4914F6CDD1Dull));
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* A number of [lo, hi] as text: 6 significant digits when they stay in the range, else 17. */
static char *number_text(double x, double lo, double hi) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.6g", x);
    double back = strtod(buf, NULL);
    if (back < lo || back > hi) snprintf(buf, sizeof buf, "%.17g", x);
    return strdup(buf);
}

static char *draw_value(const rt_space_param *p, double u) {
    int i;
    double x;
    switch (p->kind) {
    case RT_SPACE_LIST:
    case RT_SPACE_CHOICE:
        i = (int)(u * p->n_values);
        return strdup(p->values[i < p->n_values ? i : p->n_values - 1]);
    case RT_SPACE_UNIFORM:
        x = p->low + u * (p->high - p->low);
        return number_text(x < p->high ? x : p->high, p->low, p->high);
    case RT_SPACE_LOG_UNIFORM:
        x = exp(log(p->low) + u * (log(p->high) - log(p->low)));
        return number_text(x < p->low ? p->low : x > p->high ? p->high : x, p->low, p->high);
    }
    return NULL;
}

/* Trial t of the grid: its index into each list, the last key fastest. */
static char *grid_value(const rt_sweep_spec *s, int t, int p) {
    long stride = 1;
    for (int q = s->n_params - 1; q > p; q--) stride *= s->params[q].n_values;
    return strdup(s->params[p].values[(t / stride) % s->params[p].n_values]);
}

rt_status rt_sweep_sample(const rt_sweep_spec *s, rt_sweep_trials *out) {
    memset(out, 0, sizeof *out);
    size_t n = (size_t)s->n_trials * (size_t)s->n_params;
    if (!(out->values = calloc(n ? n : 1, sizeof *out->values)))
        return rt_error(RT_ERR_MEMORY, "out of memory for %d trials", s->n_trials);
    out->n_trials = s->n_trials;
    out->n_params = s->n_params;
    for (int t = 0; t < s->n_trials; t++)
        for (int p = 0; p < s->n_params; p++) {
            char *v = s->method == RT_SWEEP_GRID
                          ? grid_value(s, t, p)
                          : draw_value(&s->params[p], rt_sweep_draw(s->seed, t, p));
            if (!v) {
                rt_sweep_trials_free(out);
                return rt_error(RT_ERR_MEMORY, "out of memory for %d trials", s->n_trials);
            }
            out->values[(size_t)t * s->n_params + p] = v;
        }
    return RT_OK;
}

const char *rt_sweep_trial_value(const rt_sweep_trials *t, int trial, int p) {
    return t->values[(size_t)trial * t->n_params + p];
}

void rt_sweep_trials_free(rt_sweep_trials *t) {
    if (!t) return;
    if (t->values)
        for (size_t i = 0; i < (size_t)t->n_trials * t->n_params; i++) free(t->values[i]);
    free(t->values);
    memset(t, 0, sizeof *t);
}
