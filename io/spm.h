/* SentencePiece unigram tokenizer (T5's `spiece.model`), giving exactly the ids of PyPI
   `sentencepiece` on text, and those of Hugging Face's T5TokenizerFast for its added tokens
   (`<extra_id_N>`, `</s>`, `<pad>`, `<unk>` written in the text) on request. Encode and decode.
   A tokenizer is read-only after creation and may be shared by threads.

   Pipeline (as sentencepiece's normalizer.cc and unigram_model.cc): the model's precompiled
   charsmap (nmt_nfkc for T5; io/spm_norm.c) by longest-prefix match, leading/trailing spaces
   removed and runs of spaces collapsed (remove_extra_whitespaces), a space prepended
   (add_dummy_prefix), spaces escaped to U+2581 (escape_whitespaces), then Viterbi over the
   lattice of matching pieces; a character no piece covers scores min normal score - 10 and
   consecutive unknown characters become one <unk>. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "status.h"

typedef struct rt_spm rt_spm;

/* T5's sentinels: without a tokenizer.json, T5Tokenizer's default of 100 <extra_id_N>. */
#define RT_SPM_T5_EXTRA_IDS 100

/* Loads a SentencePiece model file (a serialized ModelProto). tokenizer_json (may be NULL) is a
   Hugging Face tokenizer.json conversion of the same model: it must be of model type "Unigram"
   with the same pieces, scores, unk id and charsmap, and its added tokens <extra_id_N> (id =
   pieces + extras - 1 - N) become the sentinels; without it there are RT_SPM_T5_EXTRA_IDS.
   RT_ERR_IO when a file cannot be read; RT_ERR_FORMAT naming the file, the field and what was
   expected when one is malformed (truncated or unparsable protobuf, an empty vocabulary, a piece
   that is not UTF-8, a charsmap whose trie size is out of range, another model type, ...).
   Not collective. The caller owns *out (rt_spm_destroy). */
rt_status rt_spm_load(rt_spm **out, const char *model_path, const char *tokenizer_json);
/* The same from the model file's bytes; name is used in messages. */
rt_status rt_spm_load_bytes(rt_spm **out, const void *data, size_t len, const char *name,
                            const char *tokenizer_json);
void rt_spm_destroy(rt_spm **t);

int rt_spm_n_pieces(const rt_spm *t);   /* pieces of the model: 32000 for T5 */
int rt_spm_vocab_size(const rt_spm *t); /* pieces + sentinels: 32100 for T5 */
int rt_spm_eos_id(const rt_spm *t);     /* </s> (1 for T5), -1 when the model has none */
int rt_spm_unk_id(const rt_spm *t);
int rt_spm_pad_id(const rt_spm *t); /* -1 when none */
/* The piece of id (NUL-terminated; sentinels give "<extra_id_N>"), NULL when out of range. */
const char *rt_spm_piece(const rt_spm *t, int id);

typedef struct {
    int add_eos;       /* append </s> (what T5 does to every sequence) */
    int allow_special; /* added tokens in the text become their ids (T5TokenizerFast) instead of
                          being encoded as plain text (sentencepiece) */
} rt_spm_encode_opts;

/* Appends the ids of text[0..len) to *ids (growable: *ids may be NULL, *n used, *cap allocated;
   the caller frees *ids). opts may be NULL (all zero). Bytes that are not UTF-8 become U+FFFD, one
   per byte, as sentencepiece does. With allow_special the text is cut at each added token and
   every piece between is encoded on its own (normalized, dummy prefix), as Hugging Face does;
   the added tokens are the sentinels and the model's CONTROL and UNKNOWN pieces of the form
   "<...>" up to 24 bytes (T5: <pad>, </s>, <unk>), matched leftmost. Spaces around a sentinel
   (which tokenizer.json strips, lstrip/rstrip) vanish the same way, being leading or trailing
   spaces of their segment, except Unicode spaces the charsmap does not map to " ".
   On error *n is unchanged. Thread-safe. Working memory (freed before returning) is about 16
   bytes per byte of text, so a caller feeds documents or lines, not a whole corpus at once. */
rt_status rt_spm_encode(const rt_spm *t, const char *text, size_t len,
                        const rt_spm_encode_opts *opts, int32_t **ids, size_t *n, size_t *cap);
/* The normalized text sentencepiece's Viterbi sees (U+2581 for spaces, dummy prefix included):
   appended to *out (growable as above, not NUL-terminated). */
rt_status rt_spm_normalize(const rt_spm *t, const char *text, size_t len, char **out, size_t *olen,
                           size_t *cap);
/* Appends the text of ids to *out (growable, not NUL-terminated), as sentencepiece decodes:
   U+2581 -> space, the first piece's leading U+2581 dropped, control pieces (</s>, <pad>) skipped,
   <unk> as " \u2047 "; sentinels give "<extra_id_N>". An id out of range is RT_ERR_ARG and appends
   nothing. */
rt_status rt_spm_decode(const rt_spm *t, const int32_t *ids, size_t n, char **out, size_t *len,
                        size_t *cap);
