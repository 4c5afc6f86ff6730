/* safetensors reader and writer. The reader maps the file and checks every header invariant
   before handing out a tensor, so callers can trust shapes, sizes and data pointers; errors
   name the file, the tensor or field, and what was expected versus found. */
#include "safetensors.h"
#include "fsutil.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    size_t size;
} st_dtypes[RT_ST_NDTYPES] = {
    [RT_ST_BOOL] = {"BOOL", 1}, [RT_ST_U8] = {"U8", 1},           [RT_ST_I8] = {"I8", 1},
    [RT_ST_I16] = {"I16", 2},   [RT_ST_U16] = {"U16", 2},         [RT_ST_F16] = {"F16", 2},
    [RT_ST_BF16] = {"BF16", 2}, [RT_ST_I32] = {"I32", 4},         [RT_ST_U32] = {"U32", 4},
    [RT_ST_F32] = {"F32", 4},   [RT_ST_F64] = {"F64", 8},         [RT_ST_I64] = {"I64", 8},
    [RT_ST_U64] = {"U64", 8},   [RT_ST_F8_E4M3] = {"F8_E4M3", 1}, [RT_ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *rt_st_dtype_name(rt_st_dtype d) {
    return (unsigned)d < RT_ST_NDTYPES ? st_dtypes[d].name : "?";
}

size_t rt_st_dtype_size(rt_st_dtype d) {
    return (unsigned)d < RT_ST_NDTYPES ? st_dtypes[d].size : 0;
}

int rt_st_dtype_parse(const char *s, rt_st_dtype *d) {
    for (int i = 0; i < RT_ST_NDTYPES; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) {
            *d = (rt_st_dtype)i;
            return 0;
        }
    return -1;
}

/* ---- reader ---- */

struct rt_st_file {
    char *path;
    unsigned char *map; /* whole file, read-only */
    size_t size;
    int n;
    rt_st_tensor *t;         /* [n] in data-offset order */
    struct st_name *by_name; /* [n] sorted by name, for rt_st_find */
    int n_meta;
    char **meta_key, **meta_val; /* [n_meta] */
};

static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* "[8,4]" into buf. */
static const char *fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

void rt_st_close(rt_st_file **fp) {
    if (!fp || !*fp) return;
    rt_st_file *f = *fp;
    if (f->map) munmap(f->map, f->size);
    if (f->t)
        for (int i = 0; i < f->n; i++) free((char *)f->t[i].name);
    free(f->t);
    free(f->by_name);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_key[i]);
        free(f->meta_val[i]);
    }
    free(f->meta_key);
    free(f->meta_val);
    free(f->path);
    free(f);
    *fp = NULL;
}

/* For sorting by data offset; ties (empty tensors) keep header order. */
typedef struct {
    uint64_t begin, end;
    int idx;
} st_span;

static int cmp_span(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->idx - y->idx;
}

struct st_name {
    const char *name;
    int idx;
};

static int cmp_by_name(const void *a, const void *b) {
    return strcmp(((const struct st_name *)a)->name, ((const struct st_name *)b)->name);
}

static rt_status parse_metadata(rt_st_file *f, json_t *meta) {
    if (json_is_null(meta)) return RT_OK;
    if (!json_is_object(meta))
        return rt_error(RT_ERR_FORMAT, "%s: '__metadata__' is %s, expected an object of strings",
                        f->path, json_kind(meta));
    size_t n = json_object_size(meta);
    f->meta_key = calloc(n ? n : 1, sizeof *f->meta_key);
    f->meta_val = calloc(n ? n : 1, sizeof *f->meta_val);
    if (!f->meta_key || !f->meta_val) return rt_error(RT_ERR_MEMORY, "%s: out of memory", f->path);
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v))
            return rt_error(RT_ERR_FORMAT, "%s: '__metadata__' field '%s' is %s, expected a string",
                            f->path, k, json_kind(v));
        f->meta_key[f->n_meta] = st_strdup(k);
        f->meta_val[f->n_meta] = st_strdup(json_string_value(v));
        f->n_meta++;
        if (!f->meta_key[f->n_meta - 1] || !f->meta_val[f->n_meta - 1])
            return rt_error(RT_ERR_MEMORY, "%s: out of memory", f->path);
    }
    return RT_OK;
}

