/* compute/metrics.c against scikit-learn (tests/fixtures/metrics/sklearn_cases.json, made by
   tests/fixtures/gen_metrics_fixtures.py): confusion matrix, accuracy, per-class and averaged
   precision/recall/F1, support and the undefined (0/0) flags; counts merged from shards give the
   same figures; label and name errors. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"

#define FIXTURE RT_FIXTURES "/metrics/sklearn_cases.json"

static double max_diff; /* over every figure of every case */

static json_t *load_cases(json_t **root) {
    json_error_t err;
    *root = json_load_file(FIXTURE, 0, &err);
    ck_assert_msg(*root, "%s: line %d: %s", FIXTURE, err.line, err.text);
    json_t *cases = json_object_get(*root, "cases");
    ck_assert_msg(json_is_array(cases) && json_array_size(cases) > 0,
                  "%s: \"cases\": expected a non-empty array", FIXTURE);
    return cases;
}

static json_t *field(json_t *obj, const char *where, const char *key) {
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(v, "%s: %s: no field \"%s\"", FIXTURE, where, key);
    return v;
}

static double num(json_t *obj, const char *where, const char *key) {
    json_t *v = field(obj, where, key);
    ck_assert_msg(json_is_number(v), "%s: %s.%s: expected a number", FIXTURE, where, key);
    return json_number_value(v);
}

static int flag(json_t *obj, const char *where, const char *key) {
    json_t *v = field(obj, where, key);
    ck_assert_msg(json_is_boolean(v), "%s: %s.%s: expected true/false", FIXTURE, where, key);
    return json_is_true(v);
}

