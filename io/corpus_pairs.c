/* The kind "pairs" parts of the HDF5 corpus (io/corpus_pairs.h, io/CORPUS.md). */
#include "corpus_pairs.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "corpus_labels.h"
#include "h5util.h"

#define SCAN 65536                   /* offsets per read when validating on open */
#define PREFIX_MAX ((size_t)1 << 20) /* longest source_prefix a file may hold */
/* Reader chunk cache per target dataset, as for the source tokens (io/corpus.c). */
#define CACHE_BYTES (8u << 20)
#define CACHE_SLOTS 1009

static const char *const split_names[2] = {"train", "validation"};
static const char *const rebuild = "the corpus file is damaged; rebuild it with `ringtune prep`";

void rt_corpus_info_pairs_free(rt_corpus_info *in) {
    free(in->source_prefix);
    in->source_prefix = NULL;
    in->n_target_tokens[0] = in->n_target_tokens[1] = 0;
    in->max_source_length = in->max_target_length = 0;
    in->n_truncated_source = in->n_truncated_target = 0;
}

/* ---- writer ------------------------------------------------------------------------------- */

/* One 1-D extendible dataset written in whole chunks from a buffer. */
typedef struct {
    hid_t d, mtype;
    size_t elem, len; /* bytes per element; elements buffered */
    unsigned char *buf;
    uint64_t done; /* elements written */
} wstream;

struct rt_corpus_wpairs {
    size_t chunk;
    wstream tok[2], off[2]; /* /<split>/target_tokens, /<split>/target_offsets */
    uint64_t n_tokens[2];   /* target tokens added per split */
};

static hid_t make_1d(hid_t grp, const char *name, hid_t ftype, size_t chunk) {
    hsize_t dims = 0, maxdims = H5S_UNLIMITED, c = chunk;
    hid_t s = H5Screate_simple(1, &dims, &maxdims);
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = -1;
    if (s >= 0 && p >= 0 && H5Pset_chunk(p, 1, &c) >= 0 && H5Pset_fletcher32(p) >= 0 &&
        H5Pset_fill_time(p, H5D_FILL_TIME_NEVER) >= 0 && H5Pset_obj_track_times(p, 0) >= 0)
        d = H5Dcreate2(grp, name, ftype, s, H5P_DEFAULT, p, H5P_DEFAULT);
    if (p >= 0) H5Pclose(p);
    if (s >= 0) H5Sclose(s);
    return d;
}

static rt_status ws_flush(wstream *w, const char *path, int k, const char *name) {
    if (w->len == 0) return RT_OK;
    hsize_t start = w->done, count = w->len, size = start + count;
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    int ok = H5Dset_extent(w->d, &size) >= 0 && (fs = H5Dget_space(w->d)) >= 0 &&
             (ms = H5Screate_simple(1, &count, NULL)) >= 0 &&
             H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
             H5Dwrite(w->d, w->mtype, ms, fs, H5P_DEFAULT, w->buf) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (!ok) return rt_h5_fail("%s: cannot write /%s/%s", path, split_names[k], name);
    w->done += w->len;
    w->len = 0;
    return RT_OK;
}

/* Appends n elements of v, writing each chunk as it fills. */
static rt_status ws_put(wstream *w, size_t chunk, const void *v, size_t n, const char *path, int k,
                        const char *name) {
    const unsigned char *p = v;
    while (n > 0) {
        size_t take = chunk - w->len < n ? chunk - w->len : n;
        memcpy(w->buf + w->len * w->elem, p, take * w->elem);
        w->len += take;
        p += take * w->elem;
        n -= take;
        if (w->len == chunk) RT_CALL(ws_flush(w, path, k, name));
    }
    return RT_OK;
}

void rt_corpus_wpairs_free(rt_corpus_wpairs **pp) {
    rt_corpus_wpairs *p = *pp;
    if (!p) return;
    for (int k = 0; k < 2; k++) {
        rt_h5_close(&p->tok[k].d, H5Dclose);
        rt_h5_close(&p->off[k].d, H5Dclose);
        free(p->tok[k].buf);
        free(p->off[k].buf);
    }
    free(p);
    *pp = NULL;
}

