/* Gradient check of LoRA adapters (compute/lora.h, compute/model_lora.h) through the model
   interface: the loss of tiny GPT-2 and T5 models with adapters against central differences along
   random directions, for every adapter tensor and every tensor trained in full with them (biases),
   with the model's dropout and the adapters' dropout on; the initialisation rule (B zero, so the
   adapted model equals the base exactly; A within 1/sqrt(in)); that the base weights get no
   gradient and stay untouched; gradient accumulation; the groups the handle reports. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#include "gpt2.h"
#include "model_gpt2.h"
#include "model_lora.h"
#include "model_t5.h"
#include "t5.h"

enum { B = 2, T = 5, TS = 6, V = 31 };

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float urand(uint64_t *s) {
    return (float)((double)(next_u64(s) >> 40) * (2.0 / 16777216.0) - 1.0);
}

static int32_t g_ids[B * T], g_tgt[B * T], g_src[B * TS];
static uint8_t g_smask[B * TS];
static rt_batch g_b;
static rt_step_key g_key;

static void make_batch(int t5) {
    uint64_t u = 17;
    for (int i = 0; i < B * T; i++) {
        g_ids[i] = (int32_t)(next_u64(&u) % V);
        g_tgt[i] = i == 3 ? -100 : (int32_t)(next_u64(&u) % V);
    }
    for (int i = 0; i < B * TS; i++) {
        g_src[i] = (int32_t)(next_u64(&u) % V);
        g_smask[i] = !(i >= TS + 4);
    }
    g_b = (rt_batch){.B = B, .T = T, .ids = g_ids, .targets = g_tgt};
    if (t5) {
        g_b.src_T = TS;
        g_b.src_ids = g_src;
        g_b.src_mask = g_smask;
    }
    g_key = (rt_step_key){11, 2, 1, 1};
}

static rt_model *gpt2_base(void) {
    rt_gpt2_config c;
    rt_gpt2_config_default(&c);
    c.vocab_size = V;
    c.n_positions = 8;
    c.n_embd = 12;
    c.n_layer = 3;
    c.n_head = 3;
    c.n_inner = 20;
    c.embd_pdrop = c.attn_pdrop = c.resid_pdrop = 0.1f;
    rt_gpt2 *g = NULL;
    ck_assert_int_eq(rt_gpt2_create(&g, &c), RT_OK);
    rt_gpt2_init_weights(g, 5);
    rt_model *m = NULL;
    ck_assert_int_eq(rt_model_gpt2_wrap(g, &m), RT_OK);
    uint64_t s = 3; /* random biases and layer norms: every path carries gradient */
    for (int i = 0; i < m->params->n; i++)
        if (m->params->t[i].ndim == 1)
            for (size_t j = 0; j < m->params->t[i].numel; j++)
                m->params_mem[m->params->t[i].offset + j] += 0.3f * urand(&s);
    return m;
}

static rt_model *t5_base(void) {
    rt_t5_config c;
    rt_t5_config_default(&c);
    c.vocab_size = V;
    c.d_model = 12;
    c.d_kv = 5;
    c.num_heads = 3;
    c.d_ff = 10;
    c.num_layers = 2;
    c.num_decoder_layers = 2;
    c.relative_attention_num_buckets = 8;
    c.relative_attention_max_distance = 10;
    c.dropout_rate = 0.1f;
    c.ff = RT_T5_FF_GATED_GELU;
    c.tie_word_embeddings = c.scale_decoder_outputs = 0;
    rt_t5 *t = NULL;
    ck_assert_int_eq(rt_t5_create(&t, &c), RT_OK);
    rt_t5_init_weights(t, 4321);
    rt_model *m = NULL;
    ck_assert_int_eq(rt_model_t5_wrap(t, &m), RT_OK);
    return m;
}

static double loss(rt_model *m) {
    double ls = 0.0, n = 0.0;
    ck_assert_int_eq(rt_model_forward(m, &g_b, &g_key, &ls, &n), RT_OK);
    return ls;
}

/* B nonzero (the default init makes the adapters' gradient of A zero) */
static void randomise_b(rt_model *m) {
    rt_lora *L = rt_model_lora(m);
    uint64_t s = 77;
    for (int i = 0; i < L->n_sites; i++) {
        const rt_tensor_info *b = &L->tab.t[L->sites[i].ib];
        for (size_t j = 0; j < b->numel; j++) L->params[b->offset + j] = 0.1f * urand(&s);
    }
}

