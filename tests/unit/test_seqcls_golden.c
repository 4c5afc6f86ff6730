/* GPT-2 sequence classification (backbone rt_gpt2_forward_hidden / rt_gpt2_backward_hidden +
   the rt_seqcls head) against transformers' GPT2ForSequenceClassification
   (tests/fixtures/gen_seqcls_fixtures.py): pooled positions, logits, loss, every parameter
   gradient, the gradient of the final hidden states, 10 AdamW steps; one fixture with class
   weights. Same bounds as test_gpt2_golden. Prints the max differences seen. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "gpt2.h"
#include "hf_gpt2_seqcls.h"
#include "optim.h"
#include "safetensors.h"
#include "seqcls.h"

static const char *FIXTURES[] = {"seqcls_tiny", "seqcls_odd", "seqcls_weighted"};

typedef struct {
    rt_hf_gpt2_seqcls *mc;
    rt_gpt2 *m;
    rt_seqcls *head;
    rt_st_file *g;
    json_t *meta;
    int B, T, K, C, pad;
    int32_t *ids, *labels;
    float *cw;      /* class weights or NULL */
    float *dscore;  /* (K, C): the score's gradient in the body's grads_mem */
    float *dhidden; /* (B, T, C) */
    const char *name;
} fixture;

static void *copy_tensor(fixture *f, const char *name, rt_st_dtype dt, size_t n) {
    const rt_st_tensor *t = rt_st_find(f->g, name);
    ck_assert_msg(t && t->dtype == dt && t->numel == n, "%s: golden tensor %s", f->name, name);
    void *p = malloc(t->nbytes);
    memcpy(p, t->data, t->nbytes);
    return p;
}

static void fixture_load(fixture *f, const char *name) {
    char path[1024];
    memset(f, 0, sizeof *f);
    f->name = name;
    snprintf(path, sizeof path, "%s/%s/hf", RT_FIXTURES, name);
    rt_status st = rt_hf_gpt2_seqcls_load(path, NULL, stderr, &f->mc);
    ck_assert_msg(st == RT_OK, "load %s: %s", path, rt_error_message());
    ck_assert_int_eq(f->mc->score_fresh, 0);
    f->m = f->mc->body;
    snprintf(path, sizeof path, "%s/%s/golden.safetensors", RT_FIXTURES, name);
    ck_assert_msg(rt_st_open(&f->g, path) == RT_OK, "open %s: %s", path, rt_error_message());
    snprintf(path, sizeof path, "%s/%s/golden.json", RT_FIXTURES, name);
    json_error_t je;
    f->meta = json_load_file(path, 0, &je);
    ck_assert_msg(f->meta, "%s: %s", path, je.text);
    const rt_st_tensor *ids = rt_st_find(f->g, "ids");
    ck_assert(ids && ids->ndim == 2);
    f->B = (int)ids->shape[0];
    f->T = (int)ids->shape[1];
    f->K = f->mc->cfg.num_labels;
    f->C = f->m->cfg.n_embd;
    ck_assert_int_eq(f->K, (int)json_integer_value(
                               json_object_get(json_object_get(f->meta, "model"), "num_labels")));
    ck_assert_int_eq(f->mc->cfg.has_pad, 1);
    f->pad = rt_hf_seqcls_pool_pad(&f->mc->cfg);
    ck_assert_int_eq(f->pad, (int)json_integer_value(json_object_get(f->meta, "pad_token_id")));
    f->ids = copy_tensor(f, "ids", RT_ST_I32, (size_t)f->B * f->T);
    f->labels = copy_tensor(f, "labels", RT_ST_I32, (size_t)f->B);
    if (rt_st_find(f->g, "class_weight")) f->cw = copy_tensor(f, "class_weight", RT_ST_F32, f->K);
    ck_assert(rt_gpt2_alloc_acts(f->m, f->B, f->T) == RT_OK);
    ck_assert(rt_seqcls_create(&f->head, f->K, f->C, f->B) == RT_OK);
    /* the score is the last tensor of the body's table: one arena for both */
    ck_assert_int_eq(f->mc->score_index, f->m->params.n - 1);
    ck_assert_str_eq(f->m->params.t[f->mc->score_index].name, "score.weight");
    f->dscore = f->m->grads_mem + f->m->params.t[f->mc->score_index].offset;
    f->dhidden = rt_alloc_floats((size_t)f->B * f->T * f->C);
}

static void fixture_free(fixture *f) {
    rt_hf_gpt2_seqcls_destroy(&f->mc);
    rt_seqcls_destroy(&f->head);
    rt_st_close(&f->g);
    json_decref(f->meta);
    free(f->ids);
    free(f->labels);
    free(f->cw);
    rt_free_floats(&f->dhidden);
}

static float *golden_f32(fixture *f, const char *name, size_t n) {
    float *v = malloc(n * sizeof(float));
    rt_status st = rt_st_read_f32(f->g, name, v, n);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    return v;
}