/* the int array field key of obj, n entries expected (n < 0: any); caller frees */
static int32_t *ints(json_t *obj, const char *where, const char *key, long *n) {
    json_t *a = field(obj, where, key);
    ck_assert_msg(json_is_array(a), "%s: %s.%s: expected an array", FIXTURE, where, key);
    long len = (long)json_array_size(a);
    ck_assert_msg(*n < 0 || *n == len, "%s: %s.%s: %ld entries, expected %ld", FIXTURE, where, key,
                  len, *n);
    *n = len;
    int32_t *v = malloc((size_t)(len ? len : 1) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (long i = 0; i < len; i++) {
        json_t *x = json_array_get(a, (size_t)i);
        ck_assert_msg(json_is_integer(x), "%s: %s.%s[%ld]: expected an integer", FIXTURE, where,
                      key, i);
        v[i] = (int32_t)json_integer_value(x);
    }
    return v;
}

static void check_value(const char *name, const char *what, double got, double want) {
    double d = fabs(got - want);
    if (d > max_diff) max_diff = d;
    ck_assert_msg(d <= 1e-12, "%s: %s = %.17g, sklearn %.17g (diff %.3g)", name, what, got, want,
                  d);
}

static void check_flag(const char *name, const char *what, int got, int want) {
    ck_assert_msg(!got == !want, "%s: %s undefined = %d, sklearn %s", name, what, got,
                  want ? "warns (0/0)" : "defined");
}

/* an average (macro, micro, weighted, binary) against sklearn's *_score and its warnings */
static void check_average(const char *name, json_t *c, const char *avg, const rt_prf *p) {
    char where[128], what[64];
    json_t *e = field(c, name, avg);
    snprintf(where, sizeof where, "%s.%s", name, avg);
    static const char *fig[3] = {"precision", "recall", "f1"};
    static const unsigned bit[3] = {RT_UNDEF_PRECISION, RT_UNDEF_RECALL, RT_UNDEF_F1};
    const double got[3] = {p->precision, p->recall, p->f1};
    for (int f = 0; f < 3; f++) {
        char warned[32];
        snprintf(what, sizeof what, "%s %s", fig[f], avg);
        snprintf(warned, sizeof warned, "%s_warned", fig[f]);
        check_value(name, what, got[f], num(e, where, fig[f]));
        check_flag(name, what, (p->undefined & bit[f]) != 0, flag(e, where, warned));
    }
}

static void check_per_class(const char *name, json_t *c, const rt_metrics *m) {
    char where[128], what[64];
    json_t *pc = field(c, name, "per_class");
    snprintf(where, sizeof where, "%s.per_class", name);
    static const char *fig[3] = {"precision", "recall", "f1"};
    static const unsigned bit[3] = {RT_UNDEF_PRECISION, RT_UNDEF_RECALL, RT_UNDEF_F1};
    const int K = m->num_labels;
    for (int f = 0; f < 3; f++) {
        char key[32];
        json_t *vals = field(pc, where, fig[f]);
        snprintf(key, sizeof key, "%s_undefined", fig[f]);
        json_t *und = field(pc, where, key);
        ck_assert_msg((int)json_array_size(vals) == K && (int)json_array_size(und) == K,
                      "%s: %s.%s: expected %d entries", FIXTURE, where, fig[f], K);
        for (int k = 0; k < K; k++) {
            const rt_prf *p = &m->per_class[k];
            const double got = f == 0 ? p->precision : f == 1 ? p->recall : p->f1;
            snprintf(what, sizeof what, "%s of class %d", fig[f], k);
            check_value(name, what, got, json_number_value(json_array_get(vals, (size_t)k)));
            check_flag(name, what, (p->undefined & bit[f]) != 0,
                       json_is_true(json_array_get(und, (size_t)k)));
        }
    }
    long nk = K;
    int32_t *support = ints(pc, where, "support", &nk);
    for (int k = 0; k < K; k++)
        ck_assert_msg(m->support[k] == support[k], "%s: support of class %d = %lld, sklearn %d",
                      name, k, (long long)m->support[k], support[k]);
    free(support);
}

static void check_confusion(const char *name, json_t *c, const rt_confusion *cm) {
    const int K = cm->num_labels;
    json_t *rows = field(c, name, "confusion");
    ck_assert_msg((int)json_array_size(rows) == K, "%s: %s.confusion: expected %d rows", FIXTURE,
                  name, K);
    for (int t = 0; t < K; t++) {
        json_t *row = json_array_get(rows, (size_t)t);
        ck_assert_msg((int)json_array_size(row) == K, "%s: %s.confusion[%d]: expected %d counts",
                      FIXTURE, name, t, K);
        for (int p = 0; p < K; p++) {
            long long want = json_integer_value(json_array_get(row, (size_t)p));
            ck_assert_msg(cm->counts[t * K + p] == want,
                          "%s: confusion[true %d][pred %d] = %lld, sklearn %lld", name, t, p,
                          (long long)cm->counts[t * K + p], want);
        }
    }
}

/* every figure of one case, through rt_metrics_compute and through the confusion matrix */
static void check_case(json_t *c) {
    const char *name = json_string_value(field(c, "case", "name"));
    ck_assert_msg(name, "%s: a case's \"name\": expected a string", FIXTURE);
    const int K = (int)json_integer_value(field(c, name, "num_labels"));
    long n = -1;
    int32_t *y_true = ints(c, name, "y_true", &n);
    int32_t *y_pred = ints(c, name, "y_pred", &n);
    rt_confusion cm;
    rt_metrics m;
    ck_assert_int_eq(rt_confusion_init(&cm, K), RT_OK);
    ck_assert_int_eq(rt_metrics_init(&m, K), RT_OK);
    ck_assert_msg(rt_confusion_add(&cm, y_pred, y_true, n) == RT_OK, "%s: %s", name,
                  rt_error_message());
    ck_assert_int_eq(rt_confusion_total(&cm), n);
    check_confusion(name, c, &cm);
    ck_assert_msg(rt_metrics_compute(&m, y_pred, y_true, n) == RT_OK, "%s: %s", name,
                  rt_error_message());
    ck_assert_int_eq(m.n, n);
    check_value(name, "accuracy", m.accuracy, num(c, name, "accuracy"));
    ck_assert(!m.accuracy_undef);
    check_per_class(name, c, &m);
    check_average(name, c, "macro", &m.macro);
    check_average(name, c, "micro", &m.micro);
    check_average(name, c, "weighted", &m.weighted);
    if (K == 2) check_average(name, c, "binary", &m.per_class[1]);
    printf("metrics %-20s K %2d n %3ld: accuracy %.6f f1_macro %.6f f1_weighted %.6f\n", name, K, n,
           m.accuracy, m.macro.f1, m.weighted.f1);
    rt_metrics_free(&m);
    rt_confusion_free(&cm);
    free(y_true);
    free(y_pred);
}

START_TEST(test_sklearn_cases) {
    json_t *root;
    json_t *cases = load_cases(&root);
    max_diff = 0.0;
    for (size_t i = 0; i < json_array_size(cases); i++) check_case(json_array_get(cases, i));
    printf("metrics: %zu sklearn cases, max abs diff %.3g\n", json_array_size(cases), max_diff);
    json_decref(root);
}
END_TEST

static int same_prf(const rt_prf *a, const rt_prf *b) {
    return a->precision == b->precision && a->recall == b->recall && a->f1 == b->f1 &&
           a->undefined == b->undefined;
}

/* counted in uneven shards (as ranks would) and merged: bit-identical to the one-shot figures */
START_TEST(test_merge_shards) {
    json_t *root;
    json_t *cases = load_cases(&root);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        const int K = (int)json_integer_value(json_object_get(c, "num_labels"));
        long n = -1;
        int32_t *t = ints(c, name, "y_true", &n), *p = ints(c, name, "y_pred", &n);
        rt_confusion total, shard;
        rt_metrics one, merged;
        ck_assert_int_eq(rt_confusion_init(&total, K), RT_OK);
        ck_assert_int_eq(rt_confusion_init(&shard, K), RT_OK);
        ck_assert_int_eq(rt_metrics_init(&one, K), RT_OK);
        ck_assert_int_eq(rt_metrics_init(&merged, K), RT_OK);
        const long cut[4] = {0, n / 5, n / 5 + n / 2, n}; /* uneven, some maybe empty */
        for (int r = 0; r < 3; r++) {
            rt_confusion_reset(&shard);
            ck_assert_int_eq(rt_confusion_add(&shard, p + cut[r], t + cut[r], cut[r + 1] - cut[r]),
                             RT_OK);
            ck_assert_int_eq(rt_confusion_merge(&total, &shard), RT_OK);
        }
        ck_assert_int_eq(rt_metrics_compute(&one, p, t, n), RT_OK);
        ck_assert_int_eq(rt_metrics_from_confusion(&merged, &total), RT_OK);
        ck_assert_msg(merged.accuracy == one.accuracy && same_prf(&merged.macro, &one.macro) &&
                          same_prf(&merged.micro, &one.micro) &&
                          same_prf(&merged.weighted, &one.weighted),
                      "%s: merged shards differ from one batch", name);
        for (int k = 0; k < K; k++)
            ck_assert(same_prf(&merged.per_class[k], &one.per_class[k]) &&
                      merged.support[k] == one.support[k]);
        rt_metrics_free(&one);
        rt_metrics_free(&merged);
        rt_confusion_free(&total);
        rt_confusion_free(&shard);
        free(t);
        free(p);
    }
    json_decref(root);
}
END_TEST

