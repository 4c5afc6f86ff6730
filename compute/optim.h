/* AdamW (decoupled weight decay, as torch.optim.AdamW), learning-rate schedules (linear warmup,
   then constant, linear or cosine decay to a floor, as Hugging Face's schedules) and global-norm
   gradient clipping (as torch.nn.utils.clip_grad_norm_). */
#pragma once
#include <stddef.h>
#include "arena.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} rt_adamw_config;

/* One AdamW step over the tensors of tab (trainable ones only) whose flat ranges intersect
   [lo, hi) — the whole buffer is lo = 0, hi = tab->total; a ZeRO-1 shard passes its range.
   params/grads are indexed by flat offset; m and v by flat offset minus lo.
   t is the 1-based step count for bias correction. Decay only where tensor.decay. */
void rt_adamw_step(const rt_tensor_table *tab, size_t lo, size_t hi, float *params,
                   const float *grads, float *m, float *v, const rt_adamw_config *cfg, long t);
/* The same step on the gradients times gscale (the clip factor), without writing them: the
   result is bit for bit rt_scale_grads(gscale) followed by rt_adamw_step, one pass fewer over
   the gradients. grads are left as they were. */
void rt_adamw_step_scaled(const rt_tensor_table *tab, size_t lo, size_t hi, float *params,
                          const float *grads, float gscale, float *m, float *v,
                          const rt_adamw_config *cfg, long t);

typedef enum { RT_SCHED_CONSTANT = 0, RT_SCHED_LINEAR, RT_SCHED_COSINE } rt_sched_kind;
typedef struct {
    rt_sched_kind kind;
    float max_lr, min_lr; /* decay ends at min_lr (the floor) */
    long warmup, total;   /* steps */
} rt_schedule;
/* Learning rate for 0-based step s: warmup max_lr*s/warmup (0 at step 0, as HF), then decay
   over (total - warmup) steps to min_lr, min_lr afterwards. */
float rt_schedule_lr(const rt_schedule *s, long step);
/* The schedule names, indexed by rt_sched_kind, NULL-terminated: the one table that parsing,
   the run config and the checkpoint manifest use. */
extern const char *const rt_schedule_names[];
/* rt_schedule_names[k] ("cosine" for a value out of range). */
const char *rt_schedule_name(rt_sched_kind k);
/* Parses "constant", "linear", "cosine"; returns -1 when unknown. */
int rt_schedule_kind_parse(const char *name);

/* Sum of squares (double accumulation, fixed order) of the trainable tensors' gradients within
   [lo, hi). */
double rt_grad_sumsq(const rt_tensor_table *tab, size_t lo, size_t hi, const float *grads);
/* Scales grads in [lo,hi) by min(1, max_norm / (norm + 1e-6)) as torch does; returns the factor.
   max_norm <= 0 disables clipping (returns 1). */
float rt_clip_factor(double norm, float max_norm);
void rt_scale_grads(const rt_tensor_table *tab, size_t lo, size_t hi, float *grads, float factor);
