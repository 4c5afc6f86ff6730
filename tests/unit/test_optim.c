/* AdamW against a double-precision scalar reimplementation of torch.optim.AdamW (whole buffer and
   ZeRO-1 shards), LR schedules against hand-computed values, grad sum of squares and clipping. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arena.h"
#include "optim.h"

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float urand(uint64_t *s) {
    return (float)((double)(next_u64(s) >> 40) * (2.0 / 16777216.0) - 1.0);
}
static float *falloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

/* ---- schedules ---- */

static void check_lr(rt_sched_kind kind, float max_lr, float min_lr, long warmup, long total,
                     long step, double expect) {
    rt_schedule s = {kind, max_lr, min_lr, warmup, total};
    float lr = rt_schedule_lr(&s, step);
    double err = fabs(lr - expect);
    ck_assert_msg(err <= 1e-6 * fabs(expect) + 1e-12,
                  "schedule kind %d warmup %ld total %ld step %ld: lr %.9g, expected %.9g", kind,
                  warmup, total, step, lr, expect);
}

START_TEST(test_schedule) {
    const float mx = 1e-3f, mn = 1e-4f;
    /* warmup: linear from 0 at step 0 (as HF), max at the end of warmup */
    for (int k = 0; k < 3; k++) {
        check_lr((rt_sched_kind)k, mx, mn, 10, 110, 0, 0.0);
        check_lr((rt_sched_kind)k, mx, mn, 10, 110, 5, 5e-4);
        check_lr((rt_sched_kind)k, mx, mn, 10, 110, 9, 9e-4);
        check_lr((rt_sched_kind)k, mx, mn, 10, 110, 10, 1e-3);
    }
    /* cosine: min + (max - min) * 0.5 * (1 + cos(pi * progress)) */
    check_lr(RT_SCHED_COSINE, mx, mn, 10, 110, 35, 1e-4 + 9e-4 * 0.5 * (1.0 + sqrt(0.5)));
    check_lr(RT_SCHED_COSINE, mx, mn, 10, 110, 60, 5.5e-4); /* midpoint */
    check_lr(RT_SCHED_COSINE, mx, mn, 10, 110, 85, 1e-4 + 9e-4 * 0.5 * (1.0 - sqrt(0.5)));
    check_lr(RT_SCHED_COSINE, mx, mn, 10, 110, 110, 1e-4); /* floor at total */
    check_lr(RT_SCHED_COSINE, mx, mn, 10, 110, 111, 1e-4); /* and after */
    check_lr(RT_SCHED_COSINE, mx, mn, 10, 110, 100000, 1e-4);
    check_lr(RT_SCHED_COSINE, mx, 0.0f, 10, 110, 110, 0.0);
    /* linear: min + (max - min) * (1 - progress) */
    check_lr(RT_SCHED_LINEAR, mx, mn, 10, 110, 35, 7.75e-4);
    check_lr(RT_SCHED_LINEAR, mx, mn, 10, 110, 60, 5.5e-4);
    check_lr(RT_SCHED_LINEAR, mx, mn, 10, 110, 110, 1e-4);
    check_lr(RT_SCHED_LINEAR, mx, mn, 10, 110, 5000, 1e-4);
    check_lr(RT_SCHED_LINEAR, mx, 0.0f, 0, 100, 25, 7.5e-4); /* HF's linear schedule */
    /* constant after warmup */
    check_lr(RT_SCHED_CONSTANT, mx, mn, 10, 110, 60, 1e-3);
    check_lr(RT_SCHED_CONSTANT, mx, mn, 10, 110, 1000000, 1e-3);
    /* no warmup: max at step 0 */
    check_lr(RT_SCHED_COSINE, mx, mn, 0, 100, 0, 1e-3);
    check_lr(RT_SCHED_LINEAR, mx, mn, 0, 100, 0, 1e-3);
    check_lr(RT_SCHED_CONSTANT, mx, mn, 0, 100, 0, 1e-3);
    check_lr(RT_SCHED_COSINE, mx, mn, 0, 100, 50, 5.5e-4);
    /* decay span empty (total <= warmup): the floor right after warmup */
    check_lr(RT_SCHED_COSINE, mx, mn, 10, 10, 10, 1e-4);
    check_lr(RT_SCHED_LINEAR, mx, mn, 10, 5, 12, 1e-4);
    /* monotone non-increasing after warmup */
    rt_schedule s = {RT_SCHED_COSINE, mx, mn, 10, 110};
    for (long t = 10; t < 120; t++) ck_assert(rt_schedule_lr(&s, t + 1) <= rt_schedule_lr(&s, t));
    ck_assert_int_eq(rt_schedule_kind_parse("constant"), RT_SCHED_CONSTANT);
    ck_assert_int_eq(rt_schedule_kind_parse("linear"), RT_SCHED_LINEAR);
    ck_assert_int_eq(rt_schedule_kind_parse("cosine"), RT_SCHED_COSINE);
    ck_assert_int_eq(rt_schedule_kind_parse("Cosine"), -1);
    ck_assert_int_eq(rt_schedule_kind_parse(""), -1);
    ck_assert_int_eq(rt_schedule_kind_parse("cosine_with_restarts"), -1);
    printf("schedules: all hand-computed values within 1e-6 relative\n");
}
END_TEST

