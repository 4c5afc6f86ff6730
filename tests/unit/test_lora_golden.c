/* LoRA adapters (compute/lora.h, compute/model_lora.h, io/peft.h) against fixtures made by the
   real peft + transformers (tests/fixtures/gen_lora_fixtures.py): GPT-2 causal LM (bias
   lora_only, layers_to_transform), T5 gated (rsLoRA, self- and cross-attention and the FFN) and
   a GPT-2 classifier (bias all, the score trained in full as modules_to_save). The base comes
   from the fixture's Hugging Face directory through io/, the adapter from PEFT's own
   adapter_config.json + adapter_model.safetensors. Checks the logits with adapters, the loss,
   every adapter gradient, 10 AdamW steps and the final adapters, the merged weights' logits,
   that the adapter file ringtune writes holds PEFT's names, shapes and values, and the refusals
   of bad adapters. Prints the max differences seen. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "gemm.h"
#include "head_lm.h"
#include "head_seqcls.h"
#include "model_lora.h"
#include "model_registry.h"
#include "optim.h"
#include "peft.h"
#include "golden_util.h"
#include "safetensors.h"

static const char *FIXTURES[] = {"lora_gpt2", "lora_t5", "lora_gpt2_cls"};

typedef struct {
    rt_model *m;
    rt_peft_config pc;
    rt_lora_spec sp;
    rt_st_file *g;
    json_t *meta;
    int cls, t5, B, T, Ts;
    int32_t *ids, *tgt, *src, *labels;
    uint8_t *smask, *mask;
    rt_batch batch;
    char dir[1024], adapter[1100];
} fixture;

static void *golden_copy(fixture *f, const char *name, rt_st_dtype dt) {
    return golden_copy_of(f->g, name, dt);
}

static float *golden_f32(fixture *f, const char *name, size_t n) {
    return golden_f32_of(f->g, name, n);
}

/* The base model of the fixture (its "base_hf_dir" under tests/fixtures). */
static rt_model *load_base(fixture *f) {
    const char *rel = json_string_value(json_object_get(f->meta, "base_hf_dir"));
    ck_assert_ptr_nonnull(rel);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", RT_FIXTURES, rel + strlen("tests/fixtures/"));
    rt_model *b = NULL;
    rt_status st =
        f->cls ? rt_model_load_hf_seqcls(path, NULL, NULL, &b) : rt_model_load_hf(path, &b);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    return b;
}

static void fixture_load(fixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/%s", RT_FIXTURES, name);
    snprintf(f->adapter, sizeof f->adapter, "%s/adapter", f->dir);
    char path[1200];
    snprintf(path, sizeof path, "%s/golden.json", f->dir);
    json_error_t je;
    ck_assert_msg((f->meta = json_load_file(path, 0, &je)), "%s: %s", path, je.text);
    f->cls = strstr(name, "cls") != NULL;
    f->t5 = strstr(name, "t5") != NULL;
    rt_model *base = load_base(f);
    ck_assert_msg(rt_peft_read_config(f->adapter, &f->pc) == RT_OK, "%s", rt_error_message());
    rt_peft_spec(&f->pc, base, &f->sp);
    ck_assert_msg(rt_model_lora_create(base, &f->sp, 1, &f->m) == RT_OK, "%s", rt_error_message());
    ck_assert_msg(rt_peft_load_adapter(f->adapter, f->m) == RT_OK, "%s", rt_error_message());
    snprintf(path, sizeof path, "%s/golden.safetensors", f->dir);
    ck_assert_msg(rt_st_open(&f->g, path) == RT_OK, "%s", rt_error_message());
    if (f->t5) {
        f->src = golden_copy(f, "src_ids", RT_ST_I32);
        f->smask = golden_copy(f, "src_mask", RT_ST_U8);
        f->ids = golden_copy(f, "dec_ids", RT_ST_I32);
        f->tgt = golden_copy(f, "labels", RT_ST_I32);
        f->B = (int)rt_st_find(f->g, "src_ids")->shape[0];
        f->Ts = (int)rt_st_find(f->g, "src_ids")->shape[1];
        f->T = (int)rt_st_find(f->g, "dec_ids")->shape[1];
        f->m->src_T = f->Ts;
        f->batch = (rt_batch){.B = f->B,
                              .T = f->T,
                              .ids = f->ids,
                              .targets = f->tgt,
                              .src_T = f->Ts,
                              .src_ids = f->src,
                              .src_mask = f->smask};
    } else {
        f->ids = golden_copy(f, "ids", RT_ST_I32);
        f->B = (int)rt_st_find(f->g, "ids")->shape[0];
        f->T = (int)rt_st_find(f->g, "ids")->shape[1];
        f->batch = (rt_batch){.B = f->B, .T = f->T, .ids = f->ids};
        if (f->cls) {
            f->labels = golden_copy(f, "labels", RT_ST_I32);
            int32_t *am = golden_copy(f, "attention_mask", RT_ST_I32);
            f->mask = malloc((size_t)f->B * f->T);
            for (int i = 0; i < f->B * f->T; i++) f->mask[i] = (uint8_t)am[i];
            free(am);
            f->batch.labels = f->labels;
            f->batch.mask = f->mask;
        } else {
            f->tgt = golden_copy(f, "targets", RT_ST_I32);
            f->batch.targets = f->tgt;
        }
    }
    ck_assert_msg(rt_model_alloc_acts(f->m, f->B, f->T) == RT_OK, "%s", rt_error_message());
}

