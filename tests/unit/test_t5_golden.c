/* T5 (compute/t5.h through the model interface and the LM head) against fixtures made by the
   real Hugging Face transformers (tests/fixtures/gen_t5_fixtures.py): hidden states, logits,
   loss, every parameter gradient, 10 AdamW steps with warmup + cosine and clipping, final
   parameters, and the relative position buckets. The weights are read straight from the
   fixture's hf/model.safetensors by the table's names, independently of io/'s importer. Prints
   the max differences seen. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "head_lm.h"
#include "model_t5.h"
#include "optim.h"
#include "golden_util.h"
#include "safetensors.h"

static const char *FIXTURES[] = {"t5_tied", "t5_gated_odd"};

typedef struct {
    rt_model *m;
    rt_st_file *g;
    json_t *meta;
    int B, Ts, Tt;
    int32_t *src, *dec, *labels;
    uint8_t *mask;
    rt_batch batch;
} fixture;

static void *golden_copy(fixture *f, const char *name, rt_st_dtype dt, int ndim) {
    const rt_st_tensor *t = rt_st_find(f->g, name);
    ck_assert_msg(t && t->dtype == dt && t->ndim == ndim, "golden %s", name);
    void *p = malloc(t->nbytes);
    memcpy(p, t->data, t->nbytes);
    return p;
}

static void fixture_load(fixture *f, const char *name) {
    char path[1024];
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/%s/golden.json", RT_FIXTURES, name);
    json_error_t je;
    ck_assert_msg((f->meta = json_load_file(path, 0, &je)), "%s: %s", path, je.text);
    json_t *md = json_object_get(f->meta, "model");
    rt_t5_config c;
    rt_t5_config_default(&c);
    c.vocab_size = golden_jint(md, "vocab_size");
    c.d_model = golden_jint(md, "d_model");
    c.d_kv = golden_jint(md, "d_kv");
    c.num_heads = golden_jint(md, "num_heads");
    c.d_ff = golden_jint(md, "d_ff");
    c.num_layers = golden_jint(md, "num_layers");
    c.num_decoder_layers = golden_jint(md, "num_decoder_layers");
    c.relative_attention_num_buckets = golden_jint(md, "relative_attention_num_buckets");
    c.relative_attention_max_distance = golden_jint(md, "relative_attention_max_distance");
    c.dropout_rate = (float)golden_jnum(md, "dropout_rate");
    c.layer_norm_epsilon = (float)golden_jnum(md, "layer_norm_epsilon");
    c.ff = strcmp(json_string_value(json_object_get(md, "feed_forward_proj")), "gated-gelu") == 0
               ? RT_T5_FF_GATED_GELU
               : RT_T5_FF_RELU;
    c.tie_word_embeddings = json_is_true(json_object_get(md, "tie_word_embeddings"));
    c.scale_decoder_outputs = json_is_true(json_object_get(md, "scale_decoder_outputs"));
    rt_t5 *t = NULL;
    ck_assert_msg(rt_t5_create(&t, &c) == RT_OK, "%s", rt_error_message());
    snprintf(path, sizeof path, "%s/%s/hf/model.safetensors", RT_FIXTURES, name);
    rt_st_file *w = NULL;
    ck_assert_msg(rt_st_open(&w, path) == RT_OK, "%s", rt_error_message());
    rt_tensor_table *tab = rt_t5_table(t);
    for (int i = 0; i < tab->n; i++)
        ck_assert_msg(rt_st_read_f32(w, tab->t[i].name, rt_t5_params(t) + tab->t[i].offset,
                                     tab->t[i].numel) == RT_OK,
                      "%s", rt_error_message());
    ck_assert_int_eq(rt_st_count(w), tab->n); /* nothing in the file the table lacks */
    rt_st_close(&w);
    ck_assert(rt_model_t5_wrap(t, &f->m) == RT_OK);
    snprintf(path, sizeof path, "%s/%s/golden.safetensors", RT_FIXTURES, name);
    ck_assert_msg(rt_st_open(&f->g, path) == RT_OK, "%s", rt_error_message());
    f->src = golden_copy(f, "src_ids", RT_ST_I32, 2);
    f->mask = golden_copy(f, "src_mask", RT_ST_U8, 2);
    f->dec = golden_copy(f, "dec_ids", RT_ST_I32, 2);
    f->labels = golden_copy(f, "labels", RT_ST_I32, 2);
    f->B = (int)rt_st_find(f->g, "src_ids")->shape[0];
    f->Ts = (int)rt_st_find(f->g, "src_ids")->shape[1];
    f->Tt = (int)rt_st_find(f->g, "dec_ids")->shape[1];
    f->m->src_T = f->Ts;
    ck_assert(rt_model_alloc_acts(f->m, f->B, f->Tt) == RT_OK);
    f->batch = (rt_batch){.B = f->B,
                          .T = f->Tt,
                          .ids = f->dec,
                          .targets = f->labels,
                          .src_T = f->Ts,
                          .src_ids = f->src,
                          .src_mask = f->mask};
}

