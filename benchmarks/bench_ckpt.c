/* Checkpoint I/O: rt_ckpt_save / rt_ckpt_read_manifest + rt_ckpt_load (dist/checkpoint.h) of
   GPT-2 with its AdamW state, against raw write()+fsync() and read() of the same bytes in the same
   directory, in the same run.

   Each of the P ranks holds the full parameters and its ZeRO-1 shard [lo, hi) of adam_m / adam_v
   (rt_ring_chunk); a save writes params + adam_m + adam_v of that range: 3 x 4 bytes x (hi - lo)
   per rank, 12 bytes x params in all. The raw baseline writes exactly these bytes per rank into
   one file in output.dir (open O_CREAT|O_TRUNC, write, fsync, close).

   Loads: same-count (a checkpoint written by the P ranks, loaded by the P ranks) and resharded (a
   checkpoint written by ranks {0..K-1} through an rt_mpi_ctx on an MPI_Comm_split, K = P-1 by
   default, loaded by all P). Also the other direction (scale_down): K ranks load the K-rank
   checkpoint (same-count) and the P-rank one (resharded). rt_ckpt_load includes the compatibility
   checks and the ring all-gather of the parameters; the raw read baseline reads each rank's raw
   file back (no all-gather). Cold loads drop the page cache of every file under output.dir first
   (posix_fadvise POSIX_FADV_DONTNEED by default; --cold drop_caches writes 3 to
   /proc/sys/vm/drop_caches) and report the resident fraction mincore() sees afterwards; warm
   loads follow a load of the same checkpoint. Loaded values are compared with what was saved.

   Time: wall time on rank 0 between barriers over all P ranks (ranks outside a sub-communicator
   wait in the barrier, sleeping, so they leave the cores to the others). GB/s = the bytes of the
   state (12 x params; GB = 1e9 bytes) / time; medians, min and max over the repeats. The order
   of the operations rotates between repeats (save / raw / shard-only; same-count / resharded) so
   drift hits all alike; the ratios are given from the medians, as the median of the per-repeat
   ratios and from the best times. Saves use a fresh step number each; what the previous timed
   write left is removed just before the next one, outside the timing (checkpoint.keep_last: null,
   so retention removes nothing inside it).

   Settling: before each timed write and cold read the ranks sleep --settle seconds (default 3),
   then remove the previous files / drop the cache, then start at once. Reason: on a VM whose
   guest reports free memory to the host (virtio-balloon free page reporting, 2 s after pages are
   freed), page-cache pages freed and reused at once cost nothing extra, pages the host has taken
   back cost a host fault each; without the pause a buffered write of 1.5 GB took 0.5 s or 3 s
   depending on whether a report was pending, whatever wrote it. --settle 0 turns this off.

   Components: XXH3 (rt_ckpt_hash) over the ranks' ranges in 4 MiB pieces, all ranks at once
   (what a save and a load hash); rt_ckpt_shard_write alone (the HDF5 shard, its fsync and the
   checksums, without the manifest, the agreement and the directory operations); the raw write's
   write() and fsync() phases; a raw write without fsync; and the ring all-gather of the parameters
   a load ends with. Rank 0 prints JSON on stdout and a summary on stderr. Not a timed assertion:
   exit 1 only when a loaded value differs.

   usage: mpirun -n P bench_ckpt [--dir DIR] [--repeats N] [--model 124m|small] [--keep]
          [--reshard-from K] [--settle S] [--cold fadvise|drop_caches|none]
   --dir: works in DIR/bench-ckpt (must not exist) and DIR/bench-corpus.h5 (default: a fresh
   /tmp/bench_ckpt.XXXXXX); --keep leaves them. --model small: 2 layers, 1.46 M parameters. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include "bench_common.h"
#include "checkpoint.h"
#include "ckpt.h"
#include "config.h"
#include "corpus.h"
#include "fsutil.h"
#include "gpt2.h"
#include "model_gpt2.h"
#include "mpictx.h"
#include "ring.h"
#include "rng.h"
#include "sampler.h"

enum { COLD_FADVISE, COLD_DROP_CACHES, COLD_NONE };
static const char *const cold_names[] = {"posix_fadvise(POSIX_FADV_DONTNEED)",
                                         "echo 3 > /proc/sys/vm/drop_caches", "none"};

static int world_rank;

static void die(const char *what) {
    fprintf(stderr, "bench_ckpt: rank %d: %s: %s\n", world_rank, what, rt_error_message());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static void check(rt_status st, const char *what) {
    if (st != RT_OK) die(what);
}

static void die_errno(const char *what, const char *path) {
    fprintf(stderr, "bench_ckpt: rank %d: %s %s: %s\n", world_rank, what, path, strerror(errno));
    MPI_Abort(MPI_COMM_WORLD, 1);
}

/* The 1-minute load average (other work on the machine shows up in the figures). */
static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

/* ---- deterministic optimizer state -------------------------------------------------------- */

/* adam_m (which 0) and adam_v (which 1) at flat element i: incompressible, m in +-1e-3,
   v in (0, 1e-6]. */
static inline float state_value(uint64_t i, int which) {
    float u = (float)(rt_mix64(2 * i + (uint64_t)which) >> 40) * (1.0f / 16777216.0f);
    return which == 0 ? (u - 0.5f) * 2e-3f : u * u * 1e-6f + 1e-12f;
}

static void fill_state(float *x, size_t lo, size_t hi, int which) {
    for (size_t i = lo; i < hi; i++) x[i - lo] = state_value(i, which);
}

static int state_ok(const float *x, size_t lo, size_t hi, int which) {
    for (size_t i = lo; i < hi; i++) {
        float e = state_value(i, which);
        if (memcmp(&x[i - lo], &e, sizeof e)) return 0;
    }
    return 1;
}

