/* GPT-2 against fixtures made by the real Hugging Face transformers
   (tests/fixtures/gen_fixtures.py): logits, loss, every parameter gradient, 10 AdamW steps with
   warmup+cosine and clipping, and export -> re-import bit-identity. Prints the max differences
   seen. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gemm.h"
#include "gpt2.h"
#include "hf_gpt2.h"
#include "optim.h"
#include "safetensors.h"

/* gpt2_default_ids: transformers' own save of a 1001-token vocabulary with the default
   bos/eos_token_id 50256, outside the vocabulary: it loads and computes like the others. */
static const char *FIXTURES[] = {"gpt2_tiny", "gpt2_odd", "gpt2_default_ids"};

typedef struct {
    rt_gpt2 *m;
    rt_st_file *g;
    json_t *meta;
    int B, T;
    int32_t *ids, *targets;
} fixture;

static void fixture_load(fixture *f, const char *name) {
    char path[1024];
    memset(f, 0, sizeof *f);
    snprintf(path, sizeof path, "%s/%s/hf", RT_FIXTURES, name);
    rt_status st = rt_hf_gpt2_load(path, &f->m);
    ck_assert_msg(st == RT_OK, "load %s: %s", path, rt_error_message());
    snprintf(path, sizeof path, "%s/%s/golden.safetensors", RT_FIXTURES, name);
    st = rt_st_open(&f->g, path);
    ck_assert_msg(st == RT_OK, "open %s: %s", path, rt_error_message());
    snprintf(path, sizeof path, "%s/%s/golden.json", RT_FIXTURES, name);
    json_error_t je;
    f->meta = json_load_file(path, 0, &je);
    ck_assert_msg(f->meta, "%s: %s", path, je.text);
    const rt_st_tensor *ids = rt_st_find(f->g, "ids"), *tg = rt_st_find(f->g, "targets");
    ck_assert(ids && tg && ids->dtype == RT_ST_I32 && ids->ndim == 2);
    f->B = (int)ids->shape[0];
    f->T = (int)ids->shape[1];
    f->ids = malloc(ids->nbytes);
    f->targets = malloc(tg->nbytes);
    memcpy(f->ids, ids->data, ids->nbytes);
    memcpy(f->targets, tg->data, tg->nbytes);
    ck_assert(rt_gpt2_alloc_acts(f->m, f->B, f->T) == RT_OK);
}

static void fixture_free(fixture *f) {
    rt_gpt2_destroy(&f->m);
    rt_st_close(&f->g);
    json_decref(f->meta);
    free(f->ids);
    free(f->targets);
}

static float *golden_f32(fixture *f, const char *name, size_t n) {
    float *v = malloc(n * sizeof(float));
    rt_status st = rt_st_read_f32(f->g, name, v, n);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    return v;
}

