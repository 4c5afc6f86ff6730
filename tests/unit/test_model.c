/* The model interface (compute/model.h) and the model registry (io/model_registry.h): GPT-2 with
   the LM head through the interface computes bit for bit what rt_gpt2_forward/backward compute
   (tied and untied, dropout on, accumulation, a partly frozen model); the parameter groups tile
   the table in backward order and backward reports them in that order; a checkpoint of the first
   format loads; a manifest, or a Hugging Face config, of an architecture or task head this build
   does not know is refused with a message naming it. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "ckpt.h"
#include "fsutil.h"
#include "head_lm.h"
#include "model_gpt2.h"
#include "model_registry.h"

enum { V = 64, BB = 2, TT = 8 };

static rt_gpt2 *tiny(int tied) {
    rt_gpt2_config c;
    rt_gpt2_config_default(&c);
    c.vocab_size = V;
    c.n_positions = 16;
    c.n_embd = 16;
    c.n_inner = 64;
    c.n_layer = 3;
    c.n_head = 2;
    c.eos_token_id = c.bos_token_id = V - 1;
    c.tie_word_embeddings = tied;
    rt_gpt2 *m;
    ck_assert_int_eq(rt_gpt2_create(&m, &c), RT_OK);
    rt_gpt2_init_weights(m, 5);
    return m;
}

/* A second copy of g's parameters in a new GPT-2. */
static rt_gpt2 *copy_of(const rt_gpt2 *g) {
    rt_gpt2 *m;
    ck_assert_int_eq(rt_gpt2_create(&m, &g->cfg), RT_OK);
    memcpy(m->params_mem, g->params_mem, g->params.total * sizeof(float));
    for (int i = 0; i < g->params.n; i++) m->params.t[i].trainable = g->params.t[i].trainable;
    return m;
}

static void batch_data(int32_t *ids, int32_t *tgt, int salt) {
    for (int i = 0; i < BB * TT; i++) {
        ids[i] = (int32_t)((i * 7 + salt * 13) % V);
        tgt[i] = i % 5 == 3 ? -100 : (int32_t)((i * 11 + salt) % V);
    }
}

/* Two accumulated micro-batches with dropout, through both paths; losses, counts and every
   gradient must be identical bits. frozen: the embeddings and block 0 do not train. */
static void compare_paths(int tied, int frozen) {
    rt_gpt2 *g = tiny(tied);
    if (frozen)
        for (int i = 0; i < 14; i++) g->params.t[i].trainable = 0; /* wte, wpe, block 0 */
    rt_gpt2 *h = copy_of(g);
    rt_model *m;
    ck_assert_int_eq(rt_model_gpt2_wrap(h, &m), RT_OK);
    ck_assert_int_eq(rt_gpt2_alloc_acts(g, BB, TT), RT_OK);
    ck_assert_int_eq(rt_model_alloc_acts(m, BB, TT), RT_OK);
    int32_t ids[BB * TT], tgt[BB * TT];
    float scale = 1.0f / 27.0f;
    for (int a = 0; a < 2; a++) {
        batch_data(ids, tgt, a);
        rt_step_key key = {9, 4, (uint64_t)a, 1};
        rt_batch b = {.B = BB, .T = TT, .ids = ids, .targets = tgt};
        double l1 = 0.0, l2 = 0.0;
        double n2 = 0.0;
        ck_assert_int_eq(rt_gpt2_forward_keyed(g, ids, tgt, BB, TT, &key, &l1), RT_OK);
        ck_assert_int_eq(rt_model_forward(m, &b, &key, &l2, &n2), RT_OK);
        ck_assert(n2 == (double)g->n_counted);
        ck_assert(rt_model_count(m, &b) == (double)g->n_counted);
        ck_assert_msg(l1 == l2, "loss %.17g direct, %.17g through the interface", l1, l2);
        rt_gpt2_backward(g, scale, a > 0);
        rt_model_backward(m, scale, a > 0, NULL, NULL);
    }
    size_t diff = 0;
    double maxd = 0.0;
    for (int i = 0; i < g->params.n; i++) {
        if (!g->params.t[i].trainable) continue;
        const rt_tensor_info *ti = &g->params.t[i];
        for (size_t k = 0; k < ti->numel; k++) {
            float x = g->grads_mem[ti->offset + k], y = m->grads_mem[ti->offset + k];
            if (memcmp(&x, &y, sizeof x)) diff++;
            maxd = fmax(maxd, fabs((double)x - y));
        }
    }
    printf("interface vs direct (tied %d, frozen %d): %zu gradients differ, max diff %g\n", tied,
           frozen, diff, maxd);
    ck_assert_int_eq(diff, 0);
    ck_assert(rt_model_flops_done(m, BB, TT) == rt_gpt2_flops_done(g, BB, TT) ||
              fabs(rt_model_flops_done(m, BB, TT) / rt_gpt2_flops_done(g, BB, TT) - 1) < 1e-12);
    rt_gpt2_destroy(&g);
    rt_model_destroy(&m);
}