/* ---- files -------------------------------------------------------------------------------- */

static void write_all(int fd, const void *buf, size_t n, const char *path) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n < ((size_t)1 << 30) ? n : ((size_t)1 << 30));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) die_errno("write", path);
        p += w;
        n -= (size_t)w;
    }
}

static void read_all(int fd, void *buf, size_t n, const char *path) {
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n < ((size_t)1 << 30) ? n : ((size_t)1 << 30));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die_errno("read", path);
        p += r;
        n -= (size_t)r;
    }
}

/* Calls fn on every regular file below dir (recursively). */
static void walk(const char *dir, void (*fn)(const char *path, void *arg), void *arg) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode))
            walk(p, fn, arg);
        else if (S_ISREG(sb.st_mode))
            fn(p, arg);
    }
    closedir(d);
}

static void fadvise_drop(const char *path, void *arg) {
    (void)arg;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

typedef struct {
    uint64_t pages, resident;
} residency;

static void count_resident(const char *path, void *arg) {
    residency *r = arg;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
        long pg = sysconf(_SC_PAGESIZE);
        size_t n = ((size_t)sb.st_size + (size_t)pg - 1) / (size_t)pg;
        void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
        unsigned char *vec = malloc(n);
        if (map != MAP_FAILED && vec && mincore(map, (size_t)sb.st_size, vec) == 0) {
            r->pages += n;
            for (size_t i = 0; i < n; i++) r->resident += vec[i] & 1;
        }
        free(vec);
        if (map != MAP_FAILED) munmap(map, (size_t)sb.st_size);
    }
    close(fd);
}

/* ---- the benchmark ------------------------------------------------------------------------ */

/* One group of ranks with its ZeRO-1 state: the world (P ranks) or the sub-communicator (K). */
typedef struct {
    rt_mpi_ctx *ctx; /* NULL: this rank is not in the group */
    size_t lo, hi;
    float *mom, *var;
    rt_ckpt_view v;
} group;

typedef struct {
    rt_mpi_ctx *world;
    int P, K, cold;
    double settle; /* seconds to sleep before preparing a timed write or cold read */
    rt_model *m;   /* GPT-2 behind the model interface */
    float *ref;    /* the parameters as saved */
    long *first_step;
    rt_schedule sch;
    rt_run_config cfg;
    rt_corpus *corpus;
    char out[4096]; /* output.dir */
    int ok;         /* every loaded value matched */
    double resident_max;
    uint64_t resident_pages;
} bench;

static void group_init(bench *b, group *g, rt_mpi_ctx *ctx) {
    memset(g, 0, sizeof *g);
    g->ctx = ctx;
    if (!ctx) return;
    size_t P = b->m->params->total;
    rt_ring_chunk(P, ctx->size, ctx->rank, &g->lo, &g->hi);
    g->mom = rt_alloc_floats(g->hi - g->lo + 1);
    g->var = rt_alloc_floats(g->hi - g->lo + 1);
    if (!g->mom || !g->var) check(rt_error(RT_ERR_MEMORY, "out of memory"), "optimizer state");
    fill_state(g->mom, g->lo, g->hi, 0);
    fill_state(g->var, g->lo, g->hi, 1);
    uint64_t windows =
        rt_sampler_windows(rt_corpus_n_tokens(b->corpus, RT_SPLIT_TRAIN), b->cfg.data.seq_len);
    rt_ckpt_view v = {ctx,  &b->cfg,       b->m,    g->mom,  g->var,    g->lo, g->hi,
                      NULL, b->first_step, &b->sch, windows, b->corpus, NULL};
    g->v = v;
}

static void group_free(group *g) {
    rt_free_floats(&g->mom);
    rt_free_floats(&g->var);
}

/* A barrier that sleeps while it waits: ranks done early (or outside a sub-communicator) leave
   the cores to the ranks still working, which matters when ranks outnumber cores. Adds up to
   0.2 ms. */
static void quiet_barrier(MPI_Comm comm) {
    MPI_Request req;
    MPI_Ibarrier(comm, &req);
    int done = 0;
    struct timespec ts = {0, 200000};
    for (MPI_Test(&req, &done, MPI_STATUS_IGNORE); !done; MPI_Test(&req, &done, MPI_STATUS_IGNORE))
        nanosleep(&ts, NULL);
}

static double begin(bench *b) {
    quiet_barrier(b->world->comm);
    return MPI_Wtime();
}

static double end(bench *b, double t0) {
    quiet_barrier(b->world->comm);
    return MPI_Wtime() - t0;
}

/* Lets the machine settle before the preparation of a timed operation (see the header: on a VM
   that reports free memory to the host, pages freed and reallocated at once are cheap, pages the
   host has taken back are not; the kernel reports free pages 2 s after they are freed). */
static void settle(bench *b) {
    quiet_barrier(b->world->comm);
    if (b->settle > 0) {
        struct timespec ts = {(time_t)b->settle, (long)((b->settle - (time_t)b->settle) * 1e9)};
        nanosleep(&ts, NULL);
    }
    quiet_barrier(b->world->comm);
}

static void step_dir(bench *b, long step, char *buf, size_t cap) {
    char name[64];
    rt_ckpt_step_name(step, name, sizeof name);
    snprintf(buf, cap, "%s/%s", b->out, name);
}

