/* config.json read the way transformers' GPT2Config reads it: token ids outside the vocabulary
   (what transformers saves for small vocabularies) load with a warning and are refused only by
   the user that needs them; attribute_map aliases; n_ctx ignored; eos_token_id lists; the
   tanh-GELU activation names; per_layer_config. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gpt2.h"
#include "hf_gpt2.h"

static char tmpdir[256];

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rt_test_hfcfg_XXXXXX");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void teardown(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Writes {TINY, extra} as tmpdir/config.json and reads it back. */
#define TINY "\"vocab_size\": 37, \"n_positions\": 11, \"n_embd\": 8, \"n_head\": 2, \"n_layer\": 1"
static rt_status read_cfg(const char *json, rt_gpt2_config *c) {
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", tmpdir);
    FILE *f = fopen(p, "w");
    ck_assert(f);
    fputs(json, f);
    fclose(f);
    return rt_hf_gpt2_read_config(tmpdir, c);
}

static void assert_has(const char *text, const char *what) {
    ck_assert_msg(strstr(text, what) != NULL, "'%s' lacks '%s'", text, what);
}

/* What rt_hf_gpt2_warn_config prints for c (into buf). */
static const char *warning_of(const char *dir, const rt_gpt2_config *c, char *buf, size_t cap) {
    memset(buf, 0, cap);
    FILE *f = fmemopen(buf, cap, "w");
    ck_assert(f);
    rt_hf_gpt2_warn_config(dir, c, f);
    fclose(f);
    return buf;
}

/* The checkpoint transformers saved for GPT2Config(vocab_size=1001): ids 50256 kept. Its logits
   against transformers' are checked in test_gpt2_golden. */
START_TEST(test_transformers_default_ids_load_and_warn) {
    const char *dir = RT_FIXTURES "/gpt2_default_ids/hf";
    rt_gpt2 *m = NULL;
    rt_status st = rt_hf_gpt2_load(dir, &m);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(m->cfg.vocab_size, 1001);
    ck_assert_int_eq(m->cfg.eos_token_id, 50256);
    ck_assert_int_eq(m->cfg.bos_token_id, 50256);
    char w[1024];
    warning_of(dir, &m->cfg, w, sizeof w);
    printf("warning: %s", w);
    assert_has(w, "warning: " RT_FIXTURES "/gpt2_default_ids/hf/config.json: ");
    assert_has(w, "bos_token_id and eos_token_id 50256 are outside the vocabulary [0, 1001)");
    ck_assert_msg(strchr(w, '\n') == w + strlen(w) - 1, "one line: %s", w);
    /* The user that needs the id refuses it, naming the file, the field and the fixes. */
    int eos = 123;
    ck_assert_int_eq(rt_hf_gpt2_eos_id(dir, &m->cfg, "generate", "--eos-id N", &eos), RT_ERR_ARG);
    const char *e = rt_error_message();
    assert_has(e, "gpt2_default_ids/hf/config.json: eos_token_id 50256 is outside the vocabulary");
    assert_has(e, "set eos_token_id in");
    assert_has(e, "--eos-id N");
    ck_assert_int_eq(eos, 123);
    /* Saved again, the ids survive (transformers' round trip keeps them too). */
    char out[512];
    snprintf(out, sizeof out, "%s/out", tmpdir);
    ck_assert(rt_hf_gpt2_save(m, out) == RT_OK);
    rt_gpt2 *m2 = NULL;
    ck_assert(rt_hf_gpt2_load(out, &m2) == RT_OK);
    ck_assert_int_eq(m2->cfg.eos_token_id, 50256);
    ck_assert_int_eq(m2->cfg.bos_token_id, 50256);
    rt_gpt2_destroy(&m2);
    rt_gpt2_destroy(&m);
}
END_TEST

