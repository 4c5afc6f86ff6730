/* Checkpoint files (layout: io/CHECKPOINT.md): the HDF5 shard file each rank writes, the
   checksummed pieces that let a reader at another rank count verify exactly what it reads, the
   protobuf manifest in its versioned envelope, and the directory operations of the commit
   protocol (fsync a directory, remove a tree, the `latest` pointer, listing step directories).
   No MPI: dist/checkpoint.c coordinates the ranks. Not thread-safe (HDF5). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "arena.h"
#include "gpt2.h"
#include "checkpoint.pb-c.h"
#include "status.h"

#define RT_CKPT_MAGIC "ringtune-checkpoint"
#define RT_CKPT_FORMAT_VERSION 1
/* Elements per checksummed piece at most (4 MiB of float32): the over-read of a resharded load
   is at most one piece at each end of a rank's range. */
#define RT_CKPT_PIECE_ELEMS ((uint64_t)1 << 20)
/* Bounds on what a manifest may claim (io/CHECKPOINT.md, "Untrusted sizes"): elements of the flat
   buffer (GPT-2's configuration limits allow at most 2^40) and bytes of manifest.pb. */
#define RT_CKPT_MAX_PARAMS ((uint64_t)1 << 40)
#define RT_CKPT_MAX_MANIFEST_BYTES ((size_t)1 << 30)
#define RT_CKPT_MANIFEST "manifest.pb"
#define RT_CKPT_LATEST "latest"

/* ---- pieces ------------------------------------------------------------------------------- */

/* The piece boundaries of flat range [lo, hi): every tensor start and every multiple of
   piece_elems inside it, plus lo and hi. Writes up to cap boundaries to out (ascending) and
   returns how many there are (pieces = that - 1); call with cap 0 to count. */
size_t rt_ckpt_piece_bounds(const rt_tensor_table *tab, uint64_t lo, uint64_t hi,
                            uint64_t piece_elems, uint64_t *out, size_t cap);
/* XXH3-64 of n float32 values (their bytes as stored: little-endian). */
uint64_t rt_ckpt_hash(const float *v, size_t n);
/* The name of the tensor holding flat element e ("?" when outside the table). */
const char *rt_ckpt_tensor_at(const rt_tensor_table *tab, uint64_t e);

/* ---- shard files -------------------------------------------------------------------------- */

/* One dataset of a shard being written: data holds the flat range [lo, hi) of the shard. */
typedef struct {
    const char *name;
    const float *data;
} rt_ckpt_dataset;

/* Called between datasets while writing (fault injection): k datasets are written. */
typedef void (*rt_ckpt_progress_fn)(void *arg, int k);

/* Writes a new shard file at path (refused when it exists): one contiguous float32 dataset per
   entry of ds covering [lo, hi), root attributes (format, rank, world size, lo, hi, step), then
   closes and fsyncs it. Fills Ringtune__Shard *sh (file = basename of path, rank, lo, hi,
   file_bytes, datasets with their pieces and checksums computed from memory); free it with
   rt_ckpt_shard_desc_free. On failure the partial file is removed; errors name path. */
rt_status rt_ckpt_shard_write(const char *path, const rt_tensor_table *tab, int rank, int world,
                              int64_t step, uint64_t lo, uint64_t hi, const rt_ckpt_dataset *ds,
                              int nds, rt_ckpt_progress_fn progress, void *arg,
                              Ringtune__Shard *sh);
void rt_ckpt_shard_desc_free(Ringtune__Shard *sh);

/* Reads flat range [a, b) of dataset `name` from the shard sh (described by the manifest) in
   directory dir into dst (b - a floats): every piece overlapping [a, b) is read whole and
   checked against its checksum. Errors (RT_ERR_IO missing
   file, RT_ERR_HDF5 unreadable/truncated, RT_ERR_FORMAT checksum or shape mismatch) name the file,
   the dataset and, for a checksum, the tensor and element range. scratch holds
   RT_CKPT_PIECE_ELEMS floats; a piece longer than that is refused (RT_ERR_FORMAT). */
rt_status rt_ckpt_shard_read(const char *dir, const Ringtune__Shard *sh, const char *name,
                             const rt_tensor_table *tab, uint64_t a, uint64_t b, float *dst,
                             float *scratch);

/* ---- manifest ----------------------------------------------------------------------------- */

/* Serializes m into the envelope and writes dir/manifest.pb atomically (temp, fsync, rename,
   fsync dir). */
rt_status rt_ckpt_manifest_write(const char *dir, const Ringtune__Manifest *m);
/* Reads the bytes of dir/manifest.pb (caller frees); refuses one over RT_CKPT_MAX_MANIFEST_BYTES.
 */
