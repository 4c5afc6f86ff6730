/* AdamW, LR schedules and gradient clipping over flat buffers. */
#include "optim.h"
#include <math.h>
#include <string.h>

/* The trainable part of tensor T within [lo, hi): [*a, *b); returns 0 when empty or frozen. */
static int clip_range(const rt_tensor_info *T, size_t lo, size_t hi, size_t *a, size_t *b) {
    if (!T->trainable) return 0;
    *a = T->offset > lo ? T->offset : lo;
    *b = T->offset + T->numel < hi ? T->offset + T->numel : hi;
    return *a < *b;
}

void rt_adamw_step(const rt_tensor_table *tab, size_t lo, size_t hi, float *params,
                   const float *grads, float *m, float *v, const rt_adamw_config *cfg, long t) {
    rt_adamw_step_scaled(tab, lo, hi, params, grads, 1.0f, m, v, cfg, t);
}

void rt_adamw_step_scaled(const rt_tensor_table *tab, size_t lo, size_t hi, float *params,
                          const float *grads, float gscale, float *m, float *v,
                          const rt_adamw_config *cfg, long t) {
    const float b1 = cfg->beta1, b2 = cfg->beta2, lr = cfg->lr, eps = cfg->eps;
    /* torch.optim.AdamW (foreach=False): p *= 1 - lr*wd; m,v update; p -= lr/bc1 * m /
     * (sqrt(v)/sqrt(bc2) + eps) */
    /* bias corrections in double, as torch computes them from Python floats */
    const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    for (int ti_ = 0; ti_ < tab->n; ti_++) {
        const rt_tensor_info *T_ = &tab->t[ti_];
        size_t a_, b_;
        if (!clip_range(T_, lo, hi, &a_, &b_)) continue;
        const float decay = T_->decay ? 1.0f - lr * cfg->weight_decay : 1.0f;
        float *p = params + a_;
        const float *g = grads + a_;
        float *mm = m + (a_ - lo), *vv = v + (a_ - lo);
        size_t n = b_ - a_;
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) {
            float gi = g[i] * gscale; /* the clip factor: as rt_scale_grads, one rounding */
            float mi = mm[i] + (1.0f - b1) * (gi - mm[i]); /* torch: m.lerp_(g, 1-b1) */
            float vi = vv[i] * b2 + (1.0f - b2) * gi * gi;
            mm[i] = mi;
            vv[i] = vi;
            float denom = sqrtf(vi) / bc2_sqrt + eps;
            p[i] = p[i] * decay - step_size * mi / denom;
        }
    }
}

float rt_schedule_lr(const rt_schedule *s, long step) {
    if (step < s->warmup) return s->max_lr * (float)step / (float)(s->warmup > 0 ? s->warmup : 1);
    if (s->kind == RT_SCHED_CONSTANT) return s->max_lr;
    long span = s->total - s->warmup;
    double prog = span > 0 ? (double)(step - s->warmup) / (double)span : 1.0;
    if (prog > 1.0) prog = 1.0;
    if (prog < 0.0) prog = 0.0;
    double f = s->kind == RT_SCHED_COSINE ? 0.5 * (1.0 + cos(M_PI * prog)) : 1.0 - prog;
    return (float)(s->min_lr + (s->max_lr - s->min_lr) * f);
}

const char *const rt_schedule_names[] = {"constant", "linear", "cosine", NULL};
_Static_assert(RT_SCHED_CONSTANT == 0 && RT_SCHED_LINEAR == 1 && RT_SCHED_COSINE == 2,
               "rt_schedule_names follows rt_sched_kind");

const char *rt_schedule_name(rt_sched_kind k) {
    return k >= RT_SCHED_CONSTANT && k <= RT_SCHED_COSINE ? rt_schedule_names[k] : "cosine";
}

int rt_schedule_kind_parse(const char *name) {
    for (int k = 0; rt_schedule_names[k]; k++)
        if (!strcmp(name, rt_schedule_names[k])) return k;
    return -1;
}

double rt_grad_sumsq(const rt_tensor_table *tab, size_t lo, size_t hi, const float *grads) {
    double total = 0.0;
    for (int ti_ = 0; ti_ < tab->n; ti_++) {
        const rt_tensor_info *T_ = &tab->t[ti_];
        size_t a_, b_;
        if (!clip_range(T_, lo, hi, &a_, &b_)) continue;
        /* Fixed blocks, summed in order: independent of the thread count. */
        const float *g = grads + a_;
        size_t n = b_ - a_, nb = (n + 4095) / 4096;
        double part[64];
        for (size_t b0 = 0; b0 < nb; b0 += 64) {
            size_t bend = b0 + 64 < nb ? b0 + 64 : nb;
#pragma omp parallel for schedule(static)
            for (size_t b = b0; b < bend; b++) {
                size_t s = b * 4096, e = s + 4096 < n ? s + 4096 : n;
                double acc = 0.0;
                for (size_t i = s; i < e; i++) acc += (double)g[i] * g[i];
                part[b - b0] = acc;
            }
            for (size_t b = b0; b < bend; b++) total += part[b - b0];
        }
    }
    return total;
}

float rt_clip_factor(double norm, float max_norm) {
    if (max_norm <= 0.0f) return 1.0f;
    double f = (double)max_norm / (norm + 1e-6);
    return f < 1.0 ? (float)f : 1.0f;
}

void rt_scale_grads(const rt_tensor_table *tab, size_t lo, size_t hi, float *grads, float factor) {
    if (factor == 1.0f) return;
    for (int ti_ = 0; ti_ < tab->n; ti_++) {
        const rt_tensor_info *T_ = &tab->t[ti_];
        size_t a_, b_;
        if (!clip_range(T_, lo, hi, &a_, &b_)) continue;
        float *g = grads + a_;
        size_t n = b_ - a_;
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; i++) g[i] *= factor;
    }
}
