/* compute/metrics_text.c against sacrebleu and rouge-score (tests/fixtures/metrics/
   text_metrics.json, made by tests/fixtures/gen_text_metrics_fixtures.py): corpus BLEU with its
   components, chrF, chrF++ and their eps-smoothing and whitespace variants, ROUGE-L per pair and
   mean, exact match; sums of shard statistics give the whole corpus's figures; hand-computed
   values; n = 0, ill-formed UTF-8, long texts and bad arguments. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "metrics_text.h"

#define FIXTURE RT_FIXTURES "/metrics/text_metrics.json"
#define REL_TOL 1e-9
#define MAX_STREAMS 4

static double max_rel, max_abs; /* over every figure of every case */

static json_t *load_cases(json_t **root) {
    json_error_t err;
    *root = json_load_file(FIXTURE, 0, &err);
    ck_assert_msg(*root, "%s: line %d: %s", FIXTURE, err.line, err.text);
    json_t *cases = json_object_get(*root, "cases");
    ck_assert_msg(json_is_array(cases) && json_array_size(cases) > 0,
                  "%s: \"cases\": expected a non-empty array", FIXTURE);
    return cases;
}

static json_t *field(json_t *obj, const char *where, const char *key) {
    json_t *v = json_object_get(obj, key);
    ck_assert_msg(v, "%s: %s: no field \"%s\"", FIXTURE, where, key);
    return v;
}

static double num(json_t *obj, const char *where, const char *key) {
    json_t *v = field(obj, where, key);
    ck_assert_msg(json_is_number(v), "%s: %s.%s: expected a number", FIXTURE, where, key);
    return json_number_value(v);
}

static void check_value(const char *name, const char *what, double got, double want) {
    const double d = fabs(got - want), rel = want != 0.0 ? d / fabs(want) : d;
    if (rel > max_rel) max_rel = rel;
    if (d > max_abs) max_abs = d;
    ck_assert_msg(isfinite(got) && (d == 0.0 || rel <= REL_TOL),
                  "%s: %s = %.17g, reference %.17g (diff %.3g, relative %.3g)", name, what, got,
                  want, d, rel);
}

static void check_int(const char *name, const char *what, int64_t got, json_t *want) {
    ck_assert_msg(json_is_integer(want), "%s: %s: expected an integer", name, what);
    ck_assert_msg(got == json_integer_value(want), "%s: %s = %lld, reference %lld", name, what,
                  (long long)got, (long long)json_integer_value(want));
}

/* ---- a case's texts ---- */

typedef struct {
    int n, streams;
    char **hyps;              /* owned */
    char **refs[MAX_STREAMS]; /* owned; NULL entries = missing references */
    const char *const *ref_arrays[MAX_STREAMS];
} corpus;

static char *unhex(const char *hex) {
    size_t n = strlen(hex) / 2;
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        s[i] = (char)v;
    }
    s[n] = '\0';
    return s;
}

/* a string (or hex of bytes), NULL for JSON null */
static char *text_of(json_t *v, int hex) {
    if (json_is_null(v)) return NULL;
    ck_assert(json_is_string(v));
    if (hex) return unhex(json_string_value(v));
    char *s = strdup(json_string_value(v));
    ck_assert_ptr_nonnull(s);
    return s;
}

static char **texts(json_t *a, int n, int hex) {
    ck_assert(json_is_array(a) && (int)json_array_size(a) == n);
    char **v = calloc((size_t)n + 1, sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < n; i++) v[i] = text_of(json_array_get(a, (size_t)i), hex);
    return v;
}

static void corpus_load(corpus *c, json_t *cs) {
    const int hex = json_object_get(cs, "hyps_hex") != NULL;
    json_t *h = json_object_get(cs, hex ? "hyps_hex" : "hyps");
    json_t *r = json_object_get(cs, hex ? "refs_hex" : "refs");
    ck_assert(json_is_array(h) && json_is_array(r));
    memset(c, 0, sizeof *c);
    c->n = (int)json_array_size(h);
    c->streams = (int)json_array_size(r);
    ck_assert(c->streams >= 1 && c->streams <= MAX_STREAMS);
    c->hyps = texts(h, c->n, hex);
    for (int k = 0; k < c->streams; k++) {
        c->refs[k] = texts(json_array_get(r, (size_t)k), c->n, hex);
        c->ref_arrays[k] = (const char *const *)c->refs[k];
    }
}

