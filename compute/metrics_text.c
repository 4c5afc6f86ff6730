/* Text metrics (BLEU, chrF, ROUGE-L, exact match) equal to sacrebleu's and rouge-score's.
   Strings are first made well-formed UTF-8 (ill-formed subparts become U+FFFD), then tokenized
   into spans of that text. N-grams are counted in an open-addressing hash table keyed by their
   tokens' contents, so every segment costs time linear in its length (ROUGE-L's LCS aside).
   The floating-point formulas repeat the Python ones operation for operation (built with
   -ffp-contract=off) and the same libm, so the figures agree to the last bit. */
#include "metrics_text.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "text.h"

/* ---- growable byte buffers and well-formed UTF-8 ---- */

typedef struct {
    char *p;
    size_t len, cap;
} tbuf;

static rt_status tbuf_reserve(tbuf *b, size_t cap) {
    if (cap <= b->cap) return RT_OK;
    size_t c = b->cap ? b->cap : 64;
    while (c < cap) c *= 2;
    char *p = realloc(b->p, c);
    if (!p) return rt_error(RT_ERR_MEMORY, "text metrics: out of memory for %zu bytes", c);
    b->p = p;
    b->cap = c;
    return RT_OK;
}

/* s as well-formed UTF-8 into out (NUL-terminated): each maximal ill-formed subpart becomes
   U+FFFD, as Python's bytes.decode("utf-8", "replace") */
static rt_status utf8_clean(tbuf *out, const char *s) {
    const size_t n = strlen(s);
    if (n > RT_TEXT_MAX_BYTES)
        return rt_error(RT_ERR_ARG, "text metrics: a %zu-byte string, at most %zu", n,
                        RT_TEXT_MAX_BYTES);
    const uint8_t *u = (const uint8_t *)s;
    const size_t bad = rt_utf8_first_invalid(u, n);
    RT_CALL(tbuf_reserve(out, (bad == n ? n : 3 * n) + 1)); /* a subpart is >= 1 byte */
    memcpy(out->p, s, bad);
    size_t i = bad, o = bad;
    while (i < n) {
        size_t sub, k = rt_utf8_seq(u + i, n - i, &sub);
        if (k) {
            memcpy(out->p + o, s + i, k);
            i += k, o += k;
        } else {
            memcpy(out->p + o, "\xEF\xBF\xBD", 3);
            i += sub, o += 3;
        }
    }
    out->p[o] = '\0';
    out->len = o;
    return RT_OK;
}

