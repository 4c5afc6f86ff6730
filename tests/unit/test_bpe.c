/* GPT-2 byte-level BPE against Hugging Face: every fixture of tests/fixtures/tokenizer (made by
   gen_tokenizer_fixtures.py with transformers' GPT2TokenizerFast) gives the same ids, the 4 MB
   text the same count and id hash, every code point the same pre-tokenizer class; decode inverts
   encode; invalid UTF-8 is an error naming the place or is replaced as Python does; malformed
   vocab.json / merges.txt are errors naming the file; threads with their own scratch agree. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <omp.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "bpe.h"
#include "fsutil.h"
#include "text.h"

/* Test hook in bpe.c (not part of bpe.h): the number of pre-tokenization chunks of a text. */
int rt_bpe_test_count_chunks(const rt_bpe *t, rt_bpe_scratch *s, const char *text, size_t len);

#define FIXTURE RT_FIXTURES "/tokenizer/gpt2_cases.json"
#define VOCAB RT_GPT2_TOKENIZER "/vocab.json"
#define MERGES RT_GPT2_TOKENIZER "/merges.txt"

static rt_bpe *tok; /* the real GPT-2 tokenizer, loaded once in main */
static json_t *fix; /* the fixture */

/* ---- helpers ---- */

typedef struct {
    int32_t *ids;
    size_t n, cap;
} idvec;

static rt_status enc(rt_bpe_scratch *s, const char *text, size_t len, int special, idvec *v,
                     size_t *n_replaced, int replace) {
    rt_bpe_encode_opts o = {special, replace, "fixture", 1};
    return rt_bpe_encode(tok, s, text, len, &o, &v->ids, &v->n, &v->cap, n_replaced);
}

static void sha256_hex(const void *p, size_t n, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ck_assert(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) == 1 && len == 32);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void ids_sha256(const int32_t *ids, size_t n, char out[65]) {
    unsigned char *le = malloc(4 * n + 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)ids[i];
        for (int b = 0; b < 4; b++) le[4 * i + b] = (unsigned char)(u >> (8 * b));
    }
    sha256_hex(le, 4 * n, out);
    free(le);
}

static char *hex_decode(const char *hex, size_t *n) {
    size_t l = strlen(hex);
    char *b = malloc(l / 2 + 1);
    for (size_t i = 0; i < l / 2; i++) {
        unsigned v;
        ck_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
        b[i] = (char)v;
    }
    *n = l / 2;
    return b;
}

/* The text of a fixture case: "text", or prefix + unit * count + suffix. Caller frees. */
static char *case_text(json_t *c, size_t *n) {
    json_t *t = json_object_get(c, "text");
    if (t) {
        *n = json_string_length(t);
        char *b = malloc(*n + 1);
        memcpy(b, json_string_value(t), *n);
        return b;
    }
    const char *pre = json_string_value(json_object_get(c, "prefix"));
    const char *unit = json_string_value(json_object_get(c, "unit"));
    const char *suf = json_string_value(json_object_get(c, "suffix"));
    size_t count = (size_t)json_integer_value(json_object_get(c, "count"));
    size_t lp = strlen(pre), lu = strlen(unit), ls = strlen(suf);
    *n = lp + lu * count + ls;
    char *b = malloc(*n + 1), *d = b;
    memcpy(d, pre, lp);
    d += lp;
    for (size_t i = 0; i < count; i++, d += lu) memcpy(d, unit, lu);
    memcpy(d, suf, ls);
    return b;
}

static int32_t *json_ids(json_t *a, size_t *n) {
    *n = json_array_size(a);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return v;
}

/* 1 when got == want; else prints the first difference and returns 0. */
static int same_ids(const char *what, const int32_t *got, size_t ng, const int32_t *want,
                    size_t nw) {
    size_t i = 0;
    while (i < ng && i < nw && got[i] == want[i]) i++;
    if (i == ng && i == nw) return 1;
    printf("MISMATCH %s: %zu ids, expected %zu; first difference at %zu: got %d, expected %d\n",
           what, ng, nw, i, i < ng ? got[i] : -1, i < nw ? want[i] : -1);
    return 0;
}

