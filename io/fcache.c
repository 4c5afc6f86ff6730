/* The HDF5 shards of a feature cache (io/fcache.h). */
#include "fcache.h"
#include "h5util.h"
#include "head_seqcls.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#define FC_FORMAT "ringtune-feature-cache"
#define FC_VERSION 1
static const char *const SPLIT[2] = {"train", "validation"};

rt_fcache_key rt_fcache_key_of(const rt_model *m, int T, uint64_t fp_train, uint64_t fp_val,
                               const uint64_t n[2]) {
    rt_fcache_key k;
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, m->ops->arch, strlen(m->ops->arch) + 1);
    XXH3_64bits_update(h, &m->hidden_size, sizeof m->hidden_size);
    const rt_tensor_table *tab = m->params;
    for (int i = 0; i < tab->n - m->head_tensors; i++) {
        const rt_tensor_info *ti = &tab->t[i];
        XXH3_64bits_update(h, ti->name, strlen(ti->name) + 1);
        XXH3_64bits_update(h, ti->shape, (size_t)ti->ndim * sizeof ti->shape[0]);
        XXH3_64bits_update(h, m->params_mem + ti->offset, ti->numel * sizeof(float));
    }
    k.model = XXH3_64bits_digest(h);
    uint64_t fp[2] = {fp_train, fp_val};
    k.corpus = XXH3_64bits(fp, sizeof fp);
    XXH3_64bits_reset(h);
    const char *kind = m->head ? m->head->kind : "";
    XXH3_64bits_update(h, kind, strlen(kind) + 1);
    XXH3_64bits_update(h, "last non-pad position", 22);
    int32_t v[2] = {rt_head_seqcls_pad(m), T};
    XXH3_64bits_update(h, v, sizeof v);
    XXH3_64bits_update(h, n, 2 * sizeof n[0]);
    k.pooling = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return k;
}

rt_status rt_fcache_corpus_hash(rt_corpus *c, uint64_t *out) {
    uint64_t fp = 0;
    RT_CALL(rt_corpus_fingerprint(c, &fp));
    enum { BLOCK = 1 << 16 };
    int32_t *tok = malloc(BLOCK * sizeof *tok);
    uint64_t *off = malloc(BLOCK * sizeof *off);
    XXH3_state_t *h = XXH3_createState();
    rt_status st = tok && off && h ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (h) XXH3_64bits_reset(h), XXH3_64bits_update(h, &fp, sizeof fp);
    for (int s = 0; s < 2 && st == RT_OK; s++) {
        uint64_t nt = rt_corpus_n_tokens(c, (rt_corpus_split)s);
        uint64_t nd = rt_corpus_n_docs(c, (rt_corpus_split)s) + 1;
        for (uint64_t i = 0; i < nt && st == RT_OK; i += BLOCK) {
            size_t k = nt - i < BLOCK ? (size_t)(nt - i) : BLOCK;
            st = rt_corpus_read_tokens(c, (rt_corpus_split)s, i, k, tok);
            if (st == RT_OK) XXH3_64bits_update(h, tok, k * sizeof *tok);
        }
        for (uint64_t i = 0; i < nd && st == RT_OK; i += BLOCK) {
            size_t k = nd - i < BLOCK ? (size_t)(nd - i) : BLOCK;
            st = rt_corpus_read_doc_offsets(c, (rt_corpus_split)s, i, k, off);
            if (st == RT_OK) XXH3_64bits_update(h, off, k * sizeof *off);
        }
    }
    if (st == RT_OK) *out = XXH3_64bits_digest(h);
    if (h) XXH3_freeState(h);
    free(tok);
    free(off);
    return st;
}

/* ---- writing ---------------------------------------------------------------------------- */

struct rt_fcache_part {
    char path[4096];
    hid_t file, dset[2];
    uint64_t lo[2], hi[2], next[2];
    int C;
    XXH3_state_t *h[2];
};