/* Fills t (except data) from one header entry; span receives its offsets. */
static rt_status parse_entry(const char *path, const char *name, json_t *e, rt_st_tensor *t,
                             st_span *span) {
    if (!json_is_object(e))
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor '%s': entry is %s, expected an object with dtype, shape and "
                        "data_offsets",
                        path, name, json_kind(e));
    json_t *dt = json_object_get(e, "dtype");
    json_t *sh = json_object_get(e, "shape");
    json_t *off = json_object_get(e, "data_offsets");
    if (!dt) return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': missing field 'dtype'", path, name);
    if (!sh) return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': missing field 'shape'", path, name);
    if (!off)
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': missing field 'data_offsets'", path, name);
    if (!json_is_string(dt))
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': field 'dtype' is %s, expected a string",
                        path, name, json_kind(dt));
    if (rt_st_dtype_parse(json_string_value(dt), &t->dtype) != 0)
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor '%s': field 'dtype' is \"%s\", expected one of BOOL, U8, I8, "
                        "I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2",
                        path, name, json_string_value(dt));
    if (!json_is_array(sh))
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': field 'shape' is %s, expected an array",
                        path, name, json_kind(sh));
    size_t nd = json_array_size(sh);
    if (nd > RT_ST_MAX_DIMS)
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor '%s': field 'shape' has %zu dimensions, at most %d supported",
                        path, name, nd, RT_ST_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(sh, i);
        if (!json_is_integer(d))
            return rt_error(RT_ERR_FORMAT,
                            "%s: tensor '%s': field 'shape' element %zu is %s, expected a "
                            "non-negative integer",
                            path, name, i, json_kind(d));
        json_int_t v = json_integer_value(d);
        if (v < 0)
            return rt_error(RT_ERR_FORMAT,
                            "%s: tensor '%s': field 'shape' element %zu is %lld, expected a "
                            "non-negative integer",
                            path, name, i, (long long)v);
        t->shape[i] = v;
        if (__builtin_mul_overflow(numel, (uint64_t)v, &numel))
            return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': shape overflows 64 bits", path, name);
    }
    uint64_t need;
    if (__builtin_mul_overflow(numel, (uint64_t)rt_st_dtype_size(t->dtype), &need))
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s': byte size overflows 64 bits", path, name);
    if (!json_is_array(off) || json_array_size(off) != 2)
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor '%s': field 'data_offsets' is %s%s, expected an array "
                        "[begin, end]",
                        path, name, json_kind(off), json_is_array(off) ? " of another length" : "");
    json_int_t be[2];
    for (int i = 0; i < 2; i++) {
        json_t *d = json_array_get(off, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return rt_error(RT_ERR_FORMAT,
                            "%s: tensor '%s': field 'data_offsets' element %d is %s, expected a "
                            "non-negative integer",
                            path, name, i, json_is_integer(d) ? "negative" : json_kind(d));
        be[i] = json_integer_value(d);
    }
    if (be[1] < be[0])
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor '%s': field 'data_offsets' [%lld, %lld) ends before it begins",
                        path, name, (long long)be[0], (long long)be[1]);
    uint64_t have = (uint64_t)(be[1] - be[0]);
    if (have != need) {
        char sb[256];
        return rt_error(RT_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%lld, %lld) hold %llu bytes, shape %s %s "
                        "needs %llu",
                        path, name, (long long)be[0], (long long)be[1], (unsigned long long)have,
                        fmt_shape(sb, sizeof sb, t->ndim, t->shape), rt_st_dtype_name(t->dtype),
                        (unsigned long long)need);
    }
    t->numel = (size_t)numel;
    t->nbytes = (size_t)need;
    t->offset = (size_t)be[0];
    span->begin = (uint64_t)be[0];
    span->end = (uint64_t)be[1];
    return RT_OK;
}

