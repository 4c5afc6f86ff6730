/* Sequence-to-sequence text metrics, each equal to its reference implementation:
   - corpus BLEU as sacrebleu 2.x's corpus_bleu(hyps, refs) with its defaults (tokenizer "13a",
     4-grams, smooth_method "exp", case-sensitive, brevity penalty, effective_order off);
   - chrF as sacrebleu's corpus_chrf (char_order 6, word_order 0, beta 2, whitespace removed,
     eps_smoothing off), chrF++ (word_order 2) and the other options as rt_chrf_options;
   - ROUGE-L as rouge-score's RougeScorer(["rougeL"], use_stemmer=False): per pair, and the mean;
   - exact match: equal after stripping leading and trailing whitespace.
   Scores are on the reference implementations' scales: BLEU and chrF in percent (0..100), ROUGE-L
   and exact match as fractions (0..1).

   Inputs are NUL-terminated UTF-8 strings (caller-owned, only read). Ill-formed UTF-8 is no error:
   each maximal ill-formed subpart reads as one U+FFFD, exactly as Python's
   bytes.decode("utf-8", "replace") reads it, so a score is the reference implementation's on that
   decoded text. "Whitespace" is Python's str.isspace() set (ASCII \t \n \v \f \r, \x1c..\x1f,
   space, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000), as the
   references' str.split() and str.strip() use. A NULL hypothesis, or a NULL array with n > 0, is
   RT_ERR_ARG; n == 0 is valid (every figure as the formulas give for zero counts, see each call).
   One string may be at most RT_TEXT_MAX_BYTES long (RT_ERR_ARG).

   Nothing here is collective (no MPI). BLEU's and chrF's corpus figures come from integer counts
   summed over segments (the *_stats structs): ranks can score their shards, sum the stats (an
   all-reduce of int64s) and call rt_bleu_from_stats / rt_chrf_from_stats once, which gives exactly
   the figures of the whole corpus. Every call allocates its scratch memory and frees it before
   returning (RT_ERR_MEMORY when that fails); results go to caller-owned structs and arrays. No
   global state: calls may run concurrently (rt_error's message aside). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "status.h"

/* the longest string any call accepts, in bytes */
#define RT_TEXT_MAX_BYTES ((size_t)1 << 28)

/* ---- BLEU ---- */

#define RT_BLEU_ORDER 4

/* BLEU's sufficient statistics, summed over segments (sacrebleu's per-segment stats list). */
typedef struct {
    int64_t sys_len;               /* hypothesis tokens */
    int64_t ref_len;               /* closest reference's tokens (the shorter one on a tie) */
    int64_t counts[RT_BLEU_ORDER]; /* clipped matching n-grams, n = 1..4 */
    int64_t totals[RT_BLEU_ORDER]; /* hypothesis n-grams */
} rt_bleu_stats;

/* sacrebleu's BLEUScore */
typedef struct {
    double score;                     /* 0..100 */
    double precisions[RT_BLEU_ORDER]; /* percent; all 0 when no n-gram matches at all */
    double bp;                        /* brevity penalty; 1 when sys_len >= ref_len */
    double ratio;                     /* sys_len / ref_len; 0 when ref_len is 0 */
    rt_bleu_stats stats;
} rt_bleu_result;

/* Corpus BLEU of n hypotheses against one reference each (refs[i] for hyps[i]; a NULL refs[i] is
   RT_ERR_ARG here). n == 0 gives score 0, bp 1 (sacrebleu's formulas on zero counts).
   Tokens are sacrebleu's 13a ones: trailing whitespace stripped; "<skipped>" removed, "-\n"
   removed, other newlines made spaces; &quot; &amp; &lt; &gt; unescaped, one str.replace pass
   each in that order (so "&amp;lt;" becomes "<"); then, on " text ", every ASCII punctuation
   character but ' - . , split off, "." and "," split off unless between two digits, "-" split
   off after a digit; then the whitespace-separated pieces. */
rt_status rt_bleu_corpus(const char *const *hyps, const char *const *refs, int n,
                         rt_bleu_result *out);
/* The same with num_refs >= 1 reference streams: refs[k][i] is stream k's reference for hyps[i].
   As in sacrebleu, a NULL refs[k][i] is a missing reference (variable reference counts); each
   segment needs at least one (RT_ERR_ARG otherwise). N-gram counts clip to the maximum over the
   segment's references; ref_len is the reference length closest to the hypothesis length. */