/* ---- AdamW ---- */

/* Tensors of mixed kinds; "frozen" is not trainable. Offsets are 16-float aligned, so there are
   gaps between tensors. */
static void make_table(rt_tensor_table *tab) {
    rt_table_init(tab);
    ck_assert_int_ge(rt_table_add(tab, "w1", 2, (int64_t[]){7, 9}, 1), 0);
    ck_assert_int_ge(rt_table_add(tab, "b1", 1, (int64_t[]){20}, 0), 0);
    int f = rt_table_add(tab, "frozen", 2, (int64_t[]){5, 6}, 1);
    ck_assert_int_ge(f, 0);
    tab->t[f].trainable = 0;
    ck_assert_int_ge(rt_table_add(tab, "w2", 2, (int64_t[]){10, 13}, 1), 0);
    ck_assert_int_ge(rt_table_add(tab, "ln", 1, (int64_t[]){33}, 0), 0);
}

/* Tensor index holding flat offset i, or -1 in a gap. */
static int owner(const rt_tensor_table *tab, size_t i) {
    for (int k = 0; k < tab->n; k++)
        if (i >= tab->t[k].offset && i < tab->t[k].offset + tab->t[k].numel) return k;
    return -1;
}

/* Gradients of step t: a mix of magnitudes, including tiny ones (where eps matters) and zeros. */
static void make_grads(float *g, size_t n, int t) {
    uint64_t s = 1000 + (uint64_t)t;
    for (size_t i = 0; i < n; i++) {
        float u = urand(&s);
        g[i] = i % 11 == 3                 ? 1e-7f * u
               : i % 17 == 5 && t % 2 == 1 ? 0.0f
                                           : (i % 5 == 0 ? 10.0f : 0.5f) * u;
    }
}

typedef struct {
    double p, m, v;
} adam_state;

/* torch.optim.AdamW (single tensor, foreach=False) for one element, in double. */
static void adamw_ref(adam_state *st, double g, const rt_adamw_config *c, int decay, long t) {
    double lr = c->lr, b1 = c->beta1, b2 = c->beta2;
    if (decay) st->p *= 1.0 - lr * c->weight_decay;
    st->m += (1.0 - b1) * (g - st->m);
    st->v = st->v * b2 + (1.0 - b2) * g * g;
    double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    double denom = sqrt(st->v) / sqrt(bc2) + c->eps;
    st->p -= lr / bc1 * st->m / denom;
}

