/* The kind "pairs" parts of the HDF5 corpus (io/CORPUS.md): sequence-to-sequence pairs whose
   source side is the corpus's /<split>/tokens and /<split>/doc_offsets and whose target side is
   /<split>/target_tokens and /<split>/target_offsets, with the root attributes max_source_length,
   max_target_length, source_prefix, n_truncated_source and n_truncated_target. Private to
   io/corpus.c (which owns the file, the split groups and the source side); serial, no MPI calls,
   not thread-safe. Callers switch HDF5's error printing off around these calls
   (rt_h5_quiet_on). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <hdf5.h>
#include "corpus.h"
#include "corpus_check.h"

typedef struct rt_corpus_wpairs rt_corpus_wpairs;

/* Checks m, writes max_source_length, max_target_length and source_prefix to file and creates
   /<split>/target_tokens (ftype, chunked, fletcher32) and /<split>/target_offsets (uint64) in
   grp[k]. mtype is the in-memory type of the ids rt_corpus_wpairs_add takes (tbytes bytes each).
   Copies the values into info's pair fields (source_prefix owned by info:
   rt_corpus_info_pairs_free). Errors name path (the temp file). On failure *out is NULL. */
rt_status rt_corpus_wpairs_create(rt_corpus_wpairs **out, hid_t file, const hid_t grp[2],
                                  const char *path, const rt_corpus_pair_meta *m, hid_t ftype,
                                  hid_t mtype, int tbytes, size_t chunk, rt_corpus_info *info);
/* Appends one target (n >= 1 ids of tbytes bytes) to split k; buffered, whole chunks written. */
rt_status rt_corpus_wpairs_add(rt_corpus_wpairs *p, int k, const void *tgt, size_t n,
                               const char *path);
/* Writes what is buffered and the attributes n_truncated_source and n_truncated_target; fills
   info->n_target_tokens and the truncation counts (for the metadata hash). Closes the datasets
   either way. */
rt_status rt_corpus_wpairs_commit(rt_corpus_wpairs *p, hid_t file, const char *path,
                                  const rt_corpus_counts *counts, rt_corpus_info *info);
/* Closes the datasets and frees *p; sets it to NULL. Safe with *p == NULL. */
void rt_corpus_wpairs_free(rt_corpus_wpairs **p);

typedef struct rt_corpus_rpairs rt_corpus_rpairs;

/* Reads and validates the pair attributes into info (source_prefix owned by info), opens
   /<split>/target_tokens (unsigned, info->token_bytes wide) and /<split>/target_offsets (uint64,
   n_docs + 1 entries) and checks, in one pass over both offsets of each split (the source side's
   being the open datasets offsets[k]), that both start at 0, end at their tokens' lengths, and
   give every source 1..max_source_length and every target 1..max_target_length tokens (no upper
   bound where the limit is 0). info's n_docs and n_tokens must be known. Errors (RT_ERR_FORMAT,
   RT_ERR_HDF5 for a checksum failure) name path and the attribute or dataset. */
rt_status rt_corpus_rpairs_open(rt_corpus_rpairs **out, hid_t file, const char *path,
                                rt_corpus_info *info, const hid_t offsets[2],
                                const rt_corpus_file_id *fid);
/* Reads target_tokens[start, start + count) of split k as int32 (range checked by the caller). */
rt_status rt_corpus_rpairs_read_tokens(rt_corpus_rpairs *p, const char *path,
                                       const rt_corpus_file_id *fid, int k, uint64_t start,
                                       size_t count, int32_t *dst);
/* Reads target_offsets[start, start + count) of split k (range checked by the caller). */
rt_status rt_corpus_rpairs_read_offsets(rt_corpus_rpairs *p, const char *path,
                                        const rt_corpus_file_id *fid, int k, uint64_t start,
                                        size_t count, uint64_t *dst);
void rt_corpus_rpairs_close(rt_corpus_rpairs **p);
/* Frees info's source_prefix and zeroes the pair fields. */
void rt_corpus_info_pairs_free(rt_corpus_info *info);
