/* T5's SentencePiece unigram tokenizer (io/spm.c) against PyPI sentencepiece and Hugging Face's
   T5TokenizerFast: every fixture of tests/fixtures/tokenizer/t5_cases.json (made by
   gen_spm_fixtures.py) gives sentencepiece's ids, and with added tokens recognised
   T5TokenizerFast's wherever the two agree (the disagreements are listed); every code point's
   block normalizes and encodes as sentencepiece does; decode gives sentencepiece's text; malformed
   spiece.model and tokenizer.json files are errors naming the file and field; a speed figure. */
#include <check.h>
#include <jansson.h>
#include <omp.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "fsutil.h"
#include "sentencepiece_model.pb-c.h"
#include "spm.h"
#include "text.h"

#define FIXTURE RT_FIXTURES "/tokenizer/t5_cases.json"
#define MODEL RT_T5_TOKENIZER "/spiece.model"
#define TOKJSON RT_T5_TOKENIZER "/tokenizer.json"

static rt_spm *tok; /* the real T5 tokenizer (with tokenizer.json), loaded once in main */
static json_t *fix;

typedef struct {
    int32_t *ids;
    size_t n, cap;
} idvec;

static void enc(const char *text, size_t len, int special, int eos, idvec *v) {
    v->n = 0;
    rt_spm_encode_opts o = {eos, special};
    rt_status s = rt_spm_encode(tok, text, len, &o, &v->ids, &v->n, &v->cap);
    ck_assert_msg(s == RT_OK, "%s", rt_error_message());
}

static int same_ids(const idvec *v, json_t *want) {
    if (json_array_size(want) != v->n) return 0;
    for (size_t i = 0; i < v->n; i++)
        if (json_integer_value(json_array_get(want, i)) != v->ids[i]) return 0;
    return 1;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    printf("    %s:", label);
    for (size_t i = 0; i < n && i < 24; i++) printf(" %d", ids[i]);
    printf("%s\n", n > 24 ? " ..." : "");
}

static void print_json_ids(const char *label, json_t *a) {
    printf("    %s:", label);
    for (size_t i = 0; i < json_array_size(a) && i < 24; i++)
        printf(" %lld", (long long)json_integer_value(json_array_get(a, i)));
    printf("%s\n", json_array_size(a) > 24 ? " ..." : "");
}

/* The text of a case: "text", or prefix + unit * count + suffix (NUL-terminated for printing;
   it may hold NULs). Caller frees. */
static char *case_text(json_t *c, size_t *n) {
    json_t *t = json_object_get(c, "text");
    if (t) {
        *n = json_string_length(t);
        char *b = malloc(*n + 1);
        memcpy(b, json_string_value(t), *n);
        b[*n] = 0;
        return b;
    }
    json_t *pre = json_object_get(c, "prefix"), *unit = json_object_get(c, "unit"),
           *suf = json_object_get(c, "suffix");
    size_t count = (size_t)json_integer_value(json_object_get(c, "count"));
    size_t lp = json_string_length(pre), lu = json_string_length(unit),
           ls = json_string_length(suf);
    *n = lp + lu * count + ls;
    char *b = malloc(*n + 1), *o = b;
    memcpy(o, json_string_value(pre), lp);
    o += lp;
    for (size_t i = 0; i < count; i++, o += lu) memcpy(o, json_string_value(unit), lu);
    memcpy(o, json_string_value(suf), ls);
    b[*n] = 0;
    return b;
}

