/* Text helpers every layer shares: UTF-8 encoding of a code point, UTF-8 sequence lengths under
   Unicode's maximal-subpart rule (what Python's errors='replace' replaces with one U+FFFD each),
   and JSON string literals. Pure (rt_json_write_string writes to the caller's stream). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length (1..4) of the well-formed UTF-8 sequence at p[0..avail) (avail >= 1), or 0 when it is
   ill-formed; then *sub is the length of its maximal ill-formed subpart (1..3). */
static inline size_t rt_utf8_seq(const uint8_t *p, size_t avail, size_t *sub) {
    uint8_t b0 = p[0];
    if (b0 < 0x80) return 1;
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        *sub = 1;
        return 0;
    }
    size_t k = 1;
    if (k < avail && p[k] >= lo && p[k] <= hi) {
        k++;
        while (k < need && k < avail && p[k] >= 0x80 && p[k] <= 0xBF) k++;
    }
    if (k == need) return need;
    *sub = k;
    return 0;
}

/* Writes code point cp (< 0x110000) as 1..4 UTF-8 bytes to o; returns their count. */
static inline int rt_utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63));
    o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Offset of the first ill-formed sequence in p[0..n), or n when all of it is valid. */
static inline size_t rt_utf8_first_invalid(const uint8_t *p, size_t n) {
    size_t i = 0, sub;
    while (i < n) {
        while (i + 8 <= n) { /* ASCII runs 8 bytes at a time */
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ull) break;
            i += 8;
        }
        if (i >= n) break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = rt_utf8_seq(p + i, n - i, &sub);
        if (!k) return i;
        i += k;
    }
    return n;
}

/* Writes s as a JSON string literal ("null" for NULL): \" \\ \n \r \t, other control characters
   and DEL as \u00XX; other bytes as they are. Also a valid YAML double-quoted scalar. */
void rt_json_write_string(FILE *f, const char *s);