static void corpus_free(corpus *c) {
    for (int i = 0; i < c->n; i++) free(c->hyps[i]);
    free(c->hyps);
    for (int k = 0; k < c->streams; k++) {
        for (int i = 0; i < c->n; i++) free(c->refs[k][i]);
        free(c->refs[k]);
    }
}

#define HYPS(c) ((const char *const *)(c)->hyps)

/* ---- the figures of one case ---- */

static void check_bleu(const char *name, json_t *cs, const corpus *c) {
    json_t *b = field(cs, name, "bleu");
    rt_bleu_result r;
    ck_assert_msg(rt_bleu_corpus_multi(HYPS(c), c->ref_arrays, c->streams, c->n, &r) == RT_OK,
                  "%s: %s", name, rt_error_message());
    check_value(name, "bleu score", r.score, num(b, name, "score"));
    check_value(name, "bleu bp", r.bp, num(b, name, "bp"));
    check_value(name, "bleu ratio", r.ratio, num(b, name, "ratio"));
    check_int(name, "bleu sys_len", r.stats.sys_len, field(b, name, "sys_len"));
    check_int(name, "bleu ref_len", r.stats.ref_len, field(b, name, "ref_len"));
    json_t *prec = field(b, name, "precisions"), *counts = field(b, name, "counts"),
           *totals = field(b, name, "totals");
    for (int k = 0; k < RT_BLEU_ORDER; k++) {
        char what[64];
        snprintf(what, sizeof what, "bleu precision %d", k + 1);
        check_value(name, what, r.precisions[k],
                    json_number_value(json_array_get(prec, (size_t)k)));
        snprintf(what, sizeof what, "bleu counts[%d]", k);
        check_int(name, what, r.stats.counts[k], json_array_get(counts, (size_t)k));
        snprintf(what, sizeof what, "bleu totals[%d]", k);
        check_int(name, what, r.stats.totals[k], json_array_get(totals, (size_t)k));
    }
    if (c->streams == 1) { /* the one-stream form gives the same, bit for bit */
        rt_bleu_result one;
        ck_assert_int_eq(rt_bleu_corpus(HYPS(c), c->ref_arrays[0], c->n, &one), RT_OK);
        ck_assert(one.score == r.score && one.bp == r.bp &&
                  memcmp(&one.stats, &r.stats, sizeof r.stats) == 0);
    }
}

static double chrf_of(const char *name, const corpus *c, rt_chrf_options o) {
    rt_chrf_result r;
    ck_assert_msg(rt_chrf_corpus_multi(HYPS(c), c->ref_arrays, c->streams, c->n, &o, &r) == RT_OK,
                  "%s: %s", name, rt_error_message());
    double again;
    ck_assert_int_eq(rt_chrf_from_stats(&r.stats, &o, &again), RT_OK);
    ck_assert(again == r.score);
    return r.score;
}

static void check_chrf(const char *name, json_t *cs, const corpus *c) {
    rt_chrf_options o = RT_CHRF_DEFAULTS;
    check_value(name, "chrF", chrf_of(name, c, o), num(cs, name, "chrf"));
    o.eps_smoothing = 1;
    check_value(name, "chrF eps", chrf_of(name, c, o), num(cs, name, "chrf_eps"));
    o = RT_CHRF_PLUSPLUS;
    check_value(name, "chrF++", chrf_of(name, c, o), num(cs, name, "chrf_pp"));
    o.eps_smoothing = 1;
    check_value(name, "chrF++ eps", chrf_of(name, c, o), num(cs, name, "chrf_pp_eps"));
    o = RT_CHRF_DEFAULTS;
    o.whitespace = 1;
    check_value(name, "chrF whitespace", chrf_of(name, c, o), num(cs, name, "chrf_ws"));
    if (c->streams == 1) {
        rt_chrf_result r;
        ck_assert_int_eq(rt_chrf_corpus(HYPS(c), c->ref_arrays[0], c->n, NULL, &r), RT_OK);
        check_value(name, "chrF (one stream, default options)", r.score, num(cs, name, "chrf"));
    }
}

