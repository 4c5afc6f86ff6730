/* Shared by io/spm*.c (not part of spm.h): the tokenizer's layout, the precompiled charsmap and
   normalizer (spm_norm.c), the piece trie (spm_trie.c), the tokenizer.json check (spm_hf.c). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "spm.h"
#include "status.h"

typedef struct {
    uint32_t *units; /* Darts-clone double array (n_units), NULL: no charsmap (identity) */
    size_t n_units;
    const char *strs; /* replacement strings, NUL-terminated, at the values' offsets */
    size_t n_strs;
    char *blob;              /* owned copy of the charsmap (strs points into it) */
    uint8_t first_byte[256]; /* 1 when some key starts with this byte */
    /* ASCII fast path: pass1[b] when no key is "b"; pass2[b][c] when, also, no key starts with
       "bc" (so b followed by c is not replaced) */
    uint8_t pass1[128], pass2[128][128];
    int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    const char *source; /* model file name for messages */
} rt_spm_norm;

/* Takes a copy of the charsmap blob (len 0: identity normalization); RT_ERR_FORMAT naming source
   when its trie size is out of range. */
rt_status rt_spm_norm_init(rt_spm_norm *nm, const void *blob, size_t len, const char *source);
void rt_spm_norm_free(rt_spm_norm *nm);

/* A growable byte buffer. */
typedef struct {
    char *p;
    size_t n, cap;
} rt_spm_buf;
rt_status rt_spm_buf_reserve(rt_spm_buf *b, size_t extra);

/* Appends the normalized form of text[0..len) to b (sentencepiece's Normalizer::Normalize). */
rt_status rt_spm_norm_run(const rt_spm_norm *nm, const char *text, size_t len, rt_spm_buf *b);

enum {
    SPM_NORMAL = 1,
    SPM_UNKNOWN = 2,
    SPM_CONTROL = 3,
    SPM_USER = 4,
    SPM_UNUSED = 5,
    SPM_BYTE = 6
};

/* a double-array trie slot (spm_trie.c) */
typedef struct {
    int32_t base;   /* children at base + byte; 0: no children */
    uint32_t check; /* parent slot + 1, 0 when free */
    int32_t pid;    /* piece ending here that Viterbi may choose, -1 when none */
    float score;    /* its score; +inf marks a user-defined piece (scored by its length) */
} da_unit;

/* the tokenizer (spm.h) */
struct rt_spm {
    int n_pieces, n_extra;
    int unk_id, eos_id, pad_id;
    float min_score, max_score, unk_score;
    float *score;
    uint8_t *type;
    uint32_t *off; /* (n_pieces + n_extra + 1) offsets of the NUL-terminated pieces in text */
    char *text;
    char *unk_surface;
    da_unit *da; /* slot 0: the root */
    size_t n_da;
    rt_spm_norm norm;
    char *source;
};

/* Builds t->da from the pieces (t->type, t->text, t->off, t->score); total_bytes: their bytes
   with NULs. RT_ERR_FORMAT naming t->source for a duplicate piece. */
rt_status rt_spm_build_trie(rt_spm *t, size_t total_bytes);
/* Checks tokenizer.json at path against t (see rt_spm_load); *n_extra gets its sentinel count. */
rt_status rt_spm_check_hf_json(rt_spm *t, const char *path, int *n_extra);
/* N when s[0..n) is "<extra_id_N>" (N decimal without leading zeros), else -1. */
int rt_spm_sentinel_number(const char *s, size_t n);