/* Central differences of the loss along a random direction of each tensor of the handle, against
   the analytic gradient; returns the worst relative difference. */
static double check_fd(rt_model *m, const char *what) {
    loss(m);
    rt_model_backward(m, 1.0f, 0, NULL, NULL);
    size_t n = m->params->total;
    float *g = malloc(n * sizeof(float));
    memcpy(g, m->grads_mem, n * sizeof(float));
    double worst = 0.0;
    const char *wname = "";
    uint64_t s = 123;
    for (int i = 0; i < m->params->n; i++) {
        const rt_tensor_info *ti = &m->params->t[i];
        float *p = m->params_mem + ti->offset, *d = malloc(ti->numel * sizeof(float)),
              *p0 = malloc(ti->numel * sizeof(float));
        memcpy(p0, p, ti->numel * sizeof(float));
        double an = 0.0, eps = 1e-2;
        for (size_t j = 0; j < ti->numel; j++) {
            d[j] = urand(&s);
            an += (double)d[j] * g[ti->offset + j];
        }
        /* central differences at eps and eps / 2, combined (Richardson) so the O(eps^2) error
           of the curvature cancels; the float loss (~30-80) carries ~1e-5 of rounding, ~1e-3
           in fd, hence the floor of the relative error */
        double fd[2];
        for (int k = 0; k < 2; k++) {
            float e = (float)(eps / (1 << k));
            for (size_t j = 0; j < ti->numel; j++) p[j] = p0[j] + e * d[j];
            double lp = loss(m);
            for (size_t j = 0; j < ti->numel; j++) p[j] = p0[j] - e * d[j];
            fd[k] = (lp - loss(m)) / (2.0 * e);
        }
        memcpy(p, p0, ti->numel * sizeof(float));
        double fdr = (4.0 * fd[1] - fd[0]) / 3.0, rel = fabs(fdr - an) / (fabs(an) + 1e-2);
        if (getenv("RT_FD_VERBOSE")) printf("  %s an %.6g fd %.6g\n", ti->name, an, fdr);
        if (rel > worst) {
            worst = rel;
            wname = ti->name;
        }
        free(d);
        free(p0);
    }
    printf("%s: LoRA FD over %d tensors, worst rel err %.3g (%s)\n", what, m->params->n, worst,
           wname);
    free(g);
    return worst;
}

/* Base logits equal the adapted model's at init (B = 0); A within the bound. */
static void check_init(rt_model *m, double base_loss) {
    rt_lora *L = rt_model_lora(m);
    for (int i = 0; i < L->n_sites; i++) {
        const rt_tensor_info *a = &L->tab.t[L->sites[i].ia], *b = &L->tab.t[L->sites[i].ib];
        float bound = 1.0f / sqrtf((float)L->sites[i].t.in), amax = 0.0f;
        for (size_t j = 0; j < a->numel; j++) amax = fmaxf(amax, fabsf(L->params[a->offset + j]));
        ck_assert_float_le(amax, bound);
        ck_assert_float_gt(amax, 0.5f * bound);
        for (size_t j = 0; j < b->numel; j++) ck_assert_float_eq(L->params[b->offset + j], 0.0f);
    }
    double l0 = loss(m);
    printf("init: loss with adapters %.9f, base %.9f\n", l0, base_loss);
    ck_assert(l0 == base_loss);
}