static void short_repr(const char *t, size_t n, char *out, size_t cap) {
    size_t j = 0;
    for (size_t i = 0; i < n && j + 8 < cap; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[j++] = (char)c;
        else
            j += (size_t)snprintf(out + j, cap - j, "\\x%02x", c);
    }
    out[j] = 0;
}

/* ---- tests against the real tokenizer ---- */

START_TEST(test_hello_world) {
    rt_bpe_scratch *s;
    ck_assert_int_eq(rt_bpe_scratch_create(&s), RT_OK);
    idvec v = {0};
    ck_assert_int_eq(enc(s, "Hello world", 11, 0, &v, NULL, 0), RT_OK);
    ck_assert_int_eq(v.n, 2);
    ck_assert_int_eq(v.ids[0], 15496);
    ck_assert_int_eq(v.ids[1], 995);
    /* appends */
    ck_assert_int_eq(enc(s, " Hello world", 12, 0, &v, NULL, 0), RT_OK);
    ck_assert_int_eq(v.n, 4);
    ck_assert_int_eq(v.ids[2], 18435);
    ck_assert_int_eq(v.ids[3], 995);
    ck_assert_int_eq(rt_bpe_vocab_size(tok), 50257);
    ck_assert_int_eq(rt_bpe_eos_id(tok), 50256);
    free(v.ids);
    rt_bpe_scratch_destroy(&s);
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_sha256) {
    const char *want = json_string_value(json_object_get(fix, "sha256"));
    ck_assert_str_eq(rt_bpe_sha256(tok), want);
    /* and independently of the fixture: the two files hashed here */
    char *a, *b;
    size_t na, nb;
    ck_assert_int_eq(rt_fs_read_file(VOCAB, &a, &na), RT_OK);
    ck_assert_int_eq(rt_fs_read_file(MERGES, &b, &nb), RT_OK);
    char *ab = malloc(na + nb);
    memcpy(ab, a, na);
    memcpy(ab + na, b, nb);
    char hex[65];
    sha256_hex(ab, na + nb, hex);
    ck_assert_str_eq(rt_bpe_sha256(tok), hex);
    free(a);
    free(b);
    free(ab);
}
END_TEST

START_TEST(test_fixture_cases) {
    json_t *cases = json_object_get(fix, "cases");
    ck_assert_int_gt(json_array_size(cases), 150);
    rt_bpe_scratch *s;
    ck_assert_int_eq(rt_bpe_scratch_create(&s), RT_OK);
    size_t checked = 0, bad = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        size_t len, nw, nws = 0;
        char *text = case_text(c, &len);
        int32_t *want = json_ids(json_object_get(c, "ids"), &nw);
        json_t *sp = json_object_get(c, "ids_special");
        int32_t *want_sp = sp ? json_ids(sp, &nws) : NULL;
        for (int special = 0; special < 2; special++) {
            idvec v = {0};
            ck_assert_int_eq(enc(s, text, len, special, &v, NULL, 0), RT_OK);
            char what[200], rep[120];
            short_repr(text, len < 40 ? len : 40, rep, sizeof rep);
            snprintf(what, sizeof what, "case %zu (%s, allow_special %d) \"%s\"", i,
                     json_string_value(json_object_get(c, "group")), special, rep);
            if (special && want_sp)
                bad += !same_ids(what, v.ids, v.n, want_sp, nws);
            else
                bad += !same_ids(what, v.ids, v.n, want, nw);
            checked++;
            /* decode(encode(x)) == x */
            char *out = NULL;
            size_t ol = 0, oc = 0;
            ck_assert_int_eq(rt_bpe_decode(tok, v.ids, v.n, &out, &ol, &oc), RT_OK);
            ck_assert_msg(ol == len && (!len || !memcmp(out, text, len)), "round trip of %s", what);
            free(out);
            free(v.ids);
        }
        free(text);
        free(want);
        free(want_sp);
    }
    printf("fixture cases: %zu encodings of %zu texts checked, %zu mismatches\n", checked,
           json_array_size(cases), bad);
    ck_assert_int_eq(bad, 0);
    rt_bpe_scratch_destroy(&s);
}
END_TEST

