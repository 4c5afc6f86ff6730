/* Sequence-to-sequence pairs of `ringtune prep` (dist/prep_pairs.h). */
#include "prep_pairs.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "text.h"

int rt_prep_is_pairs(const rt_prep_opts *o) {
    return o->source_field != NULL || o->target_field != NULL;
}

rt_status rt_prep_pair_opts_check(const rt_prep_opts *o) {
    int limits = o->source_prefix != NULL || o->max_source_len != 0 || o->max_target_len != 0;
    if (!rt_prep_is_pairs(o))
        return limits ? rt_error(RT_ERR_ARG, "prep: --source-prefix, --max-source-len and "
                                             "--max-target-len need --source-field and "
                                             "--target-field")
                      : RT_OK;
    if (!o->source_field || !*o->source_field || !o->target_field || !*o->target_field)
        return rt_error(RT_ERR_ARG, "prep: a pairs corpus needs both --source-field and "
                                    "--target-field (non-empty field names)");
    if (o->format != RT_PREP_JSONL)
        return rt_error(RT_ERR_ARG, "prep: --source-field/--target-field apply to jsonl input");
    if (o->label_field)
        return rt_error(RT_ERR_ARG, "prep: a corpus is labeled (--label-field) or pairs "
                                    "(--source-field/--target-field), not both");
    if (o->tokenizer)
        return rt_error(RT_ERR_ARG, "prep: a pairs corpus is tokenized with a SentencePiece "
                                    "tokenizer (--tokenizer DIR with spiece.model), not the "
                                    "BPE tokenizer given");
    if (o->max_source_len < 0 || o->max_target_len < 0)
        return rt_error(RT_ERR_ARG, "prep: negative --max-source-len or --max-target-len");
    if (o->source_prefix) {
        size_t n = strlen(o->source_prefix);
        size_t bad = rt_utf8_first_invalid((const uint8_t *)o->source_prefix, n);
        if (bad != n)
            return rt_error(RT_ERR_ARG,
                            "prep: --source-prefix is not valid UTF-8 (byte 0x%02x at "
                            "offset %zu)",
                            (unsigned char)o->source_prefix[bad], bad);
    }
    return RT_OK;
}

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* One string field: *s, *n, or *why set. */
static void get_field(const json_t *root, const char *field, const char *side, const char **s,
                      size_t *n, char *why, size_t why_n) {
    json_t *v = json_object_get(root, field);
    if (!v) {
        snprintf(why, why_n, "no %s field \"%s\" in the JSON object", side, field);
    } else if (!json_is_string(v)) {
        snprintf(why, why_n, "%s field \"%s\" is %s, expected a string", side, field, json_kind(v));
    } else {
        *s = json_string_value(v);
        *n = json_string_length(v);
    }
}

rt_status rt_prep_pair_fields(const rt_prep_opts *o, const json_t *root, rt_prep_pair_text *pt,
                              char *why, size_t why_n) {
    memset(pt, 0, sizeof *pt);
    why[0] = 0;
    get_field(root, o->source_field, "source", &pt->src, &pt->n_src, why, why_n);
    if (!why[0]) get_field(root, o->target_field, "target", &pt->tgt, &pt->n_tgt, why, why_n);
    return RT_OK;
}

size_t rt_prep_truncate_eos(int32_t *ids, size_t n, int max, int eos, int *cut) {
    *cut = max > 0 && n > (size_t)max;
    if (!*cut) return n;
    ids[max - 1] = eos;
    return (size_t)max;
}

void rt_prep_pair_buf_free(rt_prep_pair_buf *b) {
    free(b->ids);
    free(b->text);
    memset(b, 0, sizeof *b);
}

/* The source text with the prefix in front, in b->text (or pt->src itself without a prefix). */
static rt_status prefixed(const rt_prep_opts *o, const rt_prep_pair_text *pt, rt_prep_pair_buf *b,
                          const char **text, size_t *n) {
    size_t np = o->source_prefix ? strlen(o->source_prefix) : 0;
    *text = pt->src;
    *n = pt->n_src;
    if (np == 0) return RT_OK;
    if (np + pt->n_src + 1 > b->text_cap) {
        char *q = realloc(b->text, np + pt->n_src + 1);
        if (!q) return rt_error(RT_ERR_MEMORY, "prep: out of memory for a source text");
        b->text = q;
        b->text_cap = np + pt->n_src + 1;
    }
    memcpy(b->text, o->source_prefix, np);
    memcpy(b->text + np, pt->src, pt->n_src);
    b->text[np + pt->n_src] = 0;
    *text = b->text;
    *n = np + pt->n_src;
    return RT_OK;
}

rt_status rt_prep_pair_encode(const rt_prep_opts *o, const rt_spm *spm, const rt_prep_pair_text *pt,
                              rt_prep_pair_buf *b, rt_prep_pair_ids *r) {
    memset(r, 0, sizeof *r);
    rt_spm_encode_opts eo = {1, o->allow_special};
    int eos = rt_spm_eos_id(spm);
    const char *text;
    size_t n;
    RT_CALL(prefixed(o, pt, b, &text, &n));
    b->n = 0;
    RT_CALL(rt_spm_encode(spm, text, n, &eo, &b->ids, &b->n, &b->cap));
    r->n_src = rt_prep_truncate_eos(b->ids, b->n, o->max_source_len, eos, &r->cut_src);
    b->n = r->n_src;
    RT_CALL(rt_spm_encode(spm, pt->tgt, pt->n_tgt, &eo, &b->ids, &b->n, &b->cap));
    size_t nt = b->n - r->n_src;
    r->empty_target = nt <= 1;
    r->n_tgt = rt_prep_truncate_eos(b->ids + r->n_src, nt, o->max_target_len, eos, &r->cut_tgt);
    b->n = r->n_src + r->n_tgt;
    return RT_OK;
}
