/* T5 beam search (compute/t5_decode.h): transformers 5.25's GenerationMixin._beam_search over
   rt_t5_decoder steps, in its float32 arithmetic: the same -1e9 "never" scores added in the same
   order, the same divisions by length**length_penalty (a double power rounded to float32, as a
   float32 tensor divided by a Python float). torch.topk's order among exactly equal scores is
   unspecified; here the lower index comes first. */
#include "t5_decode_internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NEVER 1.0e9f /* transformers' -1e9 */

/* The search's state, per input b: nb running beams and nb kept hypotheses ("beam_scores",
   "sequences", "is_sent_finished" in transformers), and this step's K = 2 nb candidates. */
typedef struct {
    int B, nb, K, V, W, max_new, eos, fill;
    rt_early_stop es;
    double lp;
    float *run_score;                /* (B, nb) sum of log-probs, best first */
    int32_t *run_seq, *run_next;     /* (B, nb, W) ids, decoder_start first, then fill */
    float *pool_score, *pool_score2; /* (B, nb) kept hypotheses, best first */
    int32_t *pool_seq, *pool_seq2;   /* (B, nb, W) */
    int *pool_len, *pool_len2;       /* (B, nb) generated ids */
    uint8_t *pool_fin, *pool_fin2;   /* (B, nb) */
    uint8_t *unsat;                  /* (B) is_early_stop_heuristic_unsatisfied */
    float *c_score;                  /* (B, K) accumulated log-prob of each candidate */
    int *c_beam, *c_tok;             /* (B, K) its beam and token */
    uint8_t *c_hit;                  /* (B, K) it is done (eos or max_new_tokens) */
    float *merged;                   /* (nb + K) */
    int *sel;                        /* (nb + K) */
    int32_t *tok, *parent;           /* (B nb) */
} beam;

static void beam_free(beam *s) {
    void *p[] = {s->run_score, s->run_seq,   s->run_next, s->pool_score, s->pool_score2,
                 s->pool_seq,  s->pool_seq2, s->pool_len, s->pool_len2,  s->pool_fin,
                 s->pool_fin2, s->unsat,     s->c_score,  s->c_beam,     s->c_tok,
                 s->c_hit,     s->merged,    s->sel,      s->tok,        s->parent};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) free(p[i]);
}

static rt_status beam_alloc(beam *s) {
    size_t B = s->B, nb = s->nb, K = s->K, W = s->W, n = B * nb;
    int ok = 1;
#define ALLOC(f, cnt) ok &= (s->f = calloc((cnt), sizeof *s->f)) != NULL
    ALLOC(run_score, n);
    ALLOC(run_seq, n * W);
    ALLOC(run_next, n * W);
    ALLOC(pool_score, n);
    ALLOC(pool_score2, n);
    ALLOC(pool_seq, n * W);
    ALLOC(pool_seq2, n * W);
    ALLOC(pool_len, n);
    ALLOC(pool_len2, n);
    ALLOC(pool_fin, n);
    ALLOC(pool_fin2, n);
    ALLOC(unsat, B);
    ALLOC(c_score, B * K);
    ALLOC(c_beam, B * K);
    ALLOC(c_tok, B * K);
    ALLOC(c_hit, B * K);
    ALLOC(merged, nb + K);
    ALLOC(sel, nb + K);
    ALLOC(tok, n);
    ALLOC(parent, n);
#undef ALLOC
    if (ok) return RT_OK;
    beam_free(s);
    return rt_error(RT_ERR_MEMORY, "out of memory for the beam search's state");
}

/* Running sequences start as [decoder_start, fill...] with scores 0, -1e9, -1e9, ... (only the
   first beam expands at the first step); the kept hypotheses as the same sequences at -1e9. */
static void beam_init(beam *s, int start) {
    size_t n = (size_t)s->B * s->nb;
    for (size_t r = 0; r < n; r++) {
        int32_t *q = s->run_seq + r * s->W;
        q[0] = start;
        for (int j = 1; j < s->W; j++) q[j] = s->fill;
        memcpy(s->pool_seq + r * s->W, q, (size_t)s->W * sizeof(int32_t));
        s->run_score[r] = r % s->nb ? -NEVER : 0.0f;
        s->pool_score[r] = -NEVER;
        s->pool_fin[r] = 0;
        s->pool_len[r] = 0;
    }
    memset(s->unsat, 1, (size_t)s->B);
}

/* Inserts (v, i) into the descending list top / idx holding n of at most k entries; an equal
   value goes after those already there (the lower index first when indices come in order).
   Returns the new count. */
static int topk_push(float *top, int *idx, int n, int k, float v, int i) {
    if (n == k && !(v > top[k - 1])) return n;
    int p = n < k ? n : k - 1;
    for (; p > 0 && v > top[p - 1]; p--) {
        top[p] = top[p - 1];
        idx[p] = idx[p - 1];
    }
    top[p] = v;
    idx[p] = i;
    return n < k ? n + 1 : n;
}