static void check_rouge(const char *name, json_t *cs, const corpus *c, rt_rouge_score *mean) {
    json_t *rl = field(cs, name, "rouge_l");
    json_t *per = field(rl, name, "per_pair"), *m = field(rl, name, "mean");
    ck_assert((int)json_array_size(per) == c->n);
    rt_rouge_score *pp = calloc((size_t)c->n + 1, sizeof *pp);
    ck_assert_ptr_nonnull(pp);
    ck_assert_msg(rt_rouge_l(HYPS(c), c->ref_arrays[0], c->n, pp, mean) == RT_OK, "%s: %s", name,
                  rt_error_message());
    for (int i = 0; i < c->n; i++) {
        json_t *w = json_array_get(per, (size_t)i);
        const double got[3] = {pp[i].precision, pp[i].recall, pp[i].fmeasure};
        for (int k = 0; k < 3; k++) {
            char what[64];
            snprintf(what, sizeof what, "rougeL pair %d %s", i, k == 0 ? "P" : k == 1 ? "R" : "F");
            check_value(name, what, got[k], json_number_value(json_array_get(w, (size_t)k)));
        }
        rt_rouge_score one;
        ck_assert_int_eq(rt_rouge_l_pair(c->hyps[i], c->refs[0][i], &one), RT_OK);
        ck_assert(memcmp(&one, &pp[i], sizeof one) == 0);
    }
    const double gm[3] = {mean->precision, mean->recall, mean->fmeasure};
    for (int k = 0; k < 3; k++)
        check_value(name, "rougeL mean", gm[k], json_number_value(json_array_get(m, (size_t)k)));
    free(pp);
}

static void check_case(json_t *cs) {
    const char *name = json_string_value(field(cs, "case", "name"));
    ck_assert_msg(name, "%s: a case's \"name\": expected a string", FIXTURE);
    corpus c;
    corpus_load(&c, cs);
    check_bleu(name, cs, &c);
    check_chrf(name, cs, &c);
    rt_rouge_score mean;
    check_rouge(name, cs, &c, &mean);
    json_t *em = field(cs, name, "exact_match");
    int64_t matches;
    double frac;
    ck_assert_int_eq(rt_exact_match(HYPS(&c), c.ref_arrays[0], c.n, &matches, &frac), RT_OK);
    check_int(name, "exact matches", matches, field(em, name, "matches"));
    check_value(name, "exact match", frac, num(em, name, "fraction"));
    rt_bleu_result b;
    rt_chrf_result ch;
    ck_assert_int_eq(rt_bleu_corpus_multi(HYPS(&c), c.ref_arrays, c.streams, c.n, &b), RT_OK);
    ck_assert_int_eq(rt_chrf_corpus_multi(HYPS(&c), c.ref_arrays, c.streams, c.n, NULL, &ch),
                     RT_OK);
    printf("text metrics %-22s n %2d refs %d: BLEU %8.4f chrF %8.4f rougeL %.4f EM %.3f\n", name,
           c.n, c.streams, b.score, ch.score, mean.fmeasure, frac);
    corpus_free(&c);
}

START_TEST(test_reference_cases) {
    json_t *root;
    json_t *cases = load_cases(&root);
    json_t *v = json_object_get(root, "versions");
    printf("text metrics: oracle sacrebleu %s, rouge-score %s\n",
           json_string_value(json_object_get(v, "sacrebleu")),
           json_string_value(json_object_get(v, "rouge-score")));
    max_rel = max_abs = 0.0;
    for (size_t i = 0; i < json_array_size(cases); i++) check_case(json_array_get(cases, i));
    printf("text metrics: %zu cases, max relative diff %.3g, max abs diff %.3g\n",
           json_array_size(cases), max_rel, max_abs);
    json_decref(root);
}
END_TEST

/* ---- shards: summed statistics give the whole corpus's figures, bit for bit ---- */

static void add_bleu(rt_bleu_stats *a, const rt_bleu_stats *b) {
    a->sys_len += b->sys_len;
    a->ref_len += b->ref_len;
    for (int k = 0; k < RT_BLEU_ORDER; k++) {
        a->counts[k] += b->counts[k];
        a->totals[k] += b->totals[k];
    }
}

