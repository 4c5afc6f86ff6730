/* Hugging Face T5ForConditionalGeneration directories (io/hf_t5.h) against transformers' own
   files (tests/fixtures/t5_hf_small, made by gen_t5_hf_fixtures.py, and the golden t5_tied /
   t5_gated_odd): config fields and the tying/rescale outcome as from_pretrained decided them
   (expected.json), every tensor as stored, bit-identical save -> reload, the embedding aliases,
   and the refusals, each naming the file and the field or tensor.
   With RT_T5_EXPORT_DIR set, the export cases are left in $RT_T5_EXPORT_DIR/<case>/{src,export}
   for tests/fixtures/check_t5_export.py. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hf_t5.h"
#include "safetensors.h"
#include "t5.h"

#define SMALL RT_FIXTURES "/t5_hf_small"

/* snprintf that fails the test when buf is too small. */
__attribute__((format(printf, 3, 4))) static void fmt_path(char *buf, size_t cap, const char *fmt,
                                                           ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    ck_assert_msg(n >= 0 && (size_t)n < cap, "path too long: %s", buf);
}

/* ---- files ---- */

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            fmt_path(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static char tmpdir[256];

static void setup(void) {
    fmt_path(tmpdir, sizeof tmpdir, "/tmp/rt_test_hf_t5_XXXXXX");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void teardown(void) {
    rm_rf(tmpdir);
}

static const char *tpath(char *buf, const char *name) {
    fmt_path(buf, 512, "%s/%s", tmpdir, name);
    return buf;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "open %s", path);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    ck_assert(fread(b, 1, *n, fp) == *n);
    b[*n] = 0;
    fclose(fp);
    return b;
}

static void spit(const char *path, const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "create %s", path);
    ck_assert(fwrite(b, 1, n, fp) == n);
    fclose(fp);
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char a[600], b[600];
    fmt_path(a, sizeof a, "%s/%s", from_dir, name);
    fmt_path(b, sizeof b, "%s/%s", to_dir, name);
    size_t n;
    unsigned char *buf = slurp(a, &n);
    spit(b, buf, n);
    free(buf);
}

/* Copies a fixture directory's files (flat) into dst. */
static void copy_dir(const char *src, const char *dst) {
    mkdir(dst, 0777);
    DIR *d = opendir(src);
    ck_assert_msg(d != NULL, "%s", src);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') copy_file(src, dst, e->d_name);
    closedir(d);
}

/* Sets the fields of the JSON object patch on dir/config.json and removes the field unset (may be
   NULL). */
static void patch_config(const char *dir, const char *patch, const char *unset) {
    char p[600];
    fmt_path(p, sizeof p, "%s/config.json", dir);
    json_error_t err;
    json_t *root = json_load_file(p, 0, &err), *add = json_loads(patch, 0, &err);
    ck_assert_msg(root && add, "%s", err.text);
    ck_assert(json_object_update(root, add) == 0);
    if (unset) json_object_del(root, unset);
    ck_assert(json_dump_file(root, p, JSON_INDENT(2)) == 0);
    json_decref(root);
    json_decref(add);
}

static void write_config(const char *json) {
    char p[512];
    const char *t = tpath(p, "config.json");
    spit(t, json, strlen(json));
}

static void assert_msg_has(const char *a, const char *b, const char *c) {
    const char *m = rt_error_message();
    ck_assert_msg(strstr(m, a), "expected \"%s\" in: %s", a, m);
    if (b) ck_assert_msg(strstr(m, b), "expected \"%s\" in: %s", b, m);
    if (c) ck_assert_msg(strstr(m, c), "expected \"%s\" in: %s", c, m);
}

/* ---- rewriting a checkpoint's weights ---- */

typedef struct {
    const char *skip;     /* leave this tensor out */
    const char *reshape;  /* store this one with one more row (zeros) */
    const char *as_i32;   /* store this one as I32 */
    const char *add;      /* add a tensor of this name: */
    const char *add_from; /* a copy of this stored tensor, or NULL for an F32 [2] */
    int add_delta;        /* 1: the copy's element 3 is changed */
    const char *add2;     /* a second added copy of add_from (unchanged) */
} edit;

