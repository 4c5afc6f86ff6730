/* The sweep file and its sampler without MPI: the grid's enumeration order, the distributions'
   ranges and log-uniformity, seeding, the flattening of base:, and bad sweep files and spaces
   refused with messages naming the file, the line and the key (dist/sweep_spec.h,
   dist/sweep_space.h, the checks of dist/sweep_trial.h). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "sweep_space.h"
#include "sweep_spec.h"
#include "sweep_trial.h"

#define LOAD(s, text) rt_sweep_spec_load_string(s, text, strlen(text), "dir/sweep.yaml")
#define BASE "base: {model.path: m, data.corpus: c.h5, output.dir: o}\n"

static void expect_msg(const char *want) {
    ck_assert_msg(strstr(rt_error_message(), want), "message\n%s\nlacks '%s'", rt_error_message(),
                  want);
}

START_TEST(test_grid_order) {
    rt_sweep_spec s;
    ck_assert_int_eq(LOAD(&s, BASE "space:\n  optim.lr: [1e-4, 3e-4]\n"
                                   "  optim.weight_decay: [0.0, 0.1, '0.2']\n"),
                     RT_OK);
    ck_assert_int_eq(s.method, RT_SWEEP_GRID);
    ck_assert_int_eq(s.n_trials, 6);
    rt_sweep_trials t;
    ck_assert_int_eq(rt_sweep_sample(&s, &t), RT_OK);
    /* file order, the last key fastest (itertools.product); a quoted value keeps its quotes */
    static const char *const want[6][2] = {{"1e-4", "0.0"}, {"1e-4", "0.1"}, {"1e-4", "'0.2'"},
                                           {"3e-4", "0.0"}, {"3e-4", "0.1"}, {"3e-4", "'0.2'"}};
    for (int i = 0; i < 6; i++)
        for (int p = 0; p < 2; p++) ck_assert_str_eq(rt_sweep_trial_value(&t, i, p), want[i][p]);
    rt_sweep_trials_free(&t);
    rt_sweep_spec_free(&s);
}
END_TEST

START_TEST(test_defaults_and_base) {
    rt_sweep_spec s;
    ck_assert_int_eq(LOAD(&s, "base:\n  optim: {lr: 1e-3, schedule: constant}\n"
                              "  eval.every_steps: 4\n  data: {corpus: \"my corpus.h5\"}\n"
                              "space: {train.seed: [1, 2]}\n"),
                     RT_OK);
    ck_assert_int_eq(s.n_base, 4);
    ck_assert_str_eq(s.base[0], "optim.lr=1e-3");
    ck_assert_str_eq(s.base[1], "optim.schedule=constant");
    ck_assert_str_eq(s.base[2], "eval.every_steps=4");
    ck_assert_str_eq(s.base[3], "data.corpus='my corpus.h5'");
    ck_assert_int_eq(s.base_line[2], 3);
    ck_assert_str_eq(s.metric, "val_loss"); /* the defaults: the loss, lower is better */
    ck_assert_int_eq(s.maximize, 0);
    ck_assert_int_eq(s.budget.policy, RT_BUDGET_FIXED);
    ck_assert_int_eq(s.budget.steps, -1);
    char m[32];
    rt_sweep_spec_eval_metric(&s, m, sizeof m);
    ck_assert_str_eq(m, "loss");
    rt_sweep_spec_free(&s);
    /* a metric without "val_", its direction from the trainer's names; ppl has no eval.metric */
    ck_assert_int_eq(LOAD(&s, BASE "metric: accuracy\nspace: {train.seed: [1]}\n"), RT_OK);
    ck_assert_str_eq(s.metric, "val_accuracy");
    ck_assert_int_eq(s.maximize, 1);
    rt_sweep_spec_free(&s);
    ck_assert_int_eq(LOAD(&s, BASE "metric: val_ppl\nspace: {train.seed: [1]}\n"), RT_OK);
    rt_sweep_spec_eval_metric(&s, m, sizeof m);
    ck_assert_str_eq(m, "");
    ck_assert_int_eq(s.maximize, 0);
    rt_sweep_spec_free(&s);
    ck_assert_int_eq(LOAD(&s, BASE "budget: {policy: asha, min_steps: 4, max_steps: 64}\n"
                                   "space: {train.seed: [1]}\n"),
                     RT_OK);
    ck_assert_int_eq(s.budget.eta, 3);
    rt_sweep_spec_free(&s);
}
END_TEST

