/* The cross-check of a Hugging Face tokenizer.json against the SentencePiece model it was
   converted from (see spm.h rt_spm_load), and its sentinels. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spm_internal.h"

/* ---- tokenizer.json ---- */

static rt_status hf_err(const char *path, const char *what) {
    return rt_error(RT_ERR_FORMAT, "%s: %s", path, what);
}

/* The precompiled_charsmap of the normalizer (alone or inside a Sequence), base64; NULL if none. */
static const char *hf_charsmap(json_t *norm) {
    if (!json_is_object(norm)) return NULL;
    const char *ty = json_string_value(json_object_get(norm, "type"));
    if (ty && strcmp(ty, "Precompiled") == 0)
        return json_string_value(json_object_get(norm, "precompiled_charsmap"));
    json_t *list = json_object_get(norm, "normalizers"), *v;
    size_t i;
    json_array_foreach(list, i, v) {
        const char *c = hf_charsmap(v);
        if (c) return c;
    }
    return NULL;
}

static rt_status hf_compare_charsmap(rt_spm *t, const char *path, const char *b64) {
    size_t n = strlen(b64), have = t->norm.units ? 4 + 4 * t->norm.n_units + t->norm.n_strs : 0;
    unsigned char *buf = malloc(n / 4 * 3 + 3);
    if (!buf) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    int m = n % 4 == 0 ? EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n) : -1;
    if (m >= 0 && n >= 1 && b64[n - 1] == '=') m--;
    if (m >= 0 && n >= 2 && b64[n - 2] == '=') m--;
    int same = m >= 0 && (size_t)m == have;
    if (same && have) {
        uint32_t trie = (uint32_t)t->norm.n_units * 4;
        same = memcmp(buf,
                      &(uint8_t[4]){(uint8_t)trie, (uint8_t)(trie >> 8), (uint8_t)(trie >> 16),
                                    (uint8_t)(trie >> 24)},
                      4) == 0;
        for (size_t i = 0; same && i < t->norm.n_units; i++) {
            const uint8_t *u = buf + 4 + 4 * i;
            same = ((uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
                    (uint32_t)u[3] << 24) == t->norm.units[i];
        }
        same = same && memcmp(buf + 4 + trie, t->norm.strs, t->norm.n_strs) == 0;
    }
    free(buf);
    if (!same)
        return rt_error(RT_ERR_FORMAT,
                        "%s: normalizer precompiled_charsmap differs from %s's "
                        "normalizer_spec.precompiled_charsmap (%zu bytes; expected the same "
                        "bytes, base64)",
                        path, t->source, have);
    return RT_OK;
}

