/* Labels of `ringtune prep --label-field` (dist/prep_labels.h). */
#include "prep_labels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* How K was given, for messages. */
static void k_source(const rt_prep_opts *o, char *buf, size_t n) {
    if (o->n_label_names > 0)
        snprintf(buf, n, "%d names in --labels", o->n_label_names);
    else
        snprintf(buf, n, "--num-labels %d", o->num_labels);
}

static rt_status string_label(const rt_prep_opts *o, rt_prep_label *lab, char *why, size_t why_n) {
    if (memchr(lab->s, 0, lab->n)) {
        snprintf(why, why_n, "label field \"%s\" holds a NUL byte", o->label_field);
        return RT_OK;
    }
    if (o->n_label_names > 0) {
        for (int i = 0; i < o->n_label_names; i++)
            if (strlen(o->label_names[i]) == lab->n && !memcmp(o->label_names[i], lab->s, lab->n))
                return RT_OK;
        char list[256];
        size_t at = 0;
        for (int i = 0; i < o->n_label_names && at + 8 < sizeof list; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? "," : "",
                                   o->label_names[i]);
        if (at >= sizeof list) snprintf(list + sizeof list - 5, 5, "...");
        snprintf(why, why_n, "label \"%.*s\" is not one of --labels %s",
                 lab->n > 200 ? 200 : (int)lab->n, lab->s, list);
        return RT_OK;
    }
    if (o->num_labels > 0)
        snprintf(why, why_n,
                 "label \"%.*s\" is a string, but --num-labels %d takes integer class ids (name "
                 "the classes with --labels instead)",
                 lab->n > 200 ? 200 : (int)lab->n, lab->s, o->num_labels);
    return RT_OK;
}

rt_status rt_prep_label_get(const rt_prep_opts *o, const json_t *root, rt_prep_label *lab,
                            char *why, size_t why_n) {
    memset(lab, 0, sizeof *lab);
    why[0] = 0;
    json_t *v = json_object_get(root, o->label_field);
    int k = o->n_label_names > 0 ? o->n_label_names : o->num_labels;
    char ks[64];
    k_source(o, ks, sizeof ks);
    if (!v) {
        snprintf(why, why_n, "no label field \"%s\" in the JSON object", o->label_field);
    } else if (json_is_string(v)) {
        lab->is_string = 1;
        lab->s = json_string_value(v);
        lab->n = json_string_length(v);
        return string_label(o, lab, why, why_n);
    } else if (json_is_integer(v)) {
        lab->id = (int64_t)json_integer_value(v);
        if (k == 0) {
            snprintf(why, why_n,
                     "label %lld is an integer class id: pass --num-labels K (ids 0..K-1) or "
                     "--labels with the names of ids 0, 1, ...",
                     (long long)lab->id);
            return rt_error(RT_ERR_ARG, "%s", why);
        }
        if (lab->id < 0 || lab->id >= k)
            snprintf(why, why_n, "label %lld is outside [0, %d) (%s)", (long long)lab->id, k, ks);
    } else if (json_is_real(v)) {
        double x = json_real_value(v);
        snprintf(why, why_n, "label %.17g is not an integer class id%s", x,
                 x == floor(x) ? " (write it without a fraction or exponent)" : "");
    } else {
        snprintf(why, why_n, "label field \"%s\" is %s, expected a string or an integer",
                 o->label_field, json_kind(v));
    }
    return RT_OK;
}

/* ---- the set of string labels ------------------------------------------------------------- */

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

int32_t rt_prep_labelset_find(const rt_prep_labelset *set, const char *s, size_t n) {
    if (!set->n_slots) return -1;
    for (size_t i = fnv1a(s, n) & (set->n_slots - 1);; i = (i + 1) & (set->n_slots - 1)) {
        int32_t e = set->slots[i];
        if (!e) return -1;
        if (set->len[e - 1] == n && !memcmp(set->names[e - 1], s, n)) return e - 1;
    }
}

static int rehash(rt_prep_labelset *set, size_t n_slots) {
    int32_t *sl = calloc(n_slots, sizeof *sl);
    if (!sl) return 0;
    for (size_t e = 0; e < set->n; e++) {
        size_t i = fnv1a(set->names[e], set->len[e]) & (n_slots - 1);
        while (sl[i]) i = (i + 1) & (n_slots - 1);
        sl[i] = (int32_t)e + 1;
    }
    free(set->slots);
    set->slots = sl;
    set->n_slots = n_slots;
    return 1;
}

