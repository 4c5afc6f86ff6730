/* GPT-2 byte-level BPE (see bpe.h): PCRE2 pre-tokenization with the character classes of Hugging
   Face `tokenizers`, HF's heap-ordered merge loop, and a bounded per-scratch cache of chunk -> ids
   so that frequent words skip the merge loop. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "bpe.h"
#include <jansson.h>
#include <openssl/evp.h>
#include <pcre2.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fsutil.h"
#include "rng.h"
#include "text.h"

/* ---- pre-tokenization pattern ----

   GPT-2's pattern is  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
   and its matches depend only on which of four classes each character is in: \s, \p{L}, \p{N}
   or none. HF tokenizers 0.23 evaluates it with Oniguruma and Unicode 16 tables; PCRE2 10.42
   (Debian 12) has Unicode 14 tables and its own \s. Comparing the two over every code point
   (tests/fixtures/gen_tokenizer_fixtures.py records HF's class of each one; test_bpe checks all
   of them against this pattern) gave these differences, which the pattern below removes:
   - \s: PCRE2 counts U+180E MONGOLIAN VOWEL SEPARATOR as space, HF does not (it has been Cf
     since Unicode 6.3). WS below is HF's set, Unicode White_Space (25 code points).
   - letters and digits added in Unicode 15 and 16 (Kawi, Nag Mundari, Garay, Tulu-Tigalari,
     CJK extensions H and I, ...) are unassigned to PCRE2 10.42: XL and XN list them. A newer
     PCRE2 already knows them, which the extra ranges do not disturb. */
#define WS                                                                                         \
    "\\t-\\r "                                                                                     \
    "\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
#define XL                                                                                         \
    "\\x{1C89}-\\x{1C8A}\\x{A7CB}-\\x{A7CD}\\x{A7DA}-\\x{A7DC}\\x{105C0}-\\x{105F3}"               \
    "\\x{10D4A}-\\x{10D65}\\x{10D6F}-\\x{10D85}\\x{10EC2}-\\x{10EC4}\\x{1123F}-\\x{11240}"         \
    "\\x{11380}-\\x{11389}\\x{1138B}\\x{1138E}\\x{11390}-\\x{113B5}\\x{113B7}\\x{113D1}"           \
    "\\x{113D3}\\x{11BC0}-\\x{11BE0}\\x{11F02}\\x{11F04}-\\x{11F10}\\x{11F12}-\\x{11F33}"          \
    "\\x{1342F}\\x{13441}-\\x{13446}\\x{13460}-\\x{143FA}\\x{16100}-\\x{1611D}"                    \
    "\\x{16D40}-\\x{16D6C}\\x{18CFF}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}"                     \
    "\\x{1E030}-\\x{1E06D}\\x{1E4D0}-\\x{1E4EB}\\x{1E5D0}-\\x{1E5ED}\\x{1E5F0}\\x{2B739}"          \
    "\\x{2EBF0}-\\x{2EE5D}\\x{31350}-\\x{323AF}"
#define XN                                                                                         \
    "\\x{10D40}-\\x{10D49}\\x{116D0}-\\x{116E3}\\x{11BF0}-\\x{11BF9}\\x{11F50}-\\x{11F59}"         \
    "\\x{16130}-\\x{16139}\\x{16D70}-\\x{16D79}\\x{1CCF0}-\\x{1CCF9}\\x{1D2C0}-\\x{1D2D3}"         \
    "\\x{1E4F0}-\\x{1E4F9}\\x{1E5F1}-\\x{1E5FA}"
static const char PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d"
                              "| ?[\\p{L}" XL "]+"
                              "| ?[\\p{N}" XN "]+"
                              "| ?[^" WS "\\p{L}\\p{N}" XL XN "]+"
                              "|[" WS "]+(?![^" WS "])"
                              "|[" WS "]+";

static const char EOS_TOKEN[] = "<|endoftext|>";

/* ---- tokenizer ---- */

typedef struct {
    uint64_t key; /* (left id << 32) | right id; MERGE_EMPTY when the slot is free */
    uint32_t rank;
    int32_t id; /* the merged token */
} merge_slot;
#define MERGE_EMPTY UINT64_MAX

