/* The normalizer of a SentencePiece model (see spm_internal.h): the precompiled charsmap and the
   whitespace rules, as sentencepiece's normalizer.cc applies them.

   The charsmap blob is a uint32 little-endian byte size of a Darts-clone double-array trie, the
   trie (that many bytes of uint32 LE units), then NUL-terminated replacement strings; a key's
   value is the offset of its replacement. At each position the longest key that is a prefix of
   the rest of the input is replaced (only the first 32 matches count, sentencepiece's
   kMaxTrieResultsSize); where none matches one UTF-8 character passes unchanged, and a byte
   that does not start a well-formed character becomes U+FFFD (one byte consumed).

   Darts-clone unit layout: bit 8 "has leaf", label = bits 0-7 plus bit 31 (a value unit has
   bit 31 set, so it never matches an input byte), value = bits 0-30, offset = bits 10-31
   shifted left by 8 when bit 9 is set. From node p, byte c leads to p' = p ^ offset(unit[p]) ^ c
   when label(unit[p']) == c; a key ends at p' when p' has a leaf, whose value unit is at
   p' ^ offset(unit[p']). Every index is checked against the trie's size, so a malformed trie
   gives wrong replacements or an error, never a read outside it.

   Hugging Face's Precompiled normalizer (tokenizers) differs: it cuts the text into grapheme
   clusters and replaces a whole cluster (under 6 bytes) by the first (shortest) match of its
   start; this follows sentencepiece, the reference for spiece.model. */
#include <stdlib.h>
#include <string.h>
#include "spm_internal.h"
#include "text.h"

#define MAX_TRIE_RESULTS 32

static inline uint32_t d_offset(uint32_t u) {
    return (u >> 10) << ((u & (1u << 9)) >> 6);
}
static inline uint32_t d_label(uint32_t u) {
    return u & ((1u << 31) | 0xFFu);
}
static inline uint32_t d_value(uint32_t u) {
    return u & ((1u << 31) - 1);
}
static inline int d_has_leaf(uint32_t u) {
    return (u >> 8) & 1;
}

rt_status rt_spm_buf_reserve(rt_spm_buf *b, size_t extra) {
    if (b->cap - b->n >= extra) return RT_OK;
    size_t c = b->cap ? b->cap : 256;
    while (c - b->n < extra) c *= 2;
    char *p = realloc(b->p, c);
    if (!p) return rt_error(RT_ERR_MEMORY, "spm: out of memory (%zu bytes)", c);
    b->p = p;
    b->cap = c;
    return RT_OK;
}

/* Whether the trie has a node for key[0..n) (a prefix of some key); *leaf: a key ends there. */
static int walk(const rt_spm_norm *nm, const uint8_t *key, size_t n, int *leaf) {
    size_t pos = d_offset(nm->units[0]);
    *leaf = 0;
    for (size_t i = 0; i < n; i++) {
        pos ^= key[i];
        if (pos >= nm->n_units) return 0;
        uint32_t u = nm->units[pos];
        if (d_label(u) != key[i]) return 0;
        pos ^= d_offset(u);
        *leaf = d_has_leaf(u) && pos < nm->n_units;
    }
    return 1;
}

