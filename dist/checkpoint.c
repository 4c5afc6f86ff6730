/* Coordinated sharded checkpoints: the commit protocol, resharded loading, compatibility checks,
   retention and fault injection (dist/checkpoint.h). */
#include "checkpoint.h"
#include "model_lora.h"
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include "fsutil.h"
#include "model_registry.h"
#include "ring.h"
#include "watchdog.h"

#ifndef RT_VERSION
#define RT_VERSION "unknown"
#endif

/* ---- fault injection (tests) -------------------------------------------------------------- */

static int save_seq; /* saves started by this process */

static void fault_point(int rank, const char *phase) {
    const char *f = getenv("RINGTUNE_CKPT_FAULT");
    if (!f || !*f) return;
    int r = -1, n = 1;
    char ph[32] = "", act[8] = "";
    if (sscanf(f, "%d:%31[a-z-]:%d:%7s", &r, ph, &n, act) < 2) return;
    if (r != rank || strcmp(ph, phase) != 0 || n != save_seq) return;
    /* "R:PHASE:N:stop" stops the rank instead (a hung file system: the others must not wait
       forever) */
    int stop = !strcmp(act, "stop");
    fprintf(stderr, "ringtune: RINGTUNE_CKPT_FAULT: rank %d %s at %s of save %d\n", rank,
            stop ? "stops" : "dies", phase, save_seq);
    fflush(stderr);
    kill(getpid(), stop ? SIGSTOP : SIGKILL);
}

typedef struct {
    int rank;
} fault_arg;

static void fault_progress(void *arg, int k) {
    if (k == 1) fault_point(((fault_arg *)arg)->rank, "mid-data");
}

/* ---- small helpers ------------------------------------------------------------------------ */

static void chunk_of(const rt_ckpt_view *v, int size, int rank, uint64_t *lo, uint64_t *hi) {
    size_t a, b;
    rt_ring_chunk(v->m->params->total, size, rank, &a, &b);
    *lo = a;
    *hi = b;
}

static rt_status data_fingerprint(const rt_ckpt_view *v, uint64_t *out) {
    uint64_t f[2] = {0, 0};
    RT_CALL(rt_corpus_fingerprint(v->train, &f[0]));
    if (v->val) RT_CALL(rt_corpus_fingerprint(v->val, &f[1]));
    *out = (uint64_t)XXH3_64bits(f, sizeof f);
    return RT_OK;
}

/* ---- save --------------------------------------------------------------------------------- */

/* Frees what build_manifest allocated (not the gathered shards). */
typedef struct {
    Ringtune__Manifest man;
    rt_manifest_model model; /* architecture and head (io/model_registry.h) */
    Ringtune__Schedule sched;
    Ringtune__Sampler sampler;
    Ringtune__Rng rng;
    Ringtune__DataIdentity data;
    Ringtune__TrainState state;
    Ringtune__Tensor *tensors;
    Ringtune__Tensor **tensor_ptrs;
    char *yaml;
    char producer[64];
    char sha[65];
} manifest_build;

static void manifest_build_free(manifest_build *b) {
    free(b->tensors);
    free(b->tensor_ptrs);
    free(b->yaml);
}

