/* The kind "labeled" parts of the HDF5 corpus (io/CORPUS.md): the root label attributes, the
   /<split>/labels and /<split>/label_counts datasets, their writing and their validation on open.
   Private to io/corpus.c (which owns the file and the split groups); serial, no MPI calls, not
   thread-safe. Callers switch HDF5's error printing off around these calls (rt_h5_quiet_on). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <hdf5.h>
#include "corpus.h"
#include "corpus_check.h"

typedef struct rt_corpus_wlabels rt_corpus_wlabels;

/* Checks m, writes the label attributes (num_labels, label_names, label_order, max_length,
   truncation) to file and creates /<split>/labels (int32, chunked, fletcher32) in grp[k]. Copies
   the values into info's label fields (owned by info: rt_corpus_info_labels_free). Errors name
   path (the temp file). On failure *out is NULL and nothing needs freeing but info. */
rt_status rt_corpus_wlabels_create(rt_corpus_wlabels **out, hid_t file, const hid_t grp[2],
                                   const char *path, const rt_corpus_label_meta *m, size_t chunk,
                                   rt_corpus_info *info);
/* Appends one label to split k (RT_ERR_ARG when outside [0, K)); buffered, whole chunks written. */
rt_status rt_corpus_wlabels_add(rt_corpus_wlabels *l, int k, int32_t label, const char *path);
/* Writes what is buffered, /<split>/label_counts (int64[K]) and the attributes n_truncated and
   n_skipped_bad_label; fills info->label_counts, n_truncated and n_skipped_bad_label (for the
   metadata hash). Closes the datasets either way. */
rt_status rt_corpus_wlabels_commit(rt_corpus_wlabels *l, hid_t file, const hid_t grp[2],
                                   const char *path, const rt_corpus_counts *counts,
                                   rt_corpus_info *info);
/* Closes the datasets and frees *l; sets it to NULL. Safe with *l == NULL. */
void rt_corpus_wlabels_free(rt_corpus_wlabels **l);

typedef struct rt_corpus_rlabels rt_corpus_rlabels;

/* Reads and validates the label attributes into info (names and counts owned by info), opens
   /<split>/labels and /<split>/label_counts and checks, in one pass over each split, that every
   label is in [0, K), that label_counts is their histogram and that every document (doc_offsets,
   the open datasets offsets[k]) holds 1..max_length tokens. info's n_docs must be known. Errors
   (RT_ERR_FORMAT, RT_ERR_HDF5 for a checksum failure) name path and the attribute or dataset. */
rt_status rt_corpus_rlabels_open(rt_corpus_rlabels **out, hid_t file, const char *path,
                                 rt_corpus_info *info, const hid_t offsets[2],
                                 const rt_corpus_file_id *fid);
/* Reads labels[start, start + count) of split k (range checked by the caller) into dst, then
   checks the file is unchanged (rt_corpus_file_check). */
rt_status rt_corpus_rlabels_read(rt_corpus_rlabels *l, const char *path,
                                 const rt_corpus_file_id *fid, int k, uint64_t start, size_t count,
                                 int32_t *dst);
void rt_corpus_rlabels_close(rt_corpus_rlabels **l);

/* Reads elements [start, start + count) of the 1-D dataset d (/<split k>/what) as mtype into dst,
   then checks the file is unchanged (fid NULL: not checked). A failure is the file changing
   first, then a checksum failure (fletcher32 or HDF5 metadata, named as such with the dataset
   and range), then HDF5's own description. Shared with io/corpus_pairs.c. */
rt_status rt_corpus_read_1d(hid_t d, hid_t mtype, const char *path, const rt_corpus_file_id *fid,
                            int k, const char *what, uint64_t start, size_t count, void *dst);
/* Frees info's label names and counts and zeroes the label fields. */
void rt_corpus_info_labels_free(rt_corpus_info *info);