static void add_chrf(rt_chrf_stats *a, const rt_chrf_stats *b) {
    for (int k = 0; k < RT_CHRF_MAX_ORDER; k++) {
        a->hyp[k] += b->hyp[k];
        a->ref[k] += b->ref[k];
        a->match[k] += b->match[k];
    }
}

START_TEST(test_merge_shards) {
    json_t *root;
    json_t *cases = load_cases(&root);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        corpus c;
        corpus_load(&c, json_array_get(cases, i));
        const int cut[4] = {0, c.n / 5, c.n / 5 + c.n / 2, c.n};
        const rt_chrf_options pp = RT_CHRF_PLUSPLUS;
        rt_bleu_stats bs = {0};
        rt_chrf_stats cs = {0};
        for (int r = 0; r < 3; r++) {
            const char *const *streams[MAX_STREAMS];
            for (int k = 0; k < c.streams; k++) streams[k] = c.ref_arrays[k] + cut[r];
            rt_bleu_result b;
            rt_chrf_result ch;
            ck_assert_int_eq(rt_bleu_corpus_multi(HYPS(&c) + cut[r], streams, c.streams,
                                                  cut[r + 1] - cut[r], &b),
                             RT_OK);
            ck_assert_int_eq(rt_chrf_corpus_multi(HYPS(&c) + cut[r], streams, c.streams,
                                                  cut[r + 1] - cut[r], &pp, &ch),
                             RT_OK);
            add_bleu(&bs, &b.stats);
            add_chrf(&cs, &ch.stats);
        }
        rt_bleu_result whole, merged;
        rt_chrf_result cwhole;
        double cmerged;
        ck_assert_int_eq(rt_bleu_corpus_multi(HYPS(&c), c.ref_arrays, c.streams, c.n, &whole),
                         RT_OK);
        ck_assert_int_eq(rt_bleu_from_stats(&bs, &merged), RT_OK);
        ck_assert(memcmp(&whole, &merged, sizeof whole) == 0);
        ck_assert_int_eq(rt_chrf_corpus_multi(HYPS(&c), c.ref_arrays, c.streams, c.n, &pp, &cwhole),
                         RT_OK);
        ck_assert_int_eq(rt_chrf_from_stats(&cs, &pp, &cmerged), RT_OK);
        ck_assert(cmerged == cwhole.score);
        corpus_free(&c);
    }
    json_decref(root);
}
END_TEST

/* ---- values computed by hand ---- */

START_TEST(test_hand_values) {
    const char *h[] = {"the cat sat on the mat"}, *r[] = {"the cat sat on a mat"};
    rt_bleu_result b;
    ck_assert_int_eq(rt_bleu_corpus(h, r, 1, &b), RT_OK);
    /* matches 5/6, 3/5, 2/4, 1/3 of the 1..4-grams; equal lengths: BLEU = (1/12)^(1/4) */
    ck_assert(b.stats.counts[0] == 5 && b.stats.totals[0] == 6 && b.stats.counts[1] == 3 &&
              b.stats.totals[1] == 5 && b.stats.counts[2] == 2 && b.stats.totals[2] == 4 &&
              b.stats.counts[3] == 1 && b.stats.totals[3] == 3);
    ck_assert(b.bp == 1.0 && b.stats.sys_len == 6 && b.stats.ref_len == 6);
    ck_assert_double_eq_tol(b.score, 100.0 * pow(1.0 / 12.0, 0.25), 1e-12);
    rt_rouge_score s;
    ck_assert_int_eq(rt_rouge_l_pair(h[0], r[0], &s), RT_OK); /* LCS "the cat sat on mat" */
    ck_assert(s.precision == 5.0 / 6.0 && s.recall == 5.0 / 6.0);
    ck_assert_double_eq_tol(s.fmeasure, 5.0 / 6.0, 1e-15);

    const char *same[] = {"Identical sentences, both of them.", "A second one"};
    rt_chrf_result ch;
    ck_assert_int_eq(rt_bleu_corpus(same, same, 2, &b), RT_OK);
    /* exp(log(100)) rounds to 100.00000000000004, in sacrebleu too */
    ck_assert(b.bp == 1.0 && b.precisions[3] == 100.0);
    ck_assert_double_eq_tol(b.score, 100.0, 1e-12);
    ck_assert_int_eq(rt_chrf_corpus(same, same, 2, NULL, &ch), RT_OK);
    ck_assert(ch.score == 100.0);
    const rt_chrf_options pp = RT_CHRF_PLUSPLUS;
    ck_assert_int_eq(rt_chrf_corpus(same, same, 2, &pp, &ch), RT_OK);
    ck_assert(ch.score == 100.0);
    ck_assert_int_eq(rt_rouge_l_pair(same[0], same[0], &s), RT_OK);
    ck_assert(s.precision == 1.0 && s.recall == 1.0 && s.fmeasure == 1.0);

    /* "a b" vs "a b c d": bigram-only hypothesis, no 3- or 4-grams: log(0) floors, BLEU 0 */
    const char *h2[] = {"a b"}, *r2[] = {"a b c d"};
    ck_assert_int_eq(rt_bleu_corpus(h2, r2, 1, &b), RT_OK);
    ck_assert(b.score == 0.0 && b.precisions[0] == 100.0 && b.precisions[1] == 100.0);
    ck_assert_double_eq_tol(b.bp, exp(1.0 - 2.0), 1e-15);

    const char *e1[] = {"  yes\t", "no", "x"}, *e2[] = {"yes", "No", "x\u3000"};
    int64_t m;
    double f;
    ck_assert_int_eq(rt_exact_match(e1, e2, 3, &m, &f), RT_OK);
    ck_assert(m == 2 && f == 2.0 / 3.0);
}
END_TEST

