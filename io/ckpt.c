/* Checkpoint files: shard I/O with checksummed pieces, the manifest envelope, and the directory
   operations of the commit protocol (io/ckpt.h, io/CHECKPOINT.md). */
#define _GNU_SOURCE /* renameat2 */
#include "ckpt.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <hdf5.h>
#include <xxhash.h>
#include "fsutil.h"
#include "h5util.h"

#define SHARD_FORMAT "ringtune-checkpoint-shard"

/* ---- pieces ------------------------------------------------------------------------------- */

size_t rt_ckpt_piece_bounds(const rt_tensor_table *tab, uint64_t lo, uint64_t hi,
                            uint64_t piece_elems, uint64_t *out, size_t cap) {
    size_t n = 0;
    uint64_t e = lo;
    int ti = 0;
    while (e < hi) {
        if (n < cap) out[n] = e;
        n++;
        uint64_t next = (e / piece_elems + 1) * piece_elems; /* next multiple */
        while (ti < tab->n && tab->t[ti].offset <= e) ti++;  /* first tensor starting after e */
        if (ti < tab->n && tab->t[ti].offset < next) next = tab->t[ti].offset;
        e = next < hi ? next : hi;
    }
    if (n < cap) out[n] = hi;
    return n + 1;
}

uint64_t rt_ckpt_hash(const float *v, size_t n) {
    return (uint64_t)XXH3_64bits(v, n * sizeof(float));
}

const char *rt_ckpt_tensor_at(const rt_tensor_table *tab, uint64_t e) {
    for (int i = 0; i < tab->n; i++)
        if (e >= tab->t[i].offset && e < tab->t[i].offset + tab->t[i].numel) return tab->t[i].name;
    return "?";
}

/* ---- shard files -------------------------------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

void rt_ckpt_shard_desc_free(Ringtune__Shard *sh) {
    if (!sh) return;
    for (size_t d = 0; d < sh->n_datasets; d++) {
        Ringtune__Dataset *ds = sh->datasets[d];
        if (!ds) continue;
        for (size_t p = 0; p < ds->n_pieces; p++) free(ds->pieces[p]);
        free(ds->pieces);
        free(ds->name);
        free(ds);
    }
    free(sh->datasets);
    if (sh->file != (char *)protobuf_c_empty_string) free(sh->file);
    ringtune__shard__init(sh);
    sh->file = NULL; /* not protobuf-c's static "" (a second free must be harmless) */
}

/* Fills a dataset descriptor with the pieces of [lo, hi) of data. */
static rt_status describe_dataset(const rt_tensor_table *tab, uint64_t lo, uint64_t hi,
                                  const char *name, const float *data, Ringtune__Dataset **out) {
    size_t nb = rt_ckpt_piece_bounds(tab, lo, hi, RT_CKPT_PIECE_ELEMS, NULL, 0);
    uint64_t *b = malloc(sizeof(uint64_t) * nb);
    Ringtune__Dataset *ds = calloc(1, sizeof *ds);
    if (ds) ringtune__dataset__init(ds);
    if (ds) ds->name = strdup(name);
    if (ds && nb > 1) ds->pieces = calloc(nb - 1, sizeof *ds->pieces);
    if (!b || !ds || !ds->name || (nb > 1 && !ds->pieces)) {
        free(b);
        if (ds) {
            free(ds->name);
            free(ds->pieces);
        }
        free(ds);
        return rt_error(RT_ERR_MEMORY, "out of memory describing checkpoint dataset %s", name);
    }
    rt_ckpt_piece_bounds(tab, lo, hi, RT_CKPT_PIECE_ELEMS, b, nb);
    *out = ds;
    for (size_t p = 0; p + 1 < nb; p++) {
        Ringtune__Piece *pc = malloc(sizeof *pc);
        if (!pc) {
            free(b);
            return rt_error(RT_ERR_MEMORY, "out of memory describing checkpoint dataset %s", name);
        }
        ringtune__piece__init(pc);
        pc->lo = b[p];
        pc->hi = b[p + 1];
        pc->xxh3 = rt_ckpt_hash(data + (b[p] - lo), (size_t)(b[p + 1] - b[p]));
        ds->pieces[ds->n_pieces++] = pc;
    }
    free(b);
    return RT_OK;
}

