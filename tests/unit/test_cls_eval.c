/* Classification over whole examples (dist/cls_eval.c) against transformers + scikit-learn
   (tests/fixtures/clseval/, made by gen_clseval_fixture.py): a labeled corpus of the fixture's
   45 examples (lengths 1..20, the model has 16 positions, so eval cuts the longer ones) gives
   transformers' logits, predictions, mean loss and sklearn's confusion matrix and metrics, for
   batch sizes 1, 4 and 45 (right padding with the pad id changes nothing). Also writes the
   corpus for the CLI tests (cli_eval_labeled, cli_predict). Not collective. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cls_eval.h"
#include "head_seqcls.h"
#include "model_registry.h"

static json_t *fx;
static char corpus_path[1024];

static void write_corpus(void) {
    json_t *ex = json_object_get(fx, "examples"), *lab = json_object_get(fx, "labels");
    const char *names[3];
    for (int k = 0; k < 3; k++) names[k] = json_string_value(json_array_get(lab, k));
    rt_corpus_label_meta l = {3, names, "given",
                              (int)json_integer_value(json_object_get(fx, "max_length")), "right"};
    rt_corpus_meta m = {"labeled",
                        4096,
                        4095,
                        "0000000000000000000000000000000000000000000000000000000000000000",
                        "clseval/eval.json",
                        0,
                        1.0,
                        "test_cls_eval",
                        0,
                        &l,
                        NULL};
    rt_corpus_writer *w = NULL;
    snprintf(corpus_path, sizeof corpus_path, "%s/clseval.h5", RT_BUILD_DIR);
    unlink(corpus_path);
    ck_assert_msg(rt_corpus_writer_create(&w, corpus_path, 1, &m) == RT_OK, "%s",
                  rt_error_message());
    for (size_t d = 0; d < json_array_size(ex); d++) {
        json_t *e = json_array_get(ex, d), *ids = json_object_get(e, "ids");
        uint16_t buf[64];
        for (size_t i = 0; i < json_array_size(ids); i++)
            buf[i] = (uint16_t)json_integer_value(json_array_get(ids, i));
        ck_assert_msg(
            rt_corpus_writer_add_labeled(w, RT_SPLIT_VALIDATION, d,
                                         (int32_t)json_integer_value(json_object_get(e, "label")),
                                         buf, json_array_size(ids)) == RT_OK,
            "%s", rt_error_message());
    }
    rt_corpus_counts counts = {0};
    ck_assert_msg(rt_corpus_writer_commit(&w, &counts) == RT_OK, "%s", rt_error_message());
}

static void setup(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/clseval/eval.json", RT_FIXTURES);
    json_error_t je;
    fx = json_load_file(path, 0, &je);
    ck_assert_msg(fx, "%s: %s", path, je.text);
    write_corpus();
}

static void teardown(void) {
    json_decref(fx);
}

static const int BATCHES[] = {1, 4, 45};

START_TEST(test_matches_transformers_sklearn) {
    int B = BATCHES[_i];
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/clseval/hf", RT_FIXTURES);
    rt_model *m = NULL;
    ck_assert_msg(rt_model_load_hf_seqcls(dir, NULL, stderr, &m) == RT_OK, "%s",
                  rt_error_message());
    ck_assert_int_eq(rt_head_seqcls_pad(m),
                     (int)json_integer_value(json_object_get(fx, "pad_token_id")));
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, corpus_path, MPI_COMM_NULL) == RT_OK, "%s",
                  rt_error_message());
    rt_corpus_source cs = {c, RT_SPLIT_VALIDATION};
    rt_example_source src = rt_example_source_corpus(&cs);
    int n = (int)src.n, K = 3, T = m->max_positions;
    ck_assert_int_eq(n, (int)json_array_size(json_object_get(fx, "examples")));
    rt_cls_tally t = {0};
    ck_assert(rt_confusion_init(&t.conf, K) == RT_OK);
    ck_assert(rt_model_alloc_acts(m, B, T) == RT_OK);
    int32_t *pred = malloc((size_t)n * sizeof *pred);
    float *probs = malloc((size_t)n * K * sizeof *probs);
    ck_assert_msg(rt_cls_run(m, &src, 0, src.n, B, T, &t, pred, probs) == RT_OK, "%s",
                  rt_error_message());
    /* probabilities from transformers' logits; the predictions exactly */
    json_t *lg = json_object_get(fx, "logits"), *pr = json_object_get(fx, "pred");
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        double z[3], mx = -INFINITY, s = 0.0;
        for (int k = 0; k < K; k++)
            mx = fmax(mx, z[k] = json_number_value(json_array_get(json_array_get(lg, i), k)));
        for (int k = 0; k < K; k++) s += exp(z[k] - mx);
        for (int k = 0; k < K; k++)
            worst = fmax(worst, fabs(probs[i * K + k] - exp(z[k] - mx) / s));
        ck_assert_msg(pred[i] == json_integer_value(json_array_get(pr, i)),
                      "example %d: %d vs %lld", i, pred[i],
                      (long long)json_integer_value(json_array_get(pr, i)));
    }
    double loss = t.loss_sum / t.n_loss, ref = json_number_value(json_object_get(fx, "loss"));
    printf("batch %d: probabilities max |diff| %.3g, loss %.7f vs %.7f (|diff| %.3g), %lld "
           "truncated\n",
           B, worst, loss, ref, fabs(loss - ref), (long long)t.n_truncated);
    ck_assert_msg(worst <= 1e-5, "probabilities max |diff| %g", worst);
    ck_assert_msg(fabs(loss - ref) <= 1e-5 * ref, "loss %g vs %g", loss, ref);
    ck_assert_int_eq(t.n_truncated, json_integer_value(json_object_get(fx, "n_truncated")));
    json_t *cf = json_object_get(fx, "confusion");
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++)
            ck_assert_int_eq(t.conf.counts[a * K + b],
                             json_integer_value(json_array_get(json_array_get(cf, a), b)));
    rt_metrics mt;
    ck_assert(rt_metrics_init(&mt, K) == RT_OK);
    ck_assert(rt_metrics_from_confusion(&mt, &t.conf) == RT_OK);
    double dm = fabs(mt.accuracy - json_number_value(json_object_get(fx, "accuracy")));
    const char *avg[] = {"macro", "micro", "weighted"};
    const rt_prf *got[] = {&mt.macro, &mt.micro, &mt.weighted};
    for (int a = 0; a < 3; a++) {
        json_t *o = json_object_get(fx, avg[a]);
        dm = fmax(dm, fabs(got[a]->precision - json_number_value(json_object_get(o, "precision"))));
        dm = fmax(dm, fabs(got[a]->recall - json_number_value(json_object_get(o, "recall"))));
        dm = fmax(dm, fabs(got[a]->f1 - json_number_value(json_object_get(o, "f1"))));
    }
    printf("batch %d: accuracy %.6f, metrics max |diff| vs sklearn %.3g\n", B, mt.accuracy, dm);
    ck_assert_msg(dm <= 1e-12, "metrics differ from sklearn by %g", dm);
    rt_metrics_free(&mt);
    rt_confusion_free(&t.conf);
    free(pred);
    free(probs);
    rt_corpus_close(&c);
    rt_model_destroy(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cls_eval");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_matches_transformers_sklearn, 0, 3);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