START_TEST(test_gpt2_lora) {
    make_batch(0);
    rt_model *base = gpt2_base();
    ck_assert_int_eq(rt_model_alloc_acts(base, B, T), RT_OK);
    double base_loss = loss(base);
    /* a copy of the base weights, to see they stay untouched */
    size_t nb = base->params->total;
    float *w0 = malloc(nb * sizeof(float));
    memcpy(w0, base->params_mem, nb * sizeof(float));
    static const char *targets[] = {"c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"};
    static const int layers[] = {1, 2};
    rt_lora_spec sp = {{3, 5.0, 0.2, 0},       targets, 4, layers, 2,
                       RT_LORA_BIAS_LORA_ONLY, NULL,    0, NULL,   NULL};
    rt_model *m = NULL;
    ck_assert_int_eq(rt_model_lora_create(base, &sp, 9, &m), RT_OK);
    rt_lora *L = rt_model_lora(m);
    ck_assert_int_eq(L->n_sites, 8); /* layers 1 and 2 only */
    ck_assert_int_eq(L->n_saved, 8); /* their four biases each */
    ck_assert_int_eq(m->n_groups, 2);
    ck_assert_int_eq(rt_model_alloc_acts(m, B, T), RT_OK);
    check_init(m, base_loss);
    randomise_b(m);
    ck_assert(check_fd(m, "gpt2 (dropout 0.1, lora dropout 0.2)") < 2e-2);
    /* accumulation adds */
    loss(m);
    rt_model_backward(m, 1.0f, 0, NULL, NULL);
    float g1 = m->grads_mem[m->params->t[0].offset];
    loss(m);
    rt_model_backward(m, 1.0f, 1, NULL, NULL);
    ck_assert_float_eq_tol(m->grads_mem[m->params->t[0].offset], 2 * g1, 1e-5f * fabsf(g1) + 1e-9f);
    rt_model *b = rt_model_lora_base(m);
    ck_assert_ptr_null(b->grads_mem); /* no gradient arena for the base */
    for (int i = 0; i < b->params->n; i++) {
        const rt_tensor_info *ti = &b->params->t[i];
        if (rt_lora_saved_index(L, i) >= 0) continue;
        ck_assert_int_eq(
            memcmp(b->params_mem + ti->offset, w0 + ti->offset, ti->numel * sizeof(float)), 0);
    }
    free(w0);
    rt_model_destroy(&m);
}
END_TEST

START_TEST(test_t5_lora) {
    make_batch(1);
    rt_model *base = t5_base();
    base->src_T = TS;
    ck_assert_int_eq(rt_model_alloc_acts(base, B, T), RT_OK);
    double base_loss = loss(base);
    static const char *targets[] = {"q", "k", "v", "o", "wi_0", "wi_1", "wo"};
    /* trained in full with them: the untied head and both stacks' final norms (redirected) */
    static const char *save[] = {"lm_head", "final_layer_norm"};
    rt_lora_spec sp = {{4, 6.0, 0.2, 1},  targets, 7, NULL, 0,
                       RT_LORA_BIAS_NONE, save,    2, NULL, NULL};
    rt_model *m = NULL;
    ck_assert_int_eq(rt_model_lora_create(base, &sp, 9, &m), RT_OK);
    rt_lora *L = rt_model_lora(m);
    ck_assert_int_eq(L->n_sites, 2 * 7 + 2 * 11); /* encoder 7, decoder 11 per block */
    ck_assert_int_eq(L->n_saved, 3);
    ck_assert_float_eq_tol(L->sites[0].scale, 3.0f, 1e-6f); /* rsLoRA: 6 / sqrt(4) */
    m->src_T = TS;
    ck_assert_int_eq(rt_model_alloc_acts(m, B, T), RT_OK);
    check_init(m, base_loss);
    randomise_b(m);
    ck_assert(check_fd(m, "t5 gated (dropout 0.1, lora dropout 0.2)") < 2e-2);
    rt_model_destroy(&m);
}
END_TEST

START_TEST(test_bad_spec) {
    rt_model *base = gpt2_base();
    static const char *bad[] = {"c_attnx"};
    rt_lora_spec sp = {{3, 5.0, 0.0, 0}, bad, 1, NULL, 0, RT_LORA_BIAS_NONE, NULL, 0, NULL, NULL};
    rt_model *m = NULL;
    ck_assert_int_eq(rt_model_lora_create(base, &sp, 9, &m), RT_ERR_ARG);
    printf("unknown target: %s\n", rt_error_message());
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "c_attnx"));
    base = gpt2_base();
    static const char *ok[] = {"c_attn"};
    rt_lora_spec zero = {{0, 5.0, 0.0, 0}, ok, 1, NULL, 0, RT_LORA_BIAS_NONE, NULL, 0, NULL, NULL};
    ck_assert_int_eq(rt_model_lora_create(base, &zero, 9, &m), RT_ERR_ARG);
    printf("r = 0: %s\n", rt_error_message());
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "lora.r"));
}
END_TEST

int main(void) {
    omp_set_num_threads(2);
    rt_gemm_setup(2);
    Suite *s = suite_create("lora_fd");
    TCase *tc = tcase_create("fd");
    tcase_add_test(tc, test_gpt2_lora);
    tcase_add_test(tc, test_t5_lora);
    tcase_add_test(tc, test_bad_spec);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
