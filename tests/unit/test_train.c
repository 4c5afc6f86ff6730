/* `ringtune train` at 2 and 3 ranks against a 1-rank run made in the same job: the same per-step
   losses (1e-5 relative) and final parameters (1e-5); fine-tuning modes (frozen tensors bit for
   bit, trainable ones change, gradual unfreezing on schedule); early stopping on a validation
   loss constructed to rise, restoring the best weights. */
#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "config.h"
#include "corpus.h"
#include "gpt2.h"
#include "hf_gpt2.h"
#include "mpictx.h"
#include "train.h"
#include "train_fixture.h"

static int rank, size;
static char dir[256];
static rt_mpi_ctx *world, *self;

static void setup_files(void) {
    if (rank == 0) {
        rt_gpt2 *m = fixture_standard_files(dir);
        m->w.ln_f_w[3] = NAN; /* a broken checkpoint: every loss is NaN */
        char p[512];
        snprintf(p, sizeof p, "%s/base_nan", dir);
        FIXTURE_CALL(rt_hf_gpt2_save(m, p));
        rt_gpt2_destroy(&m);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Runs a training with YAML text (base settings + extra sections) on corpus; returns the status. */
static const char *dist_extra = ""; /* appended inside the dist mapping */

static rt_status run_on(rt_mpi_ctx *ctx, const char *out, const char *extra, const char *corpus,
                        double lr, int steps, rt_train_result *res) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model: {path: %s/base, dropout: {embd: 0.1, attn: 0.1, resid: 0.1}}\n"
             "data: {corpus: %s/%s, seq_len: 16}\n"
             "train: {global_batch: 12, micro_batch: 2, max_steps: %d}\n"
             "optim: {lr: %g, warmup_steps: 2, schedule: cosine, weight_decay: 0.1}\n"
             "output: {dir: %s/%s, log_every: 0}\n"
             "dist: {threads_per_rank: 1, bucket_mb: 0.01%s}\n%s",
             dir, dir, corpus, steps, lr, dir, out, dist_extra, extra);
    rt_run_config cfg;
    rt_status st = rt_config_load_string(&cfg, yaml, strlen(yaml), "test.yaml", 0, NULL);
    if (st != RT_OK) return st;
    st = rt_train(&cfg, ctx, NULL, res);
    rt_config_free(&cfg);
    return st;
}

static rt_status run(rt_mpi_ctx *ctx, const char *out, const char *extra, rt_train_result *res) {
    return run_on(ctx, out, extra, "rand.h5", 3e-3, 20, res);
}

/* Reads the "loss" values of a metrics.jsonl into v (at most n). */
static int read_losses(const char *path, double *v, int n) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[1024];
    int k = 0;
    while (fgets(line, sizeof line, f) && k < n) {
        char *p = strstr(line, "\"loss\": ");
        if (p) v[k++] = atof(p + 8);
    }
    fclose(f);
    return k;
}

static double max_param_diff(const char *a, const char *b, int *same_shape) {
    rt_gpt2 *x, *y;
    ck_assert(rt_hf_gpt2_load(a, &x) == RT_OK);
    ck_assert(rt_hf_gpt2_load(b, &y) == RT_OK);
    *same_shape = x->params.total == y->params.total;
    double d = 0.0;
    for (size_t i = 0; *same_shape && i < x->params.total; i++)
        d = fmax(d, fabs((double)x->params_mem[i] - y->params_mem[i]));
    rt_gpt2_destroy(&x);
    rt_gpt2_destroy(&y);
    return d;
}

START_TEST(test_same_trajectory_any_rank_count) {
    rt_train_result r, r1;
    rt_status st = run(world, "world", "", &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    st = RT_OK;
    if (rank == 0) st = run(self, "self", "", &r1);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank != 0) return;
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    char a[512], b[512];
    double la[32], lb[32];
    snprintf(a, sizeof a, "%s/world/metrics.jsonl", dir);
    snprintf(b, sizeof b, "%s/self/metrics.jsonl", dir);
    int na = read_losses(a, la, 32), nb = read_losses(b, lb, 32);
    ck_assert_int_eq(na, 20);
    ck_assert_int_eq(nb, 20);
    double worst = 0.0;
    for (int i = 0; i < 20; i++) worst = fmax(worst, fabs(la[i] - lb[i]) / fabs(lb[i]));
    snprintf(a, sizeof a, "%s/world/final", dir);
    snprintf(b, sizeof b, "%s/self/final", dir);
    int same;
    double pd = max_param_diff(a, b, &same);
    printf("train: %d ranks vs 1: 20 losses (%.4f -> %.4f) max rel diff %.3g, final params max "
           "|diff| %.3g\n",
           size, lb[0], lb[19], worst, pd);
    ck_assert(same);
    ck_assert_msg(worst <= 1e-5, "losses differ by %g relative", worst);
    ck_assert_msg(pd <= 1e-5, "final parameters differ by %g", pd);
    ck_assert(lb[19] < lb[0]); /* it learns */
    ck_assert(fabs(r.before_loss - r1.before_loss) <= 1e-6 * r1.before_loss);
}
END_TEST

