/* The kind "labeled" parts of the HDF5 corpus (io/corpus_labels.h, io/CORPUS.md). */
#include "corpus_labels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "h5util.h"

#define LABELS_MAX (1 << 24) /* largest num_labels a file may claim */
#define SCAN 65536           /* elements per read when validating on open */

static const char *const split_names[2] = {"train", "validation"};
static const char *const rebuild = "the corpus file is damaged; rebuild it with `ringtune prep`";

void rt_corpus_info_labels_free(rt_corpus_info *in) {
    if (in->label_names)
        for (int i = 0; i < in->num_labels; i++) free(in->label_names[i]);
    free(in->label_names);
    free(in->label_counts[0]);
    free(in->label_counts[1]);
    in->label_names = NULL;
    in->label_counts[0] = in->label_counts[1] = NULL;
    in->num_labels = 0;
}

/* ---- writer ------------------------------------------------------------------------------- */

struct rt_corpus_wlabels {
    int k_labels;
    size_t chunk;
    hid_t d[2];      /* /<split>/labels */
    int32_t *buf[2]; /* chunk buffered labels per split */
    size_t len[2];
    uint64_t done[2];
    uint64_t *counts[2]; /* per class */
};

void rt_corpus_wlabels_free(rt_corpus_wlabels **lp) {
    rt_corpus_wlabels *l = *lp;
    if (!l) return;
    for (int k = 0; k < 2; k++) {
        rt_h5_close(&l->d[k], H5Dclose);
        free(l->buf[k]);
        free(l->counts[k]);
    }
    free(l);
    *lp = NULL;
}

