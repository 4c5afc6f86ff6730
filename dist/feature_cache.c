/* Feature extraction's cache, in memory or in HDF5 shards (dist/feature_cache.h). */
#include "feature_cache.h"
#include "fcache.h"
#include "fsutil.h"
#include "model_cached.h"
#include "ring.h"
#include "watchdog.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    rt_fcache *disk;
    int s;
} disk_rows;

struct rt_feature_cache {
    float *feats[2]; /* in memory: (n, C) each; NULL on disk */
    rt_fcache *disk; /* on disk: the open shards */
    disk_rows dr[2];
    int32_t *labels[2]; /* (n) */
    rt_cached_examples cx[2];
    rt_example_source src[2];
    rt_model *mc[2];
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void rt_feature_cache_free(rt_feature_cache **fp) {
    rt_feature_cache *f = *fp;
    if (!f) return;
    for (int s = 0; s < 2; s++) {
        rt_model_destroy(&f->mc[s]);
        rt_free_floats(&f->feats[s]);
        free(f->labels[s]);
    }
    rt_fcache_close(&f->disk);
    free(f);
    *fp = NULL;
}

rt_model *rt_feature_cache_model(rt_feature_cache *f, int s) {
    return f->mc[s];
}

rt_example_source rt_feature_cache_source(rt_feature_cache *f, int s) {
    return f->src[s];
}

static rt_status read_disk_rows(void *ctx, const int32_t *rows, int nr, float *out) {
    disk_rows *d = ctx;
    return rt_fcache_read(d->disk, d->s, rows, nr, out);
}

/* The labels of both splits (the sources are labeled corpora). */
static rt_status read_labels(rt_feature_cache *f, const rt_feature_cache_args *a) {
    for (int s = 0; s < 2; s++) {
        uint64_t n = a->src[s].n;
        if (!(f->labels[s] = malloc((n ? n : 1) * sizeof(int32_t))))
            return rt_error(RT_ERR_MEMORY, "out of memory");
        const rt_corpus_source *cs = a->src[s].ctx;
        if (n) RT_CALL(rt_corpus_read_labels(cs->corpus, cs->split, 0, n, f->labels[s]));
        f->cx[s] = (rt_cached_examples){f->labels[s]};
        f->src[s] = rt_example_source_cached(&f->cx[s], n);
    }
    return RT_OK;
}

/* In memory: split s's features, each rank computing a contiguous share, the shares summed over
   the ranks (the other rows are zero) in pieces an int count can hold. Collective. */
static rt_status memory_split(rt_feature_cache *f, const rt_feature_cache_args *a, int s) {
    uint64_t n = a->src[s].n;
    size_t C = (size_t)a->m->hidden_size, N = (size_t)n * C;
    f->feats[s] = rt_alloc_floats(N ? N : 1);
    rt_status st = f->feats[s] ? RT_OK
                               : rt_error(RT_ERR_MEMORY,
                                          "out of memory for %.1f MB of cached "
                                          "features",
                                          N * 4.0 / 1e6);
    size_t lo, hi;
    rt_ring_chunk((size_t)n, a->ctx->size, a->ctx->rank, &lo, &hi);
    if (st == RT_OK)
        st = rt_cls_features(a->m, &a->src[s], lo, hi, a->EB, a->T, f->feats[s] + lo * C);
    st = rt_mpi_ctx_agree(a->ctx, st);
    for (size_t at = 0; st == RT_OK && at < N; at += (size_t)1 << 28) {
        int cnt = (int)(N - at < ((size_t)1 << 28) ? N - at : ((size_t)1 << 28));
        st = rt_mpi_check(rt_wd_allreduce(MPI_IN_PLACE, f->feats[s] + at, cnt, MPI_FLOAT, MPI_SUM,
                                          a->ctx->comm, "feature cache (MPI_Allreduce)"),
                          "MPI_Allreduce(feature cache)");
    }
    return st;
}

/* This rank's part of a new on-disk cache in tmp: its share of each split, computed in pieces
   of about 1024 rows (whole batches of EB) and written as they come. Not collective. */
static rt_status write_part(const rt_feature_cache_args *a, const char *tmp,
                            const rt_fcache_key *key, const uint64_t n[2]) {
    size_t C = (size_t)a->m->hidden_size;
    size_t piece = (size_t)a->EB *
                   (a->EB < 1024 ? 1024 / (size_t)a->EB : 1); /* whole batches, as memory_split */
    uint64_t lo[2], hi[2];
    for (int s = 0; s < 2; s++) {
        size_t l, h;
        rt_ring_chunk((size_t)n[s], a->ctx->size, a->ctx->rank, &l, &h);
        lo[s] = l, hi[s] = h;
    }
    rt_fcache_part *w = NULL;
    RT_CALL(rt_fcache_part_create(tmp, a->ctx->rank, a->ctx->size, key, (int)C, n, lo, hi, &w));
    float *buf = rt_alloc_floats(piece * C);
    rt_status st = buf ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    for (int s = 0; s < 2 && st == RT_OK; s++)
        for (uint64_t i = lo[s]; i < hi[s] && st == RT_OK; i += piece) {
            uint64_t k = hi[s] - i < piece ? hi[s] - i : piece;
            st = rt_cls_features(a->m, &a->src[s], i, i + k, a->EB, a->T, buf);
            if (st == RT_OK) st = rt_fcache_part_write(w, s, i, k, buf);
        }
    rt_free_floats(&buf);
    rt_status cs = rt_fcache_part_close(&w);
    return st != RT_OK ? st : cs;
}

/* A new on-disk cache: the parts in "<dir>.tmp", then (rank 0) the old cache removed and the
   directory renamed into place. Collective. */
static rt_status disk_build(const rt_feature_cache_args *a, const rt_fcache_key *key,
                            const uint64_t n[2]) {
    char *tmp = malloc(strlen(a->dir) + 8);
    if (!tmp) return rt_mpi_ctx_agree(a->ctx, rt_error(RT_ERR_MEMORY, "out of memory"));
    sprintf(tmp, "%s.tmp", a->dir);
    rt_status st = RT_OK;
    if (a->ctx->rank == 0) {
        st = rt_fcache_remove(tmp); /* an interrupted build's */
        if (st == RT_OK) st = rt_fs_mkdir_p(tmp);
    }
    st = rt_mpi_ctx_agree(a->ctx, st);
    if (st == RT_OK) st = rt_mpi_ctx_agree(a->ctx, write_part(a, tmp, key, n));
    if (st == RT_OK && a->ctx->rank == 0) {
        st = rt_fcache_remove(a->dir);
        if (st == RT_OK && rename(tmp, a->dir) != 0)
            st = rt_error(RT_ERR_IO, "cannot rename %s to %s: %s", tmp, a->dir, strerror(errno));
        if (st == RT_OK) st = rt_fs_sync_parent(a->dir);
    }
    free(tmp);
    return rt_mpi_ctx_agree(a->ctx, st);
}

/* The key, computed by rank 0 (the corpora are read whole) and broadcast. Collective. */
static rt_status disk_key(const rt_feature_cache_args *a, const uint64_t n[2], rt_fcache_key *key) {
    rt_status st = RT_OK;
    if (a->ctx->rank == 0) {
        uint64_t h[2] = {0, 0};
        st = rt_fcache_corpus_hash(a->corpus[0], &h[0]);
        if (st == RT_OK) h[1] = h[0];
        if (st == RT_OK && a->corpus[1] != a->corpus[0])
            st = rt_fcache_corpus_hash(a->corpus[1], &h[1]);
        if (st == RT_OK) *key = rt_fcache_key_of(a->m, a->T, h[0], h[1], n);
    }
    RT_CALL(rt_mpi_ctx_agree(a->ctx, st));
    return rt_mpi_check(rt_wd_bcast(key, 3, MPI_UINT64_T, 0, a->ctx->comm, "feature cache key"),
                        "MPI_Bcast(feature cache key)");
}

/* On disk: reuses a valid cache in a->dir (each rank checks every P-th part's rows) or builds
   one; *reused says which. Collective. */
static rt_status disk_open(rt_feature_cache *f, const rt_feature_cache_args *a, int *reused,
                           FILE *out) {
    uint64_t n[2] = {a->src[0].n, a->src[1].n};
    int C = a->m->hidden_size;
    rt_fcache_key key = {0, 0, 0};
    RT_CALL(disk_key(a, n, &key));
    char why[512] = "";
    rt_status st =
        rt_fcache_open(a->dir, &key, C, n, a->ctx->size, a->ctx->rank, &f->disk, why, sizeof why);
    RT_CALL(rt_mpi_ctx_agree(a->ctx, st));
    /* the lowest rank that found the cache wanting says why (its parts' checksums are its own) */
    int mine = f->disk ? a->ctx->size : a->ctx->rank, first = 0;
    RT_CALL(rt_mpi_check(rt_wd_allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, a->ctx->comm,
                                         "feature cache check (MPI_Allreduce)"),
                         "MPI_Allreduce(feature cache check)"));
    *reused = first == a->ctx->size;
    if (*reused) return RT_OK;
    rt_fcache_close(&f->disk);
    RT_CALL(rt_mpi_check(rt_wd_bcast(why, (int)sizeof why, MPI_CHAR, first, a->ctx->comm,
                                     "feature cache check (MPI_Bcast)"),
                         "MPI_Bcast(feature cache check)"));
    if (out && !strstr(why, "holds no feature cache"))
        fprintf(out, "feature cache %s: rebuilt: %s\n", a->dir, why);
    RT_CALL(disk_build(a, &key, n));
    st = rt_fcache_open(a->dir, &key, C, n, 0, 0, &f->disk, why, sizeof why);
    if (st == RT_OK && !f->disk)
        st = rt_error(RT_ERR_IO, "feature cache %s: cannot be read back: %s", a->dir, why);
    return rt_mpi_ctx_agree(a->ctx, st);
}