/* Everything after the mapping: header JSON, entries, offsets, file size. */
static rt_status parse_header(rt_st_file *f) {
    const char *path = f->path;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->map[i];
    if (hlen > RT_ST_MAX_HEADER)
        return rt_error(RT_ERR_FORMAT,
                        "%s: header length %llu exceeds the %llu-byte limit (corrupt file, or "
                        "not safetensors)",
                        path, (unsigned long long)hlen, (unsigned long long)RT_ST_MAX_HEADER);
    if (hlen > f->size - 8)
        return rt_error(RT_ERR_FORMAT,
                        "%s: header length %llu runs past the end of the file (%zu bytes, so at "
                        "most %zu)",
                        path, (unsigned long long)hlen, f->size, f->size - 8);

    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->map + 8, (size_t)hlen,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_duplicate_key)
            return rt_error(RT_ERR_FORMAT,
                            "%s: header has a duplicate name (%s, line %d column %d); each "
                            "tensor name must appear once",
                            path, jerr.text, jerr.line, jerr.column);
        return rt_error(RT_ERR_FORMAT, "%s: header is not valid JSON: %s (line %d column %d)", path,
                        jerr.text, jerr.line, jerr.column);
    }
    rt_status s = RT_OK;
    st_span *spans = NULL;
    rt_st_tensor *raw = NULL; /* header order */
    if (!json_is_object(root)) {
        s = rt_error(RT_ERR_FORMAT, "%s: header is %s, expected a JSON object", path,
                     json_kind(root));
        goto done;
    }
    size_t cap = json_object_size(root);
    f->t = calloc(cap ? cap : 1, sizeof *f->t);
    spans = calloc(cap ? cap : 1, sizeof *spans);
    if (!f->t || !spans) {
        s = rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
        goto done;
    }
    raw = calloc(cap ? cap : 1, sizeof *raw);
    if (!raw) {
        s = rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
        goto done;
    }
    int n = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            s = parse_metadata(f, val);
        } else {
            s = parse_entry(path, key, val, &raw[n], &spans[n]);
            if (s == RT_OK) {
                raw[n].name = st_strdup(key);
                if (!raw[n].name) s = rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
            }
            spans[n].idx = n;
            if (raw[n].name) n++;
        }
        if (s != RT_OK) break;
    }
    if (s == RT_OK) {
        qsort(spans, (size_t)n, sizeof *spans, cmp_span);
        uint64_t expect = 0;
        for (int i = 0; i < n && s == RT_OK; i++) {
            const st_span *sp = &spans[i];
            const char *nm = raw[sp->idx].name;
            if (sp->begin < expect) {
                const st_span *pv = &spans[i - 1];
                s = rt_error(RT_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets [%llu, %llu) overlap tensor '%s' "
                             "[%llu, %llu); expected it to begin at %llu",
                             path, nm, (unsigned long long)sp->begin, (unsigned long long)sp->end,
                             raw[pv->idx].name, (unsigned long long)pv->begin,
                             (unsigned long long)pv->end, (unsigned long long)expect);
            } else if (sp->begin > expect && i == 0) {
                s = rt_error(RT_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets [%llu, %llu) leave a gap: the first "
                             "tensor must begin at 0",
                             path, nm, (unsigned long long)sp->begin, (unsigned long long)sp->end);
            } else if (sp->begin > expect) {
                s = rt_error(RT_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets [%llu, %llu) leave a gap of %llu "
                             "bytes after tensor '%s' (ends at %llu); expected it to begin at "
                             "%llu",
                             path, nm, (unsigned long long)sp->begin, (unsigned long long)sp->end,
                             (unsigned long long)(sp->begin - expect), raw[spans[i - 1].idx].name,
                             (unsigned long long)expect, (unsigned long long)expect);
            }
            expect = sp->end;
        }
        uint64_t total = 8 + hlen + expect;
        if (s == RT_OK && total != (uint64_t)f->size)
            s = rt_error(RT_ERR_FORMAT,
                         "%s: file is %zu bytes, but 8 + header %llu + data %llu = %llu (%s)", path,
                         f->size, (unsigned long long)hlen, (unsigned long long)expect,
                         (unsigned long long)total,
                         total > (uint64_t)f->size ? "truncated file" : "trailing bytes");
    }
    if (s == RT_OK) {
        const unsigned char *data = f->map + 8 + hlen;
        for (int i = 0; i < n; i++) {
            f->t[i] = raw[spans[i].idx];
            f->t[i].data = data + f->t[i].offset;
        }
        f->n = n;
        f->by_name = malloc((size_t)(n ? n : 1) * sizeof *f->by_name);
        if (!f->by_name) {
            s = rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
        } else {
            for (int i = 0; i < n; i++) f->by_name[i] = (struct st_name){f->t[i].name, i};
            qsort(f->by_name, (size_t)n, sizeof *f->by_name, cmp_by_name);
        }
    } else {
        for (int i = 0; i < n; i++) free((char *)raw[i].name);
    }
done:
    free(raw);
    free(spans);
    json_decref(root);
    return s;
}