rt_status rt_spm_norm_init(rt_spm_norm *nm, const void *blob, size_t len, const char *source) {
    nm->source = source;
    nm->units = NULL;
    nm->blob = NULL;
    nm->n_units = nm->n_strs = 0;
    memset(nm->first_byte, 0, sizeof nm->first_byte);
    if (len == 0) return RT_OK;
    const uint8_t *b = blob;
    if (len <= 4)
        return rt_error(RT_ERR_FORMAT,
                        "%s: normalizer_spec.precompiled_charsmap: %zu bytes (expected a uint32 "
                        "trie size, the trie and the replacement strings)",
                        source, len);
    uint32_t trie =
        (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    if (trie < 4 || trie % 4 != 0 || trie >= len - 4)
        return rt_error(RT_ERR_FORMAT,
                        "%s: normalizer_spec.precompiled_charsmap: trie size %u out of range "
                        "(expected a positive multiple of 4 below the %zu bytes that follow it)",
                        source, trie, len - 4);
    nm->n_units = trie / 4;
    nm->units = malloc(trie);
    nm->blob = malloc(len - 4 - trie);
    if (!nm->units || !nm->blob) {
        rt_spm_norm_free(nm);
        return rt_error(RT_ERR_MEMORY, "%s: out of memory", source);
    }
    for (size_t i = 0; i < nm->n_units; i++) {
        const uint8_t *u = b + 4 + 4 * i;
        nm->units[i] =
            (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    nm->n_strs = len - 4 - trie;
    memcpy(nm->blob, b + 4 + trie, nm->n_strs);
    nm->strs = nm->blob;
    uint32_t root = d_offset(nm->units[0]);
    for (int c = 0; c < 256; c++) {
        size_t p = root ^ (uint32_t)c;
        nm->first_byte[c] = p < nm->n_units && d_label(nm->units[p]) == (uint32_t)c;
    }
    for (int b0 = 0; b0 < 128; b0++) {
        int leaf;
        uint8_t k[2] = {(uint8_t)b0, 0};
        nm->pass1[b0] = !walk(nm, k, 1, &leaf) || !leaf;
        for (int c = 0; c < 128; c++) {
            k[1] = (uint8_t)c;
            nm->pass2[b0][c] = nm->pass1[b0] && !walk(nm, k, 2, &leaf);
        }
    }
    return RT_OK;
}

void rt_spm_norm_free(rt_spm_norm *nm) {
    free(nm->units);
    free(nm->blob);
    nm->units = NULL;
    nm->blob = NULL;
}

/* Length of the longest key that prefixes s[0..n) (0: none), its value in *value. */
static size_t longest_match(const rt_spm_norm *nm, const uint8_t *s, size_t n, uint32_t *value) {
    size_t pos = d_offset(nm->units[0]), best = 0;
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= nm->n_units) break;
        uint32_t u = nm->units[pos];
        if (d_label(u) != s[i]) break;
        pos ^= d_offset(u);
        if (d_has_leaf(u) && pos < nm->n_units) {
            if (found < MAX_TRIE_RESULTS) {
                best = i + 1;
                *value = d_value(nm->units[pos]);
            }
            found++;
        }
    }
    return best;
}

typedef struct {
    const char *p; /* the normalized prefix */
    size_t n;
    size_t consumed; /* input bytes it replaces */
} prefix;

static const char REPLACEMENT[] = "\xEF\xBF\xBD";

static rt_status norm_prefix(const rt_spm_norm *nm, const uint8_t *s, size_t n, prefix *o) {
    if (nm->units && nm->first_byte[s[0]]) {
        uint32_t v = 0;
        size_t m = longest_match(nm, s, n, &v);
        if (m) {
            const char *z = v < nm->n_strs ? memchr(nm->strs + v, 0, nm->n_strs - v) : NULL;
            if (!z)
                return rt_error(RT_ERR_FORMAT,
                                "%s: normalizer_spec.precompiled_charsmap: replacement offset %u "
                                "out of range (expected a NUL-terminated string within the %zu "
                                "bytes after the trie)",
                                nm->source, v, nm->n_strs);
            o->p = nm->strs + v;
            o->n = (size_t)(z - o->p);
            o->consumed = m;
            return RT_OK;
        }
    }
    size_t sub, k = s[0] < 0x80 ? 1 : rt_utf8_seq(s, n, &sub);
    if (k) {
        o->p = (const char *)s;
        o->n = o->consumed = k;
    } else {
        o->p = REPLACEMENT;
        o->n = 3;
        o->consumed = 1;
    }
    return RT_OK;
}

static const char SPACE_SYMBOL[] = "\xE2\x96\x81"; /* U+2581 */

rt_status rt_spm_norm_run(const rt_spm_norm *nm, const char *text, size_t len, rt_spm_buf *b) {
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;
    if (len == 0) return RT_OK;
    prefix pr;
    if (nm->remove_extra_whitespaces) { /* leading spaces (what normalizes to " ") */
        while (i < len) {
            RT_CALL(norm_prefix(nm, s + i, len - i, &pr));
            if (pr.n != 1 || pr.p[0] != ' ') break;
            i += pr.consumed;
        }
    }
    const size_t start = b->n;
    int prev_space = nm->remove_extra_whitespaces;
    const int esc = nm->escape_whitespaces;
    if (nm->add_dummy_prefix) {
        RT_CALL(rt_spm_buf_reserve(b, 3));
        if (esc) {
            memcpy(b->p + b->n, SPACE_SYMBOL, 3);
            b->n += 3;
        } else
            b->p[b->n++] = ' ';
    }
    while (i < len) {
        /* fast path: a run of ASCII other than space where no charsmap key matches */
        size_t j = i;
        while (j < len && s[j] < 0x80 && s[j] != ' ') {
            if (nm->first_byte[s[j]] &&
                (j + 1 < len ? s[j + 1] >= 0x80 || !nm->pass2[s[j]][s[j + 1]] : !nm->pass1[s[j]]))
                break;
            j++;
        }
        if (j > i) {
            RT_CALL(rt_spm_buf_reserve(b, j - i));
            memcpy(b->p + b->n, s + i, j - i);
            b->n += j - i;
            prev_space = 0;
            i = j;
            continue;
        }
        RT_CALL(norm_prefix(nm, s + i, len - i, &pr));
        const char *p = pr.p;
        size_t n = pr.n;
        if (prev_space)
            while (n && *p == ' ') p++, n--;
        if (n) {
            RT_CALL(rt_spm_buf_reserve(b, 3 * n));
            for (size_t k = 0; k < n; k++) {
                if (esc && p[k] == ' ') {
                    memcpy(b->p + b->n, SPACE_SYMBOL, 3);
                    b->n += 3;
                } else
                    b->p[b->n++] = p[k];
            }
            prev_space = p[n - 1] == ' ';
        }
        i += pr.consumed;
    }
    if (nm->remove_extra_whitespaces) { /* trailing spaces */
        const char *sp = esc ? SPACE_SYMBOL : " ";
        size_t sl = esc ? 3 : 1;
        while (b->n - start >= sl && memcmp(b->p + b->n - sl, sp, sl) == 0) b->n -= sl;
    }
    return RT_OK;
}
