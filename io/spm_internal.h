/* Shared by io/spm.c and io/spm_norm.c (not part of spm.h): the precompiled charsmap and the
   normalizer of a SentencePiece model. */
#pragma once
#include <stddef.h>
#include <stdint.h>
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