/* Rebuilds the fixture's big text (see gen_tokenizer_fixtures.py big_text). */
static char *big_text(size_t *n) {
    json_t *big = json_object_get(fix, "big");
    json_t *files = json_object_get(big, "files");
    char *base = NULL;
    size_t bl = 0;
    for (size_t i = 0; i < json_array_size(files); i++) {
        char path[1024], *b;
        size_t l;
        snprintf(path, sizeof path, "%s/%s", RT_SOURCE_DIR,
                 json_string_value(json_array_get(files, i)));
        ck_assert_msg(rt_fs_read_file(path, &b, &l) == RT_OK, "%s", rt_error_message());
        char fh[65];
        sha256_hex(b, l, fh);
        ck_assert_msg(
            !strcmp(fh, json_string_value(json_array_get(json_object_get(big, "files_sha256"), i))),
            "%s changed since the fixture was made: rerun "
            "tests/fixtures/gen_tokenizer_fixtures.py",
            path);
        base = realloc(base, bl + l + 1);
        memcpy(base + bl, b, l);
        bl += l;
        free(b);
    }
    char hex[65];
    sha256_hex(base, bl, hex);
    ck_assert_msg(!strcmp(hex, json_string_value(json_object_get(big, "base_sha256"))),
                  "cli/demo/*.txt changed since the fixture was made: rerun "
                  "tests/fixtures/gen_tokenizer_fixtures.py");
    size_t target = (size_t)json_integer_value(json_object_get(big, "target"));
    size_t every = (size_t)json_integer_value(json_object_get(big, "every"));
    json_t *snip = json_object_get(big, "snippets");
    size_t ns = json_array_size(snip), cap = target + bl + 4096, len = 0, k = 0;
    char *out = malloc(cap);
    while (len < target) {
        for (size_t pos = 0; pos < bl;) {
            const char *nl = memchr(base + pos, '\n', bl - pos);
            size_t ll = nl ? (size_t)(nl - (base + pos)) + 1 : bl - pos;
            if (len + ll + 64 > cap) out = realloc(out, cap *= 2);
            memcpy(out + len, base + pos, ll);
            len += ll;
            pos += ll;
            if (k % every == 0) {
                json_t *sn = json_array_get(snip, (k / every) % ns);
                memcpy(out + len, json_string_value(sn), json_string_length(sn));
                len += json_string_length(sn);
            }
            k++;
        }
    }
    free(base);
    ck_assert_int_eq(len, json_integer_value(json_object_get(big, "n_bytes")));
    sha256_hex(out, len, hex);
    ck_assert_str_eq(hex, json_string_value(json_object_get(big, "text_sha256")));
    *n = len;
    return out;
}

START_TEST(test_big_text) {
    json_t *big = json_object_get(fix, "big");
    size_t len;
    char *text = big_text(&len);
    rt_bpe_scratch *s;
    ck_assert_int_eq(rt_bpe_scratch_create(&s), RT_OK);
    for (int special = 0; special < 2; special++) {
        idvec v = {0};
        ck_assert_int_eq(enc(s, text, len, special, &v, NULL, 0), RT_OK);
        char hex[65];
        ids_sha256(v.ids, v.n, hex);
        const char *kn = special ? "n_ids_special" : "n_ids";
        const char *kh = special ? "ids_special_sha256" : "ids_sha256";
        printf("big text: %zu bytes, allow_special %d: %zu ids (HF %lld), sha256 %s\n", len,
               special, v.n, (long long)json_integer_value(json_object_get(big, kn)), hex);
        ck_assert_int_eq(v.n, json_integer_value(json_object_get(big, kn)));
        ck_assert_str_eq(hex, json_string_value(json_object_get(big, kh)));
        /* again with the now warm cache */
        idvec w = {0};
        ck_assert_int_eq(enc(s, text, len, special, &w, NULL, 0), RT_OK);
        ck_assert(same_ids("big text, warm cache", w.ids, w.n, v.ids, v.n));
        char *out = NULL;
        size_t ol = 0, oc = 0;
        ck_assert_int_eq(rt_bpe_decode(tok, v.ids, v.n, &out, &ol, &oc), RT_OK);
        ck_assert(ol == len && !memcmp(out, text, len));
        free(out);
        free(v.ids);
        free(w.ids);
    }
    rt_bpe_scratch_destroy(&s);
    free(text);
}
END_TEST

