/* Broken numbers and resumed runs: non-finite weights are refused naming the tensor,
   train.max_skipped_ratio, superseded metrics lines dropped (a torn last line too), and a run
   resumed from an older checkpoint leaves metrics.jsonl with one line per step, equal to an
   uninterrupted run's. */
#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "config.h"
#include "guard.h"
#include "metrics_resume.h"
#include "model_gpt2.h"
#include "mpictx.h"
#include "train.h"
#include "train_fixture.h"

static int rank;
static char dir[256];
static rt_mpi_ctx *world;

START_TEST(test_guard_weights) {
    rt_gpt2 *m = fixture_tiny_model();
    rt_model *mm;
    ck_assert_int_eq(rt_model_gpt2_wrap(m, &mm), RT_OK); /* mm owns m */
    ck_assert(rt_guard_weights(mm, "the export") == RT_OK);
    m->w.ln_f_w[3] = NAN;
    m->w.h[1].c_fc_w[5] = INFINITY;
    ck_assert_int_eq(rt_guard_weights(mm, "the export"), RT_ERR_NUMERIC);
    char want[256];
    snprintf(want, sizeof want,
             "2 of %zu weights are not finite (the first in h.1.mlp.c_fc.weight)",
             rt_gpt2_num_params(m));
    ck_assert_msg(strstr(rt_error_message(), want) && strstr(rt_error_message(), "the export"),
                  "%s", rt_error_message());
    rt_model_destroy(&mm);
}
END_TEST

START_TEST(test_guard_skips) {
    ck_assert(rt_guard_skips(10, 90, 100, 100, 0.1, 100, 1) == RT_OK); /* 10 of 100: allowed */
    ck_assert_int_eq(rt_guard_skips(11, 80, 91, 100, 0.1, 91, 0), RT_ERR_NUMERIC);
    ck_assert_msg(strstr(rt_error_message(), "step 91: 11 steps skipped") &&
                      strstr(rt_error_message(), "train.max_skipped_ratio 0.1 of the run's 100"),
                  "%s", rt_error_message());
    ck_assert_int_eq(rt_guard_skips(1, 0, 1, 100, 0.0, 1, 0), RT_ERR_NUMERIC); /* ratio 0 */
    ck_assert(rt_guard_skips(5, 0, 5, 5, 1.0, 5, 0) == RT_OK);                 /* not yet final */
    ck_assert_int_eq(rt_guard_skips(5, 0, 5, 5, 1.0, 5, 1), RT_ERR_NUMERIC);
    ck_assert_msg(strstr(rt_error_message(), "all 5 steps of this run were skipped"), "%s",
                  rt_error_message());
    ck_assert(rt_guard_skips(0, 0, 0, 5, 0.1, 5, 1) == RT_OK); /* resumed at the end: no step */
}
END_TEST

static void write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    ck_assert(f && fputs(s, f) >= 0 && fclose(f) == 0);
}

static char *read_text(const char *path) {
    static char buf[4096];
    FILE *f = fopen(path, "r");
    ck_assert(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

START_TEST(test_drop_after) {
    if (rank != 0) return;
    char path[512];
    snprintf(path, sizeof path, "%s/m.jsonl", dir);
    long d = -1;
    ck_assert(rt_metrics_drop_after(path, 3, &d) == RT_OK && d == 0); /* no file: nothing */
    write_text(path,
               "{\"step\": 1, \"loss\": 1}\n{\"step\": 2, \"loss\": 2}\n"
               "{\"step\": 2, \"val_loss\": 5}\n{\"note\": 1}\n{\"step\": 3, \"loss\": 3}\n"
               "{\"step\": 10, \"loss\": 4}\n{\"step\": 4, \"val_loss\": 6}\n{\"step\": 5, \"lo");
    ck_assert(rt_metrics_drop_after(path, 3, &d) == RT_OK);
    ck_assert_int_eq(d, 3); /* steps 10 and 4, and the torn line */
    ck_assert_str_eq(read_text(path), "{\"step\": 1, \"loss\": 1}\n{\"step\": 2, \"loss\": 2}\n"
                                      "{\"step\": 2, \"val_loss\": 5}\n{\"note\": 1}\n"
                                      "{\"step\": 3, \"loss\": 3}\n");
    struct stat a, b;
    ck_assert(stat(path, &a) == 0);
    ck_assert(rt_metrics_drop_after(path, 3, &d) == RT_OK && d == 0);
    ck_assert(stat(path, &b) == 0 && a.st_ino == b.st_ino); /* nothing dropped: not rewritten */
    ck_assert(rt_metrics_drop_after(path, 0, &d) == RT_OK && d == 4);
    ck_assert_str_eq(read_text(path), "{\"note\": 1}\n");
}
END_TEST

static rt_status train(const char *out, const char *resume, FILE *log, rt_train_result *res) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "model: {path: %s/base, dropout: {embd: 0.1, attn: 0.1, resid: 0.1}}\n"
             "data: {corpus: %s/rand.h5, seq_len: 16}\n"
             "train: {global_batch: 12, micro_batch: 2, max_steps: 10}\n"
             "optim: {lr: 3e-3, warmup_steps: 2, schedule: cosine}\n"
             "eval: {every_steps: 3, max_batches: 2}\n"
             "output: {dir: %s/%s, log_every: 0}\n"
             "checkpoint: {every_steps: 4, keep_last: null, resume: %s}\n"
             "dist: {threads_per_rank: 1}\n",
             dir, dir, dir, out, resume ? resume : "null");
    rt_run_config cfg;
    rt_status st = rt_config_load_string(&cfg, yaml, strlen(yaml), "test.yaml", 0, NULL);
    if (st == RT_OK) st = rt_train(&cfg, world, log, res);
    rt_config_free(&cfg);
    return st;
}