static rt_status check_meta(const char *path, const rt_corpus_pair_meta *m) {
    if (!m) return rt_error(RT_ERR_ARG, "%s: a pairs corpus needs its pair metadata", path);
    if (m->max_source_length < 0 || m->max_target_length < 0)
        return rt_error(RT_ERR_ARG, "%s: max source/target length %d/%d must be >= 0 (0: none)",
                        path, m->max_source_length, m->max_target_length);
    if (m->source_prefix && strlen(m->source_prefix) >= PREFIX_MAX)
        return rt_error(RT_ERR_ARG, "%s: the source prefix is longer than %zu bytes", path,
                        PREFIX_MAX - 1);
    return RT_OK;
}

rt_status rt_corpus_wpairs_create(rt_corpus_wpairs **out, hid_t file, const hid_t grp[2],
                                  const char *path, const rt_corpus_pair_meta *m, hid_t ftype,
                                  hid_t mtype, int tbytes, size_t chunk, rt_corpus_info *in) {
    *out = NULL;
    RT_CALL(check_meta(path, m));
    in->source_prefix = strdup(m->source_prefix ? m->source_prefix : "");
    rt_corpus_wpairs *p = calloc(1, sizeof *p);
    if (!p || !in->source_prefix) {
        free(p);
        return rt_error(RT_ERR_MEMORY, "corpus writer: out of memory");
    }
    in->max_source_length = m->max_source_length;
    in->max_target_length = m->max_target_length;
    p->chunk = chunk;
    for (int k = 0; k < 2; k++) {
        p->tok[k] = (wstream){H5I_INVALID_HID, mtype, (size_t)tbytes, 0, NULL, 0};
        p->off[k] = (wstream){H5I_INVALID_HID, H5T_NATIVE_UINT64, 8, 0, NULL, 0};
        p->tok[k].buf = malloc(chunk * (size_t)tbytes);
        p->off[k].buf = malloc(chunk * 8);
        if (!p->tok[k].buf || !p->off[k].buf) {
            rt_corpus_wpairs_free(&p);
            return rt_error(RT_ERR_MEMORY, "corpus writer: out of memory for %zu-element chunks",
                            chunk);
        }
        memset(p->off[k].buf, 0, 8); /* target_offsets starts at 0 */
        p->off[k].len = 1;
    }
    int ok = rt_h5_put_i32(file, "max_source_length", m->max_source_length) &&
             rt_h5_put_i32(file, "max_target_length", m->max_target_length) &&
             rt_h5_put_fixed_utf8(file, "source_prefix", in->source_prefix);
    for (int k = 0; k < 2 && ok; k++)
        ok = (p->tok[k].d = make_1d(grp[k], "target_tokens", ftype, chunk)) >= 0 &&
             (p->off[k].d = make_1d(grp[k], "target_offsets", H5T_STD_U64LE, chunk)) >= 0;
    if (!ok) {
        rt_corpus_wpairs_free(&p);
        return rt_h5_fail("cannot lay out the pairs in %s", path);
    }
    *out = p;
    return RT_OK;
}

rt_status rt_corpus_wpairs_add(rt_corpus_wpairs *p, int k, const void *tgt, size_t n,
                               const char *path) {
    RT_CALL(ws_put(&p->tok[k], p->chunk, tgt, n, path, k, "target_tokens"));
    p->n_tokens[k] += n;
    return ws_put(&p->off[k], p->chunk, &p->n_tokens[k], 1, path, k, "target_offsets");
}

rt_status rt_corpus_wpairs_commit(rt_corpus_wpairs *p, hid_t file, const char *path,
                                  const rt_corpus_counts *counts, rt_corpus_info *in) {
    rt_status st = RT_OK;
    for (int k = 0; k < 2 && st == RT_OK; k++) {
        st = ws_flush(&p->tok[k], path, k, "target_tokens");
        if (st == RT_OK) st = ws_flush(&p->off[k], path, k, "target_offsets");
        in->n_target_tokens[k] = p->n_tokens[k];
    }
    in->n_truncated_source = counts->n_truncated_source;
    in->n_truncated_target = counts->n_truncated_target;
    if (st == RT_OK &&
        !(rt_h5_put_i64(file, "n_truncated_source", (int64_t)counts->n_truncated_source) &&
          rt_h5_put_i64(file, "n_truncated_target", (int64_t)counts->n_truncated_target)))
        st = rt_h5_fail("%s: cannot write the pair count attributes", path);
    for (int k = 0; k < 2; k++) {
        wstream *w[2] = {&p->tok[k], &p->off[k]};
        for (int i = 0; i < 2; i++) {
            if (w[i]->d >= 0 && H5Dclose(w[i]->d) < 0 && st == RT_OK)
                st = rt_h5_fail("%s: cannot close /%s/target_%s", path, split_names[k],
                                i ? "offsets" : "tokens");
            w[i]->d = H5I_INVALID_HID;
        }
    }
    return st;
}