static void sha256_hex(const void *p, size_t n, char out[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    ck_assert(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) == 1 && len == 32);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- the real tokenizer ---- */

START_TEST(test_basics) {
    ck_assert_int_eq(rt_spm_n_pieces(tok), 32000);
    ck_assert_int_eq(rt_spm_vocab_size(tok), 32100);
    ck_assert_int_eq(rt_spm_eos_id(tok), 1);
    ck_assert_int_eq(rt_spm_unk_id(tok), 2);
    ck_assert_int_eq(rt_spm_pad_id(tok), 0);
    ck_assert_str_eq(rt_spm_piece(tok, 1), "</s>");
    ck_assert_str_eq(rt_spm_piece(tok, 32099), "<extra_id_0>");
    ck_assert_str_eq(rt_spm_piece(tok, 32000), "<extra_id_99>");
    ck_assert_ptr_null(rt_spm_piece(tok, 32100));
    idvec v = {0};
    enc("Hello world", 11, 0, 1, &v);
    ck_assert_int_eq(v.n, 3); /* ▁Hello ▁world </s> */
    ck_assert_int_eq(v.ids[0], 8774);
    ck_assert_int_eq(v.ids[1], 296);
    ck_assert_int_eq(v.ids[2], 1);
    /* the same tokenizer without tokenizer.json: same ids, T5's 100 sentinels */
    rt_spm *t2 = NULL;
    ck_assert_msg(rt_spm_load(&t2, MODEL, NULL) == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(rt_spm_vocab_size(t2), 32100);
    idvec w = {0};
    rt_spm_encode_opts o = {0, 1};
    ck_assert(rt_spm_encode(t2, "a <extra_id_7> b", 16, &o, &w.ids, &w.n, &w.cap) == RT_OK);
    ck_assert_int_eq(w.n, 5); /* ▁ a <extra_id_7> ▁ b */
    ck_assert_int_eq(w.ids[2], 32092);
    rt_spm_destroy(&t2);
    free(w.ids);
    free(v.ids);
}
END_TEST

START_TEST(test_fixture_cases) {
    json_t *cases = json_object_get(fix, "cases"), *c;
    size_t i, n_plain_ok = 0, n_hf_checked = 0, n_hf_ok = 0, n_disagree = 0, n_dec = 0, n_bad = 0;
    idvec v = {0}, w = {0};
    char *dec = NULL;
    size_t dlen = 0, dcap = 0;
    printf("spm fixture: cases where T5TokenizerFast differs from sentencepiece without added "
           "tokens (ringtune follows sentencepiece):\n");
    json_array_foreach(cases, i, c) {
        size_t len;
        char *text = case_text(c, &len);
        json_t *sp = json_object_get(c, "sp"), *hf = json_object_get(c, "hf");
        int added = json_object_get(c, "added") != NULL;
        /* sentencepiece: added tokens are plain text */
        enc(text, len, 0, 0, &v);
        if (same_ids(&v, sp))
            n_plain_ok++;
        else {
            n_bad++;
            printf("  MISMATCH (sentencepiece) case %zu: %.60s\n", i, text);
            print_ids("ringtune", v.ids, v.n);
            print_json_ids("sentencepiece", sp);
        }
        /* eos appended */
        enc(text, len, 0, 1, &w);
        ck_assert_int_eq(w.n, v.n + 1);
        ck_assert_int_eq(w.ids[v.n], 1);
        /* T5TokenizerFast: added tokens recognised */
        enc(text, len, 1, 0, &w);
        json_t *want = hf ? hf : sp;
        if (hf && !added) {
            n_disagree++;
            printf("  case %zu %s: \"%.60s\"\n", i, json_object_get(c, "text") ? "" : "(long)",
                   text);
            print_ids("ringtune = sentencepiece", w.ids, w.n);
            print_json_ids("T5TokenizerFast", hf);
        } else {
            n_hf_checked++;
            if (same_ids(&w, want))
                n_hf_ok++;
            else {
                n_bad++;
                printf("  MISMATCH (T5TokenizerFast) case %zu: %.60s\n", i, text);
                print_ids("ringtune", w.ids, w.n);
                print_json_ids("T5TokenizerFast", want);
            }
        }
        /* decode as sentencepiece */
        dlen = 0;
        ck_assert(rt_spm_decode(tok, v.ids, v.n, &dec, &dlen, &dcap) == RT_OK);
        json_t *d = json_object_get(c, "decoded");
        if (dlen == json_string_length(d) && memcmp(dec, json_string_value(d), dlen) == 0)
            n_dec++;
        else {
            n_bad++;
            printf("  MISMATCH (decode) case %zu: \"%.*s\" vs \"%s\"\n", i, (int)dlen, dec,
                   json_string_value(d));
        }
        free(text);
    }
    size_t nc = json_array_size(cases);
    printf("spm fixture: %zu strings; sentencepiece ids equal %zu/%zu; T5TokenizerFast ids equal "
           "%zu/%zu where it agrees with sentencepiece or the text has added tokens (%zu listed "
           "disagreements); decode equal %zu/%zu; mismatches %zu\n",
           nc, n_plain_ok, nc, n_hf_ok, n_hf_checked, n_disagree, n_dec, nc, n_bad);
    ck_assert_int_eq(n_bad, 0);
    ck_assert_int_eq(n_disagree, json_integer_value(json_object_get(fix, "n_disagree")));
    free(v.ids);
    free(w.ids);
    free(dec);
}
END_TEST

/* Every code point (blocks of 4096, each followed by "x"): normalized text and ids. */
START_TEST(test_code_point_blocks) {
    json_t *blocks = json_object_get(fix, "blocks"), *b;
    size_t i, ok = 0;
    char *text = malloc(4096 * 5), *norm = NULL;
    size_t ncap = 0;
    idvec v = {0};
    json_array_foreach(blocks, i, b) {
        uint32_t first = (uint32_t)json_integer_value(json_object_get(b, "first"));
        size_t len = 0;
        for (uint32_t c = first; c < first + 4096; c++) {
            if (c >= 0xD800 && c < 0xE000) continue;
            len += (size_t)rt_utf8_put(c, text + len);
            text[len++] = 'x';
        }
        size_t nlen = 0;
        ck_assert(rt_spm_normalize(tok, text, len, &norm, &nlen, &ncap) == RT_OK);
        char h[65], hi[65];
        sha256_hex(norm, nlen, h);
        enc(text, len, 0, 0, &v);
        unsigned char *le = malloc(4 * v.n + 1);
        for (size_t k = 0; k < v.n; k++)
            for (int q = 0; q < 4; q++)
                le[4 * k + q] = (unsigned char)((uint32_t)v.ids[k] >> 8 * q);
        sha256_hex(le, 4 * v.n, hi);
        free(le);
        int good = strcmp(h, json_string_value(json_object_get(b, "norm_sha256"))) == 0 &&
                   (json_int_t)v.n == json_integer_value(json_object_get(b, "n_ids")) &&
                   strcmp(hi, json_string_value(json_object_get(b, "ids_sha256"))) == 0;
        if (!good)
            printf("  MISMATCH block U+%04X: normalized %s, %zu ids (want %lld)\n", first,
                   strcmp(h, json_string_value(json_object_get(b, "norm_sha256"))) ? "differs"
                                                                                   : "equal",
                   v.n, (long long)json_integer_value(json_object_get(b, "n_ids")));
        ok += good;
    }
    printf("spm code points: %zu/%zu blocks of 4096 normalize and encode as sentencepiece\n", ok,
           json_array_size(blocks));
    ck_assert_int_eq(ok, json_array_size(blocks));
    free(text);
    free(norm);
    free(v.ids);
}
END_TEST

/* Threads sharing the tokenizer give the ids one thread gives (the fixture, 8 passes each). */
START_TEST(test_threads) {
    json_t *cases = json_object_get(fix, "cases");
    size_t nc = json_array_size(cases);
    int bad = 0;
#pragma omp parallel num_threads(4) reduction(+ : bad)
    {
        idvec v = {0};
        for (int pass = 0; pass < 8; pass++)
            for (size_t i = (size_t)omp_get_thread_num(); i < nc; i += 4) {
                json_t *c = json_array_get(cases, i);
                size_t len;
                char *text = case_text(c, &len);
                v.n = 0;
                rt_spm_encode_opts o = {0, 0};
                if (rt_spm_encode(tok, text, len, &o, &v.ids, &v.n, &v.cap) != RT_OK ||
                    !same_ids(&v, json_object_get(c, "sp")))
                    bad++;
                free(text);
            }
        free(v.ids);
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(test_decode) {
    char *out = NULL;
    size_t len = 0, cap = 0;
    /* control pieces skipped, sentinels by name, unknown as " ⁇ " */
    int32_t ids[] = {0, 8774, 32099, 296, 2, 1};
    ck_assert(rt_spm_decode(tok, ids, 6, &out, &len, &cap) == RT_OK);
    ck_assert_int_eq(len, strlen("Hello<extra_id_0> world \xE2\x81\x87 "));
    ck_assert(memcmp(out, "Hello<extra_id_0> world \xE2\x81\x87 ", len) == 0);
    int32_t bad[] = {5, 32100};
    len = 0;
    ck_assert(rt_spm_decode(tok, bad, 2, &out, &len, &cap) == RT_ERR_ARG);
    ck_assert_int_eq(len, 0);
    ck_assert_ptr_nonnull(strstr(rt_error_message(), "id 32100 at position 1 out of range"));
    int32_t neg = -1;
    ck_assert(rt_spm_decode(tok, &neg, 1, &out, &len, &cap) == RT_ERR_ARG);
    free(out);
}
END_TEST

/* Invalid UTF-8 becomes one U+FFFD per byte of an ill-formed sequence (surrogates, overlongs and
   code points above U+10FFFF included), then <unk> (fused): ids and normalized text from PyPI
   sentencepiece 0.2.3 (SentencePieceProcessor.encode / normalize of the bytes). */
START_TEST(test_invalid_utf8) {
    static const struct {
        const char *text;
        int n_fffd, n;
        int32_t ids[6];
    } cases[] = {
        {"a\xff\xfe b", 2, 5, {3, 9, 2, 3, 115}},
        {"\xff", 1, 2, {3, 2}},
        {"x\xe2\x96y", 2, 4, {3, 226, 2, 63}},
        {"\xc3", 1, 2, {3, 2}},
        {"\xed\xa0\x80z", 3, 3, {3, 2, 172}},
        {"\xf4\x90\x80\x80", 4, 2, {3, 2}},
        {"\xc0\xaf", 2, 2, {3, 2}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        idvec v = {0};
        enc(cases[c].text, strlen(cases[c].text), 0, 0, &v);
        ck_assert_int_eq(v.n, cases[c].n);
        for (int i = 0; i < cases[c].n; i++) ck_assert_int_eq(v.ids[i], cases[c].ids[i]);
        char *norm = NULL;
        size_t nl = 0, nc = 0, k = 0;
        ck_assert(rt_spm_normalize(tok, cases[c].text, strlen(cases[c].text), &norm, &nl, &nc) ==
                  RT_OK);
        for (size_t i = 0; i + 3 <= nl; i++) k += memcmp(norm + i, "\xEF\xBF\xBD", 3) == 0;
        ck_assert_int_eq(k, cases[c].n_fffd);
        free(norm);
        free(v.ids);
    }
}
END_TEST

START_TEST(test_speed) {
    char *base = NULL;
    size_t blen = 0;
    ck_assert(rt_fs_read_file(RT_SOURCE_DIR "/cli/demo/general.txt", &base, &blen) == RT_OK);
    size_t target = 4u << 20, len = 0;
    char *text = malloc(target + blen);
    while (len < target) memcpy(text + len, base, blen), len += blen;
    idvec v = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    /* by lines, as a corpus would be fed (no ck_assert in the loop: Check records each one) */
    size_t total = 0;
    int failed = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - text) + 1 : len;
        v.n = 0;
        rt_spm_encode_opts o = {1, 0};
        failed |= rt_spm_encode(tok, text + i, e - i, &o, &v.ids, &v.n, &v.cap) != RT_OK;
        total += v.n;
        i = e;
    }
    ck_assert(!failed);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    struct timespec t2, t3;
    char *norm = NULL;
    size_t nl = 0, nc = 0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t2);
    ck_assert(rt_spm_normalize(tok, text, len, &norm, &nl, &nc) == RT_OK);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t3);
    double sn = (double)(t3.tv_sec - t2.tv_sec) + 1e-9 * (double)(t3.tv_nsec - t2.tv_nsec);
    printf("spm speed: normalization alone %.1f MB/s\n", (double)len / 1e6 / sn);
    free(norm);
    v.n = 0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t2);
    ck_assert(rt_spm_encode(tok, text, len, NULL, &v.ids, &v.n, &v.cap) == RT_OK);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t3);
    sn = (double)(t3.tv_sec - t2.tv_sec) + 1e-9 * (double)(t3.tv_nsec - t2.tv_nsec);
    printf("spm speed: the whole text in one call %.1f MB/s (%zu ids)\n", (double)len / 1e6 / sn,
           v.n);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("spm speed: %.1f MB by lines in %.3f s of CPU time, %.1f MB/s per core (%zu ids, %.2f "
           "bytes/id)\n",
           (double)len / 1e6, s, (double)len / 1e6 / s, total, (double)len / (double)total);
    /* one call over the whole text gives the same pieces where lines do not interact */
    free(text);
    free(base);
    free(v.ids);
}
END_TEST