START_TEST(test_adamw_reference) {
    rt_tensor_table tab;
    make_table(&tab);
    size_t n = tab.total;
    float *p = falloc(n), *g = falloc(n), *m = falloc(n), *v = falloc(n);
    adam_state *ref = calloc(n, sizeof *ref); /* independent double trajectory */
    const float sentinel = 777.0f;
    uint64_t s = 1;
    for (size_t i = 0; i < n; i++) {
        p[i] = urand(&s);
        ref[i].p = p[i];
        if (owner(&tab, i) < 0 || !tab.t[owner(&tab, i)].trainable) m[i] = v[i] = sentinel;
    }
    float *p0 = falloc(n);
    memcpy(p0, p, n * sizeof(float));
    rt_adamw_config cfg = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f};
    double worst_step = 0.0, worst_traj = 0.0, worst_mv = 0.0;
    for (long t = 1; t <= 6; t++) {
        cfg.lr = 1e-2f * (float)(7 - t) / 6.0f; /* the lr changes between steps */
        make_grads(g, n, (int)t);
        /* one-step reference from the current float state */
        adam_state *one = calloc(n, sizeof *one);
        for (size_t i = 0; i < n; i++) one[i] = (adam_state){p[i], m[i], v[i]};
        rt_adamw_step(&tab, 0, n, p, g, m, v, &cfg, t);
        for (size_t i = 0; i < n; i++) {
            int k = owner(&tab, i);
            if (k < 0 || !tab.t[k].trainable) {
                ck_assert_msg(p[i] == p0[i] && m[i] == sentinel && v[i] == sentinel,
                              "frozen/gap element %zu was touched", i);
                continue;
            }
            int decay = tab.t[k].decay;
            double p_before = one[i].p, m_before = one[i].m, v_before = one[i].v;
            adamw_ref(&one[i], g[i], &cfg, decay, t);
            adamw_ref(&ref[i], g[i], &cfg, decay, t);
            /* one step: the float result within 2 ulp of p plus 1e-5 of the update */
            double upd = fabs(one[i].p - p_before);
            double e = fabs(p[i] - one[i].p);
            double tol = 2.4e-7 * fabs(one[i].p) + 1e-5 * upd + 1e-12;
            ck_assert_msg(e <= tol, "t=%ld %s[%zu]: p %.9g, torch %.9g (update %.3g)", t,
                          tab.t[k].name, i - tab.t[k].offset, p[i], one[i].p, upd);
            worst_step = fmax(worst_step, e / tol);
            /* m, v: float rounding of their terms (cancellation can make m itself small) */
            double em = fabs(m[i] - one[i].m) / (fabs(m_before) + fabs(g[i]) + 1e-30);
            double ev = fabs(v[i] - one[i].v) / (v_before + (double)g[i] * g[i] + 1e-30);
            ck_assert_msg(em < 1e-6 && ev < 1e-6, "t=%ld %s: m/v err %g %g", t, tab.t[k].name, em,
                          ev);
            worst_mv = fmax(worst_mv, fmax(em, ev));
            /* the whole trajectory stays with the double one */
            double et = fabs(p[i] - ref[i].p);
            ck_assert_msg(et <= 1e-6 * fmax(1.0, fabs(ref[i].p)), "t=%ld %s: drift %g", t,
                          tab.t[k].name, et);
            worst_traj = fmax(worst_traj, et);
        }
        free(one);
    }
    /* the optimizer moved every trainable element, decay or not */
    for (size_t i = 0; i < n; i++) {
        int k = owner(&tab, i);
        if (k >= 0 && tab.t[k].trainable) ck_assert(p[i] != p0[i]);
    }
    printf("adamw vs torch formula in double: max |p - ref| per step as a fraction of its "
           "tolerance (2 ulp + 1e-5 x update) %.2f, max m/v err "
           "(relative to their terms) %.2e, max trajectory drift after 6 steps %.2e\n",
           worst_step, worst_mv, worst_traj);
    free(p), free(g), free(m), free(v), free(ref), free(p0);
    rt_table_free(&tab);
}
END_TEST

/* Without decay tensors weight_decay has no effect; with lr * wd, decay tensors shrink by exactly
   (1 - lr wd) when the gradient and moments are zero. */
START_TEST(test_adamw_decay_only_where_flagged) {
    rt_tensor_table tab;
    make_table(&tab);
    size_t n = tab.total;
    float *p = falloc(n), *g = falloc(n), *m = falloc(n), *v = falloc(n);
    for (size_t i = 0; i < n; i++) p[i] = 1.0f + (float)(i % 7);
    rt_adamw_config cfg = {0.5f, 0.9f, 0.999f, 1e-8f, 0.1f};
    rt_adamw_step(&tab, 0, n, p, g, m, v, &cfg, 1);
    for (size_t i = 0; i < n; i++) {
        int k = owner(&tab, i);
        float orig = 1.0f + (float)(i % 7);
        if (k >= 0 && tab.t[k].trainable && tab.t[k].decay)
            ck_assert(fabsf(p[i] - orig * 0.95f) <= 1e-6f * orig);
        else
            ck_assert(p[i] == orig);
    }
    free(p), free(g), free(m), free(v);
    rt_table_free(&tab);
}
END_TEST

/* The clip factor folded into AdamW (rt_adamw_step_scaled) gives rt_scale_grads followed by
   rt_adamw_step bit for bit, leaves the gradients as they were, and factor 1 is the plain step. */