/* row (V) <- log_softmax(row) as torch computes it: (x - max) - log(sum(exp(x - max))). */
static void log_softmax(float *row, int V) {
    float mx = row[0];
    for (int j = 1; j < V; j++) mx = row[j] > mx ? row[j] : mx;
    double sum = 0.0;
    for (int j = 0; j < V; j++) sum += exp((double)(row[j] - mx));
    float lse = (float)log(sum);
    for (int j = 0; j < V; j++) row[j] = (row[j] - mx) - lse;
}

/* Input b's top K (beam, token) continuations of this step (s: 0-based; the new token lands at
   position s + 1) over its nb rows of log-probs lp (nb, V). Returns whether all are done. */
static int candidates(beam *s, int b, const float *lp, int step) {
    int K = s->K, V = s->V, n = 0, all_hit = 1;
    float *cs = s->c_score + (size_t)b * K;
    int *idx = s->sel;
    for (int k = 0; k < s->nb; k++) {
        float base = s->run_score[(size_t)b * s->nb + k];
        const float *row = lp + (size_t)k * V;
        for (int v = 0; v < V; v++) n = topk_push(cs, idx, n, K, row[v] + base, k * V + v);
    }
    for (int c = 0; c < K; c++) {
        int i = b * K + c;
        s->c_beam[i] = idx[c] / V;
        s->c_tok[i] = idx[c] % V;
        s->c_hit[i] = step + 1 >= s->max_new || s->c_tok[i] == s->eos;
        all_hit &= s->c_hit[i];
    }
    return all_hit;
}

/* dst (W) = input b's running beam k with token tok at position pos. */
static void extend(const beam *s, int32_t *dst, int b, int k, int pos, int tok) {
    memcpy(dst, s->run_seq + ((size_t)b * s->nb + k) * s->W, (size_t)s->W * sizeof(int32_t));
    dst[pos] = tok;
}

/* _update_finished_beams: the done candidates among the first nb join input b's kept
   hypotheses, scored by length; the best nb of kept and new stay. */
static void update_finished(beam *s, int b, int step) {
    int nb = s->nb, K = s->K, full = s->es == RT_EARLY_STOP_TRUE;
    size_t o = (size_t)b * nb;
    for (int k = 0; k < nb; k++) full &= s->pool_fin[o + k];
    float den = (float)pow((double)(step + 1), s->lp);
    for (int k = 0; k < nb; k++) s->merged[k] = s->pool_score[o + k];
    for (int c = 0; c < K; c++) {
        int i = b * K + c, did = s->c_hit[i] && c < nb;
        float sc = s->c_score[i] / den;
        if (full) sc += -NEVER;
        if (!s->unsat[b]) sc += -NEVER;
        if (!did) sc += -NEVER;
        s->merged[nb + c] = sc;
    }
    float top[64 + 128];
    int n = 0;
    for (int i = 0; i < nb + K; i++) n = topk_push(top, s->sel, n, nb, s->merged[i], i);
    for (int j = 0; j < nb; j++) {
        int i = s->sel[j];
        int32_t *dst = s->pool_seq2 + (o + j) * s->W;
        if (i < nb) {
            memcpy(dst, s->pool_seq + (o + i) * s->W, (size_t)s->W * sizeof(int32_t));
            s->pool_len2[o + j] = s->pool_len[o + i];
            s->pool_fin2[o + j] = s->pool_fin[o + i];
        } else {
            int c = b * K + i - nb;
            extend(s, dst, b, s->c_beam[c], step + 1, s->c_tok[c]);
            s->pool_len2[o + j] = step + 1;
            s->pool_fin2[o + j] = s->c_hit[c] && i - nb < nb;
        }
        s->pool_score2[o + j] = s->merged[i];
    }
}

/* _get_running_beams_for_next_iteration: input b's best nb candidates that are not done (a done
   one scores -1e9 more) run on; parent gets each new row's parent row. */
static void next_running(beam *s, int b, int step) {
    int nb = s->nb, K = s->K;
    float top[128];
    int n = 0;
    for (int c = 0; c < K; c++) {
        int i = b * K + c;
        float v = s->c_hit[i] ? s->c_score[i] + -NEVER : s->c_score[i];
        s->merged[c] = v;
        n = topk_push(top, s->sel, n, nb, v, c);
    }
    for (int j = 0; j < nb; j++) {
        int c = b * K + s->sel[j];
        size_t r = (size_t)b * nb + j;
        extend(s, s->run_next + r * s->W, b, s->c_beam[c], step + 1, s->c_tok[c]);
        s->run_score[r] = s->merged[s->sel[j]];
        s->parent[r] = b * nb + s->c_beam[c];
    }
}

/* _check_early_stop_heuristic after step `step`: input b's search is over once its best running
   beam, scored at its current length (early_stopping never with length_penalty > 0: at
   max_new_tokens), is no better than its worst kept hypothesis, every one finished. */
