/* The HDF5 corpus that `ringtune prep` writes and the trainer reads (layout: io/CORPUS.md,
   format version 1). The writer is serial (one process appends documents in global order; under
   MPI that process is rank 0 of prep, see dist/prep.h); the reader is what training uses.
   Neither needs MPI to be initialised unless a communicator is passed to rt_corpus_open.
   Not thread-safe (Debian's parallel HDF5 is built without thread safety): one thread per process
   calls these functions. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <mpi.h>
#include "status.h"

#define RT_CORPUS_FORMAT "ringtune-corpus"
#define RT_CORPUS_FORMAT_VERSION 1
/* Chunk length (elements) of every 1-D dataset unless the writer is told otherwise: 64 Ki tokens
   = 128 KiB for uint16. Small enough that a training window of ~1 Ki tokens read at a random
   position costs one or two chunk reads (and fletcher32 checks) of 128 KiB, not megabytes. */
#define RT_CORPUS_CHUNK_DEFAULT 65536

typedef enum { RT_SPLIT_TRAIN = 0, RT_SPLIT_VALIDATION = 1 } rt_corpus_split;

/* Bytes per stored token id for a vocabulary: 2 (uint16) when vocab_size <= 65536, else 4. */
int rt_corpus_token_bytes(int vocab_size);
/* "train" or "validation" (the group names in the file). */
const char *rt_corpus_split_name(rt_corpus_split s);

/* ------------------------------------------------------------------------------------------ */
/* Writer (serial, one process).                                                               */

typedef struct rt_corpus_writer rt_corpus_writer;

/* What a kind "labeled" corpus records about its labels (io/CORPUS.md). Strings are copied. */
typedef struct {
    int num_labels;                 /* K >= 1: ids are 0..K-1 */
    const char *const *label_names; /* K UTF-8 names without NUL bytes: name of id i is [i] */
    const char *label_order;        /* how names became ids: "given" (--labels), "sorted"
                                       (byte order of the distinct string labels) or "ids"
                                       (the input's labels were the integer ids) */
    int max_length;                 /* tokens kept per example (>= 1) */
    const char *truncation;         /* "right" (keep the first max_length) or "left" */
} rt_corpus_label_meta;

/* What a kind "pairs" corpus records about its sequence-to-sequence pairs (io/CORPUS.md). */
typedef struct {
    int max_source_length;     /* no source is longer (its </s> included); 0: no limit */
    int max_target_length;     /* no target is longer; 0: no limit */
    const char *source_prefix; /* prepended to every source text before tokenizing (UTF-8
                                  without NUL bytes; NULL or "" when none); copied */
} rt_corpus_pair_meta;

/* Everything known before the first document. Strings are copied. */
typedef struct {
    const char *kind;                   /* "text", "labeled" or "pairs" */
    int vocab_size;                     /* > 0 */
    int eos_id;                         /* in [0, vocab_size) */
    const char *tokenizer_sha256;       /* 64 hex digits */
    const char *sources;                /* newline-joined input files */
    uint64_t split_seed;                /* < 2^63 (stored as int64) */
    double validation_ratio;            /* [0, 1] */
    const char *command_line;           /* recorded verbatim; may be NULL ("") */
    size_t chunk;                       /* elements per chunk; 0 = RT_CORPUS_CHUNK_DEFAULT */
    const rt_corpus_label_meta *labels; /* required for kind "labeled", NULL otherwise */
    const rt_corpus_pair_meta *pairs;   /* required for kind "pairs", NULL otherwise */
} rt_corpus_meta;

/* Totals known only at the end, written as root attributes by rt_corpus_writer_commit. The
   writer counts documents itself (n_documents is what it was given); these are prep's counts. */
typedef struct {
    uint64_t n_skipped_empty;     /* documents that were empty or only whitespace */
    uint64_t n_skipped_bad_json;  /* JSONL lines skipped as malformed (when asked to skip) */
    uint64_t n_replaced_utf8;     /* invalid UTF-8 sequences replaced by U+FFFD */
    uint64_t n_truncated;         /* kind "labeled": examples cut to max_length */
    uint64_t n_skipped_bad_label; /* kind "labeled": examples skipped for a bad label */
    uint64_t n_truncated_source;  /* kind "pairs": sources cut to max_source_length */
    uint64_t n_truncated_target;  /* kind "pairs": targets cut to max_target_length */
} rt_corpus_counts;