/* ---- reader ------------------------------------------------------------------------------- */

struct rt_corpus_rpairs {
    hid_t tok[2], off[2]; /* /<split>/target_tokens, /<split>/target_offsets */
};

void rt_corpus_rpairs_close(rt_corpus_rpairs **pp) {
    rt_corpus_rpairs *p = *pp;
    if (!p) return;
    for (int k = 0; k < 2; k++) {
        rt_h5_close(&p->tok[k], H5Dclose);
        rt_h5_close(&p->off[k], H5Dclose);
    }
    free(p);
    *pp = NULL;
}

/* Opens attribute name of file after checking it exists and has class cls and one element. */
static rt_status attr_open(hid_t file, const char *path, const char *name, H5T_class_t cls,
                           const char *what, hid_t *a) {
    htri_t there = H5Aexists(file, name);
    if (there <= 0)
        return there < 0
                   ? rt_h5_fail("%s: cannot look up attribute '%s'", path, name)
                   : rt_error(RT_ERR_FORMAT, "%s: missing attribute '%s' (kind pairs)", path, name);
    *a = H5Aopen(file, name, H5P_DEFAULT);
    hid_t t = *a >= 0 ? H5Aget_type(*a) : H5I_INVALID_HID, s = *a >= 0 ? H5Aget_space(*a) : -1;
    int ok = t >= 0 && s >= 0 && H5Tget_class(t) == cls && H5Sget_simple_extent_npoints(s) == 1 &&
             (cls != H5T_STRING || H5Tis_variable_str(t) == 0);
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (!ok) {
        rt_h5_close(a, H5Aclose);
        H5Eclear2(H5E_DEFAULT);
        return rt_error(RT_ERR_FORMAT, "%s: attribute '%s' is not %s", path, name, what);
    }
    return RT_OK;
}

static rt_status get_int(hid_t file, const char *path, const char *name, int64_t lo, int64_t hi,
                         int64_t *v) {
    hid_t a;
    RT_CALL(attr_open(file, path, name, H5T_INTEGER, "an integer", &a));
    herr_t r = H5Aread(a, H5T_NATIVE_INT64, v);
    H5Aclose(a);
    if (r < 0) return rt_h5_fail("%s: cannot read attribute '%s'", path, name);
    if (*v < lo || *v > hi)
        return rt_error(RT_ERR_FORMAT, "%s: attribute '%s' is %lld, expected %lld..%lld: %s", path,
                        name, (long long)*v, (long long)lo, (long long)hi, rebuild);
    return RT_OK;
}

/* A fixed-length string attribute (what the writer writes) into a new string. */
static rt_status get_str(hid_t file, const char *path, const char *name, char **out) {
    hid_t a;
    RT_CALL(attr_open(file, path, name, H5T_STRING, "a fixed-length string", &a));
    hid_t t = H5Aget_type(a);
    size_t n = t >= 0 ? H5Tget_size(t) : 0;
    char *buf = n > 0 && n <= PREFIX_MAX ? calloc(n + 1, 1) : NULL;
    rt_status st = RT_OK;
    if (n == 0 || n > PREFIX_MAX)
        st = rt_error(RT_ERR_FORMAT, "%s: attribute '%s' holds %zu bytes", path, name, n);
    else if (!buf)
        st = rt_error(RT_ERR_MEMORY, "%s: out of memory reading '%s'", path, name);
    else if (H5Aread(a, t, buf) < 0)
        st = rt_h5_fail("%s: cannot read attribute '%s'", path, name);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    if (st == RT_OK)
        *out = buf;
    else
        free(buf);
    return st;
}

