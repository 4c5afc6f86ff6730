/* GPT-2 byte-level BPE tokenizer reading the standard vocab.json + merges.txt, producing exactly
   the ids of Hugging Face's GPT2TokenizerFast. Encode and decode; <|endoftext|> as a special token
   on request. A tokenizer is read-only after creation and may be shared by threads (each thread
   passes its own rt_bpe_scratch). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "status.h"

typedef struct rt_bpe rt_bpe;
typedef struct rt_bpe_scratch rt_bpe_scratch; /* per-thread working memory and chunk cache */

/* Loads dir/vocab.json and dir/merges.txt. Errors name the file, line and what was expected.
   The tokenizer's identity is the sha256 of vocab.json's bytes followed by merges.txt's bytes. */
rt_status rt_bpe_load(rt_bpe **out, const char *vocab_json, const char *merges_txt);
void rt_bpe_destroy(rt_bpe **t);
int rt_bpe_vocab_size(const rt_bpe *t);   /* 50257 for GPT-2 */
int rt_bpe_eos_id(const rt_bpe *t);       /* id of <|endoftext|>, -1 when absent */
const char *rt_bpe_sha256(const rt_bpe *t); /* 64 hex digits */

rt_status rt_bpe_scratch_create(rt_bpe_scratch **out);
void rt_bpe_scratch_destroy(rt_bpe_scratch **s);

typedef struct {
    int allow_special;     /* "<|endoftext|>" in the text becomes the eos id (else plain text) */
    int replace_invalid;   /* invalid UTF-8 -> U+FFFD (counted) instead of an error */
    const char *source;    /* file name for error messages (may be NULL) */
    long line;             /* line of text[0] in that file, for error messages (1-based; 0: unknown) */
} rt_bpe_encode_opts;

/* Appends the ids of text[0..len) to *ids (a growable array: *ids may be NULL, *n ids used, *cap
   allocated; the caller frees *ids). Invalid UTF-8 is RT_ERR_FORMAT naming source, line and byte
   offset unless opts->replace_invalid, which counts replacements in *n_replaced (may be NULL). */
rt_status rt_bpe_encode(const rt_bpe *t, rt_bpe_scratch *s, const char *text, size_t len,
                        const rt_bpe_encode_opts *opts, int32_t **ids, size_t *n, size_t *cap,
                        size_t *n_replaced);
/* Appends the UTF-8 bytes of ids to *out (growable as above). Unknown ids are RT_ERR_ARG. */
rt_status rt_bpe_decode(const rt_bpe *t, const int32_t *ids, size_t n, char **out, size_t *len,
                        size_t *cap);
