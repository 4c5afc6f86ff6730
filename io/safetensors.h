/* safetensors files (the Hugging Face weight format): a validating reader over a read-only mmap
   of the file, and a writer that replaces the target file atomically.
   Layout: u64 little-endian header length N, N bytes of JSON header, then raw tensor data. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "status.h"

#define RT_ST_MAX_DIMS 8
#define RT_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* same 100 MB limit as safetensors */

typedef enum {
    RT_ST_BOOL = 0,
    RT_ST_U8,
    RT_ST_I8,
    RT_ST_I16,
    RT_ST_U16,
    RT_ST_F16,
    RT_ST_BF16,
    RT_ST_I32,
    RT_ST_U32,
    RT_ST_F32,
    RT_ST_F64,
    RT_ST_I64,
    RT_ST_U64,
    RT_ST_F8_E4M3,
    RT_ST_F8_E5M2,
    RT_ST_NDTYPES
} rt_st_dtype;

/* The header spelling ("F32", "BF16", ...); "?" for an out-of-range value. */
const char *rt_st_dtype_name(rt_st_dtype d);
/* Bytes per element; 0 for an out-of-range value. */
size_t rt_st_dtype_size(rt_st_dtype d);
/* Parses a header spelling; returns 0 and sets *d, or -1 when unknown. */
int rt_st_dtype_parse(const char *s, rt_st_dtype *d);

typedef struct {
    const char *name; /* owned by the rt_st_file */
    rt_st_dtype dtype;
    int ndim;
    int64_t shape[RT_ST_MAX_DIMS];
    size_t numel;
    size_t nbytes;
    size_t offset;    /* begin of data_offsets, relative to the data section */
    const void *data; /* into the file's mapping; little-endian, may be unaligned (use memcpy) */
} rt_st_tensor;

typedef struct rt_st_file rt_st_file;

/* Maps the file at path read-only and validates the header: length (<= 100 MB and inside the
   file), JSON syntax, no duplicate names, every entry an object with a known "dtype" string, a
   "shape" array of non-negative integers and "data_offsets" [begin, end] with
   end - begin == prod(shape) * itemsize, offsets contiguous from 0 without gaps or overlaps,
   file size == 8 + N + data end, "__metadata__" (optional) an object of strings.
   On success the caller owns *out (free with rt_st_close). Returns RT_ERR_IO when the file
   cannot be read, RT_ERR_FORMAT for a malformed file; the message names the path, the tensor or
   field, and what was expected versus found. */
rt_status rt_st_open(rt_st_file **out, const char *path);
/* Unmaps and frees *f (NULL is fine) and sets *f to NULL. Tensor pointers die with it. */
void rt_st_close(rt_st_file **f);

/* The path given to rt_st_open (owned by f). */
const char *rt_st_path(const rt_st_file *f);
/* Number of tensors. */
int rt_st_count(const rt_st_file *f);
/* Tensor i in data-offset order, 0 <= i < count; NULL when out of range. Owned by f. */
const rt_st_tensor *rt_st_get(const rt_st_file *f, int i);
/* The tensor with this exact name, or NULL. Owned by f. */
const rt_st_tensor *rt_st_find(const rt_st_file *f, const char *name);
/* The value of "__metadata__"[key], or NULL when absent. Owned by f. */
const char *rt_st_metadata(const rt_st_file *f, const char *key);
/* Number of "__metadata__" entries, and entry i (key and value owned by f; i out of range
   returns -1 and leaves the outputs alone). */
int rt_st_metadata_count(const rt_st_file *f);
int rt_st_metadata_at(const rt_st_file *f, int i, const char **key, const char **value);

/* Converts tensor t (F32, F16 or BF16) to n floats in dst (caller-owned, n == t->numel).
   RT_ERR_FORMAT (naming path and tensor) for another dtype or a count mismatch. path is only
   used in messages and may be NULL. */
rt_status rt_st_tensor_to_f32(const rt_st_tensor *t, const char *path, float *dst, size_t n);
/* Finds tensor name in f and converts it as rt_st_tensor_to_f32 does. A missing name is
   RT_ERR_FORMAT naming the file and the tensor. */
rt_status rt_st_read_f32(const rt_st_file *f, const char *name, float *dst, size_t n);

/* IEEE half and bfloat16 to float (exact; NaN payloads and signs kept). */
float rt_st_f16_to_f32(uint16_t h);
float rt_st_bf16_to_f32(uint16_t b);

/* Writer: collects tensors (borrowing their data) and writes one file. */
typedef struct rt_st_writer rt_st_writer;

/* Caller owns *out; free with rt_st_writer_destroy. */
rt_status rt_st_writer_create(rt_st_writer **out);
void rt_st_writer_destroy(rt_st_writer **w);
/* Appends a tensor. name is copied; data (prod(shape) * itemsize bytes, may be NULL when that
   is 0) is borrowed and must stay valid until rt_st_writer_write returns. RT_ERR_ARG for a
   duplicate or reserved name ("__metadata__"), a bad dtype, ndim outside [0, 8] or a negative
   dimension. */
rt_status rt_st_writer_add(rt_st_writer *w, const char *name, rt_st_dtype dtype, int ndim,
                           const int64_t *shape, const void *data);
/* Writes the file: header {"__metadata__": {"format": "pt", keys[i]: values[i]...}, tensors in
   the order added} padded with spaces to a multiple of 8 bytes, then the data contiguously in
   the same order. A key "format" overrides "pt". Atomic: the bytes go to "<path>.tmp.<pid>",
   which is fsynced and renamed over path, then the directory is fsynced; on any error the temp
   file is removed and an existing file at path is left untouched. keys/values may be NULL when
   n_meta is 0; all strings are borrowed. Returns RT_ERR_IO naming the path on failure. */
rt_status rt_st_writer_write(const rt_st_writer *w, const char *path, const char *const *keys,
                             const char *const *values, int n_meta);