rt_status rt_ckpt_shard_write(const char *path, const rt_tensor_table *tab, int rank, int world,
                              int64_t step, uint64_t lo, uint64_t hi, const rt_ckpt_dataset *ds,
                              int nds, rt_ckpt_progress_fn progress, void *arg,
                              Ringtune__Shard *sh) {
    ringtune__shard__init(sh);
    sh->file = NULL;
    if (rt_fs_exists(path))
        return rt_error(RT_ERR_IO, "%s: checkpoint shard exists already (refusing to overwrite)",
                        path);
    /* refuse up front when the bytes cannot fit (a full disk or a file size limit): HDF5 copes
       badly with a write failing half-way (the file may stay open inside the library) */
    uint64_t need = (uint64_t)nds * (hi - lo) * sizeof(float) + ((uint64_t)1 << 20);
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = 0;
    struct statvfs vs;
    if (slash && statvfs(parent, &vs) == 0 && (uint64_t)vs.f_bavail * vs.f_frsize < need)
        return rt_error(RT_ERR_IO,
                        "%s: not enough space for the checkpoint shard: %llu bytes needed, %llu "
                        "available",
                        path, (unsigned long long)need,
                        (unsigned long long)((uint64_t)vs.f_bavail * vs.f_frsize));
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (uint64_t)rl.rlim_cur < need)
        return rt_error(RT_ERR_IO,
                        "%s: the file size limit (ulimit -f) of %llu bytes is below the "
                        "checkpoint shard's %llu",
                        path, (unsigned long long)rl.rlim_cur, (unsigned long long)need);
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    rt_status st = RT_OK;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file = H5I_INVALID_HID;
    /* the 1.8+ file format: superblock v2 and object headers v2 carry checksums, so a flipped
       byte in HDF5's own metadata is caught by HDF5 as the data pieces are by ours */
    if (fapl < 0 || !rt_h5_file_access(fapl) ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0 ||
        /* no aggregation slack: every byte outside the data belongs to checksummed metadata */
        H5Pset_meta_block_size(fapl, 0) < 0 || H5Pset_small_data_block_size(fapl, 0) < 0)
        st = rt_h5_fail("%s: cannot set up file access", path);
    if (st == RT_OK && (file = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, fapl)) < 0)
        st = rt_h5_fail("%s: cannot create checkpoint shard", path);
    if (st == RT_OK &&
        !(rt_h5_put_fixed_str(file, "format", SHARD_FORMAT) &&
          rt_h5_put_i32(file, "format_version", RT_CKPT_FORMAT_VERSION) &&
          rt_h5_put_i32(file, "rank", rank) && rt_h5_put_i32(file, "world_size", world) &&
          rt_h5_put_i64(file, "step", step) && rt_h5_put_i64(file, "lo", (int64_t)lo) &&
          rt_h5_put_i64(file, "hi", (int64_t)hi)))
        st = rt_h5_fail("%s: cannot write the shard attributes", path);
    hsize_t dims[1] = {hi - lo};
    for (int k = 0; k < nds && st == RT_OK; k++) {
        if (progress) progress(arg, k);
        hid_t space = H5Screate_simple(1, dims, NULL), dset = H5I_INVALID_HID;
        if (space >= 0)
            dset = H5Dcreate2(file, ds[k].name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT);
        if (dset < 0 || (hi > lo && H5Dwrite(dset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                             ds[k].data) < 0))
            st = rt_h5_fail("%s: cannot write dataset %s (%llu floats)", path, ds[k].name,
                            (unsigned long long)(hi - lo));
        rt_h5_close(&dset, H5Dclose);
        rt_h5_close(&space, H5Sclose);
    }
    if (st == RT_OK && progress) progress(arg, nds);
    if (file >= 0 && H5Fclose(file) < 0 && st == RT_OK)
        st = rt_h5_fail("%s: closing the shard failed", path);
    rt_h5_close(&fapl, H5Pclose);
    rt_h5_quiet_off(&q);
    /* start the writeback now and checksum the pieces from memory while the disk works, then
       wait for it with fsync (hashing after the fsync cost ~20% of a 1-rank save) */
    int fd = -1;
    if (st == RT_OK && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        st = rt_error(RT_ERR_IO, "%s: cannot reopen to fsync: %s", path, strerror(errno));
    if (st == RT_OK) sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); /* a hint; fsync decides */
    struct stat sb;
    if (st == RT_OK && fstat(fd, &sb) != 0)
        st = rt_error(RT_ERR_IO, "%s: stat failed: %s", path, strerror(errno));
    if (st == RT_OK) {
        sh->file = strdup(base_name(path));
        sh->rank = (uint32_t)rank;
        sh->lo = lo;
        sh->hi = hi;
        sh->file_bytes = (uint64_t)sb.st_size;
        sh->datasets = calloc((size_t)nds, sizeof *sh->datasets);
        if (!sh->file || !sh->datasets) st = rt_error(RT_ERR_MEMORY, "out of memory");
        for (int k = 0; k < nds && st == RT_OK; k++) {
            st = describe_dataset(tab, lo, hi, ds[k].name, ds[k].data, &sh->datasets[k]);
            if (sh->datasets[k]) sh->n_datasets = (size_t)k + 1;
        }
    }
    if (st == RT_OK && fsync(fd) != 0)
        st = rt_error(RT_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    if (st != RT_OK) {
        unlink(path);
        rt_ckpt_shard_desc_free(sh);
    }
    return st;
}

const Ringtune__Dataset *rt_ckpt_find_dataset(const Ringtune__Shard *sh, const char *name) {
    for (size_t d = 0; d < sh->n_datasets; d++)
        if (!strcmp(sh->datasets[d]->name, name)) return sh->datasets[d];
    return NULL;
}

