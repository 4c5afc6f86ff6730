/* The sequence-classification head behind the model interface (compute/head_seqcls.c) and its
   registry entries (io/model_registry.c): a GPT2ForSequenceClassification directory loads as an
   rt_model whose forward/backward through rt_model_forward / rt_model_backward match
   transformers (tests/fixtures/seqcls_<name>/golden.*, made by gen_seqcls_fixtures.py), its
   Hugging Face export reloads identically, and its manifest description round-trips through
   protobuf into the same tensor table and head. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "checkpoint.pb-c.h"
#include "head_seqcls.h"
#include "hf_gpt2.h"
#include "model_registry.h"
#include "safetensors.h"

/* seqcls_weighted: torch's CrossEntropyLoss(weight=class_weight), set on the head */
static const char *FIXTURES[] = {"seqcls_tiny", "seqcls_odd", "seqcls_weighted"};

static rt_model *load(const char *name, rt_st_file **g) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/hf", RT_FIXTURES, name);
    rt_model *m = NULL;
    rt_status st = rt_model_load_hf_seqcls(path, NULL, stderr, &m);
    ck_assert_msg(st == RT_OK, "load %s: %s", path, rt_error_message());
    if (g) {
        snprintf(path, sizeof path, "%s/%s/golden.safetensors", RT_FIXTURES, name);
        ck_assert_msg(rt_st_open(g, path) == RT_OK, "%s", rt_error_message());
    }
    return m;
}

static void *read_t(rt_st_file *g, const char *name, size_t n, int f32) {
    void *v = malloc(n * 4);
    const rt_st_tensor *t = rt_st_find(g, name);
    ck_assert_msg(t && t->numel == n, "golden tensor %s", name);
    if (f32)
        ck_assert(rt_st_read_f32(g, name, v, n) == RT_OK);
    else
        memcpy(v, t->data, n * 4);
    return v;
}

static double max_rel(const float *a, const float *ref, size_t n) {
    double dm = 0.0, rm = 0.0;
    for (size_t j = 0; j < n; j++) {
        dm = fmax(dm, fabs((double)a[j] - ref[j]));
        rm = fmax(rm, fabs((double)ref[j]));
    }
    return rm > 0 ? dm / rm : dm;
}

START_TEST(test_interface_matches_transformers) {
    rt_st_file *g = NULL;
    rt_model *m = load(FIXTURES[_i], &g);
    ck_assert_str_eq(m->head->kind, "seqcls");
    ck_assert_int_eq(m->head->uses_output_embedding, 0);
    ck_assert_str_eq(m->params->t[m->params->n - 1].name, "score.weight");
    const rt_st_tensor *ti = rt_st_find(g, "ids");
    int B = (int)ti->shape[0], T = (int)ti->shape[1], K = rt_head_seqcls_num_labels(m);
    int32_t *ids = read_t(g, "ids", (size_t)B * T, 0), *labels = read_t(g, "labels", B, 0);
    ck_assert(rt_model_alloc_acts(m, B, T) == RT_OK);
    float *cw = NULL;
    if (rt_st_find(g, "class_weight")) {
        cw = read_t(g, "class_weight", (size_t)K, 1);
        ck_assert_msg(rt_head_seqcls_set_class_weights(m, cw) == RT_OK, "%s", rt_error_message());
    }
    rt_batch b = {.B = B, .T = T, .ids = ids, .labels = labels};
    double ls = 0.0;
    double n = 0.0;
    ck_assert_msg(rt_model_forward(m, &b, NULL, &ls, &n) == RT_OK, "%s", rt_error_message());
    ck_assert_msg(n == rt_model_count(m, &b), "normaliser %.17g, count %.17g", n,
                  rt_model_count(m, &b)); /* rows counted, or their class-weight sum */
    float *ref = read_t(g, "logits", (size_t)B * K, 1), ref_loss;
    double dl = max_rel(rt_head_seqcls_logits(m), ref, (size_t)B * K);
    ck_assert(rt_st_read_f32(g, "loss", &ref_loss, 1) == RT_OK);
    double loss = ls / (double)n;
    printf("%s: logits max|diff|/max %.3g, loss %.7f vs %.7f\n", FIXTURES[_i], dl, loss,
           (double)ref_loss);
    ck_assert_msg(dl <= 1e-5, "logits relative diff %g", dl);
    ck_assert_msg(fabs(loss - ref_loss) <= 1e-5 * fabs(ref_loss), "loss %g vs %g", loss, ref_loss);
    rt_model_backward(m, (float)(1.0 / (double)n), 0, NULL, NULL);
    double worst = 0.0;
    for (int i = 0; i < m->params->n; i++) {
        const rt_tensor_info *t = &m->params->t[i];
        char name[160];
        snprintf(name, sizeof name, "grad.%s", t->name);
        float *gr = read_t(g, name, t->numel, 1);
        double r = max_rel(m->grads_mem + t->offset, gr, t->numel);
        ck_assert_msg(r <= 1e-3, "%s: gradient relative diff %g", t->name, r);
        worst = fmax(worst, r);
        free(gr);
    }
    printf("%s: %d gradients through the interface, worst max|diff|/max|grad| %.3g\n", FIXTURES[_i],
           m->params->n, worst);
    ck_assert(rt_model_flops_done(m, B, T) > 0);
    free(ids);
    free(labels);
    free(ref);
    free(cw);
    rt_st_close(&g);
    rt_model_destroy(&m);
}
END_TEST