static void fixture_free(fixture *f) {
    rt_model_destroy(&f->m);
    rt_peft_config_free(&f->pc);
    rt_st_close(&f->g);
    json_decref(f->meta);
    free(f->ids);
    free(f->tgt);
    free(f->src);
    free(f->smask);
    free(f->labels);
    free(f->mask);
}

static const float *logits_of(const fixture *f, const rt_model *m, size_t *n) {
    *n = f->cls ? (size_t)f->B * rt_head_seqcls_num_labels(m) : (size_t)f->B * f->T * m->vocab_size;
    return f->cls ? rt_head_seqcls_logits(m) : rt_head_lm_logits(m);
}

START_TEST(test_logits_loss_grads) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    rt_model *m = f.m;
    double ls, cnt;
    ck_assert_msg(rt_model_forward(m, &f.batch, NULL, &ls, &cnt) == RT_OK, "%s",
                  rt_error_message());
    size_t nl;
    const float *z = logits_of(&f, m, &nl);
    float *ref = golden_f32(&f, "logits", nl), ref_loss;
    double lm, dl = golden_max_abs_diff(z, ref, nl, &lm);
    free(ref);
    ck_assert(rt_st_read_f32(f.g, "loss", &ref_loss, 1) == RT_OK);
    double loss = ls / cnt;
    printf("%s: logits max |diff| %.3g (max |logit| %.3g), loss %.7f vs %.7f\n", FIXTURES[_i], dl,
           lm, loss, ref_loss);
    ck_assert_msg(dl <= 1e-5 * fmax(1.0, lm), "logits max |diff| %g", dl);
    ck_assert_msg(fabs(loss - ref_loss) <= 1e-5 * fabs(ref_loss), "loss %g vs %g", loss, ref_loss);
    rt_model_backward(m, (float)(1.0 / cnt), 0, NULL, NULL);
    double worst = 0.0;
    char name[256], pn[224];
    const char *worst_name = "";
    for (int i = 0; i < m->params->n; i++) {
        const rt_tensor_info *ti = &m->params->t[i];
        snprintf(name, sizeof name, "grad.%s", rt_peft_tensor_name(m, i, pn, sizeof pn));
        float *g = golden_f32(&f, name, ti->numel);
        double gm, dm = golden_max_abs_diff(m->grads_mem + ti->offset, g, ti->numel, &gm);
        free(g);
        double rel = gm > 0 ? dm / gm : dm;
        if (rel > worst) worst = rel, worst_name = ti->name;
        ck_assert_msg(rel <= 1e-4, "%s: gradient max |diff| %g relative to max |grad| %g", ti->name,
                      dm, gm);
    }
    printf("%s: %d adapter gradients, worst max|diff|/max|grad| %.3g (%s)\n", FIXTURES[_i],
           m->params->n, worst, worst_name);
    fixture_free(&f);
}
END_TEST

START_TEST(test_adamw_10_steps) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    rt_model *m = f.m;
    json_t *tr = json_object_get(f.meta, "train");
    int steps = (int)golden_jnum(tr, "steps");
    rt_schedule sch = {rt_schedule_kind_parse(json_string_value(json_object_get(tr, "schedule"))),
                       (float)golden_jnum(tr, "lr_max"), (float)golden_jnum(tr, "lr_min"),
                       (long)golden_jnum(tr, "warmup"), (long)golden_jnum(tr, "total")};
    json_t *betas = json_object_get(tr, "betas");
    rt_adamw_config ac = {0.0f, (float)json_number_value(json_array_get(betas, 0)),
                          (float)json_number_value(json_array_get(betas, 1)),
                          (float)golden_jnum(tr, "eps"), (float)golden_jnum(tr, "weight_decay")};
    float clip = (float)golden_jnum(tr, "clip");
    float *ref_loss = golden_f32(&f, "train_losses", steps);
    size_t P = m->params->total;
    float *mom = rt_alloc_floats(P), *var = rt_alloc_floats(P);
    double worst_loss = 0.0;
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
        worst_loss = fmax(worst_loss, rl);
        ck_assert_msg(rl <= 1e-5, "step %d: loss %.8f vs %.8f (rel %g)", s, loss, ref_loss[s], rl);
    }
    double worst = 0.0;
    char name[256], pn[224];
    for (int i = 0; i < m->params->n; i++) {
        const rt_tensor_info *ti = &m->params->t[i];
        snprintf(name, sizeof name, "final.%s", rt_peft_tensor_name(m, i, pn, sizeof pn));
        float *p = golden_f32(&f, name, ti->numel);
        worst = fmax(worst, golden_max_abs_diff(m->params_mem + ti->offset, p, ti->numel, NULL));
        free(p);
    }
    printf("%s: %d AdamW steps, loss %.6f -> %.6f, worst rel |diff| loss %.3g, final adapters max "
           "|diff| %.3g\n",
           FIXTURES[_i], steps, ref_loss[0], ref_loss[steps - 1], worst_loss, worst);
    ck_assert_msg(worst <= 1e-4, "final adapters max |diff| %g",
                  worst); /* as the base golden tests */
    free(ref_loss);
    rt_free_floats(&mom);
    rt_free_floats(&var);
    fixture_free(&f);
}
END_TEST