/* the code point at s[i] of well-formed UTF-8 into *cp; returns its length in bytes */
static size_t cp_at(const char *s, size_t i, uint32_t *cp) {
    const uint8_t *u = (const uint8_t *)s + i;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    if (u[0] < 0xE0) {
        *cp = (uint32_t)(u[0] & 0x1F) << 6 | (u[1] & 0x3F);
        return 2;
    }
    if (u[0] < 0xF0) {
        *cp = (uint32_t)(u[0] & 0x0F) << 12 | (uint32_t)(u[1] & 0x3F) << 6 | (u[2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(u[0] & 0x07) << 18 | (uint32_t)(u[1] & 0x3F) << 12 |
          (uint32_t)(u[2] & 0x3F) << 6 | (u[3] & 0x3F);
    return 4;
}

/* Python's str.isspace(): what str.split() splits on and str.strip() strips */
static int py_space(uint32_t c) {
    if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* s[*lo..*hi) without leading (lead) and trailing whitespace, as str.strip / str.rstrip */
static void strip(const char *s, size_t n, int lead, size_t *lo, size_t *hi) {
    size_t i = 0, start = n, end = 0;
    while (i < n) {
        uint32_t c;
        size_t k = cp_at(s, i, &c);
        if (!py_space(c)) {
            if (start == n) start = i;
            end = i + k;
        }
        i += k;
    }
    *lo = lead ? (start == n ? 0 : start) : 0;
    *hi = end;
}

/* ---- tokens: spans of a text with a hash of their bytes ---- */

typedef struct {
    const char *p;
    uint32_t len;
    uint64_t h;
} tok;

typedef struct {
    tok *v;
    size_t n, cap;
} toks;

static rt_status toks_push(toks *t, const char *p, size_t len) {
    if (t->n == t->cap) {
        size_t c = t->cap ? 2 * t->cap : 64;
        tok *v = realloc(t->v, c * sizeof *v);
        if (!v) return rt_error(RT_ERR_MEMORY, "text metrics: out of memory for %zu tokens", c);
        t->v = v;
        t->cap = c;
    }
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    t->v[t->n++] = (tok){p, (uint32_t)len, h};
    return RT_OK;
}

static int tok_eq(const tok *a, const tok *b) {
    return a->h == b->h && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* str.split(): the maximal runs of non-whitespace code points of s[0..n) */
static rt_status split_words(toks *t, const char *s, size_t n) {
    size_t i = 0, start = 0;
    int in = 0;
    t->n = 0;
    while (i < n) {
        uint32_t c;
        size_t k = cp_at(s, i, &c);
        if (py_space(c)) {
            if (in) RT_CALL(toks_push(t, s + start, i - start));
            in = 0;
        } else if (!in) {
            in = 1;
            start = i;
        }
        i += k;
    }
    if (in) RT_CALL(toks_push(t, s + start, n - start));
    return RT_OK;
}

/* every code point of s[0..n), whitespace left out unless keep_space */
static rt_status split_chars(toks *t, const char *s, size_t n, int keep_space) {
    size_t i = 0;
    t->n = 0;
    while (i < n) {
        uint32_t c;
        size_t k = cp_at(s, i, &c);
        if (keep_space || !py_space(c)) RT_CALL(toks_push(t, s + i, k));
        i += k;
    }
    return RT_OK;
}

/* Python's string.punctuation */
static int ascii_punct(unsigned char c) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

/* sacrebleu's CHRF._remove_punctuation: whitespace words of more than one code point lose a
   trailing, else a leading, ASCII punctuation character to a token of its own */
static rt_status chrf_words(toks *t, toks *words, const char *s, size_t n) {
    RT_CALL(split_words(words, s, n));
    t->n = 0;
    for (size_t w = 0; w < words->n; w++) {
        const char *p = words->v[w].p;
        const size_t len = words->v[w].len;
        uint32_t c;
        const unsigned char first = (unsigned char)p[0], last = (unsigned char)p[len - 1];
        if (cp_at(p, 0, &c) == len) {
            RT_CALL(toks_push(t, p, len));
        } else if (ascii_punct(last)) {
            RT_CALL(toks_push(t, p, len - 1));
            RT_CALL(toks_push(t, p + len - 1, 1));
        } else if (ascii_punct(first)) {
            RT_CALL(toks_push(t, p, 1));
            RT_CALL(toks_push(t, p + 1, len - 1));
        } else {
            RT_CALL(toks_push(t, p, len));
        }
    }
    return RT_OK;
}

/* ---- n-gram counts ---- */

/* One distinct n-gram: its tokens (first .. first + len), kind (which order it counts for),
   occurrences in the reference being added (cur, of reference `last`), the maximum over the
   references (best), the hypothesis occurrences matched so far (hits) and a dense id. */
typedef struct {
    uint64_t h;
    const tok *first;
    uint32_t len, kind, gen, id;
    uint32_t cur, best, hits, last;
} ng_slot;

/* A slot is in use when its gen equals the table's: reset is gen++ (O(1), not O(capacity)). */
typedef struct {
    ng_slot *s;
    size_t cap, used; /* cap a power of 2, used <= cap / 2 */
    uint32_t gen;
} ng_table;

static uint64_t mix64(uint64_t x) { /* splitmix64's finalizer */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#define NG_SEED 0x9e3779b97f4a7c15ull

static rt_status ng_init(ng_table *t) {
    t->cap = 256;
    t->used = 0;
    t->gen = 1;
    t->s = calloc(t->cap, sizeof *t->s);
    if (!t->s) return rt_error(RT_ERR_MEMORY, "text metrics: out of memory for an n-gram table");
    return RT_OK;
}

static void ng_free(ng_table *t) {
    free(t->s);
    t->s = NULL;
}

static void ng_reset(ng_table *t) {
    t->used = 0;
    if (++t->gen == 0) { /* wrapped: clear for real */
        memset(t->s, 0, t->cap * sizeof *t->s);
        t->gen = 1;
    }
}

static int ng_eq(const ng_slot *s, uint64_t h, const tok *first, uint32_t len, uint32_t kind) {
    if (s->h != h || s->len != len || s->kind != kind) return 0;
    for (uint32_t i = 0; i < len; i++)
        if (!tok_eq(s->first + i, first + i)) return 0;
    return 1;
}

static ng_slot *ng_find(const ng_table *t, uint64_t h, const tok *first, uint32_t len,
                        uint32_t kind) {
    const size_t mask = t->cap - 1;
    for (size_t i = h & mask; t->s[i].gen == t->gen; i = (i + 1) & mask)
        if (ng_eq(&t->s[i], h, first, len, kind)) return &t->s[i];
    return NULL;
}

static rt_status ng_grow(ng_table *t) {
    const size_t cap = 2 * t->cap, mask = cap - 1;
    ng_slot *s = calloc(cap, sizeof *s);
    if (!s) return rt_error(RT_ERR_MEMORY, "text metrics: out of memory for %zu n-gram slots", cap);
    for (size_t i = 0; i < t->cap; i++) {
        if (t->s[i].gen != t->gen) continue;
        size_t j = t->s[i].h & mask;
        while (s[j].gen == t->gen) j = (j + 1) & mask;
        s[j] = t->s[i];
    }
    free(t->s);
    t->s = s;
    t->cap = cap;
    return RT_OK;
}

/* the slot of the n-gram, inserted (counts 0, the next id) when new */
static rt_status ng_insert(ng_table *t, uint64_t h, const tok *first, uint32_t len, uint32_t kind,
                           ng_slot **out) {
    if ((*out = ng_find(t, h, first, len, kind))) return RT_OK;
    if (2 * (t->used + 1) > t->cap) RT_CALL(ng_grow(t));
    const size_t mask = t->cap - 1;
    size_t i = h & mask;
    while (t->s[i].gen == t->gen) i = (i + 1) & mask;
    t->s[i] = (ng_slot){.h = h, .first = first, .len = len, .kind = kind, .gen = t->gen};
    t->s[i].id = (uint32_t)t->used++;
    *out = &t->s[i];
    return RT_OK;
}

/* Walks the n-grams of t of lengths 1..order starting at each token; kind = kind0 + length - 1.
   Reference number ref (>= 1): counts each n-gram's occurrences in this reference (cur) and
   keeps the maximum over the references (best). */
static rt_status ng_add_ref(ng_table *tab, const toks *t, int order, uint32_t kind0, uint32_t ref) {
    for (size_t i = 0; i < t->n; i++) {
        uint64_t h = NG_SEED;
        for (size_t n = 1; n <= (size_t)order && i + n <= t->n; n++) {
            h = mix64(h ^ t->v[i + n - 1].h);
            const uint32_t kind = kind0 + (uint32_t)n - 1;
            ng_slot *s;
            RT_CALL(ng_insert(tab, mix64(h + kind), t->v + i, (uint32_t)n, kind, &s));
            if (s->last != ref) s->last = ref, s->cur = 0;
            if (++s->cur > s->best) s->best = s->cur;
        }
    }
    return RT_OK;
}

/* The hypothesis's n-grams, walked as ng_add_ref's: matches[length - 1] counts those that find
   an occurrence in the references not yet taken, i.e. the sum over n-grams of
   min(hypothesis count, reference count). */
static void ng_match_hyp(ng_table *tab, const toks *t, int order, uint32_t kind0,
                         int64_t *matches) {
    for (size_t i = 0; i < t->n; i++) {
        uint64_t h = NG_SEED;
        for (size_t n = 1; n <= (size_t)order && i + n <= t->n; n++) {
            h = mix64(h ^ t->v[i + n - 1].h);
            const uint32_t kind = kind0 + (uint32_t)n - 1;
            ng_slot *s = ng_find(tab, mix64(h + kind), t->v + i, (uint32_t)n, kind);
            if (s && s->hits < s->best) s->hits++, matches[n - 1]++;
        }
    }
}

/* the number of n-grams of length n in len tokens */
static int64_t ngrams(size_t len, int n) {
    return len >= (size_t)n ? (int64_t)(len - n + 1) : 0;
}

/* ---- one tokenized text and its scratch ---- */

typedef struct {
    tbuf text, work[2];
    toks t, t2;
} seg;

static void seg_free(seg *s) {
    free(s->text.p);
    free(s->work[0].p);
    free(s->work[1].p);
    free(s->t.v);
    free(s->t2.v);
    memset(s, 0, sizeof *s);
}

/* ---- sacrebleu's 13a tokenizer ---- */

/* Python's str.replace(pat, rep) of s[0..n) into out (rep no longer than pat) */
static rt_status replace_all(tbuf *out, const char *s, size_t n, const char *pat, const char *rep) {
    const size_t pl = strlen(pat), rl = strlen(rep);
    RT_CALL(tbuf_reserve(out, n + 1));
    size_t i = 0, o = 0;
    while (i < n) {
        if (s[i] == pat[0] && n - i >= pl && memcmp(s + i, pat, pl) == 0) {
            memcpy(out->p + o, rep, rl);
            o += rl, i += pl;
        } else {
            out->p[o++] = s[i++];
        }
    }
    out->len = o;
    return RT_OK;
}

/* the class [\{-\~\[-\` -\&\(-\+\:-\@\/] of 13a's first regex */
static int punct13a(unsigned char c) {
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
           (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

/* f" {s} " with every punct13a character c replaced by " c " */
static rt_status pass_punct(tbuf *out, const char *s, size_t n) {
    RT_CALL(tbuf_reserve(out, 3 * n + 7));
    size_t o = 0;
    for (size_t i = 0; i <= n + 1; i++) {
        const unsigned char c = i == 0 || i == n + 1 ? ' ' : (unsigned char)s[i - 1];
        if (punct13a(c)) {
            out->p[o++] = ' ';
            out->p[o++] = (char)c;
            out->p[o++] = ' ';
        } else {
            out->p[o++] = (char)c;
        }
    }
    out->len = o;
    return RT_OK;
}

static int not_digit(unsigned char c) {
    return c < '0' || c > '9';
}
static int digit(unsigned char c) {
    return c >= '0' && c <= '9';
}
static int dot_comma(unsigned char c) {
    return c == '.' || c == ',';
}
static int dash(unsigned char c) {
    return c == '-';
}

/* re.sub of a two-character pattern (first)(second) over s[0..n): left to right, matches do not
   overlap; replaced by "\1 \2 " or, lead_space, " \1 \2". Byte by byte is the same as code point
   by code point: the classes are ASCII or negated ASCII, so a match never splits a code point's
   bytes differently from how Python's re would. */
static rt_status pass_pair(tbuf *out, const char *s, size_t n, int (*first)(unsigned char),
                           int (*second)(unsigned char), int lead_space) {
    RT_CALL(tbuf_reserve(out, 2 * n + 1));
    size_t i = 0, o = 0;
    while (i < n) {
        const unsigned char a = (unsigned char)s[i];
        if (i + 1 < n && first(a) && second((unsigned char)s[i + 1])) {
            if (lead_space) out->p[o++] = ' ';
            out->p[o++] = (char)a;
            out->p[o++] = ' ';
            out->p[o++] = s[i + 1];
            if (!lead_space) out->p[o++] = ' ';
            i += 2;
        } else {
            out->p[o++] = (char)a;
            i++;
        }
    }
    out->len = o;
    return RT_OK;
}

/* sacrebleu's BLEU._preprocess_segment: str.rstrip, Tokenizer13a, then the tokens (str.split)
   into s->t. Each step writes the other of the two work buffers. */
static rt_status tokenize_13a(seg *s, const char *str) {
    static const char *const escapes[4][2] = {
        {"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}};
    size_t lo, hi;
    RT_CALL(utf8_clean(&s->text, str));
    strip(s->text.p, s->text.len, 0, &lo, &hi);
    tbuf *a = &s->work[0], *b = &s->work[1], *x;
    RT_CALL(replace_all(a, s->text.p, hi, "<skipped>", ""));
    RT_CALL(replace_all(b, a->p, a->len, "-\n", ""));
    RT_CALL(replace_all(a, b->p, b->len, "\n", " "));
    if (memchr(a->p, '&', a->len))
        for (int e = 0; e < 4; e++) {
            RT_CALL(replace_all(b, a->p, a->len, escapes[e][0], escapes[e][1]));
            x = a, a = b, b = x;
        }
    RT_CALL(pass_punct(b, a->p, a->len));
    RT_CALL(pass_pair(a, b->p, b->len, not_digit, dot_comma, 0));
    RT_CALL(pass_pair(b, a->p, a->len, dot_comma, not_digit, 1));
    RT_CALL(pass_pair(a, b->p, b->len, digit, dash, 0));
    return split_words(&s->t, a->p, a->len);
}

/* ---- argument checks ---- */

static rt_status check_pairs(const char *what, const char *const *hyps,
                             const char *const *const *refs, int num_refs, int n) {
    if (n < 0) return rt_error(RT_ERR_ARG, "%s: %d segments", what, n);
    if (num_refs < 1) return rt_error(RT_ERR_ARG, "%s: %d reference streams", what, num_refs);
    if (n == 0) return RT_OK;
    if (!hyps || !refs) return rt_error(RT_ERR_ARG, "%s: %d segments but no arrays", what, n);
    for (int k = 0; k < num_refs; k++)
        if (!refs[k]) return rt_error(RT_ERR_ARG, "%s: reference stream %d is NULL", what, k);
    for (int i = 0; i < n; i++) {
        if (!hyps[i]) return rt_error(RT_ERR_ARG, "%s: hypothesis %d is NULL", what, i);
        int have = 0;
        for (int k = 0; k < num_refs; k++) have |= refs[k][i] != NULL;
        if (!have) return rt_error(RT_ERR_ARG, "%s: segment %d has no reference", what, i);
    }
    return RT_OK;
}

/* ---- BLEU ---- */

typedef struct {
    seg hyp, *refs; /* refs: one per stream */
    ng_table tab;
} bleu_work;

/* sacrebleu's BLEU._get_closest_ref_len, one reference length at a time */
static void closest_len(int64_t hyp_len, int64_t ref_len, int64_t *diff, int64_t *best) {
    const int64_t d = hyp_len > ref_len ? hyp_len - ref_len : ref_len - hyp_len;
    if (*diff < 0 || d < *diff) {
        *diff = d;
        *best = ref_len;
    } else if (d == *diff && ref_len < *best) {
        *best = ref_len;
    }
}

/* adds segment i's statistics to st */
static rt_status bleu_segment(bleu_work *w, const char *hyp, const char *const *const *refs,
                              int num_refs, int i, rt_bleu_stats *st) {
    ng_reset(&w->tab);
    RT_CALL(tokenize_13a(&w->hyp, hyp));
    const int64_t hyp_len = (int64_t)w->hyp.t.n;
    int64_t diff = -1, ref_len = -1;
    for (int k = 0; k < num_refs; k++) {
        if (!refs[k][i]) continue;
        RT_CALL(tokenize_13a(&w->refs[k], refs[k][i]));
        RT_CALL(ng_add_ref(&w->tab, &w->refs[k].t, RT_BLEU_ORDER, 0, (uint32_t)k + 1));
        closest_len(hyp_len, (int64_t)w->refs[k].t.n, &diff, &ref_len);
    }
    ng_match_hyp(&w->tab, &w->hyp.t, RT_BLEU_ORDER, 0, st->counts);
    for (int n = 1; n <= RT_BLEU_ORDER; n++) st->totals[n - 1] += ngrams(w->hyp.t.n, n);
    st->sys_len += hyp_len;
    st->ref_len += ref_len;
    return RT_OK;
}

rt_status rt_bleu_corpus_multi(const char *const *hyps, const char *const *const *refs,
                               int num_refs, int n, rt_bleu_result *out) {
    RT_CALL(check_pairs("bleu", hyps, refs, num_refs, n));
    rt_bleu_stats st = {0};
    bleu_work w = {0};
    rt_status s = ng_init(&w.tab);
    if (s == RT_OK && !(w.refs = calloc((size_t)num_refs, sizeof *w.refs)))
        s = rt_error(RT_ERR_MEMORY, "bleu: out of memory for %d reference streams", num_refs);
    for (int i = 0; s == RT_OK && i < n; i++) s = bleu_segment(&w, hyps[i], refs, num_refs, i, &st);
    seg_free(&w.hyp);
    for (int k = 0; w.refs && k < num_refs; k++) seg_free(&w.refs[k]);
    free(w.refs);
    ng_free(&w.tab);
    if (s != RT_OK) return s;
    return rt_bleu_from_stats(&st, out);
}

rt_status rt_bleu_corpus(const char *const *hyps, const char *const *refs, int n,
                         rt_bleu_result *out) {
    const char *const *streams[1] = {refs};
    return rt_bleu_corpus_multi(hyps, streams, 1, n, out);
}

/* utils.my_log: log, with log(0) floored to -9999999999 */
static double my_log(double x) {
    return x == 0.0 ? -9999999999.0 : log(x);
}

rt_status rt_bleu_from_stats(const rt_bleu_stats *st, rt_bleu_result *out) {
    if (st->sys_len < 0 || st->ref_len < 0)
        return rt_error(RT_ERR_ARG, "bleu: negative lengths %lld, %lld", (long long)st->sys_len,
                        (long long)st->ref_len);
    int any = 0;
    for (int n = 0; n < RT_BLEU_ORDER; n++) {
        if (st->counts[n] < 0 || st->counts[n] > st->totals[n])
            return rt_error(RT_ERR_ARG, "bleu: %lld matches of %lld %d-grams",
                            (long long)st->counts[n], (long long)st->totals[n], n + 1);
        any |= st->counts[n] != 0;
    }
    memset(out, 0, sizeof *out);
    out->stats = *st;
    out->ratio = st->ref_len ? (double)st->sys_len / (double)st->ref_len : 0.0;
    out->bp = 1.0;
    if (st->sys_len < st->ref_len)
        out->bp = st->sys_len > 0 ? exp(1 - (double)st->ref_len / (double)st->sys_len) : 0.0;
    if (!any) return RT_OK; /* sacrebleu's early stop: score and precisions 0 */
    double smooth = 1.0, logs = 0.0;
    for (int n = 0; n < RT_BLEU_ORDER; n++) {
        if (st->totals[n] == 0) break;
        if (st->counts[n] == 0) {
            smooth *= 2;
            out->precisions[n] = 100. / (smooth * (double)st->totals[n]);
        } else {
            out->precisions[n] = 100. * (double)st->counts[n] / (double)st->totals[n];
        }
    }
    for (int n = 0; n < RT_BLEU_ORDER; n++) logs += my_log(out->precisions[n]);
    out->score = out->bp * exp(logs / RT_BLEU_ORDER);
    return RT_OK;
}

/* ---- chrF ---- */

static rt_status chrf_check(const rt_chrf_options *o) {
    if (o->char_order < 0 || o->char_order > RT_CHRF_MAX_ORDER || o->word_order < 0 ||
        o->word_order > RT_CHRF_MAX_ORDER || o->char_order + o->word_order < 1 ||
        o->char_order + o->word_order > RT_CHRF_MAX_ORDER)
        return rt_error(RT_ERR_ARG, "chrf: char_order %d + word_order %d, expected 1..%d in all",
                        o->char_order, o->word_order, RT_CHRF_MAX_ORDER);
    if (o->beta < 0 || o->beta > 1000)
        return rt_error(RT_ERR_ARG, "chrf: beta %d, expected 0..1000", o->beta);
    return RT_OK;
}

/* CHRF._compute_f_score, operation for operation */
static double chrf_f(const rt_chrf_stats *s, const rt_chrf_options *o) {
    const double eps = 1e-16, factor = (double)o->beta * o->beta;
    const int order = o->char_order + o->word_order;
    double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
    int effective = 0;
    for (int i = 0; i < order; i++) {
        const double prec = s->hyp[i] > 0 ? (double)s->match[i] / (double)s->hyp[i] : eps;
        const double rec = s->ref[i] > 0 ? (double)s->match[i] / (double)s->ref[i] : eps;
        const double denom = factor * prec + rec;
        score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
        if (s->hyp[i] > 0 && s->ref[i] > 0) {
            avg_prec += prec;
            avg_rec += rec;
            effective++;
        }
    }
    if (o->eps_smoothing) return 100 * score / order;
    if (effective == 0) {
        avg_prec = avg_rec = 0.0;
    } else {
        avg_prec /= effective;
        avg_rec /= effective;
    }
    if (avg_prec + avg_rec == 0.0) return 0.0;
    score = (1 + factor) * avg_prec * avg_rec;
    score /= factor * avg_prec + avg_rec;
    return 100 * score;
}

rt_status rt_chrf_from_stats(const rt_chrf_stats *stats, const rt_chrf_options *opt,
                             double *score) {
    const rt_chrf_options o = opt ? *opt : RT_CHRF_DEFAULTS;
    RT_CALL(chrf_check(&o));
    for (int i = 0; i < o.char_order + o.word_order; i++)
        if (stats->hyp[i] < 0 || stats->ref[i] < 0 || stats->match[i] < 0)
            return rt_error(RT_ERR_ARG, "chrf: negative counts at order %d", i);
    *score = chrf_f(stats, &o);
    return RT_OK;
}

typedef struct {
    seg hyp, ref;
    ng_table tab;
} chrf_work;

/* a text's character tokens (s->t) and, for chrF++, its words (s->t2; s->work[0] scratch) */
static rt_status chrf_tokens(seg *s, const char *str, const rt_chrf_options *o) {
    static const toks none = {0};
    RT_CALL(utf8_clean(&s->text, str));
    RT_CALL(split_chars(&s->t, s->text.p, s->text.len, o->whitespace));
    toks scratch = none;
    rt_status st = RT_OK;
    if (o->word_order > 0) st = chrf_words(&s->t2, &scratch, s->text.p, s->text.len);
    free(scratch.v);
    return st;
}

/* the statistics of hypothesis w->hyp against one reference text */
static rt_status chrf_pair(chrf_work *w, const char *ref, const rt_chrf_options *o,
                           rt_chrf_stats *st) {
    const int C = o->char_order, W = o->word_order;
    RT_CALL(chrf_tokens(&w->ref, ref, o));
    ng_reset(&w->tab);
    memset(st, 0, sizeof *st);
    RT_CALL(ng_add_ref(&w->tab, &w->ref.t, C, 0, 1));
    ng_match_hyp(&w->tab, &w->hyp.t, C, 0, st->match);
    if (W > 0) {
        RT_CALL(ng_add_ref(&w->tab, &w->ref.t2, W, (uint32_t)C, 1));
        ng_match_hyp(&w->tab, &w->hyp.t2, W, (uint32_t)C, st->match + C);
    }
    for (int i = 0; i < C + W; i++) {
        const int n = i < C ? i + 1 : i - C + 1;
        const toks *h = i < C ? &w->hyp.t : &w->hyp.t2, *r = i < C ? &w->ref.t : &w->ref.t2;
        st->ref[i] = ngrams(r->n, n);
        st->hyp[i] = st->ref[i] > 0 ? ngrams(h->n, n) : 0; /* "hyp_count if ref_ngrams else 0" */
    }
    return RT_OK;
}

/* adds segment i's statistics (of its best reference) to acc */
static rt_status chrf_segment(chrf_work *w, const char *hyp, const char *const *const *refs,
                              int num_refs, int i, const rt_chrf_options *o, rt_chrf_stats *acc) {
    rt_chrf_stats st, best = {0};
    double best_f = -1.0;
    RT_CALL(chrf_tokens(&w->hyp, hyp, o));
    for (int k = 0; k < num_refs; k++) {
        if (!refs[k][i]) continue;
        RT_CALL(chrf_pair(w, refs[k][i], o, &st));
        const double f = chrf_f(&st, o);
        if (f > best_f) {
            best_f = f;
            best = st;
        }
    }
    for (int j = 0; j < o->char_order + o->word_order; j++) {
        acc->hyp[j] += best.hyp[j];
        acc->ref[j] += best.ref[j];
        acc->match[j] += best.match[j];
    }
    return RT_OK;
}

rt_status rt_chrf_corpus_multi(const char *const *hyps, const char *const *const *refs,
                               int num_refs, int n, const rt_chrf_options *opt,
                               rt_chrf_result *out) {
    const rt_chrf_options o = opt ? *opt : RT_CHRF_DEFAULTS;
    RT_CALL(chrf_check(&o));
    RT_CALL(check_pairs("chrf", hyps, refs, num_refs, n));
    rt_chrf_stats acc = {0};
    chrf_work w = {0};
    rt_status s = ng_init(&w.tab);
    for (int i = 0; s == RT_OK && i < n; i++)
        s = chrf_segment(&w, hyps[i], refs, num_refs, i, &o, &acc);
    seg_free(&w.hyp);
    seg_free(&w.ref);
    ng_free(&w.tab);
    if (s != RT_OK) return s;
    out->stats = acc;
    out->score = chrf_f(&acc, &o);
    return RT_OK;
}

rt_status rt_chrf_corpus(const char *const *hyps, const char *const *refs, int n,
                         const rt_chrf_options *opt, rt_chrf_result *out) {
    const char *const *streams[1] = {refs};
    return rt_chrf_corpus_multi(hyps, streams, 1, n, opt, out);
}

/* ---- ROUGE-L ---- */

/* the ASCII letter or digit that code point c lowercases to (str.lower()), or 0 */
static char rouge_char(uint32_t c) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return (char)c;
    if (c >= 'A' && c <= 'Z') return (char)(c - 'A' + 'a');
    if (c == 0x130) return 'i'; /* "i\u0307" */
    if (c == 0x212A) return 'k';
    return 0;
}

/* rouge-score's tokenize.tokenize without a stemmer: str.lower(), then the runs of [a-z0-9]
   (into s->t, spans of s->work[0]). Only two non-ASCII code points lowercase to anything with
   ASCII letters: U+0130 to "i" + U+0307 (which ends the run) and U+212A (Kelvin) to "k". */
static rt_status rouge_tokens(seg *s, const char *str) {
    RT_CALL(utf8_clean(&s->text, str));
    tbuf *b = &s->work[0];
    RT_CALL(tbuf_reserve(b, s->text.len + 1)); /* no code point gives more than one byte */
    s->t.n = 0;
    size_t i = 0, o = 0, start = 0;
    int in = 0;
    while (i <= s->text.len) {
        uint32_t c = 0;
        const size_t k = i < s->text.len ? cp_at(s->text.p, i, &c) : 1;
        const char ch = rouge_char(c);
        if (ch) {
            if (!in) in = 1, start = o;
            b->p[o++] = ch;
        }
        if (in && (!ch || c == 0x130)) { /* U+0307 follows the i */
            RT_CALL(toks_push(&s->t, b->p + start, o - start));
            in = 0;
        }
        i += k;
    }
    b->len = o;
    return RT_OK;
}

typedef struct {
    seg hyp, ref;
    ng_table tab;
    uint32_t *ids; /* the reference's token ids, then the hypothesis's */
    uint32_t *row; /* the LCS table's row over the shorter side */
    size_t ids_cap, row_cap;
} rouge_work;

static rt_status grow_u32(uint32_t **p, size_t *cap, size_t need) {
    if (need <= *cap) return RT_OK;
    uint32_t *q = realloc(*p, need * sizeof *q);
    if (!q) return rt_error(RT_ERR_MEMORY, "rouge: out of memory for %zu entries", need);
    *p = q;
    *cap = need;
    return RT_OK;
}

/* the length of the longest common subsequence of a[0..na) and b[0..nb), with one row of
   nb + 1 counters (b the shorter side) */
static uint32_t lcs_length(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                           uint32_t *row) {
    memset(row, 0, (nb + 1) * sizeof *row);
    for (size_t i = 0; i < na; i++) {
        uint32_t diag = 0; /* row[j - 1] of the previous row */
        for (size_t j = 1; j <= nb; j++) {
            const uint32_t up = row[j];
            row[j] = a[i] == b[j - 1] ? diag + 1 : (up > row[j - 1] ? up : row[j - 1]);
            diag = up;
        }
    }
    return row[nb];
}

/* tokens to ids: the reference's interned, a hypothesis token absent from it gets UINT32_MAX */
static rt_status rouge_ids(rouge_work *w) {
    const size_t nr = w->ref.t.n, nh = w->hyp.t.n;
    RT_CALL(grow_u32(&w->ids, &w->ids_cap, nr + nh));
    ng_reset(&w->tab);
    for (size_t i = 0; i < nr; i++) {
        const tok *t = &w->ref.t.v[i];
        ng_slot *s;
        RT_CALL(ng_insert(&w->tab, mix64(t->h), t, 1, 0, &s));
        w->ids[i] = s->id;
    }
    for (size_t i = 0; i < nh; i++) {
        const tok *t = &w->hyp.t.v[i];
        const ng_slot *s = ng_find(&w->tab, mix64(t->h), t, 1, 0);
        w->ids[nr + i] = s ? s->id : UINT32_MAX;
    }
    return RT_OK;
}

static rt_status rouge_pair(rouge_work *w, const char *hyp, const char *ref, rt_rouge_score *out) {
    *out = (rt_rouge_score){0, 0, 0};
    RT_CALL(rouge_tokens(&w->hyp, hyp));
    RT_CALL(rouge_tokens(&w->ref, ref));
    const size_t nr = w->ref.t.n, nh = w->hyp.t.n;
    if (!nr || !nh) return RT_OK;
    RT_CALL(rouge_ids(w));
    const size_t shorter = nr < nh ? nr : nh;
    RT_CALL(grow_u32(&w->row, &w->row_cap, shorter + 1));
    const uint32_t l = nr <= nh ? lcs_length(w->ids + nr, nh, w->ids, nr, w->row)
                                : lcs_length(w->ids, nr, w->ids + nr, nh, w->row);
    out->precision = (double)l / (double)nh;
    out->recall = (double)l / (double)nr;
    const double p = out->precision, r = out->recall;
    out->fmeasure = p + r > 0 ? 2 * p * r / (p + r) : 0.0; /* scoring.fmeasure */
    return RT_OK;
}

static void rouge_work_free(rouge_work *w) {
    seg_free(&w->hyp);
    seg_free(&w->ref);
    ng_free(&w->tab);
    free(w->ids);
    free(w->row);
}

rt_status rt_rouge_l_pair(const char *hyp, const char *ref, rt_rouge_score *out) {
    if (!hyp || !ref)
        return rt_error(RT_ERR_ARG, "rouge: a NULL %s", hyp ? "reference" : "hypothesis");
    rouge_work w = {0};
    rt_status s = ng_init(&w.tab);
    if (s == RT_OK) s = rouge_pair(&w, hyp, ref, out);
    rouge_work_free(&w);
    return s;
}

rt_status rt_rouge_l(const char *const *hyps, const char *const *refs, int n,
                     rt_rouge_score *per_pair, rt_rouge_score *mean) {
    const char *const *streams[1] = {refs};
    RT_CALL(check_pairs("rouge", hyps, streams, 1, n));
    rouge_work w = {0};
    rt_rouge_score sum = {0, 0, 0}, one;
    rt_status s = ng_init(&w.tab);
    for (int i = 0; s == RT_OK && i < n; i++) {
        s = rouge_pair(&w, hyps[i], refs[i], &one);
        sum.precision += one.precision;
        sum.recall += one.recall;
        sum.fmeasure += one.fmeasure;
        if (per_pair) per_pair[i] = one;
    }
    rouge_work_free(&w);
    if (s != RT_OK) return s;
    *mean = sum;
    if (n > 0) {
        mean->precision /= n;
        mean->recall /= n;
        mean->fmeasure /= n;
    }
    return RT_OK;
}

/* ---- exact match ---- */

rt_status rt_exact_match(const char *const *hyps, const char *const *refs, int n, int64_t *matches,
                         double *fraction) {
    const char *const *streams[1] = {refs};
    RT_CALL(check_pairs("exact match", hyps, streams, 1, n));
    tbuf a = {0}, b = {0};
    int64_t m = 0;
    rt_status s = RT_OK;
    for (int i = 0; s == RT_OK && i < n; i++) {
        size_t alo, ahi, blo, bhi;
        if ((s = utf8_clean(&a, hyps[i])) != RT_OK || (s = utf8_clean(&b, refs[i])) != RT_OK) break;
        strip(a.p, a.len, 1, &alo, &ahi);
        strip(b.p, b.len, 1, &blo, &bhi);
        m += ahi - alo == bhi - blo && memcmp(a.p + alo, b.p + blo, ahi - alo) == 0;
    }
    free(a.p);
    free(b.p);
    if (s != RT_OK) return s;
    if (matches) *matches = m;
    *fraction = n > 0 ? (double)m / (double)n : 0.0;
    return RT_OK;
}