rt_status rt_st_open(rt_st_file **out, const char *path) {
    *out = NULL;
    rt_st_file *f = calloc(1, sizeof *f);
    if (!f) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    f->path = st_strdup(path);
    if (!f->path) {
        free(f);
        return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rt_status s = rt_error(RT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        rt_st_close(&f);
        return s;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        rt_st_close(&f);
        return rt_error(RT_ERR_IO, "%s: not a readable regular file", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size < 8) {
        close(fd);
        rt_st_close(&f);
        return rt_error(RT_ERR_FORMAT,
                        "%s: file is %zu bytes, too short for the 8-byte header length", path,
                        (size_t)st.st_size);
    }
    void *map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) {
        rt_st_close(&f);
        return rt_error(RT_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    }
    f->map = map;
    rt_status s = parse_header(f);
    if (s != RT_OK) {
        rt_st_close(&f);
        return s;
    }
    *out = f;
    return RT_OK;
}

const char *rt_st_path(const rt_st_file *f) {
    return f->path;
}
int rt_st_count(const rt_st_file *f) {
    return f->n;
}

const rt_st_tensor *rt_st_get(const rt_st_file *f, int i) {
    return i >= 0 && i < f->n ? &f->t[i] : NULL;
}

const rt_st_tensor *rt_st_find(const rt_st_file *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->by_name[mid].name);
        if (c == 0) return &f->t[f->by_name[mid].idx];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *rt_st_metadata(const rt_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_key[i], key) == 0) return f->meta_val[i];
    return NULL;
}

int rt_st_metadata_count(const rt_st_file *f) {
    return f->n_meta;
}

int rt_st_metadata_at(const rt_st_file *f, int i, const char **key, const char **value) {
    if (i < 0 || i >= f->n_meta) return -1;
    *key = f->meta_key[i];
    *value = f->meta_val[i];
    return 0;
}

float rt_st_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0 && mant == 0) {
        bits = sign;
    } else if (exp == 0) { /* subnormal: renormalise */
        int e = -1;
        do {
            e++;
            mant <<= 1;
        } while (!(mant & 0x400u));
        bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

float rt_st_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

rt_status rt_st_tensor_to_f32(const rt_st_tensor *t, const char *path, float *dst, size_t n) {
    if (!path) path = "safetensors";
    if (t->numel != n)
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s' has %zu elements, expected %zu", path,
                        t->name, t->numel, n);
    const unsigned char *src = t->data;
    switch (t->dtype) {
    case RT_ST_F32:
        if (n) memcpy(dst, src, n * sizeof(float));
        return RT_OK;
    case RT_ST_F16:
    case RT_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | (unsigned)src[2 * i + 1] << 8);
            dst[i] = t->dtype == RT_ST_F16 ? rt_st_f16_to_f32(h) : rt_st_bf16_to_f32(h);
        }
        return RT_OK;
    default:
        return rt_error(RT_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                        path, t->name, rt_st_dtype_name(t->dtype));
    }
}

rt_status rt_st_read_f32(const rt_st_file *f, const char *name, float *dst, size_t n) {
    const rt_st_tensor *t = rt_st_find(f, name);
    if (!t) return rt_error(RT_ERR_FORMAT, "%s: no tensor named '%s'", f->path, name);
    return rt_st_tensor_to_f32(t, f->path, dst, n);
}

/* ---- writer ---- */

typedef struct {
    char *name;
    rt_st_dtype dtype;
    int ndim;
    int64_t shape[RT_ST_MAX_DIMS];
    size_t nbytes;
    const void *data; /* borrowed */
} st_entry;

struct rt_st_writer {
    st_entry *e;
    int n, cap;
};

rt_status rt_st_writer_create(rt_st_writer **out) {
    *out = calloc(1, sizeof **out);
    return *out ? RT_OK : rt_error(RT_ERR_MEMORY, "rt_st_writer_create: out of memory");
}

void rt_st_writer_destroy(rt_st_writer **wp) {
    if (!wp || !*wp) return;
    for (int i = 0; i < (*wp)->n; i++) free((*wp)->e[i].name);
    free((*wp)->e);
    free(*wp);
    *wp = NULL;
}