START_TEST(test_hf_round_trip) {
    rt_model *m = load("seqcls_odd", NULL), *m2 = NULL;
    char out[512];
    snprintf(out, sizeof out, "%s/test_model_seqcls_out", RT_BUILD_DIR);
    ck_assert_msg(rt_model_save_hf(m, out) == RT_OK, "%s", rt_error_message());
    ck_assert_msg(rt_model_load_hf_seqcls(out, NULL, stderr, &m2) == RT_OK, "%s",
                  rt_error_message());
    ck_assert_int_eq(m->params->total, m2->params->total);
    ck_assert(memcmp(m->params_mem, m2->params_mem, m->params->total * sizeof(float)) == 0);
    ck_assert_int_eq(rt_head_seqcls_num_labels(m), rt_head_seqcls_num_labels(m2));
    ck_assert_int_eq(rt_head_seqcls_pad(m), rt_head_seqcls_pad(m2));
    for (int k = 0; k < rt_head_seqcls_num_labels(m); k++)
        ck_assert_str_eq(rt_head_seqcls_label(m, k), rt_head_seqcls_label(m2, k));
    rt_model_destroy(&m);
    rt_model_destroy(&m2);
}
END_TEST

/* A plain GPT-2 LM directory gets a fresh score (as from_pretrained), labels from the options. */
START_TEST(test_fresh_head_on_lm) {
    char path[1024];
    snprintf(path, sizeof path, "%s/gpt2_tiny/hf", RT_FIXTURES);
    const char *names[] = {"neg", "neu", "pos"};
    rt_hf_seqcls_options o = {3, names, 1, 7, 42, 0};
    rt_model *m = NULL;
    ck_assert_msg(rt_model_load_hf_seqcls(path, &o, stderr, &m) == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(rt_head_seqcls_num_labels(m), 3);
    ck_assert_str_eq(rt_head_seqcls_label(m, 2), "pos");
    ck_assert_int_eq(rt_head_seqcls_pad(m), 7);
    const rt_tensor_info *s = &m->params->t[m->params->n - 1];
    double sq = 0.0;
    for (size_t j = 0; j < s->numel; j++)
        sq += (double)m->params_mem[s->offset + j] * m->params_mem[s->offset + j];
    ck_assert_msg(sq > 0.0, "the fresh score is zero");
    rt_model_destroy(&m);
}
END_TEST

/* The trainer's and evaluator's loader: a corpus's labels on an LM directory without a pad id
   (pads with eos), and a refusal when a classifier's names are not the corpus's. */
START_TEST(test_load_classifier) {
    char path[1024];
    snprintf(path, sizeof path, "%s/gpt2_tiny/hf", RT_FIXTURES);
    const char *names[] = {"a", "b"};
    rt_model *m = NULL;
    ck_assert_msg(rt_model_load_hf_classifier(path, 2, names, 1, stderr, &m) == RT_OK, "%s",
                  rt_error_message());
    ck_assert_str_eq(rt_head_seqcls_label(m, 1), "b");
    rt_gpt2_config c;
    ck_assert(rt_hf_gpt2_read_config(path, &c) == RT_OK);
    ck_assert_int_eq(rt_head_seqcls_pad(m), c.eos_token_id);
    rt_model_destroy(&m);
    snprintf(path, sizeof path, "%s/clseval/hf", RT_FIXTURES); /* negative, neutral, positive */
    rt_model *named = load("clseval", NULL);
    int K = rt_head_seqcls_num_labels(named);
    const char *wrong[16];
    for (int k = 0; k < K; k++) wrong[k] = k == 1 ? "not-this" : rt_head_seqcls_label(named, k);
    ck_assert_int_eq(rt_model_load_hf_classifier(path, K, wrong, 1, NULL, &m), RT_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "in the corpus"));
    ck_assert_ptr_null(m);
    rt_error_clear();
    rt_model_destroy(&named);
}
END_TEST