static rt_status build_manifest(const rt_ckpt_view *v, const rt_ckpt_state *s, const char *reason,
                                Ringtune__Shard **shards, manifest_build *b) {
    const rt_run_config *cfg = v->cfg;
    const rt_tensor_table *tab = v->m->params;
    Ringtune__Manifest *m = &b->man;
    ringtune__manifest__init(m);
    ringtune__schedule__init(&b->sched);
    ringtune__sampler__init(&b->sampler);
    ringtune__rng__init(&b->rng);
    ringtune__data_identity__init(&b->data);
    ringtune__train_state__init(&b->state);
    m->format_version = RT_CKPT_FORMAT_VERSION;
    snprintf(b->producer, sizeof b->producer, "ringtune %s", RT_VERSION);
    m->producer = b->producer;
    m->created_unix = (int64_t)time(NULL);
    m->reason = (char *)reason;
    m->step = s->step;
    m->world_size = (uint32_t)v->ctx->size;
    m->nodes = (uint32_t)v->ctx->nodes;
    m->zero1 = cfg->dist.zero1;
    m->total_params = tab->total;
    m->piece_elems = RT_CKPT_PIECE_ELEMS;
    rt_model_to_manifest(v->m, &b->model, m);
    b->tensors = calloc((size_t)tab->n, sizeof *b->tensors);
    b->tensor_ptrs = calloc((size_t)tab->n, sizeof *b->tensor_ptrs);
    if (!b->tensors || !b->tensor_ptrs) return rt_error(RT_ERR_MEMORY, "out of memory");
    for (int i = 0; i < tab->n; i++) {
        Ringtune__Tensor *t = &b->tensors[i];
        ringtune__tensor__init(t);
        t->name = (char *)tab->t[i].name;
        t->n_shape = (size_t)tab->t[i].ndim;
        t->shape = (int64_t *)tab->t[i].shape;
        t->offset = tab->t[i].offset;
        t->numel = tab->t[i].numel;
        t->trainable = tab->t[i].trainable != 0;
        t->first_step = v->first_step[i];
        b->tensor_ptrs[i] = t;
    }
    m->n_tensors = (size_t)tab->n;
    m->tensors = b->tensor_ptrs;
    m->n_shards = (size_t)v->ctx->size;
    m->shards = shards;
    b->sched.kind = (char *)rt_schedule_name(v->sch->kind);
    b->sched.lr = v->sch->max_lr;
    b->sched.min_lr = v->sch->min_lr;
    b->sched.warmup_steps = v->sch->warmup;
    b->sched.total_steps = v->sch->total;
    b->sched.lr_last = s->lr_last;
    m->schedule = &b->sched;
    b->sampler.samples_consumed = (uint64_t)s->step * (uint64_t)cfg->train.global_batch;
    b->sampler.windows = v->windows;
    b->sampler.seq_len = cfg->data.seq_len;
    b->sampler.global_batch = cfg->train.global_batch;
    b->sampler.seed = cfg->data.seed;
    b->sampler.epoch = v->windows ? (double)b->sampler.samples_consumed / (double)v->windows : 0;
    m->sampler = &b->sampler;
    b->rng.train_seed = cfg->train.seed;
    b->rng.scheme = (char *)"counter(seed, step, micro-batch, site)";
    m->rng = &b->rng;
    b->data.corpus = cfg->data.corpus;
    b->data.val_corpus = cfg->data.val_corpus ? cfg->data.val_corpus : (char *)"";
    b->data.train_tokens = rt_corpus_n_tokens(v->train, RT_SPLIT_TRAIN);
    b->data.val_tokens = rt_corpus_n_tokens(v->val ? v->val : v->train, RT_SPLIT_VALIDATION);
    snprintf(b->sha, sizeof b->sha, "%s", rt_corpus_tokenizer_sha256(v->train));
    b->data.tokenizer_sha256 = b->sha;
    b->data.vocab_size = rt_corpus_vocab_size(v->train);
    RT_CALL(data_fingerprint(v, &b->data.fingerprint));
    m->data = &b->data;
    b->state.before_loss = s->before_loss;
    b->state.best_loss = s->best_loss;
    b->state.best_step = s->best_step;
    b->state.bad_evals = s->bad_evals;
    b->state.steps_skipped = s->steps_skipped;
    b->state.val_loss = s->val_loss;
    b->state.tokens_seen = s->tokens_seen;
    b->state.has_best_params = v->best != NULL;
    b->state.finished = s->finished != 0;
    b->state.eval_metric = cfg->eval.metric;
    b->state.val_score = s->val_score;
    m->state = &b->state;
    size_t ylen = 0;
    FILE *f = open_memstream(&b->yaml, &ylen);
    if (!f) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status st = rt_config_write_yaml(cfg, f);
    fclose(f);
    RT_CALL(st);
    m->config_yaml = b->yaml;
    return RT_OK;
}

