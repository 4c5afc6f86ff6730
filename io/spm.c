/* SentencePiece unigram tokenizer (see spm.h): loading spiece.model with protobuf-c, Viterbi as
   sentencepiece's unigram_model.cc EncodeOptimized, added tokens as Hugging Face's
   T5TokenizerFast, decode. The piece trie is in spm_trie.c, normalization in spm_norm.c, the
   cross-check of a tokenizer.json in spm_hf.c. */
#include "spm.h"
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fsutil.h"
#include "sentencepiece_model.pb-c.h"
#include "spm_internal.h"
#include "text.h"

/* ---- loading ---- */

void rt_spm_destroy(rt_spm **tp) {
    rt_spm *t = *tp;
    if (!t) return;
    free(t->score);
    free(t->type);
    free(t->off);
    free(t->text);
    free(t->unk_surface);
    free(t->da);
    rt_spm_norm_free(&t->norm);
    free(t->source);
    free(t);
    *tp = NULL;
}

static rt_status check_piece(const char *src, int i, const uint8_t *p, size_t n) {
    if (n == 0)
        return rt_error(RT_ERR_FORMAT, "%s: pieces[%d].piece is empty (expected a UTF-8 string)",
                        src, i);
    size_t bad = rt_utf8_first_invalid(p, n);
    const void *nul = memchr(p, 0, n);
    if (nul && (size_t)((const uint8_t *)nul - p) < bad) bad = (size_t)((const uint8_t *)nul - p);
    if (bad < n)
        return rt_error(RT_ERR_FORMAT,
                        "%s: pieces[%d].piece is not valid UTF-8 (byte 0x%02X at offset %zu; "
                        "expected UTF-8 without NUL)",
                        src, i, p[bad], bad);
    return RT_OK;
}