/* The merged base (W + scale B A) gives the adapted logits; its logits equal PEFT's merge's. */
START_TEST(test_merged) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    double ls, cnt;
    ck_assert(rt_model_forward(f.m, &f.batch, NULL, &ls, &cnt) == RT_OK);
    size_t nl;
    const float *z = logits_of(&f, f.m, &nl);
    float *adapted = malloc(nl * sizeof(float));
    memcpy(adapted, z, nl * sizeof(float));
    rt_model *b = NULL;
    ck_assert_msg(rt_model_lora_merge(&f.m, &b) == RT_OK, "%s", rt_error_message());
    ck_assert_ptr_null(f.m);
    f.m = b;
    b->src_T = f.Ts;
    ck_assert(rt_model_alloc_acts(b, f.B, f.T) == RT_OK);
    ck_assert(rt_model_forward(b, &f.batch, NULL, &ls, &cnt) == RT_OK);
    z = logits_of(&f, b, &nl);
    float *ref = golden_f32(&f, "merged_logits", nl);
    double am, da = golden_max_abs_diff(z, adapted, nl, &am),
               dp = golden_max_abs_diff(z, ref, nl, NULL);
    printf("%s: merged logits max |diff| %.3g from the adapted model's, %.3g from peft's merge "
           "(max |logit| %.3g)\n",
           FIXTURES[_i], da, dp, am);
    ck_assert_msg(da <= 1e-5 * fmax(1.0, am), "merged vs adapted %g", da);
    ck_assert_msg(dp <= 1e-5 * fmax(1.0, am), "merged vs peft's merge %g", dp);
    free(ref);
    free(adapted);
    fixture_free(&f);
}
END_TEST

/* The adapter ringtune writes holds exactly PEFT's tensors (names, shapes, values) and a config
   that reads back to the same spec. */
START_TEST(test_save_roundtrip) {
    fixture f;
    fixture_load(&f, FIXTURES[_i]);
    char out[1200];
    snprintf(out, sizeof out, "%s/lora_golden_%s", RT_BUILD_DIR, FIXTURES[_i]);
    mkdir(out, 0755);
    ck_assert_msg(rt_peft_save_adapter(out, f.m, &f.sp, f.pc.task_type, f.pc.base_model) == RT_OK,
                  "%s", rt_error_message());
    char a[1300], b[1300];
    snprintf(a, sizeof a, "%s/adapter_model.safetensors", f.adapter);
    snprintf(b, sizeof b, "%s/adapter_model.safetensors", out);
    rt_st_file *fa = NULL, *fb = NULL;
    ck_assert_msg(rt_st_open(&fa, a) == RT_OK, "%s", rt_error_message());
    ck_assert_msg(rt_st_open(&fb, b) == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(rt_st_count(fa), rt_st_count(fb));
    for (int i = 0; i < rt_st_count(fa); i++) {
        const rt_st_tensor *ta = rt_st_get(fa, i), *tb = rt_st_find(fb, ta->name);
        ck_assert_msg(tb, "%s: missing %s", b, ta->name);
        ck_assert_int_eq(ta->ndim, tb->ndim);
        for (int d = 0; d < ta->ndim; d++) ck_assert_int_eq(ta->shape[d], tb->shape[d]);
        ck_assert_int_eq(ta->nbytes, tb->nbytes);
        ck_assert_msg(!memcmp(ta->data, tb->data, ta->nbytes), "%s differs", ta->name);
    }
    int nt = rt_st_count(fb);
    rt_st_close(&fa);
    rt_st_close(&fb);
    rt_peft_config back;
    ck_assert_msg(rt_peft_read_config(out, &back) == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(back.prm.r, f.pc.prm.r);
    ck_assert(back.prm.alpha == f.pc.prm.alpha && back.prm.rslora == f.pc.prm.rslora);
    ck_assert_int_eq(back.bias, f.pc.bias);
    ck_assert_int_eq(back.n_targets, f.pc.n_targets);
    ck_assert_int_eq(back.n_layers, f.pc.n_layers);
    ck_assert_int_eq(back.n_save, f.pc.n_save);
    printf("%s: the adapter written holds peft's %d tensors bit for bit\n", FIXTURES[_i], nt);
    rt_peft_config_free(&back);
    fixture_free(&f);
}
END_TEST

/* Writes dir/adapter_config.json from the fixture's with one key replaced (value JSON). */
static void edited_config(const char *dir, const char *key, const char *value) {
    char src[1200], dst[1200];
    snprintf(src, sizeof src, "%s/lora_gpt2/adapter/adapter_config.json", RT_FIXTURES);
    json_t *o = json_load_file(src, 0, NULL);
    ck_assert_ptr_nonnull(o);
    json_object_set_new(o, key, json_loads(value, JSON_DECODE_ANY, NULL));
    mkdir(dir, 0755);
    snprintf(dst, sizeof dst, "%s/adapter_config.json", dir);
    ck_assert_int_eq(json_dump_file(o, dst, 0), 0);
    json_decref(o);
}

static void refused_config(const char *key, const char *value, const char *want) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/lora_bad_config", RT_BUILD_DIR);
    edited_config(dir, key, value);
    rt_peft_config c;
    rt_status st = rt_peft_read_config(dir, &c);
    printf("%s = %s: %s\n", key, value, rt_error_message());
    ck_assert_int_ne(st, RT_OK);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "adapter_config.json"));
    ck_assert_ptr_nonnull(strstr(rt_error_message(), want));
}