rt_status rt_spm_check_hf_json(rt_spm *t, const char *path, int *n_extra) {
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!root) {
        FILE *f = fopen(path, "rb");
        if (!f) return rt_error(RT_ERR_IO, "%s: cannot read: %s", path, jerr.text);
        fclose(f);
        return rt_error(RT_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column,
                        jerr.text);
    }
    char msg[512];
    rt_status s = RT_OK;
    json_t *model = json_object_get(root, "model");
    const char *ty = json_string_value(json_object_get(model, "type"));
    json_t *vocab = json_object_get(model, "vocab");
    if (!ty)
        s = hf_err(path, "model.type: missing (expected \"Unigram\")");
    else if (strcmp(ty, "Unigram") != 0) {
        snprintf(msg, sizeof msg,
                 "model.type is \"%s\" (expected \"Unigram\", a SentencePiece unigram model)", ty);
        s = hf_err(path, msg);
    } else if (!json_is_array(vocab) || json_array_size(vocab) < (size_t)t->n_pieces) {
        snprintf(msg, sizeof msg,
                 "model.vocab: %zu entries (expected an array of the %d pieces of %s, then the "
                 "sentinels)",
                 json_array_size(vocab), t->n_pieces, t->source);
        s = hf_err(path, msg);
    }
    for (int i = 0; s == RT_OK && i < t->n_pieces; i++) {
        json_t *e = json_array_get(vocab, (size_t)i);
        const char *p = json_string_value(json_array_get(e, 0));
        json_t *sc = json_array_get(e, 1);
        if (!p || !json_is_number(sc) || json_array_size(e) != 2) {
            snprintf(msg, sizeof msg, "model.vocab[%d]: expected [piece, score]", i);
            s = hf_err(path, msg);
        } else if (strcmp(p, t->text + t->off[i]) != 0 ||
                   (float)json_number_value(sc) != t->score[i]) {
            snprintf(msg, sizeof msg,
                     "model.vocab[%d] is [\"%.40s\", %.9g] but %s has [\"%.40s\", %.9g] (expected "
                     "the same pieces and scores)",
                     i, p, json_number_value(sc), t->source, t->text + t->off[i],
                     (double)t->score[i]);
            s = hf_err(path, msg);
        }
    }
    json_t *unk = json_object_get(model, "unk_id");
    if (s == RT_OK && (!json_is_integer(unk) || json_integer_value(unk) != t->unk_id)) {
        snprintf(msg, sizeof msg, "model.unk_id: expected %d, the UNKNOWN piece of %s", t->unk_id,
                 t->source);
        s = hf_err(path, msg);
    }
    if (s == RT_OK && json_is_true(json_object_get(model, "byte_fallback")))
        s = hf_err(path, "model.byte_fallback is true (expected false)");
    const char *cm = s == RT_OK ? hf_charsmap(json_object_get(root, "normalizer")) : NULL;
    if (s == RT_OK && (cm || t->norm.units)) {
        if (!cm)
            s = hf_err(path, "normalizer: no Precompiled charsmap (expected the model's)");
        else
            s = hf_compare_charsmap(t, path, cm);
    }
    /* added tokens: the model's own pieces where id < pieces, sentinels above */
    json_t *added = json_object_get(root, "added_tokens"), *a;
    size_t i;
    int k = 0, max_n = -1;
    json_array_foreach(added, i, a) {
        if (s != RT_OK) break;
        json_t *idj = json_object_get(a, "id");
        const char *c = json_string_value(json_object_get(a, "content"));
        if (!json_is_integer(idj) || !c) {
            snprintf(msg, sizeof msg, "added_tokens[%zu]: expected {\"id\": int, \"content\": str}",
                     i);
            s = hf_err(path, msg);
            break;
        }
        json_int_t id = json_integer_value(idj);
        int sn = rt_spm_sentinel_number(c, strlen(c));
        if (id >= 0 && id < t->n_pieces) {
            if (strcmp(c, t->text + t->off[id]) != 0) {
                snprintf(msg, sizeof msg,
                         "added_tokens[%zu]: \"%.40s\" with id %lld (expected piece \"%.40s\")", i,
                         c, (long long)id, t->text + t->off[id]);
                s = hf_err(path, msg);
            }
        } else if (sn >= 0) {
            k++;
            if (sn > max_n) max_n = sn;
        } else {
            snprintf(msg, sizeof msg,
                     "added_tokens[%zu]: \"%.40s\" with id %lld (expected a piece of the model or "
                     "a sentinel <extra_id_N>)",
                     i, c, (long long)id);
            s = hf_err(path, msg);
        }
    }
    if (s == RT_OK && k != max_n + 1)
        s = hf_err(path, "added_tokens: the <extra_id_N> are not N = 0 .. count - 1");
    if (s == RT_OK && json_array_size(vocab) != (size_t)(t->n_pieces + k)) {
        snprintf(msg, sizeof msg,
                 "model.vocab: %zu entries (expected the %d pieces of %s and the %d sentinels of "
                 "added_tokens)",
                 json_array_size(vocab), t->n_pieces, t->source, k);
        s = hf_err(path, msg);
    }
    for (size_t j = (size_t)t->n_pieces; s == RT_OK && j < json_array_size(vocab); j++) {
        const char *p = json_string_value(json_array_get(json_array_get(vocab, j), 0));
        if (!p || rt_spm_sentinel_number(p, strlen(p)) != t->n_pieces + k - 1 - (int)j) {
            snprintf(msg, sizeof msg, "model.vocab[%zu]: expected \"<extra_id_%d>\"", j,
                     t->n_pieces + k - 1 - (int)j);
            s = hf_err(path, msg);
        }
    }
    json_array_foreach(added, i, a) {
        if (s != RT_OK) break;
        const char *c = json_string_value(json_object_get(a, "content"));
        int sn = rt_spm_sentinel_number(c, strlen(c));
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        if (sn >= 0 && id != (json_int_t)t->n_pieces + k - 1 - sn) {
            snprintf(msg, sizeof msg, "added_tokens[%zu]: \"%s\" has id %lld (expected %d)", i, c,
                     (long long)id, t->n_pieces + k - 1 - sn);
            s = hf_err(path, msg);
        }
    }
    json_decref(root);
    *n_extra = k;
    return s;
}