/* Starts a corpus at path: refuses (RT_ERR_IO, "... exists; pass --overwrite ...") when path
   exists and !overwrite, then creates "<path>.tmp.<pid>" with both splits' datasets and the
   attributes of meta, in the checksummed HDF5 1.10 file format (io/CORPUS.md). Nothing appears
   under path until rt_corpus_writer_commit. On failure
   nothing is left behind. */
rt_status rt_corpus_writer_create(rt_corpus_writer **out, const char *path, int overwrite,
                                  const rt_corpus_meta *meta);
/* Bytes per token this writer expects in rt_corpus_writer_add (see rt_corpus_token_bytes). */
int rt_corpus_writer_token_bytes(const rt_corpus_writer *w);
/* Appends one document (its ids including the trailing eos) to a split. tokens holds n ids of
   rt_corpus_writer_token_bytes(w) bytes each (uint16_t or uint32_t, host order); n >= 1.
   doc_index is its global index (written to /<split>/doc_index). Buffered: whole chunks are
   written as they fill. On failure the writer must still be aborted. */
rt_status rt_corpus_writer_add(rt_corpus_writer *w, rt_corpus_split split, uint64_t doc_index,
                               const void *tokens, size_t n);
/* The same for a kind "labeled" corpus, whose every document carries a label id in
   [0, num_labels) (rt_corpus_writer_add refuses to add to it, and this refuses a text corpus).
   The per-class counts are kept as documents are added and written at commit. */
rt_status rt_corpus_writer_add_labeled(rt_corpus_writer *w, rt_corpus_split split,
                                       uint64_t doc_index, int32_t label, const void *tokens,
                                       size_t n);
/* The same for a kind "pairs" corpus: one pair, its source ids (src, n_src >= 1, the last one
   eos) to /<split>/tokens and its target ids (tgt, n_tgt >= 1, the last one eos) to
   /<split>/target_tokens, both of rt_corpus_writer_token_bytes(w) bytes each. RT_ERR_ARG for
   another kind (and rt_corpus_writer_add refuses a pairs corpus), an empty side, a side longer
   than its max length or not ending in eos. Buffered like rt_corpus_writer_add. Not collective;
   the writer copies the ids. */
rt_status rt_corpus_writer_add_pair(rt_corpus_writer *w, rt_corpus_split split, uint64_t doc_index,
                                    const void *src, size_t n_src, const void *tgt, size_t n_tgt);
/* Documents and tokens added so far to a split (for pairs: pairs and source tokens). */
uint64_t rt_corpus_writer_n_docs(const rt_corpus_writer *w, rt_corpus_split split);
uint64_t rt_corpus_writer_n_tokens(const rt_corpus_writer *w, rt_corpus_split split);
/* Flushes, writes the count attributes, closes and fsyncs the temp file and moves it to the final
   path (without overwrite: refuses if path appeared meanwhile), then fsyncs the directory. On any
   failure the temp file is removed and an existing file at path is untouched. Frees *w and sets
   it to NULL either way. */
rt_status rt_corpus_writer_commit(rt_corpus_writer **w, const rt_corpus_counts *counts);
/* Closes and removes the temp file, frees *w and sets it to NULL. Safe with *w == NULL. */
void rt_corpus_writer_abort(rt_corpus_writer **w);

/* ------------------------------------------------------------------------------------------ */
/* Reader.                                                                                     */

typedef struct rt_corpus rt_corpus;