static void part_path(char *buf, size_t n, const char *dir, int part, int parts) {
    snprintf(buf, n, "%s/part-%05d-of-%05d.h5", dir, part, parts);
}

static int put_key(hid_t f, const rt_fcache_key *key, int C, int part, int parts) {
    return rt_h5_put_fixed_str(f, "format", FC_FORMAT) && rt_h5_put_i32(f, "version", FC_VERSION) &&
           rt_h5_put_attr(f, "key_model", H5T_STD_U64LE, H5T_NATIVE_UINT64, &key->model) &&
           rt_h5_put_attr(f, "key_corpus", H5T_STD_U64LE, H5T_NATIVE_UINT64, &key->corpus) &&
           rt_h5_put_attr(f, "key_pooling", H5T_STD_U64LE, H5T_NATIVE_UINT64, &key->pooling) &&
           rt_h5_put_i32(f, "hidden_size", C) && rt_h5_put_i32(f, "part", part) &&
           rt_h5_put_i32(f, "parts", parts);
}

/* /<split>/features (hi - lo, C) with its range attributes. */
static hid_t make_split(rt_fcache_part *w, int s, uint64_t n) {
    hid_t g = H5Gcreate2(w->file, SPLIT[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), d = -1;
    hsize_t dims[2] = {w->hi[s] - w->lo[s], (hsize_t)w->C};
    hid_t sp = g >= 0 ? H5Screate_simple(2, dims, NULL) : -1;
    if (sp >= 0)
        d = H5Dcreate2(g, "features", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = d >= 0 && rt_h5_put_i64(d, "lo", (int64_t)w->lo[s]) &&
             rt_h5_put_i64(d, "hi", (int64_t)w->hi[s]) && rt_h5_put_i64(d, "n", (int64_t)n);
    if (sp >= 0) H5Sclose(sp);
    if (g >= 0) H5Gclose(g);
    if (!ok && d >= 0) H5Dclose(d);
    return ok ? d : -1;
}

static void part_free(rt_fcache_part *w) {
    for (int s = 0; s < 2; s++) {
        rt_h5_close(&w->dset[s], H5Dclose);
        if (w->h[s]) XXH3_freeState(w->h[s]);
    }
    rt_h5_close(&w->file, H5Fclose);
    free(w);
}

rt_status rt_fcache_part_create(const char *dir, int part, int parts, const rt_fcache_key *key,
                                int C, const uint64_t n[2], const uint64_t lo[2],
                                const uint64_t hi[2], rt_fcache_part **out) {
    *out = NULL;
    rt_fcache_part *w = calloc(1, sizeof *w);
    if (!w) return rt_error(RT_ERR_MEMORY, "out of memory");
    w->file = w->dset[0] = w->dset[1] = H5I_INVALID_HID;
    w->C = C;
    part_path(w->path, sizeof w->path, dir, part, parts);
    rt_status st = RT_OK;
    for (int s = 0; s < 2; s++) {
        w->lo[s] = w->next[s] = lo[s];
        w->hi[s] = hi[s];
        if (!(w->h[s] = XXH3_createState()))
            st = rt_error(RT_ERR_MEMORY, "out of memory");
        else
            XXH3_64bits_reset(w->h[s]);
    }
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (st == RT_OK && (fapl < 0 || !rt_h5_file_access(fapl) || !rt_h5_checksummed_format(fapl)))
        st = rt_h5_fail("%s: cannot set up file access", w->path);
    if (st == RT_OK && (w->file = H5Fcreate(w->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        st = rt_h5_fail("%s: cannot create the feature cache part", w->path);
    if (st == RT_OK && !put_key(w->file, key, C, part, parts))
        st = rt_h5_fail("%s: cannot write its attributes", w->path);
    for (int s = 0; s < 2 && st == RT_OK; s++)
        if ((w->dset[s] = make_split(w, s, n[s])) < 0)
            st = rt_h5_fail("%s: cannot create /%s/features", w->path, SPLIT[s]);
    if (fapl >= 0) H5Pclose(fapl);
    rt_h5_quiet_off(&q);
    if (st != RT_OK) {
        part_free(w);
        return st;
    }
    *out = w;
    return RT_OK;
}

/* Rows [r0, r0 + nr) of dataset d (row numbers local to it): written from buf, or read into it. */
static herr_t rows_io(hid_t d, int C, uint64_t r0, uint64_t nr, float *buf, int write) {
    hsize_t start[2] = {r0, 0}, count[2] = {nr, (hsize_t)C};
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(2, count, NULL);
    herr_t e =
        fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (e >= 0)
        e = write ? H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf)
                  : H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return e;
}

rt_status rt_fcache_part_write(rt_fcache_part *w, int s, uint64_t row, uint64_t nrows,
                               const float *rows) {
    if (row != w->next[s] || row + nrows > w->hi[s])
        return rt_error(RT_ERR_ARG,
                        "%s: rows [%" PRIu64 ", %" PRIu64 ") of %s out of order (next %" PRIu64
                        ", end %" PRIu64 ")",
                        w->path, row, row + nrows, SPLIT[s], w->next[s], w->hi[s]);
    if (!nrows) return RT_OK;
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    herr_t e = rows_io(w->dset[s], w->C, row - w->lo[s], nrows, (float *)rows, 1);
    rt_h5_quiet_off(&q);
    if (e < 0)
        return rt_h5_fail("%s: cannot write rows [%" PRIu64 ", %" PRIu64 ") of /%s/features",
                          w->path, row, row + nrows, SPLIT[s]);
    XXH3_64bits_update(w->h[s], rows, (size_t)nrows * (size_t)w->C * sizeof(float));
    w->next[s] = row + nrows;
    return RT_OK;
}

static rt_status fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    int bad = fd < 0 || fsync(fd) != 0;
    int err = errno;
    if (fd >= 0) close(fd);
    return bad ? rt_error(RT_ERR_IO, "%s: cannot fsync: %s", path, strerror(err)) : RT_OK;
}

rt_status rt_fcache_part_close(rt_fcache_part **wp) {
    rt_fcache_part *w = *wp;
    *wp = NULL;
    if (!w) return RT_OK;
    rt_status st = RT_OK;
    for (int s = 0; s < 2 && st == RT_OK; s++) {
        if (w->next[s] != w->hi[s])
            st = rt_error(RT_ERR_ARG, "%s: /%s/features has rows up to %" PRIu64 " of %" PRIu64,
                          w->path, SPLIT[s], w->next[s], w->hi[s]);
        uint64_t x = XXH3_64bits_digest(w->h[s]);
        rt_h5quiet q;
        rt_h5_quiet_on(&q);
        if (st == RT_OK &&
            !rt_h5_put_attr(w->dset[s], "xxh3", H5T_STD_U64LE, H5T_NATIVE_UINT64, &x))
            st = rt_h5_fail("%s: cannot write /%s/features's checksum", w->path, SPLIT[s]);
        rt_h5_quiet_off(&q);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", w->path);
    for (int s = 0; s < 2; s++) rt_h5_close(&w->dset[s], H5Dclose);
    if (st == RT_OK && H5Fclose(w->file) < 0) st = rt_h5_fail("%s: cannot close", path);
    w->file = H5I_INVALID_HID;
    part_free(w);
    if (st == RT_OK) st = fsync_path(path);
    return st;
}

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct {
    hid_t file, dset[2];
    uint64_t lo[2], hi[2];
} part_r;

struct rt_fcache {
    int parts, C;
    part_r *p; /* (parts), in row order: part k holds rows [lo, hi) of each split */
    char dir[4096];
};

void rt_fcache_close(rt_fcache **cp) {
    rt_fcache *c = *cp;
    if (!c) return;
    for (int k = 0; k < c->parts; k++) {
        for (int s = 0; s < 2; s++) rt_h5_close(&c->p[k].dset[s], H5Dclose);
        rt_h5_close(&c->p[k].file, H5Fclose);
    }
    free(c->p);
    free(c);
    *cp = NULL;
}

static int get_attr(hid_t obj, const char *name, hid_t mt, void *v) {
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), sp = a >= 0 ? H5Aget_space(a) : -1;
    int ok = sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, mt, v) >= 0;
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    return ok;
}

/* why <- the first field of part k's root that differs from the run's; "" when they agree. */
static void check_root(hid_t f, const char *path, const rt_fcache_key *key, int C, int k,
                       int *parts, char *why, size_t wl) {
    char fmt[64] = "";
    int32_t ver = 0, hc = 0, part = -1, np = 0;
    uint64_t km = 0, kc = 0, kp = 0;
    hid_t a = H5Aexists(f, "format") > 0 ? H5Aopen(f, "format", H5P_DEFAULT) : -1;
    hid_t t = a >= 0 ? H5Aget_type(a) : -1;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tget_size(t) < sizeof fmt) {
        hid_t mt = H5Tcopy(t);
        H5Aread(a, mt, fmt);
        H5Tclose(mt);
    }
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (strcmp(fmt, FC_FORMAT) != 0)
        snprintf(why, wl, "%s: not a ringtune feature cache", path);
    else if (!get_attr(f, "version", H5T_NATIVE_INT32, &ver) || ver != FC_VERSION)
        snprintf(why, wl, "%s: format version %d, this build writes %d", path, ver, FC_VERSION);
    else if (!get_attr(f, "key_model", H5T_NATIVE_UINT64, &km) || km != key->model)
        snprintf(why, wl, "the model's frozen weights differ from those it was computed with");
    else if (!get_attr(f, "key_corpus", H5T_NATIVE_UINT64, &kc) || kc != key->corpus)
        snprintf(why, wl, "the corpus differs from the one it was computed on");
    else if (!get_attr(f, "key_pooling", H5T_NATIVE_UINT64, &kp) || kp != key->pooling)
        snprintf(why, wl, "the pooling (head, pad id, data.seq_len or split sizes) differs");
    else if (!get_attr(f, "hidden_size", H5T_NATIVE_INT32, &hc) || hc != C)
        snprintf(why, wl, "%s: hidden_size %d, the model has %d", path, hc, C);
    else if (!get_attr(f, "part", H5T_NATIVE_INT32, &part) || part != k ||
             !get_attr(f, "parts", H5T_NATIVE_INT32, &np) || np < 1 || (*parts && np != *parts))
        snprintf(why, wl, "%s: part %d of %d, expected part %d", path, part, np, k);
    else
        *parts = np;
}

/* Part k's split s: its range, checked against the tiling so far (*next) and the split size. */
static void check_split(part_r *p, int s, const char *path, uint64_t n, int C, uint64_t *next,
                        char *why, size_t wl) {
    int64_t lo = -1, hi = -1, nn = -1;
    hsize_t dims[2] = {0, 0};
    if (H5Lexists(p->file, SPLIT[s], H5P_DEFAULT) <= 0) {
        snprintf(why, wl, "%s: no /%s", path, SPLIT[s]);
        return;
    }
    char name[32];
    snprintf(name, sizeof name, "%s/features", SPLIT[s]);
    p->dset[s] = H5Dopen2(p->file, name, H5P_DEFAULT);
    hid_t sp = p->dset[s] >= 0 ? H5Dget_space(p->dset[s]) : -1;
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 2 &&
             H5Sget_simple_extent_dims(sp, dims, NULL) == 2 &&
             get_attr(p->dset[s], "lo", H5T_NATIVE_INT64, &lo) &&
             get_attr(p->dset[s], "hi", H5T_NATIVE_INT64, &hi) &&
             get_attr(p->dset[s], "n", H5T_NATIVE_INT64, &nn);
    if (sp >= 0) H5Sclose(sp);
    if (!ok || lo < 0 || hi < lo || (uint64_t)nn != n || (uint64_t)lo != *next ||
        (uint64_t)hi > n || dims[0] != (hsize_t)(hi - lo) || dims[1] != (hsize_t)C) {
        snprintf(why, wl,
                 "%s: /%s/features holds rows [%" PRId64 ", %" PRId64 ") of %" PRId64
                 ", expected rows from %" PRIu64 " of %" PRIu64 " x %d",
                 path, SPLIT[s], lo, hi, nn, *next, n, C);
        return;
    }
    p->lo[s] = (uint64_t)lo;
    p->hi[s] = (uint64_t)hi;
    *next = (uint64_t)hi;
}

/* Reads part p's split s back and compares its checksum. */
static rt_status verify_split(part_r *p, int s, int C, const char *path, char *why, size_t wl) {
    uint64_t want = 0, n = p->hi[s] - p->lo[s], step = 1024;
    if (!get_attr(p->dset[s], "xxh3", H5T_NATIVE_UINT64, &want)) {
        snprintf(why, wl, "%s: /%s/features has no checksum (an interrupted write)", path,
                 SPLIT[s]);
        return RT_OK;
    }
    float *buf = malloc((size_t)step * C * sizeof(float));
    XXH3_state_t *h = XXH3_createState();
    rt_status st = buf && h ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (h) XXH3_64bits_reset(h);
    for (uint64_t r = 0; st == RT_OK && r < n && !why[0]; r += step) {
        uint64_t k = n - r < step ? n - r : step;
        if (rows_io(p->dset[s], C, r, k, buf, 0) < 0)
            snprintf(why, wl, "%s: cannot read /%s/features", path, SPLIT[s]);
        else
            XXH3_64bits_update(h, buf, (size_t)k * C * sizeof(float));
    }
    if (st == RT_OK && !why[0] && XXH3_64bits_digest(h) != want)
        snprintf(why, wl, "%s: /%s/features fails its checksum", path, SPLIT[s]);
    if (h) XXH3_freeState(h);
    free(buf);
    return st;
}

static rt_status open_part(rt_fcache *c, int k, const rt_fcache_key *key, const uint64_t n[2],
                           uint64_t next[2], int verify, char *why, size_t wl) {
    char path[4200];
    part_r *p = &c->p[k];
    p->file = p->dset[0] = p->dset[1] = H5I_INVALID_HID;
    part_path(path, sizeof path, c->dir, k, c->parts);
    if (access(path, R_OK) != 0) {
        snprintf(why, wl, "%s: %s", path, strerror(errno));
        return RT_OK;
    }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0 && rt_h5_file_access(fapl)) p->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (p->file < 0) {
        snprintf(why, wl, "%s: not a readable HDF5 file", path);
        return RT_OK;
    }
    int parts = c->parts;
    check_root(p->file, path, key, c->C, k, &parts, why, wl);
    for (int s = 0; s < 2 && !why[0]; s++) check_split(p, s, path, n[s], c->C, &next[s], why, wl);
    rt_status st = RT_OK;
    for (int s = 0; s < 2 && verify && !why[0] && st == RT_OK; s++)
        st = verify_split(p, s, c->C, path, why, wl);
    return st;
}