/* ---- malformed files ---- */

static char tmpdir[64];

static void tmp_setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rt-spm-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void tmp_teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *tmp_write(const char *name, const void *p, size_t n) {
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

/* Loading path fails with status s and a message holding every one of the strings. */
static void expect_load_error(const char *path, const char *tj, rt_status want, const char *a,
                              const char *b) {
    rt_spm *t = NULL;
    rt_status s = rt_spm_load(&t, path, tj);
    const char *m = rt_error_message();
    ck_assert_msg(s == want, "status %s for %s: %s", rt_status_name(s), path, m);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(m, tj ? tj : path) != NULL, "no file name in: %s", m);
    ck_assert_msg(!a || strstr(m, a), "no \"%s\" in: %s", a, m);
    ck_assert_msg(!b || strstr(m, b), "no \"%s\" in: %s", b, m);
    printf("  expected error: %.*s\n", (int)(strchr(m, '\n') ? strchr(m, '\n') - m : 300), m);
}

static Ringtune__Spm__ModelProto *real_model(char **buf, size_t *len) {
    ck_assert(rt_fs_read_file(MODEL, buf, len) == RT_OK);
    Ringtune__Spm__ModelProto *m =
        ringtune__spm__model_proto__unpack(NULL, *len, (const uint8_t *)*buf);
    ck_assert_ptr_nonnull(m);
    return m;
}