START_TEST(test_invalid_utf8_error) {
    rt_bpe_scratch *s;
    ck_assert_int_eq(rt_bpe_scratch_create(&s), RT_OK);
    const char text[] = "first line\nsecond \xff line\n";
    idvec v = {0};
    ck_assert_int_eq(enc(s, "ok", 2, 0, &v, NULL, 0), RT_OK);
    size_t n0 = v.n;
    rt_bpe_encode_opts o = {0, 0, "corpus.txt", 12};
    ck_assert_int_eq(rt_bpe_encode(tok, s, text, sizeof text - 1, &o, &v.ids, &v.n, &v.cap, NULL),
                     RT_ERR_FORMAT);
    ck_assert_msg(strstr(rt_error_message(),
                         "corpus.txt:13: invalid UTF-8 at byte offset 18 (byte 0xff)") != NULL,
                  "%s", rt_error_message());
    ck_assert_int_eq(v.n, n0); /* nothing appended */
    /* line unknown, no source */
    rt_bpe_encode_opts o2 = {0, 0, NULL, 0};
    const char t2[] = "ab\xe0\x80";
    ck_assert_int_eq(rt_bpe_encode(tok, s, t2, 4, &o2, &v.ids, &v.n, &v.cap, NULL), RT_ERR_FORMAT);
    ck_assert_msg(strstr(rt_error_message(), "invalid UTF-8 at byte offset 2 (byte 0xe0)"), "%s",
                  rt_error_message());
    /* every invalid fixture is refused */
    json_t *inv = json_object_get(fix, "invalid");
    for (size_t i = 0; i < json_array_size(inv); i++) {
        size_t n;
        char *b = hex_decode(json_string_value(json_object_get(json_array_get(inv, i), "hex")), &n);
        ck_assert_int_eq(enc(s, b, n, 0, &v, NULL, 0), RT_ERR_FORMAT);
        free(b);
    }
    free(v.ids);
    rt_bpe_scratch_destroy(&s);
}
END_TEST

START_TEST(test_invalid_utf8_replace) {
    rt_bpe_scratch *s;
    ck_assert_int_eq(rt_bpe_scratch_create(&s), RT_OK);
    json_t *inv = json_object_get(fix, "invalid");
    ck_assert_int_gt(json_array_size(inv), 10);
    size_t bad = 0;
    for (size_t i = 0; i < json_array_size(inv); i++) {
        json_t *c = json_array_get(inv, i);
        size_t n, nw, nws = 0;
        char *b = hex_decode(json_string_value(json_object_get(c, "hex")), &n);
        int32_t *want = json_ids(json_object_get(c, "ids"), &nw);
        json_t *sp = json_object_get(c, "ids_special");
        int32_t *want_sp = sp ? json_ids(sp, &nws) : NULL;
        json_t *dec = json_object_get(c, "decoded");
        for (int special = 0; special < 2; special++) {
            idvec v = {0};
            size_t r = 99;
            ck_assert_int_eq(enc(s, b, n, special, &v, &r, 1), RT_OK);
            char what[64];
            snprintf(what, sizeof what, "invalid case %zu, allow_special %d", i, special);
            if (special && want_sp)
                bad += !same_ids(what, v.ids, v.n, want_sp, nws);
            else
                bad += !same_ids(what, v.ids, v.n, want, nw);
            ck_assert_int_eq(r, json_integer_value(json_object_get(c, "n_replaced")));
            char *out = NULL;
            size_t ol = 0, oc = 0;
            ck_assert_int_eq(rt_bpe_decode(tok, v.ids, v.n, &out, &ol, &oc), RT_OK);
            ck_assert_msg(ol == json_string_length(dec) && !memcmp(out, json_string_value(dec), ol),
                          "%s: decoded text differs from Python's errors='replace'", what);
            free(out);
            free(v.ids);
        }
        free(b);
        free(want);
        free(want_sp);
    }
    printf("invalid UTF-8 cases: %zu, %zu mismatches\n", json_array_size(inv), bad);
    ck_assert_int_eq(bad, 0);
    /* valid text: no replacements counted */
    idvec v = {0};
    size_t r = 99;
    ck_assert_int_eq(enc(s, "fine \xef\xbf\xbd", 8, 0, &v, &r, 1), RT_OK);
    ck_assert_int_eq(r, 0);
    free(v.ids);
    rt_bpe_scratch_destroy(&s);
}
END_TEST