struct rt_bpe {
    int vocab_size; /* max id + 1 */
    int eos_id;     /* -1 when vocab.json has no <|endoftext|> */
    char sha256[65];
    uint64_t serial; /* unique per load: a scratch's cache belongs to one tokenizer */
    int32_t byte_id[256];
    /* id -> bytes it decodes to */
    int64_t *tok_off;  /* (vocab_size) offset into tok_bytes, -1 for an id vocab.json lacks */
    uint32_t *tok_len; /* (vocab_size) */
    uint8_t *tok_bytes;
    merge_slot *merges; /* (merge_mask + 1) open addressing, load <= 1/2 */
    size_t merge_mask;
    pcre2_code *re;
    int jit; /* 1 when pcre2_jit_compile succeeded */
};

static atomic_uint_fast64_t next_serial = 1;

static inline const merge_slot *merge_find(const rt_bpe *t, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = (size_t)rt_mix64(key) & t->merge_mask;
    for (;;) {
        const merge_slot *m = &t->merges[i];
        if (m->key == key) return m;
        if (m->key == MERGE_EMPTY) return NULL;
        i = (i + 1) & t->merge_mask;
    }
}

/* A later duplicate of a pair replaces the earlier one, as in HF (its merge map is collected
   from the merges in file order). */
static void merge_insert(rt_bpe *t, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t i = (size_t)rt_mix64(key) & t->merge_mask;
    while (t->merges[i].key != MERGE_EMPTY && t->merges[i].key != key) i = (i + 1) & t->merge_mask;
    t->merges[i] = (merge_slot){key, rank, id};
}

/* GPT-2's byte -> code point map: printable Latin-1 bytes map to themselves, the other 68 to
   U+0100.. in byte order (space -> U+0120, newline -> U+010A). */
static void byte_to_cp(uint32_t cp[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
}

/* Decodes one code point of well-formed UTF-8 at p (within n bytes); returns its length. */
static int utf8_get(const uint8_t *p, size_t n, uint32_t *cp) {
    size_t sub;
    int k = (int)rt_utf8_seq(p, n, &sub);
    if (k == 0) {
        *cp = UINT32_MAX;
        return sub;
    }
    static const uint8_t lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t c = p[0] & lead_mask[k];
    for (int i = 1; i < k; i++) c = (c << 6) | (p[i] & 0x3F);
    *cp = c;
    return k;
}

static rt_status read_file(const char *path, char **buf, size_t *len) {
    rt_status s = rt_fs_read_file(path, buf, len);
    if (s != RT_OK) rt_error_trace(__FILE__, __LINE__, __func__);
    return s;
}

/* sha256 of a's bytes followed by b's, as 64 lowercase hex digits into out[65]. */
static rt_status sha256_two(const char *a, size_t na, const char *b, size_t nb, char *out) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, a, na) &&
             EVP_DigestUpdate(ctx, b, nb) && EVP_DigestFinal_ex(ctx, md, &mdlen) && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) return rt_error(RT_ERR_INTERNAL, "OpenSSL sha256 failed");
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    return RT_OK;
}

static rt_status sha256_hex(rt_bpe *t, const char *a, size_t na, const char *b, size_t nb) {
    return sha256_two(a, na, b, nb, t->sha256);
}

rt_status rt_bpe_files_sha256(const char *vocab_json, const char *merges_txt, char out[65]) {
    char *vbuf = NULL, *mbuf = NULL;
    size_t vlen = 0, mlen = 0;
    rt_status s = read_file(vocab_json, &vbuf, &vlen);
    if (s == RT_OK) s = read_file(merges_txt, &mbuf, &mlen);
    if (s == RT_OK) s = sha256_two(vbuf, vlen, mbuf, mlen, out);
    free(vbuf);
    free(mbuf);
    return s;
}

#define RT_BPE_MAX_ID (1 << 24)