static char *write_model(const char *name, const Ringtune__Spm__ModelProto *m) {
    size_t n = ringtune__spm__model_proto__get_packed_size(m);
    uint8_t *b = malloc(n + 1);
    ringtune__spm__model_proto__pack(m, b);
    char *p = tmp_write(name, b, n);
    free(b);
    return p;
}

START_TEST(test_truncated_model) {
    char *buf;
    size_t len;
    ck_assert(rt_fs_read_file(MODEL, &buf, &len) == RT_OK);
    size_t cuts[] = {1, 7, 1000, len / 2, len - 100, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char *p = tmp_write("cut.model", buf, cuts[i]);
        expect_load_error(p, NULL, RT_ERR_FORMAT, "truncated", NULL);
    }
    free(buf);
    /* cut exactly after a piece: parses, but trainer_spec and normalizer_spec are missing */
    Ringtune__Spm__ModelProto *m = real_model(&buf, &len);
    Ringtune__Spm__TrainerSpec *ts = m->trainer_spec;
    Ringtune__Spm__NormalizerSpec *ns = m->normalizer_spec;
    m->trainer_spec = NULL;
    m->normalizer_spec = NULL;
    expect_load_error(write_model("nospec.model", m), NULL, RT_ERR_FORMAT, "no trainer_spec",
                      "truncated");
    m->trainer_spec = ts;
    expect_load_error(write_model("nonorm.model", m), NULL, RT_ERR_FORMAT, "no normalizer_spec",
                      NULL);
    m->normalizer_spec = ns;
    /* not a protobuf at all */
    expect_load_error(tmp_write("text.model", "hello world\n", 12), NULL, RT_ERR_FORMAT,
                      "does not parse", NULL);
    ringtune__spm__model_proto__free_unpacked(m, NULL);
    free(buf);
    expect_load_error(RT_FIXTURES "/tokenizer/no-such.model", NULL, RT_ERR_IO, NULL, NULL);
}
END_TEST

