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

static rt_status corpus_read(void *ctx, uint64_t start, size_t count, int32_t *dst) {
    const rt_corpus_source *cs = ctx;
    return rt_corpus_read_tokens(cs->corpus, cs->split, start, count, dst);
}

rt_token_source rt_token_source_corpus(const rt_corpus_source *cs) {
    rt_token_source s = {rt_corpus_n_tokens(cs->corpus, cs->split), corpus_read, (void *)cs};
    return s;
}

rt_status rt_token_source_window(const rt_token_source *d, uint64_t w, int T, int32_t *buf,
                                 int32_t *ids, int32_t *tgt) {
    RT_CALL(d->read(d->ctx, w * (uint64_t)T, (size_t)T + 1, buf));
    memcpy(ids, buf, sizeof(int32_t) * T);
    memcpy(tgt, buf + 1, sizeof(int32_t) * T);
    return RT_OK;
}

rt_status rt_finetune(rt_gpt2 *m, const rt_token_source *data, const rt_finetune_opts *o,
                      rt_finetune_result *res) {
    int B = o->B, T = o->T, A = o->grad_accum > 0 ? o->grad_accum : 1;
    uint64_t nwin = rt_sampler_windows(data->n_tokens, T);
    if (nwin == 0)
        return rt_error(RT_ERR_ARG, "training data holds %llu tokens: need more than T = %d",
                        (unsigned long long)data->n_tokens, T);
    if (B > m->B || T > m->T)
        return rt_error(RT_ERR_ARG, "micro-batch %dx%d exceeds the allocated %dx%d", B, T, m->B,
                        m->T);
    size_t P = m->params.total;
    float *mom = rt_alloc_floats(P), *var = rt_alloc_floats(P);
    int32_t *ids = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    int32_t *buf = malloc(sizeof(int32_t) * (T + 1));
    if (!mom || !var || !ids || !tgt || !buf) {
        rt_free_floats(&mom);
        rt_free_floats(&var);
        free(ids);
        free(tgt);
        free(buf);
        return rt_error(RT_ERR_MEMORY, "out of memory for optimizer state");
    }
    rt_status st = RT_OK;
    uint64_t cursor = 0;
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
            for (int b = 0; b < B; b++, cursor++) {
                uint64_t w = rt_sampler_permute(nwin, o->seed, cursor / nwin, cursor % nwin);
                st = rt_token_source_window(data, w, T, buf, ids + b * T, tgt + b * T);
                if (st != RT_OK) goto done;
            }
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
    free(buf);
    return st;
}

rt_status rt_evaluate(rt_gpt2 *m, const rt_token_source *data, int B, int T, double *mean_loss,
                      size_t *n_tokens) {
    size_t nwin = (size_t)rt_sampler_windows(data->n_tokens, T);
    if (nwin == 0)
        return rt_error(RT_ERR_ARG, "evaluation data holds %llu tokens: need more than T = %d",
                        (unsigned long long)data->n_tokens, T);
    int32_t *ids = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    int32_t *buf = malloc(sizeof(int32_t) * (T + 1));
    if (!ids || !tgt || !buf) {
        free(ids);
        free(tgt);
        free(buf);
        return rt_error(RT_ERR_MEMORY, "out of memory");
    }
    int train = m->train;
    m->train = 0;
    double sum = 0.0;
    size_t count = 0;
    rt_status st = RT_OK;
    for (size_t w = 0; w < nwin; w += B) {
        int nb = (int)(nwin - w < (size_t)B ? nwin - w : (size_t)B);
        for (int b = 0; b < nb && st == RT_OK; b++)
            st = rt_token_source_window(data, w + b, T, buf, ids + b * T, tgt + b * T);
        if (st != RT_OK) break;
        double ls;
        st = rt_gpt2_forward(m, ids, tgt, nb, T, &ls);
        if (st != RT_OK) break;
        sum += ls;
        count += (size_t)m->n_counted;
    }
    m->train = train;
    free(ids);
    free(tgt);
    free(buf);
    if (st == RT_OK) {
        *mean_loss = count ? sum / count : 0.0;
        if (n_tokens) *n_tokens = count;
    }
    return st;
}
