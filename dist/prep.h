/* `ringtune prep`: tokenize text or JSONL inputs into one HDF5 corpus (io/CORPUS.md), under MPI.
   Rank 0 expands the inputs and streams them in rounds of about round_bytes; each round's
   documents are dealt to the ranks in contiguous, byte-balanced runs, every rank tokenizes its run,
   and rank 0 gathers the ids and appends them, in input order, with the serial corpus writer. The
   output is therefore identical for any rank count and round size, and memory stays bounded by the
   round size (plus the largest single document). */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <mpi.h>
#include "status.h"

typedef enum { RT_PREP_TEXT = 0, RT_PREP_JSONL = 1 } rt_prep_format;

struct rt_bpe;

typedef struct {
    const char *tokenizer_dir; /* holds vocab.json and merges.txt (byte-level BPE: text and labeled
                                  corpora) or spiece.model and optionally tokenizer.json
                                  (SentencePiece: pairs); required unless tokenizer */
    /* Optional: an already loaded tokenizer (loaded from the same files on every rank), borrowed
       for the run instead of loading tokenizer_dir; saves ~0.2 s per run and rank. */
    const struct rt_bpe *tokenizer;
    const char *out; /* output HDF5 file (required) */
    rt_prep_format format;
    /* text: NULL = one document per file; otherwise a line equal to this string (a trailing "\r"
       is ignored; "" means blank lines) separates documents. Documents are the bytes between
       delimiter lines, verbatim; an empty remainder after the last delimiter is no document. */
    const char *delimiter;
    const char *text_field;   /* jsonl: the string field holding the text (default "text") */
    double val_ratio;         /* [0, 1]: expected fraction of documents in validation */
    uint64_t split_seed;      /* < 2^63 */
    int overwrite;            /* replace an existing output file */
    int skip_bad_json;        /* skip (and count) malformed JSONL lines instead of failing */
    int replace_invalid_utf8; /* replace invalid UTF-8 by U+FFFD (counted) instead of failing */
    int allow_special;        /* "<|endoftext|>" in the text becomes the eos id */
    size_t round_bytes;       /* input bytes per round (default 32 MiB, at most 1 GiB) */
    double timeout_s; /* a wait for other ranks without progress this long ends the job (exit
                         69, io/watchdog.h); default RT_WD_TIMEOUT_DEFAULT, 0 = off */
    size_t chunk;     /* HDF5 chunk length in elements (0: RT_CORPUS_CHUNK_DEFAULT) */
    const char *command_line;  /* recorded in the corpus (may be NULL) */
    FILE *progress;            /* rank 0 writes progress lines here; NULL: quiet */
    const char *const *inputs; /* files, directories (recursive; hidden entries skipped), globs */
    int n_inputs;
    /* jsonl: a kind "labeled" corpus (io/CORPUS.md) when label_field is set. Each example is one
       document: its tokens without eos, truncated to max_length. Labels are strings mapped to
       ids (label_names' order, or the distinct strings sorted by bytes when label_names is
       NULL) or integer ids (needing num_labels or label_names). Split: stratified per class
       (rt_prep_stratify in dist/prep_labels.h) instead of rt_prep_is_validation. */
    const char *label_field;        /* the field holding each example's label */
    const char *const *label_names; /* --labels: the class names in id order (distinct) */
    int n_label_names;
    int num_labels;      /* --num-labels K: integer labels are ids in [0, K) (0: not given) */
    int max_length;      /* tokens kept per example; 0: the tokenizer directory's
                            tokenizer_config.json model_max_length when it has a sane one,
                            else 1024 */
    int truncate_left;   /* keep the last max_length tokens (default: the first, as
                            transformers' truncation_side "right") */
    int skip_bad_labels; /* skip (and count) examples with a bad label instead of failing */
    /* jsonl: a kind "pairs" corpus (io/CORPUS.md) when source_field and target_field are set
       (both or neither; dist/prep_pairs.h): each line is one sequence-to-sequence pair, the
       source (source_prefix + its text) and the target each tokenized by a SentencePiece
       tokenizer (tokenizer_dir holds spiece.model) with </s> appended, and cut to
       max_source_len / max_target_len tokens keeping that </s> (as transformers' SentencePiece
       tokenizers truncate). An empty target is an error. Split: rt_prep_is_validation per pair. */
    const char *source_field;  /* the string field holding each pair's source text */
    const char *target_field;  /* the string field holding its target text */
    const char *source_prefix; /* prepended to every source text (a task prefix); NULL: none */
    int max_source_len;        /* tokens kept per source, </s> included; 0: no limit */
    int max_target_len;        /* tokens kept per target, </s> included; 0: no limit */
} rt_prep_opts;

