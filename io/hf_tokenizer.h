/* The tokenizer files a Hugging Face model directory may carry (vocab.json + merges.txt, and
   tokenizer.json etc.): their identity as `ringtune prep` records it in a corpus, the check of a
   corpus against them, and copying them next to an export. Not collective. */
#pragma once
#include <stdio.h>
#include "corpus.h"
#include "status.h"

/* When dir holds both vocab.json and merges.txt: *found = 1 and sha = the sha256 of vocab.json's
   bytes followed by merges.txt's (rt_bpe's identity, what prep writes as tokenizer_sha256).
   Otherwise *found = 0 and sha is "". RT_ERR_IO naming the file when one exists but cannot be
   read. */
rt_status rt_hf_tokenizer_sha256(const char *dir, char sha[65], int *found);

/* The tokenizers a directory may hold. */
typedef enum {
    RT_TOKENIZER_BPE = 1, /* vocab.json + merges.txt: GPT-2 byte-level BPE (io/bpe.h) */
    RT_TOKENIZER_SPM = 2  /* spiece.model (+ optional tokenizer.json): SentencePiece (io/spm.h) */
} rt_tokenizer_kind;

/* Which tokenizer dir holds, by its files. RT_ERR_ARG naming dir and the files looked for when it
   holds neither (or only one of vocab.json and merges.txt) or both kinds; RT_ERR_IO when dir does
   not exist. Not collective. */
rt_status rt_hf_tokenizer_kind(const char *dir, rt_tokenizer_kind *kind);

/* The identity of a SentencePiece tokenizer as `ringtune prep` records it (tokenizer_sha256):
   the sha256 of spiece.model's bytes followed by tokenizer.json's bytes (none when
   tokenizer_json is NULL), as 64 lowercase hex digits and a NUL. RT_ERR_IO naming the file when
   one cannot be read. Not collective. */
rt_status rt_hf_spm_sha256(const char *spiece_model, const char *tokenizer_json, char out[65]);

/* The SentencePiece tokenizer of a directory: dir/spiece.model with dir/tokenizer.json when
   present (rt_spm_load); *sha (may be NULL, 65 bytes) its identity as rt_hf_spm_sha256 gives it.
   RT_ERR_IO naming the file when dir has no spiece.model. The caller owns *out
   (rt_spm_destroy). Not collective. */
struct rt_spm;
rt_status rt_hf_spm_load_dir(const char *dir, struct rt_spm **out, char *sha);

/* Checks that corpus c (and cv, when not NULL) was tokenized with model_dir's tokenizer
   (vocab.json + merges.txt, else spiece.model [+ tokenizer.json]). A mismatch is RT_ERR_ARG
   naming the corpus, the tokenizer files and both hashes, and saying to re-run prep with
   --tokenizer model_dir. When model_dir has neither nothing is compared and one "note:" line
   says so on log (NULL: silent). */
rt_status rt_hf_check_corpus_tokenizer(const rt_corpus *c, const rt_corpus *cv,
                                       const char *model_dir, FILE *log);

/* Copies the tokenizer files present in src_dir (vocab.json, merges.txt, tokenizer.json,
   tokenizer_config.json, special_tokens_map.json, added_tokens.json) into dst_dir, each written
   atomically, so that an export stays self-describing. Files absent in src_dir are skipped; src
   equal to dst copies nothing. *copied (may be NULL) gets the number of files copied. */
rt_status rt_hf_copy_tokenizer(const char *src_dir, const char *dst_dir, int *copied);