/* Rewrites dir/model.safetensors (single file) with e applied. */
static void rewrite(const char *dir, const edit *e) {
    char p[600];
    fmt_path(p, sizeof p, "%s/model.safetensors", dir);
    size_t n;
    unsigned char *orig = slurp(p, &n); /* the mapping dies with the rewrite: keep a copy */
    char tmp[640];
    fmt_path(tmp, sizeof tmp, "%s.orig", p);
    spit(tmp, orig, n);
    free(orig);
    rt_st_file *f = NULL;
    ck_assert(rt_st_open(&f, tmp) == RT_OK);
    rt_st_writer *w = NULL;
    ck_assert(rt_st_writer_create(&w) == RT_OK);
    void *bufs[8];
    int nb = 0;
    for (int i = 0; i < rt_st_count(f); i++) {
        const rt_st_tensor *t = rt_st_get(f, i);
        if (e->skip && !strcmp(t->name, e->skip)) continue;
        int64_t shape[RT_ST_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        const void *data = t->data;
        rt_st_dtype dt = t->dtype;
        if (e->reshape && !strcmp(t->name, e->reshape)) {
            size_t row = t->nbytes / (size_t)shape[0];
            shape[0] += 1;
            data = bufs[nb++] = calloc(1, t->nbytes + row);
            memcpy(bufs[nb - 1], t->data, t->nbytes);
        }
        if (e->as_i32 && !strcmp(t->name, e->as_i32)) dt = RT_ST_I32;
        ck_assert(rt_st_writer_add(w, t->name, dt, t->ndim, shape, data) == RT_OK);
    }
    static const float two[2] = {1.5f, -2.5f};
    if (e->add && !e->add_from)
        ck_assert(rt_st_writer_add(w, e->add, RT_ST_F32, 1, (int64_t[]){2}, two) == RT_OK);
    if (e->add && e->add_from) {
        const rt_st_tensor *t = rt_st_find(f, e->add_from);
        ck_assert(t && t->dtype == RT_ST_F32);
        float *c = bufs[nb++] = malloc(t->nbytes);
        memcpy(c, t->data, t->nbytes);
        if (e->add_delta) c[3] += 0.25f;
        ck_assert(rt_st_writer_add(w, e->add, RT_ST_F32, t->ndim, t->shape, c) == RT_OK);
        if (e->add2)
            ck_assert(rt_st_writer_add(w, e->add2, RT_ST_F32, t->ndim, t->shape, t->data) == RT_OK);
    }
    ck_assert(rt_st_writer_write(w, p, NULL, NULL, 0) == RT_OK);
    rt_st_writer_destroy(&w);
    rt_st_close(&f);
    unlink(tmp);
    for (int i = 0; i < nb; i++) free(bufs[i]);
}

/* A copy of fixture `name` at tmpdir/name with weights edited. */
static const char *edited(char *dir, const char *name, const edit *e) {
    char src[512];
    fmt_path(src, sizeof src, SMALL "/%s", name);
    tpath(dir, name);
    copy_dir(src, dir);
    if (e) rewrite(dir, e);
    return dir;
}

/* ---- model checks ---- */

static rt_t5 *load_ok(const char *dir) {
    rt_t5 *m = NULL;
    rt_status st = rt_hf_t5_load(dir, &m);
    ck_assert_msg(st == RT_OK, "%s: %s", dir, rt_error_message());
    ck_assert_ptr_nonnull(m);
    return m;
}

static void load_fails(const char *dir, rt_status want) {
    rt_t5 *m = NULL;
    rt_status st = rt_hf_t5_load(dir, &m);
    ck_assert_msg(st == want, "%s: got %s (%s)", dir, rt_status_name(st), rt_error_message());
    ck_assert_ptr_null(m);
}

static const float *param(rt_t5 *m, const char *name) {
    int i = rt_table_find(rt_t5_table(m), name);
    ck_assert_msg(i >= 0, "no %s", name);
    return rt_t5_params(m) + rt_t5_table(m)->t[i].offset;
}

static void assert_same_model(rt_t5 *a, rt_t5 *b) {
    ck_assert(memcmp(rt_t5_cfg(a), rt_t5_cfg(b), sizeof(rt_t5_config)) == 0);
    rt_tensor_table *ta = rt_t5_table(a), *tb = rt_t5_table(b);
    ck_assert_int_eq(ta->n, tb->n);
    for (int i = 0; i < ta->n; i++) {
        ck_assert_str_eq(ta->t[i].name, tb->t[i].name);
        ck_assert_msg(memcmp(rt_t5_params(a) + ta->t[i].offset, rt_t5_params(b) + tb->t[i].offset,
                             ta->t[i].numel * sizeof(float)) == 0,
                      "%s differs", ta->t[i].name);
    }
}

/* Every table tensor equals what the directory's files store under its name (shared.weight:
   under `shared_as`), widened from F16/BF16. Returns how many file tensors were visited. */
static int assert_tensors_as_stored(rt_t5 *m, const char *dir, const char *shared_as) {
    char files[3][600];
    int nf = 0;
    fmt_path(files[nf++], 600, "%s/model.safetensors", dir);
    if (access(files[0], F_OK) != 0) {
        nf = 0;
        fmt_path(files[nf++], 600, "%s/model-00001-of-00002.safetensors", dir);
        fmt_path(files[nf++], 600, "%s/model-00002-of-00002.safetensors", dir);
    }
    rt_tensor_table *tab = rt_t5_table(m);
    int found = 0, stored = 0;
    for (int k = 0; k < nf; k++) {
        rt_st_file *f = NULL;
        ck_assert_msg(rt_st_open(&f, files[k]) == RT_OK, "%s", rt_error_message());
        stored += rt_st_count(f);
        for (int i = 0; i < tab->n; i++) {
            const rt_tensor_info *ti = &tab->t[i];
            const char *name = strcmp(ti->name, "shared.weight") ? ti->name : shared_as;
            const rt_st_tensor *t = rt_st_find(f, name);
            if (!t) continue;
            found++;
            ck_assert(t->numel == ti->numel && t->ndim == ti->ndim);
            float *want = malloc(ti->numel * sizeof(float));
            ck_assert(rt_st_tensor_to_f32(t, files[k], want, ti->numel) == RT_OK);
            ck_assert_msg(memcmp(want, rt_t5_params(m) + ti->offset, ti->numel * 4) == 0,
                          "%s differs from the file", ti->name);
            free(want);
        }
        rt_st_close(&f);
    }
    ck_assert_int_eq(found, tab->n);
    return stored;
}

/* ---- expected.json: what transformers made of each fixture ---- */

static json_t *expected(const char *name) {
    static json_t *all;
    json_error_t err;
    if (!all) all = json_load_file(SMALL "/expected.json", 0, &err);
    ck_assert_msg(all != NULL, "expected.json: %s", err.text);
    json_t *e = json_object_get(all, name);
    ck_assert_msg(e != NULL, "%s", name);
    return e;
}

static long long ex_int(json_t *e, const char *key) {
    json_t *v = json_object_get(json_object_get(e, "config"), key);
    ck_assert_msg(json_is_integer(v), "%s", key);
    return json_integer_value(v);
}

static double ex_real(json_t *e, const char *key) {
    json_t *v = json_object_get(json_object_get(e, "config"), key);
    ck_assert_msg(json_is_number(v), "%s", key);
    return json_number_value(v);
}

static const char *const FIXTURES[] = {"tied", "untied", "sharded", "aliases"};
#define N_FIXTURES (int)(sizeof FIXTURES / sizeof FIXTURES[0])

START_TEST(test_fixture_config_and_tensors) {
    const char *name = FIXTURES[_i];
    json_t *e = expected(name);
    char dir[512];
    fmt_path(dir, sizeof dir, SMALL "/%s", name);
    rt_t5_config c;
    rt_status st = rt_hf_t5_read_config(dir, &c);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(c.vocab_size, ex_int(e, "vocab_size"));
    ck_assert_int_eq(c.d_model, ex_int(e, "d_model"));
    ck_assert_int_eq(c.d_kv, ex_int(e, "d_kv"));
    ck_assert_int_eq(c.d_ff, ex_int(e, "d_ff"));
    ck_assert_int_eq(c.num_layers, ex_int(e, "num_layers"));
    ck_assert_int_eq(c.num_decoder_layers, ex_int(e, "num_decoder_layers"));
    ck_assert_int_eq(c.num_heads, ex_int(e, "num_heads"));
    ck_assert_int_eq(c.relative_attention_num_buckets, ex_int(e, "relative_attention_num_buckets"));
    ck_assert_int_eq(c.relative_attention_max_distance,
                     ex_int(e, "relative_attention_max_distance"));
    ck_assert(c.dropout_rate == (float)ex_real(e, "dropout_rate"));
    ck_assert(c.layer_norm_epsilon == (float)ex_real(e, "layer_norm_epsilon"));
    ck_assert(c.initializer_factor == (float)ex_real(e, "initializer_factor"));
    ck_assert_int_eq(c.pad_token_id, ex_int(e, "pad_token_id"));
    ck_assert_int_eq(c.eos_token_id, ex_int(e, "eos_token_id"));
    ck_assert_int_eq(c.decoder_start_token_id, ex_int(e, "decoder_start_token_id"));
    ck_assert_int_eq(c.ff == RT_T5_FF_GATED_GELU, json_is_true(json_object_get(e, "gated")));
    int scale = json_is_true(json_object_get(e, "scale_decoder_outputs"));
    ck_assert_int_eq(c.scale_decoder_outputs, scale);
    ck_assert_int_eq(c.tie_word_embeddings, 1); /* what transformers 5 saved */

    rt_t5 *m = load_ok(dir);
    const rt_t5_config *mc = rt_t5_cfg(m);
    ck_assert_int_eq(mc->tie_word_embeddings,
                     json_is_true(json_object_get(e, "lm_head_is_shared")));
    ck_assert_int_eq(mc->scale_decoder_outputs, scale);
    rt_tensor_table *tab = rt_t5_table(m);
    long long n_params = 0;
    for (int i = 0; i < tab->n; i++) n_params += (long long)tab->t[i].numel;
    ck_assert_int_eq(n_params, json_integer_value(json_object_get(e, "n_params")));
    int stored = assert_tensors_as_stored(m, dir, "shared.weight");
    ck_assert_int_eq(stored, (int)json_array_size(json_object_get(e, "stored_tensors")));
    rt_t5_destroy(&m);
}
END_TEST

/* The golden fixtures' save_pretrained output loads with the head and rescale from_pretrained
   chose, and the compute core then reproduces transformers' lm_head input. */
START_TEST(test_golden_fixture_hidden) {
    const char *name = _i ? "t5_gated_odd" : "t5_tied";
    char dir[512], gpath[512];
    fmt_path(dir, sizeof dir, RT_FIXTURES "/%s/hf", name);
    fmt_path(gpath, sizeof gpath, RT_FIXTURES "/%s/golden.safetensors", name);
    rt_t5 *m = load_ok(dir);
    const rt_t5_config *c = rt_t5_cfg(m);
    ck_assert_int_eq(c->tie_word_embeddings, !_i);
    ck_assert_int_eq(c->scale_decoder_outputs, !_i);
    ck_assert_int_eq(c->ff, _i ? RT_T5_FF_GATED_GELU : RT_T5_FF_RELU);
    assert_tensors_as_stored(m, dir, "shared.weight");
    rt_st_file *g = NULL;
    ck_assert(rt_st_open(&g, gpath) == RT_OK);
    const rt_st_tensor *src = rt_st_find(g, "src_ids"), *mask = rt_st_find(g, "src_mask"),
                       *dec = rt_st_find(g, "dec_ids"), *hid = rt_st_find(g, "hidden");
    ck_assert(src && mask && dec && hid && src->ndim == 2 && dec->ndim == 2);
    int B = (int)src->shape[0], Ts = (int)src->shape[1], Tt = (int)dec->shape[1];
    int32_t *s_ids = malloc(src->nbytes), *d_ids = malloc(dec->nbytes);
    uint8_t *s_mask = malloc(mask->nbytes);
    float *want = malloc(hid->numel * sizeof(float));
    memcpy(s_ids, src->data, src->nbytes);
    memcpy(d_ids, dec->data, dec->nbytes);
    memcpy(s_mask, mask->data, mask->nbytes);
    ck_assert(rt_st_tensor_to_f32(hid, gpath, want, hid->numel) == RT_OK);
    ck_assert(rt_t5_alloc_acts(m, B, Ts, Tt) == RT_OK);
    const float *h = NULL;
    rt_status st = rt_t5_forward_hidden(m, s_ids, s_mask, Ts, d_ids, Tt, B, NULL, &h);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    double worst = 0, scale = 0;
    for (size_t i = 0; i < hid->numel; i++) {
        worst = fmax(worst, fabs((double)h[i] - want[i]));
        scale = fmax(scale, fabs((double)want[i]));
    }
    ck_assert_msg(worst <= 1e-5 * fmax(scale, 1.0), "%s: max |diff| %g (max |hidden| %g)", name,
                  worst, scale);
    free(s_ids);
    free(d_ids);
    free(s_mask);
    free(want);
    rt_st_close(&g);
    rt_t5_destroy(&m);
}
END_TEST

/* ---- save ---- */

static void assert_file_has(const char *dir, const char *file, const char *const *needles) {
    char p[600];
    fmt_path(p, sizeof p, "%s/%s", dir, file);
    size_t n;
    char *text = (char *)slurp(p, &n);
    for (int i = 0; needles[i]; i++)
        ck_assert_msg(strstr(text, needles[i]), "%s: no %s in\n%s", file, needles[i], text);
    free(text);
}

/* The tensor names save_pretrained writes: exactly the table's. */
static void assert_saved_names(rt_t5 *m, const char *dir) {
    char p[600];
    fmt_path(p, sizeof p, "%s/model.safetensors", dir);
    rt_st_file *f = NULL;
    ck_assert(rt_st_open(&f, p) == RT_OK);
    ck_assert_str_eq(rt_st_metadata(f, "format"), "pt");
    rt_tensor_table *tab = rt_t5_table(m);
    ck_assert_int_eq(rt_st_count(f), tab->n);
    for (int i = 0; i < tab->n; i++) {
        const rt_st_tensor *t = rt_st_find(f, tab->t[i].name);
        ck_assert_msg(t && t->dtype == RT_ST_F32, "%s", tab->t[i].name);
    }
    ck_assert_ptr_null(rt_st_find(f, "encoder.embed_tokens.weight"));
    ck_assert_ptr_null(rt_st_find(f, "decoder.embed_tokens.weight"));
    ck_assert_int_eq(rt_st_find(f, "lm_head.weight") != NULL, !rt_t5_cfg(m)->tie_word_embeddings);
    rt_st_close(&f);
}

static void assert_same_bytes(const char *d1, const char *d2, const char *file) {
    char p1[600], p2[600];
    fmt_path(p1, sizeof p1, "%s/%s", d1, file);
    fmt_path(p2, sizeof p2, "%s/%s", d2, file);
    size_t n1, n2;
    unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
    ck_assert_msg(n1 == n2 && memcmp(b1, b2, n1) == 0, "%s differs", file);
    free(b1);
    free(b2);
}

/* Export cases: a fixture, optionally with config.json fields changed (the rescale and tying
   rules beyond what transformers 5 itself writes). */
typedef struct {
    const char *name, *fixture, *patch, *unset;
    int tied, scale;
} export_case;

static const export_case EXPORTS[] = {
    {"tied", "tied", NULL, NULL, 1, 1},
    {"untied", "untied", NULL, NULL, 0, 0},
    {"sharded", "sharded", NULL, NULL, 0, 0},
    {"aliases", "aliases", NULL, NULL, 1, 1},
    /* a 4.x-style config (tie_word_embeddings false, no scale key) without lm_head.weight:
       transformers 5 ties the head anyway and does not rescale */
    {"tie_false_no_head", "tied", "{\"tie_word_embeddings\": false}", "scale_decoder_outputs", 1,
     0},
    /* the saved key wins over tie_word_embeddings, both ways */
    {"tied_no_scale", "tied", "{\"scale_decoder_outputs\": false}", NULL, 1, 0},
    {"untied_scaled", "untied", "{\"scale_decoder_outputs\": true}", NULL, 0, 1},
};
#define N_EXPORTS (int)(sizeof EXPORTS / sizeof EXPORTS[0])

/* For check_t5_export.py: ringtune's logits on a fixed padded batch (src_ids, src_mask,
   dec_ids, logits) in path. */
static void write_ringtune_check(rt_t5 *m, const char *path) {
    enum { B = 3, Ts = 9, Tt = 7 };
    const rt_t5_config *c = rt_t5_cfg(m);
    const int src_len[B] = {9, 6, 3};
    int32_t src[B * Ts], dec[B * Tt];
    uint8_t mask[B * Ts];
    uint32_t x = 7;
    for (int i = 0; i < B * Ts; i++) {
        int b = i / Ts, t = i % Ts;
        x = x * 1664525u + 1013904223u;
        src[i] = t < src_len[b] - 1    ? 2 + (int32_t)((x >> 8) % (uint32_t)(c->vocab_size - 2))
                 : t == src_len[b] - 1 ? c->eos_token_id
                                       : c->pad_token_id;
        mask[i] = t < src_len[b];
    }
    for (int i = 0; i < B * Tt; i++) {
        x = x * 1664525u + 1013904223u;
        dec[i] = i % Tt ? (int32_t)((x >> 8) % (uint32_t)c->vocab_size) : c->decoder_start_token_id;
    }
    ck_assert(rt_t5_alloc_acts(m, B, Ts, Tt) == RT_OK);
    const float *h = NULL;
    ck_assert_msg(rt_t5_forward_hidden(m, src, mask, Ts, dec, Tt, B, NULL, &h) == RT_OK, "%s",
                  rt_error_message());
    const float *head = rt_t5_weights(m)->lm_head;
    int V = c->vocab_size, d = c->d_model;
    float *logits = malloc((size_t)B * Tt * V * sizeof(float));
    for (int r = 0; r < B * Tt; r++)
        for (int v = 0; v < V; v++) {
            double acc = 0;
            for (int k = 0; k < d; k++)
                acc += (double)h[(size_t)r * d + k] * head[(size_t)v * d + k];
            logits[(size_t)r * V + v] = (float)acc;
        }
    rt_st_writer *w = NULL;
    ck_assert(rt_st_writer_create(&w) == RT_OK);
    ck_assert(rt_st_writer_add(w, "src_ids", RT_ST_I32, 2, (int64_t[]){B, Ts}, src) == RT_OK);
    ck_assert(rt_st_writer_add(w, "src_mask", RT_ST_U8, 2, (int64_t[]){B, Ts}, mask) == RT_OK);
    ck_assert(rt_st_writer_add(w, "dec_ids", RT_ST_I32, 2, (int64_t[]){B, Tt}, dec) == RT_OK);
    ck_assert(rt_st_writer_add(w, "logits", RT_ST_F32, 3, (int64_t[]){B, Tt, V}, logits) == RT_OK);
    ck_assert(rt_st_writer_write(w, path, NULL, NULL, 0) == RT_OK);
    rt_st_writer_destroy(&w);
    free(logits);
}

START_TEST(test_save_round_trip) {
    const export_case *x = &EXPORTS[_i];
    const char *keep = getenv("RT_T5_EXPORT_DIR");
    char base[512], src[600], out[600], again[600], fix[512];
    if (keep) {
        fmt_path(base, sizeof base, "%s/%s", keep, x->name);
        rm_rf(base);
        mkdir(keep, 0777);
        mkdir(base, 0777);
    } else {
        tpath(base, x->name);
        mkdir(base, 0777);
    }
    fmt_path(src, sizeof src, "%s/src", base);
    fmt_path(out, sizeof out, "%s/export", base);
    fmt_path(again, sizeof again, "%s/again", base);
    fmt_path(fix, sizeof fix, SMALL "/%s", x->fixture);
    copy_dir(fix, src);
    if (x->patch) patch_config(src, x->patch, x->unset);
    rt_t5 *m = load_ok(src);
    ck_assert_int_eq(rt_t5_cfg(m)->tie_word_embeddings, x->tied);
    ck_assert_int_eq(rt_t5_cfg(m)->scale_decoder_outputs, x->scale);
    ck_assert(rt_hf_t5_save(m, out) == RT_OK);
    rt_t5 *m2 = load_ok(out);
    assert_same_model(m, m2);
    assert_saved_names(m, out);
    const char *cfg_needles[] = {
        "\"T5ForConditionalGeneration\"",
        "\"model_type\": \"t5\"",
        "\"is_encoder_decoder\": true",
        x->scale ? "\"scale_decoder_outputs\": true" : "\"scale_decoder_outputs\": false",
        x->tied ? "\"tie_word_embeddings\": true" : "\"tie_word_embeddings\": false",
        rt_t5_cfg(m)->ff == RT_T5_FF_RELU ? "\"feed_forward_proj\": \"relu\""
                                          : "\"feed_forward_proj\": \"gated-gelu\"",
        "\"pad_token_id\": 0",
        "\"eos_token_id\": 1",
        "\"decoder_start_token_id\": 0",
        NULL};
    assert_file_has(out, "config.json", cfg_needles);
    const char *gen_needles[] = {"\"decoder_start_token_id\": 0", "\"eos_token_id\": 1",
                                 "\"pad_token_id\": 0", "\"_from_model_config\": true", NULL};
    assert_file_has(out, "generation_config.json", gen_needles);
    /* saving what was loaded from an export gives the same bytes */
    ck_assert(rt_hf_t5_save(m2, again) == RT_OK);
    assert_same_bytes(out, again, "model.safetensors");
    assert_same_bytes(out, again, "config.json");
    assert_same_bytes(out, again, "generation_config.json");
    ck_assert(rt_hf_t5_save(m2, out) == RT_OK); /* over an existing export */
    if (keep) {
        rm_rf(again);
        char chk[700];
        fmt_path(chk, sizeof chk, "%s/ringtune_check.safetensors", base);
        write_ringtune_check(m2, chk);
    }
    rt_t5_destroy(&m);
    rt_t5_destroy(&m2);
}
END_TEST

/* ---- embeddings ---- */

START_TEST(test_embedding_sources) {
    char dir[512];
    /* save_pretrained's untied file with lm_head equal to shared: a tied model */
    edit head_equal = {
        .skip = "lm_head.weight", .add = "lm_head.weight", .add_from = "shared.weight"};
    rt_t5 *m = load_ok(edited(dir, "untied", &head_equal));
    ck_assert_int_eq(rt_t5_cfg(m)->tie_word_embeddings, 1);
    ck_assert_int_lt(rt_table_find(rt_t5_table(m), "lm_head.weight"), 0);
    rt_t5_destroy(&m);
    rm_rf(dir);

    /* a tied config with a differing head: untied, and the rescale stays */
    edit head_differs = {.add = "lm_head.weight", .add_from = "shared.weight", .add_delta = 1};
    m = load_ok(edited(dir, "tied", &head_differs));
    ck_assert_int_eq(rt_t5_cfg(m)->tie_word_embeddings, 0);
    ck_assert_int_eq(rt_t5_cfg(m)->scale_decoder_outputs, 1);
    ck_assert(param(m, "lm_head.weight")[3] == param(m, "shared.weight")[3] + 0.25f);
    rt_t5_destroy(&m);
    rm_rf(dir);

    /* no shared.weight: the first alias present stands in (encoder's, then decoder's) */
    edit enc_only = {.skip = "shared.weight",
                     .add = "encoder.embed_tokens.weight",
                     .add_from = "shared.weight",
                     .add2 = "decoder.embed_tokens.weight"};
    rt_t5 *ref = load_ok(SMALL "/tied");
    m = load_ok(edited(dir, "tied", &enc_only));
    assert_same_model(ref, m);
    rt_t5_destroy(&m);
    rm_rf(dir);

    /* only lm_head.weight: transformers ties shared.weight (and both aliases) to it */
    edit head_only = {
        .skip = "shared.weight", .add = "lm_head.weight", .add_from = "shared.weight"};
    m = load_ok(edited(dir, "tied", &head_only));
    assert_same_model(ref, m);
    rt_t5_destroy(&m);
    rm_rf(dir);

    /* the old checkpoints' decoder cross-attention bias table is ignored, as by transformers */
    edit old_bias = {
        .add = "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight",
        .add_from = "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"};
    m = load_ok(edited(dir, "tied", &old_bias));
    assert_same_model(ref, m);
    rt_t5_destroy(&m);
    rt_t5_destroy(&ref);
}
END_TEST

START_TEST(test_alias_differs) {
    char dir[512];
    const char *which[] = {"encoder.embed_tokens.weight", "decoder.embed_tokens.weight"};
    edit e = {.add = which[_i], .add_from = "shared.weight", .add_delta = 1};
    load_fails(edited(dir, "tied", &e), RT_ERR_FORMAT);
    char want[96];
    fmt_path(want, sizeof want, "tensor '%s' differs from 'shared.weight'", which[_i]);
    assert_msg_has(want, "rt_test_hf_t5_", NULL);
    assert_msg_has("tied/model.safetensors", "element 3", NULL);
}
END_TEST

/* ---- refusals ---- */

START_TEST(test_bad_tensors) {
    char dir[512];
    edit missing = {.skip = "decoder.block.0.layer.2.DenseReluDense.wo.weight"};
    load_fails(edited(dir, "tied", &missing), RT_ERR_FORMAT);
    assert_msg_has("tied/model.safetensors: missing tensor "
                   "'decoder.block.0.layer.2.DenseReluDense.wo.weight'",
                   "shape [16,24]", NULL);
    rm_rf(dir);

    edit no_emb = {.skip = "shared.weight"};
    load_fails(edited(dir, "tied", &no_emb), RT_ERR_FORMAT);
    assert_msg_has("missing tensor 'shared.weight'", "[40,16]", "encoder.embed_tokens.weight");
    rm_rf(dir);

    edit shape = {.reshape = "encoder.block.1.layer.0.SelfAttention.q.weight"};
    load_fails(edited(dir, "tied", &shape), RT_ERR_FORMAT);
    assert_msg_has(
        "tied/model.safetensors: tensor 'encoder.block.1.layer.0.SelfAttention.q.weight'",
        "shape [13,16] in the file", "expects [12,16]");
    rm_rf(dir);

    edit head_shape = {.reshape = "lm_head.weight"};
    load_fails(edited(dir, "untied", &head_shape), RT_ERR_FORMAT);
    assert_msg_has("tensor 'lm_head.weight'", "[38,12]", "expects [37,12]");
    rm_rf(dir);

    edit dtype = {.as_i32 = "encoder.final_layer_norm.weight"};
    load_fails(edited(dir, "tied", &dtype), RT_ERR_FORMAT);
    assert_msg_has("tensor 'encoder.final_layer_norm.weight' has dtype I32", "F32, F16 or BF16",
                   "model.safetensors");
    rm_rf(dir);

    const char *unknown[] = {"encoder.block.2.layer.0.SelfAttention.q.weight",
                             "decoder.block.0.layer.2.DenseReluDense.wi_0.weight",
                             "transformer.wte.weight"};
    for (int k = 0; k < 3; k++) {
        edit x = {.add = unknown[k]};
        load_fails(edited(dir, "tied", &x), RT_ERR_FORMAT);
        char want[128];
        fmt_path(want, sizeof want, "unexpected tensor '%s'", unknown[k]);
        assert_msg_has(want, "tied/model.safetensors", "num_layers 2, num_decoder_layers 1");
        rm_rf(dir);
    }
}
END_TEST

START_TEST(test_damaged_files) {
    char dir[512], p[600];
    /* a truncated model.safetensors */
    edited(dir, "tied", NULL);
    fmt_path(p, sizeof p, "%s/model.safetensors", dir);
    ck_assert(truncate(p, 20000) == 0);
    load_fails(dir, RT_ERR_FORMAT);
    assert_msg_has("tied/model.safetensors", NULL, NULL);
    ck_assert(truncate(p, 5) == 0);
    load_fails(dir, RT_ERR_FORMAT);
    assert_msg_has("tied/model.safetensors", NULL, NULL);
    unlink(p);
    load_fails(dir, RT_ERR_IO);
    assert_msg_has("model.safetensors.index.json", "no weights", NULL);
    rm_rf(dir);

    /* a shard the index names is gone; the index maps a tensor its shard lacks */
    edited(dir, "sharded", NULL);
    rt_t5 *m = load_ok(dir);
    assert_tensors_as_stored(m, dir, "shared.weight");
    rt_t5_destroy(&m);
    fmt_path(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    ck_assert(unlink(p) == 0);
    load_fails(dir, RT_ERR_FORMAT);
    assert_msg_has("model.safetensors.index.json", "model-00002-of-00002.safetensors",
                   "does not exist");
    fmt_path(p, sizeof p, "%s/model.safetensors.index.json", dir);
    const char *idx = "{\"weight_map\": {\"shared.weight\": \"model-00001-of-00002.safetensors\"}}";
    spit(p, idx, strlen(idx));
    load_fails(dir, RT_ERR_FORMAT);
    assert_msg_has("model.safetensors.index.json", "'shared.weight'", "no such tensor");
}
END_TEST

/* ---- config.json ---- */

#define SMALL_CFG                                                                                  \
    "\"vocab_size\": 40, \"d_model\": 16, \"d_kv\": 4, \"num_heads\": 3, \"d_ff\": 24, "           \
    "\"num_layers\": 2"

typedef struct {
    const char *json;
    rt_status status;
    const char *expect[2];
} cfg_case;

static const cfg_case BAD_CFG[] = {
    {"{" SMALL_CFG ", \"feed_forward_proj\": \"gated-silu\"}",
     RT_ERR_ARG,
     {"field 'feed_forward_proj' is \"gated-silu\"",
      "supports \"relu\" (T5 v1.0) and \"gated-gelu\""}},
    {"{" SMALL_CFG ", \"feed_forward_proj\": \"gelu\"}",
     RT_ERR_ARG,
     {"'feed_forward_proj' is \"gelu\": a plain feed-forward with activation \"gelu\"",
      "\"gated-gelu\""}},
    {"{" SMALL_CFG ", \"feed_forward_proj\": \"fancy-gelu\"}",
     RT_ERR_ARG,
     {"\"fancy-gelu\", which transformers refuses", "\"gated-ACT\""}},
    {"{" SMALL_CFG ", \"feed_forward_proj\": \"gated-gelu-new\"}",
     RT_ERR_ARG,
     {"'feed_forward_proj'", "which transformers refuses"}},
    {"{" SMALL_CFG ", \"feed_forward_proj\": \"gated-gelu\", \"dense_act_fn\": \"relu\"}",
     RT_ERR_ARG,
     {"a gated feed-forward with activation \"relu\"", "saved dense_act_fn / is_gated_act"}},
    {"{" SMALL_CFG ", \"feed_forward_proj\": \"relu\", \"is_gated_act\": true}",
     RT_ERR_ARG,
     {"'feed_forward_proj' is \"relu\"", "a gated feed-forward"}},
    {"{" SMALL_CFG ", \"feed_forward_proj\": 3}",
     RT_ERR_FORMAT,
     {"'feed_forward_proj'", "a string"}},
    {"{" SMALL_CFG ", \"model_type\": \"gpt2\"}",
     RT_ERR_ARG,
     {"field 'model_type' is \"gpt2\"", "expected \"t5\""}},
    {"{" SMALL_CFG ", \"model_type\": 5}", RT_ERR_FORMAT, {"'model_type'", "\"t5\""}},
    {"{" SMALL_CFG ", \"is_encoder_decoder\": false}",
     RT_ERR_ARG,
     {"field 'is_encoder_decoder' is false", "T5 needs true"}},
    {"{" SMALL_CFG ", \"pad_token_id\": null}", RT_ERR_ARG, {"field 'pad_token_id' is null", NULL}},
    {"{" SMALL_CFG ", \"decoder_start_token_id\": null}",
     RT_ERR_ARG,
     {"field 'decoder_start_token_id' is null", "_shift_right"}},
    {"{" SMALL_CFG ", \"eos_token_id\": \"one\"}", RT_ERR_FORMAT, {"'eos_token_id'", "\"one\""}},
    {"{" SMALL_CFG ", \"tie_word_embeddings\": 1}",
     RT_ERR_FORMAT,
     {"'tie_word_embeddings'", "true or false"}},
    {"{" SMALL_CFG ", \"scale_decoder_outputs\": \"yes\"}",
     RT_ERR_FORMAT,
     {"'scale_decoder_outputs'", "true or false"}},
    {"{" SMALL_CFG ", \"relative_attention_max_distance\": 16.5}",
     RT_ERR_FORMAT,
     {"field 'relative_attention_max_distance'", "an integer"}},
    {"{" SMALL_CFG ", \"layer_norm_epsilon\": \"1e-6\"}",
     RT_ERR_FORMAT,
     {"'layer_norm_epsilon'", "a number"}},
    {"{" SMALL_CFG ", \"num_attention_heads\": 0}", RT_ERR_ARG, {"num_heads", NULL}},
    {"{" SMALL_CFG ", \"num_decoder_layers\": 0}", RT_ERR_ARG, {"num_decoder_layers", NULL}},
    {"{" SMALL_CFG ", \"dropout_rate\": 1.5}", RT_ERR_ARG, {"dropout_rate", NULL}},
    {"{" SMALL_CFG ",}", RT_ERR_FORMAT, {"not valid JSON", NULL}},
    {"[1]", RT_ERR_FORMAT, {"expected an object", NULL}},
};
#define N_BAD_CFG (int)(sizeof BAD_CFG / sizeof BAD_CFG[0])

START_TEST(test_bad_config) {
    const cfg_case *c = &BAD_CFG[_i];
    write_config(c->json);
    rt_t5_config cfg;
    rt_status st = rt_hf_t5_read_config(tmpdir, &cfg);
    ck_assert_msg(st == c->status, "%s: status %s (%s)", c->json, rt_status_name(st),
                  rt_error_message());
    assert_msg_has("config.json", c->expect[0], c->expect[1]);
    rt_t5 *m = NULL;
    ck_assert_int_eq(rt_hf_t5_load(tmpdir, &m), c->status); /* the loader stops there too */
    ck_assert_ptr_null(m);
}
END_TEST

static rt_t5_config read_cfg(const char *json) {
    write_config(json);
    rt_t5_config c;
    rt_status st = rt_hf_t5_read_config(tmpdir, &c);
    ck_assert_msg(st == RT_OK, "%s: %s", json, rt_error_message());
    return c;
}

START_TEST(test_config_defaults_and_rules) {
    /* absent fields: T5Config's defaults (t5-small) */
    rt_t5_config c = read_cfg("{\"model_type\": \"t5\", \"architectures\": [\"x\"], \"foo\": 1}");
    rt_t5_config d;
    rt_t5_config_default(&d);
    ck_assert(memcmp(&c, &d, sizeof c) == 0);

    /* attribute_map aliases win; num_decoder_layers copies num_layers before the alias */
    c = read_cfg("{\"d_model\": 16, \"hidden_size\": 20, \"head_dim\": 5, \"num_heads\": 2, "
                 "\"num_attention_heads\": 4, \"num_layers\": 2, \"num_hidden_layers\": 3}");
    ck_assert_int_eq(c.d_model, 20);
    ck_assert_int_eq(c.d_kv, 5);
    ck_assert_int_eq(c.num_heads, 4);
    ck_assert_int_eq(c.num_layers, 3);
    ck_assert_int_eq(c.num_decoder_layers, 2);
    c = read_cfg("{\"num_hidden_layers\": 3}");
    ck_assert_int_eq(c.num_layers, 3);
    ck_assert_int_eq(c.num_decoder_layers, 6);
    c = read_cfg("{\"num_layers\": 4, \"num_decoder_layers\": null}");
    ck_assert_int_eq(c.num_decoder_layers, 4);

    /* feed_forward_proj and the saved derived keys */
    c = read_cfg("{\"feed_forward_proj\": \"gated-gelu\"}");
    ck_assert_int_eq(c.ff, RT_T5_FF_GATED_GELU);
    c = read_cfg("{\"feed_forward_proj\": \"gated-gelu_pytorch_tanh\"}");
    ck_assert_int_eq(c.ff, RT_T5_FF_GATED_GELU);
    c = read_cfg("{\"feed_forward_proj\": \"relu\", \"is_gated_act\": true, "
                 "\"dense_act_fn\": \"gelu_new\"}");
    ck_assert_int_eq(c.ff, RT_T5_FF_GATED_GELU);
    c = read_cfg("{\"feed_forward_proj\": \"gated-gelu\", \"is_gated_act\": false, "
                 "\"dense_act_fn\": \"relu\"}");
    ck_assert_int_eq(c.ff, RT_T5_FF_RELU);

    /* tie_word_embeddings and the rescale */
    c = read_cfg("{\"tie_word_embeddings\": false}");
    ck_assert(!c.tie_word_embeddings && !c.scale_decoder_outputs);
    c = read_cfg("{\"tie_word_embeddings\": null}");
    ck_assert(c.tie_word_embeddings && c.scale_decoder_outputs);
    c = read_cfg("{\"tie_word_embeddings\": false, \"scale_decoder_outputs\": true}");
    ck_assert(!c.tie_word_embeddings && c.scale_decoder_outputs);
    c = read_cfg("{\"scale_decoder_outputs\": null}");
    ck_assert(c.tie_word_embeddings && !c.scale_decoder_outputs);

    /* token ids */
    c = read_cfg("{\"eos_token_id\": [5, 1], \"pad_token_id\": 3, \"decoder_start_token_id\": 2}");
    ck_assert_int_eq(c.eos_token_id, 5);
    ck_assert_int_eq(c.pad_token_id, 3);
    ck_assert_int_eq(c.decoder_start_token_id, 2);
    c = read_cfg("{\"eos_token_id\": null}");
    ck_assert_int_eq(c.eos_token_id, -1);

    /* no config.json */
    char p[512];
    unlink(tpath(p, "config.json"));
    ck_assert_int_eq(rt_hf_t5_read_config(tmpdir, &c), RT_ERR_IO);
    assert_msg_has("config.json", NULL, NULL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("hf_t5");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_fixture_config_and_tensors, 0, N_FIXTURES);
    tcase_add_loop_test(tc, test_golden_fixture_hidden, 0, 2);
    tcase_add_loop_test(tc, test_save_round_trip, 0, N_EXPORTS);
    tcase_add_test(tc, test_embedding_sources);
    tcase_add_loop_test(tc, test_alias_differs, 0, 2);
    tcase_add_test(tc, test_bad_tensors);
    tcase_add_test(tc, test_damaged_files);
    tcase_add_loop_test(tc, test_bad_config, 0, N_BAD_CFG);
    tcase_add_test(tc, test_config_defaults_and_rules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