static rt_status read_attrs(hid_t file, const char *path, rt_corpus_info *in) {
    int64_t v;
    RT_CALL(get_int(file, path, "max_source_length", 0, INT32_MAX, &v));
    in->max_source_length = (int)v;
    RT_CALL(get_int(file, path, "max_target_length", 0, INT32_MAX, &v));
    in->max_target_length = (int)v;
    RT_CALL(get_int(file, path, "n_truncated_source", 0, (int64_t)in->n_documents, &v));
    in->n_truncated_source = (uint64_t)v;
    RT_CALL(get_int(file, path, "n_truncated_target", 0, (int64_t)in->n_documents, &v));
    in->n_truncated_target = (uint64_t)v;
    return get_str(file, path, "source_prefix", &in->source_prefix);
}

/* Opens /split k/name: a 1-D array of unsigned integers of elem bytes; *len its length. */
static rt_status open_1d(hid_t file, const char *path, int k, const char *name, size_t elem,
                         hid_t *d, uint64_t *len) {
    char full[64];
    snprintf(full, sizeof full, "/%s/%s", split_names[k], name);
    htri_t there = H5Lexists(file, full, H5P_DEFAULT);
    if (there < 0) return rt_h5_fail("%s: cannot look up dataset %s", path, full);
    if (there == 0)
        return rt_error(RT_ERR_FORMAT, "%s: missing dataset %s (kind pairs)", path, full);
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl >= 0) H5Pset_chunk_cache(dapl, CACHE_SLOTS, CACHE_BYTES, 0.75);
    *d = H5Dopen2(file, full, dapl >= 0 ? dapl : H5P_DEFAULT);
    int sum = *d < 0 ? rt_h5_checksum_failure() : 0;
    if (dapl >= 0) H5Pclose(dapl);
    if (*d < 0 && sum) {
        H5Eclear2(H5E_DEFAULT);
        return rt_error(RT_ERR_HDF5,
                        "%s: cannot open dataset %s: HDF5 metadata checksum failure: %s", path,
                        full, rebuild);
    }
    if (*d < 0) return rt_h5_fail("%s: cannot open dataset %s", path, full);
    hid_t t = H5Dget_type(*d), s = H5Dget_space(*d);
    hsize_t dims = 0;
    int ok = t >= 0 && s >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_NONE &&
             H5Tget_size(t) == elem && H5Sget_simple_extent_ndims(s) == 1 &&
             H5Sget_simple_extent_dims(s, &dims, NULL) == 1;
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (!ok)
        return rt_error(RT_ERR_FORMAT, "%s: dataset %s is not a 1-D array of uint%zu", path, full,
                        8 * elem);
    *len = dims;
    return RT_OK;
}

/* Checks the lengths off[i + 1] - off[i] of m documents (side "source" or "target", first
   document at) against 1..max (0: no upper bound). */
static rt_status check_lengths(const char *path, int k, const char *side, const char *dset,
                               const uint64_t *off, size_t m, uint64_t at, int max) {
    char want[64];
    if (max > 0)
        snprintf(want, sizeof want, "1..max_%s_length = %d", side, max);
    else
        snprintf(want, sizeof want, "at least 1");
    for (size_t i = 0; i < m; i++)
        if (off[i + 1] <= off[i] || (max > 0 && off[i + 1] - off[i] > (uint64_t)max))
            return rt_error(RT_ERR_FORMAT,
                            "%s: /%s/%s gives the %s of pair %llu %lld tokens, expected %s: %s",
                            path, split_names[k], dset, side, (unsigned long long)(at + i),
                            (long long)(off[i + 1] - off[i]), want, rebuild);
    return RT_OK;
}