/* A base_config relative to the sweep file's folder is read with it. */
START_TEST(test_base_config_relative) {
    char dir[] = "/tmp/rt_sweep_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char sub[300], run[400], sweep[400];
    snprintf(sub, sizeof sub, "%s/exp", dir);
    ck_assert_int_eq(mkdir(sub, 0777), 0);
    snprintf(run, sizeof run, "%s/run.yaml", sub);
    snprintf(sweep, sizeof sweep, "%s/sweep.yaml", sub);
    FILE *f = fopen(run, "w");
    fputs("optim: {lr: 2e-4}\n", f);
    fclose(f);
    f = fopen(sweep, "w");
    fputs("base_config: run.yaml\nspace: {optim.lr: [1e-3]}\n", f);
    fclose(f);
    rt_sweep_spec s;
    ck_assert_int_eq(rt_sweep_spec_load(&s, sweep), RT_OK);
    ck_assert_str_eq(s.base_config, run);
    ck_assert_str_eq(s.base_text, "optim: {lr: 2e-4}\n");
    rt_sweep_spec_free(&s);
    unlink(run);
    f = fopen(sweep, "w");
    fputs("base_config: gone.yaml\nspace: {optim.lr: [1e-3]}\n", f);
    fclose(f);
    ck_assert_int_eq(rt_sweep_spec_load(&s, sweep), RT_ERR_IO);
    expect_msg("base_config: cannot read the run config");
    expect_msg("exp/gone.yaml");
    unlink(sweep);
    rmdir(sub);
    rmdir(dir);
}
END_TEST

static rt_sweep_trials draw(rt_sweep_spec *s, const char *text) {
    ck_assert_int_eq(LOAD(s, text), RT_OK);
    rt_sweep_trials t;
    ck_assert_int_eq(rt_sweep_sample(s, &t), RT_OK);
    return t;
}

START_TEST(test_distributions) {
    rt_sweep_spec s;
    rt_sweep_trials t = draw(&s, BASE "method: random\ntrials: 4000\nseed: 7\nspace:\n"
                                      "  optim.lr: {log_uniform: [1e-5, 1e-1]}\n"
                                      "  model.dropout.resid: {uniform: [0.05, 0.25]}\n"
                                      "  optim.schedule: {choice: [constant, linear, cosine]}\n"
                                      "  train.seed: [1, 2]\n");
    int decade[4] = {0}, third[3] = {0}, half[2] = {0}, choice[3] = {0}, seed[2] = {0};
    static const char *const names[] = {"constant", "linear", "cosine"};
    double sum = 0;
    for (int i = 0; i < 4000; i++) {
        double lr = strtod(rt_sweep_trial_value(&t, i, 0), NULL);
        double dr = strtod(rt_sweep_trial_value(&t, i, 1), NULL);
        ck_assert(lr >= 1e-5 && lr <= 1e-1);
        ck_assert(dr >= 0.05 && dr <= 0.25);
        int d = (int)floor(log10(lr) + 5);
        decade[d < 4 ? d : 3]++;
        third[(int)((dr - 0.05) / (0.2 / 3)) < 3 ? (int)((dr - 0.05) / (0.2 / 3)) : 2]++;
        half[dr >= 0.15]++;
        sum += dr;
        for (int c = 0; c < 3; c++) choice[c] += !strcmp(rt_sweep_trial_value(&t, i, 2), names[c]);
        seed[!strcmp(rt_sweep_trial_value(&t, i, 3), "2")]++;
    }
    printf("sweep sampler: log_uniform decades %d %d %d %d, uniform thirds %d %d %d (mean %.4f), "
           "choice %d %d %d, list %d %d\n",
           decade[0], decade[1], decade[2], decade[3], third[0], third[1], third[2], sum / 4000,
           choice[0], choice[1], choice[2], seed[0], seed[1]);
    /* log-uniform: each decade ~1000 (a uniform draw on [1e-5, 1e-1] would put 90% in the last);
       uniform: thirds ~1333 and the mean 0.15; choices and list values equally often */
    for (int d = 0; d < 4; d++) ck_assert_msg(decade[d] > 850 && decade[d] < 1150, "decade %d", d);
    for (int k = 0; k < 3; k++) ck_assert(third[k] > 1180 && third[k] < 1490);
    ck_assert(fabs(sum / 4000 - 0.15) < 0.005);
    for (int c = 0; c < 3; c++) ck_assert(choice[c] > 1180 && choice[c] < 1490);
    ck_assert(seed[0] > 1850 && seed[0] < 2150);
    rt_sweep_trials_free(&t);
    rt_sweep_spec_free(&s);
}
END_TEST

