/* The trials of a sweep: every point of a grid, or draws of one seeded sampler over the space of
   a sweep file (dist/sweep_spec.h). A trial's values are a pure function of (seed, trial,
   parameter), so the trials do not depend on how many ranks run them, and trial t of a random
   search is the same whatever the number of trials. Not collective; no MPI. */
#pragma once
#include <stdint.h>
#include "status.h"
#include "sweep_spec.h"

typedef struct {
    int n_trials, n_params;
    char **values; /* (n_trials * n_params) trial t's value of parameter p at t * n_params + p,
                      as an override's YAML text; owned */
} rt_sweep_trials;

/* Enumerates (grid) or draws (random) the trials of s into *out. A grid runs its points in file
   order with the last key varying fastest (as itertools.product); a random search draws each
   key in file order: a list or choice uniformly, uniform on [low, high], log_uniform with a
   uniform logarithm; numbers are written with 6 significant digits (within the range). On
   success the caller owns *out (rt_sweep_trials_free); RT_ERR_MEMORY otherwise. */
rt_status rt_sweep_sample(const rt_sweep_spec *s, rt_sweep_trials *out);

/* Frees the values and zeroes *t; safe on a zeroed struct. */
void rt_sweep_trials_free(rt_sweep_trials *t);

/* The value of parameter p of trial t. */
const char *rt_sweep_trial_value(const rt_sweep_trials *t, int trial, int p);

/* The sampler's draw for (seed, trial, parameter): uniform in [0, 1) with 53 bits. Pure. */
double rt_sweep_draw(uint64_t seed, int trial, int param);