/* "step:loss" or "step:val_loss" per line, in file order. */
static void digest(const char *out, char *d, size_t cap) {
    char path[512], line[4096];
    snprintf(path, sizeof path, "%s/%s/metrics.jsonl", dir, out);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "%s", path);
    d[0] = 0;
    while (fgets(line, sizeof line, f)) {
        char *l = strstr(line, "\"loss\": "), *v = strstr(line, "\"val_loss\": ");
        long step = atol(line + 9);
        size_t n = strlen(d);
        snprintf(d + n, cap - n, "%ld:%s%.17g\n", step, v ? "val " : "",
                 v   ? strtod(v + 12, NULL)
                 : l ? strtod(l + 8, NULL)
                     : NAN);
    }
    fclose(f);
}

START_TEST(test_resume_one_line_per_step) {
    rt_train_result r;
    ck_assert_msg(train("ref", NULL, NULL, &r) == RT_OK, "%s", rt_error_message());
    ck_assert_msg(train("crash", NULL, NULL, &r) == RT_OK, "%s", rt_error_message());
    char path[512], ck[512];
    snprintf(path, sizeof path, "%s/crash/metrics.jsonl", dir);
    if (rank == 0) { /* the crash tore the line it was writing */
        FILE *f = fopen(path, "a");
        ck_assert(f && fputs("{\"step\": 11, \"lo", f) >= 0 && fclose(f) == 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* resumed from step 4: the lines of steps 5-10, evaluations 6, 9 and the final one at 10, and
       the torn line are superseded */
    snprintf(ck, sizeof ck, "%s/crash/step-00000004", dir);
    char logbuf[8192] = "";
    FILE *log = rank == 0 ? fmemopen(logbuf, sizeof logbuf, "w") : NULL;
    rt_status st = train("crash", ck, log, &r);
    if (log) fclose(log);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(r.resumed_step, 4);
    if (rank != 0) return;
    ck_assert_msg(strstr(logbuf, "resume: dropped 10 lines of") && strstr(logbuf, "after step 4"),
                  "%s", logbuf);
    static char a[8192], b[8192];
    digest("ref", a, sizeof a);
    digest("crash", b, sizeof b);
    int lines = 0;
    for (const char *p = b; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 14); /* 10 steps + evaluations at 3, 6, 9 and the final one */
    ck_assert_msg(strcmp(a, b) == 0, "uninterrupted:\n%s\nresumed:\n%s", a, b);
    printf("resume: metrics.jsonl holds %d lines, one per step and evaluation, equal to the "
           "uninterrupted run's (losses bit for bit)\n",
           lines);
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
        snprintf(dir, sizeof dir, "/tmp/rt_guard_XXXXXX");
        if (!mkdtemp(dir)) MPI_Abort(MPI_COMM_WORLD, 1);
        rt_gpt2 *m = fixture_standard_files(dir);
        rt_gpt2_destroy(&m);
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    rt_mpi_ctx_create(&world);
    Suite *s = suite_create("guard");
    TCase *tc = tcase_create("guard");
    tcase_add_test(tc, test_guard_weights);
    tcase_add_test(tc, test_guard_skips);
    tcase_add_test(tc, test_drop_after);
    tcase_add_test(tc, test_resume_one_line_per_step);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    int nf = srunner_ntests_failed(sr), total = 0;
    srunner_free(sr);
    MPI_Allreduce(&nf, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    rt_mpi_ctx_destroy(&world);
    if (rank == 0) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) total++;
    }
    MPI_Finalize();
    return total ? EXIT_FAILURE : EXIT_SUCCESS;
}