START_TEST(test_seeding) {
    static const char *const fmt = BASE "method: random\ntrials: %d\nseed: %d\nspace:\n"
                                        "  optim.lr: {log_uniform: [1e-5, 1e-1]}\n"
                                        "  optim.weight_decay: {uniform: [0, 0.3]}\n";
    char a[600], b[600], c[600];
    snprintf(a, sizeof a, fmt, 10, 3);
    snprintf(b, sizeof b, fmt, 25, 3);
    snprintf(c, sizeof c, fmt, 10, 4);
    rt_sweep_spec sa, sb, sc;
    rt_sweep_trials ta = draw(&sa, a), tb = draw(&sb, b), tc = draw(&sc, c);
    int same_seed = 0, other_seed = 0;
    for (int i = 0; i < 10; i++)
        for (int p = 0; p < 2; p++) {
            /* the same seed: the same trials, whatever the number of trials */
            same_seed += !strcmp(rt_sweep_trial_value(&ta, i, p), rt_sweep_trial_value(&tb, i, p));
            other_seed += !strcmp(rt_sweep_trial_value(&ta, i, p), rt_sweep_trial_value(&tc, i, p));
        }
    ck_assert_int_eq(same_seed, 20);
    ck_assert_int_eq(other_seed, 0);
    /* a pure function of (seed, trial, parameter) */
    ck_assert(rt_sweep_draw(3, 5, 1) == rt_sweep_draw(3, 5, 1));
    ck_assert(rt_sweep_draw(3, 5, 1) != rt_sweep_draw(3, 5, 0));
    ck_assert(rt_sweep_draw(3, 5, 1) != rt_sweep_draw(3, 6, 1));
    rt_sweep_trials_free(&ta);
    rt_sweep_trials_free(&tb);
    rt_sweep_trials_free(&tc);
    rt_sweep_spec_free(&sa);
    rt_sweep_spec_free(&sb);
    rt_sweep_spec_free(&sc);
}
END_TEST