rt_status rt_ckpt_manifest_read_bytes(const char *dir, uint8_t **buf, size_t *n);
/* Decodes manifest bytes read from dir (named in errors): checks the magic, refuses a newer
   format version, verifies the checksum, unpacks, and bounds every size, count and offset the
   readers use: piece_elems <= RT_CKPT_PIECE_ELEMS, total_params <= RT_CKPT_MAX_PARAMS, the
   shards (one per rank, distinct plain file names) tile [0, total_params) in order, each
   dataset's pieces tile its shard, the datasets a load reads are present and unique, the tensors
   (unique names, shapes matching numel) lie inside the buffer in order. Pure (no MPI, no file
   access). Free with rt_ckpt_manifest_free. */
rt_status rt_ckpt_manifest_decode(const char *dir, const uint8_t *buf, size_t n,
                                  Ringtune__Manifest **out);
void rt_ckpt_manifest_free(Ringtune__Manifest **m);
/* The shard dataset named name, or NULL. */
const Ringtune__Dataset *rt_ckpt_find_dataset(const Ringtune__Shard *sh, const char *name);

/* ---- directories -------------------------------------------------------------------------- */

/* "step-%08ld". */
void rt_ckpt_step_name(long step, char *buf, size_t cap);
/* Parses "step-NNNNNNNN" (exactly; "step-N.tmp" does not parse); returns 1 and sets *step. */
int rt_ckpt_parse_step_name(const char *name, long *step);
/* Removes path and everything below it (no symlink is followed); a missing path is fine. */
rt_status rt_ckpt_remove_tree(const char *path);
/* Replaces `to` (a directory or nothing) by `from` atomically where the filesystem supports
   renameat2(RENAME_EXCHANGE), else by moving `to` aside first; the old `to` is removed. Then
   fsyncs the parent. */
rt_status rt_ckpt_replace_dir(const char *from, const char *to);
/* Writes root/latest = "<name>\n" atomically. */
rt_status rt_ckpt_latest_write(const char *root, const char *name);
/* Reads root/latest into buf (the step directory's name; validated). RT_ERR_IO when missing. */
rt_status rt_ckpt_latest_read(const char *root, char *buf, size_t cap);
/* The committed step directories under root (with a manifest.pb), ascending; *steps is the
   caller's (free). */
rt_status rt_ckpt_list(const char *root, long **steps, size_t *n);
/* Removes leftover "step-*.tmp" and "step-*.old" directories under root (an interrupted save);
   returns how many were removed in *n (may be NULL). */
rt_status rt_ckpt_clean_leftovers(const char *root, int *n);

/* ---- models ------------------------------------------------------------------------------- */

/* The GPT-2 configuration stored in a manifest (model_desc's gpt2 when present, else the first
   format's flat ModelConfig), and back (both forms: the flat one keeps older builds reading). */
void rt_ckpt_model_config(const Ringtune__Manifest *man, rt_gpt2_config *c);
void rt_ckpt_model_config_to_proto(const rt_gpt2_config *c, Ringtune__ModelConfig *p);
void rt_ckpt_gpt2_config_to_proto(const rt_gpt2_config *c, Ringtune__Gpt2Config *p);
/* Checks that the tensor table of a decoded manifest is tab's: the same count, total, and per
   tensor name, offset and shape. Errors (RT_ERR_FORMAT) name dir and the first difference. Pure. */
rt_status rt_ckpt_check_table(const char *dir, const Ringtune__Manifest *man,
                              const rt_tensor_table *tab);
/* Reads flat range [a, b) of dataset name from every shard of man (in dir) overlapping it into
   dst, verifying every piece read (scratch: RT_CKPT_PIECE_ELEMS floats). */
rt_status rt_ckpt_read_range(const char *dir, const Ringtune__Manifest *man,
                             const rt_tensor_table *tab, const char *name, uint64_t a, uint64_t b,
                             float *dst, float *scratch);
/* 1 when dir holds a manifest.pb (a checkpoint directory). */
int rt_ckpt_is_checkpoint(const char *dir);
/* A checkpoint directory from a path: the path itself when it holds a manifest, else the step
   its `latest` names (a training output.dir). */
rt_status rt_ckpt_find(const char *path, char *dir, size_t cap);
/* Checks, before anything is sized from the manifest, that every shard file it lists is there
   with the size it records, and large enough for its datasets (4 bytes per element each). */
rt_status rt_ckpt_check_files(const char *dir, const Ringtune__Manifest *man);
/* A new zeroed model of the manifest's configuration, after checking that its shards are on disk
   (rt_ckpt_check_files), that the configuration implies total_params and that the tensor table is
   the model's (rt_ckpt_check_table); nothing is allocated from an unchecked size. Caller owns
   *out. */
rt_status rt_ckpt_model_for(const char *dir, const Ringtune__Manifest *man, rt_gpt2 **out);
/* rt_ckpt_model_for for a model whose table a task head extends (rt_gpt2_create_ext): the
   extension's tensors count towards total_params and must be in the manifest's table too. */
rt_status rt_ckpt_model_for_ext(const char *dir, const Ringtune__Manifest *man,
                                rt_gpt2_extend_fn extend, void *arg, rt_gpt2 **out);
/* (A checkpoint's full parameters into a new model: rt_model_load_ckpt, model_registry.h.) */