/* A 1-D chunked, fletcher32 dataset of ftype: extendible from 0 (fixed = 0) or of fixed length. */
static hid_t make_1d(hid_t grp, const char *name, hid_t ftype, size_t chunk, hsize_t fixed) {
    hsize_t dims = fixed, maxdims = fixed ? fixed : H5S_UNLIMITED, c = chunk;
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

/* label_names: a 1-D attribute of K fixed-length UTF-8 strings (in the checksummed object
   header, or dense storage when large; metadata_xxh3 covers them either way). */
static int put_names(hid_t file, const char *const *names, int k) {
    size_t w = 1;
    for (int i = 0; i < k; i++)
        if (strlen(names[i]) + 1 > w) w = strlen(names[i]) + 1;
    char *buf = calloc((size_t)k, w);
    if (!buf) return 0;
    for (int i = 0; i < k; i++) memcpy(buf + (size_t)i * w, names[i], strlen(names[i]));
    hsize_t n = (hsize_t)k;
    hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate_simple(1, &n, NULL), a = H5I_INVALID_HID;
    int ok = t >= 0 && s >= 0 && H5Tset_size(t, w) >= 0 &&
             H5Tset_strpad(t, H5T_STR_NULLTERM) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0 &&
             (a = H5Acreate2(file, "label_names", t, s, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
             H5Awrite(a, t, buf) >= 0;
    if (a >= 0) H5Aclose(a);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    free(buf);
    return ok;
}

static rt_status check_meta(const char *path, const rt_corpus_label_meta *m) {
    if (!m || m->num_labels < 1 || m->num_labels > LABELS_MAX || !m->label_names)
        return rt_error(RT_ERR_ARG, "%s: a labeled corpus needs 1..%d label names (got %d)", path,
                        LABELS_MAX, m ? m->num_labels : 0);
    for (int i = 0; i < m->num_labels; i++)
        if (!m->label_names[i])
            return rt_error(RT_ERR_ARG, "%s: label name %d is missing", path, i);
    if (!m->label_order || (strcmp(m->label_order, "given") && strcmp(m->label_order, "sorted") &&
                            strcmp(m->label_order, "ids")))
        return rt_error(RT_ERR_ARG, "%s: label order '%s' is not given, sorted or ids", path,
                        m->label_order ? m->label_order : "(null)");
    if (m->max_length < 1)
        return rt_error(RT_ERR_ARG, "%s: max_length %d must be >= 1", path, m->max_length);
    if (!m->truncation || (strcmp(m->truncation, "right") && strcmp(m->truncation, "left")))
        return rt_error(RT_ERR_ARG, "%s: truncation '%s' is not right or left", path,
                        m->truncation ? m->truncation : "(null)");
    return RT_OK;
}

rt_status rt_corpus_wlabels_create(rt_corpus_wlabels **out, hid_t file, const hid_t grp[2],
                                   const char *path, const rt_corpus_label_meta *m, size_t chunk,
                                   rt_corpus_info *in) {
    *out = NULL;
    RT_CALL(check_meta(path, m));
    int k = m->num_labels;
    rt_corpus_wlabels *l = calloc(1, sizeof *l);
    in->label_names = calloc((size_t)k, sizeof *in->label_names);
    if (!l || !in->label_names) {
        free(l);
        return rt_error(RT_ERR_MEMORY, "corpus writer: out of memory for %d labels", k);
    }
    in->num_labels = k;
    for (int i = 0; i < k; i++)
        if (!(in->label_names[i] = strdup(m->label_names[i]))) {
            free(l);
            return rt_error(RT_ERR_MEMORY, "corpus writer: out of memory for %d labels", k);
        }
    snprintf(in->label_order, sizeof in->label_order, "%s", m->label_order);
    snprintf(in->truncation, sizeof in->truncation, "%s", m->truncation);
    in->max_length = m->max_length;
    l->k_labels = k;
    l->chunk = chunk;
    l->d[0] = l->d[1] = H5I_INVALID_HID;
    for (int s = 0; s < 2; s++) {
        l->buf[s] = malloc(chunk * sizeof *l->buf[s]);
        l->counts[s] = calloc((size_t)k, sizeof *l->counts[s]);
        if (!l->buf[s] || !l->counts[s]) {
            rt_corpus_wlabels_free(&l);
            return rt_error(RT_ERR_MEMORY, "corpus writer: out of memory");
        }
    }
    int ok = rt_h5_put_i32(file, "num_labels", k) &&
             put_names(file, (const char *const *)in->label_names, k) &&
             rt_h5_put_fixed_str(file, "label_order", m->label_order) &&
             rt_h5_put_i32(file, "max_length", m->max_length) &&
             rt_h5_put_fixed_str(file, "truncation", m->truncation);
    for (int s = 0; s < 2 && ok; s++)
        ok = (l->d[s] = make_1d(grp[s], "labels", H5T_STD_I32LE, chunk, 0)) >= 0;
    if (!ok) {
        rt_corpus_wlabels_free(&l);
        return rt_h5_fail("cannot lay out the labels in %s", path);
    }
    *out = l;
    return RT_OK;
}

static rt_status flush(rt_corpus_wlabels *l, int k, const char *path) {
    if (l->len[k] == 0) return RT_OK;
    hsize_t start = l->done[k], count = l->len[k], size = start + count;
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    int ok = H5Dset_extent(l->d[k], &size) >= 0 && (fs = H5Dget_space(l->d[k])) >= 0 &&
             (ms = H5Screate_simple(1, &count, NULL)) >= 0 &&
             H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
             H5Dwrite(l->d[k], H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, l->buf[k]) >= 0;
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (!ok) return rt_h5_fail("%s: cannot write /%s/labels", path, split_names[k]);
    l->done[k] += l->len[k];
    l->len[k] = 0;
    return RT_OK;
}

rt_status rt_corpus_wlabels_add(rt_corpus_wlabels *l, int k, int32_t label, const char *path) {
    if (label < 0 || label >= l->k_labels)
        return rt_error(RT_ERR_ARG, "%s: label %d outside [0, %d)", path, label, l->k_labels);
    l->buf[k][l->len[k]++] = label;
    l->counts[k][label]++;
    return l->len[k] == l->chunk ? flush(l, k, path) : RT_OK;
}

rt_status rt_corpus_wlabels_commit(rt_corpus_wlabels *l, hid_t file, const hid_t grp[2],
                                   const char *path, const rt_corpus_counts *counts,
                                   rt_corpus_info *in) {
    rt_status st = RT_OK;
    size_t k = (size_t)l->k_labels, ch = k < 65536 ? k : 65536;
    for (int s = 0; s < 2 && st == RT_OK; s++) {
        st = flush(l, s, path);
        if (st != RT_OK) break;
        hid_t d = make_1d(grp[s], "label_counts", H5T_STD_I64LE, ch, k);
        if (d < 0 ||
            H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, l->counts[s]) < 0)
            st = rt_h5_fail("%s: cannot write /%s/label_counts", path, split_names[s]);
        if (d >= 0 && H5Dclose(d) < 0 && st == RT_OK)
            st = rt_h5_fail("%s: cannot close /%s/label_counts", path, split_names[s]);
        in->label_counts[s] = l->counts[s]; /* moved to info */
        l->counts[s] = NULL;
    }
    in->n_truncated = counts->n_truncated;
    in->n_skipped_bad_label = counts->n_skipped_bad_label;
    if (st == RT_OK &&
        !(rt_h5_put_i64(file, "n_truncated", (int64_t)counts->n_truncated) &&
          rt_h5_put_i64(file, "n_skipped_bad_label", (int64_t)counts->n_skipped_bad_label)))
        st = rt_h5_fail("%s: cannot write the label count attributes", path);
    for (int s = 0; s < 2; s++)
        if (l->d[s] >= 0 && H5Dclose(l->d[s]) < 0 && st == RT_OK)
            st = rt_h5_fail("%s: cannot close /%s/labels", path, split_names[s]);
    l->d[0] = l->d[1] = H5I_INVALID_HID;
    return st;
}

/* ---- reader ------------------------------------------------------------------------------- */

struct rt_corpus_rlabels {
    hid_t d[2]; /* /<split>/labels */
};

void rt_corpus_rlabels_close(rt_corpus_rlabels **lp) {
    rt_corpus_rlabels *l = *lp;
    if (!l) return;
    rt_h5_close(&l->d[0], H5Dclose);
    rt_h5_close(&l->d[1], H5Dclose);
    free(l);
    *lp = NULL;
}

/* An HDF5 failure while reading /split/what[a, b): the file changing first, then a checksum. */
static rt_status read_fail(const char *path, const rt_corpus_file_id *fid, int k, const char *what,
                           uint64_t a, uint64_t b) {
    rt_status st = fid ? rt_corpus_file_check(path, fid) : RT_OK;
    int sum = st == RT_OK ? rt_h5_checksum_failure() : 0;
    if (st != RT_OK || sum) H5Eclear2(H5E_DEFAULT);
    if (st != RT_OK) return st;
    if (sum)
        return rt_error(
            RT_ERR_HDF5, "%s: checksum failure (%s) in dataset /%s/%s, elements [%llu, %llu): %s",
            path, sum == RT_H5_DATA_CHECKSUM ? "fletcher32" : "HDF5 metadata", split_names[k], what,
            (unsigned long long)a, (unsigned long long)b, rebuild);
    return rt_h5_fail("%s: cannot read /%s/%s[%llu, %llu)", path, split_names[k], what,
                      (unsigned long long)a, (unsigned long long)b);
}

rt_status rt_corpus_read_1d(hid_t d, hid_t mtype, const char *path, const rt_corpus_file_id *fid,
                            int k, const char *what, uint64_t start, size_t count, void *dst) {
    hsize_t s0 = start, n = count;
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &n, NULL), err = H5I_INVALID_HID;
    int ok = fs >= 0 && ms >= 0 &&
             H5Sselect_hyperslab(fs, H5S_SELECT_SET, &s0, NULL, &n, NULL) >= 0 &&
             H5Dread(d, mtype, ms, fs, H5P_DEFAULT, dst) >= 0;
    if (!ok) err = H5Eget_current_stack();
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (err >= 0) H5Eset_current_stack(err);
    if (!ok) return read_fail(path, fid, k, what, start, start + count);
    return fid ? rt_corpus_file_check(path, fid) : RT_OK;
}

rt_status rt_corpus_rlabels_read(rt_corpus_rlabels *l, const char *path,
                                 const rt_corpus_file_id *fid, int k, uint64_t start, size_t count,
                                 int32_t *dst) {
    return rt_corpus_read_1d(l->d[k], H5T_NATIVE_INT32, path, fid, k, "labels", start, count, dst);
}

/* The attribute name of file as a scalar integer (RT_ERR_FORMAT naming it when absent or not). */
static rt_status get_int(hid_t file, const char *path, const char *name, int64_t lo, int64_t hi,
                         int64_t *v) {
    htri_t there = H5Aexists(file, name);
    if (there <= 0)
        return there < 0 ? rt_h5_fail("%s: cannot look up attribute '%s'", path, name)
                         : rt_error(RT_ERR_FORMAT, "%s: missing attribute '%s' (kind labeled)",
                                    path, name);
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID, s = a >= 0 ? H5Aget_space(a) : -1;
    int ok = t >= 0 && s >= 0 && H5Tget_class(t) == H5T_INTEGER &&
             H5Sget_simple_extent_npoints(s) == 1 && H5Aread(a, H5T_NATIVE_INT64, v) >= 0;
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (a >= 0) H5Aclose(a);
    if (!ok) {
        H5Eclear2(H5E_DEFAULT);
        return rt_error(RT_ERR_FORMAT, "%s: attribute '%s' is not an integer", path, name);
    }
    if (*v < lo || *v > hi)
        return rt_error(RT_ERR_FORMAT, "%s: attribute '%s' is %lld, expected %lld..%lld", path,
                        name, (long long)*v, (long long)lo, (long long)hi);
    return RT_OK;
}

/* A string attribute (1 element: *out, n == 0) or K of them (n == K: into names[]), fixed-length
   strings only (what the writer writes). */
static rt_status get_strs(hid_t file, const char *path, const char *name, size_t n, char *out,
                          size_t out_size, char **names) {
    htri_t there = H5Aexists(file, name);
    if (there <= 0)
        return there < 0 ? rt_h5_fail("%s: cannot look up attribute '%s'", path, name)
                         : rt_error(RT_ERR_FORMAT, "%s: missing attribute '%s' (kind labeled)",
                                    path, name);
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID, s = a >= 0 ? H5Aget_space(a) : -1;
    size_t w = t >= 0 ? H5Tget_size(t) : 0, want = n ? n : 1;
    int ok = t >= 0 && s >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 &&
             w > 0 && w < ((size_t)1 << 20) && H5Sget_simple_extent_npoints(s) == (hssize_t)want &&
             H5Sget_simple_extent_ndims(s) == (n ? 1 : 0);
    char *buf = ok ? calloc(want, w + 1) : NULL;
    rt_status st = RT_OK;
    if (ok && !buf) st = rt_error(RT_ERR_MEMORY, "%s: out of memory reading '%s'", path, name);
    if (buf && H5Aread(a, t, buf) < 0) st = rt_h5_fail("%s: cannot read '%s'", path, name);
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (a >= 0) H5Aclose(a);
    if (!ok) {
        H5Eclear2(H5E_DEFAULT);
        return rt_error(RT_ERR_FORMAT, "%s: attribute '%s' is not %s", path, name,
                        n ? "an array of num_labels fixed-length strings" : "a string");
    }
    for (size_t i = 0; i < want && st == RT_OK; i++) {
        char *v = strndup(buf + i * w, w);
        if (!v) {
            st = rt_error(RT_ERR_MEMORY, "%s: out of memory reading '%s'", path, name);
        } else if (n) {
            names[i] = v;
        } else {
            snprintf(out, out_size, "%s", v);
            free(v);
        }
    }
    free(buf);
    return st;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The root label attributes into in. */
static rt_status read_attrs(hid_t file, const char *path, rt_corpus_info *in) {
    int64_t v;
    RT_CALL(get_int(file, path, "num_labels", 1, LABELS_MAX, &v));
    in->label_names = calloc((size_t)v, sizeof *in->label_names);
    if (!in->label_names) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    in->num_labels = (int)v;
    RT_CALL(get_strs(file, path, "label_names", (size_t)v, NULL, 0, in->label_names));
    char **sorted = malloc((size_t)v * sizeof *sorted);
    if (!sorted) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    memcpy(sorted, in->label_names, (size_t)v * sizeof *sorted);
    qsort(sorted, (size_t)v, sizeof *sorted, cmp_str);
    for (int64_t i = 1; i < v; i++)
        if (!strcmp(sorted[i - 1], sorted[i])) {
            rt_error(RT_ERR_FORMAT, "%s: attribute 'label_names' holds '%.200s' twice", path,
                     sorted[i]);
            free(sorted);
            return RT_ERR_FORMAT;
        }
    free(sorted);
    RT_CALL(get_strs(file, path, "label_order", 0, in->label_order, sizeof in->label_order, NULL));
    if (strcmp(in->label_order, "given") && strcmp(in->label_order, "sorted") &&
        strcmp(in->label_order, "ids"))
        return rt_error(RT_ERR_FORMAT,
                        "%s: attribute 'label_order' is '%s', expected given, "
                        "sorted or ids",
                        path, in->label_order);
    RT_CALL(get_strs(file, path, "truncation", 0, in->truncation, sizeof in->truncation, NULL));
    if (strcmp(in->truncation, "right") && strcmp(in->truncation, "left"))
        return rt_error(RT_ERR_FORMAT,
                        "%s: attribute 'truncation' is '%s', expected right or "
                        "left",
                        path, in->truncation);
    RT_CALL(get_int(file, path, "max_length", 1, INT32_MAX, &v));
    in->max_length = (int)v;
    RT_CALL(get_int(file, path, "n_truncated", 0, (int64_t)in->n_documents, &v));
    in->n_truncated = (uint64_t)v;
    RT_CALL(get_int(file, path, "n_skipped_bad_label", 0, INT64_MAX, &v));
    in->n_skipped_bad_label = (uint64_t)v;
    return RT_OK;
}

/* Opens /split k/name and checks it is a 1-D array of signed integers of elem bytes and len
   elements. */
static rt_status open_1d(hid_t file, const char *path, int k, const char *name, size_t elem,
                         uint64_t len, hid_t *d) {
    char full[64];
    snprintf(full, sizeof full, "/%s/%s", split_names[k], name);
    htri_t there = H5Lexists(file, full, H5P_DEFAULT);
    if (there < 0) return rt_h5_fail("%s: cannot look up dataset %s", path, full);
    if (there == 0)
        return rt_error(RT_ERR_FORMAT, "%s: missing dataset %s (kind labeled)", path, full);
    *d = H5Dopen2(file, full, H5P_DEFAULT);
    if (*d < 0) {
        int sum = rt_h5_checksum_failure();
        if (sum) {
            H5Eclear2(H5E_DEFAULT);
            return rt_error(RT_ERR_HDF5,
                            "%s: cannot open dataset %s: HDF5 metadata checksum "
                            "failure: %s",
                            path, full, rebuild);
        }
        return rt_h5_fail("%s: cannot open dataset %s", path, full);
    }
    hid_t t = H5Dget_type(*d), s = H5Dget_space(*d);
    hsize_t dims = 0;
    int ok = t >= 0 && s >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Tget_sign(t) == H5T_SGN_2 &&
             H5Tget_size(t) == elem && H5Sget_simple_extent_ndims(s) == 1 &&
             H5Sget_simple_extent_dims(s, &dims, NULL) == 1;
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    if (!ok)
        return rt_error(RT_ERR_FORMAT, "%s: dataset %s is not a 1-D array of int%zu", path, full,
                        8 * elem);
    if (dims != len)
        return rt_error(RT_ERR_FORMAT, "%s: dataset %s has %llu entries, expected %llu", path, full,
                        (unsigned long long)dims, (unsigned long long)len);
    return RT_OK;
}

/* One pass over split k: labels in range and counted, document lengths within max_length. */
static rt_status scan_split(rt_corpus_rlabels *l, const char *path, const rt_corpus_file_id *fid,
                            rt_corpus_info *in, hid_t offsets, int k, uint64_t *hist) {
    uint64_t n = in->n_docs[k];
    int32_t *lab = malloc(SCAN * sizeof *lab);
    uint64_t *off = malloc((SCAN + 1) * sizeof *off);
    rt_status st = lab && off ? RT_OK : rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    for (uint64_t at = 0; at < n && st == RT_OK; at += SCAN) {
        size_t m = n - at < SCAN ? (size_t)(n - at) : SCAN;
        st = rt_corpus_read_1d(l->d[k], H5T_NATIVE_INT32, path, fid, k, "labels", at, m, lab);
        if (st == RT_OK)
            st = rt_corpus_read_1d(offsets, H5T_NATIVE_UINT64, path, fid, k, "doc_offsets", at,
                                   m + 1, off);
        for (size_t i = 0; i < m && st == RT_OK; i++) {
            if (lab[i] < 0 || lab[i] >= in->num_labels)
                st = rt_error(RT_ERR_FORMAT,
                              "%s: /%s/labels[%llu] is %d, outside [0, num_labels = %d): %s", path,
                              split_names[k], (unsigned long long)(at + i), lab[i], in->num_labels,
                              rebuild);
            else if (off[i + 1] <= off[i] || off[i + 1] - off[i] > (uint64_t)in->max_length)
                st = rt_error(RT_ERR_FORMAT,
                              "%s: /%s/doc_offsets gives document %llu %lld tokens, expected "
                              "1..max_length = %d: %s",
                              path, split_names[k], (unsigned long long)(at + i),
                              (long long)(off[i + 1] - off[i]), in->max_length, rebuild);
            else
                hist[lab[i]]++;
        }
    }
    free(lab);
    free(off);
    return st;
}

rt_status rt_corpus_rlabels_open(rt_corpus_rlabels **out, hid_t file, const char *path,
                                 rt_corpus_info *in, const hid_t offsets[2],
                                 const rt_corpus_file_id *fid) {
    *out = NULL;
    RT_CALL(read_attrs(file, path, in));
    rt_corpus_rlabels *l = calloc(1, sizeof *l);
    if (!l) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    l->d[0] = l->d[1] = H5I_INVALID_HID;
    size_t kk = (size_t)in->num_labels;
    uint64_t *hist = calloc(kk, sizeof *hist);
    rt_status st = hist ? RT_OK : rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    for (int k = 0; k < 2 && st == RT_OK; k++) {
        hid_t dc = H5I_INVALID_HID;
        in->label_counts[k] = calloc(kk, sizeof *in->label_counts[k]);
        if (!in->label_counts[k]) st = rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
        if (st == RT_OK) st = open_1d(file, path, k, "labels", 4, in->n_docs[k], &l->d[k]);
        if (st == RT_OK) st = open_1d(file, path, k, "label_counts", 8, kk, &dc);
        if (st == RT_OK)
            st = rt_corpus_read_1d(dc, H5T_NATIVE_UINT64, path, fid, k, "label_counts", 0, kk,
                                   in->label_counts[k]);
        rt_h5_close(&dc, H5Dclose);
        memset(hist, 0, kk * sizeof *hist);
        if (st == RT_OK) st = scan_split(l, path, fid, in, offsets[k], k, hist);
        for (size_t c = 0; c < kk && st == RT_OK; c++)
            if (hist[c] != in->label_counts[k][c])
                st = rt_error(RT_ERR_FORMAT,
                              "%s: /%s/label_counts[%zu] is %lld but /%s/labels holds label %zu "
                              "%llu times: %s",
                              path, split_names[k], c, (long long)in->label_counts[k][c],
                              split_names[k], c, (unsigned long long)hist[c], rebuild);
    }
    free(hist);
    if (st != RT_OK) {
        rt_corpus_rlabels_close(&l);
        return st;
    }
    *out = l;
    return RT_OK;
}