START_TEST(test_bad_files) {
    static const struct {
        const char *text;
        const char *msg[3];
    } bad[] = {
        {BASE "space: {optim.lr: []}\n", {"dir/sweep.yaml:2", "'optim.lr'", "non-empty list"}},
        {BASE "space:\n  optim.lr: {uniform: [0.1, 0.01]}\n",
         {"dir/sweep.yaml:3", "'optim.lr'", "low 0.1 must be below high 0.01"}},
        {BASE "method: random\ntrials: 3\nspace:\n  optim.lr: {log_uniform: [0, 1e-2]}\n",
         {"dir/sweep.yaml:5", "'optim.lr'", "must be > 0"}},
        {BASE "space:\n  optim.lr: {normal: [0, 1]}\n",
         {"dir/sweep.yaml:3", "unknown distribution 'normal'", "log_uniform"}},
        {BASE "space:\n  optim.lr: {uniform: [1e-4, 1e-2]}\n",
         {"dir/sweep.yaml:3", "'optim.lr'", "needs method: random"}},
        {BASE "space:\n  optim.lr: 1e-3\n", {"dir/sweep.yaml:3", "'optim.lr'", "expected a list"}},
        {BASE "space:\n  optim.lr: [1e-3, [1]]\n", {"'optim.lr'", "expected scalars"}},
        {BASE "space:\n  optim.lr: [1e-3, 1e-3]\n", {"'optim.lr'", "appears twice in the list"}},
        {BASE "space:\n  Optim.LR: [1]\n", {"dir/sweep.yaml:3", "dotted names"}},
        {BASE "method: random\nspace: {optim.lr: [1]}\n", {"method random needs 'trials'"}},
        {BASE "trials: 4\nspace: {optim.lr: [1]}\n", {"dir/sweep.yaml:2", "'trials'", "grid"}},
        {BASE "method: bayes\nspace: {optim.lr: [1]}\n", {"'method'", "grid or random"}},
        {BASE "spaces: {optim.lr: [1]}\n", {"dir/sweep.yaml:2", "'spaces'", "unknown key"}},
        {BASE "metric: val_bleu_x\nspace: {optim.lr: [1]}\n", {"'direction'", "val_bleu_x"}},
        {BASE "direction: up\nspace: {optim.lr: [1]}\n", {"'direction'", "minimize or maximize"}},
        {BASE "budget: {policy: asha, min_steps: 4}\nspace: {optim.lr: [1]}\n",
         {"'budget'", "needs min_steps and max_steps"}},
        {BASE "budget: {policy: asha, min_steps: 8, max_steps: 8}\nspace: {optim.lr: [1]}\n",
         {"min_steps 8 must be below max_steps 8"}},
        {BASE "budget: {policy: asha, min_steps: 2, max_steps: 8, eta: 1}\nspace: {x.y: [1]}\n",
         {"'budget.eta'", "integer >= 2"}},
        {BASE "budget: {policy: fixed, patience: 2}\nspace: {optim.lr: [1]}\n",
         {"patience and min_delta belong to policy early_stopping"}},
        {BASE "budget: {policy: early_stopping}\nspace: {optim.lr: [1]}\n", {"needs patience"}},
        {BASE "budget: {policy: fixed, steps: -3}\nspace: {optim.lr: [1]}\n",
         {"'budget.steps'", "integer >= 1", "'-3'"}},
        {BASE "budget: {policy: fixed, stpes: 3}\nspace: {optim.lr: [1]}\n",
         {"'budget.stpes'", "unknown key", "policy, steps"}},
        {"base: {optim: {lr: [1, 2]}}\nspace: {optim.lr: [1]}\n", {"'optim.lr'", "a list"}},
        {BASE "\n", {"no 'space'"}},
        {"space: {optim.lr: [1]}\n", {"neither 'base_config'", "nor 'base'"}},
        {BASE "space: {optim.lr: [1}\n", {"malformed YAML in dir/sweep.yaml:2"}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rt_sweep_spec s;
        rt_status st = LOAD(&s, bad[i].text);
        ck_assert_msg(st != RT_OK, "accepted:\n%s", bad[i].text);
        for (int j = 0; j < 3 && bad[i].msg[j]; j++)
            ck_assert_msg(strstr(rt_error_message(), bad[i].msg[j]),
                          "case %zu: message\n%s\nlacks %s", i, rt_error_message(), bad[i].msg[j]);
    }
}
END_TEST

/* The checks before a sweep: space keys must be run-config keys the sweep does not set itself;
   the base config must be valid; its model and corpus must exist. */
START_TEST(test_checks_before_trials) {
    rt_sweep_spec s;
    ck_assert_int_eq(LOAD(&s, BASE "space:\n  optim.lr: [1e-3]\n  optim.lrr: [1]\n"), RT_OK);
    ck_assert_int_eq(rt_sweep_check(&s, "out", -1), RT_ERR_ARG);
    expect_msg("dir/sweep.yaml:4: space key 'optim.lrr' is not a run-config key");
    rt_sweep_spec_free(&s);
    ck_assert_int_eq(LOAD(&s, BASE "space:\n  output.dir: [a, b]\n"), RT_OK);
    ck_assert_int_eq(rt_sweep_check(&s, "out", -1), RT_ERR_ARG);
    expect_msg("space key 'output.dir' is set by the sweep itself");
    rt_sweep_spec_free(&s);
    ck_assert_int_eq(LOAD(&s, BASE "budget: {policy: asha, min_steps: 2, max_steps: 8}\n"
                                   "space:\n  train.max_steps: [4, 8]\n"),
                     RT_OK);
    ck_assert_int_eq(rt_sweep_check(&s, "out", 2), RT_ERR_ARG);
    expect_msg("'train.max_steps' is set by the sweep itself");
    rt_sweep_spec_free(&s);
    /* without a budget of its own, the sweep may search the run config's steps */
    ck_assert_int_eq(LOAD(&s, "base:\n  model.path: m\n  optim: {lr: 2}\n"
                              "space: {train.max_steps: [4, 8]}\n"),
                     RT_OK);
    ck_assert_int_eq(rt_sweep_check(&s, "out", -1), RT_ERR_ARG);
    expect_msg("dir/sweep.yaml: the base run config (base:) is invalid (dir/sweep.yaml:3, under "
               "base:)");
    expect_msg("'optim.lr'");
    rt_sweep_spec_free(&s);
    ck_assert_int_eq(LOAD(&s, "base: {model.path: " RT_FIXTURES "/gpt2_tiny/hf, data.corpus: "
                              "/nonexistent/c.h5}\nspace: {optim.lr: [1e-3]}\n"),
                     RT_OK);
    ck_assert_int_eq(rt_sweep_check(&s, "out", -1) != RT_OK, 1);
    expect_msg("data.corpus of the base run config");
    expect_msg("/nonexistent/c.h5");
    rt_sweep_spec_free(&s);
    ck_assert_int_eq(LOAD(&s, "base: {model.path: /nonexistent/model, data.corpus: c.h5}\n"
                              "space: {optim.lr: [1e-3]}\n"),
                     RT_OK);
    ck_assert_int_eq(rt_sweep_check(&s, "out", -1), RT_ERR_ARG);
    expect_msg("model.path of the base run config");
    rt_sweep_spec_free(&s);
}
END_TEST

/* A trial's config: base, its values, then the sweep's keys; a bad value names the trial. */
START_TEST(test_trial_config) {
    rt_sweep_spec s;
    rt_sweep_trials t =
        draw(&s, BASE "space:\n  optim.lr: [3e-4, -0.1]\n"
                      "budget: {policy: asha, min_steps: 2, max_steps: 8, eta: 2}\n");
    rt_run_config c;
    ck_assert_int_eq(rt_sweep_trial_config(&s, &t, 0, "out/trial-000", 4, &c), RT_OK);
    ck_assert(c.optim.lr == 3e-4);
    ck_assert_str_eq(c.output.dir, "out/trial-000");
    ck_assert_str_eq(c.checkpoint.resume, "auto");
    ck_assert_str_eq(c.output.metrics_file, "metrics.jsonl");
    ck_assert_int_eq(c.train.max_steps, 4);
    ck_assert_int_eq(c.optim.schedule_steps, 8); /* a rung stops along the whole run's schedule */
    ck_assert(isnan(c.train.epochs));
    rt_config_free(&c);
    ck_assert_int_eq(rt_sweep_trial_config(&s, &t, 1, "out/trial-001", 2, &c), RT_ERR_ARG);
    expect_msg("trial 1 of dir/sweep.yaml (optim.lr=-0.1): invalid value for 'optim.lr'");
    char dir[64];
    rt_sweep_trial_dir("out", 12, 7, dir, sizeof dir);
    ck_assert_str_eq(dir, "out/trial-007");
    rt_sweep_trial_dir("out", 20000, 7, dir, sizeof dir);
    ck_assert_str_eq(dir, "out/trial-00007");
    rt_sweep_trials_free(&t);
    rt_sweep_spec_free(&s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sweep_space");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_grid_order);
    tcase_add_test(tc, test_defaults_and_base);
    tcase_add_test(tc, test_base_config_relative);
    tcase_add_test(tc, test_distributions);
    tcase_add_test(tc, test_seeding);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_checks_before_trials);
    tcase_add_test(tc, test_trial_config);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