static double time_save(bench *b, group *g, long step) {
    rt_ckpt_state s;
    memset(&s, 0, sizeof s);
    s.step = step;
    s.before_loss = 3.3;
    s.best_loss = 3.1;
    s.best_step = 0;
    s.val_loss = NAN;
    s.tokens_seen = 1e6;
    s.lr_last = 5e-5;
    double t0 = begin(b);
    rt_status st = g->ctx ? rt_ckpt_save(&g->v, &s, "periodic", NULL) : RT_OK;
    double dt = end(b, t0);
    check(st, "rt_ckpt_save");
    return dt;
}

static void raw_path(bench *b, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/raw-rank-%05d.bin", b->out, b->world->rank);
}

/* write() of this rank's params, adam_m and adam_v range, then fsync (when asked) and close.
   phases (may be NULL): the slowest rank's seconds in write() and in fsync()+close(). */
static double time_raw_write(bench *b, group *g, int do_fsync, double *phases) {
    char path[4200];
    raw_path(b, path, sizeof path);
    size_t n = (g->hi - g->lo) * sizeof(float);
    double t0 = begin(b);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) die_errno("open", path);
    write_all(fd, b->m->params_mem + g->lo, n, path);
    write_all(fd, g->mom, n, path);
    write_all(fd, g->var, n, path);
    double t1 = MPI_Wtime();
    if (do_fsync && fsync(fd) != 0) die_errno("fsync", path);
    if (close(fd) != 0) die_errno("close", path);
    double ph[2] = {t1 - t0, MPI_Wtime() - t1}, dt = end(b, t0);
    if (phases) MPI_Allreduce(ph, phases, 2, MPI_DOUBLE, MPI_MAX, b->world->comm);
    return dt;
}

static void shard_path(bench *b, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/shard-only-rank-%05d.h5", b->out, b->world->rank);
}

/* rt_ckpt_shard_write alone (io/ckpt.h: HDF5 file, fsync, piece checksums), every rank at once:
   a save without the coordination, the manifest and the directory operations. */
static double time_shard_write(bench *b, group *g) {
    char path[4200];
    shard_path(b, path, sizeof path);
    rt_ckpt_dataset ds[3] = {
        {"params", b->m->params_mem + g->lo}, {"adam_m", g->mom}, {"adam_v", g->var}};
    Ringtune__Shard desc;
    double t0 = begin(b);
    rt_status st = rt_ckpt_shard_write(path, b->m->params, g->ctx->rank, g->ctx->size, 1, g->lo,
                                       g->hi, ds, 3, NULL, NULL, &desc);
    double dt = end(b, t0);
    check(st, "rt_ckpt_shard_write");
    rt_ckpt_shard_desc_free(&desc);
    return dt;
}

static void drop_cache(bench *b) {
    if (b->cold == COLD_FADVISE) {
        walk(b->out, fadvise_drop, NULL);
    } else if (b->cold == COLD_DROP_CACHES && b->world->node_rank == 0) {
        sync();
        FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
        if (!f || fputs("3\n", f) < 0 || fclose(f) != 0)
            die_errno("cannot write", "/proc/sys/vm/drop_caches (try --cold fadvise)");
    }
    quiet_barrier(b->world->comm);
    if (b->world->rank == 0) {
        residency r = {0, 0};
        walk(b->out, count_resident, &r);
        double f = r.pages ? (double)r.resident / (double)r.pages : 0;
        if (f > b->resident_max) b->resident_max = f;
        b->resident_pages = r.pages;
    }
}

/* Bytes a load at new_size ranks reads from the shards of man: whole pieces overlapping each
   rank's range (a resharded load over-reads up to one piece at each end of a rank's range). */
static uint64_t load_read_bytes(const Ringtune__Manifest *man, int new_size) {
    uint64_t bytes = 0;
    for (int r = 0; r < new_size; r++) {
        size_t a, z;
        rt_ring_chunk((size_t)man->total_params, new_size, r, &a, &z);
        for (size_t s = 0; s < man->n_shards; s++) {
            const Ringtune__Shard *sh = man->shards[s];
            for (size_t d = 0; d < sh->n_datasets; d++)
                for (size_t p = 0; p < sh->datasets[d]->n_pieces; p++) {
                    const Ringtune__Piece *pc = sh->datasets[d]->pieces[p];
                    if (pc->hi > a && pc->lo < z) bytes += (pc->hi - pc->lo) * sizeof(float);
                }
        }
    }
    return bytes;
}

/* rt_ckpt_read_manifest + rt_ckpt_load of dir by group g, into zeroed buffers; verified. */
static double time_load(bench *b, group *g, const char *dir, int cold) {
    size_t P = b->m->params->total;
    if (g->ctx) {
        memset(b->m->params_mem, 0, P * sizeof(float));
        memset(g->mom, 0, (g->hi - g->lo) * sizeof(float));
        memset(g->var, 0, (g->hi - g->lo) * sizeof(float));
        for (int i = 0; i < b->m->params->n; i++) b->first_step[i] = -1;
    }
    if (cold) {
        settle(b);
        drop_cache(b);
    }
    Ringtune__Manifest *man = NULL;
    rt_ckpt_state s;
    double t0 = begin(b);
    rt_status st = RT_OK;
    if (g->ctx) st = rt_ckpt_read_manifest(g->ctx, dir, &man);
    if (g->ctx && st == RT_OK) st = rt_ckpt_load(&g->v, dir, man, &s, NULL);
    double dt = end(b, t0);
    check(st, "rt_ckpt_load");
    rt_ckpt_manifest_free(&man);
    if (g->ctx) {
        int ok = !memcmp(b->m->params_mem, b->ref, P * sizeof(float)) &&
                 state_ok(g->mom, g->lo, g->hi, 0) && state_ok(g->var, g->lo, g->hi, 1);
        for (int i = 0; i < b->m->params->n; i++) ok &= b->first_step[i] == 0;
        if (!ok) {
            fprintf(stderr, "bench_ckpt: rank %d: %s loaded by %d ranks: WRONG VALUES\n",
                    world_rank, dir, g->ctx->size);
            b->ok = 0;
        }
    }
    return dt;
}