rt_status rt_ckpt_shard_read(const char *dir, const Ringtune__Shard *sh, const char *name,
                             const rt_tensor_table *tab, uint64_t a, uint64_t b, float *dst,
                             float *scratch) {
    if (a >= b) return RT_OK;
    char *path = rt_fs_join(dir, sh->file);
    if (!path) return rt_error(RT_ERR_MEMORY, "out of memory");
    const Ringtune__Dataset *ds = rt_ckpt_find_dataset(sh, name);
    rt_status st = RT_OK;
    if (!ds)
        st = rt_error(RT_ERR_FORMAT, "%s: the manifest lists no dataset '%s' for this shard", path,
                      name);
    else if (a < sh->lo || b > sh->hi)
        st = rt_error(RT_ERR_INTERNAL, "%s: range [%llu, %llu) outside the shard", path,
                      (unsigned long long)a, (unsigned long long)b);
    struct stat sb;
    if (st == RT_OK && stat(path, &sb) != 0)
        st = rt_error(RT_ERR_IO, "%s: checkpoint shard is missing (rank %u's range [%llu, %llu))",
                      path, sh->rank, (unsigned long long)sh->lo, (unsigned long long)sh->hi);
    else if (st == RT_OK && (uint64_t)sb.st_size != sh->file_bytes)
        st = rt_error(RT_ERR_FORMAT,
                      "%s: checkpoint shard is %llu bytes, the manifest says %llu (truncated or "
                      "overwritten)",
                      path, (unsigned long long)sb.st_size, (unsigned long long)sh->file_bytes);
    if (st != RT_OK) {
        free(path);
        return st;
    }
    rt_h5quiet q;
    rt_h5_quiet_on(&q);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file = H5I_INVALID_HID, dset = H5I_INVALID_HID,
          fspace = H5I_INVALID_HID;
    if (fapl < 0 || !rt_h5_file_access(fapl) || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0)
        st = rt_h5_fail("%s: cannot set up file access", path);
    if (st == RT_OK && (file = H5Fopen(path, H5F_ACC_RDONLY, fapl)) < 0)
        st = rt_h5_fail("%s: cannot open checkpoint shard (truncated or not HDF5?)", path);
    if (st == RT_OK && (dset = H5Dopen2(file, name, H5P_DEFAULT)) < 0)
        st = rt_h5_fail("%s: cannot open dataset '%s'", path, name);
    if (st == RT_OK) {
        hsize_t dims[1] = {0};
        hid_t ft = H5Dget_type(dset);
        int ok = ft >= 0 && H5Tget_class(ft) == H5T_FLOAT && H5Tget_size(ft) == 4;
        if (ft >= 0) H5Tclose(ft);
        fspace = H5Dget_space(dset);
        if (!ok || fspace < 0 || H5Sget_simple_extent_ndims(fspace) != 1 ||
            H5Sget_simple_extent_dims(fspace, dims, NULL) < 0 || dims[0] != sh->hi - sh->lo)
            st = rt_error(RT_ERR_FORMAT,
                          "%s: dataset '%s' is not %llu float32 values as the manifest says", path,
                          name, (unsigned long long)(sh->hi - sh->lo));
    }
    for (size_t p = 0; p < ds->n_pieces && st == RT_OK; p++) {
        const Ringtune__Piece *pc = ds->pieces[p];
        if (pc->hi <= a || pc->lo >= b) continue;
        /* rt_ckpt_manifest_decode bounds pieces; a caller's hand-made descriptor may not */
        if (pc->lo < sh->lo || pc->hi > sh->hi || pc->hi <= pc->lo ||
            pc->hi - pc->lo > RT_CKPT_PIECE_ELEMS) {
            st = rt_error(RT_ERR_FORMAT,
                          "%s: dataset '%s' piece [%llu, %llu): expected 1 to %llu elements "
                          "inside the shard's [%llu, %llu)",
                          path, name, (unsigned long long)pc->lo, (unsigned long long)pc->hi,
                          (unsigned long long)RT_CKPT_PIECE_ELEMS, (unsigned long long)sh->lo,
                          (unsigned long long)sh->hi);
            break;
        }
        /* read the whole piece: straight into dst when it lies inside [a, b) */
        int direct = pc->lo >= a && pc->hi <= b;
        float *into = direct ? dst + (pc->lo - a) : scratch;
        hsize_t off[1] = {pc->lo - sh->lo}, cnt[1] = {pc->hi - pc->lo};
        hid_t mspace = H5Screate_simple(1, cnt, NULL);
        if (mspace < 0 || H5Sselect_hyperslab(fspace, H5S_SELECT_SET, off, NULL, cnt, NULL) < 0 ||
            H5Dread(dset, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, into) < 0)
            st = rt_h5_fail("%s: reading dataset '%s' elements [%llu, %llu) (tensor %s) failed",
                            path, name, (unsigned long long)pc->lo, (unsigned long long)pc->hi,
                            rt_ckpt_tensor_at(tab, pc->lo));
        rt_h5_close(&mspace, H5Sclose);
        if (st == RT_OK && rt_ckpt_hash(into, (size_t)(pc->hi - pc->lo)) != pc->xxh3)
            st = rt_error(RT_ERR_FORMAT,
                          "%s: checksum mismatch in dataset '%s', tensor %s, flat elements "
                          "[%llu, %llu): the shard is corrupt",
                          path, name, rt_ckpt_tensor_at(tab, pc->lo), (unsigned long long)pc->lo,
                          (unsigned long long)pc->hi);
        if (st == RT_OK && !direct) {
            uint64_t lo = pc->lo > a ? pc->lo : a, hi = pc->hi < b ? pc->hi : b;
            memcpy(dst + (lo - a), scratch + (lo - pc->lo), (size_t)(hi - lo) * sizeof(float));
        }
    }
    rt_h5_close(&fspace, H5Sclose);
    rt_h5_close(&dset, H5Dclose);
    rt_h5_close(&file, H5Fclose);
    rt_h5_close(&fapl, H5Pclose);
    rt_h5_quiet_off(&q);
    free(path);
    return st;
}

/* ---- manifest ----------------------------------------------------------------------------- */

rt_status rt_ckpt_manifest_write(const char *dir, const Ringtune__Manifest *m) {
    size_t n = ringtune__manifest__get_packed_size(m);
    uint8_t *inner = malloc(n ? n : 1);
    if (!inner) return rt_error(RT_ERR_MEMORY, "out of memory packing the manifest");
    ringtune__manifest__pack(m, inner);
    Ringtune__ManifestFile env = RINGTUNE__MANIFEST_FILE__INIT;
    env.magic = (char *)RT_CKPT_MAGIC;
    env.format_version = m->format_version;
    env.manifest.data = inner;
    env.manifest.len = n;
    env.manifest_xxh3 = (uint64_t)XXH3_64bits(inner, n);
    size_t en = ringtune__manifest_file__get_packed_size(&env);
    uint8_t *outer = malloc(en);
    rt_status st = RT_OK;
    if (!outer) st = rt_error(RT_ERR_MEMORY, "out of memory packing the manifest");
    char *path = st == RT_OK ? rt_fs_join(dir, RT_CKPT_MANIFEST) : NULL;
    if (st == RT_OK && !path) st = rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK) {
        ringtune__manifest_file__pack(&env, outer);
        st = rt_fs_write_file_atomic(path, outer, en);
    }
    free(path);
    free(outer);
    free(inner);
    return st;
}

