/* Sequence-to-sequence pairs (dist/pairs.h). */
#include "pairs.h"
#include <stdlib.h>
#include <string.h>
#include "sampler.h"

rt_status rt_pair_source_open(rt_pair_source *ps, rt_corpus *c, rt_corpus_split split) {
    memset(ps, 0, sizeof *ps);
    const rt_corpus_info *in = rt_corpus_get_info(c);
    if (strcmp(in->kind, "pairs"))
        return rt_error(RT_ERR_ARG,
                        "%s: corpus kind is \"%s\", expected \"pairs\" (make one with "
                        "`ringtune prep --source-field F --target-field G`)",
                        rt_corpus_path(c), in->kind);
    uint64_t n = in->n_docs[split];
    ps->corpus = c;
    ps->split = split;
    ps->n = n;
    uint64_t *so = malloc(sizeof(uint64_t) * (n + 1)), *to = malloc(sizeof(uint64_t) * (n + 1));
    ps->src_len = malloc(sizeof(uint32_t) * (n ? n : 1));
    ps->tgt_len = malloc(sizeof(uint32_t) * (n ? n : 1));
    rt_status st =
        so && to && ps->src_len && ps->tgt_len
            ? RT_OK
            : rt_error(RT_ERR_MEMORY, "out of memory for %llu pair lengths", (unsigned long long)n);
    if (st == RT_OK) st = rt_corpus_read_doc_offsets(c, split, 0, (size_t)n + 1, so);
    if (st == RT_OK) st = rt_corpus_read_target_offsets(c, split, 0, (size_t)n + 1, to);
    for (uint64_t i = 0; st == RT_OK && i < n; i++) {
        ps->src_len[i] = (uint32_t)(so[i + 1] - so[i]);
        ps->tgt_len[i] = (uint32_t)(to[i + 1] - to[i]);
        if ((int)ps->src_len[i] > ps->max_src) ps->max_src = (int)ps->src_len[i];
        if ((int)ps->tgt_len[i] > ps->max_tgt) ps->max_tgt = (int)ps->tgt_len[i];
    }
    free(so);
    free(to);
    if (st != RT_OK) rt_pair_source_free(ps);
    return st;
}

void rt_pair_source_free(rt_pair_source *ps) {
    free(ps->src_len);
    free(ps->tgt_len);
    memset(ps, 0, sizeof *ps);
}

rt_status rt_pair_order_init(rt_pair_order *o, const rt_pair_source *ps, uint64_t seed, int G,
                             int pool) {
    memset(o, 0, sizeof *o);
    o->ps = ps;
    o->seed = seed;
    o->G = G;
    o->pool = pool < 1 ? 1 : pool;
    o->cached = -1;
    if (o->pool > 1 && !(o->order = malloc(sizeof(uint64_t) * (size_t)o->pool * (size_t)G)))
        return rt_error(RT_ERR_MEMORY, "out of memory for a pool of %d x %d samples", o->pool, G);
    return RT_OK;
}

void rt_pair_order_free(rt_pair_order *o) {
    free(o->order);
    memset(o, 0, sizeof *o);
}

/* the k-th pair of the plain seeded order */
static uint64_t plain(const rt_pair_order *o, uint64_t k) {
    uint64_t n = o->ps->n;
    return rt_sampler_permute(n, o->seed, k / n, k % n);
}

static const rt_pair_source *g_ps; /* qsort's context (sorting is single-threaded) */

/* longest first (source + target), ties by the smaller pair index */
static int by_length(const void *a, const void *b) {
    uint64_t i = *(const uint64_t *)a, j = *(const uint64_t *)b;
    uint64_t li = (uint64_t)g_ps->src_len[i] + g_ps->tgt_len[i],
             lj = (uint64_t)g_ps->src_len[j] + g_ps->tgt_len[j];
    if (li != lj) return li > lj ? -1 : 1;
    return i < j ? -1 : i > j;
}