static double time_raw_read(bench *b, group *g, int cold) {
    char path[4200];
    raw_path(b, path, sizeof path);
    size_t n = (g->hi - g->lo) * sizeof(float);
    if (cold) {
        settle(b);
        drop_cache(b);
    }
    double t0 = begin(b);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die_errno("open", path);
    read_all(fd, b->m->params_mem + g->lo, n, path);
    read_all(fd, g->mom, n, path);
    read_all(fd, g->var, n, path);
    close(fd);
    double dt = end(b, t0);
    if (memcmp(b->m->params_mem + g->lo, b->ref + g->lo, n) || !state_ok(g->mom, g->lo, g->hi, 0) ||
        !state_ok(g->var, g->lo, g->hi, 1))
        b->ok = 0;
    return dt;
}

/* Keeps the hashes of time_hash alive (file scope: clang warns about a local only written). */
static volatile uint64_t hash_sink;

/* XXH3 (rt_ckpt_hash) over this rank's params, adam_m, adam_v in pieces, all ranks at once. */
static double time_hash(bench *b, group *g) {
    uint64_t h = 0;
    double t0 = begin(b);
    const float *src[3] = {b->m->params_mem + g->lo, g->mom, g->var};
    for (int k = 0; k < 3; k++)
        for (size_t a = 0; a < g->hi - g->lo; a += RT_CKPT_PIECE_ELEMS) {
            size_t n = g->hi - g->lo - a;
            h ^= rt_ckpt_hash(src[k] + a, n < RT_CKPT_PIECE_ELEMS ? n : RT_CKPT_PIECE_ELEMS);
        }
    double dt = end(b, t0);
    hash_sink ^= h;
    return dt;
}

static double time_allgather(bench *b) {
    rt_ring *ring = NULL;
    check(rt_ring_create(&ring, NULL), "rt_ring_create");
    double t0 = begin(b);
    rt_status st =
        rt_ring_start(ring, b->world, b->m->params_mem, b->m->params->total, RT_RING_ALLGATHER);
    if (st == RT_OK) st = rt_ring_wait(ring);
    double dt = end(b, t0);
    check(st, "ring all-gather");
    rt_ring_destroy(&ring);
    return dt;
}

static void remove_ckpt(bench *b, long step) {
    char d[4200];
    step_dir(b, step, d, sizeof d);
    if (b->world->rank == 0) check(rt_ckpt_remove_tree(d), "removing a checkpoint");
    quiet_barrier(b->world->comm);
}

/* What the last timed write left: a checkpoint of step `step`, the raw files, the shard files. */
typedef struct {
    long step;
    int raw, shard;
} leftover;

/* Removes what the previous timed write left (outside the timing). */
static void drop_previous(bench *b, leftover *l) {
    settle(b);
    if (l->step) remove_ckpt(b, l->step);
    char p[4200];
    if (l->raw) raw_path(b, p, sizeof p);
    if (l->raw && unlink(p) != 0) die_errno("unlink", p);
    if (l->shard) shard_path(b, p, sizeof p);
    if (l->shard && unlink(p) != 0) die_errno("unlink", p);
    quiet_barrier(b->world->comm);
    memset(l, 0, sizeof *l);
}

static void make_corpus(const char *path) {
    rt_corpus_meta meta = {0};
    meta.kind = "text";
    meta.vocab_size = 50257;
    meta.eos_id = 50256;
    meta.tokenizer_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    meta.sources = "synthetic";
    meta.command_line = "bench_ckpt";
    rt_corpus_writer *w = NULL;
    check(rt_corpus_writer_create(&w, path, 1, &meta), "corpus");
    uint16_t doc[257];
    for (int d = 0; d < 16; d++) {
        for (int k = 0; k < 256; k++)
            doc[k] = (uint16_t)(rt_mix64((uint64_t)(d * 256 + k)) % 50256);
        doc[256] = 50256;
        check(rt_corpus_writer_add(w, d % 4 ? RT_SPLIT_TRAIN : RT_SPLIT_VALIDATION, (uint64_t)d,
                                   doc, 257),
              "corpus");
    }
    rt_corpus_counts counts = {0};
    check(rt_corpus_writer_commit(&w, &counts), "corpus");
}

/* ---- output ------------------------------------------------------------------------------- */

static double *times(int n) {
    double *t = calloc((size_t)n, sizeof *t);
    if (!t) MPI_Abort(MPI_COMM_WORLD, 1);
    return t;
}

/* One result entry: name and what identifies it (the fields that follow through the ids
   callback's arguments), then stats over the repeats of the seconds and of GBps = bytes / seconds;
   t NULL (not measured in this configuration): both with n = 0. */
typedef struct {
    int ranks, written_by, loaded_by; /* < 0: not printed */
    const char *cache, *note;         /* NULL: not printed */
} result_ids;

static void json_result(bench_json *j, const char *name, int component, result_ids id,
                        const double *t, int n, double bytes) {
    bj_object(j, NULL);
    bj_str(j, "name", name);
    bj_bool(j, "component", component);
    if (id.ranks >= 0) bj_int(j, "ranks", id.ranks);
    if (id.written_by >= 0) bj_int(j, "written_by", id.written_by);
    if (id.loaded_by >= 0) bj_int(j, "loaded_by", id.loaded_by);
    if (id.cache) bj_str(j, "cache", id.cache);
    if (id.note) bj_str(j, "note", id.note);
    double *g = times(n);
    for (int i = 0; t && i < n; i++) g[i] = bytes / t[i] / 1e9;
    bj_stats(j, "seconds", t, t ? n : 0);
    bj_stats(j, "GBps", g, t ? n : 0);
    bj_end(j);
    free(g);
}