START_TEST(test_adamw_scaled) {
    rt_tensor_table tab;
    make_table(&tab);
    size_t n = tab.total;
    float *p1 = falloc(n), *p2 = falloc(n), *g1 = falloc(n), *g2 = falloc(n);
    float *m1 = falloc(n), *m2 = falloc(n), *v1 = falloc(n), *v2 = falloc(n);
    rt_adamw_config cfg = {3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f};
    const float factors[] = {0.37f, 1.0f, 1e-3f};
    for (int f = 0; f < 3; f++)
        for (int t = 1; t <= 3; t++) {
            for (size_t i = 0; i < n; i++) {
                g1[i] = g2[i] = (float)sin(0.37 * (double)i + t) * (1.0f + (float)(i % 5));
                if (t == 1) p1[i] = p2[i] = (float)cos(0.11 * (double)i);
            }
            rt_scale_grads(&tab, 0, n, g1, factors[f]);
            rt_adamw_step(&tab, 0, n, p1, g1, m1, v1, &cfg, t);
            rt_adamw_step_scaled(&tab, 0, n, p2, g2, factors[f], m2, v2, &cfg, t);
            for (size_t i = 0; i < n; i++) {
                ck_assert_msg(p1[i] == p2[i] && m1[i] == m2[i] && v1[i] == v2[i],
                              "factor %g step %d element %zu: %a vs %a", factors[f], t, i, p1[i],
                              p2[i]);
                ck_assert(g2[i] == (float)sin(0.37 * (double)i + t) * (1.0f + (float)(i % 5)));
            }
        }
    free(p1), free(p2), free(g1), free(g2), free(m1), free(m2), free(v1), free(v2);
    rt_table_free(&tab);
}
END_TEST

/* ZeRO-1 shards: one call per range [lo, hi), m and v indexed from lo, equal the whole-buffer call
   bitwise, with cuts through the middle of tensors, through the frozen tensor and through gaps. */
START_TEST(test_adamw_shards) {
    rt_tensor_table tab;
    make_table(&tab);
    size_t n = tab.total;
    size_t w2 = tab.t[rt_table_find(&tab, "w2")].offset;
    size_t cuts_sets[3][6] = {
        {0, n / 2, n, 0, 0, 0}, {0, w2 + 57, n, 0, 0, 0}, {0, 30, 100, w2 + 57, n - 10, n}};
    int ncuts[3] = {3, 3, 6};
    rt_adamw_config cfg = {3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f};
    for (int cs = 0; cs < 3; cs++) {
        size_t *cuts = cuts_sets[cs];
        float *pw = falloc(n), *mw = falloc(n), *vw = falloc(n), *ps = falloc(n), *g = falloc(n);
        float *ms[5], *vs[5];
        uint64_t s = 3;
        for (size_t i = 0; i < n; i++) pw[i] = ps[i] = urand(&s);
        for (int k = 0; k + 1 < ncuts[cs]; k++) {
            ms[k] = falloc(cuts[k + 1] - cuts[k]);
            vs[k] = falloc(cuts[k + 1] - cuts[k]);
        }
        for (long t = 1; t <= 3; t++) {
            make_grads(g, n, (int)t);
            rt_adamw_step(&tab, 0, n, pw, g, mw, vw, &cfg, t);
            for (int k = 0; k + 1 < ncuts[cs]; k++)
                rt_adamw_step(&tab, cuts[k], cuts[k + 1], ps, g, ms[k], vs[k], &cfg, t);
        }
        ck_assert_msg(memcmp(pw, ps, n * sizeof(float)) == 0,
                      "sharded AdamW params differ from the whole-buffer step (cut set %d)", cs);
        for (int k = 0; k + 1 < ncuts[cs]; k++) {
            size_t len = cuts[k + 1] - cuts[k];
            ck_assert(memcmp(ms[k], mw + cuts[k], len * sizeof(float)) == 0);
            ck_assert(memcmp(vs[k], vw + cuts[k], len * sizeof(float)) == 0);
            free(ms[k]), free(vs[k]);
        }
        free(pw), free(mw), free(vw), free(ps), free(g);
    }
    printf("adamw: shards with cuts inside tensors equal the whole-buffer step bitwise\n");
    rt_table_free(&tab);
}
END_TEST

/* ---- gradient norm and clipping ---- */