START_TEST(test_empty) {
    rt_confusion c;
    rt_metrics m;
    ck_assert_int_eq(rt_confusion_init(&c, 3), RT_OK);
    ck_assert_int_eq(rt_metrics_init(&m, 3), RT_OK);
    ck_assert_int_eq(rt_metrics_from_confusion(&m, &c), RT_OK);
    const unsigned all = RT_UNDEF_PRECISION | RT_UNDEF_RECALL | RT_UNDEF_F1;
    ck_assert(m.n == 0 && m.accuracy == 0.0 && m.accuracy_undef);
    ck_assert(m.macro.undefined == all && m.micro.undefined == all && m.weighted.undefined == all);
    ck_assert(m.macro.f1 == 0.0 && m.micro.precision == 0.0 && m.weighted.recall == 0.0);
    for (int k = 0; k < 3; k++) ck_assert(m.per_class[k].undefined == all && m.support[k] == 0);
    rt_metrics_free(&m);
    rt_metrics_free(&m); /* twice: safe */
    rt_confusion_free(&c);
    rt_confusion_free(&c);
}
END_TEST

START_TEST(test_bad_input) {
    rt_confusion c, c4;
    rt_metrics m;
    ck_assert_int_eq(rt_confusion_init(&c, 0), RT_ERR_ARG);
    ck_assert_ptr_null(c.counts);
    ck_assert_int_eq(rt_metrics_init(&m, -1), RT_ERR_ARG);
    ck_assert_int_eq(rt_confusion_init(&c, 3), RT_OK);
    const int32_t t[4] = {0, 1, 2, 1}, p[4] = {0, 1, 3, 1}, tb[4] = {0, -1, 2, 1};
    ck_assert_int_eq(rt_confusion_add(&c, p, t, 4), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "predicted label 3 at index 2, expected 0..2"), "%s",
                  rt_error_message());
    ck_assert_int_eq(rt_confusion_total(&c), 0); /* nothing counted */
    ck_assert_int_eq(rt_confusion_add(&c, t, tb, 4), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "true label -1 at index 1"), "%s", rt_error_message());
    ck_assert_int_eq(rt_confusion_add(&c, t, t, -1), RT_ERR_ARG);
    ck_assert_int_eq(rt_confusion_init(&c4, 4), RT_OK);
    ck_assert_int_eq(rt_confusion_merge(&c, &c4), RT_ERR_ARG);
    ck_assert_int_eq(rt_metrics_init(&m, 4), RT_OK);
    ck_assert_int_eq(rt_metrics_from_confusion(&m, &c), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "3-label confusion matrix into metrics for 4"), "%s",
                  rt_error_message());
    rt_metrics_free(&m);
    ck_assert_int_eq(rt_metrics_init(&m, 3), RT_OK);
    ck_assert_int_eq(rt_metrics_compute(&m, p, t, 4), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "predicted label 3 at index 2"), "%s",
                  rt_error_message());
    rt_metrics_free(&m);
    rt_confusion_free(&c);
    rt_confusion_free(&c4);
}
END_TEST