/* forward + backward of the mean loss; returns the loss, gradients in m->grads_mem / dscore */
static double step_grads(fixture *f) {
    double ls, ws;
    ck_assert(rt_gpt2_forward_hidden(f->m, f->ids, f->B, f->T) == RT_OK);
    rt_status st = rt_seqcls_forward(f->head, f->mc->score, f->m->lnf, f->ids, f->B, f->T, f->pad,
                                     f->labels, f->cw, &ls, &ws);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    rt_seqcls_backward(f->head, f->mc->score, f->dscore, f->dhidden, (float)(1.0 / ws), 0);
    rt_gpt2_backward_hidden(f->m, f->dhidden, 0);
    return ls / ws;
}

/* max |a - ref| and max |ref| */
static void diff(const float *a, const float *ref, size_t n, double *dm, double *rm) {
    *dm = *rm = 0.0;
    for (size_t j = 0; j < n; j++) {
        *dm = fmax(*dm, fabs((double)a[j] - ref[j]));
        *rm = fmax(*rm, fabs((double)ref[j]));
    }
}

START_TEST(test_logits_loss_grads) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    double loss = step_grads(&f);
    const rt_st_tensor *pt = rt_st_find(f.g, "pooled");
    ck_assert(pt && pt->dtype == RT_ST_I32 && (int)pt->numel == f.B);
    for (int b = 0; b < f.B; b++) {
        int32_t want;
        memcpy(&want, (const char *)pt->data + 4 * b, 4);
        ck_assert_msg(f.head->pooled[b] == want, "row %d pooled at %d, transformers %d", b,
                      f.head->pooled[b], want);
    }
    size_t nl = (size_t)f.B * f.K;
    float *ref = golden_f32(&f, "logits", nl);
    double dm, rm;
    diff(f.head->logits, ref, nl, &dm, &rm);
    free(ref);
    float ref_loss;
    ck_assert(rt_st_read_f32(f.g, "loss", &ref_loss, 1) == RT_OK);
    printf("%s: logits max |diff| %.3g (max |logit| %.3g), loss %.7f vs %.7f (|diff| %.3g)\n",
           f.name, dm, rm, loss, ref_loss, fabs(loss - ref_loss));
    ck_assert_msg(dm <= 1e-4, "logits max |diff| %g > 1e-4", dm);
    ck_assert_msg(fabs(loss - ref_loss) <= 1e-5 * fabs(ref_loss), "loss %g vs %g", loss, ref_loss);
    ck_assert_int_eq(f.head->n_counted,
                     (int)json_integer_value(json_object_get(f.meta, "n_counted")));

    /* d loss / d hidden: zero except the pooled rows, in both */
    size_t nh = (size_t)f.B * f.T * f.C;
    float *gh = golden_f32(&f, "grad_hidden", nh);
    diff(f.dhidden, gh, nh, &dm, &rm);
    free(gh);
    printf("%s: d hidden max|diff|/max|grad| %.3g (max |grad| %.3g)\n", f.name, dm / rm, rm);
    ck_assert_msg(dm <= 1e-3 * rm, "d hidden max |diff| %g (max %g)", dm, rm);

    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < f.m->params.n; i++) { /* the body's tensors, then score.weight */
        const char *tn = f.m->params.t[i].name;
        size_t n = f.m->params.t[i].numel;
        const float *got = f.m->grads_mem + f.m->params.t[i].offset;
        char name[160];
        snprintf(name, sizeof name, "grad.%s", tn);
        float *g = golden_f32(&f, name, n);
        diff(got, g, n, &dm, &rm);
        free(g);
        double rel = rm > 0 ? dm / rm : dm;
        if (rel > worst) {
            worst = rel;
            worst_name = tn;
        }
        ck_assert_msg(rel <= 1e-3, "%s: gradient max |diff| %g relative to max |grad| %g", tn, dm,
                      rm);
    }
    printf("%s: %d gradients, worst max|diff|/max|grad| %.3g (%s)\n", f.name, f.m->params.n + 1,
           worst, worst_name);
    fixture_free(&f);
}
END_TEST

static double jnum(json_t *o, const char *k) {
    return json_number_value(json_object_get(o, k));
}