START_TEST(test_logits_loss_grads) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    rt_gpt2 *m = f.m;
    double loss_sum;
    ck_assert(rt_gpt2_forward(m, f.ids, f.targets, f.B, f.T, &loss_sum) == RT_OK);
    size_t nlog = (size_t)f.B * f.T * m->cfg.vocab_size;
    float *ref = golden_f32(&f, "logits", nlog);
    double dmax = 0.0;
    for (size_t i = 0; i < nlog; i++) dmax = fmax(dmax, fabs((double)m->logits[i] - ref[i]));
    free(ref);
    float ref_loss;
    ck_assert(rt_st_read_f32(f.g, "loss", &ref_loss, 1) == RT_OK);
    double loss = loss_sum / m->n_counted;
    printf("%s: logits max |diff| %.3g, loss %.7f vs %.7f (|diff| %.3g)\n", FIXTURES[_i], dmax,
           loss, ref_loss, fabs(loss - ref_loss));
    ck_assert_msg(dmax <= 1e-4, "logits max |diff| %g > 1e-4", dmax);
    ck_assert_msg(fabs(loss - ref_loss) <= 1e-5 * fabs(ref_loss), "loss %g vs %g", loss, ref_loss);
    ck_assert_int_eq(m->n_counted,
                     (int)json_integer_value(json_object_get(f.meta, "n_counted_targets")));

    rt_gpt2_backward(m, 1.0f / m->n_counted, 0);
    double worst = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *ti = &m->params.t[i];
        char name[160];
        snprintf(name, sizeof name, "grad.%s", ti->name);
        float *g = golden_f32(&f, name, ti->numel);
        double dm = 0.0, rm = 0.0;
        for (size_t j = 0; j < ti->numel; j++) {
            dm = fmax(dm, fabs((double)m->grads_mem[ti->offset + j] - g[j]));
            rm = fmax(rm, fabs((double)g[j]));
        }
        free(g);
        double rel = rm > 0 ? dm / rm : dm;
        if (rel > worst) {
            worst = rel;
            worst_name = ti->name;
        }
        ck_assert_msg(rel <= 1e-3, "%s: gradient max |diff| %g relative to max |grad| %g", ti->name,
                      dm, rm);
    }
    printf("%s: %d gradients, worst max|diff|/max|grad| %.3g (%s)\n", FIXTURES[_i], m->params.n,
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
    ck_assert(tr);
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
    size_t P = m->params.total;
    float *mom = rt_alloc_floats(P), *var = rt_alloc_floats(P);
    double worst_loss = 0.0, worst_norm = 0.0, worst_lr = 0.0;
    for (int s = 0; s < steps; s++) {
        double ls;
        ck_assert(rt_gpt2_forward(m, f.ids, f.targets, f.B, f.T, &ls) == RT_OK);
        double loss = ls / m->n_counted;
        rt_gpt2_backward(m, 1.0f / m->n_counted, 0);
        double norm = sqrt(rt_grad_sumsq(&m->params, 0, P, m->grads_mem));
        rt_scale_grads(&m->params, 0, P, m->grads_mem, rt_clip_factor(norm, clip));
        ac.lr = rt_schedule_lr(&sch, s);
        rt_adamw_step(&m->params, 0, P, m->params_mem, m->grads_mem, mom, var, &ac, s + 1);
        double rl = fabs(loss - ref_loss[s]) / fabs(ref_loss[s]);
        double rn = fabs(norm - ref_norm[s]) / fabs(ref_norm[s]);
        double rlr = fabs(ac.lr - ref_lr[s]) / fmax(1e-12, fabs(ref_lr[s]));
        worst_loss = fmax(worst_loss, rl);
        worst_norm = fmax(worst_norm, rn);
        worst_lr = fmax(worst_lr, ref_lr[s] == 0.0f ? fabs(ac.lr) : rlr);
        ck_assert_msg(rl <= 1e-5, "step %d: loss %.8f vs %.8f (rel %g)", s, loss, ref_loss[s], rl);
        ck_assert_msg(rn <= 1e-4, "step %d: grad norm %.8f vs %.8f", s, norm, ref_norm[s]);
        ck_assert_msg(ref_lr[s] == 0.0f ? ac.lr == 0.0f : rlr <= 1e-6, "step %d: lr %g vs %g", s,
                      ac.lr, ref_lr[s]);
    }
    printf("%s: %d AdamW steps, loss %.6f -> %.6f, worst rel |diff| loss %.3g, grad norm %.3g, lr "
           "%.3g\n",
           FIXTURES[_i], steps, ref_loss[0], ref_loss[steps - 1], worst_loss, worst_norm, worst_lr);
    /* Final parameters, where the fixture carries them. */
    if (rt_st_find(f.g, "final.wte.weight")) {
        double worst = 0.0;
        for (int i = 0; i < m->params.n; i++) {
            const rt_tensor_info *ti = &m->params.t[i];
            char name[160];
            snprintf(name, sizeof name, "final.%s", ti->name);
            float *p = golden_f32(&f, name, ti->numel);
            for (size_t j = 0; j < ti->numel; j++)
                worst = fmax(worst, fabs((double)m->params_mem[ti->offset + j] - p[j]));
            free(p);
        }
        printf("%s: final parameters max |diff| %.3g\n", FIXTURES[_i], worst);
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

START_TEST(test_export_reimport_bitwise) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    char dir[] = "/tmp/rt_golden_XXXXXX";
    ck_assert(mkdtemp(dir));
    char out[1100];
    snprintf(out, sizeof out, "%s/export", dir);
    rt_status st = rt_hf_gpt2_save(f.m, out);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    rt_gpt2 *m2;
    st = rt_hf_gpt2_load(out, &m2);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(m2->params.total, f.m->params.total);
    ck_assert(memcmp(&m2->cfg, &f.m->cfg, sizeof m2->cfg) == 0);
    ck_assert(memcmp(m2->params_mem, f.m->params_mem, f.m->params.total * sizeof(float)) == 0);
    rt_gpt2_destroy(&m2);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    fixture_free(&f);
}
END_TEST

int main(void) {
    rt_gemm_setup(0);
    Suite *s = suite_create("gpt2_golden");
    TCase *tc = tcase_create("golden");
    int n = (int)(sizeof FIXTURES / sizeof FIXTURES[0]);
    tcase_add_loop_test(tc, test_logits_loss_grads, 0, n);
    tcase_add_loop_test(tc, test_adamw_10_steps, 0, n);
    tcase_add_loop_test(tc, test_export_reimport_bitwise, 0, n);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
