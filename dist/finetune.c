/* Single-process fine-tuning loop and evaluation. */
#include "finetune.h"
#include "gemm.h"
#include "sampler.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

size_t rt_windows_count(size_t n_tokens, int T) {
    return (size_t)rt_sampler_windows(n_tokens, T);
}

static void fill_batch(int32_t *ids, int32_t *tgt, rt_token_span d, int B, int T, size_t nwin,
                       uint64_t seed, size_t *cursor) {
    for (int b = 0; b < B; b++) {
        size_t s = (size_t)rt_sampler_permute(nwin, seed, *cursor / nwin, *cursor % nwin) * T;
        for (int t = 0; t < T; t++) {
            ids[b * T + t] = d.tokens[s + t];
            tgt[b * T + t] = d.tokens[s + t + 1];
        }
        (*cursor)++;
    }
}

rt_status rt_finetune(rt_gpt2 *m, rt_token_span data, const rt_finetune_opts *o,
                      rt_finetune_result *res) {
    int B = o->B, T = o->T, A = o->grad_accum > 0 ? o->grad_accum : 1;
    size_t nwin = rt_windows_count(data.n, T);
    if (nwin == 0)
        return rt_error(RT_ERR_ARG, "training data holds %zu tokens: need more than T = %d", data.n,
                        T);
    if (B > m->B || T > m->T)
        return rt_error(RT_ERR_ARG, "micro-batch %dx%d exceeds the allocated %dx%d", B, T, m->B,
                        m->T);
    size_t P = m->params.total;
    float *mom = rt_alloc_floats(P), *var = rt_alloc_floats(P);
    int32_t *ids = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    if (!mom || !var || !ids || !tgt) {
        rt_free_floats(&mom);
        rt_free_floats(&var);
        free(ids);
        free(tgt);
        return rt_error(RT_ERR_MEMORY, "out of memory for optimizer state");
    }
    rt_status st = RT_OK;
    size_t cursor = 0;
    double t0 = now_s(), ntok = 0;
    memset(res, 0, sizeof *res);
    m->seed = o->seed;
    for (long step = 0; step < o->steps; step++) {
        double ts = now_s();
        m->train = o->train_dropout;
        m->step = (uint64_t)step;
        /* Loss normalisation over the whole global batch: every window is full here (no ignored
           targets), so the count is known before the micro-batches run. */
        float scale = 1.0f / (float)((size_t)A * B * T);
        double loss = 0.0;
        for (int a = 0; a < A; a++) {
            fill_batch(ids, tgt, data, B, T, nwin, o->seed, &cursor);
            m->micro = (uint64_t)a;
            double ls;
            st = rt_gpt2_forward(m, ids, tgt, B, T, &ls);
            if (st != RT_OK) goto done;
            loss += ls;
            rt_gpt2_backward(m, scale, a > 0);
        }
        loss /= (double)A * B * T;
        double norm = sqrt(rt_grad_sumsq(&m->params, 0, P, m->grads_mem));
        if (!isfinite(loss) || !isfinite(norm)) {
            st = rt_error(RT_ERR_NUMERIC, "%s step %ld: loss %g, gradient norm %g are not finite",
                          o->tag ? o->tag : "train", step, loss, norm);
            goto done;
        }
        rt_scale_grads(&m->params, 0, P, m->grads_mem, rt_clip_factor(norm, o->clip));
        rt_adamw_config ac = o->adam;
        ac.lr = rt_schedule_lr(&o->sched, step);
        rt_adamw_step(&m->params, 0, P, m->params_mem, m->grads_mem, mom, var, &ac, step + 1);
        ntok += (double)A * B * T;
        if (step == 0) res->first_loss = loss;
        res->last_loss = loss;
        double el = now_s() - t0, dt = now_s() - ts;
        if (o->log && o->log_every > 0 && (step % o->log_every == 0 || step == o->steps - 1))
            fprintf(o->log,
                    "%s step %5ld/%ld | loss %.4f | lr %.3e | grad norm %.3f | %.0f tok/s | "
                    "ETA %.0fs\n",
                    o->tag ? o->tag : "train", step + 1, o->steps, loss, ac.lr, norm,
                    (double)A * B * T / dt, el / (step + 1) * (o->steps - step - 1));
    }
    res->steps = o->steps;
    res->seconds = now_s() - t0;
    res->tokens_per_s = res->seconds > 0 ? ntok / res->seconds : 0;
done:
    m->train = 0;
    rt_free_floats(&mom);
    rt_free_floats(&var);
    free(ids);
    free(tgt);
    return st;
}

rt_status rt_evaluate(rt_gpt2 *m, rt_token_span data, int B, int T, double *mean_loss,
                      size_t *n_tokens) {
    size_t nwin = rt_windows_count(data.n, T);
    if (nwin == 0)
        return rt_error(RT_ERR_ARG, "evaluation data holds %zu tokens: need more than T = %d",
                        data.n, T);
    int32_t *ids = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    if (!ids || !tgt) {
        free(ids);
        free(tgt);
        return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    int train = m->train;
    m->train = 0;
    double sum = 0.0;
    size_t count = 0;
    rt_status st = RT_OK;
    for (size_t w = 0; w < nwin; w += B) {
        int nb = (int)(nwin - w < (size_t)B ? nwin - w : (size_t)B);
        for (int b = 0; b < nb; b++)
            for (int t = 0; t < T; t++) {
                size_t s = (w + b) * T + t;
                ids[b * T + t] = data.tokens[s];
                tgt[b * T + t] = data.tokens[s + 1];
            }
        double ls;
        st = rt_gpt2_forward(m, ids, tgt, nb, T, &ls);
        if (st != RT_OK) break;
        sum += ls;
        count += (size_t)m->n_counted;
    }
    m->train = train;
    free(ids);
    free(tgt);
    if (st == RT_OK) {
        *mean_loss = count ? sum / count : 0.0;
        if (n_tokens) *n_tokens = count;
    }
    return st;
}