/* Every code point gets HF's pre-tokenizer class: L, N, S (whitespace) or P (other), found the
   way the generator found it: which of "a"+c, "1"+c, "!"+c, "\t"+c is a single chunk. */
START_TEST(test_code_point_classes) {
    json_t *runs = json_object_get(fix, "classes");
    ck_assert_int_gt(json_array_size(runs), 1000);
    rt_bpe_scratch *s;
    ck_assert_int_eq(rt_bpe_scratch_create(&s), RT_OK);
    size_t r = 0, bad = 0, checked = 0;
    char want = 0;
    static const char probe_first[4] = {'a', '1', '!', '\t'};
    static const char probe_class[4] = {'L', 'N', 'P', 'S'};
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (r < json_array_size(runs) &&
            (uint32_t)json_integer_value(json_array_get(json_array_get(runs, r), 0)) == cp) {
            want = json_string_value(json_array_get(json_array_get(runs, r), 1))[0];
            r++;
        }
        if (want == 'x') continue;
        char b[8];
        int k = rt_utf8_put(cp, b + 1);
        char got = '?';
        for (int j = 0; j < 4 && got == '?'; j++) {
            b[0] = probe_first[j];
            int nc = rt_bpe_test_count_chunks(tok, s, b, (size_t)k + 1);
            ck_assert_int_gt(nc, 0);
            if (nc == 1) got = probe_class[j];
        }
        checked++;
        if (got != want && bad++ < 10)
            printf("MISMATCH code point U+%04X: class %c, Hugging Face %c\n", cp, got, want);
    }
    printf("code point classes: %zu checked, %zu differ from Hugging Face\n", checked, bad);
    ck_assert_int_eq(bad, 0);
    rt_bpe_scratch_destroy(&s);
}
END_TEST

/* Two OpenMP threads, each with its own scratch, encode different texts at the same time and
   get what one thread got serially. The long texts: every case text, concatenated over and over
   (about 2 MB each, different orders), so both caches see many distinct chunks. */
static char *cases_text(json_t *cases, int reverse, size_t *len) {
    size_t nc = json_array_size(cases), cap = 1 << 22, n = 0;
    char *out = malloc(cap);
    while (n < (2u << 20)) {
        for (size_t k = 0; k < nc; k++) {
            size_t tl;
            char *t = case_text(json_array_get(cases, reverse ? nc - 1 - k : k), &tl);
            if (n + tl + 1 > cap) out = realloc(out, cap *= 2);
            memcpy(out + n, t, tl);
            n += tl;
            out[n++] = '\n';
            free(t);
        }
    }
    *len = n;
    return out;
}

