/* Classification metrics (accuracy; precision, recall, F1 per class and macro, micro, weighted
   averages; support) with scikit-learn's semantics, all derived from a confusion matrix so that
   ranks can count locally, sum their int64 counts (an all-reduce) and compute the figures once.
   No MPI here: every function is local (not collective). */
#pragma once
#include <stdint.h>
#include "status.h"

/* Counts of (true label, predicted label) pairs, like sklearn.metrics.confusion_matrix with
   labels = 0..K-1: counts[t * K + p] examples of true class t were predicted as p. */
typedef struct {
    int num_labels;  /* K >= 1 */
    int64_t *counts; /* (K, K) row = true, column = predicted; owned (rt_confusion_free) */
} rt_confusion;

/* Allocates a zeroed K x K matrix into c (caller-owned struct); RT_ERR_ARG for K < 1 or too big,
   RT_ERR_MEMORY. On failure c is left empty (counts NULL), so rt_confusion_free is safe. */
rt_status rt_confusion_init(rt_confusion *c, int num_labels);
/* Frees c->counts and sets it to NULL; safe on an empty or already freed matrix. */
void rt_confusion_free(rt_confusion *c);
/* Sets every count to zero. */
void rt_confusion_reset(rt_confusion *c);
/* Counts n pairs (pred[i], truth[i]) (caller's arrays, only read). A label outside [0, K) is
   RT_ERR_ARG naming the index, the array and the value; nothing is counted then. */
rt_status rt_confusion_add(rt_confusion *c, const int32_t *pred, const int32_t *truth, int64_t n);
/* dst += src (the same sum an all-reduce of the counts computes); RT_ERR_ARG if K differs. */
rt_status rt_confusion_merge(rt_confusion *dst, const rt_confusion *src);
/* The number of pairs counted: the sum of all counts. */
int64_t rt_confusion_total(const rt_confusion *c);

/* rt_prf.undefined bits: the figure's denominator was 0 (sklearn's zero_division="warn": the
   value is 0 and sklearn emits UndefinedMetricWarning; a caller should warn likewise). */
enum { RT_UNDEF_PRECISION = 1, RT_UNDEF_RECALL = 2, RT_UNDEF_F1 = 4 };

typedef struct {
    double precision, recall, f1;
    unsigned undefined; /* RT_UNDEF_* bits */
} rt_prf;

/* Every figure of one confusion matrix. Averages follow sklearn's precision_recall_fscore_support
   with labels = 0..K-1: macro = unweighted mean over all K classes (undefined ones count as 0),
   weighted = mean weighted by support, micro = from the summed counts (equal to accuracy). An
   average's undefined bit is set when sklearn would warn for it: any class undefined for that
   figure, or (micro, weighted) the total itself being 0. */
typedef struct {
    int num_labels;     /* K */
    int64_t n;          /* examples counted */
    double accuracy;    /* trace / n; 0 when n == 0 */
    int accuracy_undef; /* n == 0 */
    rt_prf *per_class;  /* (K) owned */
    int64_t *support;   /* (K) true examples of each class; owned */
    rt_prf macro, micro, weighted;
} rt_metrics;

/* Allocates the per-class arrays for K labels into m (caller-owned struct); RT_ERR_ARG,
   RT_ERR_MEMORY. On failure m is left empty, so rt_metrics_free is safe. */
rt_status rt_metrics_init(rt_metrics *m, int num_labels);
/* Frees the arrays and sets the pointers to NULL; safe on an empty or already freed struct. */
void rt_metrics_free(rt_metrics *m);
/* Fills m (initialized for the same K) from c; RT_ERR_ARG if K differs. n == 0 is valid: every
   figure 0 and undefined. */
rt_status rt_metrics_from_confusion(rt_metrics *m, const rt_confusion *c);
/* Copies every figure of src into dst (initialized for the same K); RT_ERR_ARG if K differs. */
rt_status rt_metrics_copy(rt_metrics *dst, const rt_metrics *src);
/* One-shot form: the figures of n (pred, truth) pairs into m (initialized for K). Errors as
   rt_confusion_add; RT_ERR_MEMORY. */
rt_status rt_metrics_compute(rt_metrics *m, const int32_t *pred, const int32_t *truth, int64_t n);

/* ---- metric names, for early stopping and logs ---- */

typedef enum { RT_METRIC_LOWER_IS_BETTER = -1, RT_METRIC_HIGHER_IS_BETTER = 1 } rt_metric_dir;

typedef enum {
    RT_METRIC_LOSS, /* the trainer's mean cross-entropy; not computed here */
    RT_METRIC_ACCURACY,
    RT_METRIC_F1_MACRO,
    RT_METRIC_F1_MICRO,
    RT_METRIC_F1_WEIGHTED,
    RT_METRIC_PRECISION_MACRO,
    RT_METRIC_PRECISION_MICRO,
    RT_METRIC_PRECISION_WEIGHTED,
    RT_METRIC_RECALL_MACRO,
    RT_METRIC_RECALL_MICRO,
    RT_METRIC_RECALL_WEIGHTED,
    /* class 1's figures (sklearn's average="binary", pos_label=1); K == 2 only */
    RT_METRIC_PRECISION_BINARY,
    RT_METRIC_RECALL_BINARY,
    RT_METRIC_F1_BINARY,
    RT_METRIC_COUNT
} rt_metric_id;

/* Looks a metric up by its name ("loss", "accuracy", "f1_macro", ...: rt_metric_name's). Sets
   *id and *dir (either may be NULL). An unknown name is RT_ERR_ARG with a message that lists
   every valid name. */
rt_status rt_metric_by_name(const char *name, rt_metric_id *id, rt_metric_dir *dir);
/* The name of id (a static string), or NULL for an id out of range. */
const char *rt_metric_name(rt_metric_id id);
/* Whether a larger value of id is better (RT_METRIC_HIGHER_IS_BETTER) or a smaller one. */
rt_metric_dir rt_metric_direction(rt_metric_id id);
/* The value of id in m, and (undef may be NULL) whether it was undefined. RT_ERR_ARG for
   RT_METRIC_LOSS (the trainer has it), for a *_binary metric unless K == 2, and for a bad id. */
rt_status rt_metrics_value(const rt_metrics *m, rt_metric_id id, double *value, int *undef);