rt_status rt_bleu_corpus_multi(const char *const *hyps, const char *const *const *refs,
                               int num_refs, int n, rt_bleu_result *out);
/* sacrebleu's BLEU.compute_bleu with the defaults (exp smoothing, all 4 orders) from summed
   statistics (copied into out->stats). Negative counts, or counts above totals, are RT_ERR_ARG. */
rt_status rt_bleu_from_stats(const rt_bleu_stats *stats, rt_bleu_result *out);

/* ---- chrF / chrF++ ---- */

#define RT_CHRF_MAX_ORDER 16 /* char_order + word_order */

typedef struct {
    int char_order;    /* character n-gram orders 1..char_order (>= 0) */
    int word_order;    /* word n-gram orders 1..word_order (>= 0); 2 is chrF++ */
    int beta;          /* recall weight (0..1000) */
    int whitespace;    /* nonzero: keep whitespace in character n-grams */
    int eps_smoothing; /* nonzero: chrF++.py's eps smoothing instead of effective order */
} rt_chrf_options;

/* corpus_chrf's defaults (chrF2) and chrF++ (word_order 2) */
#define RT_CHRF_DEFAULTS ((rt_chrf_options){6, 0, 2, 0, 0})
#define RT_CHRF_PLUSPLUS ((rt_chrf_options){6, 2, 2, 0, 0})

/* chrF's sufficient statistics: for each order (characters 1..char_order, then words
   1..word_order) the hypothesis n-grams (counted only where the reference has n-grams of that
   order, as sacrebleu does), reference n-grams and matches, summed over segments. */
typedef struct {
    int64_t hyp[RT_CHRF_MAX_ORDER], ref[RT_CHRF_MAX_ORDER], match[RT_CHRF_MAX_ORDER];
} rt_chrf_stats;

typedef struct {
    double score; /* 0..100 */
    rt_chrf_stats stats;
} rt_chrf_result;

/* Corpus chrF of n hypotheses against one reference each; opt NULL means RT_CHRF_DEFAULTS.
   Characters are code points. Words (chrF++) are whitespace-split tokens with one leading or
   trailing ASCII punctuation character split off (sacrebleu's _remove_punctuation). Bad options
   (orders outside 0..16 or summing to 0 or above 16, beta outside 0..1000) are RT_ERR_ARG. n == 0
   gives 0. */
rt_status rt_chrf_corpus(const char *const *hyps, const char *const *refs, int n,
                         const rt_chrf_options *opt, rt_chrf_result *out);
/* With num_refs reference streams (refs[k][i], NULL = missing, at least one per segment): each
   segment contributes the statistics of its reference with the best segment-level chrF (the
   first on a tie), as sacrebleu does. */
rt_status rt_chrf_corpus_multi(const char *const *hyps, const char *const *const *refs,
                               int num_refs, int n, const rt_chrf_options *opt,
                               rt_chrf_result *out);
/* sacrebleu's CHRF._compute_f_score of summed statistics (orders as opt says) into *score. */
rt_status rt_chrf_from_stats(const rt_chrf_stats *stats, const rt_chrf_options *opt, double *score);

/* ---- ROUGE-L ---- */

typedef struct {
    double precision, recall, fmeasure; /* 0..1 */
} rt_rouge_score;

/* ROUGE-L of one pair: rouge-score's tokens (lowercased, runs of ASCII [a-z0-9]; "K" U+212A and
   "İ" U+0130 lowercase into ASCII as Python's str.lower() does), LCS length l over those tokens,
   precision l / hypothesis tokens, recall l / reference tokens, F = 2PR / (P + R); all 0 when
   either side has no tokens. O(len_h * len_r) time, O(min(len_h, len_r)) memory. */
rt_status rt_rouge_l_pair(const char *hyp, const char *ref, rt_rouge_score *out);
/* ROUGE-L of n pairs: per_pair[i] (caller's array of n, or NULL) and *mean, the arithmetic mean
   of each figure over the pairs (all 0 when n == 0). */
rt_status rt_rouge_l(const char *const *hyps, const char *const *refs, int n,
                     rt_rouge_score *per_pair, rt_rouge_score *mean);

/* ---- exact match ---- */

/* The pairs whose strings are equal after stripping leading and trailing whitespace (Python's
   str.strip(); compared after the U+FFFD reading of ill-formed UTF-8): *matches (may be NULL) and
   *fraction = matches / n (0 when n == 0). */
rt_status rt_exact_match(const char *const *hyps, const char *const *refs, int n, int64_t *matches,
                         double *fraction);