START_TEST(test_threads) {
    json_t *cases = json_object_get(fix, "cases");
    size_t nc = json_array_size(cases);
    char *part[2];
    size_t plen[2];
    for (int i = 0; i < 2; i++) part[i] = cases_text(cases, i, &plen[i]);
    idvec ref[2] = {{0}};
    rt_bpe_scratch *s0;
    ck_assert_int_eq(rt_bpe_scratch_create(&s0), RT_OK);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(enc(s0, part[i], plen[i], i, &ref[i], NULL, 0), RT_OK);
    rt_bpe_scratch_destroy(&s0);
    int fail[2] = {0, 0};
    int nthreads = 0;
#pragma omp parallel num_threads(2)
    {
        int me = omp_get_thread_num();
#pragma omp single
        nthreads = omp_get_num_threads();
        rt_bpe_scratch *s = NULL;
        if (rt_bpe_scratch_create(&s) != RT_OK) fail[me] = 1;
        for (int rep = 0; rep < 2 && !fail[me]; rep++) {
            idvec v = {0};
            /* thread 0: forward order without specials; thread 1: reversed with */
            if (enc(s, part[me], plen[me], me, &v, NULL, 0) != RT_OK ||
                !same_ids("thread", v.ids, v.n, ref[me].ids, ref[me].n))
                fail[me] = 2;
            free(v.ids);
            /* then the cases one by one, each thread its own parity */
            for (size_t i = (size_t)me; i < nc && !fail[me]; i += 2) {
                json_t *c = json_array_get(cases, i);
                size_t tl, nw;
                char *t = case_text(c, &tl);
                int32_t *want = json_ids(json_object_get(c, "ids"), &nw);
                idvec w = {0};
                if (enc(s, t, tl, 0, &w, NULL, 0) != RT_OK ||
                    !same_ids("thread case", w.ids, w.n, want, nw))
                    fail[me] = 3;
                free(w.ids);
                free(t);
                free(want);
            }
        }
        rt_bpe_scratch_destroy(&s);
    }
    printf("threads: %d, %zu + %zu bytes, failures %d %d\n", nthreads, plen[0], plen[1], fail[0],
           fail[1]);
    ck_assert_int_eq(nthreads, 2);
    ck_assert_int_eq(fail[0], 0);
    ck_assert_int_eq(fail[1], 0);
    for (int i = 0; i < 2; i++) {
        free(ref[i].ids);
        free(part[i]);
    }
}
END_TEST

START_TEST(test_long_inputs) {
    rt_bpe_scratch *s;
    ck_assert_int_eq(rt_bpe_scratch_create(&s), RT_OK);
    const size_t n = 1 << 20;
    char *t = malloc(n);
    const char fill[] = {' ', 'a', '7', '\n', '!'};
    for (size_t f = 0; f < sizeof fill; f++) {
        memset(t, fill[f], n);
        idvec v = {0};
        ck_assert_msg(enc(s, t, n, 0, &v, NULL, 0) == RT_OK, "%s", rt_error_message());
        ck_assert_int_gt(v.n, 0);
        char *out = NULL;
        size_t ol = 0, oc = 0;
        ck_assert_int_eq(rt_bpe_decode(tok, v.ids, v.n, &out, &ol, &oc), RT_OK);
        ck_assert(ol == n && !memcmp(out, t, n));
        free(out);
        free(v.ids);
    }
    free(t);
    rt_bpe_scratch_destroy(&s);
}
END_TEST

START_TEST(test_decode_errors) {
    char *out = NULL;
    size_t ol = 0, oc = 0;
    int32_t ids[3] = {15496, 50257, 995};
    ck_assert_int_eq(rt_bpe_decode(tok, ids, 3, &out, &ol, &oc), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "id 50257 at position 1"), "%s", rt_error_message());
    ck_assert_int_eq(ol, 0);
    ids[1] = -1;
    ck_assert_int_eq(rt_bpe_decode(tok, ids, 3, &out, &ol, &oc), RT_ERR_ARG);
    int32_t eos = 50256;
    ck_assert_int_eq(rt_bpe_decode(tok, &eos, 1, &out, &ol, &oc), RT_OK);
    ck_assert(ol == 13 && !memcmp(out, "<|endoftext|>", 13));
    free(out);
}
END_TEST