/* Fills the id tables from the parsed vocab.json object. */
static rt_status load_vocab(rt_bpe *t, json_t *vocab, const char *path) {
    const char *key;
    size_t klen;
    json_t *val;
    json_int_t max_id = -1;
    size_t total = 0;
    json_object_keylen_foreach(vocab, key, klen, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            json_integer_value(val) >= INT32_MAX)
            return rt_error(RT_ERR_FORMAT,
                            "%s: token \"%s\" has a value that is not an id (expected an integer "
                            "in [0, 2^31-1))",
                            path, key);
        if (json_integer_value(val) > max_id) max_id = json_integer_value(val);
        total += klen;
    }
    if (max_id < 0) return rt_error(RT_ERR_FORMAT, "%s: the vocabulary is empty", path);
    /* The id tables are dense (indexed by id), so one stray huge id would allocate gigabytes.
       Real vocabularies are dense and far smaller (GPT-2 50257, the largest HF ones ~256k);
       ids up to RT_BPE_MAX_ID keep sparse ones working at <= 200 MB of tables. */
    if (max_id >= RT_BPE_MAX_ID)
        return rt_error(RT_ERR_FORMAT,
                        "%s: token id %lld is too large for %zu tokens (expected ids below %d; "
                        "vocab.json ids are normally 0..N-1)",
                        path, (long long)max_id, json_object_size(vocab), RT_BPE_MAX_ID);
    t->vocab_size = (int)max_id + 1;
    t->tok_off = malloc((size_t)t->vocab_size * sizeof *t->tok_off);
    t->tok_len = calloc((size_t)t->vocab_size, sizeof *t->tok_len);
    t->tok_bytes = malloc(total + 1);
    if (!t->tok_off || !t->tok_len || !t->tok_bytes)
        return rt_error(RT_ERR_MEMORY, "%s: out of memory for %d tokens", path, t->vocab_size);
    for (int i = 0; i < t->vocab_size; i++) t->tok_off[i] = -1;

    uint32_t b2c[256];
    byte_to_cp(b2c);
    int16_t c2b[512]; /* code point -> byte, -1 when not a byte's image */
    for (int i = 0; i < 512; i++) c2b[i] = -1;
    for (int b = 0; b < 256; b++) c2b[b2c[b]] = (int16_t)b;

    size_t used = 0;
    json_object_keylen_foreach(vocab, key, klen, val) {
        int id = (int)json_integer_value(val);
        if (t->tok_off[id] >= 0)
            return rt_error(RT_ERR_FORMAT, "%s: id %d is used by two tokens, the second \"%s\"",
                            path, id, key);
        /* HF's ByteLevel decoder maps each char back to its byte; a token with a char outside
           the map decodes to its own UTF-8 bytes. */
        const uint8_t *k = (const uint8_t *)key;
        size_t o = used, i = 0;
        int mapped = 1;
        while (i < klen) {
            uint32_t cp;
            i += (size_t)utf8_get(k + i, klen - i, &cp);
            if (cp >= 512 || c2b[cp] < 0) {
                mapped = 0;
                break;
            }
            t->tok_bytes[o++] = (uint8_t)c2b[cp];
        }
        if (!mapped) {
            memcpy(t->tok_bytes + used, key, klen);
            o = used + klen;
        }
        t->tok_off[id] = (int64_t)used;
        t->tok_len[id] = (uint32_t)(o - used);
        used = o;
    }
    for (int b = 0; b < 256; b++) {
        char s[4];
        int n = rt_utf8_put(b2c[b], s);
        json_t *v = json_object_getn(vocab, s, (size_t)n);
        if (!v)
            return rt_error(RT_ERR_FORMAT,
                            "%s: no token for byte 0x%02x (\"%.*s\"); a byte-level vocabulary has "
                            "all 256",
                            path, b, n, s);
        t->byte_id[b] = (int32_t)json_integer_value(v);
    }
    json_t *eos = json_object_get(vocab, EOS_TOKEN);
    t->eos_id = eos ? (int)json_integer_value(eos) : -1;
    return RT_OK;
}

/* merges.txt: an optional "#version" line, then "A B" per line in rank order. HF reads it the
   same way (lines split on '\n', a trailing '\r' dropped, "#version" lines skipped). */