/* ---- edge cases ---- */

START_TEST(test_empty_corpus) {
    rt_bleu_result b;
    rt_chrf_result ch;
    rt_rouge_score mean = {1, 1, 1};
    int64_t m = 7;
    double f = 1.0;
    ck_assert_int_eq(rt_bleu_corpus(NULL, NULL, 0, &b), RT_OK);
    ck_assert(b.score == 0.0 && b.bp == 1.0 && b.stats.sys_len == 0 && b.ratio == 0.0);
    ck_assert_int_eq(rt_chrf_corpus(NULL, NULL, 0, NULL, &ch), RT_OK);
    ck_assert(ch.score == 0.0);
    ck_assert_int_eq(rt_rouge_l(NULL, NULL, 0, NULL, &mean), RT_OK);
    ck_assert(mean.precision == 0.0 && mean.recall == 0.0 && mean.fmeasure == 0.0);
    ck_assert_int_eq(rt_exact_match(NULL, NULL, 0, &m, &f), RT_OK);
    ck_assert(m == 0 && f == 0.0);
    /* a corpus of empty strings */
    const char *e[] = {"", " ", "\n"};
    ck_assert_int_eq(rt_bleu_corpus(e, e, 3, &b), RT_OK);
    ck_assert(b.score == 0.0 && b.bp == 1.0);
    ck_assert_int_eq(rt_chrf_corpus(e, e, 3, NULL, &ch), RT_OK);
    ck_assert(ch.score == 0.0);
    ck_assert_int_eq(rt_rouge_l(e, e, 3, NULL, &mean), RT_OK);
    ck_assert(mean.fmeasure == 0.0);
}
END_TEST

static uint64_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* random bytes, biased to UTF-8 lead and continuation bytes, ASCII punctuation and spaces */
static void random_bytes(uint64_t *seed, char *s, size_t n) {
    static const char pick[] = " .,-&;<>\n\t0aZ";
    for (size_t i = 0; i < n; i++) {
        const uint64_t r = lcg(seed);
        unsigned char c;
        switch (r % 6) {
        case 0:
            c = (unsigned char)(0x80 + (r >> 8) % 0x40);
            break; /* continuation */
        case 1:
            c = (unsigned char)(0xC0 + (r >> 8) % 0x40);
            break; /* lead, some invalid */
        case 2:
            c = (unsigned char)pick[(r >> 8) % (sizeof pick - 1)];
            break;
        default:
            c = (unsigned char)(1 + (r >> 8) % 255);
            break;
        }
        s[i] = (char)c;
    }
    s[n] = '\0';
}

