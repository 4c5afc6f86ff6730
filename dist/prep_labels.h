/* `ringtune prep --label-field`: the pieces of a kind "labeled" corpus (io/CORPUS.md) that do not
   depend on MPI: reading and checking one example's label, the set of distinct string labels and
   their ids, and the stratified train/validation split. Used by dist/prep.c (which runs them on
   the ranks and gathers the labels to rank 0); no MPI calls, nothing collective. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "prep.h"
#include "status.h"

#define RT_PREP_LABELS_MAX 65536 /* distinct string labels without --labels */

/* One example's label as written in the input. */
typedef struct {
    int is_string; /* 1: s[0..n) (no NUL byte); 0: the integer id */
    const char *s; /* borrowed from the JSON object */
    size_t n;
    int64_t id;
} rt_prep_label;

/* Reads the field o->label_field of the JSON object root into *lab. Returns RT_OK with *why
   empty when the label is usable, RT_OK with *why set (no file:line prefix) when the example has
   a bad label that --skip-bad-labels may skip: the field missing, a string not in --labels or
   given with --num-labels only, a string holding a NUL byte, an integer outside [0, K), a number
   that is not an integer, a value that is neither a string nor a number. An integer label
   without --num-labels or --labels is a usage error: RT_ERR_ARG with *why set, never skipped. */
rt_status rt_prep_label_get(const rt_prep_opts *o, const json_t *root, rt_prep_label *lab,
                            char *why, size_t why_n);

/* The distinct string labels, in order of first appearance, each with an index. */
typedef struct {
    char **names;   /* owned */
    size_t *len;    /* byte lengths */
    size_t n;       /* distinct labels so far */
    int32_t *slots; /* open addressing: index + 1, 0 = empty */
    size_t n_slots, cap;
} rt_prep_labelset;

/* Index (0-based, first-appearance order) of s[0..n) in set, added when new. *idx = -1 when the
   set already holds RT_PREP_LABELS_MAX labels (the caller reports it). RT_ERR_MEMORY otherwise. */
rt_status rt_prep_labelset_add(rt_prep_labelset *set, const char *s, size_t n, int32_t *idx);
/* Index of s[0..n) or -1. */
int32_t rt_prep_labelset_find(const rt_prep_labelset *set, const char *s, size_t n);
/* map[i] = the rank of label i in byte order of the names (memcmp, shorter first on a tie), i.e.
   the ids LabelEncoder gives; sorted[r] = the name of rank r (borrowed from set). */
rt_status rt_prep_labelset_sort(const rt_prep_labelset *set, int32_t *map, const char **sorted);
void rt_prep_labelset_free(rt_prep_labelset *set);

/* Rank 0's view of the label pass: every example's label in input order, then the ids and the
   split. */
typedef struct {
    int lab_kind;     /* -1 no label seen yet, 0 integer ids, 1 strings */
    char *first_file; /* where the first label was (owned) */
    int64_t first_line;
    int32_t *doc_label;      /* per example: its string's set index, then (finish) its id */
    uint8_t *is_val;         /* per example (finish): 1 = validation */
    uint64_t n, cap;         /* examples */
    rt_prep_labelset set;    /* distinct string labels */
    int num_labels;          /* K (finish) */
    const char **names;      /* K names in id order (finish); borrowed from opts, set or ids */
    char *id_names;          /* "0", "1", ... (integer ids without --labels) */
    const char *label_order; /* "given", "sorted" or "ids" (finish) */
    uint64_t *counts;        /* [2 * id + split] (finish) */
} rt_prep_labeling;

/* Adds the label of the next example, found at file:line, from its label-pass payload p[0..n)
   ('s' + the string's bytes, or 'i' + the int64 id in host order). RT_ERR_FORMAT naming file:line
   when it mixes strings and integer ids or passes RT_PREP_LABELS_MAX distinct strings. */
rt_status rt_prep_labeling_add(rt_prep_labeling *L, const char *file, int64_t line,
                               const unsigned char *p, size_t n);
/* After the last example: the ids (o->label_names' order; else sorted strings; else the integer
   ids themselves with o->num_labels or o->label_names naming them) and the stratified split with
   o->split_seed and o->val_ratio. RT_ERR_ARG when there are no examples and no classes. */
rt_status rt_prep_labeling_finish(rt_prep_labeling *L, const rt_prep_opts *o);
void rt_prep_labeling_free(rt_prep_labeling *L);

/* The stratified split: for each class c with n_c examples, the floor(ratio * n_c + 0.5) of them
   with the lowest rt_prep_split_hash(seed, document index) go to validation (is_val[d] = 1), the
   others to train. Document d has index d and label labels[d] in [0, k). counts[2 * c + s] gets
   the class counts per split (s = 0 train, 1 validation); counts may be NULL. Independent of how
   the documents were gathered, so of the rank count. */
rt_status rt_prep_stratify(uint64_t seed, double ratio, const int32_t *labels, uint64_t n, int k,
                           uint8_t *is_val, uint64_t *counts);