START_TEST(test_token_ids) {
    rt_gpt2_config c;
    char w[1024];
    /* in the vocabulary: no warning, usable */
    ck_assert(read_cfg("{" TINY ", \"eos_token_id\": 36, \"bos_token_id\": 0}", &c) == RT_OK);
    ck_assert_str_eq(warning_of(tmpdir, &c, w, sizeof w), "");
    int eos = -5;
    ck_assert(rt_hf_gpt2_eos_id(tmpdir, &c, "x", "--eos-id N", &eos) == RT_OK);
    ck_assert_int_eq(eos, 36);
    /* null: no warning, but there is no eos to use */
    ck_assert(read_cfg("{" TINY ", \"eos_token_id\": null, \"bos_token_id\": null}", &c) == RT_OK);
    ck_assert_int_eq(c.eos_token_id, -1);
    ck_assert_str_eq(warning_of(tmpdir, &c, w, sizeof w), "");
    ck_assert_int_eq(rt_hf_gpt2_eos_id(tmpdir, &c, "x", "--eos-id N", &eos), RT_ERR_ARG);
    assert_has(rt_error_message(), "config.json: eos_token_id is null");
    /* only eos outside (absent bos takes 50256 too: both named) */
    ck_assert(read_cfg("{" TINY ", \"eos_token_id\": 37, \"bos_token_id\": 2}", &c) == RT_OK);
    assert_has(warning_of(tmpdir, &c, w, sizeof w), "config.json: eos_token_id 37 is outside");
    ck_assert(read_cfg("{" TINY ", \"eos_token_id\": -7}", &c) == RT_OK);
    assert_has(warning_of(tmpdir, &c, w, sizeof w), "bos_token_id 50256 and eos_token_id -7 are");
    /* eos_token_id may be a list (transformers: int | list[int] | None): the first is kept */
    ck_assert(read_cfg("{" TINY ", \"eos_token_id\": [5, 6]}", &c) == RT_OK);
    ck_assert_int_eq(c.eos_token_id, 5);
    ck_assert(read_cfg("{" TINY ", \"eos_token_id\": []}", &c) == RT_OK);
    ck_assert_int_eq(c.eos_token_id, -1);
    ck_assert_int_eq(read_cfg("{" TINY ", \"eos_token_id\": [5, \"x\"]}", &c), RT_ERR_FORMAT);
    assert_has(rt_error_message(), "field 'eos_token_id' element 1 is a string");
    ck_assert_int_eq(read_cfg("{" TINY ", \"bos_token_id\": [5]}", &c), RT_ERR_FORMAT);
    assert_has(rt_error_message(), "field 'bos_token_id' is an array, expected an integer or null");
    ck_assert_int_eq(read_cfg("{" TINY ", \"eos_token_id\": 2.0}", &c), RT_ERR_FORMAT);
    assert_has(rt_error_message(), "'eos_token_id' is a real number");
    /* a model with such ids is created and runs (nothing in it reads them) */
    ck_assert(read_cfg("{" TINY "}", &c) == RT_OK);
    ck_assert_int_eq(c.eos_token_id, 50256);
    rt_gpt2 *m = NULL;
    ck_assert_msg(rt_gpt2_create(&m, &c) == RT_OK, "%s", rt_error_message());
    rt_gpt2_destroy(&m);
}
END_TEST

/* GPT2Config.attribute_map: the alias wins when both names are given (as in transformers). */
START_TEST(test_aliases_and_n_ctx) {
    rt_gpt2_config c;
    ck_assert(read_cfg("{\"vocab_size\": 37, \"hidden_size\": 16, \"n_embd\": 8,"
                       " \"max_position_embeddings\": 5, \"n_positions\": 11,"
                       " \"num_attention_heads\": 4, \"n_head\": 2,"
                       " \"num_hidden_layers\": 3, \"n_layer\": 1}",
                       &c) == RT_OK);
    ck_assert_int_eq(c.n_embd, 16);
    ck_assert_int_eq(c.n_inner, 64);
    ck_assert_int_eq(c.n_positions, 5);
    ck_assert_int_eq(c.n_head, 4);
    ck_assert_int_eq(c.n_layer, 3);
    ck_assert_int_eq(read_cfg("{\"hidden_size\": \"16\"}", &c), RT_ERR_FORMAT);
    assert_has(rt_error_message(), "field 'hidden_size'");
    /* n_ctx is not a GPT2Config field: without n_positions the default 1024 applies */
    ck_assert(read_cfg("{\"vocab_size\": 37, \"n_ctx\": 9, \"n_embd\": 8, \"n_head\": 2}", &c) ==
              RT_OK);
    ck_assert_int_eq(c.n_positions, 1024);
}
END_TEST