/* One pass over split k's source and target offsets. */
static rt_status scan_split(rt_corpus_rpairs *p, const char *path, const rt_corpus_file_id *fid,
                            const rt_corpus_info *in, hid_t src_off, int k) {
    uint64_t n = in->n_docs[k];
    uint64_t *a = malloc((SCAN + 1) * sizeof *a), *b = malloc((SCAN + 1) * sizeof *b);
    rt_status st = a && b ? RT_OK : rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    for (uint64_t at = 0; at < n && st == RT_OK; at += SCAN) {
        size_t m = n - at < SCAN ? (size_t)(n - at) : SCAN;
        st = rt_corpus_read_1d(src_off, H5T_NATIVE_UINT64, path, fid, k, "doc_offsets", at, m + 1,
                               a);
        if (st == RT_OK)
            st = rt_corpus_read_1d(p->off[k], H5T_NATIVE_UINT64, path, fid, k, "target_offsets", at,
                                   m + 1, b);
        if (st == RT_OK)
            st = check_lengths(path, k, "source", "doc_offsets", a, m, at, in->max_source_length);
        if (st == RT_OK)
            st =
                check_lengths(path, k, "target", "target_offsets", b, m, at, in->max_target_length);
        if (st == RT_OK && at == 0 && b[0] != 0)
            st = rt_error(RT_ERR_FORMAT, "%s: /%s/target_offsets starts at %llu, expected 0: %s",
                          path, split_names[k], (unsigned long long)b[0], rebuild);
        if (st == RT_OK && at + m == n && b[m] != in->n_target_tokens[k])
            st = rt_error(RT_ERR_FORMAT,
                          "%s: /%s/target_offsets ends at %llu, expected %llu (the length of "
                          "/%s/target_tokens): %s",
                          path, split_names[k], (unsigned long long)b[m],
                          (unsigned long long)in->n_target_tokens[k], split_names[k], rebuild);
    }
    free(a);
    free(b);
    return st;
}

/* Opens split k's target datasets and checks their sizes and offsets. */
static rt_status open_split(rt_corpus_rpairs *p, hid_t file, const char *path, rt_corpus_info *in,
                            hid_t src_off, const rt_corpus_file_id *fid, int k) {
    uint64_t n_off = 0;
    RT_CALL(open_1d(file, path, k, "target_tokens", (size_t)in->token_bytes, &p->tok[k],
                    &in->n_target_tokens[k]));
    RT_CALL(open_1d(file, path, k, "target_offsets", 8, &p->off[k], &n_off));
    if (n_off != in->n_docs[k] + 1)
        return rt_error(RT_ERR_FORMAT,
                        "%s: /%s/target_offsets has %llu entries, expected n_docs + 1 = %llu: %s",
                        path, split_names[k], (unsigned long long)n_off,
                        (unsigned long long)in->n_docs[k] + 1, rebuild);
    if (in->n_docs[k] == 0) { /* no pairs: the one offset is 0 and there are no tokens */
        uint64_t z = 1;
        RT_CALL(rt_corpus_read_1d(p->off[k], H5T_NATIVE_UINT64, path, fid, k, "target_offsets", 0,
                                  1, &z));
        if (z != 0 || in->n_target_tokens[k] != 0)
            return rt_error(RT_ERR_FORMAT,
                            "%s: /%s holds no pairs but %llu target tokens (target_offsets[0] = "
                            "%llu): %s",
                            path, split_names[k], (unsigned long long)in->n_target_tokens[k],
                            (unsigned long long)z, rebuild);
        return RT_OK;
    }
    return scan_split(p, path, fid, in, src_off, k);
}

rt_status rt_corpus_rpairs_open(rt_corpus_rpairs **out, hid_t file, const char *path,
                                rt_corpus_info *in, const hid_t offsets[2],
                                const rt_corpus_file_id *fid) {
    *out = NULL;
    RT_CALL(read_attrs(file, path, in));
    rt_corpus_rpairs *p = calloc(1, sizeof *p);
    if (!p) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    for (int k = 0; k < 2; k++) p->tok[k] = p->off[k] = H5I_INVALID_HID;
    rt_status st = RT_OK;
    for (int k = 0; k < 2 && st == RT_OK; k++)
        st = open_split(p, file, path, in, offsets[k], fid, k);
    if (st != RT_OK) {
        rt_corpus_rpairs_close(&p);
        return st;
    }
    *out = p;
    return RT_OK;
}

rt_status rt_corpus_rpairs_read_tokens(rt_corpus_rpairs *p, const char *path,
                                       const rt_corpus_file_id *fid, int k, uint64_t start,
                                       size_t count, int32_t *dst) {
    return rt_corpus_read_1d(p->tok[k], H5T_NATIVE_INT32, path, fid, k, "target_tokens", start,
                             count, dst);
}

rt_status rt_corpus_rpairs_read_offsets(rt_corpus_rpairs *p, const char *path,
                                        const rt_corpus_file_id *fid, int k, uint64_t start,
                                        size_t count, uint64_t *dst) {
    return rt_corpus_read_1d(p->off[k], H5T_NATIVE_UINT64, path, fid, k, "target_offsets", start,
                             count, dst);
}