static void fixture_free(fixture *f) {
    rt_model_destroy(&f->m);
    rt_st_close(&f->g);
    json_decref(f->meta);
    free(f->src);
    free(f->mask);
    free(f->dec);
    free(f->labels);
}

static float *golden_f32(fixture *f, const char *name, size_t n) {
    return golden_f32_of(f->g, name, n);
}

START_TEST(test_logits_loss_grads) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    rt_model *m = f.m;
    double ls, cnt;
    ck_assert_msg(rt_model_forward(m, &f.batch, NULL, &ls, &cnt) == RT_OK, "%s",
                  rt_error_message());
    int d = m->hidden_size, V = m->vocab_size;
    size_t nh = (size_t)f.B * f.Tt * d, nl = (size_t)f.B * f.Tt * V;
    float *ref = golden_f32(&f, "hidden", nh);
    double rm, dh = golden_max_abs_diff(m->hidden, ref, nh, &rm);
    free(ref);
    ref = golden_f32(&f, "logits", nl);
    double lm, dl = golden_max_abs_diff(rt_head_lm_logits(m), ref, nl, &lm);
    free(ref);
    float ref_loss;
    ck_assert(rt_st_read_f32(f.g, "loss", &ref_loss, 1) == RT_OK);
    double loss = ls / cnt;
    printf("%s: hidden max |diff| %.3g (max |hidden| %.3g), logits max |diff| %.3g (max |logit| "
           "%.3g), loss %.7f vs %.7f (|diff| %.3g)\n",
           FIXTURES[_i], dh, rm, dl, lm, loss, ref_loss, fabs(loss - ref_loss));
    ck_assert_msg(dh <= 1e-5 * fmax(1.0, rm), "hidden max |diff| %g", dh);
    ck_assert_msg(dl <= 1e-4 * fmax(1.0, lm), "logits max |diff| %g", dl);
    ck_assert_msg(fabs(loss - ref_loss) <= 1e-5 * fabs(ref_loss), "loss %g vs %g", loss, ref_loss);
    ck_assert_int_eq((int)cnt, golden_jint(f.meta, "n_counted_targets"));

    rt_model_backward(m, (float)(1.0 / cnt), 0, NULL, NULL);
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < m->params->n; i++) {
        const rt_tensor_info *ti = &m->params->t[i];
        char name[160];
        snprintf(name, sizeof name, "grad.%s", ti->name);
        float *g = golden_f32(&f, name, ti->numel);
        double gm, dm = golden_max_abs_diff(m->grads_mem + ti->offset, g, ti->numel, &gm);
        free(g);
        double rel = gm > 0 ? dm / gm : dm;
        if (rel > worst) worst = rel, worst_name = ti->name;
        ck_assert_msg(rel <= 1e-3, "%s: gradient max |diff| %g relative to max |grad| %g", ti->name,
                      dm, gm);
    }
    printf("%s: %d gradients, worst max|diff|/max|grad| %.3g (%s)\n", FIXTURES[_i], m->params->n,
           worst, worst_name);
    fixture_free(&f);
}
END_TEST