static rt_status load_merges(rt_bpe *t, json_t *vocab, const char *vpath, const char *buf,
                             size_t len, const char *path) {
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    size_t slots = 16;
    while (slots < 2 * lines) slots *= 2;
    t->merges = malloc(slots * sizeof *t->merges);
    if (!t->merges) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    for (size_t i = 0; i < slots; i++) t->merges[i].key = MERGE_EMPTY;
    t->merge_mask = slots - 1;

    char *cat = NULL;
    size_t cat_cap = 0;
    rt_status s = RT_OK;
    uint32_t rank = 0;
    long line = 0;
    for (size_t pos = 0; pos < len && s == RT_OK;) {
        const char *l = buf + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - l) : len - pos;
        pos += ll + (nl ? 1 : 0);
        line++;
        if (ll && l[ll - 1] == '\r') ll--;
        if (ll >= 8 && !memcmp(l, "#version", 8)) continue;
        const char *sp = memchr(l, ' ', ll);
        if (!sp || sp == l || sp == l + ll - 1 || memchr(sp + 1, ' ', (size_t)(l + ll - sp - 1))) {
            s = rt_error(RT_ERR_FORMAT,
                         "%s:%ld: expected a merge \"A B\" (two tokens separated by one space), "
                         "got \"%.*s\"",
                         path, line, (int)(ll > 80 ? 80 : ll), l);
            break;
        }
        size_t la = (size_t)(sp - l), lb = ll - la - 1;
        if (la + lb > cat_cap) {
            free(cat);
            cat_cap = 2 * (la + lb);
            cat = malloc(cat_cap);
            if (!cat) {
                s = rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
                break;
            }
        }
        memcpy(cat, l, la);
        memcpy(cat + la, sp + 1, lb);
        json_t *va = json_object_getn(vocab, l, la);
        json_t *vb = json_object_getn(vocab, sp + 1, lb);
        json_t *vab = json_object_getn(vocab, cat, la + lb);
        if (!va || !vb || !vab) {
            const char *what = !va ? l : !vb ? sp + 1 : cat;
            size_t wl = !va ? la : !vb ? lb : la + lb;
            s = rt_error(RT_ERR_FORMAT, "%s:%ld: token \"%.*s\" of merge \"%.*s\" is not in %s",
                         path, line, (int)wl, what, (int)ll, l, vpath);
            break;
        }
        merge_insert(t, (int32_t)json_integer_value(va), (int32_t)json_integer_value(vb), rank++,
                     (int32_t)json_integer_value(vab));
    }
    free(cat);
    return s;
}

rt_status rt_bpe_load(rt_bpe **out, const char *vocab_json, const char *merges_txt) {
    if (!out || !vocab_json || !merges_txt)
        return rt_error(RT_ERR_ARG, "rt_bpe_load: NULL argument");
    *out = NULL;
    rt_bpe *t = calloc(1, sizeof *t);
    if (!t) return rt_error(RT_ERR_MEMORY, "rt_bpe_load: out of memory");
    char *vbuf = NULL, *mbuf = NULL;
    size_t vlen = 0, mlen = 0;
    json_t *vocab = NULL;
    rt_status s = read_file(vocab_json, &vbuf, &vlen);
    if (s == RT_OK) s = read_file(merges_txt, &mbuf, &mlen);
    if (s == RT_OK) s = sha256_hex(t, vbuf, vlen, mbuf, mlen);
    if (s == RT_OK) {
        json_error_t jerr;
        vocab = json_loadb(vbuf, vlen, JSON_REJECT_DUPLICATES, &jerr);
        if (!vocab)
            s = rt_error(RT_ERR_FORMAT, "%s:%d: not valid JSON: %s (column %d)", vocab_json,
                         jerr.line, jerr.text, jerr.column);
        else if (!json_is_object(vocab))
            s = rt_error(RT_ERR_FORMAT, "%s: top level is not an object of token -> id",
                         vocab_json);
    }
    if (s == RT_OK) s = load_vocab(t, vocab, vocab_json);
    if (s == RT_OK) s = load_merges(t, vocab, vocab_json, mbuf, mlen, merges_txt);
    if (s == RT_OK) {
        int err;
        PCRE2_SIZE eoff;
        t->re = pcre2_compile((PCRE2_SPTR)PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                              &err, &eoff, NULL);
        if (!t->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            s = rt_error(RT_ERR_INTERNAL, "rt_bpe_load: PCRE2 rejects the pattern at %zu: %s",
                         (size_t)eoff, (const char *)msg);
        } else {
            t->jit = pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0;
        }
    }
    json_decref(vocab);
    free(vbuf);
    free(mbuf);
    if (s != RT_OK) {
        rt_bpe_destroy(&t);
        return s;
    }
    t->serial = atomic_fetch_add(&next_serial, 1);
    *out = t;
    return RT_OK;
}

void rt_bpe_destroy(rt_bpe **t) {
    if (!t || !*t) return;
    rt_bpe *b = *t;
    pcre2_code_free(b->re);
    free(b->tok_off);
    free(b->tok_len);
    free(b->tok_bytes);
    free(b->merges);
    free(b);
    *t = NULL;
}

int rt_bpe_vocab_size(const rt_bpe *t) {
    return t->vocab_size;
}
int rt_bpe_eos_id(const rt_bpe *t) {
    return t->eos_id;
}
const char *rt_bpe_sha256(const rt_bpe *t) {
    return t->sha256;
}

/* ---- scratch: match data, BPE work arrays, chunk cache ---- */

/* The cache: open addressing over CACHE_SLOTS, at most CACHE_ENTRIES chunks of at most
   CACHE_MAX_KEY bytes; when it or an arena fills up it is emptied (English text has far fewer
   distinct words than that, so this is rare and keeps the bound simple). About 3 MB. */