/* Rank 0: after a commit, removes checkpoints beyond keep_last that are not the best. */
static rt_status retention(const rt_run_config *cfg, long keep_step, FILE *log) {
    const char *root = cfg->output.dir;
    long *steps = NULL;
    size_t n = 0;
    RT_CALL(rt_ckpt_list(root, &steps, &n));
    long best_step = -1;
    double best = INFINITY;
    char dir[4096], name[64];
    for (size_t i = 0; i < n && cfg->checkpoint.keep_best; i++) {
        rt_ckpt_step_name(steps[i], name, sizeof name);
        snprintf(dir, sizeof dir, "%s/%s", root, name);
        uint8_t *buf = NULL;
        size_t len = 0;
        Ringtune__Manifest *m = NULL;
        if (rt_ckpt_manifest_read_bytes(dir, &buf, &len) == RT_OK &&
            rt_ckpt_manifest_decode(dir, buf, len, &m) == RT_OK) {
            /* a manifest before eval.metric ranked by the loss */
            double v = m->state->eval_metric[0] ? m->state->val_score : m->state->val_loss;
            if (isfinite(v) && v < best) {
                best = v;
                best_step = steps[i];
            }
        }
        rt_ckpt_manifest_free(&m);
        free(buf);
        rt_error_clear();
    }
    rt_status st = RT_OK;
    int keep = cfg->checkpoint.keep_last;
    for (size_t i = 0; i < n && st == RT_OK; i++) {
        if (keep == RT_CONFIG_NULL_INT || i + (size_t)keep >= n || steps[i] == best_step ||
            steps[i] == keep_step)
            continue;
        rt_ckpt_step_name(steps[i], name, sizeof name);
        snprintf(dir, sizeof dir, "%s/%s", root, name);
        st = rt_ckpt_remove_tree(dir);
        if (st == RT_OK && log) fprintf(log, "checkpoint: removed %s (retention)\n", dir);
    }
    free(steps);
    return st;
}

static rt_status not_saved(rt_status st, const char *final) {
    char msg[3072];
    snprintf(msg, sizeof msg, "%s", rt_error_message());
    return rt_error(st, "checkpoint %s not saved (previous checkpoints are intact): %s", final,
                    msg);
}