static void sort_pool(rt_pair_order *o, uint64_t p) {
    size_t m = (size_t)o->pool * (size_t)o->G;
    uint64_t *sorted = o->order;
    for (size_t q = 0; q < m; q++) sorted[q] = plain(o, p * m + q);
    g_ps = o->ps;
    qsort(sorted, m, sizeof *sorted, by_length);
    o->cached = (int64_t)p;
}

uint64_t rt_pair_order_sample(rt_pair_order *o, uint64_t k) {
    if (o->pool <= 1) return plain(o, k);
    uint64_t m = (uint64_t)o->pool * (uint64_t)o->G, p = k / m, q = k % m;
    if (o->cached != (int64_t)p) sort_pool(o, p);
    /* the batches of the pool in a seeded order (a second key, so it is not the first
       permutation again) */
    uint64_t j = rt_sampler_permute((uint64_t)o->pool, o->seed ^ 0x9A17ull, p, q / (uint64_t)o->G);
    return o->order[j * (uint64_t)o->G + q % (uint64_t)o->G];
}

rt_status rt_pairs_fill(const rt_pair_source *ps, const uint64_t *idx, int nb, int32_t pad,
                        int32_t start, rt_pair_batch *b, double *tokens) {
    int Ts = 1, Tt = 1;
    for (int r = 0; r < nb; r++) {
        if ((int)ps->src_len[idx[r]] > Ts) Ts = (int)ps->src_len[idx[r]];
        if ((int)ps->tgt_len[idx[r]] > Tt) Tt = (int)ps->tgt_len[idx[r]];
    }
    b->Ts = Ts;
    b->Tt = Tt;
    for (int r = 0; r < nb; r++) {
        int32_t *src = b->src + (size_t)r * Ts, *lab = b->labels + (size_t)r * Tt,
                *dec = b->dec + (size_t)r * Tt;
        size_t ns, nt;
        RT_CALL(rt_corpus_read_pair(ps->corpus, ps->split, idx[r], src, (size_t)Ts, &ns, lab,
                                    (size_t)Tt, &nt));
        uint8_t *mask = b->mask + (size_t)r * Ts;
        for (int i = 0; i < Ts; i++) mask[i] = i < (int)ns;
        for (int i = (int)ns; i < Ts; i++) src[i] = pad;
        dec[0] = start;
        for (int i = 1; i < Tt; i++) dec[i] = i < (int)nt ? lab[i - 1] : pad;
        for (int i = (int)nt; i < Tt; i++) lab[i] = -100;
    }
    if (tokens) *tokens = (double)nb * (Ts + Tt);
    return RT_OK;
}

rt_batch rt_pair_batch_view(const rt_pair_batch *b, int nb) {
    return (rt_batch){.B = nb,
                      .T = b->Tt,
                      .ids = b->dec,
                      .targets = b->labels,
                      .src_T = b->Ts,
                      .src_ids = b->src,
                      .src_mask = b->mask};
}

rt_status rt_pairs_loss(rt_model *m, const rt_pair_source *ps, uint64_t lo, uint64_t hi, int EB,
                        rt_pair_batch *b, double *loss_sum, double *count) {
    *loss_sum = *count = 0.0;
    uint64_t idx[EB];
    for (uint64_t i = lo; i < hi; i += (uint64_t)EB) {
        int nb = (int)(hi - i < (uint64_t)EB ? hi - i : (uint64_t)EB);
        for (int r = 0; r < nb; r++) idx[r] = i + (uint64_t)r;
        RT_CALL(rt_pairs_fill(ps, idx, nb, m->pad_id, m->decoder_start_id, b, NULL));
        rt_batch batch = rt_pair_batch_view(b, nb);
        double ls, n;
        RT_CALL(rt_model_forward(m, &batch, NULL, &ls, &n));
        *loss_sum += ls;
        *count += n;
    }
    return RT_OK;
}