START_TEST(test_adamw_10_steps) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    rt_gpt2 *m = f.m;
    json_t *tr = json_object_get(f.meta, "train");
    int steps = (int)json_integer_value(json_object_get(tr, "steps"));
    rt_schedule sch = {rt_schedule_kind_parse(json_string_value(json_object_get(tr, "schedule"))),
                       (float)jnum(tr, "lr_max"), (float)jnum(tr, "lr_min"),
                       (long)json_integer_value(json_object_get(tr, "warmup")),
                       (long)json_integer_value(json_object_get(tr, "total"))};
    json_t *betas = json_object_get(tr, "betas");
    rt_adamw_config ac = {0.0f, (float)json_number_value(json_array_get(betas, 0)),
                          (float)json_number_value(json_array_get(betas, 1)),
                          (float)jnum(tr, "eps"), (float)jnum(tr, "weight_decay")};
    float clip = (float)jnum(tr, "clip");
    float *ref_loss = golden_f32(&f, "train_losses", steps);
    float *ref_norm = golden_f32(&f, "train_grad_norms", steps);
    float *ref_lr = golden_f32(&f, "train_lrs", steps);
    size_t P = m->params.total; /* body and score in one table, as the trainer steps them */
    float *mom = rt_alloc_floats(P), *var = rt_alloc_floats(P);
    double worst_loss = 0.0, worst_norm = 0.0;
    for (int s = 0; s < steps; s++) {
        double loss = step_grads(&f);
        double norm = sqrt(rt_grad_sumsq(&m->params, 0, P, m->grads_mem));
        float cf = rt_clip_factor(norm, clip);
        rt_scale_grads(&m->params, 0, P, m->grads_mem, cf);
        ac.lr = rt_schedule_lr(&sch, s);
        rt_adamw_step(&m->params, 0, P, m->params_mem, m->grads_mem, mom, var, &ac, s + 1);
        double rl = fabs(loss - ref_loss[s]) / fabs(ref_loss[s]);
        double rn = fabs(norm - ref_norm[s]) / fabs(ref_norm[s]);
        worst_loss = fmax(worst_loss, rl);
        worst_norm = fmax(worst_norm, rn);
        ck_assert_msg(rl <= 1e-5, "step %d: loss %.8f vs %.8f (rel %g)", s, loss, ref_loss[s], rl);
        ck_assert_msg(rn <= 1e-4, "step %d: grad norm %.8f vs %.8f", s, norm, ref_norm[s]);
        ck_assert_msg(ref_lr[s] == 0.0f ? ac.lr == 0.0f
                                        : fabs(ac.lr - ref_lr[s]) <= 1e-6 * fabs(ref_lr[s]),
                      "step %d: lr %g vs %g", s, ac.lr, ref_lr[s]);
    }
    printf("%s: %d AdamW steps, loss %.6f -> %.6f, worst rel |diff| loss %.3g, grad norm %.3g\n",
           f.name, steps, ref_loss[0], ref_loss[steps - 1], worst_loss, worst_norm);
    ck_assert_msg(ref_loss[steps - 1] < ref_loss[0], "training did not lower the loss");
    if (rt_st_find(f.g, "final.score.weight")) {
        double worst = 0.0, dm, rm;
        for (int i = 0; i < m->params.n; i++) {
            const char *tn = m->params.t[i].name;
            size_t n = m->params.t[i].numel;
            const float *got = m->params_mem + m->params.t[i].offset;
            char name[160];
            snprintf(name, sizeof name, "final.%s", tn);
            float *p = golden_f32(&f, name, n);
            diff(got, p, n, &dm, &rm);
            free(p);
            worst = fmax(worst, dm);
        }
        printf("%s: final parameters max |diff| %.3g\n", f.name, worst);
        ck_assert_msg(worst <= 1e-4, "final parameters max |diff| %g", worst);
    }
    free(ref_loss);
    free(ref_norm);
    free(ref_lr);
    rt_free_floats(&mom);
    rt_free_floats(&var);
    fixture_free(&f);
}
END_TEST

/* transformers' pooled position for rows of every shape (all pads, left padding, ...) */
START_TEST(test_pool_rule) {
    fixture f;
    fixture_load(&f, "seqcls_tiny");
    const rt_st_tensor *ids = rt_st_find(f.g, "pool_ids"), *idx = rt_st_find(f.g, "pool_index");
    ck_assert(ids && idx && ids->ndim == 2 && idx->numel == (size_t)ids->shape[0]);
    int B = (int)ids->shape[0], T = (int)ids->shape[1];
    int32_t *x = copy_tensor(&f, "pool_ids", RT_ST_I32, (size_t)B * T);
    int32_t *want = copy_tensor(&f, "pool_index", RT_ST_I32, (size_t)B), got[16];
    ck_assert_int_le(B, 16);
    ck_assert(rt_seqcls_pool(x, B, T, f.pad, got) == RT_OK);
    for (int b = 0; b < B; b++)
        ck_assert_msg(got[b] == want[b], "probe row %d: %d, transformers %d", b, got[b], want[b]);
    printf("pool rule: %d probe rows (all pads, left padding, ...) as transformers\n", B);
    free(x);
    free(want);
    fixture_free(&f);
}
END_TEST

int main(void) {
    rt_gemm_setup(0);
    Suite *s = suite_create("seqcls_golden");
    TCase *tc = tcase_create("golden");
    int n = (int)(sizeof FIXTURES / sizeof FIXTURES[0]);
    tcase_add_loop_test(tc, test_logits_loss_grads, 0, n);
    tcase_add_loop_test(tc, test_adamw_10_steps, 0, n);
    tcase_add_test(tc, test_pool_rule);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