#define CACHE_SLOTS (1u << 16)
#define CACHE_ENTRIES (CACHE_SLOTS / 2)
#define CACHE_MAX_KEY 64
#define CACHE_KEY_BYTES (CACHE_ENTRIES * 16u)
#define CACHE_IDS (CACHE_ENTRIES * 8u)

typedef struct {
    uint64_t h; /* 0: free */
    uint32_t koff, ioff;
    uint16_t klen, nids;
} cache_slot;

typedef struct {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int32_t alive;
} bpe_sym;

typedef struct {
    uint32_t rank;
    uint32_t pos;
    int32_t id;
} bpe_merge;

struct rt_bpe_scratch {
    uint64_t serial; /* tokenizer whose ids the cache holds; 0 none */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
    bpe_sym *sym; /* (sym_cap) symbols of the chunk being merged */
    size_t sym_cap;
    bpe_merge *heap; /* (heap_cap) min-heap on (rank, pos) */
    size_t heap_cap;
    char *clean; /* the text with invalid UTF-8 replaced */
    size_t clean_cap;
    cache_slot *slots; /* (CACHE_SLOTS) */
    uint8_t *ckeys;    /* (CACHE_KEY_BYTES) */
    int32_t *cids;     /* (CACHE_IDS) */
    size_t cache_n, ckeys_used, cids_used;
};

rt_status rt_bpe_scratch_create(rt_bpe_scratch **out) {
    if (!out) return rt_error(RT_ERR_ARG, "rt_bpe_scratch_create: NULL argument");
    *out = calloc(1, sizeof **out);
    if (!*out) return rt_error(RT_ERR_MEMORY, "rt_bpe_scratch_create: out of memory");
    return RT_OK;
}

void rt_bpe_scratch_destroy(rt_bpe_scratch **s) {
    if (!s || !*s) return;
    rt_bpe_scratch *x = *s;
    pcre2_match_data_free(x->md);
    pcre2_match_context_free(x->mctx);
    pcre2_jit_stack_free(x->jstack);
    free(x->sym);
    free(x->heap);
    free(x->clean);
    free(x->slots);
    free(x->ckeys);
    free(x->cids);
    free(x);
    *s = NULL;
}

static void cache_clear(rt_bpe_scratch *s) {
    if (s->slots) memset(s->slots, 0, CACHE_SLOTS * sizeof *s->slots);
    s->cache_n = s->ckeys_used = s->cids_used = 0;
}

/* Allocates what the first encode needs; resets the cache when s last served another tokenizer. */
static rt_status scratch_ready(rt_bpe_scratch *s, const rt_bpe *t) {
    if (!s->md) {
        s->md = pcre2_match_data_create(1, NULL);
        s->mctx = pcre2_match_context_create(NULL);
        s->jstack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
        if (!s->md || !s->mctx || !s->jstack)
            return rt_error(RT_ERR_MEMORY, "rt_bpe_encode: out of memory for PCRE2 match data");
        pcre2_jit_stack_assign(s->mctx, NULL, s->jstack);
    }
    if (!s->slots) {
        s->slots = calloc(CACHE_SLOTS, sizeof *s->slots);
        s->ckeys = malloc(CACHE_KEY_BYTES);
        s->cids = malloc(CACHE_IDS * sizeof *s->cids);
        if (!s->slots || !s->ckeys || !s->cids)
            return rt_error(RT_ERR_MEMORY, "rt_bpe_encode: out of memory for the chunk cache");
    }
    if (s->serial != t->serial) {
        cache_clear(s);
        s->serial = t->serial;
    }
    return RT_OK;
}

static inline uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull * (n + 1);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    return h | 1;
}

/* ---- output ---- */

typedef struct {
    int32_t **ids;
    size_t *n, *cap;
} id_out;

static rt_status out_reserve(id_out *o, size_t more) {
    if (*o->n + more <= *o->cap) return RT_OK;
    size_t c = *o->cap ? *o->cap : 256;
    while (c < *o->n + more) c *= 2;
    int32_t *p = realloc(*o->ids, c * sizeof *p);
    if (!p) return rt_error(RT_ERR_MEMORY, "rt_bpe_encode: out of memory for %zu ids", c);
    *o->ids = p;
    *o->cap = c;
    return RT_OK;
}

/* ---- BPE on one chunk ---- */

