/* `ringtune prep --source-field F --target-field G`: the pieces of a kind "pairs" corpus
   (io/CORPUS.md) that do not depend on MPI: checking the options, reading one line's source and
   target texts, and tokenizing a pair as transformers' SentencePiece tokenizers do (</s> appended
   to both sides, each side cut to its limit keeping the </s>). Used by dist/prep.c, which runs them
   on the ranks and gathers the ids to rank 0; no MPI calls, nothing collective. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "prep.h"
#include "spm.h"
#include "status.h"

/* 1 when o asks for a pairs corpus (source_field or target_field set). Not collective. */
int rt_prep_is_pairs(const rt_prep_opts *o);

/* The pair options: source_field and target_field both set (non-empty) or neither; jsonl input;
   not with label_field nor a preloaded BPE tokenizer; max lengths >= 0; source_prefix valid
   UTF-8; and without the fields, no prefix or max length. RT_ERR_ARG saying which. Not
   collective (dist/prep.c agrees the status over the ranks). */
rt_status rt_prep_pair_opts_check(const rt_prep_opts *o);

/* One line's texts, borrowed from its JSON object (valid while the object lives). */
typedef struct {
    const char *src, *tgt;
    size_t n_src, n_tgt;
} rt_prep_pair_text;

/* Reads the fields o->source_field and o->target_field of the JSON object root into *pt. RT_OK
   with *why empty when both are strings; RT_OK with *why set (naming the field, without a
   file:line prefix) when one is missing or not a string: the caller reports it or, with
   --skip-bad-json, skips the line. Not collective; pt borrows from root. */
rt_status rt_prep_pair_fields(const rt_prep_opts *o, const json_t *root, rt_prep_pair_text *pt,
                              char *why, size_t why_n);

/* Cuts ids[0..n) (the last id being eos) to at most max ids keeping eos last: the first max - 1
   ids and eos, as transformers truncates such inputs ("longest_first" on one sequence, then </s>
   added); max 0 is no limit. Returns the new length; *cut 1 when it is shorter than n. In place,
   not collective. */
size_t rt_prep_truncate_eos(int32_t *ids, size_t n, int max, int eos, int *cut);

/* Working memory of rt_prep_pair_encode (growable; free with rt_prep_pair_buf_free). */
typedef struct {
    int32_t *ids; /* the source's ids, then the target's */
    size_t n, cap;
    char *text; /* source_prefix + the source text */
    size_t text_cap;
} rt_prep_pair_buf;

/* What tokenizing one pair gave. */
typedef struct {
    size_t n_src, n_tgt;  /* ids of each side in b->ids (source first), </s> included */
    int cut_src, cut_tgt; /* the side was truncated */
    int empty_target;     /* the target gave no token besides </s>: the pair is refused */
} rt_prep_pair_ids;

/* Tokenizes o->source_prefix + pt->src and pt->tgt with spm (</s> appended to each; added tokens
   such as <extra_id_0> recognised in the text only with o->allow_special, as transformers' fast
   tokenizer does), cut to o->max_source_len and o->max_target_len, into b->ids. RT_ERR_MEMORY only.
   Not collective; thread-safe for distinct b, which the caller owns (rt_prep_pair_buf_free). */
rt_status rt_prep_pair_encode(const rt_prep_opts *o, const rt_spm *spm, const rt_prep_pair_text *pt,
                              rt_prep_pair_buf *b, rt_prep_pair_ids *r);
void rt_prep_pair_buf_free(rt_prep_pair_buf *b);