START_TEST(test_bad_pieces) {
    char *buf;
    size_t len;
    Ringtune__Spm__ModelProto *m = real_model(&buf, &len);
    /* a piece that is not UTF-8 */
    Ringtune__Spm__ModelProto__SentencePiece *sp = m->pieces[100];
    uint8_t save = sp->piece.data[1];
    sp->piece.data[1] = 0xFF;
    expect_load_error(write_model("utf8.model", m), NULL, RT_ERR_FORMAT, "pieces[100].piece",
                      "not valid UTF-8");
    sp->piece.data[1] = save;
    /* a duplicate piece */
    ProtobufCBinaryData keep = m->pieces[101]->piece;
    m->pieces[101]->piece = sp->piece;
    expect_load_error(write_model("dup.model", m), NULL, RT_ERR_FORMAT, "pieces[101]",
                      "pieces[100]");
    m->pieces[101]->piece = keep;
    /* a BPE model */
    m->trainer_spec->model_type = RINGTUNE__SPM__TRAINER_SPEC__MODEL_TYPE__BPE;
    expect_load_error(write_model("bpe.model", m), NULL, RT_ERR_FORMAT, "trainer_spec.model_type",
                      "UNIGRAM");
    m->trainer_spec->model_type = RINGTUNE__SPM__TRAINER_SPEC__MODEL_TYPE__UNIGRAM;
    /* no <unk> */
    m->pieces[2]->type = 1;
    expect_load_error(write_model("nounk.model", m), NULL, RT_ERR_FORMAT, "UNKNOWN", NULL);
    m->pieces[2]->type = 2;
    /* an empty vocabulary */
    size_t np = m->n_pieces;
    m->n_pieces = 0;
    expect_load_error(write_model("empty.model", m), NULL, RT_ERR_FORMAT, "pieces",
                      "empty vocabulary");
    m->n_pieces = np;
    /* charsmap trie size out of range, and too short a charsmap */
    ProtobufCBinaryData *cm = &m->normalizer_spec->precompiled_charsmap;
    uint8_t s4[4];
    memcpy(s4, cm->data, 4);
    memset(cm->data, 0xFF, 4);
    expect_load_error(write_model("trie.model", m), NULL, RT_ERR_FORMAT,
                      "normalizer_spec.precompiled_charsmap", "out of range");
    cm->data[0] = 6; /* not a multiple of 4 */
    cm->data[1] = cm->data[2] = cm->data[3] = 0;
    expect_load_error(write_model("trie6.model", m), NULL, RT_ERR_FORMAT, "trie size 6", NULL);
    memcpy(cm->data, s4, 4);
    size_t cl = cm->len;
    cm->len = 3;
    expect_load_error(write_model("short.model", m), NULL, RT_ERR_FORMAT,
                      "normalizer_spec.precompiled_charsmap", "3 bytes");
    cm->len = cl;
    /* the unchanged model round-trips through pack and loads */
    rt_spm *t = NULL;
    ck_assert_msg(rt_spm_load(&t, write_model("same.model", m), TOKJSON) == RT_OK, "%s",
                  rt_error_message());
    rt_spm_destroy(&t);
    ringtune__spm__model_proto__free_unpacked(m, NULL);
    free(buf);
}
END_TEST