START_TEST(test_adamw_10_steps) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    rt_model *m = f.m;
    json_t *tr = json_object_get(f.meta, "train");
    int steps = golden_jint(tr, "steps");
    rt_schedule sch = {rt_schedule_kind_parse(json_string_value(json_object_get(tr, "schedule"))),
                       (float)golden_jnum(tr, "lr_max"), (float)golden_jnum(tr, "lr_min"),
                       (long)golden_jint(tr, "warmup"), (long)golden_jint(tr, "total")};
    json_t *betas = json_object_get(tr, "betas");
    rt_adamw_config ac = {0.0f, (float)json_number_value(json_array_get(betas, 0)),
                          (float)json_number_value(json_array_get(betas, 1)),
                          (float)golden_jnum(tr, "eps"), (float)golden_jnum(tr, "weight_decay")};
    float clip = (float)golden_jnum(tr, "clip");
    float *ref_loss = golden_f32(&f, "train_losses", steps);
    float *ref_norm = golden_f32(&f, "train_grad_norms", steps);
    size_t P = m->params->total;
    float *mom = rt_alloc_floats(P), *var = rt_alloc_floats(P);
    double worst_loss = 0.0, worst_norm = 0.0;
    for (int s = 0; s < steps; s++) {
        double ls, cnt;
        ck_assert(rt_model_forward(m, &f.batch, NULL, &ls, &cnt) == RT_OK);
        double loss = ls / cnt;
        rt_model_backward(m, (float)(1.0 / cnt), 0, NULL, NULL);
        double norm = sqrt(rt_grad_sumsq(m->params, 0, P, m->grads_mem));
        rt_scale_grads(m->params, 0, P, m->grads_mem, rt_clip_factor(norm, clip));
        ac.lr = rt_schedule_lr(&sch, s);
        rt_adamw_step(m->params, 0, P, m->params_mem, m->grads_mem, mom, var, &ac, s + 1);
        double rl = fabs(loss - ref_loss[s]) / fabs(ref_loss[s]);
        double rn = fabs(norm - ref_norm[s]) / fabs(ref_norm[s]);
        worst_loss = fmax(worst_loss, rl);
        worst_norm = fmax(worst_norm, rn);
        ck_assert_msg(rl <= 1e-5, "step %d: loss %.8f vs %.8f (rel %g)", s, loss, ref_loss[s], rl);
        ck_assert_msg(rn <= 1e-4, "step %d: grad norm %.8f vs %.8f", s, norm, ref_norm[s]);
    }
    double worst = 0.0;
    for (int i = 0; i < m->params->n; i++) {
        const rt_tensor_info *ti = &m->params->t[i];
        char name[160];
        snprintf(name, sizeof name, "final.%s", ti->name);
        float *p = golden_f32(&f, name, ti->numel);
        worst = fmax(worst, golden_max_abs_diff(m->params_mem + ti->offset, p, ti->numel, NULL));
        free(p);
    }
    printf("%s: %d AdamW steps, loss %.6f -> %.6f, worst rel |diff| loss %.3g, grad norm %.3g, "
           "final parameters max |diff| %.3g\n",
           FIXTURES[_i], steps, ref_loss[0], ref_loss[steps - 1], worst_loss, worst_norm, worst);
    ck_assert_msg(worst <= 1e-4, "final parameters max |diff| %g", worst);
    free(ref_loss);
    free(ref_norm);
    rt_free_floats(&mom);
    rt_free_floats(&var);
    fixture_free(&f);
}
END_TEST

/* rt_t5_bucket against transformers' _relative_position_bucket for rel in [-20, 20]. */
START_TEST(test_buckets) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    json_t *bk = json_object_get(f.meta, "buckets");
    int nb = golden_jint(bk, "num_buckets"), md = golden_jint(bk, "max_distance");
    json_t *rel = json_object_get(bk, "rel"), *enc = json_object_get(bk, "encoder_bidirectional"),
           *dec = json_object_get(bk, "decoder_causal");
    size_t n = json_array_size(rel);
    ck_assert(n > 0 && json_array_size(enc) == n && json_array_size(dec) == n);
    for (size_t i = 0; i < n; i++) {
        int r = (int)json_integer_value(json_array_get(rel, i));
        ck_assert_int_eq(rt_t5_bucket(r, 1, nb, md),
                         (int)json_integer_value(json_array_get(enc, i)));
        ck_assert_int_eq(rt_t5_bucket(r, 0, nb, md),
                         (int)json_integer_value(json_array_get(dec, i)));
    }
    printf("%s: %zu relative positions x 2 directions, buckets equal\n", FIXTURES[_i], n);
    fixture_free(&f);
}
END_TEST

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    rt_gemm_setup(2);
    Suite *s = suite_create("t5_golden");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 300);
    int n = (int)(sizeof FIXTURES / sizeof *FIXTURES);
    tcase_add_loop_test(tc, test_logits_loss_grads, 0, n);
    tcase_add_loop_test(tc, test_adamw_10_steps, 0, n);
    tcase_add_loop_test(tc, test_buckets, 0, n);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