START_TEST(test_activations) {
    static const char *const same[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_python_tanh",
                                       "gelu_fast", "gelu_accurate"};
    rt_gpt2_config c;
    char j[256];
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        snprintf(j, sizeof j, "{" TINY ", \"activation_function\": \"%s\"}", same[i]);
        ck_assert_msg(read_cfg(j, &c) == RT_OK, "%s: %s", same[i], rt_error_message());
    }
    /* other functions transformers knows (and unknown names) are refused, naming the value */
    static const char *const other[] = {"gelu", "relu", "silu", "quick_gelu", "gelu_10", "bogus"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        snprintf(j, sizeof j, "{" TINY ", \"activation_function\": \"%s\"}", other[i]);
        ck_assert_int_eq(read_cfg(j, &c), RT_ERR_ARG);
        char want[96];
        snprintf(want, sizeof want, "field 'activation_function' is \"%s\"", other[i]);
        assert_has(rt_error_message(), want);
        assert_has(rt_error_message(), "\"gelu_new\", \"gelu_pytorch_tanh\"");
    }
    ck_assert_int_eq(read_cfg("{" TINY ", \"activation_function\": null}", &c), RT_ERR_FORMAT);
}
END_TEST

START_TEST(test_per_layer_config_and_ignored_fields) {
    rt_gpt2_config c;
    ck_assert_int_eq(
        read_cfg("{" TINY ", \"per_layer_config\": {\"0\": {\"layer_norm_epsilon\": 0.5}}}", &c),
        RT_ERR_ARG);
    assert_has(rt_error_message(), "config.json: field 'per_layer_config' is an object");
    ck_assert(read_cfg("{" TINY ", \"per_layer_config\": {}}", &c) == RT_OK);
    ck_assert(read_cfg("{" TINY ", \"per_layer_config\": null}", &c) == RT_OK);
    /* fields that do not change the function transformers computes in float32 */
    ck_assert_msg(read_cfg("{" TINY ", \"reorder_and_upcast_attn\": true, \"torch_dtype\":"
                           " \"bfloat16\", \"dtype\": \"float16\", \"architectures\":"
                           " [\"GPT2Model\"], \"pruned_heads\": {\"0\": [1]}, \"use_cache\": false,"
                           " \"pad_token_id\": 99999, \"chunk_size_feed_forward\": 2,"
                           " \"unknown_field\": [1, {\"a\": null}]}",
                           &c) == RT_OK,
                  "%s", rt_error_message());
}
END_TEST

/* transformers 5 loads a file's separate lm_head.weight even when tie_word_embeddings is true;
   ringtune refuses that with the fix, and the fix (tie_word_embeddings false) loads the head. */
START_TEST(test_untied_head_advice) {
    rt_gpt2_config c;
    ck_assert(read_cfg("{" TINY ", \"eos_token_id\": 1, \"bos_token_id\": 1}", &c) == RT_OK);
    rt_gpt2 *m = NULL, *u = NULL, *m2 = NULL;
    ck_assert(rt_gpt2_create(&m, &c) == RT_OK);
    rt_gpt2_init_weights(m, 7);
    ck_assert(rt_gpt2_untie(m, &u) == RT_OK);
    int head = rt_table_find(&u->params, "lm_head.weight");
    ck_assert_int_ge(head, 0);
    u->params_mem[u->params.t[head].offset] += 1.0f; /* the head now differs from wte */
    char dir[512], cfgp[600];
    snprintf(dir, sizeof dir, "%s/untied", tmpdir);
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    ck_assert(rt_hf_gpt2_save(u, dir) == RT_OK);
    ck_assert_msg(rt_hf_gpt2_load(dir, &m2) == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(m2->cfg.tie_word_embeddings, 0);
    ck_assert(memcmp(m2->params_mem, u->params_mem, u->params.total * sizeof(float)) == 0);
    rt_gpt2_destroy(&m2);
    /* the same files with tie_word_embeddings true */
    FILE *f = fopen(cfgp, "r");
    ck_assert(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *at = strstr(text, "\"tie_word_embeddings\": false");
    ck_assert(at);
    memcpy(at + strlen("\"tie_word_embeddings\": "), "true ", 5);
    f = fopen(cfgp, "w");
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
    assert_has(rt_error_message(), "lm_head.weight' differs from wte.weight");
    assert_has(rt_error_message(), "set \"tie_word_embeddings\": false in config.json");
    rt_gpt2_destroy(&u);
    rt_gpt2_destroy(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("hf_config");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_transformers_default_ids_load_and_warn);
    tcase_add_test(tc, test_token_ids);
    tcase_add_test(tc, test_aliases_and_n_ctx);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_per_layer_config_and_ignored_fields);
    tcase_add_test(tc, test_untied_head_advice);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