/* Copies what the tokenizer needs out of the parsed model. */
static rt_status from_proto(rt_spm *t, const Ringtune__Spm__ModelProto *m) {
    const char *src = t->source;
    if (m->n_pieces == 0)
        return rt_error(RT_ERR_FORMAT, "%s: pieces: empty vocabulary (expected at least one piece)",
                        src);
    if (m->n_pieces >= (1u << 24))
        return rt_error(RT_ERR_FORMAT, "%s: pieces: %zu pieces (expected fewer than 2^24)", src,
                        m->n_pieces);
    /* sentencepiece writes every field; without them the file was cut at a piece boundary */
    if (!m->trainer_spec)
        return rt_error(RT_ERR_FORMAT,
                        "%s: no trainer_spec (field 2) after %zu pieces (expected a complete "
                        "SentencePiece model; truncated?)",
                        src, m->n_pieces);
    if (!m->normalizer_spec)
        return rt_error(RT_ERR_FORMAT,
                        "%s: no normalizer_spec (field 3) (expected a complete SentencePiece "
                        "model; truncated?)",
                        src);
    const Ringtune__Spm__TrainerSpec *ts = m->trainer_spec;
    if (ts->model_type != RINGTUNE__SPM__TRAINER_SPEC__MODEL_TYPE__UNIGRAM)
        return rt_error(RT_ERR_FORMAT,
                        "%s: trainer_spec.model_type is %d (expected 1, UNIGRAM; BPE, WORD and "
                        "CHAR models are not supported)",
                        src, (int)ts->model_type);
    if (ts->byte_fallback)
        return rt_error(RT_ERR_FORMAT,
                        "%s: trainer_spec.byte_fallback is true (expected false: byte fallback is "
                        "not supported)",
                        src);
    int n = (int)m->n_pieces;
    t->n_pieces = n;
    t->n_extra = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const Ringtune__Spm__ModelProto__SentencePiece *sp = m->pieces[i];
        RT_CALL(check_piece(src, i, sp->piece.data, sp->piece.len));
        if (!isfinite(sp->score))
            return rt_error(RT_ERR_FORMAT, "%s: pieces[%d].score is %g (expected a finite number)",
                            src, i, (double)sp->score);
        int ty = (int)sp->type;
        if (ty < SPM_NORMAL || ty > SPM_BYTE)
            return rt_error(RT_ERR_FORMAT,
                            "%s: pieces[%d].type is %d (expected 1..6: NORMAL, UNKNOWN, CONTROL, "
                            "USER_DEFINED, UNUSED, BYTE)",
                            src, i, ty);
        total += sp->piece.len + 1;
    }
    t->score = malloc(n * sizeof *t->score);
    t->type = malloc(n);
    t->off = malloc((n + 1) * sizeof *t->off);
    t->text = malloc(total);
    if (!t->score || !t->type || !t->off || !t->text)
        return rt_error(RT_ERR_MEMORY, "%s: out of memory", src);
    size_t o = 0;
    int n_normal = 0, unk = -1;
    t->min_score = FLT_MAX;
    t->max_score = FLT_MIN; /* as sentencepiece */
    for (int i = 0; i < n; i++) {
        const Ringtune__Spm__ModelProto__SentencePiece *sp = m->pieces[i];
        t->score[i] = sp->score;
        t->type[i] = (uint8_t)sp->type;
        t->off[i] = (uint32_t)o;
        memcpy(t->text + o, sp->piece.data, sp->piece.len);
        o += sp->piece.len;
        t->text[o++] = 0;
        if ((int)sp->type == SPM_NORMAL) {
            n_normal++;
            if (sp->score < t->min_score) t->min_score = sp->score;
            if (sp->score > t->max_score) t->max_score = sp->score;
        } else if ((int)sp->type == SPM_UNKNOWN) {
            if (unk >= 0)
                return rt_error(RT_ERR_FORMAT,
                                "%s: pieces[%d] and pieces[%d] both have type UNKNOWN (expected "
                                "one <unk>)",
                                src, unk, i);
            unk = i;
        }
    }
    t->off[n] = (uint32_t)o;
    if (unk < 0)
        return rt_error(RT_ERR_FORMAT, "%s: pieces: no piece of type UNKNOWN (expected one <unk>)",
                        src);
    if (ts->has_unk_id && ts->unk_id != unk)
        return rt_error(RT_ERR_FORMAT,
                        "%s: trainer_spec.unk_id is %d but the UNKNOWN piece is pieces[%d] "
                        "(expected them to agree)",
                        src, (int)ts->unk_id, unk);
    if (n_normal == 0)
        return rt_error(RT_ERR_FORMAT,
                        "%s: pieces: no piece of type NORMAL (expected a vocabulary to encode "
                        "with)",
                        src);
    t->unk_id = unk;
    t->unk_score = t->min_score - 10.0f; /* sentencepiece's kUnkPenalty */
    t->eos_id = ts->eos_id >= 0 && ts->eos_id < n && t->type[ts->eos_id] == SPM_CONTROL
                    ? (int)ts->eos_id
                    : -1;
    t->pad_id = ts->pad_id >= 0 && ts->pad_id < n && t->type[ts->pad_id] == SPM_CONTROL
                    ? (int)ts->pad_id
                    : -1;
    t->unk_surface = strdup(ts->unk_surface ? ts->unk_surface : " \xE2\x81\x87 ");
    if (!t->unk_surface) return rt_error(RT_ERR_MEMORY, "%s: out of memory", src);
    const Ringtune__Spm__NormalizerSpec *ns = m->normalizer_spec;
    RT_CALL(rt_spm_norm_init(&t->norm, ns->precompiled_charsmap.data,
                             ns->has_precompiled_charsmap ? ns->precompiled_charsmap.len : 0,
                             t->source));
    t->norm.add_dummy_prefix = ns->add_dummy_prefix;
    t->norm.remove_extra_whitespaces = ns->remove_extra_whitespaces;
    t->norm.escape_whitespaces = ns->escape_whitespaces;
    RT_CALL(rt_spm_build_trie(t, total));
    return RT_OK;
}

/* Appends the sentinels' names "<extra_id_N>" (ids n_pieces .. n_pieces + k - 1, N = k-1 .. 0)
   to the piece text. */
static rt_status add_sentinels(rt_spm *t, int k) {
    size_t base = t->off[t->n_pieces];
    char *text = realloc(t->text, base + (size_t)k * 16);
    uint32_t *off = realloc(t->off, (t->n_pieces + k + 1) * sizeof *off);
    if (text) t->text = text;
    if (off) t->off = off;
    if (!text || !off) return rt_error(RT_ERR_MEMORY, "%s: out of memory", t->source);
    size_t o = base;
    for (int j = 0; j < k; j++) {
        t->off[t->n_pieces + j] = (uint32_t)o;
        o += (size_t)sprintf(t->text + o, "<extra_id_%d>", k - 1 - j) + 1;
    }
    t->off[t->n_pieces + k] = (uint32_t)o;
    t->n_extra = k;
    return RT_OK;
}

