/* The MPI-free pieces of `ringtune prep --source-field --target-field` (dist/prep_pairs.h), in one
   process that never initialises MPI: truncation keeping </s> as T5TokenizerFast does (the probe
   and the fixture pairs of tests/fixtures/pairs/t5_ids.json), the prefix, an empty target, the
   fields of a JSON line and the option checks. The whole prep: tests/prep/pairs.sh. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "prep_pairs.h"
#include "spm.h"

static rt_spm *spm;
static json_t *oracle;

static void expect_ids(const int32_t *got, size_t n, const json_t *want, const char *what) {
    ck_assert_msg(n == json_array_size(want), "%s: %zu ids, oracle %zu", what, n,
                  json_array_size(want));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == (int32_t)json_integer_value(json_array_get(want, i)),
                      "%s: id %zu is %d, oracle %lld", what, i, got[i],
                      (long long)json_integer_value(json_array_get(want, i)));
}

static void pair_opts(rt_prep_opts *o) {
    rt_prep_opts_default(o);
    o->format = RT_PREP_JSONL;
    o->source_field = "en";
    o->target_field = "de";
}

/* T5TokenizerFast(text, truncation=True, max_length=N) for N = 1, 2, 3, 5: the first N - 1 ids
   and </s>; the target side the same. */
START_TEST(test_truncation_probe) {
    json_t *probe = json_object_get(oracle, "truncation_probe");
    const char *text = json_string_value(json_object_get(probe, "text"));
    rt_prep_pair_text pt = {text, text, strlen(text), strlen(text)};
    rt_prep_pair_buf b = {0};
    rt_prep_pair_ids r;
    rt_prep_opts o;
    pair_opts(&o);
    ck_assert(rt_prep_pair_encode(&o, spm, &pt, &b, &r) == RT_OK);
    expect_ids(b.ids, r.n_src, json_object_get(probe, "full"), "untruncated source");
    ck_assert(!r.cut_src && !r.cut_tgt && !r.empty_target);
    const char *key;
    json_t *want;
    json_object_foreach(json_object_get(probe, "max_length"), key, want) {
        o.max_source_len = o.max_target_len = atoi(key);
        ck_assert(rt_prep_pair_encode(&o, spm, &pt, &b, &r) == RT_OK);
        ck_assert(r.cut_src && r.cut_tgt);
        expect_ids(b.ids, r.n_src, want, "truncated source");
        expect_ids(b.ids + r.n_src, r.n_tgt, want, "truncated target");
    }
    /* a side of exactly max ids is not cut */
    o.max_source_len = (int)json_array_size(json_object_get(probe, "full"));
    ck_assert(rt_prep_pair_encode(&o, spm, &pt, &b, &r) == RT_OK);
    ck_assert(!r.cut_src && r.n_src == (size_t)o.max_source_len);
    rt_prep_pair_buf_free(&b);
}
END_TEST

/* Every fixture pair with the oracle's prefix and limits. */
START_TEST(test_fixture_pairs) {
    json_t *st = json_object_get(oracle, "settings");
    rt_prep_opts o;
    pair_opts(&o);
    o.source_prefix = json_string_value(json_object_get(st, "source_prefix"));
    o.max_source_len = (int)json_integer_value(json_object_get(st, "max_source_len"));
    o.max_target_len = (int)json_integer_value(json_object_get(st, "max_target_len"));
    FILE *f = fopen(RT_FIXTURES "/pairs/input.jsonl", "rb");
    ck_assert(f);
    char line[4096];
    size_t k = 0, cut_s = 0, cut_t = 0;
    rt_prep_pair_buf b = {0};
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '\n') continue;
        json_t *root = json_loads(line, 0, NULL),
               *c = json_array_get(json_object_get(oracle, "cases"), k++);
        ck_assert(root && c);
        rt_prep_pair_text pt;
        char why[256];
        ck_assert(rt_prep_pair_fields(&o, root, &pt, why, sizeof why) == RT_OK && !why[0]);
        rt_prep_pair_ids r;
        ck_assert(rt_prep_pair_encode(&o, spm, &pt, &b, &r) == RT_OK);
        expect_ids(b.ids, r.n_src, json_object_get(c, "source"), "source");
        expect_ids(b.ids + r.n_src, r.n_tgt, json_object_get(c, "target"), "target");
        cut_s += (size_t)r.cut_src;
        cut_t += (size_t)r.cut_tgt;
        json_decref(root);
    }
    fclose(f);
    rt_prep_pair_buf_free(&b);
    ck_assert_int_eq((int)k, (int)json_integer_value(json_object_get(oracle, "n_pairs")));
    ck_assert_int_eq((int)cut_s,
                     (int)json_integer_value(json_object_get(oracle, "n_truncated_source")));
    ck_assert_int_eq((int)cut_t,
                     (int)json_integer_value(json_object_get(oracle, "n_truncated_target")));
}
END_TEST