static void summary_line(const char *name, const double *t, int n, double bytes) {
    if (!t) return;
    double med = bench_median(t, n);
    fprintf(stderr, "  %-34s %9.3f s  %8.3f GB/s\n", name, med, bytes / med / 1e9);
}

static double ratio(const double *num, const double *den, int n) {
    return num && den ? bench_median(num, n) / bench_median(den, n) : NAN;
}

/* Median over repeats of num[r] / den[r] (pairs measured next to each other). */
static double pair_ratio(const double *num, const double *den, int n) {
    if (!num || !den) return NAN;
    double *q = times(n);
    for (int i = 0; i < n; i++) q[i] = num[i] / den[i];
    double m = bench_median(q, n);
    free(q);
    return m;
}

int main(int argc, char **argv) {
    const char *dir_arg = NULL, *model = "124m";
    int R = 5, keep = 0, K = -1, cold = COLD_FADVISE;
    double settle_s = 3.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir_arg = argv[++i];
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            R = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--reshard-from") && i + 1 < argc)
            K = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--settle") && i + 1 < argc)
            settle_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--cold") && i + 1 < argc) {
            const char *c = argv[++i];
            cold = !strcmp(c, "fadvise")       ? COLD_FADVISE
                   : !strcmp(c, "drop_caches") ? COLD_DROP_CACHES
                   : !strcmp(c, "none")        ? COLD_NONE
                                               : -1;
            if (cold < 0) goto usage;
        } else
            goto usage;
    }
    if (R < 1 || (strcmp(model, "124m") && strcmp(model, "small"))) goto usage;

    MPI_Init(&argc, &argv);
    bench b;
    memset(&b, 0, sizeof b);
    b.ok = 1;
    b.cold = cold;
    b.settle = settle_s;
    check(rt_mpi_ctx_create(&b.world), "rt_mpi_ctx_create");
    world_rank = b.world->rank;
    b.P = b.world->size;
    if (K < 0) K = b.P - 1;
    if (K >= b.P || (b.P > 1 && K < 1)) {
        if (world_rank == 0)
            fprintf(stderr, "bench_ckpt: --reshard-from must be in [1, %d] at %d ranks\n", b.P - 1,
                    b.P);
        MPI_Finalize();
        return 2;
    }
    b.K = K; /* 0: no resharded loads (P = 1) */

    /* the working directory: rank 0 makes it, everyone learns its name */
    char root[2048] = ""; /* room for the names below it in 4096-byte paths */
    int made_tmp = 0;
    if (world_rank == 0) {
        rt_status st = RT_OK;
        if (dir_arg && strlen(dir_arg) >= sizeof root) {
            st = rt_error(RT_ERR_ARG, "--dir: path longer than %zu bytes", sizeof root - 1);
        } else if (dir_arg) {
            snprintf(root, sizeof root, "%s", dir_arg);
            st = rt_fs_mkdir_p(root);
        } else {
            snprintf(root, sizeof root, "/tmp/bench_ckpt.XXXXXX");
            if (!mkdtemp(root)) st = rt_error(RT_ERR_IO, "mkdtemp: %s", strerror(errno));
            made_tmp = 1;
        }
        snprintf(b.out, sizeof b.out, "%s/bench-ckpt", root);
        if (st == RT_OK && rt_fs_exists(b.out))
            st = rt_error(RT_ERR_ARG,
                          "%s exists (left by --keep?): remove it or pick another --dir", b.out);
        if (st == RT_OK) st = rt_fs_mkdir_p(b.out);
        char cp[4200];
        snprintf(cp, sizeof cp, "%s/bench-corpus.h5", root);
        if (st == RT_OK) make_corpus(cp);
        check(st, "working directory");
    }
    MPI_Bcast(root, sizeof root, MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(b.out, sizeof b.out, "%s/bench-ckpt", root);
    char corpus[4200];
    snprintf(corpus, sizeof corpus, "%s/bench-corpus.h5", root);
    check(rt_corpus_open(&b.corpus, corpus, b.world->comm), "rt_corpus_open");

    char yaml[16384];
    snprintf(yaml, sizeof yaml,
             "model: {path: \"%s/model (not read)\"}\n"
             "data: {corpus: \"%s\", seq_len: 64}\n"
             "train: {global_batch: 8, micro_batch: 1, max_steps: 1000}\n"
             "output: {dir: \"%s\", log_every: 0, metrics_file: null}\n"
             "checkpoint: {keep_last: null, keep_best: false}\n",
             root, corpus, b.out);
    check(rt_config_load_string(&b.cfg, yaml, strlen(yaml), "bench_ckpt.yaml", 0, NULL),
          "configuration");

    /* the model: GPT-2 124M, or a small one for the smoke run (still several pieces) */
    rt_gpt2_config mc;
    rt_gpt2_config_default(&mc);
    if (!strcmp(model, "small")) {
        mc.vocab_size = 8192;
        mc.n_positions = 128;
        mc.n_embd = 128;
        mc.n_inner = 512;
        mc.n_layer = 2;
        mc.n_head = 2;
        mc.eos_token_id = mc.bos_token_id = 8191;
    }
    rt_gpt2 *g;
    check(rt_gpt2_create(&g, &mc), "rt_gpt2_create");
    rt_gpt2_init_weights(g, 1234);
    check(rt_model_gpt2_wrap(g, &b.m), "rt_model_gpt2_wrap");
    const size_t NP = b.m->params->total;
    b.ref = rt_alloc_floats(NP);
    b.first_step = malloc(sizeof(long) * (size_t)b.m->params->n);
    if (!b.ref || !b.first_step) check(rt_error(RT_ERR_MEMORY, "out of memory"), "setup");
    memcpy(b.ref, b.m->params_mem, NP * sizeof(float));
    for (int i = 0; i < b.m->params->n; i++) b.first_step[i] = 0;
    b.sch = (rt_schedule){RT_SCHED_LINEAR, 5e-5f, 0.0f, 0, 1000};

    /* the groups: all P ranks, and ranks {0..K-1} */
    group gw, gk;
    group_init(&b, &gw, b.world);
    rt_mpi_ctx *kctx = NULL;
    if (b.K > 0) {
        MPI_Comm sub;
        MPI_Comm_split(MPI_COMM_WORLD, world_rank < b.K ? 0 : MPI_UNDEFINED, world_rank, &sub);
        if (sub != MPI_COMM_NULL) {
            check(rt_mpi_ctx_create_on(sub, &kctx), "rt_mpi_ctx_create_on");
            MPI_Comm_free(&sub);
        }
    }
    group_init(&b, &gk, kctx);
    const double bytes = 3.0 * sizeof(float) * (double)NP;
    const double load_start = loadavg();

    if (world_rank == 0)
        fprintf(stderr, "bench_ckpt: %s (%zu params), %d ranks, %.3f GB of state, %d repeats, %s\n",
                model, NP, b.P, bytes / 1e9, R, b.out);

    /* components: hashing */
    double *t_hash = times(R);
    for (int r = 0; r < R; r++) t_hash[r] = time_hash(&b, &gw);

    /* saves at P ranks against raw write+fsync (and rt_ckpt_shard_write alone), the order
       rotating between repeats. Each timed write follows the removal of the previous one's files
       (on a VM whose memory the host backs lazily, page-cache pages freed just before are much
       cheaper than fresh ones); a warm-up raw write comes first. */
    double *t_save = times(R), *t_raw = times(R), *t_shard = times(R), *t_nofsync = times(R);
    double *t_raw_wr = times(R), *t_raw_fs = times(R);
    leftover left = {0, 0, 0};
    (void)time_raw_write(&b, &gw, 1, NULL);
    left.raw = 1;
    for (int r = 0; r < R; r++)
        for (int k = 0; k < 3; k++) {
            drop_previous(&b, &left);
            int op = (k + r) % 3;
            if (op == 0) {
                t_save[r] = time_save(&b, &gw, r + 1);
                left.step = r + 1;
            } else if (op == 1) {
                double ph[2];
                t_raw[r] = time_raw_write(&b, &gw, 1, ph);
                t_raw_wr[r] = ph[0];
                t_raw_fs[r] = ph[1];
                left.raw = 1;
            } else {
                t_shard[r] = time_shard_write(&b, &gw);
                left.shard = 1;
            }
        }
    for (int r = 0; r < R; r++) { /* components: the write into the page cache alone */
        drop_previous(&b, &left);
        t_nofsync[r] = time_raw_write(&b, &gw, 0, NULL);
        char p[4200];
        raw_path(&b, p, sizeof p);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) != 0) die_errno("fsync", p);
        close(fd);
        left.raw = 1;
    }
    /* what the loads read: a P-rank checkpoint, the raw files, a K-rank checkpoint */
    drop_previous(&b, &left);
    const long last_step = R + 1, sub_step = 1000000;
    (void)time_save(&b, &gw, last_step);
    (void)time_raw_write(&b, &gw, 1, NULL);
    char same_dir[4200], sub_dir[4200];
    step_dir(&b, last_step, same_dir, sizeof same_dir);
    step_dir(&b, sub_step, sub_dir, sizeof sub_dir);
    if (b.K > 0) /* not reported: it follows writes without a removal (see settling) */
        (void)time_save(&b, &gk, sub_step);

    /* what the checkpoints hold and what their loads read */
    uint64_t file_bytes = 0, rd_same = 0, rd_reshard = 0, rd_down_same = 0, rd_down_reshard = 0;
    if (world_rank == 0) {
        uint8_t *buf = NULL;
        size_t n = 0;
        Ringtune__Manifest *man = NULL;
        check(rt_ckpt_manifest_read_bytes(same_dir, &buf, &n), "manifest");
        check(rt_ckpt_manifest_decode(same_dir, buf, n, &man), "manifest");
        file_bytes = n;
        for (size_t s = 0; s < man->n_shards; s++) file_bytes += man->shards[s]->file_bytes;
        rd_same = load_read_bytes(man, b.P);
        if (b.K > 0) rd_down_reshard = load_read_bytes(man, b.K);
        rt_ckpt_manifest_free(&man);
        free(buf);
        if (b.K > 0) {
            check(rt_ckpt_manifest_read_bytes(sub_dir, &buf, &n), "manifest");
            check(rt_ckpt_manifest_decode(sub_dir, buf, n, &man), "manifest");
            rd_reshard = load_read_bytes(man, b.P);
            rd_down_same = load_read_bytes(man, b.K);
            rt_ckpt_manifest_free(&man);
            free(buf);
        }
    }

    /* loads, cold then warm; same-count and resharded alternate */
    double *t_same[2], *t_resh[2], *t_rread[2], *t_down_same = NULL, *t_down_resh = NULL;
    for (int w = 0; w < 2; w++) {
        int c = w == 0 && cold != COLD_NONE;
        t_same[w] = times(R);
        t_resh[w] = b.K > 0 ? times(R) : NULL;
        t_rread[w] = times(R);
        if (w == 1) { /* warm up: the files are in the page cache */
            time_load(&b, &gw, same_dir, 0);
            if (b.K > 0) time_load(&b, &gw, sub_dir, 0);
            time_raw_read(&b, &gw, 0);
        }
        for (int r = 0; r < R; r++) {
            for (int k = 0; k < 2; k++) {
                if ((k == 0) == (r % 2 == 0))
                    t_same[w][r] = time_load(&b, &gw, same_dir, c);
                else if (b.K > 0)
                    t_resh[w][r] = time_load(&b, &gw, sub_dir, c);
            }
            t_rread[w][r] = time_raw_read(&b, &gw, c);
        }
    }
    if (b.K > 0) { /* scale down: K ranks load the K-rank and the P-rank checkpoint, cold */
        t_down_same = times(R);
        t_down_resh = times(R);
        for (int r = 0; r < R; r++)
            for (int k = 0; k < 2; k++) {
                if ((k == 0) == (r % 2 == 0))
                    t_down_same[r] = time_load(&b, &gk, sub_dir, cold != COLD_NONE);
                else
                    t_down_resh[r] = time_load(&b, &gk, same_dir, cold != COLD_NONE);
            }
    }
    double *t_ag = times(R);
    for (int r = 0; r < R; r++) t_ag[r] = time_allgather(&b);

    int ok = 0;
    MPI_Allreduce(&b.ok, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);

    if (world_rank == 0) {
        struct statfs sf;
        unsigned long fs_magic = statfs(b.out, &sf) == 0 ? (unsigned long)sf.f_type : 0;
        char buf[64];
        const char *cn = cold_names[cold];
        bench_json j;
        bench_begin(&j, stdout, "ckpt", bench_openmpi_version(), bench_hdf5_version());
        bj_object(&j, "config");
        bj_object(&j, "model");
        bj_str(&j, "name", model);
        bj_int(&j, "params", (long long)NP);
        bj_int(&j, "n_layer", mc.n_layer);
        bj_int(&j, "n_embd", mc.n_embd);
        bj_int(&j, "vocab_size", mc.vocab_size);
        bj_end(&j);
        bj_int(&j, "ranks", b.P);
        bj_int(&j, "reshard_from_ranks", b.K);
        bj_int(&j, "nodes", b.world->nodes);
        bj_int(&j, "ranks_per_node", b.world->ranks_per_node);
        bj_str(&j, "dir", b.out);
        snprintf(buf, sizeof buf, "0x%lx", fs_magic);
        bj_str(&j, "fs_magic", buf);
        bj_int(&j, "repeats", R);
        bj_num(&j, "settle_s", b.settle);
        bj_str(&j, "cold_cache_method", cn);
        bj_str(&j, "time",
               "wall on rank 0 between barriers over all ranks; GBps = bytes.state / "
               "time (GB = 1e9 bytes)");
        bj_end(&j);

        const int P = b.P, Ks = b.K;
        bj_array(&j, "results");
        json_result(&j, "save", 0, (result_ids){P, -1, -1, NULL, NULL}, t_save, R, bytes);
        json_result(&j, "raw_write_fsync", 0, (result_ids){P, -1, -1, NULL, NULL}, t_raw, R, bytes);
        for (int w = 0; w < 2; w++) {
            char nm[64];
            const char *sfx = w == 0 ? "cold" : "warm";
            snprintf(nm, sizeof nm, "load_same_count_%s", sfx);
            json_result(&j, nm, 0, (result_ids){-1, P, P, sfx, NULL}, t_same[w], R, bytes);
            snprintf(nm, sizeof nm, "load_resharded_%s", sfx);
            json_result(&j, nm, 0, (result_ids){-1, Ks, P, sfx, NULL}, t_resh[w], R, bytes);
            snprintf(nm, sizeof nm, "raw_read_%s", sfx);
            json_result(&j, nm, 0,
                        (result_ids){P, -1, -1, sfx,
                                     "read() of each rank's raw file, no "
                                     "all-gather"},
                        t_rread[w], R, bytes);
        }
        json_result(&j, "scale_down_load_same_count_cold", 0,
                    (result_ids){-1, Ks, Ks, "cold", NULL}, t_down_same, R, bytes);
        json_result(&j, "scale_down_load_resharded_cold", 0, (result_ids){-1, P, Ks, "cold", NULL},
                    t_down_resh, R, bytes);
        json_result(&j, "xxh3", 1,
                    (result_ids){P, -1, -1, NULL,
                                 "rt_ckpt_hash over every rank's state, all ranks at once"},
                    t_hash, R, bytes);
        json_result(&j, "raw_write_no_fsync", 1, (result_ids){P, -1, -1, NULL, NULL}, t_nofsync, R,
                    bytes);
        json_result(&j, "shard_write", 1,
                    (result_ids){P, -1, -1, NULL,
                                 "rt_ckpt_shard_write alone, every rank at once (HDF5 shard, "
                                 "fsync, then the piece checksums)"},
                    t_shard, R, bytes);
        json_result(&j, "raw_write_fsync_write_phase", 1,
                    (result_ids){P, -1, -1, NULL, "raw_write_fsync: write() phase, slowest rank"},
                    t_raw_wr, R, bytes);
        json_result(
            &j, "raw_write_fsync_fsync_phase", 1,
            (result_ids){P, -1, -1, NULL, "raw_write_fsync: fsync()+close() phase, slowest rank"},
            t_raw_fs, R, bytes);
        json_result(&j, "params_allgather", 1,
                    (result_ids){P, -1, -1, NULL,
                                 "ring all-gather of the parameters (GBps: the state's bytes, "
                                 "for comparison; the parameters are a third)"},
                    b.P > 1 ? t_ag : NULL, R, bytes);
        bj_end(&j);

        bj_object(&j, "bytes");
        bj_int(&j, "state", (long long)bytes);
        bj_int(&j, "per_rank_max", (long long)(3 * sizeof(float) * ((NP + b.P - 1) / b.P)));
        bj_int(&j, "shard_files_and_manifest", (long long)file_bytes);
        bj_int(&j, "read_same_count", (long long)rd_same);
        bj_int(&j, "read_resharded", (long long)rd_reshard);
        bj_int(&j, "read_scale_down_same_count", (long long)rd_down_same);
        bj_int(&j, "read_scale_down_resharded", (long long)rd_down_reshard);
        bj_end(&j);
        bj_object(&j, "cold_cache");
        bj_str(&j, "method", cn);
        bj_num(&j, "resident_fraction_after_drop_max", b.resident_max);
        bj_int(&j, "pages_under_dir", (long long)b.resident_pages);
        bj_end(&j);
        bj_object(&j, "loadavg_1min");
        bj_num(&j, "start", load_start);
        bj_num(&j, "end", loadavg());
        bj_end(&j);
        bj_num(&j, "save_over_raw_GBps", ratio(t_raw, t_save, R));
        bj_num(&j, "save_over_raw_GBps_pairwise_median", pair_ratio(t_raw, t_save, R));
        bj_num(&j, "save_over_raw_GBps_best", bench_min(t_raw, R) / bench_min(t_save, R));
        for (int w = 0; w < 2; w++) {
            char nm[96];
            const char *sfx = w == 0 ? "cold" : "warm";
            snprintf(nm, sizeof nm, "resharded_over_same_count_time_%s", sfx);
            bj_num(&j, nm, ratio(t_resh[w], t_same[w], R));
            snprintf(nm, sizeof nm, "resharded_over_same_count_time_%s_pairwise_median", sfx);
            bj_num(&j, nm, pair_ratio(t_resh[w], t_same[w], R));
            snprintf(nm, sizeof nm, "load_same_count_over_raw_read_time_%s", sfx);
            bj_num(&j, nm, ratio(t_same[w], t_rread[w], R));
        }
        bj_num(&j, "scale_down_resharded_over_same_count_time_cold",
               ratio(t_down_resh, t_down_same, R));
        bj_bool(&j, "correct", ok);
        bench_finish(&j);

        fprintf(stderr,
                "medians (GB/s = %.3f GB of state / time), cold = %s, resident after "
                "drop <= %.1f%%:\n",
                bytes / 1e9, cn, 100 * b.resident_max);
        summary_line("save", t_save, R, bytes);
        summary_line("raw write+fsync", t_raw, R, bytes);
        summary_line("load same-count cold", t_same[0], R, bytes);
        summary_line("load resharded cold", t_resh[0], R, bytes);
        summary_line("raw read cold", t_rread[0], R, bytes);
        summary_line("load same-count warm", t_same[1], R, bytes);
        summary_line("load resharded warm", t_resh[1], R, bytes);
        summary_line("raw read warm", t_rread[1], R, bytes);
        summary_line("scale-down load same-count cold", t_down_same, R, bytes);
        summary_line("scale-down load resharded cold", t_down_resh, R, bytes);
        summary_line("xxh3 (all ranks)", t_hash, R, bytes);
        summary_line("raw write, no fsync", t_nofsync, R, bytes);
        summary_line("rt_ckpt_shard_write alone", t_shard, R, bytes);
        summary_line("raw: write() phase", t_raw_wr, R, bytes);
        summary_line("raw: fsync() phase", t_raw_fs, R, bytes);
        summary_line("params all-gather", b.P > 1 ? t_ag : NULL, R, bytes);
        fprintf(stderr,
                "  save/raw %.3f (pairwise %.3f, best %.3f), resharded/same-count time cold %.3f "
                "(pairwise "
                "%.3f) warm %.3f (pairwise %.3f)%s\n",
                ratio(t_raw, t_save, R), pair_ratio(t_raw, t_save, R),
                bench_min(t_raw, R) / bench_min(t_save, R), ratio(t_resh[0], t_same[0], R),
                pair_ratio(t_resh[0], t_same[0], R), ratio(t_resh[1], t_same[1], R),
                pair_ratio(t_resh[1], t_same[1], R), ok ? "" : "  WRONG VALUES LOADED");
    }

    for (int w = 0; w < 2; w++) {
        free(t_same[w]);
        free(t_resh[w]);
        free(t_rread[w]);
    }
    free(t_down_same);
    free(t_down_resh);
    free(t_ag);
    free(t_hash);
    free(t_save);
    free(t_raw);
    free(t_nofsync);
    free(t_shard);
    free(t_raw_wr);
    free(t_raw_fs);
    MPI_Barrier(MPI_COMM_WORLD);
    if (world_rank == 0) {
        if (keep) {
            fprintf(stderr, "bench_ckpt: kept %s\n", root);
        } else {
            rt_ckpt_remove_tree(b.out);
            unlink(corpus);
            if (made_tmp) rmdir(root);
        }
    }
    rt_corpus_close(&b.corpus);
    group_free(&gk);
    group_free(&gw);
    rt_mpi_ctx_destroy(&kctx);
    rt_config_free(&b.cfg);
    rt_free_floats(&b.ref);
    free(b.first_step);
    rt_model_destroy(&b.m);
    rt_mpi_ctx_destroy(&b.world);
    MPI_Finalize();
    return ok ? 0 : 1;

usage:
    fprintf(stderr,
            "usage: %s [--dir DIR] [--repeats N] [--model 124m|small] [--keep] [--reshard-from K] "
            "[--settle S] "
            "[--cold fadvise|drop_caches|none]\n",
            argv[0]);
    return 2;
}