rt_status rt_spm_load_bytes(rt_spm **out, const void *data, size_t len, const char *name,
                            const char *tokenizer_json) {
    *out = NULL;
    rt_spm *t = calloc(1, sizeof *t);
    if (!t || !(t->source = strdup(name))) {
        free(t);
        return rt_error(RT_ERR_MEMORY, "%s: out of memory", name);
    }
    Ringtune__Spm__ModelProto *m =
        ringtune__spm__model_proto__unpack(NULL, len, (const uint8_t *)data);
    rt_status s = RT_OK;
    if (!m)
        s = rt_error(RT_ERR_FORMAT,
                     "%s: not a SentencePiece model: the protobuf ModelProto does not parse "
                     "(%zu bytes; truncated or corrupt?)",
                     name, len);
    else
        s = from_proto(t, m);
    if (m) ringtune__spm__model_proto__free_unpacked(m, NULL);
    int k = RT_SPM_T5_EXTRA_IDS;
    if (s == RT_OK && tokenizer_json) s = rt_spm_check_hf_json(t, tokenizer_json, &k);
    if (s == RT_OK) s = add_sentinels(t, k);
    if (s != RT_OK) {
        rt_error_trace(__FILE__, __LINE__, __func__);
        rt_spm_destroy(&t);
        return s;
    }
    *out = t;
    return RT_OK;
}

rt_status rt_spm_load(rt_spm **out, const char *model_path, const char *tokenizer_json) {
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    RT_CALL(rt_fs_read_file(model_path, &buf, &len));
    rt_status s = rt_spm_load_bytes(out, buf, len, model_path, tokenizer_json);
    free(buf);
    return s;
}

int rt_spm_n_pieces(const rt_spm *t) {
    return t->n_pieces;
}
int rt_spm_vocab_size(const rt_spm *t) {
    return t->n_pieces + t->n_extra;
}
int rt_spm_eos_id(const rt_spm *t) {
    return t->eos_id;
}
int rt_spm_unk_id(const rt_spm *t) {
    return t->unk_id;
}
int rt_spm_pad_id(const rt_spm *t) {
    return t->pad_id;
}
const char *rt_spm_piece(const rt_spm *t, int id) {
    return id >= 0 && id < t->n_pieces + t->n_extra ? t->text + t->off[id] : NULL;
}

/* N when s is "<extra_id_N>" (N decimal without leading zeros), else -1. */
int rt_spm_sentinel_number(const char *s, size_t n) {
    static const char pre[] = "<extra_id_";
    const size_t lp = sizeof pre - 1;
    if (n < lp + 2 || memcmp(s, pre, lp) != 0 || s[n - 1] != '>') return -1;
    size_t d = n - lp - 1;
    if (d > 6 || (d > 1 && s[lp] == '0')) return -1;
    int v = 0;
    for (size_t i = 0; i < d; i++) {
        if (s[lp + i] < '0' || s[lp + i] > '9') return -1;
        v = v * 10 + (s[lp + i] - '0');
    }
    return v;
}

/* ---- encode ---- */

typedef struct {
    float score;
    int32_t start; /* -1: not reached */
    int32_t id;
} best_node;

/* Appends to ids the pieces of normalized text s[0..n) (sentencepiece's EncodeOptimized, then
   consecutive unknowns fused). lat has n + 1 nodes. */
