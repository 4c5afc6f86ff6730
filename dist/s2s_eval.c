/* Generation metrics of sequence-to-sequence pairs (dist/s2s_eval.h). */
#include "s2s_eval.h"
#include <stdlib.h>
#include <string.h>
#include "metrics.h"
#include "metrics_text.h"
#include "spm.h"

/* the tally's layout: counts, ROUGE sums, BLEU stats, chrF stats, then the confusion matrix */
enum {
    T_N,
    T_EXACT,
    T_RP,
    T_RR,
    T_RF,
    T_BLEU_SYS,
    T_BLEU_REF,
    T_BLEU_C,
    T_BLEU_T = T_BLEU_C + RT_BLEU_ORDER,
    T_CHRF_H = T_BLEU_T + RT_BLEU_ORDER,
    T_CHRF_R = T_CHRF_H + RT_CHRF_MAX_ORDER,
    T_CHRF_M = T_CHRF_R + RT_CHRF_MAX_ORDER,
    T_CONF = T_CHRF_M + RT_CHRF_MAX_ORDER
};

size_t rt_s2s_tally_len(int K) {
    return (size_t)T_CONF + (K > 0 ? (size_t)(K + 1) * (size_t)(K + 1) : 0);
}

/* ids as text (NUL-terminated, caller frees) */
static rt_status decode(const rt_spm *tok, const int32_t *ids, size_t n, char **text) {
    char *s = NULL;
    size_t len = 0, cap = 0;
    rt_status st = rt_spm_decode(tok, ids, n, &s, &len, &cap);
    if (st == RT_OK && !(s = realloc(s, len + 1))) st = rt_error(RT_ERR_MEMORY, "out of memory");
    if (st != RT_OK) {
        free(s);
        return st;
    }
    s[len] = '\0';
    *text = s;
    return RT_OK;
}