START_TEST(test_grad_sumsq) {
    rt_tensor_table tab;
    rt_table_init(&tab);
    /* "big" spans more than 64 blocks of 4096 (the chunked path) */
    ck_assert_int_ge(rt_table_add(&tab, "a", 1, (int64_t[]){1000}, 0), 0);
    ck_assert_int_ge(rt_table_add(&tab, "big", 2, (int64_t[]){600, 501}, 1), 0);
    int f = rt_table_add(&tab, "frozen", 1, (int64_t[]){5000}, 0);
    tab.t[f].trainable = 0;
    ck_assert_int_ge(rt_table_add(&tab, "c", 1, (int64_t[]){77}, 0), 0);
    size_t n = tab.total;
    float *g = falloc(n);
    uint64_t s = 5;
    for (size_t i = 0; i < n; i++) g[i] = urand(&s) * (i % 3 ? 1.0f : 1e-3f);
    size_t ranges[][2] = {{0, n},
                          {0, 1},
                          {500, n - 30},
                          {tab.t[1].offset + 4097, tab.t[3].offset},
                          {tab.t[f].offset, tab.t[f].offset + 100}};
    double worst = 0.0;
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        size_t lo = ranges[r][0], hi = ranges[r][1];
        long double ref = 0.0L;
        for (size_t i = lo; i < hi; i++) {
            int k = -1;
            for (int j = 0; j < tab.n; j++)
                if (i >= tab.t[j].offset && i < tab.t[j].offset + tab.t[j].numel) k = j;
            if (k >= 0 && tab.t[k].trainable) ref += (long double)g[i] * g[i];
        }
        double got[2];
        for (int th = 0; th < 2; th++) {
            omp_set_num_threads(th + 1);
            got[th] = rt_grad_sumsq(&tab, lo, hi, g);
        }
        omp_set_num_threads(2);
        ck_assert_msg(memcmp(&got[0], &got[1], sizeof(double)) == 0,
                      "sumsq [%zu,%zu) differs between 1 and 2 threads: %.17g %.17g", lo, hi,
                      got[0], got[1]);
        double e = ref != 0 ? fabs(got[0] - (double)ref) / (double)ref : fabs(got[0]);
        ck_assert_msg(e < 1e-12, "sumsq [%zu,%zu): %.17g vs %.17Lg", lo, hi, got[0], ref);
        worst = fmax(worst, e);
    }
    /* shards add up to the whole */
    size_t cut = tab.t[1].offset + 123457;
    double whole = rt_grad_sumsq(&tab, 0, n, g),
           parts = rt_grad_sumsq(&tab, 0, cut, g) + rt_grad_sumsq(&tab, cut, n, g);
    ck_assert(fabs(whole - parts) <= 1e-12 * whole);
    printf("grad sumsq: max rel err vs long double %.2e, bitwise equal for 1 and 2 threads\n",
           worst);

    /* rt_scale_grads: trainable elements within [lo, hi) only */
    float *g2 = falloc(n);
    memcpy(g2, g, n * sizeof(float));
    size_t lo = 700, hi = tab.t[3].offset + 10;
    rt_scale_grads(&tab, lo, hi, g2, 0.25f);
    for (size_t i = 0; i < n; i++) {
        int k = -1;
        for (int j = 0; j < tab.n; j++)
            if (i >= tab.t[j].offset && i < tab.t[j].offset + tab.t[j].numel) k = j;
        int in = i >= lo && i < hi && k >= 0 && tab.t[k].trainable;
        ck_assert(g2[i] == (in ? g[i] * 0.25f : g[i]));
    }
    memcpy(g2, g, n * sizeof(float));
    rt_scale_grads(&tab, 0, n, g2, 1.0f);
    ck_assert(memcmp(g2, g, n * sizeof(float)) == 0);
    free(g), free(g2);
    rt_table_free(&tab);
}
END_TEST

START_TEST(test_clip_factor) {
    /* torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1 */
    ck_assert_float_eq(rt_clip_factor(10.0, 1.0f), (float)(1.0 / (10.0 + 1e-6)));
    ck_assert_float_eq(rt_clip_factor(2.5, 1.0f), (float)(1.0 / (2.5 + 1e-6)));
    ck_assert_float_eq(rt_clip_factor(1e6, 0.5f), (float)(0.5 / (1e6 + 1e-6)));
    ck_assert_float_eq(rt_clip_factor(0.5, 1.0f), 1.0f);
    /* norm == max_norm: 1 / (1 + 1e-6) < 1, so torch scales (slightly) too */
    ck_assert_float_eq(rt_clip_factor(1.0, 1.0f), (float)(1.0 / (1.0 + 1e-6)));
    ck_assert_float_eq(rt_clip_factor(0.0, 1.0f), 1.0f);
    ck_assert_float_eq(rt_clip_factor(100.0, 0.0f), 1.0f); /* disabled */
    ck_assert_float_eq(rt_clip_factor(100.0, -1.0f), 1.0f);
    printf("clip factor: torch semantics\n");
}
END_TEST

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (omp_get_max_threads() < 2) omp_set_num_threads(2);
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_schedule);
    tcase_add_test(tc, test_adamw_reference);
    tcase_add_test(tc, test_adamw_decay_only_where_flagged);
    tcase_add_test(tc, test_adamw_shards);
    tcase_add_test(tc, test_adamw_scaled);
    tcase_add_test(tc, test_grad_sumsq);
    tcase_add_test(tc, test_clip_factor);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