static rt_status viterbi(const rt_spm *t, const uint8_t *s, size_t n, best_node *lat, int32_t *tmp,
                         int32_t **ids, size_t *nid, size_t *cap) {
    static const uint8_t lentab[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    for (size_t i = 0; i <= n; i++) lat[i] = (best_node){0.0f, -1, -1};
    const float unk_score = t->unk_score;
    for (size_t at = 0; at < n;) {
        const float base = lat[at].score;
        size_t mblen = lentab[s[at] >> 4];
        if (mblen > n - at) mblen = n - at;
        int single = 0;
        const da_unit *da = t->da;
        uint32_t node = 0;
        for (size_t k = at; k < n;) {
            size_t y = (size_t)da[node].base + s[k];
            if (!da[node].base || y >= t->n_da || da[y].check != node + 1) break;
            node = (uint32_t)y;
            k++;
            const da_unit *e = &da[y];
            if (e->pid >= 0) {
                size_t length = k - at;
                /* float throughout: path scores are stored as float and ties (T5's "-" +
                   "---" against "---" + "-") are broken by float rounding. PyPI sentencepiece
                   0.2.3 gives these ids; summing in double (as a reading of the C++ source
                   suggests) gives other ids on the fixture's runs of '-' */
                float sc = e->score != INFINITY ? e->score : (float)length * t->max_score - 0.1f;
                float cand = sc + base;
                best_node *b = &lat[k];
                if (b->start == -1 || cand > b->score) {
                    b->score = cand;
                    b->start = (int32_t)at;
                    b->id = e->pid;
                }
                if (length == mblen) single = 1;
            }
        }
        if (!single) { /* the unknown candidate, float throughout */
            float cand = unk_score + base;
            best_node *b = &lat[at + mblen];
            if (b->start == -1 || cand > b->score) {
                b->score = cand;
                b->start = (int32_t)at;
                b->id = t->unk_id;
            }
        }
        at += mblen;
    }
    size_t m = 0;
    for (size_t end = n; end > 0; end = (size_t)lat[end].start) tmp[m++] = lat[end].id;
    size_t add = 0;
    for (size_t j = m; j-- > 0;)
        add += !(tmp[j] == t->unk_id && j + 1 < m && tmp[j + 1] == t->unk_id);
    if (*cap - *nid < add) {
        size_t c = *cap ? *cap : 64;
        while (c - *nid < add) c *= 2;
        int32_t *p = realloc(*ids, c * sizeof *p);
        if (!p) return rt_error(RT_ERR_MEMORY, "spm: out of memory (%zu ids)", c);
        *ids = p;
        *cap = c;
    }
    int prev_unk = 0;
    for (size_t j = m; j-- > 0;) {
        int is_unk = tmp[j] == t->unk_id;
        if (!(is_unk && prev_unk)) (*ids)[(*nid)++] = tmp[j];
        prev_unk = is_unk;
    }
    return RT_OK;
}

/* Length of the added token (a CONTROL or UNKNOWN piece, or a sentinel) at s[0..n), its id in
 *id; 0 when none starts there. */
static size_t added_token_at(const rt_spm *t, const char *s, size_t n, int32_t *id) {
    if (n < 3 || s[0] != '<') return 0;
    const char *gt = memchr(s, '>', n < 24 ? n : 24);
    if (!gt) return 0;
    size_t len = (size_t)(gt - s) + 1;
    int sn = rt_spm_sentinel_number(s, len);
    if (sn >= 0 && sn < t->n_extra) {
        *id = t->n_pieces + t->n_extra - 1 - sn;
        return len;
    }
    for (int i = 0; i < t->n_pieces; i++) { /* few; T5: <pad>, </s>, <unk> at 0..2 */
        if (t->type[i] != SPM_CONTROL && t->type[i] != SPM_UNKNOWN) continue;
        const char *p = t->text + t->off[i];
        if (strlen(p) == len && memcmp(p, s, len) == 0) {
            *id = i;
            return len;
        }
    }
    return 0;
}

static rt_status push_id(int32_t **ids, size_t *n, size_t *cap, int32_t id) {
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        int32_t *p = realloc(*ids, c * sizeof *p);
        if (!p) return rt_error(RT_ERR_MEMORY, "spm: out of memory (%zu ids)", c);
        *ids = p;
        *cap = c;
    }
    (*ids)[(*n)++] = id;
    return RT_OK;
}

/* One segment (no added tokens): normalize, Viterbi. */
static rt_status encode_segment(const rt_spm *t, const char *text, size_t len, rt_spm_buf *nb,
                                best_node **lat, int32_t **tmp, size_t *lat_cap, int32_t **ids,
                                size_t *n, size_t *cap) {
    nb->n = 0;
    RT_CALL(rt_spm_norm_run(&t->norm, text, len, nb));
    if (nb->n == 0) return RT_OK;
    if (*lat_cap < nb->n + 1) {
        free(*lat);
        free(*tmp);
        *lat = malloc((nb->n + 1) * sizeof **lat);
        *tmp = malloc((nb->n + 1) * sizeof **tmp);
        *lat_cap = *lat && *tmp ? nb->n + 1 : 0;
        if (!*lat_cap) return rt_error(RT_ERR_MEMORY, "spm: out of memory (%zu bytes)", nb->n);
    }
    return viterbi(t, (const uint8_t *)nb->p, nb->n, *lat, *tmp, ids, n, cap);
}