/* ill-formed UTF-8 anywhere: no crash, every figure finite and in range */
START_TEST(test_invalid_utf8) {
    enum { N = 40, LEN = 120 };
    uint64_t seed = 12345;
    char *buf[2 * N];
    for (int i = 0; i < 2 * N; i++) {
        buf[i] = malloc(LEN + 1);
        ck_assert_ptr_nonnull(buf[i]);
        random_bytes(&seed, buf[i], (size_t)(lcg(&seed) % LEN));
    }
    /* truncated sequences at the very end, lone continuation bytes, overlong and surrogates */
    strcpy(buf[0], "end \xE2\x82");
    strcpy(buf[1], "\x80\x80\x80");
    strcpy(buf[2], "\xC0\xAF \xED\xA0\x80 \xF4\x90\x80\x80 \xF0");
    const char *const *hyps = (const char *const *)buf, *const *refs = hyps + N;
    rt_bleu_result b;
    rt_chrf_result ch;
    rt_rouge_score mean, per[N];
    const rt_chrf_options pp = RT_CHRF_PLUSPLUS;
    int64_t m;
    double f;
    ck_assert_int_eq(rt_bleu_corpus(hyps, refs, N, &b), RT_OK);
    ck_assert(isfinite(b.score) && b.score >= 0.0 && b.score <= 100.0);
    ck_assert_int_eq(rt_chrf_corpus(hyps, refs, N, &pp, &ch), RT_OK);
    ck_assert(isfinite(ch.score) && ch.score >= 0.0 && ch.score <= 100.0);
    ck_assert_int_eq(rt_rouge_l(hyps, refs, N, per, &mean), RT_OK);
    ck_assert(mean.fmeasure >= 0.0 && mean.fmeasure <= 1.0);
    ck_assert_int_eq(rt_exact_match(hyps, refs, N, &m, &f), RT_OK);
    /* against itself: BLEU 100 (where any 4-gram exists), chrF 100 */
    ck_assert_int_eq(rt_chrf_corpus(hyps, hyps, N, NULL, &ch), RT_OK);
    ck_assert_double_eq_tol(ch.score, 100.0, 1e-12);
    ck_assert_int_eq(rt_exact_match(hyps, hyps, N, &m, &f), RT_OK);
    ck_assert(m == N);
    /* two different ill-formed bytes both read as U+FFFD: equal */
    const char *x[] = {"a\xFF"}, *y[] = {"a\xFE"};
    ck_assert_int_eq(rt_exact_match(x, y, 1, &m, &f), RT_OK);
    ck_assert(m == 1);
    for (int i = 0; i < 2 * N; i++) free(buf[i]);
}
END_TEST

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* a long text of random words from a small vocabulary (many repeated n-grams) */
static char *long_text(uint64_t *seed, int words) {
    static const char *vocab[] = {"the", "of", "Straße,", "data.", "1,000", "a-b", "北京", "x"};
    char *s = malloc((size_t)words * 10 + 1), *p = s;
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < words; i++) {
        const char *w = vocab[lcg(seed) % 8];
        size_t l = strlen(w);
        memcpy(p, w, l);
        p += l;
        *p++ = ' ';
    }
    *p = '\0';
    return s;
}

