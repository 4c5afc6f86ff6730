/* Integrity checks of the HDF5 corpus reader (io/corpus.c) beyond HDF5's own checksums: a hash
   of the root attributes' values (defence in depth for bytes HDF5 does not checksum, such as
   large attributes stored outside the object header), and the identity of the file a reader has
   open, so a corpus truncated, rewritten or replaced under a running job is refused instead of
   read as zeros. Not collective; no MPI calls. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "corpus.h"

/* The root attribute holding rt_corpus_info_hash of the others (absent in files written before
   it existed; then nothing is checked). */
#define RT_CORPUS_HASH_ATTR "metadata_xxh3"

/* XXH3-64 over a fixed serialization of every attribute value in info and the dataset lengths
   (n_docs, n_tokens): any change to what a reader takes from the file changes it. */
uint64_t rt_corpus_info_hash(const rt_corpus_info *info);

/* What a reader recorded about its file when it opened it. */
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} rt_corpus_file_id;

/* Records the identity of the file open as descriptor fd. RT_ERR_IO names path. */
rt_status rt_corpus_file_id_get(int fd, const char *path, rt_corpus_file_id *id);
/* stat()s path and compares it with id: RT_OK when it is still the same file with the same size
   and modification time; otherwise RT_ERR_IO naming path, what changed (removed, replaced,
   truncated from/to, grew, rewritten) and what to do. One stat() call. */
rt_status rt_corpus_file_check(const char *path, const rt_corpus_file_id *id);

/* Test hook, like RINGTUNE_CKPT_FAULT: with RINGTUNE_CORPUS_FAULT="truncate:N" (or "half:N") the
   N-th token read of this process (counting from 1) first truncates path to 0 bytes (to half of
   open_size). Does nothing when the variable is unset. */
void rt_corpus_fault_point(const char *path, off_t open_size);