rt_status rt_ckpt_manifest_read_bytes(const char *dir, uint8_t **buf, size_t *n) {
    char *path = rt_fs_join(dir, RT_CKPT_MANIFEST);
    if (!path) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status st = RT_OK;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        st = rt_error(RT_ERR_IO, "%s: not a checkpoint directory (%s)", dir,
                      errno ? strerror(errno) : "not a directory");
    else if (!rt_fs_exists(path))
        st = rt_error(RT_ERR_IO, "%s: no %s (not a checkpoint, or a save that never committed)",
                      dir, RT_CKPT_MANIFEST);
    if (st == RT_OK && stat(path, &sb) == 0 && (uint64_t)sb.st_size > RT_CKPT_MAX_MANIFEST_BYTES)
        st = rt_error(RT_ERR_FORMAT, "%s: %llu bytes, expected at most %zu for a manifest", path,
                      (unsigned long long)sb.st_size, RT_CKPT_MAX_MANIFEST_BYTES);
    if (st == RT_OK) st = rt_fs_read_file(path, (char **)buf, n);
    free(path);
    return st;
}

/* Every size, count and offset of a manifest is untrusted (a checksum only proves the bytes are
   the ones written, not that a writer wrote sense): the checks below bound each one before any
   reader sizes a buffer or an index from it. Errors name the file, the field and what was
   expected. */
#define BAD(...) rt_error(RT_ERR_FORMAT, __VA_ARGS__)
#define ULL(x) ((unsigned long long)(x))

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name that occurs twice among n names (sorted copy), or NULL. *oom on no memory. */
static const char *duplicate_name(const char **names, size_t n, int *oom) {
    *oom = 0;
    if (n < 2) return NULL;
    const char **v = malloc(n * sizeof *v);
    if (!v) {
        *oom = 1;
        return NULL;
    }
    memcpy(v, names, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_str_ptr);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (!strcmp(v[i - 1], v[i])) dup = v[i];
    free(v);
    return dup;
}

/* Tensors: names present and unique, shapes of at most RT_MAX_DIMS non-negative dimensions whose
   product is numel (without overflow), ranges in table order inside [0, total_params), first
   steps in [-1, step]. */
static rt_status check_tensors(const char *path, const Ringtune__Manifest *m) {
    uint64_t end = 0;
    const char **names = malloc(m->n_tensors * sizeof *names);
    if (!names) return rt_error(RT_ERR_MEMORY, "out of memory checking %s", path);
    rt_status st = RT_OK;
    for (size_t i = 0; i < m->n_tensors && st == RT_OK; i++) {
        const Ringtune__Tensor *t = m->tensors[i];
        const char *nm = t->name && t->name[0] ? t->name : NULL;
        uint64_t numel = 1;
        int shape_ok = t->n_shape <= RT_MAX_DIMS;
        for (size_t d = 0; shape_ok && d < t->n_shape; d++) {
            uint64_t k = (uint64_t)t->shape[d];
            shape_ok = t->shape[d] >= 0 && (k == 0 || numel <= m->total_params / k);
            if (shape_ok) numel *= k;
        }
        if (!nm || !shape_ok || t->numel != numel)
            st = BAD("%s: tensors[%zu] (%s): %zu dimensions, numel %llu: expected a name, at most "
                     "%d non-negative dimensions whose product is numel and at most total_params "
                     "%llu",
                     path, i, nm ? nm : "no name", t->n_shape, ULL(t->numel), RT_MAX_DIMS,
                     ULL(m->total_params));
        else if (t->offset < end || t->offset > m->total_params ||
                 numel > m->total_params - t->offset)
            st = BAD("%s: tensors[%zu] (%s): elements [%llu, +%llu), expected to start at or "
                     "after %llu (the previous tensor's end) and end by total_params %llu",
                     path, i, nm, ULL(t->offset), ULL(numel), ULL(end), ULL(m->total_params));
        else if (t->first_step < -1 || t->first_step > m->step)
            st = BAD("%s: tensors[%zu] (%s): first_step %lld, expected -1 (never trainable) or a "
                     "step in [0, %lld]",
                     path, i, nm, (long long)t->first_step, (long long)m->step);
        if (st == RT_OK) end = t->offset + numel;
        names[i] = nm;
    }
    int oom = 0;
    const char *dup = st == RT_OK ? duplicate_name(names, m->n_tensors, &oom) : NULL;
    free(names);
    if (oom) return rt_error(RT_ERR_MEMORY, "out of memory checking %s", path);
    if (dup) return BAD("%s: tensor '%s' is listed twice, expected unique names", path, dup);
    return st;
}

/* One shard's datasets: named, unique, each tiled in order by pieces of 1..piece_elems elements
   from the shard's lo to its hi; the datasets a load reads are present. */
static rt_status check_datasets(const char *path, const Ringtune__Manifest *m, size_t s) {
    const Ringtune__Shard *sh = m->shards[s];
    const char *names[8];
    if (sh->n_datasets > 8)
        return BAD("%s: shards[%zu] (%s): %zu datasets, expected at most 8", path, s, sh->file,
                   sh->n_datasets);
    for (size_t d = 0; d < sh->n_datasets; d++) {
        const Ringtune__Dataset *ds = sh->datasets[d];
        if (!ds->name || !ds->name[0] || strchr(ds->name, '/'))
            return BAD("%s: shards[%zu] (%s) datasets[%zu]: name '%s', expected a dataset name "
                       "without '/'",
                       path, s, sh->file, d, ds->name ? ds->name : "");
        names[d] = ds->name;
        uint64_t p = sh->lo;
        for (size_t k = 0; k < ds->n_pieces; k++) {
            const Ringtune__Piece *pc = ds->pieces[k];
            if (pc->lo != p || pc->hi <= p || pc->hi > sh->hi || pc->hi - p > m->piece_elems)
                return BAD("%s: shards[%zu] (%s) dataset %s pieces[%zu]: elements [%llu, %llu), "
                           "expected to start at %llu and hold 1 to piece_elems %llu elements "
                           "inside the shard's [%llu, %llu)",
                           path, s, sh->file, ds->name, k, ULL(pc->lo), ULL(pc->hi), ULL(p),
                           ULL(m->piece_elems), ULL(sh->lo), ULL(sh->hi));
            p = pc->hi;
        }
        if (p != sh->hi)
            return BAD("%s: shards[%zu] (%s) dataset %s: pieces end at %llu, the shard at %llu",
                       path, s, sh->file, ds->name, ULL(p), ULL(sh->hi));
    }
    int oom = 0;
    const char *dup = duplicate_name(names, sh->n_datasets, &oom);
    if (oom) return rt_error(RT_ERR_MEMORY, "out of memory checking %s", path);
    if (dup)
        return BAD("%s: shards[%zu] (%s): dataset '%s' is listed twice", path, s, sh->file, dup);
    const char *need[] = {"params", "adam_m", "adam_v", "best_params"};
    for (int k = 0; k < (m->state->has_best_params ? 4 : 3); k++)
        if (!rt_ckpt_find_dataset(sh, need[k]))
            return BAD("%s: shards[%zu] (%s) lists no dataset '%s'%s", path, s, sh->file, need[k],
                       k == 3 ? " (state.has_best_params is set)" : "");
    return RT_OK;
}

