/* Token windows of a corpus split, and a single-process evaluation over them. */
#include "windows.h"
#include "sampler.h"
#include <stdlib.h>
#include <string.h>

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

rt_status rt_evaluate(rt_model *m, const rt_token_source *data, int B, int T, double *mean_loss,
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
    double sum = 0.0;
    size_t count = 0;
    rt_status st = RT_OK;
    for (size_t w = 0; w < nwin; w += B) {
        int nb = (int)(nwin - w < (size_t)B ? nwin - w : (size_t)B);
        for (int b = 0; b < nb && st == RT_OK; b++)
            st = rt_token_source_window(data, w + b, T, buf, ids + b * T, tgt + b * T);
        if (st != RT_OK) break;
        double ls;
        double n;
        rt_batch batch = {.B = nb, .T = T, .ids = ids, .targets = tgt};
        st = rt_model_forward(m, &batch, NULL, &ls, &n); /* no key: evaluation, no dropout */
        if (st != RT_OK) break;
        sum += ls;
        count += (size_t)n;
    }
    free(ids);
    free(tgt);
    free(buf);
    if (st == RT_OK) {
        *mean_loss = count ? sum / count : 0.0;
        if (n_tokens) *n_tokens = count;
    }
    return st;
}
