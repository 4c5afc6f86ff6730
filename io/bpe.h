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

/* Loads vocab.json (token -> id; all 256 byte tokens required) and merges.txt (an optional
   "#version" line, then "A B" per line in rank order; A, B and AB must be in vocab.json).
   RT_ERR_IO when a file cannot be read, RT_ERR_FORMAT with file (and line) and what was expected
   when one is malformed. The tokenizer's identity is the sha256 of vocab.json's bytes followed by
   merges.txt's bytes. Not collective. The caller owns *out (rt_bpe_destroy). */
rt_status rt_bpe_load(rt_bpe **out, const char *vocab_json, const char *merges_txt);
void rt_bpe_destroy(rt_bpe **t);
int rt_bpe_vocab_size(const rt_bpe *t);     /* largest id + 1: 50257 for GPT-2 */
int rt_bpe_eos_id(const rt_bpe *t);         /* id of <|endoftext|>, -1 when absent */
const char *rt_bpe_sha256(const rt_bpe *t); /* 64 hex digits */
/* The same identity computed from the files alone (no parsing): out gets 64 hex digits and a NUL.
   RT_ERR_IO naming the file when one cannot be read. Not collective. */
rt_status rt_bpe_files_sha256(const char *vocab_json, const char *merges_txt, char out[65]);

/* A scratch is not tied to one tokenizer (its cache is emptied when it meets another), but it
   serves one thread at a time. Its match data and ~3 MB chunk cache are allocated on first use. */
rt_status rt_bpe_scratch_create(rt_bpe_scratch **out);
void rt_bpe_scratch_destroy(rt_bpe_scratch **s);

typedef struct {
    int allow_special;   /* "<|endoftext|>" in the text becomes the eos id (else plain text) */
    int replace_invalid; /* invalid UTF-8 -> U+FFFD (counted) instead of an error */
    const char *source;  /* file name for error messages (NULL: "text") */
    long line;           /* line of text[0] in source (1-based; 0: unknown) */
} rt_bpe_encode_opts;

/* Appends the ids of text[0..len) to *ids (a growable array: *ids may be NULL, *n ids used, *cap
   allocated; the caller frees *ids). opts may be NULL (all zero). Invalid UTF-8 is RT_ERR_FORMAT
   "source:line: invalid UTF-8 at byte offset N (byte 0xXX)" (line = opts->line plus the newlines
   before the bad byte, omitted when opts->line is 0; N counts from text[0]) and nothing is
   appended; with opts->replace_invalid each maximal ill-formed subpart becomes one U+FFFD (as
   Python's bytes.decode(errors='replace')) and *n_replaced (may be NULL) gets their number.
   On any error *n is unchanged. Thread-safe for concurrent calls with distinct scratches. */
rt_status rt_bpe_encode(const rt_bpe *t, rt_bpe_scratch *s, const char *text, size_t len,
                        const rt_bpe_encode_opts *opts, int32_t **ids, size_t *n, size_t *cap,
                        size_t *n_replaced);
/* Appends the bytes of ids to *out (growable as above; not NUL-terminated): each token's chars
   mapped back through the byte map (the eos id gives "<|endoftext|>"). A cut through a multi-byte
   character gives its raw partial bytes. Unknown ids are RT_ERR_ARG and append nothing. */
rt_status rt_bpe_decode(const rt_bpe *t, const int32_t *ids, size_t n, char **out, size_t *len,
                        size_t *cap);