static void heuristic(beam *s, int b, int step) {
    int nb = s->nb;
    size_t o = (size_t)b * nb;
    int L = s->es == RT_EARLY_STOP_NEVER && s->lp > 0.0 ? s->max_new : step + 1;
    float best = s->run_score[o] / (float)pow((double)L, s->lp), worst = s->pool_score[o];
    for (int k = 1; k < nb; k++)
        worst = s->pool_score[o + k] < worst ? s->pool_score[o + k] : worst;
    int improvable = 0;
    for (int k = 0; k < nb; k++) improvable |= best > (s->pool_fin[o + k] ? worst : -NEVER);
    s->unsat[b] = s->unsat[b] && improvable;
}

/* _beam_search_has_unfinished_sequences, negated. */
static int search_over(const beam *s, int all_hit) {
    int any_unsat = 0, all_fin = 1;
    for (int b = 0; b < s->B; b++) any_unsat |= s->unsat[b];
    for (int r = 0; r < s->B * s->nb; r++) all_fin &= s->pool_fin[r];
    return !any_unsat || (s->es == RT_EARLY_STOP_TRUE && all_fin) || all_hit;
}

#define SWAP(a, b)                                                                                 \
    do {                                                                                           \
        void *t_ = (void *)(a);                                                                    \
        (a) = (b);                                                                                 \
        (b) = t_;                                                                                  \
    } while (0)

/* One step of the search (step: 0-based); *over: the search is over. */
static rt_status beam_step(rt_t5_decoder *d, beam *s, int step, int *over) {
    int R = s->B * s->nb, all_hit = 1;
    for (int r = 0; r < R; r++) s->tok[r] = s->run_seq[(size_t)r * s->W + step];
    const float *logits;
    RT_CALL(rt_t5_decoder_step(d, s->tok, &logits));
    float *lp = d->s.logits; /* the decoder's own buffer: log-probs in place */
    for (int r = 0; r < R; r++) log_softmax(lp + (size_t)r * s->V, s->V);
    for (int b = 0; b < s->B; b++) {
        all_hit &= candidates(s, b, lp + (size_t)b * s->nb * s->V, step);
        update_finished(s, b, step);
        next_running(s, b, step);
    }
    SWAP(s->run_seq, s->run_next);
    SWAP(s->pool_seq, s->pool_seq2);
    SWAP(s->pool_score, s->pool_score2);
    SWAP(s->pool_len, s->pool_len2);
    SWAP(s->pool_fin, s->pool_fin2);
    for (int b = 0; b < s->B; b++) heuristic(s, b, step);
    *over = search_over(s, all_hit);
    if (!*over) RT_CALL(rt_t5_decoder_reorder(d, s->parent));
    return RT_OK;
}

rt_status rt_t5_generate_beam(rt_t5_decoder *d, const int32_t *src, const uint8_t *src_mask, int B,
                              int Ts, const rt_t5_beam_opts *o, int32_t *out, int *lengths,
                              float *scores) {
    const rt_t5_config *c = &d->m->cfg;
    if (o->num_beams < 2 || o->num_beams > 64)
        return rt_error(RT_ERR_ARG,
                        "beam search with %d beams: expected 2..64 (1 is greedy "
                        "search)",
                        o->num_beams);
    if (o->max_new_tokens < 1 || o->max_new_tokens > d->Tmax)
        return rt_error(RT_ERR_ARG,
                        "beam search of %d new tokens: expected 1..%d (the decoder's "
                        "steps)",
                        o->max_new_tokens, d->Tmax);
    if (!isfinite(o->length_penalty))
        return rt_error(RT_ERR_ARG, "beam search: length_penalty %g", o->length_penalty);
    beam s = {.B = B,
              .nb = o->num_beams,
              .K = 2 * o->num_beams,
              .V = c->vocab_size,
              .W = 1 + o->max_new_tokens,
              .max_new = o->max_new_tokens,
              .eos = o->eos_id,
              .es = o->early_stopping,
              .lp = o->length_penalty};
    /* transformers: `pad_token_id or eos_token_id[0] if eos_token_id is not None else -1` */
    s.fill = o->eos_id >= 0 ? (c->pad_token_id ? c->pad_token_id : o->eos_id) : -1;
    RT_CALL(rt_t5_decoder_encode(d, src, src_mask, B, Ts, s.nb));
    RT_CALL(beam_alloc(&s));
    beam_init(&s, c->decoder_start_token_id);
    rt_status st = RT_OK;
    for (int step = 0, over = 0; !over && st == RT_OK; step++) st = beam_step(d, &s, step, &over);
    if (st == RT_OK)
        for (int b = 0; b < B; b++) {
            size_t r = (size_t)b * s.nb; /* the best kept hypothesis */
            memcpy(out + (size_t)b * s.W, s.pool_seq + r * s.W, (size_t)s.W * sizeof(int32_t));
            lengths[b] = s.pool_len[r];
            scores[b] = s.pool_score[r];
        }
    beam_free(&s);
    return st;
}