/* An empty or blank target is flagged (the caller refuses the pair); an empty source is the
   prefix alone, or </s> alone. */
START_TEST(test_empty_sides) {
    rt_prep_opts o;
    pair_opts(&o);
    rt_prep_pair_buf b = {0};
    rt_prep_pair_ids r;
    rt_prep_pair_text pt = {"", " \t ", 0, 3};
    ck_assert(rt_prep_pair_encode(&o, spm, &pt, &b, &r) == RT_OK);
    ck_assert(r.empty_target && r.n_src == 1 && b.ids[0] == rt_spm_eos_id(spm));
    o.source_prefix = "summarize: ";
    pt.tgt = "x";
    pt.n_tgt = 1;
    ck_assert(rt_prep_pair_encode(&o, spm, &pt, &b, &r) == RT_OK);
    ck_assert(!r.empty_target && r.n_src > 1 && r.n_tgt >= 2);
    rt_prep_pair_buf_free(&b);
}
END_TEST

START_TEST(test_fields) {
    rt_prep_opts o;
    pair_opts(&o);
    static const char *const bad[][2] = {
        {"{\"de\": \"x\"}", "no source field \"en\" in the JSON object"},
        {"{\"en\": \"x\"}", "no target field \"de\" in the JSON object"},
        {"{\"en\": 1.5, \"de\": \"x\"}", "source field \"en\" is a number, expected a string"},
        {"{\"en\": \"x\", \"de\": {}}", "target field \"de\" is an object, expected a string"},
        {"{\"en\": \"x\", \"de\": true}", "target field \"de\" is a boolean, expected a string"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *root = json_loads(bad[i][0], 0, NULL);
        rt_prep_pair_text pt;
        char why[256];
        ck_assert(rt_prep_pair_fields(&o, root, &pt, why, sizeof why) == RT_OK);
        ck_assert_str_eq(why, bad[i][1]);
        json_decref(root);
    }
    json_t *root = json_loads("{\"en\": \"a\\u0000b\", \"de\": \"c\"}", JSON_ALLOW_NUL, NULL);
    rt_prep_pair_text pt;
    char why[256];
    ck_assert(rt_prep_pair_fields(&o, root, &pt, why, sizeof why) == RT_OK && !why[0]);
    ck_assert(pt.n_src == 3 && pt.n_tgt == 1);
    json_decref(root);
}
END_TEST

static void expect_opts_error(const rt_prep_opts *o, const char *needle) {
    ck_assert_int_eq(rt_prep_pair_opts_check(o), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), needle), "wanted '%s' in: %s", needle,
                  rt_error_message());
}

START_TEST(test_opts) {
    rt_prep_opts o;
    pair_opts(&o);
    ck_assert(rt_prep_pair_opts_check(&o) == RT_OK && rt_prep_is_pairs(&o));
    o.target_field = NULL;
    expect_opts_error(&o, "needs both --source-field and --target-field");
    pair_opts(&o);
    o.format = RT_PREP_TEXT;
    expect_opts_error(&o, "apply to jsonl input");
    pair_opts(&o);
    o.label_field = "label";
    expect_opts_error(&o, "labeled (--label-field) or pairs");
    pair_opts(&o);
    o.source_prefix = "bad \xff prefix";
    expect_opts_error(&o, "--source-prefix is not valid UTF-8 (byte 0xff at offset 4)");
    pair_opts(&o);
    o.max_target_len = -1;
    expect_opts_error(&o, "negative --max-source-len or --max-target-len");
    rt_prep_opts_default(&o);
    ck_assert(rt_prep_pair_opts_check(&o) == RT_OK && !rt_prep_is_pairs(&o));
    o.max_source_len = 8;
    expect_opts_error(&o, "need --source-field and --target-field");
}
END_TEST

int main(void) {
    if (rt_spm_load(&spm, RT_T5_TOKENIZER "/spiece.model", RT_T5_TOKENIZER "/tokenizer.json") !=
        RT_OK) {
        fprintf(stderr, "%s\n", rt_error_message());
        return EXIT_FAILURE;
    }
    json_error_t je;
    oracle = json_load_file(RT_FIXTURES "/pairs/t5_ids.json", 0, &je);
    if (!oracle) {
        fprintf(stderr, "t5_ids.json: %s\n", je.text);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("prep_pairs");
    TCase *tc = tcase_create("serial");
    tcase_add_test(tc, test_truncation_probe);
    tcase_add_test(tc, test_fixture_pairs);
    tcase_add_test(tc, test_empty_sides);
    tcase_add_test(tc, test_fields);
    tcase_add_test(tc, test_opts);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    json_decref(oracle);
    rt_spm_destroy(&spm);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