START_TEST(test_bad_tokenizer_json) {
    const char *bpe = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}";
    char *p = strdup(tmp_write("bpe.json", bpe, strlen(bpe)));
    expect_load_error(MODEL, p, RT_ERR_FORMAT, "model.type is \"BPE\"", "Unigram");
    free(p);
    p = strdup(tmp_write("bad.json", "{\"model\": ", 10));
    expect_load_error(MODEL, p, RT_ERR_FORMAT, "invalid JSON", NULL);
    free(p);
    /* one score changed, one vocab entry dropped, the charsmap changed */
    json_error_t e;
    json_t *j = json_load_file(TOKJSON, 0, &e);
    ck_assert_ptr_nonnull(j);
    json_t *vocab = json_object_get(json_object_get(j, "model"), "vocab");
    json_t *ent = json_array_get(vocab, 500);
    json_t *old = json_incref(json_array_get(ent, 1));
    json_array_set_new(ent, 1, json_real(-1.5));
    char path[256];
    snprintf(path, sizeof path, "%s/score.json", tmpdir);
    ck_assert_int_eq(json_dump_file(j, path, JSON_COMPACT), 0);
    expect_load_error(MODEL, path, RT_ERR_FORMAT, "model.vocab[500]", "scores");
    json_array_set_new(ent, 1, old);
    json_t *last = json_incref(json_array_get(vocab, 32099));
    json_array_remove(vocab, 32099);
    snprintf(path, sizeof path, "%s/short.json", tmpdir);
    ck_assert_int_eq(json_dump_file(j, path, JSON_COMPACT), 0);
    expect_load_error(MODEL, path, RT_ERR_FORMAT, "model.vocab: 32099 entries", NULL);
    json_array_append_new(vocab, last);
    json_t *norms = json_object_get(json_object_get(j, "normalizer"), "normalizers");
    json_object_set_new(json_array_get(norms, 0), "precompiled_charsmap", json_string("AAAA"));
    snprintf(path, sizeof path, "%s/charsmap.json", tmpdir);
    ck_assert_int_eq(json_dump_file(j, path, JSON_COMPACT), 0);
    expect_load_error(MODEL, path, RT_ERR_FORMAT, "precompiled_charsmap differs", NULL);
    json_decref(j);
}
END_TEST