START_TEST(test_long_texts) {
    uint64_t seed = 7;
    char *a = long_text(&seed, 200000), *b = long_text(&seed, 6000), *c = long_text(&seed, 6000);
    const char *h[] = {a}, *bh[] = {b}, *ch[] = {c};
    rt_bleu_result br;
    rt_chrf_result cr;
    rt_rouge_score rs;
    const rt_chrf_options pp = RT_CHRF_PLUSPLUS;
    double t0 = seconds();
    ck_assert_int_eq(rt_bleu_corpus(h, h, 1, &br), RT_OK);
    ck_assert_double_eq_tol(br.score, 100.0, 1e-12);
    ck_assert_int_eq(rt_chrf_corpus(h, h, 1, &pp, &cr), RT_OK);
    ck_assert(cr.score == 100.0);
    const double t1 = seconds();
    ck_assert_int_eq(rt_rouge_l_pair(b, c, &rs), RT_OK); /* 6000 x 6000 LCS */
    ck_assert(rs.fmeasure > 0.0 && rs.fmeasure < 1.0);
    ck_assert_int_eq(rt_bleu_corpus(bh, ch, 1, &br), RT_OK);
    ck_assert(br.score > 0.0 && br.score < 100.0);
    const double t2 = seconds();
    printf("text metrics: 200000-word BLEU + chrF++ %.3f s; 6000 x 6000-token ROUGE-L + BLEU %.3f "
           "s\n",
           t1 - t0, t2 - t1);
    ck_assert_msg(t1 - t0 < 20.0 && t2 - t1 < 20.0, "too slow");
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_bad_args) {
    const char *h[] = {"a", NULL}, *r[] = {"a", "b"};
    rt_bleu_result b;
    rt_chrf_result ch;
    rt_rouge_score s;
    int64_t m;
    double f;
    ck_assert_int_eq(rt_bleu_corpus(h, r, 2, &b), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "bleu: hypothesis 1 is NULL"), "%s",
                  rt_error_message());
    ck_assert_int_eq(rt_bleu_corpus(r, h, 2, &b), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "bleu: segment 1 has no reference"), "%s",
                  rt_error_message());
    ck_assert_int_eq(rt_bleu_corpus(r, r, -1, &b), RT_ERR_ARG);
    ck_assert_int_eq(rt_bleu_corpus(r, NULL, 2, &b), RT_ERR_ARG);
    ck_assert_int_eq(rt_chrf_corpus(h, r, 2, NULL, &ch), RT_ERR_ARG);
    ck_assert_int_eq(rt_rouge_l(r, h, 2, NULL, &s), RT_ERR_ARG);
    ck_assert_int_eq(rt_rouge_l_pair(NULL, "a", &s), RT_ERR_ARG);
    ck_assert_int_eq(rt_exact_match(h, r, 2, &m, &f), RT_ERR_ARG);
    /* a missing reference in one stream of two is fine; none at all is not */
    const char *s0[] = {"a b", NULL}, *s1[] = {NULL, "b"}, *none[] = {NULL, NULL};
    const char *const *two[2] = {s0, s1}, *const * zero[2] = {s0, none};
    ck_assert_int_eq(rt_bleu_corpus_multi(r, two, 2, 2, &b), RT_OK);
    ck_assert_int_eq(rt_chrf_corpus_multi(r, two, 2, 2, NULL, &ch), RT_OK);
    ck_assert_int_eq(rt_bleu_corpus_multi(r, zero, 2, 2, &b), RT_ERR_ARG);
    ck_assert_int_eq(rt_bleu_corpus_multi(r, two, 0, 2, &b), RT_ERR_ARG);
    /* chrF options */
    rt_chrf_options o = RT_CHRF_DEFAULTS;
    o.char_order = 0;
    ck_assert_int_eq(rt_chrf_corpus(r, r, 2, &o, &ch), RT_ERR_ARG);
    o.word_order = 2; /* words only: fine */
    ck_assert_int_eq(rt_chrf_corpus(r, r, 2, &o, &ch), RT_OK);
    ck_assert(ch.score == 100.0);
    o = (rt_chrf_options){12, 5, 2, 0, 0};
    ck_assert_int_eq(rt_chrf_corpus(r, r, 2, &o, &ch), RT_ERR_ARG);
    o = (rt_chrf_options){6, 0, -1, 0, 0};
    ck_assert_int_eq(rt_chrf_corpus(r, r, 2, &o, &ch), RT_ERR_ARG);
    /* statistics */
    rt_bleu_stats st = {3, 3, {4, 0, 0, 0}, {3, 2, 1, 0}};
    ck_assert_int_eq(rt_bleu_from_stats(&st, &b), RT_ERR_ARG);
    st.counts[0] = 3;
    ck_assert_int_eq(rt_bleu_from_stats(&st, &b), RT_OK);
    st.sys_len = -1;
    ck_assert_int_eq(rt_bleu_from_stats(&st, &b), RT_ERR_ARG);
}
END_TEST

int main(void) {
    Suite *s = suite_create("text_metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_reference_cases);
    tcase_add_test(tc, test_merge_shards);
    tcase_add_test(tc, test_hand_values);
    tcase_add_test(tc, test_empty_corpus);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_long_texts);
    tcase_add_test(tc, test_bad_args);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