/* ---- small tokenizers written by the tests ---- */

static char tmpdir[256];

static void tmp_setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rt_test_bpe_XXXXXX");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void tmp_teardown(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text, char *path) {
    snprintf(path, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* vocab.json with the 256 byte tokens (ids 0..255, GPT-2's byte map), then extra tokens. */
static char *byte_vocab(const char *extra) {
    size_t cap = 8192 + strlen(extra), len = 0;
    char *v = malloc(cap);
    len += (size_t)snprintf(v, cap, "{");
    int nonprint = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        uint32_t cp = printable ? (uint32_t)b : (uint32_t)(256 + nonprint++);
        if (cp == '"' || cp == '\\')
            len += (size_t)snprintf(v + len, cap - len, "\"\\%c\": %d, ", (char)cp, b);
        else
            len += (size_t)snprintf(v + len, cap - len, "\"\\u%04x\": %d, ", cp, b);
    }
    snprintf(v + len, cap - len, "%s}", extra);
    return v;
}

static rt_status load_pair(const char *vocab, const char *merges, rt_bpe **t, char *vp, char *mp) {
    write_file("vocab.json", vocab, vp);
    write_file("merges.txt", merges, mp);
    return rt_bpe_load(t, vp, mp);
}

START_TEST(test_small_tokenizer) {
    char vp[512], mp[512];
    char *v = byte_vocab("\"ab\": 256, \"abc\": 257, \"\\u0120ab\": 258, \"<|endoftext|>\": 259");
    rt_bpe *t = NULL;
    ck_assert_msg(load_pair(v, "#version: 0.2\na b\r\nab c\n\u0120 ab", &t, vp, mp) == RT_OK, "%s",
                  rt_error_message());
    ck_assert_int_eq(rt_bpe_vocab_size(t), 260);
    ck_assert_int_eq(rt_bpe_eos_id(t), 259);
    ck_assert_int_eq(strlen(rt_bpe_sha256(t)), 64);
    rt_bpe_scratch *s;
    ck_assert_int_eq(rt_bpe_scratch_create(&s), RT_OK);
    idvec x = {0};
    /* the scratch serves the real tokenizer first, then this one: its cache must not leak */
    ck_assert_int_eq(enc(s, "abc abc ab", 10, 0, &x, NULL, 0), RT_OK);
    x.n = 0;
    rt_bpe_encode_opts o = {1, 0, NULL, 0};
    ck_assert_int_eq(
        rt_bpe_encode(t, s, "abc abc ab<|endoftext|>", 23, &o, &x.ids, &x.n, &x.cap, NULL), RT_OK);
    /* "abc" | " abc": a b -> ab (rank 0), ab c -> abc (1); the queued (Ġ, ab) of rank 2 is
       stale once ab became abc, so Ġ stays apart | " ab" -> Ġab | eos. Byte b has id b. */
    int32_t want[] = {257, ' ', 257, 258, 259};
    ck_assert(same_ids("small tokenizer", x.ids, x.n, want, 5));
    free(x.ids);
    rt_bpe_scratch_destroy(&s);
    rt_bpe_destroy(&t);
    ck_assert_ptr_null(t);
    free(v);
}
END_TEST

static void expect_load_error(const char *vocab, const char *merges, rt_status st, const char *file,
                              const char *frag) {
    char vp[512], mp[512];
    rt_bpe *t = (rt_bpe *)1;
    ck_assert_int_eq(load_pair(vocab, merges, &t, vp, mp), st);
    ck_assert_ptr_null(t);
    const char *m = rt_error_message();
    const char *path = !strcmp(file, "vocab.json") ? vp : mp;
    ck_assert_msg(strstr(m, path) != NULL, "message does not name %s: %s", path, m);
    ck_assert_msg(strstr(m, frag) != NULL, "message lacks \"%s\": %s", frag, m);
}

START_TEST(test_malformed_files) {
    char *v = byte_vocab("\"ab\": 256");
    const char *m = "#version: 0.2\na b\n";
    expect_load_error("{\"a\": 1,", m, RT_ERR_FORMAT, "vocab.json", "not valid JSON");
    expect_load_error("[1, 2]", m, RT_ERR_FORMAT, "vocab.json", "top level");
    expect_load_error("{\"a\": \"x\"}", m, RT_ERR_FORMAT, "vocab.json", "token \"a\"");
    expect_load_error("{\"a\": -3}", m, RT_ERR_FORMAT, "vocab.json", "token \"a\"");
    expect_load_error("{\"a\": 1, \"a\": 2}", m, RT_ERR_FORMAT, "vocab.json", "duplicate");
    expect_load_error("{}", m, RT_ERR_FORMAT, "vocab.json", "empty");
    expect_load_error("{\"a\": 1, \"b\": 1}", m, RT_ERR_FORMAT, "vocab.json", "id 1");
    /* one stray huge id must not allocate dense tables of gigabytes (found by fuzz_vocab) */
    expect_load_error("{\"a\": 0, \"b\": 2000000000}", m, RT_ERR_FORMAT, "vocab.json",
                      "token id 2000000000 is too large");
    expect_load_error("{\"a\": 0, \"b\": 1}", m, RT_ERR_FORMAT, "vocab.json", "byte 0x");
    expect_load_error(v, "#version: 0.2\na b c\n", RT_ERR_FORMAT, "merges.txt", "merges.txt:2:");
    expect_load_error(v, "#version: 0.2\na b\nab\n", RT_ERR_FORMAT, "merges.txt", "merges.txt:3:");
    expect_load_error(v, "a b\n\n", RT_ERR_FORMAT, "merges.txt", "merges.txt:2:");
    expect_load_error(v, "a  b\n", RT_ERR_FORMAT, "merges.txt", "merges.txt:1:");
    expect_load_error(v, "#version: 0.2\na b\nb c\n", RT_ERR_FORMAT, "merges.txt",
                      "merges.txt:3: token \"bc\"");
    expect_load_error(v, "#version: 0.2\nzz b\n", RT_ERR_FORMAT, "merges.txt",
                      "merges.txt:2: token \"zz\"");
    /* missing files */
    char vp[512], mp[512];
    write_file("vocab.json", v, vp);
    snprintf(mp, sizeof mp, "%s/nope.txt", tmpdir);
    rt_bpe *t = NULL;
    ck_assert_int_eq(rt_bpe_load(&t, vp, mp), RT_ERR_IO);
    ck_assert_msg(strstr(rt_error_message(), "nope.txt"), "%s", rt_error_message());
    free(v);
}
END_TEST

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* a failing test's child exits without flushing */
    json_error_t jerr;
    fix = json_load_file(FIXTURE, JSON_ALLOW_NUL, &jerr);
    if (!fix) {
        fprintf(stderr, "%s:%d: %s\n", FIXTURE, jerr.line, jerr.text);
        return 1;
    }
    if (rt_bpe_load(&tok, VOCAB, MERGES) != RT_OK) {
        fprintf(stderr, "%s\n", rt_error_message());
        return 1;
    }
    Suite *s = suite_create("bpe");
    TCase *tc = tcase_create("gpt2");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_hello_world);
    tcase_add_test(tc, test_sha256);
    tcase_add_test(tc, test_fixture_cases);
    tcase_add_test(tc, test_big_text);
    tcase_add_test(tc, test_invalid_utf8_error);
    tcase_add_test(tc, test_invalid_utf8_replace);
    tcase_add_test(tc, test_code_point_classes);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_long_inputs);
    tcase_add_test(tc, test_decode_errors);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("files");
    tcase_add_checked_fixture(tf, tmp_setup, tmp_teardown);
    tcase_add_test(tf, test_small_tokenizer);
    tcase_add_test(tf, test_malformed_files);
    suite_add_tcase(s, tf);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    rt_bpe_destroy(&tok);
    json_decref(fix);
    return nf ? 1 : 0;
}