START_TEST(test_names) {
    for (int i = 0; i < RT_METRIC_COUNT; i++) {
        rt_metric_id id = RT_METRIC_COUNT;
        rt_metric_dir dir = 0;
        const char *name = rt_metric_name((rt_metric_id)i);
        ck_assert_ptr_nonnull(name);
        ck_assert_int_eq(rt_metric_by_name(name, &id, &dir), RT_OK);
        ck_assert_int_eq(id, i);
        ck_assert_int_eq(dir, rt_metric_direction(id));
        ck_assert_int_eq(dir, i == RT_METRIC_LOSS ? RT_METRIC_LOWER_IS_BETTER
                                                  : RT_METRIC_HIGHER_IS_BETTER);
    }
    ck_assert_ptr_null(rt_metric_name(RT_METRIC_COUNT));
    ck_assert_int_eq(rt_metric_by_name("F1_macro", NULL, NULL), RT_ERR_ARG);
    const char *msg = rt_error_message();
    ck_assert_msg(strstr(msg, "unknown metric 'F1_macro': expected one of loss, accuracy, "
                              "f1_macro, f1_micro, f1_weighted, precision_macro,"),
                  "%s", msg);
    ck_assert_msg(strstr(msg, "recall_weighted, precision_binary, recall_binary, f1_binary"), "%s",
                  msg);
    ck_assert_int_eq(rt_metric_by_name(NULL, NULL, NULL), RT_ERR_ARG);
}
END_TEST

/* rt_metrics_value picks the field each name says; binary needs K == 2; loss is not ours */
START_TEST(test_values) {
    const int32_t t[6] = {0, 1, 1, 0, 1, 1}, p[6] = {0, 1, 0, 1, 1, 1};
    rt_metrics m, m3;
    double v;
    int u = -1;
    ck_assert_int_eq(rt_metrics_init(&m, 2), RT_OK);
    ck_assert_int_eq(rt_metrics_compute(&m, p, t, 6), RT_OK);
    ck_assert_int_eq(rt_metrics_value(&m, RT_METRIC_ACCURACY, &v, &u), RT_OK);
    ck_assert(v == 4.0 / 6.0 && u == 0);
    ck_assert_int_eq(rt_metrics_value(&m, RT_METRIC_PRECISION_BINARY, &v, NULL), RT_OK);
    ck_assert(v == 3.0 / 4.0); /* class 1: tp 3, predicted 4, true 4 */
    ck_assert_int_eq(rt_metrics_value(&m, RT_METRIC_RECALL_BINARY, &v, NULL), RT_OK);
    ck_assert(v == 3.0 / 4.0);
    ck_assert_int_eq(rt_metrics_value(&m, RT_METRIC_F1_BINARY, &v, NULL), RT_OK);
    ck_assert(v == 6.0 / 8.0);
    ck_assert_int_eq(rt_metrics_value(&m, RT_METRIC_F1_MACRO, &v, NULL), RT_OK);
    ck_assert(v == m.macro.f1);
    ck_assert_int_eq(rt_metrics_value(&m, RT_METRIC_RECALL_WEIGHTED, &v, NULL), RT_OK);
    ck_assert(v == m.weighted.recall);
    ck_assert_int_eq(rt_metrics_value(&m, RT_METRIC_PRECISION_MICRO, &v, NULL), RT_OK);
    ck_assert(v == m.accuracy);
    ck_assert_int_eq(rt_metrics_value(&m, RT_METRIC_LOSS, &v, NULL), RT_ERR_ARG);
    ck_assert_int_eq(rt_metrics_value(&m, RT_METRIC_COUNT, &v, NULL), RT_ERR_ARG);
    ck_assert_int_eq(rt_metrics_init(&m3, 3), RT_OK);
    ck_assert_int_eq(rt_metrics_compute(&m3, p, t, 6), RT_OK);
    ck_assert_int_eq(rt_metrics_value(&m3, RT_METRIC_F1_BINARY, &v, NULL), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "f1_binary needs exactly 2 labels, the model has 3"),
                  "%s", rt_error_message());
    ck_assert_int_eq(rt_metrics_value(&m3, RT_METRIC_PRECISION_MACRO, &v, &u), RT_OK);
    ck_assert(u == 1); /* class 2 never predicted */
    rt_metrics_free(&m);
    rt_metrics_free(&m3);
}
END_TEST

int main(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_sklearn_cases);
    tcase_add_test(tc, test_merge_shards);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_values);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