/* Gradient buckets reduced during backward (overlap) or after it give the same bits. */
START_TEST(test_overlap_off_same_bits) {
    rt_train_result r;
    dist_extra = ", overlap: false";
    rt_status st = run(world, "nooverlap", "", &r);
    dist_extra = "";
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    st = run(world, "overlap", "", &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    if (rank != 0) return;
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/overlap/final", dir);
    snprintf(b, sizeof b, "%s/nooverlap/final", dir);
    int same;
    double pd = max_param_diff(a, b, &same);
    printf("train: overlap on vs off: final params max |diff| %.3g\n", pd);
    ck_assert(same);
    ck_assert_msg(pd == 0.0, "overlap changes the result by %g", pd);
}
END_TEST

/* Compares final against base: frozen tensors identical, trainable ones changed. */
static void check_frozen(const char *out, int (*frozen)(const char *name)) {
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/base", dir);
    snprintf(b, sizeof b, "%s/%s/final", dir, out);
    rt_gpt2 *x, *y;
    ck_assert(rt_hf_gpt2_load(a, &x) == RT_OK);
    ck_assert(rt_hf_gpt2_load(b, &y) == RT_OK);
    int nfrozen = 0, nchanged = 0;
    for (int i = 0; i < x->params.n; i++) {
        const rt_tensor_info *ti = &x->params.t[i];
        int same = memcmp(x->params_mem + ti->offset, y->params_mem + ti->offset,
                          ti->numel * sizeof(float)) == 0;
        if (frozen(ti->name)) {
            ck_assert_msg(same, "%s: frozen tensor %s changed", out, ti->name);
            nfrozen++;
        } else {
            ck_assert_msg(!same, "%s: trainable tensor %s did not change", out, ti->name);
            nchanged++;
        }
    }
    printf("train %s: %d frozen tensors bit-identical, %d trainable changed\n", out, nfrozen,
           nchanged);
    rt_gpt2_destroy(&x);
    rt_gpt2_destroy(&y);
}

static int frozen_partial(const char *n) {
    return strncmp(n, "h.2.", 4) && strncmp(n, "ln_f", 4);
}
static int frozen_none(const char *n) {
    return n == NULL;
}
static int frozen_backbone(const char *n) {
    return strncmp(n, "ln_f", 4) != 0;
}

START_TEST(test_modes) {
    rt_train_result r;
    rt_status st = run(world, "partial", "finetune: {mode: partial, last_n_blocks: 1}\n", &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    /* gradual: top block first, one more every 3 steps: after 20 steps all 3 blocks and the
       embeddings are trainable, and the metrics show the schedule */
    st = run(world, "gradual", "finetune: {mode: gradual_unfreeze, unfreeze_every: 3}\n", &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    st = run(world, "feature", "finetune: {mode: feature_extraction}\n", &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    if (rank != 0) return;
    check_frozen("partial", frozen_partial);
    /* feature extraction: the whole backbone (embeddings included) frozen, the final LayerNorm
       and a new untied head (initialised from wte, then trained) exported as lm_head.weight */
    check_frozen("feature", frozen_backbone);
    {
        char p[512];
        snprintf(p, sizeof p, "%s/feature/final", dir);
        rt_gpt2 *y;
        ck_assert(rt_hf_gpt2_load(p, &y) == RT_OK);
        int h = rt_table_find(&y->params, "lm_head.weight");
        ck_assert_msg(h >= 0 && !y->cfg.tie_word_embeddings, "no untied head in the export");
        ck_assert(memcmp(y->params_mem + y->params.t[h].offset, y->w.wte,
                         y->params.t[h].numel * sizeof(float)) != 0);
        rt_gpt2_destroy(&y);
    }
    check_frozen("gradual", frozen_none);
    char p[512], line[1024];
    snprintf(p, sizeof p, "%s/gradual/metrics.jsonl", dir);
    FILE *f = fopen(p, "r");
    ck_assert(f);
    int step = 0, blocks = 0, ok = 1;
    while (fgets(line, sizeof line, f)) {
        char *q = strstr(line, "\"trainable_blocks\": ");
        if (!q) continue;
        sscanf(strstr(line, "\"step\": ") + 8, "%d", &step);
        blocks = atoi(q + 20);
        int want = 1 + (step - 1) / 3; /* step s (1-based) trains 1 + (s-1)/3 units */
        if (want > 4) want = 4;
        if (blocks != want) ok = 0;
    }
    fclose(f);
    ck_assert_msg(ok, "unfreezing off schedule (step %d: %d units)", step, blocks);
    ck_assert_int_eq(blocks, 4);
}
END_TEST

START_TEST(test_early_stopping_restores_best) {
    /* train on ascending sequences, validate on descending ones: validation loss rises */
    rt_train_result r;
    rt_status st = run_on(world, "early", "eval: {every_steps: 2, early_stopping: {patience: 2}}\n",
                          "updown.h5", 2e-2, 80, &r);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    if (rank == 0)
        printf(
            "train early stopping: stopped %d after %ld steps, before %.4f best %.4f after %.4f\n",
            r.stopped_early, r.steps_done, r.before_loss, r.best_loss, r.after_loss);
    ck_assert(r.stopped_early);
    ck_assert_int_lt(r.steps_done, 80);
    ck_assert(r.after_loss <= r.best_loss + 1e-12); /* the kept weights are the best seen */
}
END_TEST

START_TEST(test_bad_config_fails_alike) {
    rt_train_result r;
    rt_status st = run(world, "bad", "finetune: {mode: partial, last_n_blocks: 9}\n", &r);
    ck_assert_int_eq(st, RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "last_n_blocks 9"), "%s", rt_error_message());
}
END_TEST

/* A non-finite loss stops the run naming the step; nan_policy skip drops such updates, but not
   without end: NaN weights (every step skipped) stop the run at the first skip beyond
   train.max_skipped_ratio, or (ratio 1) at the end, and nothing is exported. */
START_TEST(test_nan_policy) {
    rt_train_result r;
    char yaml[1024], final[512];
    snprintf(yaml, sizeof yaml,
             "model: {path: %s/base_nan}\ndata: {corpus: %s/rand.h5, seq_len: 16}\n"
             "train: {global_batch: 12, micro_batch: 2, max_steps: 3}\n"
             "output: {dir: %s/nan, log_every: 0}\ndist: {threads_per_rank: 1}\n",
             dir, dir, dir);
    snprintf(final, sizeof final, "%s/nan/final", dir);
    rt_run_config cfg;
    ck_assert(rt_config_load_string(&cfg, yaml, strlen(yaml), "nan.yaml", 0, NULL) == RT_OK);
    rt_status st = rt_train(&cfg, world, NULL, &r);
    ck_assert_int_eq(st, RT_ERR_NUMERIC);
    ck_assert_msg(strstr(rt_error_message(), "step 1:"), "%s", rt_error_message());
    cfg.train.nan_policy = RT_NAN_POLICY_SKIP; /* max_skipped_ratio 0.1 of 3 steps: none */
    st = rt_train(&cfg, world, NULL, &r);
    ck_assert_int_eq(st, RT_ERR_NUMERIC);
    ck_assert_msg(strstr(rt_error_message(), "step 1: 1 step skipped") &&
                      strstr(rt_error_message(), "train.max_skipped_ratio 0.1"),
                  "%s", rt_error_message());
    ck_assert_int_eq(r.steps_skipped, 1);
    ck_assert(access(final, F_OK) != 0); /* the NaN model was not exported */
    char first[512];
    snprintf(first, sizeof first, "%s", rt_error_message());
    cfg.train.max_skipped_ratio = 1.0; /* any share: every step skipped still fails, at the end */
    st = rt_train(&cfg, world, NULL, &r);
    rt_config_free(&cfg);
    ck_assert_int_eq(st, RT_ERR_NUMERIC);
    ck_assert_msg(strstr(rt_error_message(), "all 3 steps of this run were skipped"), "%s",
                  rt_error_message());
    ck_assert_int_eq(r.steps_skipped, 3);
    ck_assert_int_eq(r.steps_done, 0);
    ck_assert(access(final, F_OK) != 0);
    if (rank == 0)
        printf("train nan policy: stop at step 1; skip: \"%s\"; ratio 1: \"%s\"\n", first,
               rt_error_message());
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank == 0) {
        snprintf(dir, sizeof dir, "/tmp/rt_train_XXXXXX");
        if (!mkdtemp(dir)) MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    rt_mpi_ctx_create(&world);
    rt_mpi_ctx_create_on(MPI_COMM_SELF, &self);
    setup_files();
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_add_test(tc, test_same_trajectory_any_rank_count);
    tcase_add_test(tc, test_overlap_off_same_bits);
    tcase_add_test(tc, test_modes);
    tcase_add_test(tc, test_early_stopping_restores_best);
    tcase_add_test(tc, test_bad_config_fails_alike);
    tcase_add_test(tc, test_nan_policy);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    int nf = srunner_ntests_failed(sr), total = 0;
    srunner_free(sr);
    MPI_Allreduce(&nf, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    rt_mpi_ctx_destroy(&self);
    rt_mpi_ctx_destroy(&world);
    if (rank == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) total++;
    }
    MPI_Finalize();
    return total == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