START_TEST(test_lm_head_bit_identical) {
    compare_paths(1, 0);
    compare_paths(0, 0);
    compare_paths(1, 1);
    compare_paths(0, 1);
}
END_TEST

static int g_seen[16], g_nseen;
static void record(void *arg, int group) {
    (void)arg;
    if (g_nseen < 16) g_seen[g_nseen++] = group;
}

START_TEST(test_groups) {
    rt_model *m;
    ck_assert_int_eq(rt_model_gpt2_wrap(tiny(0), &m), RT_OK);
    const int L = 3;
    ck_assert_int_eq(m->n_groups, L + 2);
    ck_assert_int_eq(m->n_blocks, L);
    ck_assert_int_eq(m->groups[0].kind, RT_GROUP_HEAD);
    ck_assert_int_eq(m->groups[0].reports_done, 0);
    ck_assert_int_eq(m->groups[L + 1].kind, RT_GROUP_EMBED);
    int tensors = 0;
    for (int k = 0; k < m->n_groups; k++) {
        const rt_param_group *g = &m->groups[k];
        if (k >= 1 && k <= L) {
            ck_assert_int_eq(g->kind, RT_GROUP_BLOCK);
            ck_assert_int_eq(g->block, L - k); /* from the top down */
            ck_assert_int_eq(g->count, 12);
        }
        ck_assert(g->hi == (k ? m->groups[k - 1].lo : m->params->total)); /* tiling */
        ck_assert(g->lo == m->params->t[g->first].offset || k == m->n_groups - 1);
        tensors += g->count;
    }
    ck_assert_int_eq(m->groups[L + 1].lo, 0);
    ck_assert_int_eq(tensors, m->params->n);
    /* the untied head's tensor is in the head group */
    ck_assert_int_eq(m->groups[0].count, 3);
    ck_assert_int_eq(rt_model_alloc_acts(m, BB, TT), RT_OK);
    int32_t ids[BB * TT], tgt[BB * TT];
    batch_data(ids, tgt, 0);
    rt_batch b = {.B = BB, .T = TT, .ids = ids, .targets = tgt};
    ck_assert_int_eq(rt_model_forward(m, &b, NULL, NULL, NULL), RT_OK);
    g_nseen = 0;
    rt_model_backward(m, 0.1f, 0, record, NULL);
    ck_assert_int_eq(g_nseen, L + 1);
    for (int k = 0; k < g_nseen; k++) ck_assert_int_eq(g_seen[k], k + 1);
    rt_model_destroy(&m);
}
END_TEST

START_TEST(test_old_checkpoint_loads) {
    rt_model *m;
    const char *dir = RT_FIXTURES "/ckpt_v_old/step-00000004";
    ck_assert_msg(rt_model_load_ckpt(dir, &m) == RT_OK, "%s", rt_error_message());
    ck_assert_str_eq(m->ops->arch, "gpt2");
    ck_assert_str_eq(m->head->kind, "lm");
    ck_assert_int_eq(m->n_blocks, 2);
    ck_assert_int_eq(m->vocab_size, 1001);
    ck_assert_int_eq(m->hidden_size, 8);
    double s = 0.0;
    for (size_t i = 0; i < m->params->total; i++) s += fabs(m->params_mem[i]);
    printf("old-format checkpoint: %zu parameters, sum |w| %.6f\n", rt_model_num_params(m), s);
    ck_assert(isfinite(s) && s > 0);
    rt_model_destroy(&m);
}
END_TEST

