/* Sharded checkpoints, in one 4-rank job: a run saved by 3 ranks resumes at 1, 2, 3 and 4 ranks
   (sub-communicators) and continues the uninterrupted run: bit for bit at 3 ranks (losses and
   final parameters), within 1e-5 relative elsewhere, always on exactly the same training samples;
   also with ZeRO-1 off and with gradual unfreezing (per-tensor AdamW step counts). Damaged
   checkpoints (a flipped byte anywhere in HDF5's metadata and across the data, a truncated or
   missing shard, a manifest from a newer format version or with a flipped byte) fail to load on
   every rank alike with the file named. Piece boundaries and `ringtune export`'s loader too. */
#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>
#include "checkpoint.h"
#include "ckpt.h"
#include "config.h"
#include "model_registry.h"
#include "mpictx.h"
#include "train.h"
#include "train_fixture.h"

static int rank, size;
static char dir[256];
static rt_mpi_ctx *world, *ctx_of[5]; /* ctx_of[p]: ranks 0..p-1, NULL on the others */

static void setup_files(void) {
    if (rank == 0) {
        rt_gpt2 *m = fixture_standard_files(dir);
        rt_gpt2_destroy(&m);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static const char *eval_yaml =
    "eval: {every_steps: 5, max_batches: 2, early_stopping: {patience: 3}}";

static const char *dist_extra = ""; /* inside the dist mapping */
static int ckpt_every = 5;
static const char *corpus = "rand.h5";
static const char *lr = "3.0e-3";
static int max_steps = 10;
static const char *ckpt_keep = "null";

/* Trains on ctx (NULL: this rank sits out) with the base settings + extra YAML lines. Dropout is
   on, so the RNG streams must continue too. */
static rt_status train(rt_mpi_ctx *ctx, const char *out, const char *resume, const char *extra,
                       rt_train_result *res) {
    if (!ctx) return RT_OK;
    char yaml[4096];
    snprintf(yaml, sizeof yaml,
             "model: {path: %s/base, dropout: {embd: 0.1, attn: 0.1, resid: 0.1}}\n"
             "data: {corpus: %s/%s, seq_len: 16}\n"
             "train: {global_batch: 12, micro_batch: 1, max_steps: %d}\n"
             "optim: {lr: %s, warmup_steps: 2, schedule: cosine, weight_decay: 0.1}\n"
             "%s\n"
             "output: {dir: %s/%s, log_every: 0, log_samples: true}\n"
             "checkpoint: {every_steps: %d, keep_last: %s, resume: %s}\n"
             "dist: {threads_per_rank: 1, bucket_mb: 0.01%s}\n%s",
             dir, dir, corpus, max_steps, lr, eval_yaml, dir, out, ckpt_every, ckpt_keep,
             resume ? resume : "null", dist_extra, extra ? extra : "");
    rt_run_config cfg;
    rt_status st = rt_config_load_string(&cfg, yaml, strlen(yaml), "test.yaml", 0, NULL);
    if (st != RT_OK) return st;
    st = rt_train(&cfg, ctx, NULL, res);
    rt_config_free(&cfg);
    return st;
}

/* metrics.jsonl: the last "loss" line of each step (a resumed run appends) and its samples. */
typedef struct {
    double loss[16];
    char samples[16][256];
    int have[16];
} metrics;

static void read_metrics(const char *out, metrics *m) {
    memset(m, 0, sizeof *m);
    char path[512], line[2048];
    snprintf(path, sizeof path, "%s/%s/metrics.jsonl", dir, out);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "cannot open %s", path);
    while (fgets(line, sizeof line, f)) {
        char *l = strstr(line, "\"loss\": "), *s = strstr(line, "\"samples\": [");
        int step = atoi(strstr(line, "\"step\": ") + 8);
        if (!l || step < 1 || step > 15) continue;
        m->loss[step] = strtod(l + 8, NULL);
        m->have[step] = 1;
        if (s) snprintf(m->samples[step], sizeof m->samples[step], "%s", s + 12);
    }
    fclose(f);
}

static double max_param_diff(const char *a, const char *b) {
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s/final", dir, a);
    snprintf(pb, sizeof pb, "%s/%s/final", dir, b);
    rt_gpt2 *x, *y;
    ck_assert(rt_hf_gpt2_load(pa, &x) == RT_OK);
    ck_assert(rt_hf_gpt2_load(pb, &y) == RT_OK);
    ck_assert(x->params.total == y->params.total);
    double d = 0.0;
    for (size_t i = 0; i < x->params.total; i++)
        d = fmax(d, fabs((double)x->params_mem[i] - y->params_mem[i]));
    rt_gpt2_destroy(&x);
    rt_gpt2_destroy(&y);
    return d;
}

/* Compares steps from+1..10 of run `out` with the reference; exact: bit for bit. */
static void compare(const char *ref, const char *out, int from, int exact, const char *what) {
    metrics a, b;
    read_metrics(ref, &a);
    read_metrics(out, &b);
    double worst = 0.0;
    for (int s = from + 1; s <= 10; s++) {
        ck_assert_msg(a.have[s] && b.have[s], "%s: step %d missing", what, s);
        worst = fmax(worst, fabs(a.loss[s] - b.loss[s]) / fabs(a.loss[s]));
        ck_assert_msg(!strcmp(a.samples[s], b.samples[s]),
                      "%s: step %d trained on other samples: [%s vs [%s", what, s, a.samples[s],
                      b.samples[s]);
    }
    double pd = max_param_diff(ref, out);
    printf("ckpt: %-34s steps %d-10: max rel loss diff %.3g, final params max |diff| %.3g, "
           "samples identical\n",
           what, from + 1, worst, pd);
    if (exact) {
        ck_assert_msg(worst == 0.0, "%s: losses differ by %g (expected bit for bit)", what, worst);
        ck_assert_msg(pd == 0.0, "%s: parameters differ by %g (expected bit for bit)", what, pd);
    } else {
        ck_assert_msg(worst <= 1e-5, "%s: losses differ by %g relative", what, worst);
        ck_assert_msg(pd <= 1e-5, "%s: parameters differ by %g", what, pd);
    }
}

START_TEST(test_resume_any_rank_count) {
    rt_train_result r;
    rt_status st = train(ctx_of[3], "ref3", NULL, NULL, &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    MPI_Barrier(MPI_COMM_WORLD);
    char ck[512];
    snprintf(ck, sizeof ck, "%s/ref3/step-00000005", dir);
    const int order[4] = {3, 1, 2, 4};
    for (int k = 0; k < 4; k++) {
        int p = order[k];
        char out[32];
        snprintf(out, sizeof out, "res%d", p);
        st = train(ctx_of[p], out, ck, NULL, &r);
        ck_assert_msg(st == RT_OK, "resume at %d ranks: %s", p, rt_error_message());
        if (ctx_of[p]) ck_assert_int_eq(r.resumed_step, 5);
        MPI_Barrier(MPI_COMM_WORLD);
        if (rank == 0) {
            char what[64];
            snprintf(what, sizeof what, "saved at 3 ranks, resumed at %d", p);
            compare("ref3", out, 5, p == 3, what);
        }
    }
    /* without ZeRO-1 every rank holds the whole AdamW state: loaded from all old shards */
    dist_extra = ", zero1: false";
    st = train(ctx_of[2], "res2z", ck, NULL, &r);
    dist_extra = "";
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) compare("ref3", "res2z", 5, 0, "resumed at 2 ranks, ZeRO-1 off");
}
END_TEST

/* Gradual unfreezing: which tensors train and their AdamW step counts come back too. */
START_TEST(test_resume_gradual_unfreeze) {
    const char *g = "finetune: {mode: gradual_unfreeze, unfreeze_every: 3}\n";
    rt_train_result r;
    rt_status st = train(ctx_of[2], "gref", NULL, g, &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    MPI_Barrier(MPI_COMM_WORLD);
    char ck[512];
    snprintf(ck, sizeof ck, "%s/gref/step-00000005", dir);
    st = train(ctx_of[2], "gres2", ck, g, &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    st = train(world, "gres4", ck, g, &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    if (rank == 0) {
        compare("gref", "gres2", 5, 1, "gradual unfreezing, resumed at 2");
        compare("gref", "gres4", 5, 0, "gradual unfreezing, 2 -> 4 ranks");
    }
}
END_TEST

/* ---- damaged checkpoints ------------------------------------------------------------------ */

/* A fresh copy of ref3/step-00000005 at dir/name. Rank 0; then a barrier. */
static void copy_ckpt(const char *name) {
    if (rank == 0) {
        char src[512], dst[512];
        snprintf(src, sizeof src, "%s/ref3/step-00000005", dir);
        snprintf(dst, sizeof dst, "%s/%s", dir, name);
        char cmd[1600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", dst, src, dst);
        ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void flip_byte(const char *path, long off) {
    FILE *f = fopen(path, "r+b");
    ck_assert_msg(f, "cannot open %s", path);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
}

/* Resuming from dir/name on all 4 ranks fails alike, and the message contains `needle`. */
static void expect_load_failure(const char *name, const char *needle, const char *what) {
    char ck[512];
    snprintf(ck, sizeof ck, "%s/%s", dir, name);
    rt_train_result r;
    rt_status st = train(world, "bad", ck, NULL, &r);
    int bad = st != RT_OK, all = 0;
    MPI_Allreduce(&bad, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    ck_assert_msg(all == size, "%s: %d of %d ranks failed", what, all, size);
    ck_assert_msg(strstr(rt_error_message(), needle), "%s: message lacks '%s': %s", what, needle,
                  rt_error_message());
    if (rank == 0) printf("ckpt: %-28s -> %s\n", what, rt_error_message());
}

START_TEST(test_damaged_checkpoints) {
    char path[512];
    copy_ckpt("flip");
    snprintf(path, sizeof path, "%s/flip/shard-00001-of-00003.h5", dir);
    struct stat sb;
    ck_assert(stat(path, &sb) == 0);
    if (rank == 0) flip_byte(path, sb.st_size / 2);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_load_failure("flip", "shard-00001-of-00003.h5", "flipped data byte");

    copy_ckpt("trunc");
    snprintf(path, sizeof path, "%s/trunc/shard-00002-of-00003.h5", dir);
    if (rank == 0) ck_assert(truncate(path, sb.st_size / 3) == 0);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_load_failure("trunc", "shard-00002-of-00003.h5", "truncated shard");

    copy_ckpt("missing");
    snprintf(path, sizeof path, "%s/missing/shard-00000-of-00003.h5", dir);
    if (rank == 0) ck_assert(unlink(path) == 0);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_load_failure("missing", "shard-00000-of-00003.h5", "missing shard");

    /* a manifest from a newer ringtune */
    copy_ckpt("newer");
    if (rank == 0) {
        char d[400];
        snprintf(d, sizeof d, "%s/newer", dir);
        uint8_t *buf;
        size_t n;
        ck_assert(rt_ckpt_manifest_read_bytes(d, &buf, &n) == RT_OK);
        Ringtune__ManifestFile *env = ringtune__manifest_file__unpack(NULL, n, buf);
        ck_assert(env);
        env->format_version = RT_CKPT_FORMAT_VERSION + 1;
        size_t en = ringtune__manifest_file__get_packed_size(env);
        uint8_t *out = malloc(en);
        ringtune__manifest_file__pack(env, out);
        snprintf(path, sizeof path, "%s/manifest.pb", d);
        FILE *f = fopen(path, "wb");
        fwrite(out, 1, en, f);
        fclose(f);
        free(out);
        free(buf);
        ringtune__manifest_file__free_unpacked(env, NULL);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    expect_load_failure("newer", "newer than this ringtune reads", "newer format version");

    copy_ckpt("mflip");
    snprintf(path, sizeof path, "%s/mflip/manifest.pb", dir);
    ck_assert(stat(path, &sb) == 0);
    if (rank == 0) flip_byte(path, sb.st_size / 2);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_load_failure("mflip", "manifest.pb", "flipped manifest byte");

    /* a corrupted copy is reported, never removed or repaired */
    snprintf(path, sizeof path, "%s/flip/shard-00001-of-00003.h5", dir);
    ck_assert(stat(path, &sb) == 0);
}
END_TEST

/* Retention: keep_last 1 plus the checkpoint with the best validation loss; nothing else. */
START_TEST(test_retention_keeps_last_and_best) {
    const char *saved = eval_yaml;
    eval_yaml = "eval: {every_steps: 5, max_batches: 2}";
    rt_train_result r;
    ckpt_keep = "1";
    corpus = "updown.h5";
    lr = "2.0e-2";
    max_steps = 40;
    ckpt_every = 5;
    rt_status st = train(ctx_of[2], "ret", NULL, NULL, &r);
    max_steps = 10;
    corpus = "rand.h5";
    lr = "3.0e-3";
    eval_yaml = saved;
    ckpt_every = 5;
    ckpt_keep = "null";
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    if (rank != 0) return;
    /* the validation losses of steps 5, 10, ..., 35 (metrics) and 40 (the final evaluation) */
    char path[512], line[2048];
    snprintf(path, sizeof path, "%s/ret/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    ck_assert(f);
    double best = INFINITY;
    long best_step = -1;
    while (fgets(line, sizeof line, f)) {
        char *v = strstr(line, "\"val_loss\": ");
        if (!v) continue;
        double x = strtod(v + 12, NULL);
        if (x < best) {
            best = x;
            best_step = atol(strstr(line, "\"step\": ") + 8);
        }
    }
    fclose(f);
    if (r.after_loss < best) best_step = 40; /* the final evaluation is the best */
    long *steps;
    size_t n;
    snprintf(path, sizeof path, "%s/ret", dir);
    ck_assert(rt_ckpt_list(path, &steps, &n) == RT_OK);
    printf("ckpt: retention keep_last 1 + best: kept");
    for (size_t i = 0; i < n; i++) printf(" step-%ld", steps[i]);
    printf(" (best validation loss %.4f at step %ld)\n", fmin(best, r.after_loss), best_step);
    ck_assert_msg(best_step < 40, "the validation loss was meant to rise (best at step %ld)",
                  best_step);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(steps[0], best_step);
    ck_assert_int_eq(steps[1], 40);
    free(steps);
}
END_TEST

/* Serial: every byte of HDF5's metadata in a shard (everything outside the datasets' raw data)
   and a spread of data bytes, flipped one at a time, makes the shard fail to read whole. */
START_TEST(test_any_flipped_byte_detected) {
    if (rank != 0) return;
    char d[400], path[512];
    snprintf(d, sizeof d, "%s/ref3/step-00000005", dir);
    snprintf(path, sizeof path, "%s/shard-00001-of-00003.h5", d);
    uint8_t *buf;
    size_t n;
    Ringtune__Manifest *man;
    ck_assert(rt_ckpt_manifest_read_bytes(d, &buf, &n) == RT_OK);
    ck_assert(rt_ckpt_manifest_decode(d, buf, n, &man) == RT_OK);
    free(buf);
    const Ringtune__Shard *s = man->shards[1];
    /* the raw data extents of the datasets */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert(f >= 0);
    haddr_t lo[4];
    hsize_t len[4];
    for (size_t k = 0; k < s->n_datasets; k++) {
        hid_t ds = H5Dopen2(f, s->datasets[k]->name, H5P_DEFAULT);
        lo[k] = H5Dget_offset(ds);
        len[k] = H5Dget_storage_size(ds);
        H5Dclose(ds);
    }
    H5Fclose(f);
    struct stat sb;
    ck_assert(stat(path, &sb) == 0);
    rt_gpt2 *m = fixture_tiny_model(); /* for tensor names */
    float *dst = rt_alloc_floats(s->hi - s->lo), *scratch = rt_alloc_floats(man->piece_elems);
    long tried = 0, meta = 0;
    for (long off = 0; off < sb.st_size; off++) {
        int in_data = 0;
        for (size_t k = 0; k < s->n_datasets; k++)
            in_data |= (haddr_t)off >= lo[k] && (haddr_t)off < lo[k] + len[k];
        if (in_data && off % 997 != 0) continue; /* data: a spread; metadata: every byte */
        flip_byte(path, off);
        rt_status st = RT_OK;
        for (size_t k = 0; k < s->n_datasets && st == RT_OK; k++)
            st = rt_ckpt_shard_read(d, s, s->datasets[k]->name, &m->params, s->lo, s->hi, dst,
                                    scratch);
        flip_byte(path, off); /* restore */
        ck_assert_msg(st != RT_OK, "a flipped byte at offset %ld (%s) went unnoticed", off,
                      in_data ? "data" : "metadata");
        ck_assert_msg(strstr(rt_error_message(), "shard-00001-of-00003.h5"), "%s",
                      rt_error_message());
        tried++;
        meta += !in_data;
    }
    /* restored: reads cleanly again */
    for (size_t k = 0; k < s->n_datasets; k++)
        ck_assert(rt_ckpt_shard_read(d, s, s->datasets[k]->name, &m->params, s->lo, s->hi, dst,
                                     scratch) == RT_OK);
    printf("ckpt: %ld flipped bytes (%ld of them HDF5 metadata, all of it) in a %lld-byte shard: "
           "all detected\n",
           tried, meta, (long long)sb.st_size);
    rt_free_floats(&dst);
    rt_free_floats(&scratch);
    rt_gpt2_destroy(&m);
    rt_ckpt_manifest_free(&man);
}
END_TEST

/* Piece boundaries: tensor starts and multiples of the piece size, nothing else. */
START_TEST(test_piece_bounds) {
    if (rank != 0) return;
    rt_gpt2 *m = fixture_tiny_model();
    const rt_tensor_table *tab = &m->params;
    uint64_t lo = tab->t[1].offset + 5, hi = tab->total - 3, pe = 1000;
    size_t nb = rt_ckpt_piece_bounds(tab, lo, hi, pe, NULL, 0);
    uint64_t *b = malloc(sizeof(uint64_t) * nb);
    ck_assert_uint_eq(rt_ckpt_piece_bounds(tab, lo, hi, pe, b, nb), nb);
    ck_assert_uint_eq(b[0], lo);
    ck_assert_uint_eq(b[nb - 1], hi);
    size_t want = 2; /* lo, hi */
    for (uint64_t e = lo + 1; e < hi; e++) {
        int is_start = 0;
        for (int i = 0; i < tab->n; i++) is_start |= tab->t[i].offset == e;
        want += is_start || e % pe == 0;
    }
    ck_assert_uint_eq(nb, want);
    for (size_t i = 1; i < nb; i++) {
        ck_assert(b[i] > b[i - 1]);
        ck_assert(b[i] - b[i - 1] <= pe);
        /* no piece crosses a tensor start */
        for (int t = 0; t < tab->n; t++)
            ck_assert(!(tab->t[t].offset > b[i - 1] && tab->t[t].offset < b[i]));
    }
    printf("ckpt: [%llu, %llu) in pieces of <= %llu: %zu boundaries, all at tensor starts or "
           "multiples\n",
           (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)pe, nb);
    free(b);
    rt_gpt2_destroy(&m);
}
END_TEST

/* The serial loader behind `ringtune export` gives the trained parameters (a run without early
   stopping, so final/ holds the last step's weights). */
START_TEST(test_load_model_matches) {
    const char *saved = eval_yaml;
    eval_yaml = "eval: {every_steps: 0, max_batches: 2}";
    rt_train_result r;
    rt_status st = train(ctx_of[2], "noes", NULL, NULL, &r);
    eval_yaml = saved;
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    if (rank != 0) return;
    char ck[512], fin[512];
    snprintf(ck, sizeof ck, "%s/noes/step-00000010", dir);
    snprintf(fin, sizeof fin, "%s/noes/final", dir);
    rt_model *a;
    rt_gpt2 *b;
    ck_assert_msg(rt_model_load_ckpt(ck, &a) == RT_OK, "%s", rt_error_message());
    ck_assert(rt_hf_gpt2_load(fin, &b) == RT_OK);
    ck_assert(a->params->total == b->params.total);
    double d = 0.0;
    for (size_t i = 0; i < a->params->total; i++)
        d = fmax(d, fabs((double)a->params_mem[i] - b->params_mem[i]));
    printf("ckpt: step-00000010 loaded serially vs the exported final model: max |diff| %g\n", d);
    ck_assert(d == 0.0);
    rt_model_destroy(&a);
    rt_gpt2_destroy(&b);
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 4) {
        if (rank == 0) fprintf(stderr, "test_ckpt needs 4 ranks\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (rank == 0) {
        snprintf(dir, sizeof dir, "/tmp/rt_ckpt_XXXXXX");
        if (!mkdtemp(dir)) MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    rt_mpi_ctx_create(&world);
    for (int p = 1; p <= 3; p++) {
        MPI_Comm c;
        MPI_Comm_split(MPI_COMM_WORLD, rank < p ? 0 : MPI_UNDEFINED, rank, &c);
        if (c != MPI_COMM_NULL) {
            rt_mpi_ctx_create_on(c, &ctx_of[p]);
            MPI_Comm_free(&c);
        }
    }
    ctx_of[4] = world;
    setup_files();
    Suite *s = suite_create("ckpt");
    TCase *tc = tcase_create("ckpt");
    if (getenv("RT_CKPT_ONLY_RESUME")) { /* quick iteration on the resume cases */
        tcase_add_test(tc, test_resume_any_rank_count);
        goto run;
    }
    tcase_add_test(tc, test_piece_bounds);
    tcase_add_test(tc, test_resume_any_rank_count);
    tcase_add_test(tc, test_load_model_matches);
    tcase_add_test(tc, test_resume_gradual_unfreeze);
    tcase_add_test(tc, test_damaged_checkpoints);
    tcase_add_test(tc, test_retention_keeps_last_and_best);
    tcase_add_test(tc, test_any_flipped_byte_detected);
run:
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    int nf = srunner_ntests_failed(sr), total = 0;
    srunner_free(sr);
    MPI_Allreduce(&nf, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    for (int p = 1; p <= 3; p++) rt_mpi_ctx_destroy(&ctx_of[p]);
    rt_mpi_ctx_destroy(&world);
    if (rank == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) total++;
    }
    MPI_Finalize();
    return total == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