START_TEST(test_bad_adapters) {
    refused_config("peft_type", "\"IA3\"", "peft_type");
    refused_config("r", "0", "r is 0");
    refused_config("lora_alpha", "\"big\"", "lora_alpha");
    refused_config("use_dora", "true", "use_dora");
    refused_config("rank_pattern", "{\"c_attn\": 4}", "rank_pattern");
    refused_config("bias", "\"some\"", "bias");
    refused_config("target_modules", "\"(unclosed\"", "regular expression");
    /* a target the model lacks */
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/lora_bad_config", RT_BUILD_DIR);
    edited_config(dir, "target_modules", "[\"c_attn\", \"query\"]");
    fixture f;
    fixture_load(&f, "lora_gpt2");
    rt_peft_config c;
    ck_assert(rt_peft_read_config(dir, &c) == RT_OK);
    rt_model *base = load_base(&f), *m = NULL;
    rt_lora_spec sp;
    rt_peft_spec(&c, base, &sp);
    ck_assert_int_eq(rt_model_lora_create(base, &sp, 1, &m), RT_ERR_ARG);
    printf("unknown module: %s\n", rt_error_message());
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "query"));
    rt_peft_config_free(&c);
    /* the right config, tensors of another rank: shapes named */
    edited_config(dir, "r", "4");
    ck_assert(rt_peft_read_config(dir, &c) == RT_OK);
    base = load_base(&f);
    rt_peft_spec(&c, base, &sp);
    ck_assert(rt_model_lora_create(base, &sp, 1, &m) == RT_OK);
    ck_assert_int_eq(rt_peft_load_adapter(f.adapter, m), RT_ERR_FORMAT);
    printf("another rank: %s\n", rt_error_message());
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "shape"));
    rt_model_destroy(&m);
    rt_peft_config_free(&c);
    /* the T5 adapter on the GPT-2 base */
    char t5[1200];
    snprintf(t5, sizeof t5, "%s/lora_t5/adapter", RT_FIXTURES);
    ck_assert(rt_peft_read_config(f.adapter, &c) == RT_OK);
    base = load_base(&f);
    rt_peft_spec(&c, base, &sp);
    ck_assert(rt_model_lora_create(base, &sp, 1, &m) == RT_OK);
    ck_assert_int_eq(rt_peft_load_adapter(t5, m), RT_ERR_FORMAT);
    printf("another base model: %s\n", rt_error_message());
    rt_model_destroy(&m);
    rt_peft_config_free(&c);
    fixture_free(&f);
}
END_TEST

int main(void) {
    rt_gemm_setup(0);
    Suite *s = suite_create("lora_golden");
    TCase *tc = tcase_create("golden");
    tcase_add_loop_test(tc, test_logits_loss_grads, 0, 3);
    tcase_add_loop_test(tc, test_adamw_10_steps, 0, 3);
    tcase_add_loop_test(tc, test_merged, 0, 3);
    tcase_add_loop_test(tc, test_save_roundtrip, 0, 3);
    tcase_add_test(tc, test_bad_adapters);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