/* The two cached models over the rows. Collective (agrees on the status). */
static rt_status make_models(rt_feature_cache *f, const rt_feature_cache_args *a) {
    rt_status st = RT_OK;
    for (int s = 0; s < 2 && st == RT_OK; s++) {
        f->dr[s] = (disk_rows){f->disk, s};
        rt_feature_rows rows = {f->feats[s], f->disk ? read_disk_rows : NULL, &f->dr[s],
                                a->src[s].n};
        st = rt_model_cached_create(a->m, &rows, &f->mc[s]);
        if (st == RT_OK) st = rt_model_alloc_acts(f->mc[s], a->rows, 1);
    }
    return rt_mpi_ctx_agree(a->ctx, st);
}

rt_status rt_feature_cache_build(const rt_feature_cache_args *a, FILE *out, rt_feature_cache **fp) {
    *fp = NULL;
    rt_feature_cache *f = calloc(1, sizeof *f);
    rt_status st = f ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK) st = read_labels(f, a);
    RT_CALL(rt_mpi_ctx_agree(a->ctx, st));
    double t0 = now_s();
    uint64_t nt = a->src[0].n, nv = a->src[1].n;
    double mb = (double)(nt + nv) * a->m->hidden_size * 4.0 / 1e6;
    int disk = mb > a->max_mb, reused = 0;
    if (disk) st = disk_open(f, a, &reused, out);
    for (int s = 0; s < 2 && !disk && st == RT_OK; s++) st = memory_split(f, a, s);
    if (st == RT_OK) st = make_models(f, a);
    if (st != RT_OK) {
        rt_feature_cache_free(&f);
        return st;
    }
    double dt = now_s() - t0;
    if (out && !disk)
        fprintf(out,
                "feature cache: %llu train + %llu validation examples x %d floats (%.1f MB) "
                "computed in %.2f s (one pass of the frozen backbone, no dropout); the steps "
                "train the score on them\n",
                (unsigned long long)nt, (unsigned long long)nv, a->m->hidden_size, mb, dt);
    else if (out)
        fprintf(out,
                "feature cache: %llu train + %llu validation examples x %d floats (%.1f MB, over "
                "finetune.feature_cache_max_mb %g) on disk in %s, %s in %.2f s; the steps read "
                "each micro-batch's rows from it and train the score on them\n",
                (unsigned long long)nt, (unsigned long long)nv, a->m->hidden_size, mb, a->max_mb,
                a->dir,
                reused ? "reused (checksums checked)"
                       : "computed (one pass of the frozen "
                         "backbone, no dropout)",
                dt);
    *fp = f;
    return RT_OK;
}