rt_status rt_prep_labelset_add(rt_prep_labelset *set, const char *s, size_t n, int32_t *idx) {
    *idx = rt_prep_labelset_find(set, s, n);
    if (*idx >= 0) return RT_OK;
    if (set->n >= RT_PREP_LABELS_MAX) return RT_OK;
    if (set->n == set->cap) {
        size_t c = set->cap ? 2 * set->cap : 16;
        char **nm = realloc(set->names, c * sizeof *nm);
        if (nm) set->names = nm;
        size_t *ln = nm ? realloc(set->len, c * sizeof *ln) : NULL;
        if (ln) set->len = ln;
        if (!nm || !ln) return rt_error(RT_ERR_MEMORY, "prep: out of memory for labels");
        set->cap = c;
    }
    if (2 * (set->n + 1) > set->n_slots && !rehash(set, set->n_slots ? 2 * set->n_slots : 64))
        return rt_error(RT_ERR_MEMORY, "prep: out of memory for labels");
    char *d = malloc(n + 1);
    if (!d) return rt_error(RT_ERR_MEMORY, "prep: out of memory for labels");
    memcpy(d, s, n);
    d[n] = 0;
    set->names[set->n] = d;
    set->len[set->n] = n;
    size_t i = fnv1a(s, n) & (set->n_slots - 1);
    while (set->slots[i]) i = (i + 1) & (set->n_slots - 1);
    set->slots[i] = (int32_t)set->n + 1;
    *idx = (int32_t)set->n++;
    return RT_OK;
}

static const rt_prep_labelset *sort_set; /* qsort has no context argument in C11 */

static int cmp_entry(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    size_t nx = sort_set->len[x], ny = sort_set->len[y];
    int c = memcmp(sort_set->names[x], sort_set->names[y], nx < ny ? nx : ny);
    return c ? c : (nx > ny) - (nx < ny);
}

rt_status rt_prep_labelset_sort(const rt_prep_labelset *set, int32_t *map, const char **sorted) {
    size_t *ord = malloc((set->n + 1) * sizeof *ord);
    if (!ord) return rt_error(RT_ERR_MEMORY, "prep: out of memory for labels");
    for (size_t i = 0; i < set->n; i++) ord[i] = i;
    sort_set = set;
    qsort(ord, set->n, sizeof *ord, cmp_entry);
    sort_set = NULL;
    for (size_t r = 0; r < set->n; r++) {
        map[ord[r]] = (int32_t)r;
        sorted[r] = set->names[ord[r]];
    }
    free(ord);
    return RT_OK;
}

void rt_prep_labelset_free(rt_prep_labelset *set) {
    for (size_t i = 0; i < set->n; i++) free(set->names[i]);
    free(set->names);
    free(set->len);
    free(set->slots);
    memset(set, 0, sizeof *set);
}

/* ---- the stratified split ----------------------------------------------------------------- */

typedef struct {
    int32_t label;
    uint64_t hash, doc;
} strat;

static int cmp_strat(const void *a, const void *b) {
    const strat *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return (x->doc > y->doc) - (x->doc < y->doc); /* splitmix64 is a bijection: never reached */
}

rt_status rt_prep_stratify(uint64_t seed, double ratio, const int32_t *labels, uint64_t n, int k,
                           uint8_t *is_val, uint64_t *counts) {
    strat *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return rt_error(RT_ERR_MEMORY, "prep: out of memory for the split of %llu examples",
                        (unsigned long long)n);
    for (uint64_t d = 0; d < n; d++) {
        if (labels[d] < 0 || labels[d] >= k) {
            free(v);
            return rt_error(RT_ERR_INTERNAL, "prep: label %d of example %llu outside [0, %d)",
                            labels[d], (unsigned long long)d, k);
        }
        v[d] = (strat){labels[d], rt_prep_split_hash(seed, d), d};
    }
    qsort(v, (size_t)n, sizeof *v, cmp_strat);
    if (counts) memset(counts, 0, 2 * (size_t)k * sizeof *counts);
    for (uint64_t a = 0; a < n;) {
        uint64_t b = a;
        while (b < n && v[b].label == v[a].label) b++;
        uint64_t n_val = (uint64_t)floor(ratio * (double)(b - a) + 0.5);
        for (uint64_t i = a; i < b; i++) is_val[v[i].doc] = i - a < n_val;
        if (counts) {
            counts[2 * (size_t)v[a].label] = b - a - n_val;
            counts[2 * (size_t)v[a].label + 1] = n_val;
        }
        a = b;
    }
    free(v);
    return RT_OK;
}

/* ---- the label pass on rank 0 ------------------------------------------------------------- */