static rt_status save(const rt_ckpt_view *v, const rt_ckpt_state *s, const char *reason,
                      FILE *log) {
    rt_mpi_ctx *ctx = v->ctx;
    const rt_run_config *cfg = v->cfg;
    const char *root = cfg->output.dir;
    save_seq++;
    double t0 = MPI_Wtime();
    char name[64], final[4096], tmp[4200], shard[4400];
    rt_ckpt_step_name(s->step, name, sizeof name);
    snprintf(final, sizeof final, "%s/%s", root, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", final);
    rt_status st = RT_OK;
    if (ctx->rank == 0) {
        st = rt_fs_mkdir_p(root);
        if (st == RT_OK) st = rt_ckpt_clean_leftovers(root, NULL);
        /* all shards together must fit (output.dir is shared); each rank checks its own too */
        uint64_t need = (uint64_t)(v->best ? 4 : 3) * v->m->params->total * sizeof(float) +
                        (uint64_t)ctx->size * ((uint64_t)1 << 20);
        struct statvfs vs;
        if (st == RT_OK && statvfs(root, &vs) == 0 && (uint64_t)vs.f_bavail * vs.f_frsize < need)
            st = rt_error(RT_ERR_IO,
                          "%s: not enough space for a checkpoint: %llu bytes needed, %llu "
                          "available",
                          root, (unsigned long long)need,
                          (unsigned long long)((uint64_t)vs.f_bavail * vs.f_frsize));
        if (st == RT_OK && mkdir(tmp, 0777) != 0)
            st = rt_error(RT_ERR_IO, "%s: cannot create the checkpoint directory: %s", tmp,
                          strerror(errno));
    }
    st = rt_mpi_ctx_agree(ctx, st);
    if (st != RT_OK) return not_saved(st, final);

    /* every rank: its contiguous range of the flat buffer */
    fault_point(ctx->rank, "before-data");
    uint64_t lo, hi;
    chunk_of(v, ctx->size, ctx->rank, &lo, &hi);
    rt_ckpt_dataset ds[4] = {{"params", v->m->params_mem + lo},
                             {"adam_m", v->mom + (lo - v->state_lo)},
                             {"adam_v", v->var + (lo - v->state_lo)},
                             {"best_params", v->best ? v->best + lo : NULL}};
    snprintf(shard, sizeof shard, "%s/shard-%05d-of-%05d.h5", tmp, ctx->rank, ctx->size);
    Ringtune__Shard desc;
    fault_arg fa = {ctx->rank};
    st = rt_ckpt_shard_write(shard, v->m->params, ctx->rank, ctx->size, s->step, lo, hi, ds,
                             v->best ? 4 : 3, fault_progress, &fa, &desc);
    fault_point(ctx->rank, "before-agree");
    st = rt_mpi_ctx_agree(ctx, st);
    if (st != RT_OK) {
        if (ctx->rank == 0) rt_ckpt_remove_tree(tmp);
        rt_ckpt_shard_desc_free(&desc);
        return not_saved(st, final);
    }

    /* the shard descriptors go to rank 0 */
    size_t plen = ringtune__shard__get_packed_size(&desc);
    uint8_t *packed = malloc(plen ? plen : 1);
    int mylen = (int)plen, *lens = NULL, *displs = NULL;
    uint8_t *all = NULL;
    if (packed) ringtune__shard__pack(&desc, packed);
    rt_ckpt_shard_desc_free(&desc);
    st = packed ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (ctx->rank == 0) {
        lens = calloc((size_t)ctx->size, sizeof(int));
        displs = calloc((size_t)ctx->size, sizeof(int));
        if (!lens || !displs) st = rt_error(RT_ERR_MEMORY, "out of memory");
    }
    RT_CALL(rt_mpi_ctx_agree(ctx, st));
    st = rt_mpi_check(rt_wd_gather(&mylen, 1, MPI_INT, lens, 1, MPI_INT, 0, ctx->comm,
                                   "shard descriptor sizes (MPI_Gather)"),
                      "MPI_Gather(shard sizes)");
    long total = 0;
    if (ctx->rank == 0 && st == RT_OK) {
        for (int r = 0; r < ctx->size; r++) {
            displs[r] = (int)total;
            total += lens[r];
        }
        if (!(all = malloc((size_t)total + 1))) st = rt_error(RT_ERR_MEMORY, "out of memory");
    }
    RT_CALL(rt_mpi_ctx_agree(ctx, st));
    st = rt_mpi_check(rt_wd_gatherv(packed, mylen, MPI_BYTE, all, lens, displs, MPI_BYTE, 0,
                                    ctx->comm, "shard descriptors (MPI_Gatherv)"),
                      "MPI_Gatherv(shards)");
    free(packed);

    /* rank 0 commits */
    int renamed = 0;
    if (ctx->rank == 0 && st == RT_OK) {
        Ringtune__Shard **shards = calloc((size_t)ctx->size, sizeof *shards);
        if (!shards) st = rt_error(RT_ERR_MEMORY, "out of memory");
        for (int r = 0; r < ctx->size && st == RT_OK; r++)
            if (!(shards[r] = ringtune__shard__unpack(NULL, (size_t)lens[r], all + displs[r])))
                st = rt_error(RT_ERR_INTERNAL, "cannot decode rank %d's shard descriptor", r);
        manifest_build b;
        memset(&b, 0, sizeof b);
        if (st == RT_OK) st = build_manifest(v, s, reason, shards, &b);
        if (st == RT_OK) st = rt_fs_sync_dir(tmp);
        fault_point(0, "before-manifest");
        if (st == RT_OK) st = rt_ckpt_manifest_write(tmp, &b.man);
        fault_point(0, "before-rename");
        if (st == RT_OK) st = rt_ckpt_replace_dir(tmp, final);
        if (st == RT_OK) renamed = 1;
        fault_point(0, "before-latest");
        if (st == RT_OK) st = rt_ckpt_latest_write(root, name);
        manifest_build_free(&b);
        for (int r = 0; shards && r < ctx->size; r++)
            if (shards[r]) ringtune__shard__free_unpacked(shards[r], NULL);
        free(shards);
        if (st != RT_OK && !renamed) rt_ckpt_remove_tree(tmp);
        if (st == RT_OK) {
            if (log)
                fprintf(log, "checkpoint: saved %s (%s, %d shards) in %.2f s\n", final, reason,
                        ctx->size, MPI_Wtime() - t0);
            st = retention(cfg, s->step, log);
        }
    }
    free(all);
    free(lens);
    free(displs);
    st = rt_mpi_ctx_agree(ctx, st);
    if (st != RT_OK && !renamed) return not_saved(st, final);
    return st;
}

/* The save under the watchdog's phase "checkpoint save" (the waits of a save name it). */
rt_status rt_ckpt_save(const rt_ckpt_view *v, const rt_ckpt_state *s, const char *reason,
                       FILE *log) {
    const char *phase = rt_watchdog_phase("checkpoint save");
    rt_status st = save(v, s, reason, log);
    rt_watchdog_phase(phase);
    return st;
}

/* ---- resolve and read --------------------------------------------------------------------- */

static rt_status bcast_string(rt_mpi_ctx *ctx, char *buf, size_t cap) {
    int n = ctx->rank == 0 ? (int)strlen(buf) + 1 : 0;
    RT_CALL(rt_mpi_check(rt_wd_bcast(&n, 1, MPI_INT, 0, ctx->comm, "string broadcast (MPI_Bcast)"),
                         "MPI_Bcast"));
    if ((size_t)n > cap) return rt_error(RT_ERR_INTERNAL, "string too long");
    return rt_mpi_check(rt_wd_bcast(buf, n, MPI_CHAR, 0, ctx->comm, "string broadcast (MPI_Bcast)"),
                        "MPI_Bcast");
}

rt_status rt_ckpt_resolve(rt_mpi_ctx *ctx, const rt_run_config *cfg, char *dir, size_t cap) {
    const char *r = cfg->checkpoint.resume;
    dir[0] = 0;
    rt_status st = RT_OK;
    if (ctx->rank == 0) {
        int cleaned = 0;
        if (rt_fs_exists(cfg->output.dir)) st = rt_ckpt_clean_leftovers(cfg->output.dir, &cleaned);
        if (st == RT_OK && cleaned)
            fprintf(stderr,
                    "ringtune: removed %d leftover(s) of an interrupted checkpoint save in "
                    "%s\n",
                    cleaned, cfg->output.dir);
        if (st == RT_OK && r && (!strcmp(r, "latest") || !strcmp(r, "auto"))) {
            char name[256];
            int have = rt_fs_exists(cfg->output.dir);
            if (have) {
                char lp[4096];
                snprintf(lp, sizeof lp, "%s/%s", cfg->output.dir, RT_CKPT_LATEST);
                have = rt_fs_exists(lp);
            }
            if (!have && !strcmp(r, "latest"))
                st = rt_error(RT_ERR_ARG,
                              "checkpoint.resume: latest: %s/%s does not exist (no checkpoint "
                              "has been committed in output.dir; use 'auto' to start fresh then)",
                              cfg->output.dir, RT_CKPT_LATEST);
            if (have && st == RT_OK) st = rt_ckpt_latest_read(cfg->output.dir, name, sizeof name);
            if (have && st == RT_OK) snprintf(dir, cap, "%s/%s", cfg->output.dir, name);
        } else if (st == RT_OK && r) {
            snprintf(dir, cap, "%s", r);
            size_t l = strlen(dir);
            while (l > 1 && dir[l - 1] == '/') dir[--l] = 0;
        }
    }
    RT_CALL(rt_mpi_ctx_agree(ctx, st));
    return bcast_string(ctx, dir, cap);
}

rt_status rt_ckpt_read_manifest(rt_mpi_ctx *ctx, const char *dir, Ringtune__Manifest **out) {
    *out = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    rt_status st = RT_OK;
    if (ctx->rank == 0) {
        st = rt_ckpt_manifest_read_bytes(dir, &buf, &n);
        Ringtune__Manifest *m = NULL;
        if (st == RT_OK) st = rt_ckpt_manifest_decode(dir, buf, n, &m);
        rt_ckpt_manifest_free(&m);
    }
    st = rt_mpi_ctx_agree(ctx, st);
    if (st != RT_OK) {
        free(buf);
        return st;
    }
    long len = (long)n;
    st = rt_mpi_check(
        rt_wd_bcast(&len, 1, MPI_LONG, 0, ctx->comm, "manifest size broadcast (MPI_Bcast)"),
        "MPI_Bcast(manifest size)");
    if (st == RT_OK && ctx->rank != 0 && !(buf = malloc((size_t)len + 1)))
        st = rt_error(RT_ERR_MEMORY, "out of memory");
    st = rt_mpi_ctx_agree(ctx, st);
    if (st == RT_OK)
        st = rt_mpi_check(
            rt_wd_bcast(buf, (int)len, MPI_BYTE, 0, ctx->comm, "manifest broadcast (MPI_Bcast)"),
            "MPI_Bcast(manifest)");
    if (st == RT_OK) st = rt_ckpt_manifest_decode(dir, buf, (size_t)len, out);
    free(buf);
    return rt_mpi_ctx_agree(ctx, st);
}

/* ---- compatibility ------------------------------------------------------------------------ */

/* Keys whose change would not continue the same run. Everything else may change on resume with a
   warning (a new learning rate, more steps, other eval or checkpoint settings, another rank count
   or micro-batch; model.path and data.corpus by path only, their contents are checked). */
static const char *const unsafe_keys[] = {"data.seq_len",
                                          "data.seed",
                                          "train.global_batch",
                                          "train.seed",
                                          "finetune.mode",
                                          "finetune.last_n_blocks",
                                          "finetune.unfreeze_every",
                                          "finetune.unfreeze_unit",
                                          "optim.schedule",
                                          "optim.warmup_steps",
                                          "optim.warmup_ratio",
                                          NULL};
/* Keys that differ on every resume by design: no warning. */
static const char *const quiet_keys[] = {"checkpoint.resume", NULL};

static int in_list(const char *const *l, const char *k) {
    for (; *l; l++)
        if (!strcmp(*l, k)) return 1;
    return 0;
}

typedef struct {
    const char *dir;
    FILE *log;
    char unsafe[2048];
} diff_ctx;

static void on_diff(void *arg, const char *key, const char *was, const char *now) {
    diff_ctx *d = arg;
    if (in_list(quiet_keys, key)) return;
    if (in_list(unsafe_keys, key)) {
        size_t l = strlen(d->unsafe);
        snprintf(d->unsafe + l, sizeof d->unsafe - l, "%s%s = %s in the checkpoint, %s now",
                 l ? "; " : "", key, was, now);
    } else if (d->log) {
        fprintf(d->log, "warning: resuming %s with %s = %s (the checkpoint's run had %s)\n", d->dir,
                key, now, was);
    }
}

static rt_status check_compatible(const rt_ckpt_view *v, const char *dir,
                                  const Ringtune__Manifest *man, FILE *log) {
    /* the architecture and the head, then the architecture's fields (the registry's codec) */
    if (strcmp(rt_manifest_arch(man), v->m->ops->arch))
        return rt_error(RT_ERR_ARG, "%s: model architecture '%s', this run trains '%s'", dir,
                        rt_manifest_arch(man), v->m->ops->arch);
    if (strcmp(rt_manifest_head(man), v->m->head->kind))
        return rt_error(RT_ERR_ARG, "%s: task head '%s', this run trains '%s'", dir,
                        rt_manifest_head(man), v->m->head->kind);
    const rt_model *base = rt_model_unwrapped(v->m);
    RT_CALL(rt_model_codec_of(base)->check_manifest(dir, man, base, v->cfg->model.path));
    const char *metric = man->state->eval_metric[0] ? man->state->eval_metric : "loss";
    if (strcmp(metric, v->cfg->eval.metric))
        return rt_error(RT_ERR_ARG,
                        "%s: the run's best weights and early stopping follow eval.metric '%s', "
                        "the run config says '%s': resume with eval.metric=%s (or start a new run "
                        "from the checkpoint's weights with model.path)",
                        dir, metric, v->cfg->eval.metric, metric);
    const rt_tensor_table *tab = v->m->params;
    if (man->n_tensors != (size_t)tab->n || man->total_params != tab->total)
        return rt_error(RT_ERR_ARG,
                        "%s: %zu tensors / %llu parameters in the checkpoint, %d / %zu "
                        "in the model",
                        dir, man->n_tensors, (unsigned long long)man->total_params, tab->n,
                        tab->total);
    for (int i = 0; i < tab->n; i++) {
        const Ringtune__Tensor *t = man->tensors[i];
        int same = !strcmp(t->name, tab->t[i].name) && t->offset == tab->t[i].offset &&
                   t->n_shape == (size_t)tab->t[i].ndim;
        for (size_t d = 0; same && d < t->n_shape; d++) same = t->shape[d] == tab->t[i].shape[d];
        if (!same)
            return rt_error(RT_ERR_ARG,
                            "%s: tensor %d is %s at offset %llu in the checkpoint, %s "
                            "at %zu in the model",
                            dir, i, t->name, (unsigned long long)t->offset, tab->t[i].name,
                            tab->t[i].offset);
    }
    /* the configuration */
    rt_run_config old;
    rt_status st = rt_config_load_string(&old, man->config_yaml, strlen(man->config_yaml),
                                         "manifest config_yaml", 0, NULL);
    if (st != RT_OK)
        return rt_error(RT_ERR_FORMAT, "%s: the stored configuration does not load: %s", dir,
                        rt_error_message());
    diff_ctx d = {dir, v->ctx->rank == 0 ? log : NULL, ""};
    rt_config_diff(&old, v->cfg, on_diff, &d);
    rt_config_free(&old);
    if (d.unsafe[0])
        return rt_error(RT_ERR_ARG,
                        "%s: resuming would not continue the same run: %s (restore these values "
                        "to resume, or start a new run)",
                        dir, d.unsafe);
    /* the data: same windows, same tokens */
    if (man->sampler->windows != v->windows)
        return rt_error(RT_ERR_ARG,
                        "%s: the checkpoint's train split held %llu windows of %lld "
                        "tokens, data.corpus %s holds %llu: not the same corpus",
                        dir, (unsigned long long)man->sampler->windows,
                        (long long)man->sampler->seq_len + 1, v->cfg->data.corpus,
                        (unsigned long long)v->windows);
    if (strcmp(man->data->tokenizer_sha256, rt_corpus_tokenizer_sha256(v->train)))
        return rt_error(RT_ERR_ARG,
                        "%s: tokenizer sha256 %s in the checkpoint, %s in data.corpus "
                        "%s: not the same tokenizer",
                        dir, man->data->tokenizer_sha256, rt_corpus_tokenizer_sha256(v->train),
                        v->cfg->data.corpus);
    uint64_t fp = 0;
    if (v->ctx->rank == 0) st = data_fingerprint(v, &fp);
    if (st == RT_OK && v->ctx->rank == 0 && fp != man->data->fingerprint)
        st = rt_error(
            RT_ERR_ARG,
            "%s: data.corpus %s (train %llu / validation %llu tokens) is not the corpus "
            "the checkpoint was trained on (%s: %llu / %llu tokens; identity "
            "fingerprints %016llx vs %016llx)",
            dir, v->cfg->data.corpus,
            (unsigned long long)rt_corpus_n_tokens(v->train, RT_SPLIT_TRAIN),
            (unsigned long long)rt_corpus_n_tokens(v->val ? v->val : v->train, RT_SPLIT_VALIDATION),
            man->data->corpus, (unsigned long long)man->data->train_tokens,
            (unsigned long long)man->data->val_tokens, (unsigned long long)man->data->fingerprint,
            (unsigned long long)fp);
    return st;
}

/* ---- load --------------------------------------------------------------------------------- */

static rt_status allgather(rt_mpi_ctx *ctx, float *buf, size_t n) {
    rt_ring *ring = NULL;
    rt_status st = rt_ring_create(&ring, NULL);
    if (st == RT_OK) st = rt_ring_start(ring, ctx, buf, n, RT_RING_ALLGATHER);
    if (st == RT_OK) st = rt_ring_wait(ring);
    rt_ring_destroy(&ring);
    return st;
}

rt_status rt_ckpt_load(const rt_ckpt_view *v, const char *dir, const Ringtune__Manifest *man,
                       rt_ckpt_state *s, FILE *log) {
    rt_mpi_ctx *ctx = v->ctx;
    FILE *out = ctx->rank == 0 ? log : NULL;
    RT_CALL(rt_mpi_ctx_agree(ctx, check_compatible(v, dir, man, out)));
    const rt_tensor_table *tab = v->m->params;
    uint64_t lo, hi;
    chunk_of(v, ctx->size, ctx->rank, &lo, &hi);
    float *scratch = rt_alloc_floats(RT_CKPT_PIECE_ELEMS);
    rt_status st = scratch ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    int has_best = man->state->has_best_params;
    if (st == RT_OK)
        st = rt_ckpt_read_range(dir, man, tab, "params", lo, hi, v->m->params_mem + lo, scratch);
    if (st == RT_OK)
        st = rt_ckpt_read_range(dir, man, tab, "adam_m", lo, hi, v->mom + (lo - v->state_lo),
                                scratch);
    if (st == RT_OK)
        st = rt_ckpt_read_range(dir, man, tab, "adam_v", lo, hi, v->var + (lo - v->state_lo),
                                scratch);
    if (st == RT_OK && v->best && has_best)
        st = rt_ckpt_read_range(dir, man, tab, "best_params", lo, hi, v->best + lo, scratch);
    rt_free_floats(&scratch);
    RT_CALL(rt_mpi_ctx_agree(ctx, st));
    size_t P = tab->total;
    RT_CALL(allgather(ctx, v->m->params_mem, P));
    if (v->state_lo == 0 && v->state_hi == P && ctx->size > 1) {
        /* without ZeRO-1 every rank holds the whole optimizer state */
        RT_CALL(allgather(ctx, v->mom, P));
        RT_CALL(allgather(ctx, v->var, P));
    }
    if (v->best) {
        if (has_best)
            RT_CALL(allgather(ctx, v->best, P));
        else
            memcpy(v->best, v->m->params_mem, P * sizeof(float));
    }
    for (int i = 0; i < tab->n; i++) v->first_step[i] = man->tensors[i]->first_step;
    memset(s, 0, sizeof *s);
    s->step = man->step;
    s->before_loss = man->state->before_loss;
    s->best_loss = man->state->best_loss;
    s->best_step = man->state->best_step;
    s->bad_evals = man->state->bad_evals;
    s->steps_skipped = man->state->steps_skipped;
    s->val_loss = man->state->val_loss;
    s->val_score = man->state->eval_metric[0] ? man->state->val_score : man->state->val_loss;
    s->tokens_seen = man->state->tokens_seen;
    s->lr_last = man->schedule->lr_last;
    s->finished = man->state->finished;
    if (out)
        fprintf(out, "resumed from %s: step %lld, %u shards written by %u ranks, now %d ranks\n",
                dir, (long long)man->step, (unsigned)man->n_shards, man->world_size, ctx->size);
    return RT_OK;
}
