/* The sgemm peak that MFU divides by, measured the way training runs: every rank at once (after a
   barrier), each on its own cores with its training thread count, in several timed trials of a
   fixed duration; the denominator is the best rate seen. And the MFU of a step against it, which
   never exceeds 100%: a step faster than the peak proves the measurement low, and raises it. */
#pragma once
#include <stdio.h>
#include "mpictx.h"
#include "status.h"

typedef struct {
    double gflops;   /* the denominator, per rank: the best trial of the fastest rank (raised by
                        rt_peak_mfu when a step ran faster) */
    double measured; /* gflops as measured, before any raise */
    double slowest;  /* the best trial of the slowest rank */
    double trial_s;  /* each trial ran at least this long */
    int trials, ranks, threads, n; /* trials per rank, ranks, BLIS threads per rank, n x n x n */
    long raised_at;                /* the last step that raised gflops, 0 when none did */
} rt_peak;

/* Measures the peak: one untimed n x n x n sgemm on every rank, then `trials` rounds of
   MPI_Barrier + as many products as fit in trial_s seconds; each rank keeps its best round, and
   every rank receives the maximum (gflops, measured) and the minimum (slowest) over ranks.
   Collective over ctx->comm; the same status and *p on every rank. */
rt_status rt_peak_measure(rt_mpi_ctx *ctx, int n, int trials, double trial_s, rt_peak *p);

/* One line saying what the peak is, to out (NULL: nothing). Local. */
void rt_peak_describe(const rt_peak *p, FILE *out);

/* The model FLOPs utilisation of a step that did `flops` FLOPs in `seconds` on this rank: the
   rate over p->gflops, at most 1. A rate above the peak raises p->gflops to it (and sets
   raised_at = step) with a one-line notice to out (NULL: silent). 0 when the peak is unknown
   (gflops <= 0) or seconds <= 0. Local; pure but for the notice. */
double rt_peak_mfu(rt_peak *p, double flops, double seconds, long step, FILE *out);

/* The seconds left when `done` of `total` units took elapsed_s (a constant rate), or -1 when
   nothing is done yet. Local and pure. */
double rt_eta_s(double done, double total, double elapsed_s);