rt_status rt_prep_labeling_add(rt_prep_labeling *L, const char *file, int64_t line,
                               const unsigned char *p, size_t n) {
    int is_str = n >= 1 && p[0] == 's';
    if (n < 1 || (!is_str && n != 9))
        return rt_error(RT_ERR_INTERNAL, "prep: label payload of %zu bytes", n);
    if (L->lab_kind < 0) {
        L->lab_kind = is_str;
        if (!(L->first_file = strdup(file))) return rt_error(RT_ERR_MEMORY, "prep: out of memory");
        L->first_line = line;
    } else if (L->lab_kind != is_str) {
        return rt_error(RT_ERR_FORMAT,
                        "%s:%lld: the label is %s, but the labels before it are %s (the first at "
                        "%s:%lld); a corpus's labels are all strings or all integer class ids",
                        file, (long long)line, is_str ? "a string" : "an integer",
                        is_str ? "integers" : "strings", L->first_file, (long long)L->first_line);
    }
    if (L->n == L->cap) {
        uint64_t c = L->cap ? 2 * L->cap : 1024;
        int32_t *d = realloc(L->doc_label, (size_t)c * sizeof *d);
        if (!d)
            return rt_error(RT_ERR_MEMORY, "prep: out of memory for %llu labels",
                            (unsigned long long)c);
        L->doc_label = d;
        L->cap = c;
    }
    int32_t v;
    if (is_str) {
        RT_CALL(rt_prep_labelset_add(&L->set, (const char *)p + 1, n - 1, &v));
        if (v < 0)
            return rt_error(RT_ERR_FORMAT,
                            "%s:%lld: more than %d distinct labels: is --label-field the right "
                            "field? (name the classes with --labels to allow more)",
                            file, (long long)line, RT_PREP_LABELS_MAX);
    } else {
        int64_t id;
        memcpy(&id, p + 1, sizeof id);
        v = (int32_t)id; /* range checked on the rank that read it */
    }
    L->doc_label[L->n++] = v;
    return RT_OK;
}

/* Names "0".."K-1" for integer ids without --labels. */
static rt_status id_names(rt_prep_labeling *L, int k) {
    L->names = calloc((size_t)k, sizeof *L->names);
    L->id_names = malloc((size_t)k * 12);
    if (!L->names || !L->id_names) return rt_error(RT_ERR_MEMORY, "prep: out of memory");
    for (int i = 0; i < k; i++) {
        snprintf(L->id_names + 12 * (size_t)i, 12, "%d", i);
        L->names[i] = L->id_names + 12 * (size_t)i;
    }
    return RT_OK;
}

rt_status rt_prep_labeling_finish(rt_prep_labeling *L, const rt_prep_opts *o) {
    int given = o->n_label_names > 0;
    if (L->lab_kind == 1) { /* strings: --labels order or sorted */
        int32_t *map = malloc((L->set.n + 1) * sizeof *map);
        if (!map) return rt_error(RT_ERR_MEMORY, "prep: out of memory");
        rt_status st = RT_OK;
        if (given) {
            for (size_t i = 0; i < L->set.n && st == RT_OK; i++) {
                map[i] = -1;
                for (int j = 0; j < o->n_label_names; j++)
                    if (!strcmp(o->label_names[j], L->set.names[i])) map[i] = j;
                if (map[i] < 0)
                    st = rt_error(RT_ERR_INTERNAL, "prep: label '%s' not in --labels",
                                  L->set.names[i]);
            }
            L->num_labels = o->n_label_names;
            L->names = calloc((size_t)L->num_labels, sizeof *L->names);
            if (L->names)
                memcpy(L->names, o->label_names, (size_t)L->num_labels * sizeof *L->names);
        } else {
            L->num_labels = (int)L->set.n;
            L->names = calloc(L->set.n + 1, sizeof *L->names);
            if (L->names) st = rt_prep_labelset_sort(&L->set, map, L->names);
        }
        if (!L->names) st = rt_error(RT_ERR_MEMORY, "prep: out of memory");
        for (uint64_t d = 0; d < L->n && st == RT_OK; d++) L->doc_label[d] = map[L->doc_label[d]];
        free(map);
        RT_CALL(st);
        L->label_order = given ? "given" : "sorted";
    } else { /* integer ids (or no examples): K from the options */
        L->num_labels = given ? o->n_label_names : o->num_labels;
        if (L->num_labels <= 0)
            return rt_error(RT_ERR_ARG, "prep: no labeled examples in the input, and neither "
                                        "--labels nor --num-labels names the classes");
        if (given) {
            L->names = calloc((size_t)L->num_labels, sizeof *L->names);
            if (!L->names) return rt_error(RT_ERR_MEMORY, "prep: out of memory");
            memcpy(L->names, o->label_names, (size_t)L->num_labels * sizeof *L->names);
        } else {
            RT_CALL(id_names(L, L->num_labels));
        }
        L->label_order = given ? "given" : "ids";
    }
    L->is_val = malloc((size_t)(L->n ? L->n : 1));
    L->counts = calloc(2 * (size_t)L->num_labels, sizeof *L->counts);
    if (!L->is_val || !L->counts) return rt_error(RT_ERR_MEMORY, "prep: out of memory");
    return rt_prep_stratify(o->split_seed, o->val_ratio, L->doc_label, L->n, L->num_labels,
                            L->is_val, L->counts);
}

void rt_prep_labeling_free(rt_prep_labeling *L) {
    free(L->first_file);
    free(L->doc_label);
    free(L->is_val);
    free(L->names);
    free(L->id_names);
    free(L->counts);
    rt_prep_labelset_free(&L->set);
    memset(L, 0, sizeof *L);
}
