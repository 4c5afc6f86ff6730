/* A feature cache on disk (finetune.feature_cache when the features do not fit in memory): the
   frozen backbone's pooled feature of every train and validation example, kept in HDF5 shards in
   one directory so that every epoch (and a resumed or repeated run) reads them instead of running
   the backbone.

   Layout: DIR/part-<k>-of-<P>.h5 for k in [0, P), P the rank count of the run that wrote it. Part
   k holds rows [lo, hi) of each split in a contiguous float32 dataset /<split>/features (hi - lo,
   hidden_size), split = train, validation, with attributes lo, hi, n (the split's size) and xxh3
   (XXH3-64 of the rows' bytes). Root attributes: format "ringtune-feature-cache", version, the
   three keys (model, corpus, pooling), hidden_size, part, parts. The parts of all k tile [0, n).

   A cache is used only when all three keys, the hidden size and the split sizes are those of the
   run, and its checksums hold; otherwise it is stale, with a reason naming what changed (the
   model's frozen weights, the corpus, the pooling), and is rebuilt. Not collective; not
   thread-safe (HDF5). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "corpus.h"
#include "model.h"
#include "status.h"

typedef struct {
    uint64_t model;   /* XXH3-64 of the architecture, the backbone's tensor names, shapes and
                         values (every tensor but the head's own) */
    uint64_t corpus;  /* the corpora's fingerprints (train, validation) */
    uint64_t pooling; /* the head kind, its pad id, the sequence cut T, the split sizes */
} rt_fcache_key;

/* A content hash of a corpus for the key: its fingerprint (rt_corpus_fingerprint), every token
   and every document boundary of both splits. Reads the whole corpus; not collective. */
rt_status rt_fcache_corpus_hash(rt_corpus *c, uint64_t *out);

/* The key of features of m's backbone, pooled by its head at sequence cut T, on corpora with
   fingerprints fp_train and fp_val, splits of n[0] and n[1] examples. */
rt_fcache_key rt_fcache_key_of(const rt_model *m, int T, uint64_t fp_train, uint64_t fp_val,
                               const uint64_t n[2]);

/* One part being written (one per rank). */
typedef struct rt_fcache_part rt_fcache_part;

/* Creates DIR/part-<part>-of-<parts>.h5 for rows [lo[s], hi[s]) of split s (of n[s]). *out owned
   (close or abort it). */
rt_status rt_fcache_part_create(const char *dir, int part, int parts, const rt_fcache_key *key,
                                int C, const uint64_t n[2], const uint64_t lo[2],
                                const uint64_t hi[2], rt_fcache_part **out);
/* Writes rows [row, row + nrows) of split s (absolute row numbers, in this part's range, in
   order: the checksum is over the rows as written). */
rt_status rt_fcache_part_write(rt_fcache_part *w, int s, uint64_t row, uint64_t nrows,
                               const float *rows);
/* Records the checksums, closes and fsyncs the part; every row must have been written. Frees *w
   on every path. */
rt_status rt_fcache_part_close(rt_fcache_part **w);

/* An open cache, for reading rows. */
typedef struct rt_fcache rt_fcache;

/* Opens DIR for a run with this key, hidden size C and split sizes n. verify_mod/verify_rem: the
   parts whose index k has k % verify_mod == verify_rem have their rows read back and checked
   against their checksums (so P ranks verify a cache once between them; verify_mod 0: none).
   A cache that is absent, stale, incomplete or damaged is not an error: *out is NULL and why
   (size whylen) says what is wrong. Errors: out of memory. *out owned. */
rt_status rt_fcache_open(const char *dir, const rt_fcache_key *key, int C, const uint64_t n[2],
                         int verify_mod, int verify_rem, rt_fcache **out, char *why, size_t whylen);
/* Rows rows[0..nr) of split s into out (nr x C). */
rt_status rt_fcache_read(rt_fcache *c, int s, const int32_t *rows, int nr, float *out);
void rt_fcache_close(rt_fcache **c);

/* Removes DIR when it holds nothing but a feature cache's part files (any other file: an error,
   and nothing is removed). Absent: RT_OK. */
rt_status rt_fcache_remove(const char *dir);