/* The root attributes and dataset sizes, as read and validated by rt_corpus_open. */
typedef struct {
    int format_version;
    char kind[16];
    int vocab_size;
    int eos_id;
    int token_bytes;           /* 2 or 4 */
    char tokenizer_sha256[65]; /* 64 hex digits */
    uint64_t split_seed;
    double validation_ratio;
    uint64_t n_documents, n_skipped_empty, n_skipped_bad_json, n_replaced_utf8;
    uint64_t n_docs[2];     /* per split (RT_SPLIT_TRAIN, RT_SPLIT_VALIDATION) */
    uint64_t n_tokens[2];   /* per split */
    char *sources;          /* owned by the corpus */
    char *ringtune_version; /* owned by the corpus */
    char *command_line;     /* owned by the corpus */
    /* kind "labeled" only (0 / NULL / "" for the other kinds) */
    int num_labels;            /* K */
    char **label_names;        /* K names, in id order; owned by the corpus */
    uint64_t *label_counts[2]; /* per split, K counts (/<split>/label_counts); owned */
    char label_order[8];       /* "given", "sorted" or "ids" */
    char truncation[8];        /* "right" or "left" */
    int max_length;            /* no document is longer */
    uint64_t n_truncated, n_skipped_bad_label;
    /* kind "pairs" only (0 / NULL for the other kinds); the source side is tokens/doc_offsets,
       so n_tokens counts source tokens */
    uint64_t n_target_tokens[2]; /* per split: the length of /<split>/target_tokens */
    int max_source_length;       /* no source is longer; 0: no limit */
    int max_target_length;       /* no target is longer; 0: no limit */
    uint64_t n_truncated_source, n_truncated_target;
    char *source_prefix; /* "" when none; owned by the corpus */
} rt_corpus_info;

/* Opens a corpus read-only and validates it: format "ringtune-corpus", format_version 1, every
   attribute and dataset of io/CORPUS.md present with the right type, doc_offsets consistent with
   the token counts, for kind "labeled" every label in [0, K), label_counts equal to the labels'
   histogram and every document 1..max_length tokens long (one pass over labels and doc_offsets),
   for kind "pairs" target_offsets consistent with target_tokens and every source and target
   1..max length tokens long (one pass over both offsets),
   the attribute hash metadata_xxh3 (when present) matching; HDF5 verifies its metadata checksums
   (files of the 1.10 format) and a failure is reported as one. Errors (RT_ERR_IO for a
   missing/unreadable file, RT_ERR_FORMAT otherwise, RT_ERR_HDF5 for a checksum failure) name the
   file and the attribute or dataset. comm == MPI_COMM_NULL: serial; no MPI call is made, so MPI
   need not be initialised (each process may open the file this way on its own). Otherwise
   collective over comm: every rank opens the file (read-only, plain POSIX I/O, so it works on any
   shared file system) and all ranks return the same status; on failure every rank gets the message
   of the lowest failing rank and *out is NULL everywhere. */
rt_status rt_corpus_open(rt_corpus **out, const char *path, MPI_Comm comm);
/* Closes the file and frees *c; sets *c to NULL. Not collective. Safe with *c == NULL. */
void rt_corpus_close(rt_corpus **c);

const rt_corpus_info *rt_corpus_get_info(const rt_corpus *c);
const char *rt_corpus_path(const rt_corpus *c);
uint64_t rt_corpus_n_tokens(const rt_corpus *c, rt_corpus_split split);
uint64_t rt_corpus_n_docs(const rt_corpus *c, rt_corpus_split split);
int rt_corpus_vocab_size(const rt_corpus *c);
int rt_corpus_eos_id(const rt_corpus *c);
const char *rt_corpus_tokenizer_sha256(const rt_corpus *c);

/* Reads tokens [start, start + count) of a split into dst (widened to int32) with one hyperslab
   read through an 8 MiB chunk cache per dataset. Not collective. RT_ERR_ARG when the range is
   outside the split; RT_ERR_FORMAT (naming file, split and position) for an id >= vocab_size;
   RT_ERR_HDF5 for a read or checksum failure (a fletcher32 failure is named as such, with the
   dataset and range); RT_ERR_IO when the file changed since rt_corpus_open (truncated, grown,
   rewritten, replaced or removed: checked with one stat() of the path after every read, as are
   the two functions below). */
rt_status rt_corpus_read_tokens(rt_corpus *c, rt_corpus_split split, uint64_t start, size_t count,
                                int32_t *dst);
/* Reads doc_offsets[start, start + count) of a split (n_docs + 1 entries exist) into dst. */
rt_status rt_corpus_read_doc_offsets(rt_corpus *c, rt_corpus_split split, uint64_t start,
                                     size_t count, uint64_t *dst);