START_TEST(test_manifest_codec) {
    rt_model *m = load("seqcls_odd", NULL);
    Ringtune__Manifest man;
    ringtune__manifest__init(&man);
    rt_manifest_model store;
    rt_model_to_manifest(m, &store, &man);
    ck_assert_str_eq(rt_manifest_head(&man), "seqcls");
    size_t n = ringtune__manifest__get_packed_size(&man);
    uint8_t *buf = malloc(n);
    ringtune__manifest__pack(&man, buf);
    Ringtune__Manifest *back = ringtune__manifest__unpack(NULL, n, buf);
    ck_assert(back);
    const rt_head_codec *h = rt_head_registry_find(rt_manifest_head(back));
    ck_assert(h && h->ops == &rt_head_seqcls_ops);
    ck_assert_msg(h->check_manifest("ck", back) == RT_OK, "%s", rt_error_message());
    rt_tensor_table x;
    rt_table_init(&x);
    ck_assert(h->extend(back, &x));
    ck_assert_int_eq(x.n, 1);
    ck_assert_str_eq(x.t[0].name, "score.weight");
    ck_assert_int_eq(x.t[0].numel, m->params->t[m->params->n - 1].numel);
    rt_table_free(&x);
    Ringtune__SeqClsHead *sh = back->model_desc->seqcls;
    ck_assert_int_eq(sh->num_labels, rt_head_seqcls_num_labels(m));
    ck_assert_int_eq((int)sh->n_label_names, sh->num_labels);
    for (int k = 0; k < sh->num_labels; k++)
        ck_assert_str_eq(sh->label_names[k], rt_head_seqcls_label(m, k));
    ck_assert_int_eq(sh->pad_token_id, rt_head_seqcls_pad(m));
    /* refusals name the field */
    int K = sh->num_labels;
    sh->num_labels = 1;
    ck_assert_int_eq(h->check_manifest("ck", back), RT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "seqcls.num_labels is 1"));
    sh->num_labels = K + 1;
    ck_assert_int_eq(h->check_manifest("ck", back), RT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "seqcls.label_names"));
    sh->num_labels = K;
    sh->pad_token_id = -5;
    ck_assert_int_eq(h->check_manifest("ck", back), RT_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "seqcls.pad_token_id"));
    rt_error_clear();
    ringtune__manifest__free_unpacked(back, NULL);
    free(buf);
    rt_model_destroy(&m);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model_seqcls");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_interface_matches_transformers, 0,
                        (int)(sizeof FIXTURES / sizeof FIXTURES[0]));
    tcase_add_test(tc, test_hf_round_trip);
    tcase_add_test(tc, test_fresh_head_on_lm);
    tcase_add_test(tc, test_load_classifier);
    tcase_add_test(tc, test_manifest_codec);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