rt_status rt_spm_encode(const rt_spm *t, const char *text, size_t len,
                        const rt_spm_encode_opts *opts, int32_t **ids, size_t *n, size_t *cap) {
    rt_spm_encode_opts o = opts ? *opts : (rt_spm_encode_opts){0, 0};
    rt_spm_buf nb = {0};
    best_node *lat = NULL;
    int32_t *tmp = NULL;
    size_t lat_cap = 0, n0 = *n;
    rt_status s = RT_OK;
    size_t seg = 0;
    if (o.allow_special) {
        for (size_t i = 0; i < len && s == RT_OK;) {
            const char *lt = memchr(text + i, '<', len - i);
            if (!lt) break;
            i = (size_t)(lt - text);
            int32_t id;
            size_t m = added_token_at(t, text + i, len - i, &id);
            if (!m) {
                i++;
                continue;
            }
            s = encode_segment(t, text + seg, i - seg, &nb, &lat, &tmp, &lat_cap, ids, n, cap);
            if (s == RT_OK) s = push_id(ids, n, cap, id);
            i += m;
            seg = i;
        }
    }
    if (s == RT_OK)
        s = encode_segment(t, text + seg, len - seg, &nb, &lat, &tmp, &lat_cap, ids, n, cap);
    if (s == RT_OK && o.add_eos) {
        if (t->eos_id < 0)
            s = rt_error(RT_ERR_ARG, "%s: the model has no </s> to append (trainer_spec.eos_id)",
                         t->source);
        else
            s = push_id(ids, n, cap, t->eos_id);
    }
    free(nb.p);
    free(lat);
    free(tmp);
    if (s != RT_OK) {
        *n = n0;
        rt_error_trace(__FILE__, __LINE__, __func__);
    }
    return s;
}

rt_status rt_spm_normalize(const rt_spm *t, const char *text, size_t len, char **out, size_t *olen,
                           size_t *cap) {
    rt_spm_buf b = {*out, *olen, *cap};
    rt_status s = rt_spm_norm_run(&t->norm, text, len, &b);
    *out = b.p;
    *cap = b.cap;
    if (s == RT_OK) *olen = b.n;
    return s;
}

/* ---- decode ---- */

rt_status rt_spm_decode(const rt_spm *t, const int32_t *ids, size_t n, char **out, size_t *len,
                        size_t *cap) {
    int vs = t->n_pieces + t->n_extra;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vs)
            return rt_error(RT_ERR_ARG, "%s: id %d at position %zu out of range [0, %d)", t->source,
                            ids[i], i, vs);
    rt_spm_buf b = {*out, *len, *cap};
    const size_t start = b.n;
    const int strip = t->norm.add_dummy_prefix || t->norm.remove_extra_whitespaces;
    rt_status s = RT_OK;
    for (size_t i = 0; i < n && s == RT_OK; i++) {
        int id = ids[i];
        const char *p = t->text + t->off[id];
        size_t pn = t->off[id + 1] - t->off[id] - 1;
        if (id < t->n_pieces && t->type[id] == SPM_CONTROL) continue;
        if (id == t->unk_id) {
            p = t->unk_surface;
            pn = strlen(p);
        } else if (id < t->n_pieces && strip && b.n == start && pn >= 3 &&
                   memcmp(p, "\xE2\x96\x81", 3) == 0) {
            p += 3;
            pn -= 3;
        }
        s = rt_spm_buf_reserve(&b, pn);
        for (size_t k = 0; s == RT_OK && k < pn; k++) {
            if (id < t->n_pieces && k + 2 < pn && memcmp(p + k, "\xE2\x96\x81", 3) == 0) {
                b.p[b.n++] = ' ';
                k += 2;
            } else
                b.p[b.n++] = p[k];
        }
    }
    *out = b.p;
    *cap = b.cap;
    if (s == RT_OK)
        *len = b.n;
    else
        rt_error_trace(__FILE__, __LINE__, __func__);
    return s;
}