rt_status rt_st_writer_add(rt_st_writer *w, const char *name, rt_st_dtype dtype, int ndim,
                           const int64_t *shape, const void *data) {
    if (strcmp(name, "__metadata__") == 0)
        return rt_error(RT_ERR_ARG, "safetensors writer: '__metadata__' is reserved");
    if ((unsigned)dtype >= RT_ST_NDTYPES)
        return rt_error(RT_ERR_ARG, "safetensors writer: tensor '%s': bad dtype %d", name,
                        (int)dtype);
    if (ndim < 0 || ndim > RT_ST_MAX_DIMS)
        return rt_error(RT_ERR_ARG, "safetensors writer: tensor '%s': ndim %d, expected 0..%d",
                        name, ndim, RT_ST_MAX_DIMS);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0)
            return rt_error(RT_ERR_ARG, "safetensors writer: tensor '%s' added twice", name);
    uint64_t nbytes = rt_st_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return rt_error(RT_ERR_ARG, "safetensors writer: tensor '%s': dimension %d is %lld",
                            name, i, (long long)shape[i]);
        if (__builtin_mul_overflow(nbytes, (uint64_t)shape[i], &nbytes) || nbytes > SIZE_MAX)
            return rt_error(RT_ERR_ARG, "safetensors writer: tensor '%s': size overflows", name);
    }
    if (nbytes > 0 && !data)
        return rt_error(RT_ERR_ARG, "safetensors writer: tensor '%s': NULL data", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        st_entry *e = realloc(w->e, (size_t)cap * sizeof *e);
        if (!e) return rt_error(RT_ERR_MEMORY, "safetensors writer: out of memory");
        w->e = e;
        w->cap = cap;
    }
    st_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    e->name = st_strdup(name);
    if (!e->name) return rt_error(RT_ERR_MEMORY, "safetensors writer: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->nbytes = (size_t)nbytes;
    e->data = data;
    w->n++;
    return RT_OK;
}

/* The padded header text; caller frees. */
static rt_status build_header(const rt_st_writer *w, const char *path, const char *const *keys,
                              const char *const *values, int n_meta, char **out, size_t *len) {
    rt_status s = RT_OK;
    json_t *root = json_object(), *meta = json_object();
    int bad = !root || !meta;
    if (!bad) bad |= json_object_set_new(meta, "format", json_string("pt"));
    for (int i = 0; i < n_meta && !bad; i++) {
        if (!keys[i] || !values[i]) {
            s = rt_error(RT_ERR_ARG, "%s: metadata entry %d is NULL", path, i);
            break;
        }
        bad |= json_object_set_new(meta, keys[i], json_string(values[i]));
    }
    if (!bad && s == RT_OK) {
        bad |= json_object_set(root, "__metadata__", meta);
        uint64_t off = 0;
        for (int i = 0; i < w->n && !bad; i++) {
            const st_entry *e = &w->e[i];
            json_t *t = json_object(), *shape = json_array(), *offs = json_array();
            bad |= !t || !shape || !offs;
            for (int d = 0; d < e->ndim && !bad; d++)
                bad |= json_array_append_new(shape, json_integer((json_int_t)e->shape[d]));
            if (!bad) {
                bad |= json_array_append_new(offs, json_integer((json_int_t)off));
                off += e->nbytes;
                bad |= json_array_append_new(offs, json_integer((json_int_t)off));
                bad |= json_object_set_new(t, "dtype", json_string(rt_st_dtype_name(e->dtype)));
                bad |= json_object_set(t, "shape", shape);
                bad |= json_object_set(t, "data_offsets", offs);
                bad |= json_object_set(root, e->name, t);
            }
            json_decref(t);
            json_decref(shape);
            json_decref(offs);
        }
    }
    char *text = NULL;
    if (!bad && s == RT_OK) {
        text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        bad = !text;
    }
    json_decref(meta);
    json_decref(root);
    if (s != RT_OK) return s;
    if (bad)
        return rt_error(RT_ERR_MEMORY,
                        "%s: building the header failed (out of memory, or a name "
                        "or metadata string that is not UTF-8)",
                        path);
    size_t n = strlen(text), padded = (n + 7) & ~(size_t)7;
    char *buf = realloc(text, padded + 1);
    if (!buf) {
        free(text);
        return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    }
    memset(buf + n, ' ', padded - n);
    buf[padded] = 0;
    *out = buf;
    *len = padded;
    return RT_OK;
}

rt_status rt_st_writer_write(const rt_st_writer *w, const char *path, const char *const *keys,
                             const char *const *values, int n_meta) {
    char *header = NULL;
    size_t hlen = 0;
    RT_CALL(build_header(w, path, keys, values, n_meta, &header, &hlen));
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    rt_fs_atomic a;
    rt_status s = rt_fs_atomic_open(&a, path);
    if (s == RT_OK) s = rt_fs_atomic_write(&a, lenbuf, sizeof lenbuf);
    if (s == RT_OK) s = rt_fs_atomic_write(&a, header, hlen);
    for (int i = 0; i < w->n && s == RT_OK; i++)
        s = rt_fs_atomic_write(&a, w->e[i].data, w->e[i].nbytes);
    if (s == RT_OK) s = rt_fs_atomic_commit(&a);
    free(header);
    return s;
}