START_TEST(test_manifest_desc) {
    rt_model *m;
    rt_gpt2 *g = tiny(0);
    ck_assert_int_eq(rt_model_gpt2_wrap(g, &m), RT_OK);
    Ringtune__Manifest man = RINGTUNE__MANIFEST__INIT;
    rt_manifest_model store;
    rt_model_to_manifest(m, &store, &man);
    ck_assert_str_eq(man.model_desc->architecture, "gpt2");
    ck_assert_str_eq(man.model_desc->head, "lm");
    ck_assert_int_eq(man.model_desc->arch_case, RINGTUNE__MODEL_DESC__ARCH_GPT2);
    ck_assert_int_eq(man.model_desc->task_head_case, RINGTUNE__MODEL_DESC__TASK_HEAD_LM);
    ck_assert_int_eq(man.model_desc->gpt2->n_layer, 3);
    ck_assert_int_eq(man.model->n_layer, 3); /* the first format's fields too */
    ck_assert_str_eq(man.model->architecture, "gpt2");
    rt_gpt2_config c;
    man.model->n_layer = 99; /* model_desc wins */
    rt_ckpt_model_config(&man, &c);
    ck_assert_int_eq(c.n_layer, 3);
    ck_assert_int_eq(c.tie_word_embeddings, 0);
    ck_assert_int_eq(c.vocab_size, V);
    man.model_desc = NULL; /* a first-format manifest: the flat fields */
    rt_ckpt_model_config(&man, &c);
    ck_assert_int_eq(c.n_layer, 99);
    ck_assert_str_eq(rt_manifest_head(&man), "lm");
    rt_model_destroy(&m);
}
END_TEST

/* The fixture's manifest with its model description replaced, written to a new directory;
   rt_model_load_ckpt must refuse it naming `want`. */
static void refused(const char *sub, const char *arch, const char *head, int legacy_only,
                    const char *want) {
    const char *src = RT_FIXTURES "/ckpt_v_old/step-00000004";
    char dir[512];
    snprintf(dir, sizeof dir, "%s/test_model/%s", RT_BUILD_DIR, sub);
    ck_assert_int_eq(rt_fs_mkdir_p(dir), RT_OK);
    uint8_t *buf;
    size_t n;
    Ringtune__Manifest *man;
    ck_assert_int_eq(rt_ckpt_manifest_read_bytes(src, &buf, &n), RT_OK);
    ck_assert_int_eq(rt_ckpt_manifest_decode(src, buf, n, &man), RT_OK);
    free(buf);
    Ringtune__ModelDesc desc = RINGTUNE__MODEL_DESC__INIT;
    char *old_arch = man->model->architecture;
    if (legacy_only) {
        man->model->architecture = (char *)arch;
    } else {
        desc.architecture = (char *)arch;
        desc.head = (char *)head;
        man->model_desc = &desc;
    }
    ck_assert_int_eq(rt_ckpt_manifest_write(dir, man), RT_OK);
    man->model_desc = NULL; /* not the decoder's to free */
    man->model->architecture = old_arch;
    rt_ckpt_manifest_free(&man);
    rt_model *m = NULL;
    rt_status st = rt_model_load_ckpt(dir, &m);
    printf("%s: %s\n", sub, rt_error_message());
    ck_assert_int_eq(st, RT_ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(rt_error_message(), want), "%s", rt_error_message());
}

START_TEST(test_unknown_refused) {
    refused("arch", "bert", "lm", 0, "model architecture \"bert\" is not one this build knows");
    refused("arch_t5", "t5", "lm", 0, "architecture \"t5\" without its model_desc.t5 fields");
    refused("arch_legacy", "llama", NULL, 1, "model architecture \"llama\"");
    refused("head", "gpt2", "token_classification", 0,
            "task head \"token_classification\" is not one this build knows");
    /* a Hugging Face directory of another model_type */
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/test_model/hf_bert", RT_BUILD_DIR);
    ck_assert_int_eq(rt_fs_mkdir_p(dir), RT_OK);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"model_type\": \"bert\", \"hidden_size\": 8}\n", f);
    fclose(f);
    rt_model *m = NULL;
    ck_assert_int_eq(rt_model_load_hf(dir, &m), RT_ERR_ARG);
    printf("hf_bert: %s\n", rt_error_message());
    ck_assert_msg(strstr(rt_error_message(), "model_type \"bert\" is not an architecture"), "%s",
                  rt_error_message());
    ck_assert_ptr_null(rt_model_registry_find("bert"));
    ck_assert_ptr_nonnull(rt_model_registry_find("t5"));
    ck_assert_ptr_nonnull(rt_model_registry_find("gpt2"));
    ck_assert_ptr_eq(rt_head_registry_find("lm")->ops, &rt_head_lm_ops);
}
END_TEST

int main(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, test_lm_head_bit_identical);
    tcase_add_test(tc, test_groups);
    tcase_add_test(tc, test_old_checkpoint_loads);
    tcase_add_test(tc, test_manifest_desc);
    tcase_add_test(tc, test_unknown_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