/* The part count, from part 0's name: DIR/part-00000-of-<P>.h5. 0 when there is none. */
static int find_parts(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int parts = 0;
    for (struct dirent *e; (e = readdir(d));) {
        int k, p;
        char tail[8];
        if (sscanf(e->d_name, "part-%5d-of-%5d%7s", &k, &p, tail) == 3 && k == 0 && p > 0 &&
            strcmp(tail, ".h5") == 0)
            parts = p;
    }
    closedir(d);
    return parts;
}

rt_status rt_fcache_open(const char *dir, const rt_fcache_key *key, int C, const uint64_t n[2],
                         int verify_mod, int verify_rem, rt_fcache **out, char *why,
                         size_t whylen) {
    *out = NULL;
    why[0] = 0;
    int parts = find_parts(dir);
    if (parts == 0) {
        snprintf(why, whylen, "%s holds no feature cache", dir);
        return RT_OK;
    }
    rt_fcache *c = calloc(1, sizeof *c);
    if (c) c->p = calloc((size_t)parts, sizeof *c->p);
    if (!c || !c->p) {
        free(c);
        return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    c->parts = parts;
    c->C = C;
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    for (int k = 0; k < parts; k++) c->p[k].file = c->p[k].dset[0] = c->p[k].dset[1] = -1;
    uint64_t next[2] = {0, 0};
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = RT_OK;
    for (int k = 0; k < parts && st == RT_OK && !why[0]; k++)
        st = open_part(c, k, key, n, next, verify_mod > 0 && k % verify_mod == verify_rem, why,
                       whylen);
    for (int s = 0; s < 2 && st == RT_OK && !why[0]; s++)
        if (next[s] != n[s])
            snprintf(why, whylen, "%s: its parts hold %" PRIu64 " of the %" PRIu64 " %s rows", dir,
                     next[s], n[s], SPLIT[s]);
    H5Eclear2(H5E_DEFAULT);
    rt_h5_quiet_off(&q);
    if (st != RT_OK || why[0]) {
        rt_fcache_close(&c);
        return st;
    }
    *out = c;
    return RT_OK;
}

rt_status rt_fcache_read(rt_fcache *c, int s, const int32_t *rows, int nr, float *out) {
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = RT_OK;
    for (int r = 0; r < nr && st == RT_OK; r++) {
        int k;
        uint64_t i = (uint64_t)rows[r];
        /* the part holding row i: the last whose range starts at or before it (the parts tile
           the rows in order; an empty part starts where the next one does) */
        int a = 0, b = c->parts - 1;
        while (a < b) {
            int mid = (a + b + 1) / 2;
            if (c->p[mid].lo[s] <= i)
                a = mid;
            else
                b = mid - 1;
        }
        k = a;
        part_r *p = &c->p[k];
        if (rows[r] < 0 || i < p->lo[s] || i >= p->hi[s])
            st = rt_error(RT_ERR_ARG, "%s: %s row %d is not in the cache", c->dir, SPLIT[s],
                          rows[r]);
        else if (rows_io(p->dset[s], c->C, i - p->lo[s], 1, out + (size_t)r * c->C, 0) < 0)
            st =
                rt_h5_fail("%s: cannot read %s row %" PRIu64 " of part %d", c->dir, SPLIT[s], i, k);
    }
    rt_h5_quiet_off(&q);
    return st;
}

rt_status rt_fcache_remove(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? RT_OK : rt_error(RT_ERR_IO, "%s: %s", dir, strerror(errno));
    rt_status st = RT_OK;
    int pass;
    for (pass = 0; pass < 2 && st == RT_OK; pass++) { /* check every name, then remove */
        rewinddir(d);
        for (struct dirent *e; st == RT_OK && (e = readdir(d));) {
            int k, p;
            char tail[8], path[4400];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (sscanf(e->d_name, "part-%5d-of-%5d%7s", &k, &p, tail) != 3 || strcmp(tail, ".h5"))
                st = rt_error(RT_ERR_IO, "%s: holds %s, not a feature cache file: not removed", dir,
                              e->d_name);
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (st == RT_OK && pass == 1 && unlink(path) != 0)
                st = rt_error(RT_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        }
    }
    closedir(d);
    if (st == RT_OK && rmdir(dir) != 0)
        st = rt_error(RT_ERR_IO, "%s: cannot remove: %s", dir, strerror(errno));
    return st;
}