/* Shards: one per rank at save, in rank order, tiling [0, total_params) without gaps or overlaps,
   each a distinct plain file name of the checkpoint directory. */
static rt_status check_shards(const char *path, const Ringtune__Manifest *m) {
    uint64_t e = 0;
    const char **names = malloc(m->n_shards * sizeof *names);
    if (!names) return rt_error(RT_ERR_MEMORY, "out of memory checking %s", path);
    rt_status st = RT_OK;
    for (size_t s = 0; s < m->n_shards && st == RT_OK; s++) {
        const Ringtune__Shard *sh = m->shards[s];
        const char *f = sh->file ? sh->file : "";
        names[s] = f;
        if (!f[0] || strchr(f, '/') || !strcmp(f, ".") || !strcmp(f, ".."))
            st = BAD("%s: shards[%zu]: file '%s', expected a file name of the checkpoint "
                     "directory (no '/')",
                     path, s, f);
        else if (sh->rank != s)
            st = BAD("%s: shards[%zu] (%s): rank %u, expected %zu (one shard per rank, in rank "
                     "order)",
                     path, s, f, sh->rank, s);
        else if (sh->lo != e || sh->hi < sh->lo || sh->hi > m->total_params)
            st = BAD("%s: shards[%zu] (%s): range [%llu, %llu), expected to start at %llu and "
                     "end by total_params %llu (shards tile the buffer in rank order, no gaps or "
                     "overlaps)",
                     path, s, f, ULL(sh->lo), ULL(sh->hi), ULL(e), ULL(m->total_params));
        if (st == RT_OK) st = check_datasets(path, m, s);
        e = sh->hi;
    }
    int oom = 0;
    const char *dup = st == RT_OK ? duplicate_name(names, m->n_shards, &oom) : NULL;
    free(names);
    if (oom) return rt_error(RT_ERR_MEMORY, "out of memory checking %s", path);
    if (dup)
        return BAD("%s: shard file '%s' is listed twice, expected one file per rank", path, dup);
    if (st == RT_OK && e != m->total_params)
        st = BAD("%s: shards end at %llu, expected total_params %llu", path, ULL(e),
                 ULL(m->total_params));
    return st;
}

/* Checks what the rest of ringtune relies on; errors name the file and the field. */
static rt_status check_manifest(const char *path, const Ringtune__Manifest *m) {
    if (m->format_version != RT_CKPT_FORMAT_VERSION)
        return BAD("%s: inner format_version %u, envelope says %d", path, m->format_version,
                   RT_CKPT_FORMAT_VERSION);
    if (!m->model || !m->schedule || !m->sampler || !m->rng || !m->data || !m->state)
        return BAD("%s: a required section (model, schedule, sampler, rng, data, state) is "
                   "missing",
                   path);
    if (m->n_shards < 1 || m->n_tensors < 1 || m->world_size != m->n_shards)
        return BAD("%s: %zu shards for world_size %u, %zu tensors: expected one shard per rank "
                   "and at least one tensor",
                   path, m->n_shards, m->world_size, m->n_tensors);
    /* readers hold one piece in a buffer of RT_CKPT_PIECE_ELEMS floats */
    if (m->piece_elems < 1 || m->piece_elems > RT_CKPT_PIECE_ELEMS)
        return BAD("%s: piece_elems %llu, expected 1 to %llu (the largest checksummed piece "
                   "ringtune writes and reads)",
                   path, ULL(m->piece_elems), ULL(RT_CKPT_PIECE_ELEMS));
    if (m->total_params > RT_CKPT_MAX_PARAMS)
        return BAD("%s: total_params %llu, expected at most %llu", path, ULL(m->total_params),
                   ULL(RT_CKPT_MAX_PARAMS));
    if (m->step < 0) return BAD("%s: step %lld, expected >= 0", path, (long long)m->step);
    RT_CALL(check_tensors(path, m));
    return check_shards(path, m);
}
#undef BAD
#undef ULL