/* Reads doc_index[start, start + count) of a split (n_docs entries) into dst. */
rt_status rt_corpus_read_doc_index(rt_corpus *c, rt_corpus_split split, uint64_t start,
                                   size_t count, uint64_t *dst);

/* Kind "labeled": reads labels[start, start + count) of a split (n_docs entries: the label id of
   each document, in [0, num_labels), checked on open) into dst. Not collective. RT_ERR_ARG for a
   text corpus or a range outside the split; read failures as rt_corpus_read_tokens. */
rt_status rt_corpus_read_labels(rt_corpus *c, rt_corpus_split split, uint64_t start, size_t count,
                                int32_t *dst);
/* Kind "labeled": example i of a split: its tokens (at most max_length, no eos) into dst, which
   holds cap ids (cap >= info.max_length always suffices), *n their count, *label its id. Not
   collective. RT_ERR_ARG for a text corpus, i >= n_docs or cap too small. Two small reads. */
rt_status rt_corpus_read_example(rt_corpus *c, rt_corpus_split split, uint64_t i, int32_t *dst,
                                 size_t cap, size_t *n, int32_t *label);
/* The same, reading only the first min(cap, length) tokens (right truncation to cap); *n is the
   example's full length, so a caller sees that it was cut. */
rt_status rt_corpus_read_example_head(rt_corpus *c, rt_corpus_split split, uint64_t i, int32_t *dst,
                                      size_t cap, size_t *n, int32_t *label);
/* The name of label id (NULL outside [0, num_labels) or for a text corpus); owned by c. */
const char *rt_corpus_label_name(const rt_corpus *c, int32_t id);

/* Kind "pairs": the lengths of pair i of a split (its source and target, each with its </s>).
   Not collective. RT_ERR_ARG for another kind or i >= n_docs. Two small reads. */
rt_status rt_corpus_pair_lengths(rt_corpus *c, rt_corpus_split split, uint64_t i, size_t *n_src,
                                 size_t *n_tgt);
/* Kind "pairs": pair i of a split: its source ids into src (room for src_cap), its target ids
   into tgt (room for tgt_cap), *n_src and *n_tgt their lengths (each ending in eos, which is
   checked: RT_ERR_FORMAT naming the file and the pair otherwise). Caps of max_source_length and
   max_target_length always suffice when those are not 0. RT_ERR_ARG for another kind ("a text
   corpus has no pairs"), i >= n_docs, or a cap too small (then *n_src and *n_tgt are still set,
   so the caller can grow its buffers and retry). Not collective; the caller owns the buffers. */
rt_status rt_corpus_read_pair(rt_corpus *c, rt_corpus_split split, uint64_t i, int32_t *src,
                              size_t src_cap, size_t *n_src, int32_t *tgt, size_t tgt_cap,
                              size_t *n_tgt);
/* Kind "pairs": target_tokens[start, start + count) of a split into dst (widened to int32), and
   target_offsets[start, start + count) (n_docs + 1 entries: target i is
   target_tokens[off[i], off[i+1])). Checks and errors as rt_corpus_read_tokens. Not collective. */
rt_status rt_corpus_read_target_tokens(rt_corpus *c, rt_corpus_split split, uint64_t start,
                                       size_t count, int32_t *dst);
rt_status rt_corpus_read_target_offsets(rt_corpus *c, rt_corpus_split split, uint64_t start,
                                        size_t count, uint64_t *dst);

/* Checks the corpus against a model: every id must fit the model's embedding (the corpus's
   vocab_size <= model_vocab_size; padded vocabularies such as 50304 are fine), and when
   tokenizer_sha256 is not NULL it must equal the corpus's. RT_ERR_ARG otherwise, with a message
   that names the corpus file and states both values. */
rt_status rt_corpus_check_model(const rt_corpus *c, int model_vocab_size,
                                const char *tokenizer_sha256);

/* An identity of the corpus (not a content hash of every token): XXH3-64 over the token and
   document counts, the tokenizer hash, the vocabulary size, the split seed and ratio, and the
   first and last 4096 tokens of each split (for kind "pairs" also the target token counts and
   the first and last 4096 target tokens). Reads those tokens; not collective. */
rt_status rt_corpus_fingerprint(rt_corpus *c, uint64_t *out);