/* the target of pair i as text */
static rt_status target_text(const rt_pair_source *ps, uint64_t i, const rt_spm *tok, char **text) {
    size_t cap = (size_t)ps->max_src + (size_t)ps->max_tgt, ns, nt;
    int32_t *buf = malloc(sizeof(int32_t) * (cap + 1));
    if (!buf) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status st = rt_corpus_read_pair(ps->corpus, ps->split, i, buf, (size_t)ps->max_src, &ns,
                                       buf + ps->max_src, (size_t)ps->max_tgt + 1, &nt);
    if (st == RT_OK) st = decode(tok, buf + ps->max_src, nt, text);
    free(buf);
    return st;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void rt_s2s_labels_free(rt_s2s_labels *l) {
    for (int k = 0; k < l->K; k++) free(l->label[k]);
    free(l->label);
    memset(l, 0, sizeof *l);
}

rt_status rt_s2s_labels_find(const rt_pair_source *ps, uint64_t n, const rt_spm *tok,
                             rt_s2s_labels *out) {
    memset(out, 0, sizeof *out);
    char **set = calloc(RT_S2S_MAX_LABELS + 1, sizeof(char *));
    if (!set) return rt_error(RT_ERR_MEMORY, "out of memory");
    int K = 0;
    rt_status st = RT_OK;
    for (uint64_t i = 0; i < n && i < ps->n && st == RT_OK && K <= RT_S2S_MAX_LABELS; i++) {
        char *t = NULL;
        st = target_text(ps, i, tok, &t);
        int seen = 0;
        for (int k = 0; st == RT_OK && k < K && !seen; k++) seen = !strcmp(set[k], t);
        if (st == RT_OK && !seen)
            set[K++] = t;
        else
            free(t);
    }
    /* label words repeat: at least two pairs per label on average */
    uint64_t seen_n = n < ps->n ? n : ps->n;
    if (st != RT_OK || K < 2 || K > RT_S2S_MAX_LABELS || 2 * (uint64_t)K > seen_n) {
        for (int k = 0; k < K; k++) free(set[k]);
        free(set);
        return st;
    }
    qsort(set, (size_t)K, sizeof *set, cmp_str);
    out->K = K;
    out->label = set;
    return RT_OK;
}

static int label_of(const rt_s2s_labels *L, const char *s) {
    for (int k = 0; k < L->K; k++)
        if (!strcmp(L->label[k], s)) return k;
    return L->K; /* none of them */
}

/* the statistics of nb decoded hypotheses against their references */
static rt_status add_stats(char **hyp, char **ref, int nb, const rt_s2s_labels *L, double *t) {
    rt_bleu_result br;
    rt_chrf_result cr;
    RT_CALL(rt_bleu_corpus((const char *const *)hyp, (const char *const *)ref, nb, &br));
    RT_CALL(rt_chrf_corpus((const char *const *)hyp, (const char *const *)ref, nb, NULL, &cr));
    t[T_BLEU_SYS] += (double)br.stats.sys_len;
    t[T_BLEU_REF] += (double)br.stats.ref_len;
    for (int k = 0; k < RT_BLEU_ORDER; k++) {
        t[T_BLEU_C + k] += (double)br.stats.counts[k];
        t[T_BLEU_T + k] += (double)br.stats.totals[k];
    }
    for (int k = 0; k < RT_CHRF_MAX_ORDER; k++) {
        t[T_CHRF_H + k] += (double)cr.stats.hyp[k];
        t[T_CHRF_R + k] += (double)cr.stats.ref[k];
        t[T_CHRF_M + k] += (double)cr.stats.match[k];
    }
    int64_t em;
    double frac;
    RT_CALL(rt_exact_match((const char *const *)hyp, (const char *const *)ref, nb, &em, &frac));
    t[T_EXACT] += (double)em;
    t[T_N] += nb;
    for (int r = 0; r < nb; r++) {
        rt_rouge_score rs;
        RT_CALL(rt_rouge_l_pair(hyp[r], ref[r], &rs));
        t[T_RP] += rs.precision;
        t[T_RR] += rs.recall;
        t[T_RF] += rs.fmeasure;
        if (L->K > 0)
            t[T_CONF + (size_t)label_of(L, ref[r]) * (L->K + 1) + (size_t)label_of(L, hyp[r])] +=
                1.0;
    }
    return RT_OK;
}

/* Decodes one batch of nb pairs (already in b) and tallies it. */
static rt_status tally_batch(rt_model *m, const rt_pair_source *ps, const uint64_t *idx, int nb,
                             const rt_gen_opts *o, const rt_spm *tok, const rt_s2s_labels *L,
                             rt_pair_batch *b, double *tally) {
    int W = 1 + o->max_new_tokens;
    int32_t *out = malloc(sizeof(int32_t) * (size_t)nb * W);
    int *len = malloc(sizeof(int) * (size_t)nb);
    char **hyp = calloc((size_t)nb, sizeof(char *)), **ref = calloc((size_t)nb, sizeof(char *));
    rt_status st = out && len && hyp && ref ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    rt_batch batch = rt_pair_batch_view(b, nb);
    if (st == RT_OK) st = rt_model_generate(m, &batch, o, out, len);
    for (int r = 0; r < nb && st == RT_OK; r++) {
        st = decode(tok, out + (size_t)r * W + 1, (size_t)len[r], &hyp[r]);
        if (st == RT_OK) st = target_text(ps, idx[r], tok, &ref[r]);
    }
    if (st == RT_OK) st = add_stats(hyp, ref, nb, L, tally);
    for (int r = 0; r < nb && hyp && ref; r++) {
        free(hyp[r]);
        free(ref[r]);
    }
    free(hyp);
    free(ref);
    free(out);
    free(len);
    return st;
}

rt_status rt_s2s_tally_range(rt_model *m, const rt_pair_source *ps, uint64_t lo, uint64_t hi, int B,
                             const rt_gen_opts *o, const rt_spm *tok, const rt_s2s_labels *L,
                             rt_pair_batch *b, double *tally) {
    uint64_t *idx = malloc(sizeof(uint64_t) * (size_t)B);
    if (!idx) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status st = RT_OK;
    for (uint64_t i = lo; i < hi && st == RT_OK; i += (uint64_t)B) {
        int nb = (int)(hi - i < (uint64_t)B ? hi - i : (uint64_t)B);
        for (int r = 0; r < nb; r++) idx[r] = i + (uint64_t)r;
        st = rt_pairs_fill(ps, idx, nb, m->pad_id, m->decoder_start_id, b, NULL);
        if (st == RT_OK) st = tally_batch(m, ps, idx, nb, o, tok, L, b, tally);
    }
    free(idx);
    return st;
}

rt_status rt_s2s_scores_from(const double *t, int K, rt_s2s_scores *out) {
    memset(out, 0, sizeof *out);
    out->n = t[T_N];
    if (t[T_N] <= 0) return RT_OK;
    rt_bleu_stats bs = {(int64_t)t[T_BLEU_SYS], (int64_t)t[T_BLEU_REF], {0}, {0}};
    for (int k = 0; k < RT_BLEU_ORDER; k++) {
        bs.counts[k] = (int64_t)t[T_BLEU_C + k];
        bs.totals[k] = (int64_t)t[T_BLEU_T + k];
    }
    rt_bleu_result br;
    RT_CALL(rt_bleu_from_stats(&bs, &br));
    out->bleu = br.score;
    rt_chrf_stats cs;
    for (int k = 0; k < RT_CHRF_MAX_ORDER; k++) {
        cs.hyp[k] = (int64_t)t[T_CHRF_H + k];
        cs.ref[k] = (int64_t)t[T_CHRF_R + k];
        cs.match[k] = (int64_t)t[T_CHRF_M + k];
    }
    RT_CALL(rt_chrf_from_stats(&cs, NULL, &out->chrf));
    out->rouge_l = t[T_RF] / t[T_N];
    out->exact_match = t[T_EXACT] / t[T_N];
    if (K <= 0) return RT_OK;
    rt_confusion c;
    rt_metrics mt = {0};
    RT_CALL(rt_confusion_init(&c, K + 1));
    for (int i = 0; i < (K + 1) * (K + 1); i++) c.counts[i] = (int64_t)t[T_CONF + i];
    rt_status st = rt_metrics_init(&mt, K + 1);
    if (st == RT_OK) st = rt_metrics_from_confusion(&mt, &c);
    /* the accuracy over every pair; macro F1 over the K labels (not the "none" class) */
    if (st == RT_OK) {
        out->K = K;
        out->accuracy = mt.accuracy;
        double f = 0.0;
        for (int k = 0; k < K; k++) f += mt.per_class[k].f1;
        out->f1_macro = f / K;
    }
    rt_metrics_free(&mt);
    rt_confusion_free(&c);
    return st;
}