rt_status rt_ckpt_manifest_decode(const char *dir, const uint8_t *buf, size_t n,
                                  Ringtune__Manifest **out) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, RT_CKPT_MANIFEST);
    Ringtune__ManifestFile *env = ringtune__manifest_file__unpack(NULL, n, buf);
    if (!env)
        return rt_error(RT_ERR_FORMAT,
                        "%s: not a ringtune checkpoint manifest (protobuf decode "
                        "of the envelope failed; truncated or corrupt?)",
                        path);
    rt_status st = RT_OK;
    if (!env->magic || strcmp(env->magic, RT_CKPT_MAGIC))
        st = rt_error(RT_ERR_FORMAT, "%s: magic '%s', expected '%s'", path,
                      env->magic ? env->magic : "", RT_CKPT_MAGIC);
    else if (env->format_version > RT_CKPT_FORMAT_VERSION)
        st = rt_error(RT_ERR_FORMAT,
                      "%s: format_version %u is newer than this ringtune reads (%d); use a newer "
                      "ringtune to load it",
                      path, env->format_version, RT_CKPT_FORMAT_VERSION);
    else if (env->format_version < 1)
        st = rt_error(RT_ERR_FORMAT, "%s: format_version %u is not valid", path,
                      env->format_version);
    else if ((uint64_t)XXH3_64bits(env->manifest.data, env->manifest.len) != env->manifest_xxh3)
        st = rt_error(RT_ERR_FORMAT, "%s: manifest checksum mismatch (the file is corrupt)", path);
    Ringtune__Manifest *m = NULL;
    if (st == RT_OK &&
        !(m = ringtune__manifest__unpack(NULL, env->manifest.len, env->manifest.data)))
        st = rt_error(RT_ERR_FORMAT, "%s: protobuf decode of the manifest failed", path);
    ringtune__manifest_file__free_unpacked(env, NULL);
    if (st == RT_OK) st = check_manifest(path, m);
    if (st != RT_OK) {
        if (m) ringtune__manifest__free_unpacked(m, NULL);
        return st;
    }
    *out = m;
    return RT_OK;
}

void rt_ckpt_manifest_free(Ringtune__Manifest **m) {
    if (*m) ringtune__manifest__free_unpacked(*m, NULL);
    *m = NULL;
}

/* ---- directories -------------------------------------------------------------------------- */

void rt_ckpt_step_name(long step, char *buf, size_t cap) {
    snprintf(buf, cap, "step-%08ld", step);
}

int rt_ckpt_parse_step_name(const char *name, long *step) {
    if (strncmp(name, "step-", 5) != 0) return 0;
    const char *p = name + 5;
    if (strlen(p) < 8) return 0;
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || v > 100000000000L) return 0;
        v = v * 10 + (*p - '0');
    }
    *step = v;
    return 1;
}

rt_status rt_ckpt_remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT) return RT_OK;
        return rt_error(RT_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return rt_error(RT_ERR_IO, "%s: cannot list: %s", path, strerror(errno));
        struct dirent *de;
        rt_status st = RT_OK;
        while (st == RT_OK && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char *sub = rt_fs_join(path, de->d_name);
            st = sub ? rt_ckpt_remove_tree(sub) : rt_error(RT_ERR_MEMORY, "out of memory");
            free(sub);
        }
        closedir(d);
        if (st != RT_OK) return st;
        if (rmdir(path) != 0)
            return rt_error(RT_ERR_IO, "%s: rmdir failed: %s", path, strerror(errno));
        return RT_OK;
    }
    if (unlink(path) != 0)
        return rt_error(RT_ERR_IO, "%s: unlink failed: %s", path, strerror(errno));
    return RT_OK;
}

rt_status rt_ckpt_replace_dir(const char *from, const char *to) {
    if (!rt_fs_exists(to)) {
        if (rename(from, to) != 0)
            return rt_error(RT_ERR_IO, "rename %s -> %s failed: %s", from, to, strerror(errno));
        return rt_fs_sync_parent(to);
    }
    /* to exists (a run resumed from an older step saves this step again): swap, then remove the
       old copy, which now sits under `from` */
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE) != 0) {
        /* no RENAME_EXCHANGE here: move the old one aside first */
        char aside[4200];
        snprintf(aside, sizeof aside, "%.4090s.old", to);
        RT_CALL(rt_ckpt_remove_tree(aside));
        if (rename(to, aside) != 0)
            return rt_error(RT_ERR_IO, "rename %s -> %s failed: %s", to, aside, strerror(errno));
        if (rename(from, to) != 0)
            return rt_error(RT_ERR_IO, "rename %s -> %s failed: %s", from, to, strerror(errno));
        RT_CALL(rt_fs_sync_parent(to));
        return rt_ckpt_remove_tree(aside);
    }
    RT_CALL(rt_fs_sync_parent(to));
    return rt_ckpt_remove_tree(from);
}

rt_status rt_ckpt_latest_write(const char *root, const char *name) {
    char *path = rt_fs_join(root, RT_CKPT_LATEST);
    if (!path) return rt_error(RT_ERR_MEMORY, "out of memory");
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%s\n", name);
    rt_status st = rt_fs_write_file_atomic(path, buf, (size_t)n);
    free(path);
    return st;
}

