/* GPT2ForSequenceClassification directories: import of transformers' own saves, export ->
   re-import bit-identity and the config fields transformers reads, a fresh head on a plain LM
   checkpoint (deterministic, N(0, initializer_range), with the notice), and the refusals.
   With RT_SEQCLS_EXPORT_DIR set it also leaves exports (perturbed weights, so no bias is 0) with
   the logits ringtune computes in ringtune_check.safetensors, for
   tests/fixtures/check_seqcls_export.py to load in transformers. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gemm.h"
#include "hf_gpt2.h"
#include "hf_gpt2_seqcls.h"
#include "safetensors.h"
#include "seqcls.h"

static char g_tmp[] = "/tmp/rt_seqcls_XXXXXX";

static void fixture_dir(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s/hf", RT_FIXTURES, name);
}

static void params_equal(const rt_hf_gpt2_seqcls *a, const rt_hf_gpt2_seqcls *b) {
    ck_assert_int_eq(a->body->params.total, b->body->params.total);
    ck_assert(memcmp(&a->body->cfg, &b->body->cfg, sizeof a->body->cfg) == 0);
    ck_assert(memcmp(a->body->params_mem, b->body->params_mem,
                     a->body->params.total * sizeof(float)) == 0);
    ck_assert_int_eq(a->cfg.num_labels, b->cfg.num_labels);
    ck_assert(memcmp(a->score, b->score,
                     (size_t)a->cfg.num_labels * a->body->cfg.n_embd * sizeof(float)) == 0);
    ck_assert_int_eq(a->cfg.has_pad, b->cfg.has_pad);
    ck_assert_int_eq(a->cfg.pad_token_id, b->cfg.pad_token_id);
    for (int i = 0; i < a->cfg.num_labels; i++)
        ck_assert_str_eq(a->cfg.id2label[i], b->cfg.id2label[i]);
}

START_TEST(test_import_export_roundtrip) {
    char src[1024], out[1100];
    fixture_dir(src, sizeof src, "seqcls_weighted");
    rt_hf_gpt2_seqcls *m, *m2;
    ck_assert_msg(rt_hf_gpt2_seqcls_load(src, NULL, stderr, &m) == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(m->score_fresh, 0);
    ck_assert_int_eq(m->cfg.num_labels, 3);
    ck_assert_str_eq(m->cfg.id2label[0], "negative");
    ck_assert_str_eq(m->cfg.id2label[2], "positive");
    ck_assert_int_eq(m->cfg.has_pad, 1);
    ck_assert_int_eq(m->cfg.pad_token_id, 47);
    snprintf(out, sizeof out, "%s/roundtrip", g_tmp);
    ck_assert_msg(rt_hf_gpt2_seqcls_save(m, out) == RT_OK, "%s", rt_error_message());
    ck_assert_msg(rt_hf_gpt2_seqcls_load(out, NULL, stderr, &m2) == RT_OK, "%s",
                  rt_error_message());
    params_equal(m, m2);
    /* the fields transformers reads */
    char cpath[1200];
    snprintf(cpath, sizeof cpath, "%s/config.json", out);
    json_error_t je;
    json_t *c = json_load_file(cpath, 0, &je);
    ck_assert(c);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(c, "architectures"), 0)),
                     "GPT2ForSequenceClassification");
    ck_assert_str_eq(json_string_value(json_object_get(c, "problem_type")),
                     "single_label_classification");
    ck_assert_int_eq(json_integer_value(json_object_get(c, "num_labels")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(c, "pad_token_id")), 47);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "id2label"), "1")),
                     "neutral");
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(c, "label2id"), "positive")), 2);
    json_decref(c);
    /* the safetensors names: transformer.* and score.weight, nothing else */
    char wpath[1200];
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", out);
    rt_st_file *f;
    ck_assert(rt_st_open(&f, wpath) == RT_OK);
    const rt_st_tensor *sw = rt_st_find(f, "score.weight");
    ck_assert(sw && sw->ndim == 2 && sw->shape[0] == 3 && sw->shape[1] == m->body->cfg.n_embd);
    for (int i = 0; i < rt_st_count(f); i++) {
        const char *n = rt_st_get(f, i)->name;
        ck_assert_msg(strcmp(n, "score.weight") == 0 || strncmp(n, "transformer.", 12) == 0, "%s",
                      n);
    }
    ck_assert_int_eq(rt_st_count(f), m->body->params.n); /* the body's table ends with the score */
    rt_st_close(&f);
    rt_hf_gpt2_seqcls_destroy(&m);
    rt_hf_gpt2_seqcls_destroy(&m2);
}
END_TEST

static char *capture(FILE *f) {
    fflush(f);
    long n = ftell(f);
    char *s = calloc((size_t)n + 1, 1);
    rewind(f);
    ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    return s;
}