/* A tiny hand-made model (no charsmap): unknown characters fuse into one <unk>, the unknown score
   is min - 10, the lattice prefers the better path. */
START_TEST(test_tiny_model) {
    Ringtune__Spm__ModelProto m = RINGTUNE__SPM__MODEL_PROTO__INIT;
    Ringtune__Spm__TrainerSpec ts = RINGTUNE__SPM__TRAINER_SPEC__INIT;
    Ringtune__Spm__NormalizerSpec ns = RINGTUNE__SPM__NORMALIZER_SPEC__INIT;
    const char *pieces[] = {"<pad>",
                            "</s>",
                            "<unk>",
                            "\xE2\x96\x81",
                            "a",
                            "b",
                            "ab",
                            "\xE2\x96\x81"
                            "a",
                            "c"};
    float scores[] = {0, 0, 0, -1, -2, -2, -3.5f, -1, -30};
    int types[] = {3, 3, 2, 1, 1, 1, 1, 1, 1};
    Ringtune__Spm__ModelProto__SentencePiece sp[9], *pp[9];
    for (int i = 0; i < 9; i++) {
        ringtune__spm__model_proto__sentence_piece__init(&sp[i]);
        sp[i].has_piece = 1;
        sp[i].piece.data = (uint8_t *)pieces[i];
        sp[i].piece.len = strlen(pieces[i]);
        sp[i].has_score = 1;
        sp[i].score = scores[i];
        sp[i].has_type = 1;
        sp[i].type = types[i];
        pp[i] = &sp[i];
    }
    m.n_pieces = 9;
    m.pieces = pp;
    ts.has_unk_id = 1;
    ts.unk_id = 2;
    ts.has_eos_id = 1;
    ts.eos_id = 1;
    ts.has_pad_id = 1;
    ts.pad_id = 0;
    m.trainer_spec = &ts;
    m.normalizer_spec = &ns;
    rt_spm *t = NULL;
    ck_assert_msg(rt_spm_load(&t, write_model("tiny.model", &m), NULL) == RT_OK, "%s",
                  rt_error_message());
    idvec v = {0};
    /* "▁ab": ▁a + b = -3 beats ▁ + ab = -4.5; "xy" unknown: one <unk>; "c" scores -30, below
       unknown's -40 is not: a known piece is always a candidate */
    const char *text = "ab  xyc ab";
    ck_assert(rt_spm_encode(t, text, strlen(text), NULL, &v.ids, &v.n, &v.cap) == RT_OK);
    int want[] = {7, 5, 3, 2, 8, 7, 5};
    ck_assert_int_eq(v.n, 7);
    for (int i = 0; i < 7; i++) ck_assert_int_eq(v.ids[i], want[i]);
    char *out = NULL;
    size_t len = 0, cap = 0;
    ck_assert(rt_spm_decode(t, v.ids, v.n, &out, &len, &cap) == RT_OK);
    ck_assert_int_eq(len, strlen("ab  \xE2\x81\x87 c ab"));
    ck_assert(memcmp(out, "ab  \xE2\x81\x87 c ab", len) == 0);
    free(out);
    free(v.ids);
    rt_spm_destroy(&t);
}
END_TEST

