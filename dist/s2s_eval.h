/* What a sequence-to-sequence model generates for pairs, scored against their targets: corpus
   BLEU and chrF (sacrebleu's defaults), ROUGE-L F (rouge-score's, the mean over pairs), exact
   match and, when the targets are a few label words (text-to-text classification), accuracy and
   macro F1 over those labels. Hypotheses and references are both decoded from ids by the same
   tokenizer (skipping </s> and <pad>), as transformers' examples decode predictions and labels.
   Scores come from additive tallies (sufficient statistics), so a caller that shards the pairs
   over ranks sums the tallies (doubles: exact for counts below 2^53) and scores once. Not
   collective. */
#pragma once
#include <stdint.h>
#include "model.h"
#include "pairs.h"

struct rt_spm;

#define RT_S2S_MAX_LABELS 32 /* more distinct targets: not a classification set */

/* The label words of pairs [0, n) of ps: their distinct decoded targets, sorted, when there are
   2..RT_S2S_MAX_LABELS of them and at most n / 2 (labels repeat; else K = 0). Every rank computes
   the same set. Owned by the struct (rt_s2s_labels_free). */
typedef struct {
    int K;
    char **label;
} rt_s2s_labels;
rt_status rt_s2s_labels_find(const rt_pair_source *ps, uint64_t n, const struct rt_spm *tok,
                             rt_s2s_labels *out);
void rt_s2s_labels_free(rt_s2s_labels *l);

/* The tally's length in doubles for K labels (a (K+1) x (K+1) confusion matrix when K > 0, the
   extra class being "none of the labels"). */
size_t rt_s2s_tally_len(int K);

/* Decodes pairs [lo, hi) of ps in batches of up to B rows (rt_model_generate with o) and adds
   their statistics to tally (rt_s2s_tally_len(L->K) doubles, zeroed by the caller). b holds B
   rows of ps's longest source and target. */
rt_status rt_s2s_tally_range(rt_model *m, const rt_pair_source *ps, uint64_t lo, uint64_t hi, int B,
                             const rt_gen_opts *o, const struct rt_spm *tok, const rt_s2s_labels *L,
                             rt_pair_batch *b, double *tally);

typedef struct {
    double n;           /* pairs scored */
    double bleu, chrf;  /* 0..100 */
    double rouge_l;     /* mean F, 0..1 */
    double exact_match; /* fraction */
    int K;              /* > 0: accuracy and f1_macro over K labels are set */
    double accuracy, f1_macro;
} rt_s2s_scores;
rt_status rt_s2s_scores_from(const double *tally, int K, rt_s2s_scores *out);