START_TEST(test_fresh_head_from_lm) {
    char src[1024], out[1100];
    fixture_dir(src, sizeof src, "gpt2_tiny");
    rt_gpt2 *lm;
    ck_assert(rt_hf_gpt2_load(src, &lm) == RT_OK);
    rt_hf_seqcls_options o = {4, NULL, 1, lm->cfg.eos_token_id, 3, 0};
    FILE *log = tmpfile();
    rt_hf_gpt2_seqcls *m, *m2, *m3;
    ck_assert_msg(rt_hf_gpt2_seqcls_load(src, &o, log, &m) == RT_OK, "%s", rt_error_message());
    char *text = capture(log);
    fclose(log);
    ck_assert_msg(strstr(text, "Some weights of GPT2ForSequenceClassification were not "
                               "initialized from the model checkpoint at") &&
                      strstr(text, "newly initialized: ['score.weight']"),
                  "%s", text);
    free(text);
    ck_assert_int_eq(m->score_fresh, 1);
    ck_assert_int_eq(m->cfg.num_labels, 4);
    ck_assert_str_eq(m->cfg.id2label[3], "LABEL_3");
    ck_assert_int_eq(m->cfg.pad_token_id, lm->cfg.eos_token_id);
    /* the body is the LM's: its tensors first, the score appended after them */
    ck_assert_int_eq(m->body->n_body, lm->params.n);
    ck_assert_int_eq(m->body->params.t[m->score_index].offset,
                     (lm->params.total + 15) & ~(size_t)15);
    ck_assert(memcmp(m->body->params_mem, lm->params_mem, lm->params.total * sizeof(float)) == 0);
    int n = 4 * lm->cfg.n_embd;
    double s1 = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        s1 += m->score[i];
        s2 += (double)m->score[i] * m->score[i];
    }
    double sd = sqrt(s2 / n - (s1 / n) * (s1 / n));
    printf("fresh score from an LM checkpoint: %d values, std %.4g (initializer_range 0.02)\n", n,
           sd);
    ck_assert(sd > 0.016 && sd < 0.024);
    /* deterministic in the seed */
    ck_assert(rt_hf_gpt2_seqcls_load(src, &o, NULL, &m2) == RT_OK);
    ck_assert(memcmp(m->score, m2->score, (size_t)n * sizeof(float)) == 0);
    rt_hf_gpt2_seqcls_destroy(&m2);
    o.seed = 4;
    ck_assert(rt_hf_gpt2_seqcls_load(src, &o, NULL, &m2) == RT_OK);
    ck_assert(memcmp(m->score, m2->score, (size_t)n * sizeof(float)) != 0);
    rt_hf_gpt2_seqcls_destroy(&m2);
    /* export -> import keeps the head, now not fresh */
    snprintf(out, sizeof out, "%s/from_lm", g_tmp);
    ck_assert(rt_hf_gpt2_seqcls_save(m, out) == RT_OK);
    ck_assert(rt_hf_gpt2_seqcls_load(out, NULL, NULL, &m3) == RT_OK);
    ck_assert_int_eq(m3->score_fresh, 0);
    params_equal(m, m3);
    rt_hf_gpt2_seqcls_destroy(&m3);
    /* without options: transformers' 2 labels and no pad id (gpt2_tiny's config has none) */
    log = tmpfile();
    ck_assert(rt_hf_gpt2_seqcls_load(src, NULL, log, &m3) == RT_OK);
    text = capture(log);
    fclose(log);
    ck_assert_msg(strstr(text, "pad_token_id is null, so only batches of one row"), "%s", text);
    free(text);
    ck_assert_int_eq(m3->cfg.num_labels, 2);
    ck_assert_int_eq(m3->cfg.has_pad, 0);
    ck_assert_int_eq(rt_hf_seqcls_pool_pad(&m3->cfg), -1);
    rt_hf_gpt2_seqcls_destroy(&m3);
    /* an untied LM checkpoint: its lm_head.weight is not part of the class (ignored, noticed) */
    rt_gpt2 *u;
    ck_assert(rt_gpt2_untie(lm, &u) == RT_OK);
    snprintf(out, sizeof out, "%s/untied_lm", g_tmp);
    ck_assert(rt_hf_gpt2_save(u, out) == RT_OK);
    log = tmpfile();
    ck_assert_msg(rt_hf_gpt2_seqcls_load(out, &o, log, &m3) == RT_OK, "%s", rt_error_message());
    text = capture(log);
    fclose(log);
    ck_assert_msg(strstr(text, "lm_head.weight is not used by GPT2ForSequenceClassification"), "%s",
                  text);
    free(text);
    ck_assert_int_eq(m3->body->cfg.tie_word_embeddings, 1);
    ck_assert(memcmp(m3->body->params_mem, lm->params_mem, lm->params.total * sizeof(float)) == 0);
    rt_hf_gpt2_seqcls_destroy(&m3);
    rt_gpt2_destroy(&u);
    rt_hf_gpt2_seqcls_destroy(&m);
    rt_gpt2_destroy(&lm);
}
END_TEST