/* The fuzz seed (tests/fuzz/make_spm_seed.py): a 100-piece model with a 10-rule charsmap of
   its own (multi-character keys: A + combining ring -> Å), against ids and normalized text from
   PyPI sentencepiece 0.2.3. */
START_TEST(test_seed_model) {
    rt_spm *t = NULL;
    ck_assert_msg(rt_spm_load(&t, RT_SOURCE_DIR "/tests/fuzz/corpus/fuzz_spm_model/tiny.model",
                              NULL) == RT_OK,
                  "%s", rt_error_message());
    static const struct {
        const char *text, *norm;
        int n;
        int32_t ids[16];
    } cases[] = {
        {"\xef\xac\x81\tA\xcc\x8a \xe2\x91\xa0",
         "\xe2\x96\x81"
         "fi\xe2\x96\x81\xc3\x85\xe2\x96\x81"
         "1",
         7,
         {3, 26, 10, 3, 2, 3, 2}},
        {"Hello  world\n\xe3\x80\x80\xef\xbc\xa1\xef\xbc\xa2",
         "\xe2\x96\x81Hello\xe2\x96\x81world\xe2\x96\x81"
         "A\xef\xbc\xa2",
         15,
         {3, 89, 4, 11, 11, 8, 3, 28, 8, 9, 11, 16, 3, 66, 2}},
        {"fi A\xcc\x8a\xcc\x8a a\xcc\x81"
         "b \xef\xac\x82\xe2\x91\xa1",
         "\xe2\x96\x81"
         "fi\xe2\x96\x81\xc3\x85\xcc\x8a\xe2\x96\x81\xc3\xa1"
         "b\xe2\x96\x81"
         "fl2",
         12,
         {3, 26, 10, 3, 2, 3, 2, 27, 3, 26, 11, 84}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        idvec v = {0};
        ck_assert(rt_spm_encode(t, cases[c].text, strlen(cases[c].text), NULL, &v.ids, &v.n,
                                &v.cap) == RT_OK);
        ck_assert_int_eq(v.n, cases[c].n);
        for (int i = 0; i < cases[c].n; i++) ck_assert_int_eq(v.ids[i], cases[c].ids[i]);
        char *norm = NULL;
        size_t nl = 0, nc = 0;
        ck_assert(rt_spm_normalize(t, cases[c].text, strlen(cases[c].text), &norm, &nl, &nc) ==
                  RT_OK);
        ck_assert_int_eq(nl, strlen(cases[c].norm));
        ck_assert(memcmp(norm, cases[c].norm, nl) == 0);
        free(norm);
        free(v.ids);
    }
    rt_spm_destroy(&t);
}
END_TEST

int main(void) {
    json_error_t e;
    fix = json_load_file(FIXTURE, JSON_ALLOW_NUL, &e);
    if (!fix) {
        fprintf(stderr, "%s: %s\n", FIXTURE, e.text);
        return 1;
    }
    if (rt_spm_load(&tok, MODEL, TOKJSON) != RT_OK) {
        fprintf(stderr, "%s\n", rt_error_message());
        return 1;
    }
    Suite *s = suite_create("spm");
    TCase *tc = tcase_create("t5");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_basics);
    tcase_add_test(tc, test_fixture_cases);
    tcase_add_test(tc, test_code_point_blocks);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_decode);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_seed_model);
    tcase_add_test(tc, test_speed);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("files");
    tcase_set_timeout(tf, 120);
    tcase_add_checked_fixture(tf, tmp_setup, tmp_teardown);
    tcase_add_test(tf, test_truncated_model);
    tcase_add_test(tf, test_bad_pieces);
    tcase_add_test(tf, test_bad_tokenizer_json);
    tcase_add_test(tf, test_tiny_model);
    suite_add_tcase(s, tf);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    rt_spm_destroy(&tok);
    json_decref(fix);
    return nf == 0 ? 0 : 1;
}