static inline int merge_less(const bpe_merge *a, const bpe_merge *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static inline void heap_push(bpe_merge *h, size_t *n, bpe_merge m) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(&m, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = m;
}

static inline bpe_merge heap_pop(bpe_merge *h, size_t *n) {
    bpe_merge top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && merge_less(&h[c + 1], &h[c])) c++;
        if (!merge_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = last;
    return top;
}

#define BPE_KEEP_SYMS 65536 /* longest chunk whose work arrays a scratch keeps */

/* Merges the bytes p[0..n) the way HF's Word::merge_all does: a min-heap of (rank, position)
   of every adjacent pair that has a merge; pop the lowest, skip it when stale (a side was merged
   away or the pair now maps to another token), merge, push the two pairs the new symbol forms.
   Appends the resulting ids to o. */
static rt_status bpe_chunk(const rt_bpe *t, rt_bpe_scratch *s, const uint8_t *p, size_t n,
                           id_out *o) {
    if (n > s->sym_cap) {
        size_t c = n < 64 ? 64 : n;
        bpe_sym *sy = realloc(s->sym, c * sizeof *sy);
        if (!sy) return rt_error(RT_ERR_MEMORY, "rt_bpe_encode: out of memory");
        s->sym = sy;
        bpe_merge *h = realloc(s->heap, 2 * c * sizeof *h);
        if (!h) return rt_error(RT_ERR_MEMORY, "rt_bpe_encode: out of memory");
        s->heap = h;
        s->sym_cap = c;
        s->heap_cap = 2 * c;
    }
    bpe_sym *sy = s->sym;
    bpe_merge *heap = s->heap;
    size_t hn = 0;
    for (size_t i = 0; i < n; i++)
        sy[i] = (bpe_sym){t->byte_id[p[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, 1};
    for (size_t i = 0; i + 1 < n; i++) {
        const merge_slot *m = merge_find(t, sy[i].id, sy[i + 1].id);
        if (m) heap_push(heap, &hn, (bpe_merge){m->rank, (uint32_t)i, m->id});
    }
    /* The heap starts with at most n - 1 entries and each merge pops one and pushes at most two,
       a net gain of one for each of at most n - 1 merges: 2n slots suffice. */
    while (hn) {
        bpe_merge top = heap_pop(heap, &hn);
        bpe_sym *cur = &sy[top.pos];
        if (!cur->alive || cur->next < 0) continue;
        bpe_sym *right = &sy[cur->next];
        const merge_slot *m = merge_find(t, cur->id, right->id);
        if (!m || m->id != top.id) continue;
        cur->id = top.id;
        right->alive = 0;
        cur->next = right->next;
        if (right->next >= 0) sy[right->next].prev = (int32_t)top.pos;
        if (cur->prev >= 0) {
            m = merge_find(t, sy[cur->prev].id, cur->id);
            if (m) heap_push(heap, &hn, (bpe_merge){m->rank, (uint32_t)cur->prev, m->id});
        }
        if (cur->next >= 0) {
            m = merge_find(t, cur->id, sy[cur->next].id);
            if (m) heap_push(heap, &hn, (bpe_merge){m->rank, top.pos, m->id});
        }
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = sy[i].next) k++;
    rt_status st = out_reserve(o, k);
    if (st == RT_OK) {
        int32_t *dst = *o->ids + *o->n;
        for (int32_t i = 0; i >= 0; i = sy[i].next) *dst++ = sy[i].id;
        *o->n += k;
    }
    if (s->sym_cap > BPE_KEEP_SYMS) { /* do not hold on to a huge word's arrays */
        free(s->sym);
        free(s->heap);
        s->sym = NULL;
        s->heap = NULL;
        s->sym_cap = s->heap_cap = 0;
    }
    return st;
}

static rt_status encode_chunk(const rt_bpe *t, rt_bpe_scratch *s, const uint8_t *p, size_t n,
                              id_out *o) {
    if (n == 1) {
        RT_CALL(out_reserve(o, 1));
        (*o->ids)[(*o->n)++] = t->byte_id[p[0]];
        return RT_OK;
    }
    if (n > CACHE_MAX_KEY) return bpe_chunk(t, s, p, n, o);
    uint64_t h = hash_bytes(p, n);
    size_t i = (size_t)h & (CACHE_SLOTS - 1);
    for (;;) {
        const cache_slot *c = &s->slots[i];
        if (!c->h) break;
        if (c->h == h && c->klen == n && !memcmp(s->ckeys + c->koff, p, n)) {
            RT_CALL(out_reserve(o, c->nids));
            memcpy(*o->ids + *o->n, s->cids + c->ioff, c->nids * sizeof(int32_t));
            *o->n += c->nids;
            return RT_OK;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    size_t first = *o->n;
    RT_CALL(bpe_chunk(t, s, p, n, o));
    size_t k = *o->n - first;
    if (s->cache_n >= CACHE_ENTRIES || s->ckeys_used + n > CACHE_KEY_BYTES ||
        s->cids_used + k > CACHE_IDS) {
        cache_clear(s);
        i = (size_t)h & (CACHE_SLOTS - 1);
    }
    cache_slot *c = &s->slots[i];
    *c = (cache_slot){h, (uint32_t)s->ckeys_used, (uint32_t)s->cids_used, (uint16_t)n, (uint16_t)k};
    memcpy(s->ckeys + s->ckeys_used, p, n);
    memcpy(s->cids + s->cids_used, *o->ids + first, k * sizeof(int32_t));
    s->ckeys_used += n;
    s->cids_used += k;
    s->cache_n++;
    return RT_OK;
}

/* Calls fn on every pre-tokenization chunk of p[0..n) (valid UTF-8) in order. A stretch the
   pattern does not match becomes a chunk of its own, as in HF's Split(Isolated); with this
   pattern every character matches some branch, so that never happens. */
typedef rt_status (*chunk_fn)(const rt_bpe *, rt_bpe_scratch *, const uint8_t *, size_t, id_out *);

static rt_status split_chunks(const rt_bpe *t, rt_bpe_scratch *s, const uint8_t *p, size_t n,
                              chunk_fn fn, id_out *o) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
    size_t off = 0;
    while (off < n) {
        int rc = t->jit ? pcre2_jit_match(t->re, p, n, off, 0, s->md, s->mctx)
                        : pcre2_match(t->re, p, n, off, PCRE2_NO_UTF_CHECK, s->md, s->mctx);
        size_t a = n, b = n;
        if (rc >= 0) {
            a = ov[0];
            b = ov[1];
        } else if (rc != PCRE2_ERROR_NOMATCH) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return rt_error(RT_ERR_INTERNAL, "rt_bpe_encode: PCRE2 match failed at byte %zu: %s",
                            off, (const char *)msg);
        }
        if (a > off) RT_CALL(fn(t, s, p + off, a - off, o));
        if (b > a)
            RT_CALL(fn(t, s, p + a, b - a, o));
        else if (a < n)
            return rt_error(RT_ERR_INTERNAL, "rt_bpe_encode: empty pre-token match at byte %zu", a);
        off = b;
    }
    return RT_OK;
}

/* Replaces every ill-formed sequence of p[0..n) by U+FFFD into s->clean. */
static rt_status replace_invalid(rt_bpe_scratch *s, const uint8_t *p, size_t n, size_t first_bad,
                                 size_t *out_len, size_t *replaced) {
    size_t need = n + 2 * n + 1; /* worst case: every byte becomes 3 */
    if (need > s->clean_cap) {
        char *c = realloc(s->clean, need);
        if (!c) return rt_error(RT_ERR_MEMORY, "rt_bpe_encode: out of memory");
        s->clean = c;
        s->clean_cap = need;
    }
    uint8_t *d = (uint8_t *)s->clean;
    memcpy(d, p, first_bad);
    size_t j = first_bad, r = 0;
    for (size_t i = first_bad; i < n;) {
        size_t sub;
        int k = (int)rt_utf8_seq(p + i, n - i, &sub);
        if (k) {
            memcpy(d + j, p + i, (size_t)k);
            j += (size_t)k;
            i += (size_t)k;
        } else {
            d[j++] = 0xEF;
            d[j++] = 0xBF;
            d[j++] = 0xBD;
            r++;
            i += (size_t)sub;
        }
    }
    *out_len = j;
    *replaced = r;
    return RT_OK;
}

static rt_status encode_text(const rt_bpe *t, rt_bpe_scratch *s, const uint8_t *p, size_t n,
                             int allow_special, id_out *o) {
    const size_t el = sizeof EOS_TOKEN - 1;
    if (allow_special && t->eos_id >= 0) {
        /* HF splits on added tokens before pre-tokenizing: the text between is encoded apart. */
        size_t start = 0;
        for (size_t i = 0; i + el <= n;) {
            const uint8_t *q = memchr(p + i, '<', n - el + 1 - i);
            if (!q) break;
            i = (size_t)(q - p);
            if (memcmp(q, EOS_TOKEN, el)) {
                i++;
                continue;
            }
            RT_CALL(split_chunks(t, s, p + start, i - start, encode_chunk, o));
            RT_CALL(out_reserve(o, 1));
            (*o->ids)[(*o->n)++] = t->eos_id;
            i += el;
            start = i;
        }
        return split_chunks(t, s, p + start, n - start, encode_chunk, o);
    }
    return split_chunks(t, s, p, n, encode_chunk, o);
}

rt_status rt_bpe_encode(const rt_bpe *t, rt_bpe_scratch *s, const char *text, size_t len,
                        const rt_bpe_encode_opts *opts, int32_t **ids, size_t *n, size_t *cap,
                        size_t *n_replaced) {
    if (!t || !s || (!text && len) || !ids || !n || !cap || *n > *cap || (!*ids && *cap))
        return rt_error(RT_ERR_ARG, "rt_bpe_encode: bad argument");
    static const rt_bpe_encode_opts defaults = {0, 0, NULL, 0};
    if (!opts) opts = &defaults;
    if (n_replaced) *n_replaced = 0;
    RT_CALL(scratch_ready(s, t));
    const uint8_t *p = (const uint8_t *)text;
    size_t bad = rt_utf8_first_invalid(p, len);
    if (bad < len) {
        if (!opts->replace_invalid) {
            const char *src = opts->source ? opts->source : "text";
            if (opts->line > 0) {
                long line = opts->line;
                for (size_t i = 0; i < bad; i++) line += p[i] == '\n';
                return rt_error(RT_ERR_FORMAT,
                                "%s:%ld: invalid UTF-8 at byte offset %zu (byte 0x%02x)", src, line,
                                bad, p[bad]);
            }
            return rt_error(RT_ERR_FORMAT, "%s: invalid UTF-8 at byte offset %zu (byte 0x%02x)",
                            src, bad, p[bad]);
        }
        size_t r = 0;
        RT_CALL(replace_invalid(s, p, len, bad, &len, &r));
        if (n_replaced) *n_replaced = r;
        p = (const uint8_t *)s->clean;
    }
    size_t n0 = *n;
    id_out o = {ids, n, cap};
    rt_status st = encode_text(t, s, p, len, opts->allow_special, &o);
    if (st != RT_OK) {
        *n = n0;
        rt_error_trace(__FILE__, __LINE__, __func__);
    }
    return st;
}

rt_status rt_bpe_decode(const rt_bpe *t, const int32_t *ids, size_t n, char **out, size_t *len,
                        size_t *cap) {
    if (!t || (!ids && n) || !out || !len || !cap || *len > *cap || (!*out && *cap))
        return rt_error(RT_ERR_ARG, "rt_bpe_decode: bad argument");
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->vocab_size || t->tok_off[id] < 0)
            return rt_error(RT_ERR_ARG,
                            "rt_bpe_decode: id %d at position %zu is not in the "
                            "vocabulary (size %d)",
                            id, i, t->vocab_size);
        need += t->tok_len[id];
    }
    if (!need) return RT_OK;
    if (*len + need > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + need) c *= 2;
        char *p = realloc(*out, c);
        if (!p) return rt_error(RT_ERR_MEMORY, "rt_bpe_decode: out of memory for %zu bytes", c);
        *out = p;
        *cap = c;
    }
    char *d = *out + *len;
    for (size_t i = 0; i < n; i++) {
        memcpy(d, t->tok_bytes + t->tok_off[ids[i]], t->tok_len[ids[i]]);
        d += t->tok_len[ids[i]];
    }
    *len += need;
    return RT_OK;
}

/* ---- test hook (not part of bpe.h) ----
   Number of pre-tokenization chunks of valid UTF-8 text, or -1 on error. test_bpe uses it to
   check the character classes of every code point against Hugging Face's. */
int rt_bpe_test_count_chunks(const rt_bpe *t, rt_bpe_scratch *s, const char *text, size_t len);

static rt_status count_chunk(const rt_bpe *t, rt_bpe_scratch *s, const uint8_t *p, size_t n,
                             id_out *o) {
    (*o->n)++;
    return RT_OK;
}

int rt_bpe_test_count_chunks(const rt_bpe *t, rt_bpe_scratch *s, const char *text, size_t len) {
    if (scratch_ready(s, t) != RT_OK) return -1;
    size_t count = 0;
    id_out o = {NULL, &count, NULL};
    if (split_chunks(t, s, (const uint8_t *)text, len, count_chunk, &o) != RT_OK) return -1;
    return (int)count;
}