rt_status rt_ckpt_latest_read(const char *root, char *buf, size_t cap) {
    char *path = rt_fs_join(root, RT_CKPT_LATEST);
    if (!path) return rt_error(RT_ERR_MEMORY, "out of memory");
    char *text = NULL;
    size_t n = 0;
    rt_status st = RT_OK;
    if (!rt_fs_exists(path))
        st = rt_error(RT_ERR_IO, "%s does not exist: no checkpoint has been committed in %s", path,
                      root);
    struct stat sb;
    if (st == RT_OK && stat(path, &sb) == 0 && sb.st_size > 4096)
        st = rt_error(RT_ERR_FORMAT, "%s: %lld bytes, expected one line naming a step directory",
                      path, (long long)sb.st_size);
    if (st == RT_OK) st = rt_fs_read_file(path, &text, &n);
    long step;
    if (st == RT_OK) {
        while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
            text[--n] = 0;
        if (!rt_ckpt_parse_step_name(text, &step) || n + 1 > cap)
            st = rt_error(RT_ERR_FORMAT, "%s: '%s' is not a step directory name (step-NNNNNNNN)",
                          path, text);
        else
            memcpy(buf, text, n + 1);
    }
    free(text);
    free(path);
    return st;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

rt_status rt_ckpt_list(const char *root, long **steps, size_t *n) {
    *steps = NULL;
    *n = 0;
    DIR *d = opendir(root);
    if (!d) {
        if (errno == ENOENT) return RT_OK;
        return rt_error(RT_ERR_IO, "%s: cannot list: %s", root, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *de;
    rt_status st = RT_OK;
    while (st == RT_OK && (de = readdir(d))) {
        long s;
        if (!rt_ckpt_parse_step_name(de->d_name, &s)) continue;
        char mpath[4096];
        snprintf(mpath, sizeof mpath, "%s/%s/%s", root, de->d_name, RT_CKPT_MANIFEST);
        if (!rt_fs_exists(mpath)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            long *p = realloc(*steps, cap * sizeof(long));
            if (!p) {
                st = rt_error(RT_ERR_MEMORY, "out of memory");
                break;
            }
            *steps = p;
        }
        (*steps)[(*n)++] = s;
    }
    closedir(d);
    if (st == RT_OK && *n) qsort(*steps, *n, sizeof(long), cmp_long);
    return st;
}

rt_status rt_ckpt_clean_leftovers(const char *root, int *count) {
    if (count) *count = 0;
    DIR *d = opendir(root);
    if (!d) return errno == ENOENT ? RT_OK : rt_error(RT_ERR_IO, "%s: %s", root, strerror(errno));
    struct dirent *de;
    rt_status st = RT_OK;
    while (st == RT_OK && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "step-", 5) != 0 || l < 9) continue;
        const char *suf = de->d_name + l - 4;
        if (strcmp(suf, ".tmp") != 0 && strcmp(suf, ".old") != 0) continue;
        char *p = rt_fs_join(root, de->d_name);
        if (!p) {
            st = rt_error(RT_ERR_MEMORY, "out of memory");
            break;
        }
        /* step-N.old without step-N: a replacement stopped between its two renames; the old
           copy is the committed one, so it goes back */
        char orig[4096];
        snprintf(orig, sizeof orig, "%.*s", (int)(strlen(p) - 4), p);
        if (!strcmp(suf, ".old") && !rt_fs_exists(orig)) {
            if (rename(p, orig) != 0)
                st = rt_error(RT_ERR_IO, "rename %s -> %s failed: %s", p, orig, strerror(errno));
        } else {
            st = rt_ckpt_remove_tree(p);
        }
        free(p);
        if (st == RT_OK && count) (*count)++;
    }
    closedir(d);
    return st;
}

/* ---- models ------------------------------------------------------------------------------ */

void rt_ckpt_model_config_to_proto(const rt_gpt2_config *c, Ringtune__ModelConfig *p) {
    p->architecture = (char *)"gpt2";
    p->vocab_size = c->vocab_size;
    p->n_positions = c->n_positions;
    p->n_embd = c->n_embd;
    p->n_layer = c->n_layer;
    p->n_head = c->n_head;
    p->n_inner = c->n_inner;
    p->layer_norm_epsilon = c->layer_norm_epsilon;
    p->embd_pdrop = c->embd_pdrop;
    p->attn_pdrop = c->attn_pdrop;
    p->resid_pdrop = c->resid_pdrop;
    p->initializer_range = c->initializer_range;
    p->bos_token_id = c->bos_token_id;
    p->eos_token_id = c->eos_token_id;
    p->tie_word_embeddings = c->tie_word_embeddings != 0;
}

void rt_ckpt_gpt2_config_to_proto(const rt_gpt2_config *c, Ringtune__Gpt2Config *p) {
    p->vocab_size = c->vocab_size;
    p->n_positions = c->n_positions;
    p->n_embd = c->n_embd;
    p->n_layer = c->n_layer;
    p->n_head = c->n_head;
    p->n_inner = c->n_inner;
    p->layer_norm_epsilon = c->layer_norm_epsilon;
    p->embd_pdrop = c->embd_pdrop;
    p->attn_pdrop = c->attn_pdrop;
    p->resid_pdrop = c->resid_pdrop;
    p->initializer_range = c->initializer_range;
    p->bos_token_id = c->bos_token_id;
    p->eos_token_id = c->eos_token_id;
    p->tie_word_embeddings = c->tie_word_embeddings != 0;
}

void rt_ckpt_model_config(const Ringtune__Manifest *man, rt_gpt2_config *c) {
    rt_gpt2_config_default(c);
    const Ringtune__ModelDesc *d = man->model_desc;
    if (d && d->arch_case == RINGTUNE__MODEL_DESC__ARCH_GPT2) {
        const Ringtune__Gpt2Config *p = d->gpt2;
        c->vocab_size = p->vocab_size;
        c->n_positions = p->n_positions;
        c->n_embd = p->n_embd;
        c->n_layer = p->n_layer;
        c->n_head = p->n_head;
        c->n_inner = p->n_inner;
        c->layer_norm_epsilon = p->layer_norm_epsilon;
        c->embd_pdrop = p->embd_pdrop;
        c->attn_pdrop = p->attn_pdrop;
        c->resid_pdrop = p->resid_pdrop;
        c->initializer_range = p->initializer_range;
        c->bos_token_id = p->bos_token_id;
        c->eos_token_id = p->eos_token_id;
        c->tie_word_embeddings = p->tie_word_embeddings;
        return;
    }
    const Ringtune__ModelConfig *p = man->model; /* the first format's flat description */
    c->vocab_size = p->vocab_size;
    c->n_positions = p->n_positions;
    c->n_embd = p->n_embd;
    c->n_layer = p->n_layer;
    c->n_head = p->n_head;
    c->n_inner = p->n_inner;
    c->layer_norm_epsilon = p->layer_norm_epsilon;
    c->embd_pdrop = p->embd_pdrop;
    c->attn_pdrop = p->attn_pdrop;
    c->resid_pdrop = p->resid_pdrop;
    c->initializer_range = p->initializer_range;
    c->bos_token_id = p->bos_token_id;
    c->eos_token_id = p->eos_token_id;
    c->tie_word_embeddings = p->tie_word_embeddings;
}

rt_status rt_ckpt_check_table(const char *dir, const Ringtune__Manifest *man,
                              const rt_tensor_table *tab) {
    if (man->n_tensors != (size_t)tab->n || man->total_params != tab->total)
        return rt_error(RT_ERR_FORMAT,
                        "%s: %zu tensors / %llu parameters in the manifest, expected %d / %zu (the "
                        "model its config describes)",
                        dir, man->n_tensors, (unsigned long long)man->total_params, tab->n,
                        tab->total);
    for (int i = 0; i < tab->n; i++) {
        const Ringtune__Tensor *t = man->tensors[i];
        int same = t->name && !strcmp(t->name, tab->t[i].name) && t->offset == tab->t[i].offset &&
                   t->n_shape == (size_t)tab->t[i].ndim;
        for (size_t d = 0; same && d < t->n_shape; d++) same = t->shape[d] == tab->t[i].shape[d];
        if (!same)
            return rt_error(RT_ERR_FORMAT,
                            "%s: tensor %d is %s at offset %llu in the manifest, expected %s at "
                            "%zu",
                            dir, i, t->name ? t->name : "?", (unsigned long long)t->offset,
                            tab->t[i].name, tab->t[i].offset);
    }
    return RT_OK;
}

/* Reads flat range [a, b) of dataset name from every old shard overlapping it into dst. */
rt_status rt_ckpt_read_range(const char *dir, const Ringtune__Manifest *man,
                             const rt_tensor_table *tab, const char *name, uint64_t a, uint64_t b,
                             float *dst, float *scratch) {
    for (size_t s = 0; s < man->n_shards; s++) {
        const Ringtune__Shard *sh = man->shards[s];
        uint64_t lo = sh->lo > a ? sh->lo : a, hi = sh->hi < b ? sh->hi : b;
        if (lo >= hi) continue;
        RT_CALL(rt_ckpt_shard_read(dir, sh, name, tab, lo, hi, dst + (lo - a), scratch));
    }
    return RT_OK;
}

rt_status rt_ckpt_check_files(const char *dir, const Ringtune__Manifest *man) {
    for (size_t s = 0; s < man->n_shards; s++) {
        const Ringtune__Shard *sh = man->shards[s];
        char *path = rt_fs_join(dir, sh->file);
        if (!path) return rt_error(RT_ERR_MEMORY, "out of memory");
        struct stat sb;
        rt_status st = RT_OK;
        /* decode bounds hi - lo by 2^40 and n_datasets by 8: no overflow */
        uint64_t need = (sh->hi - sh->lo) * sizeof(float) * sh->n_datasets;
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            st = rt_error(RT_ERR_IO,
                          "%s: checkpoint shard is missing (rank %u's range [%llu, %llu))", path,
                          sh->rank, (unsigned long long)sh->lo, (unsigned long long)sh->hi);
        else if ((uint64_t)sb.st_size != sh->file_bytes)
            st =
                rt_error(RT_ERR_FORMAT,
                         "%s: checkpoint shard is %llu bytes, the manifest says %llu (truncated or "
                         "overwritten)",
                         path, (unsigned long long)sb.st_size, (unsigned long long)sh->file_bytes);
        else if (sh->file_bytes < need)
            st = rt_error(RT_ERR_FORMAT,
                          "%s: %llu bytes cannot hold the %zu datasets of %llu float32 values the "
                          "manifest lists (expected at least %llu bytes)",
                          path, (unsigned long long)sh->file_bytes, sh->n_datasets,
                          (unsigned long long)(sh->hi - sh->lo), (unsigned long long)need);
        free(path);
        RT_CALL(st);
    }
    return RT_OK;
}

rt_status rt_ckpt_model_for(const char *dir, const Ringtune__Manifest *man, rt_gpt2 **out) {
    return rt_ckpt_model_for_ext(dir, man, NULL, NULL, out);
}

rt_status rt_ckpt_model_for_ext(const char *dir, const Ringtune__Manifest *man,
                                rt_gpt2_extend_fn extend, void *arg, rt_gpt2 **out) {
    *out = NULL;
    RT_CALL(rt_ckpt_check_files(dir, man));
    rt_gpt2_config c;
    rt_ckpt_model_config(man, &c);
    size_t np = 0;
    rt_status st = rt_gpt2_config_num_params(&c, &np);
    if (st != RT_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", rt_error_message());
        return rt_error(RT_ERR_FORMAT, "%s/%s: model: %s", dir, RT_CKPT_MANIFEST, msg);
    }
    if (extend) { /* the head's tensors, sized on a table of their own (no allocation) */
        rt_tensor_table x;
        rt_table_init(&x);
        int ok = extend(arg, &x);
        if (x.n) np = ((np + 15) & ~(size_t)15) + x.total; /* offsets 16-aligned */
        rt_table_free(&x);
        if (!ok) return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    if (np != man->total_params)
        return rt_error(RT_ERR_FORMAT,
                        "%s/%s: the model config implies %zu parameters, total_params is %llu", dir,
                        RT_CKPT_MANIFEST, np, (unsigned long long)man->total_params);
    rt_gpt2 *m = NULL;
    RT_CALL(rt_gpt2_create_ext(&m, &c, extend, arg));
    st = rt_ckpt_check_table(dir, man, &m->params);
    if (st != RT_OK) {
        rt_gpt2_destroy(&m);
        return st;
    }
    *out = m;
    return RT_OK;
}

int rt_ckpt_is_checkpoint(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, RT_CKPT_MANIFEST);
    return rt_fs_exists(p);
}

rt_status rt_ckpt_find(const char *path, char *dir, size_t cap) {
    if (rt_ckpt_is_checkpoint(path)) {
        snprintf(dir, cap, "%s", path);
        return RT_OK;
    }
    char lp[4096], name[256];
    snprintf(lp, sizeof lp, "%s/%s", path, RT_CKPT_LATEST);
    if (!rt_fs_exists(lp))
        return rt_error(RT_ERR_IO,
                        "%s: not a checkpoint (no %s) and not a training output directory (no %s)",
                        path, RT_CKPT_MANIFEST, RT_CKPT_LATEST);
    RT_CALL(rt_ckpt_latest_read(path, name, sizeof name));
    snprintf(dir, cap, "%s/%s", path, name);
    return RT_OK;
}