/* text (one document per file), text_field "text", val_ratio 0.05, split_seed 1234,
   round_bytes 32 MiB, timeout_s RT_WD_TIMEOUT_DEFAULT, everything else 0/NULL. */
void rt_prep_opts_default(rt_prep_opts *o);

typedef struct {
    uint64_t n_files;     /* input files after expansion */
    uint64_t bytes_in;    /* their total size */
    uint64_t n_documents; /* documents written (both splits) */
    uint64_t n_docs[2];   /* per split (RT_SPLIT_TRAIN, RT_SPLIT_VALIDATION) */
    uint64_t n_tokens[2]; /* per split, eos included */
    uint64_t n_skipped_empty, n_skipped_bad_json, n_replaced_utf8;
    uint64_t n_truncated, n_skipped_bad_label; /* labeled: examples cut / skipped */
    int num_labels, max_length;                /* labeled: K and the length used */
    uint64_t n_target_tokens[2]; /* pairs: target tokens per split (</s> included); n_tokens
                                    counts the sources' */
    uint64_t n_truncated_source, n_truncated_target; /* pairs: sides cut to their limit */
    int max_source_len, max_target_len;              /* pairs: the limits used (0: none) */
    double t_labels; /* labeled: the label pass (reading + parsing) */
    int token_bytes; /* 2 (uint16) or 4 */
    int n_ranks;
    double seconds;    /* wall time of rt_prep_run */
    double t_setup;    /* expanding inputs, loading the tokenizer, creating the output */
    double t_read;     /* rank 0 reading rounds */
    double t_tokenize; /* the slowest rank's tokenizing, summed over rounds */
    double t_write;    /* rank 0 appending to the corpus, and the final commit */
} rt_prep_result;

/* Runs prep. Collective over comm (MPI must be initialised): every rank must call it with the same
   options, and every rank returns the same status and (on failure) the same message, that of the
   earliest failure in input order. Documents that are empty or only ASCII whitespace are skipped
   and counted; blank JSONL lines are ignored (no document, not counted). A document is tokenized
   as a whole, so the largest one (at most 1 GiB) must fit in memory; rank 0 holds a round of
   input and the round's ids (about 2-3x round_bytes), the other ranks their share of it.
   Never leaves a partial file under opts->out: it writes "<out>.tmp.<pid of rank 0>" and renames
   it after a successful close, removing it on failure. res (may be NULL) is filled on every rank.
   Errors: RT_ERR_ARG (options), RT_ERR_IO (missing/unreadable input, existing output),
   RT_ERR_FORMAT (malformed JSON "file:line: ...", invalid UTF-8 "file:line: ... byte offset N",
   a bad label "file:line: label ... " saying what was expected, string and integer labels mixed),
   RT_ERR_HDF5, RT_ERR_MEMORY. With a label field the input is read twice (labels first, see
   io/CORPUS.md), and an integer label without num_labels/label_names is RT_ERR_ARG. With source
   and target fields (pairs), a missing or non-string field is RT_ERR_FORMAT "file:line: ..."
   naming the field (skipped and counted with skip_bad_json), and so is an empty target (never
   skipped); a tokenizer directory without spiece.model is RT_ERR_ARG naming it. */
rt_status rt_prep_run(const rt_prep_opts *opts, MPI_Comm comm, rt_prep_result *res);

/* The split rule (reproducible outside ringtune): h = splitmix64(splitmix64(seed) ^ doc_index),
   u = (h >> 11) * 2^-53; the document goes to validation iff u < val_ratio. splitmix64(x) is
   z = x + 0x9e3779b97f4a7c15; z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9;
   z = (z ^ z >> 27) * 0x94d049bb133111eb; z ^ z >> 31. Returns 1 for validation. */
int rt_prep_is_validation(uint64_t seed, uint64_t doc_index, double val_ratio);
/* h of that rule: splitmix64(splitmix64(seed) ^ doc_index). */
uint64_t rt_prep_split_hash(uint64_t seed, uint64_t doc_index);