/* A directory with seqcls_tiny's weights and its config.json edited by `edit` (a JSON object
   merged over it; a null value deletes the field). */
static void edited_dir(char *dir, size_t cap, const char *tag, const char *edit) {
    char src[1024], cmd[4096];
    fixture_dir(src, sizeof src, "seqcls_tiny");
    snprintf(dir, cap, "%s/%s", g_tmp, tag);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/model.safetensors' '%s/'", dir, src, dir);
    ck_assert_int_eq(system(cmd), 0);
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", src);
    json_error_t je;
    json_t *c = json_load_file(path, 0, &je), *e = json_loads(edit, 0, &je);
    ck_assert_msg(c && e, "%s", je.text);
    const char *k;
    json_t *v;
    json_object_foreach(e, k, v) {
        if (json_is_null(v))
            json_object_del(c, k);
        else
            json_object_set(c, k, v);
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    ck_assert_int_eq(json_dump_file(c, path, JSON_INDENT(1)), 0);
    json_decref(c);
    json_decref(e);
}

static void refused(const char *tag, const char *edit, const rt_hf_seqcls_options *o,
                    const char *want1, const char *want2) {
    char dir[1100];
    edited_dir(dir, sizeof dir, tag, edit);
    rt_hf_gpt2_seqcls *m = NULL;
    rt_status st = rt_hf_gpt2_seqcls_load(dir, o, NULL, &m);
    ck_assert_msg(st != RT_OK, "%s: loaded", tag);
    ck_assert_ptr_null(m);
    const char *msg = rt_error_message();
    ck_assert_msg(strstr(msg, want1) && strstr(msg, want2), "%s: %s", tag, msg);
    printf("refused (%s): %.200s\n", tag, msg);
}

START_TEST(test_refusals) {
    refused("multi", "{\"problem_type\": \"multi_label_classification\"}", NULL, "config.json",
            "field 'problem_type' is \"multi_label_classification\"");
    refused("regression", "{\"problem_type\": \"regression\"}", NULL, "config.json",
            "field 'problem_type' is \"regression\"");
    refused("one_label", "{\"id2label\": {\"0\": \"x\"}, \"label2id\": null}", NULL, "config.json",
            "treats one label as regression");
    refused("bad_key", "{\"id2label\": {\"0\": \"a\", \"2\": \"b\"}}", NULL, "config.json",
            "field 'id2label' has key \"2\"");
    refused("bad_pad", "{\"pad_token_id\": \"x\"}", NULL, "config.json", "pad_token_id");
    /* num_labels beats id2label (transformers), then the checkpoint's 2-label head does not fit */
    refused("num_labels_wins", "{\"num_labels\": 3, \"id2label\": {\"0\": \"a\", \"1\": \"b\"}}",
            NULL, "score.weight", "shape [2,12] in the file, expected [3,12]");
    rt_hf_seqcls_options o = {5, NULL, 0, 0, 0, 0};
    refused("override", "{}", &o, "score.weight", "another number of labels");
}
END_TEST

START_TEST(test_config_rules) {
    char dir[1100];
    rt_hf_seqcls_config c;
    /* num_labels alone: LABEL_<i>; neither: 2; a negative pad id pools like an absent token */
    edited_dir(dir, sizeof dir, "nl",
               "{\"id2label\": null, \"label2id\": null, \"num_labels\": 4, "
               "\"pad_token_id\": -1}");
    ck_assert(rt_hf_seqcls_read_config(dir, NULL, NULL, &c) == RT_OK);
    ck_assert_int_eq(c.num_labels, 4);
    ck_assert_str_eq(c.id2label[3], "LABEL_3");
    ck_assert_int_eq(c.has_pad, 1);
    ck_assert_int_eq(rt_hf_seqcls_pool_pad(&c), INT32_MAX);
    rt_hf_seqcls_config_free(&c);
    edited_dir(dir, sizeof dir, "none", "{\"id2label\": null, \"pad_token_id\": null}");
    ck_assert(rt_hf_seqcls_read_config(dir, NULL, NULL, &c) == RT_OK);
    ck_assert_int_eq(c.num_labels, 2);
    ck_assert_int_eq(c.has_pad, 0);
    rt_hf_seqcls_config_free(&c);
    /* names and the pad id from the options */
    const char *names[] = {"no", "yes"};
    rt_hf_seqcls_options o = {2, names, 1, 5, 0, 0};
    ck_assert(rt_hf_seqcls_read_config(dir, &o, NULL, &c) == RT_OK);
    ck_assert_str_eq(c.id2label[1], "yes");
    ck_assert_int_eq(c.pad_token_id, 5);
    rt_hf_seqcls_config_free(&c);
    /* a conflict between num_labels and id2label is warned about */
    edited_dir(dir, sizeof dir, "conflict",
               "{\"num_labels\": 3, \"id2label\": {\"0\": \"a\", \"1\": \"b\"}}");
    FILE *log = tmpfile();
    ck_assert(rt_hf_seqcls_read_config(dir, NULL, log, &c) == RT_OK);
    char *text = capture(log);
    fclose(log);
    ck_assert_msg(strstr(text, "num_labels 3 is incompatible with the id2label map of length 2"),
                  "%s", text);
    free(text);
    ck_assert_int_eq(c.num_labels, 3);
    rt_hf_seqcls_config_free(&c);
}
END_TEST

/* Exports with every parameter perturbed, and ringtune's logits next to them. */
static void export_for_check(const char *root, const char *src, const char *tag,
                             const rt_hf_seqcls_options *o) {
    rt_hf_gpt2_seqcls *m;
    ck_assert_msg(rt_hf_gpt2_seqcls_load(src, o, stdout, &m) == RT_OK, "%s", rt_error_message());
    uint64_t s = 0x1234;
    for (size_t i = 0; i < m->body->params.total; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        m->body->params_mem[i] += 0.05f * ((float)(s >> 40) / 16777216.0f - 0.5f);
    }
    int B = 3, T = 9, K = m->cfg.num_labels, C = m->body->cfg.n_embd, V = m->body->cfg.vocab_size;
    for (int i = 0; i < K * C; i++) m->score[i] *= 25.0f; /* logits of order 1, not 0.02 */
    int pad = rt_hf_seqcls_pool_pad(&m->cfg), len[3] = {9, 5, 2};
    int32_t ids[27], mask[27];
    for (int i = 0; i < B * T; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = i % T < len[i / T] ? (int32_t)((s >> 33) % (uint64_t)(V - 1)) : pad;
        mask[i] = i % T < len[i / T];
    }
    ck_assert(rt_gpt2_alloc_acts(m->body, B, T) == RT_OK);
    ck_assert(rt_gpt2_forward_hidden(m->body, ids, B, T) == RT_OK);
    rt_seqcls *h;
    ck_assert(rt_seqcls_create(&h, K, C, B) == RT_OK);
    ck_assert(rt_seqcls_forward(h, m->score, m->body->lnf, ids, B, T, pad, NULL, NULL, NULL,
                                NULL) == RT_OK);
    char dir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/%s", root, tag);
    ck_assert(rt_hf_gpt2_seqcls_save(m, dir) == RT_OK);
    rt_st_writer *w;
    ck_assert(rt_st_writer_create(&w) == RT_OK);
    ck_assert(rt_st_writer_add(w, "ids", RT_ST_I32, 2, (int64_t[]){B, T}, ids) == RT_OK);
    ck_assert(rt_st_writer_add(w, "attention_mask", RT_ST_I32, 2, (int64_t[]){B, T}, mask) ==
              RT_OK);
    ck_assert(rt_st_writer_add(w, "logits", RT_ST_F32, 2, (int64_t[]){B, K}, h->logits) == RT_OK);
    snprintf(path, sizeof path, "%s/ringtune_check.safetensors", dir);
    ck_assert(rt_st_writer_write(w, path, NULL, NULL, 0) == RT_OK);
    rt_st_writer_destroy(&w);
    printf("exported %s (ringtune logits in ringtune_check.safetensors)\n", dir);
    rt_seqcls_destroy(&h);
    rt_hf_gpt2_seqcls_destroy(&m);
}

START_TEST(test_export_for_transformers) {
    const char *root = getenv("RT_SEQCLS_EXPORT_DIR");
    if (!root || !*root) return;
    char src[1024];
    fixture_dir(src, sizeof src, "seqcls_odd");
    export_for_check(root, src, "seqcls_odd", NULL);
    fixture_dir(src, sizeof src, "seqcls_weighted");
    export_for_check(root, src, "seqcls_weighted", NULL);
    fixture_dir(src, sizeof src, "gpt2_tiny");
    rt_hf_seqcls_options o = {3, NULL, 1, 511, 11, 0};
    export_for_check(root, src, "from_lm_gpt2_tiny", &o);
}
END_TEST

int main(void) {
    rt_gemm_setup(0);
    if (!mkdtemp(g_tmp)) {
        perror(g_tmp);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("hf_gpt2_seqcls");
    TCase *tc = tcase_create("hf");
    tcase_add_test(tc, test_import_export_roundtrip);
    tcase_add_test(tc, test_fresh_head_from_lm);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_config_rules);
    tcase_add_test(tc, test_export_for_transformers);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) nf++;
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
