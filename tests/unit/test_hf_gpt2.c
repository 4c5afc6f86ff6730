/* Hugging Face GPT-2 checkpoint directories: save/load bit identity, byte-identical re-saves,
   unprefixed, half-precision and sharded checkpoints, the real transformers fixture, and the
   errors (missing/misshapen/unknown/duplicate tensors, untied head, bad config fields). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "gpt2.h"
#include "hf_gpt2.h"
#include "safetensors.h"

/* ---- temp directory helpers ---- */

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static char tmpdir[256];

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rt_test_hf_XXXXXX");
    ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void teardown(void) {
    rm_rf(tmpdir);
}

static const char *tpath(char *buf, const char *name) {
    snprintf(buf, 512, "%s/%s", tmpdir, name);
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

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "wb");
    ck_assert(fp != NULL);
    fputs(text, fp);
    fclose(fp);
}

static void assert_msg_has(const char *a, const char *b, const char *c) {
    const char *m = rt_error_message();
    ck_assert_msg(strstr(m, a), "expected \"%s\" in: %s", a, m);
    if (b) ck_assert_msg(strstr(m, b), "expected \"%s\" in: %s", b, m);
    if (c) ck_assert_msg(strstr(m, c), "expected \"%s\" in: %s", c, m);
}

/* ---- a tiny model with a deterministic parameter pattern ---- */

static rt_gpt2_config tiny_config(int n_inner) {
    rt_gpt2_config c;
    rt_gpt2_config_default(&c);
    c.vocab_size = 37;
    c.n_positions = 11;
    c.n_embd = 8;
    c.n_layer = 2;
    c.n_head = 2;
    c.n_inner = n_inner ? n_inner : 4 * c.n_embd;
    c.layer_norm_epsilon = 1e-5f;
    c.embd_pdrop = 0.0f;
    c.attn_pdrop = 0.05f;
    c.resid_pdrop = 0.1f;
    c.initializer_range = 0.02f;
    c.bos_token_id = c.eos_token_id = 36;
    return c;
}

static rt_gpt2 *tiny_model(int n_inner) {
    rt_gpt2_config c = tiny_config(n_inner);
    rt_gpt2 *m = NULL;
    rt_status st = rt_gpt2_create(&m, &c);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    /* Fill every tensor (padding between tensors stays zero, as after create). */
    uint32_t x = 12345;
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *t = &m->params.t[i];
        for (size_t j = 0; j < t->numel; j++) {
            x = x * 1664525u + 1013904223u;
            m->params_mem[t->offset + j] = (float)((int)(x >> 9) - (1 << 22)) / (1 << 20);
        }
    }
    return m;
}

static void assert_same_model(const rt_gpt2 *a, const rt_gpt2 *b) {
    ck_assert(memcmp(&a->cfg, &b->cfg, sizeof a->cfg) == 0);
    ck_assert_int_eq(a->params.n, b->params.n);
    ck_assert_uint_eq(a->params.total, b->params.total);
    ck_assert(memcmp(a->params_mem, b->params_mem, a->params.total * sizeof(float)) == 0);
}

/* What to do when writing a checkpoint by hand. */
typedef struct {
    const char *prefix;    /* "" or "transformer." */
    const char *skip;      /* table name to leave out */
    const char *reshape;   /* table name whose last dimension gets +1 */
    const char *extra;     /* an extra F32 [2] tensor with this name */
    int lm_head;           /* 1: add lm_head.weight = wte, 2: lm_head differing in one element */
    int buffers;           /* add h.N.attn.bias / masked_bias buffers */
    rt_st_dtype dtype;     /* F32, F16 or BF16 for every tensor */
    int shard_at;          /* >0: split into two shards before table index shard_at */
    const char *dup_plain; /* also store this tensor without the prefix */
} ckpt_opts;

static uint16_t to_bf16(float f) { /* truncation: exact for the values the tests use */
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)(b >> 16);
}

/* Writes config.json (via rt_hf_gpt2_save) and then hand-made weight files into dir. */
static void write_ckpt(const char *dir, const rt_gpt2 *m, const ckpt_opts *o) {
    rt_status st = rt_hf_gpt2_save(m, dir);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    char path[600], p2[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rt_st_writer *w[2] = {NULL, NULL};
    ck_assert(rt_st_writer_create(&w[0]) == RT_OK);
    ck_assert(rt_st_writer_create(&w[1]) == RT_OK);
    void **bufs = calloc((size_t)m->params.n + 4, sizeof *bufs);
    int nb = 0;
    char name[256];
    const char *weight_map[1024];
    int shard_of[1024], nmap = 0;
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *t = &m->params.t[i];
        if (o->skip && !strcmp(o->skip, t->name)) continue;
        int64_t shape[RT_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        const float *src = m->params_mem + t->offset;
        const void *data = src;
        size_t numel = t->numel;
        if (o->reshape && !strcmp(o->reshape, t->name)) {
            shape[t->ndim - 1] += 1;
            numel = numel / (size_t)t->shape[t->ndim - 1] * (size_t)shape[t->ndim - 1];
            float *big = calloc(numel, sizeof(float));
            bufs[nb++] = big;
            data = src = big;
        }
        if (o->dtype != RT_ST_F32) {
            uint16_t *h = malloc(numel * 2);
            for (size_t j = 0; j < numel; j++) h[j] = to_bf16(src[j]);
            bufs[nb++] = h;
            data = h;
        }
        int k = o->shard_at > 0 && i >= o->shard_at;
        snprintf(name, sizeof name, "%s%s", o->prefix, t->name);
        ck_assert(rt_st_writer_add(w[k], name, o->dtype, t->ndim, shape, data) == RT_OK);
        weight_map[nmap] = strdup(name);
        shard_of[nmap++] = k;
        if (o->dup_plain && !strcmp(o->dup_plain, t->name)) {
            ck_assert(rt_st_writer_add(w[k], t->name, o->dtype, t->ndim, shape, data) == RT_OK);
            weight_map[nmap] = strdup(t->name);
            shard_of[nmap++] = k;
        }
    }
    static const float two[2] = {1.5f, -2.5f};
    static const float mask[1] = {-1e4f};
    if (o->extra) {
        ck_assert(rt_st_writer_add(w[0], o->extra, RT_ST_F32, 1, (int64_t[]){2}, two) == RT_OK);
        weight_map[nmap] = strdup(o->extra);
        shard_of[nmap++] = 0;
    }
    if (o->buffers) {
        for (int l = 0; l < m->cfg.n_layer; l++) {
            snprintf(name, sizeof name, "%sh.%d.attn.bias", o->prefix, l);
            ck_assert(rt_st_writer_add(w[0], name, RT_ST_F32, 1, (int64_t[]){1}, mask) == RT_OK);
            snprintf(name, sizeof name, "%sh.%d.attn.masked_bias", o->prefix, l);
            ck_assert(rt_st_writer_add(w[0], name, RT_ST_F32, 0, NULL, mask) == RT_OK);
        }
    }
    if (o->lm_head) {
        const rt_tensor_info *t = &m->params.t[rt_table_find(&m->params, "wte.weight")];
        float *head = malloc(t->numel * sizeof(float));
        memcpy(head, m->params_mem + t->offset, t->numel * sizeof(float));
        if (o->lm_head == 2) head[5] += 1.0f;
        bufs[nb++] = head;
        ck_assert(rt_st_writer_add(w[0], "lm_head.weight", RT_ST_F32, 2, t->shape, head) == RT_OK);
        weight_map[nmap] = strdup("lm_head.weight");
        shard_of[nmap++] = 0;
    }
    if (o->shard_at > 0) {
        const char *names[2] = {"model-00001-of-00002.safetensors",
                                "model-00002-of-00002.safetensors"};
        for (int k = 0; k < 2; k++) {
            snprintf(p2, sizeof p2, "%s/%s", dir, names[k]);
            ck_assert(rt_st_writer_write(w[k], p2, NULL, NULL, 0) == RT_OK);
        }
        snprintf(p2, sizeof p2, "%s/model.safetensors.index.json", dir);
        FILE *fp = fopen(p2, "w");
        fprintf(fp, "{\n  \"metadata\": {\"total_size\": %zu},\n  \"weight_map\": {",
                m->params.total * 4);
        for (int i = 0; i < nmap; i++)
            fprintf(fp, "%s\n    \"%s\": \"%s\"", i ? "," : "", weight_map[i], names[shard_of[i]]);
        fprintf(fp, "\n  }\n}\n");
        fclose(fp);
    } else {
        ck_assert(rt_st_writer_write(w[0], path, NULL, NULL, 0) == RT_OK);
    }
    for (int i = 0; i < nmap; i++) free((char *)weight_map[i]);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    free(bufs);
    rt_st_writer_destroy(&w[0]);
    rt_st_writer_destroy(&w[1]);
}

static const ckpt_opts PLAIN = {.prefix = "", .dtype = RT_ST_F32};

/* ---- tests ---- */

START_TEST(test_save_load_round_trip) {
    int n_inner = _i == 0 ? 0 : 20; /* null in config.json, then an explicit odd width */
    rt_gpt2 *m = tiny_model(n_inner);
    char dir[512];
    tpath(dir, "a/b/ckpt"); /* parents are created */
    rt_status st = rt_hf_gpt2_save(m, dir);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    rt_gpt2 *m2 = NULL;
    st = rt_hf_gpt2_load(dir, &m2);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    assert_same_model(m, m2);

    /* What transformers needs to see. */
    char path[600];
    size_t n;
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *cfg = (char *)slurp(path, &n);
    ck_assert(strstr(cfg, "\"model_type\": \"gpt2\""));
    ck_assert(strstr(cfg, "\"GPT2LMHeadModel\""));
    ck_assert(strstr(cfg, "\"activation_function\": \"gelu_new\""));
    ck_assert(strstr(cfg, "\"layer_norm_epsilon\": 1e-5") ||
              strstr(cfg, "\"layer_norm_epsilon\": 1e-05"));
    ck_assert(strstr(cfg, "\"resid_pdrop\": 0.1,"));
    ck_assert(strstr(cfg, n_inner ? "\"n_inner\": 20" : "\"n_inner\": null"));
    free(cfg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rt_st_file *f = NULL;
    ck_assert(rt_st_open(&f, path) == RT_OK);
    ck_assert_int_eq(rt_st_count(f), m->params.n);
    ck_assert_str_eq(rt_st_metadata(f, "format"), "pt");
    for (int i = 0; i < rt_st_count(f); i++)
        ck_assert(strncmp(rt_st_get(f, i)->name, "transformer.", 12) == 0);
    ck_assert_ptr_nonnull(rt_st_find(f, "transformer.h.1.mlp.c_proj.weight"));
    ck_assert_ptr_null(rt_st_find(f, "lm_head.weight"));
    rt_st_close(&f);
    rt_gpt2_destroy(&m);
    rt_gpt2_destroy(&m2);
}
END_TEST

START_TEST(test_resave_byte_identical) {
    rt_gpt2 *m = tiny_model(0);
    char d1[512], d2[512], p1[600], p2[600];
    tpath(d1, "one");
    tpath(d2, "two");
    ck_assert(rt_hf_gpt2_save(m, d1) == RT_OK);
    rt_gpt2 *m2 = NULL;
    ck_assert(rt_hf_gpt2_load(d1, &m2) == RT_OK);
    ck_assert(rt_hf_gpt2_save(m2, d2) == RT_OK);
    const char *files[] = {"model.safetensors", "config.json"};
    for (int k = 0; k < 2; k++) {
        snprintf(p1, sizeof p1, "%s/%s", d1, files[k]);
        snprintf(p2, sizeof p2, "%s/%s", d2, files[k]);
        size_t n1, n2;
        unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
        ck_assert_msg(n1 == n2 && memcmp(b1, b2, n1) == 0, "%s differs", files[k]);
        free(b1);
        free(b2);
    }
    /* Saving over an existing checkpoint works too (atomic replace). */
    ck_assert(rt_hf_gpt2_save(m2, d1) == RT_OK);
    rt_gpt2_destroy(&m);
    rt_gpt2_destroy(&m2);
}
END_TEST

START_TEST(test_unprefixed_names_buffers_and_tied_head) {
    rt_gpt2 *m = tiny_model(0);
    char dir[512];
    tpath(dir, "hub");
    ckpt_opts o = PLAIN;
    o.buffers = 1;
    o.lm_head = 1;
    write_ckpt(dir, m, &o);
    rt_gpt2 *m2 = NULL;
    rt_status st = rt_hf_gpt2_load(dir, &m2);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    assert_same_model(m, m2);
    rt_gpt2_destroy(&m2);

    o.prefix = "transformer."; /* save_pretrained's names, buffers included */
    write_ckpt(dir, m, &o);
    st = rt_hf_gpt2_load(dir, &m2);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    assert_same_model(m, m2);
    rt_gpt2_destroy(&m2);
    rt_gpt2_destroy(&m);
}
END_TEST

START_TEST(test_untied_head_rejected) {
    rt_gpt2 *m = tiny_model(0);
    char dir[512];
    tpath(dir, "untied");
    ckpt_opts o = PLAIN;
    o.lm_head = 2;
    write_ckpt(dir, m, &o);
    rt_gpt2 *m2 = NULL;
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
    ck_assert_ptr_null(m2);
    assert_msg_has("lm_head.weight", "ties the LM head", "model.safetensors");
    rt_gpt2_destroy(&m);
}
END_TEST

START_TEST(test_half_precision_weights) {
    rt_gpt2 *m = tiny_model(0);
    /* Values with at most 8 significant bits are exact in BF16. */
    for (size_t i = 0; i < m->params.total; i++)
        m->params_mem[i] = (float)((int)(i % 255) - 127) / 64.0f;
    char dir[512];
    tpath(dir, "bf16");
    ckpt_opts o = PLAIN;
    o.dtype = RT_ST_BF16;
    write_ckpt(dir, m, &o);
    rt_gpt2 *m2 = NULL;
    rt_status st = rt_hf_gpt2_load(dir, &m2);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *t = &m->params.t[i];
        ck_assert(memcmp(m->params_mem + t->offset, m2->params_mem + t->offset,
                         t->numel * sizeof(float)) == 0);
    }
    rt_gpt2_destroy(&m2);
    rt_gpt2_destroy(&m);
}
END_TEST

START_TEST(test_sharded) {
    rt_gpt2 *m = tiny_model(0);
    char dir[512], p[600];
    tpath(dir, "sharded");
    ckpt_opts o = PLAIN;
    o.prefix = "transformer.";
    o.shard_at = 9;
    write_ckpt(dir, m, &o);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    ck_assert(access(p, F_OK) != 0);
    rt_gpt2 *m2 = NULL;
    rt_status st = rt_hf_gpt2_load(dir, &m2);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    assert_same_model(m, m2);
    rt_gpt2_destroy(&m2);

    /* A shard the index names is gone. */
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    ck_assert(unlink(p) == 0);
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
    assert_msg_has("model.safetensors.index.json", "model-00002-of-00002.safetensors",
                   "does not exist");

    /* The weight map does not cover a tensor. */
    rm_rf(dir);
    o.skip = "h.1.ln_2.bias";
    write_ckpt(dir, m, &o);
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
    assert_msg_has("model.safetensors.index.json", "missing tensor 'h.1.ln_2.bias'", NULL);

    /* The index is not JSON / has no weight_map. */
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    write_text(p, "{\"metadata\": {}}");
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
    assert_msg_has("model.safetensors.index.json", "weight_map", NULL);
    write_text(p, "{\"weight_map\": {\"wte.weight\": \"../model.safetensors\"}}");
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
    assert_msg_has("model.safetensors.index.json", "'wte.weight'", "plain file name");
    rt_gpt2_destroy(&m);
}
END_TEST

START_TEST(test_missing_tensor) {
    rt_gpt2 *m = tiny_model(0);
    char dir[512];
    tpath(dir, "missing");
    ckpt_opts o = PLAIN;
    o.skip = "h.1.attn.c_proj.bias";
    write_ckpt(dir, m, &o);
    rt_gpt2 *m2 = NULL;
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
    ck_assert_ptr_null(m2);
    assert_msg_has("model.safetensors", "missing tensor 'h.1.attn.c_proj.bias'", NULL);
    rt_gpt2_destroy(&m);
}
END_TEST

START_TEST(test_wrong_shape) {
    rt_gpt2 *m = tiny_model(0);
    char dir[512];
    tpath(dir, "shape");
    ckpt_opts o = PLAIN;
    o.prefix = "transformer.";
    o.reshape = "h.0.attn.c_attn.weight"; /* [8,24] stored as [8,25] */
    write_ckpt(dir, m, &o);
    rt_gpt2 *m2 = NULL;
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
    assert_msg_has("'transformer.h.0.attn.c_attn.weight'", "[8,25]", "[8,24]");
    ck_assert(strstr(rt_error_message(), "model.safetensors"));
    rt_gpt2_destroy(&m);
}
END_TEST

START_TEST(test_unknown_and_duplicate_tensors) {
    rt_gpt2 *m = tiny_model(0);
    char dir[512];
    tpath(dir, "unknown");
    rt_gpt2 *m2 = NULL;
    const char *unknown[] = {"transformer.h.0.attn.q_proj.weight", "h.2.ln_1.weight",
                             "score.weight", "transformer.lm_head.weight"};
    for (int k = 0; k < 4; k++) {
        ckpt_opts o = PLAIN;
        o.prefix = "transformer.";
        o.extra = unknown[k];
        write_ckpt(dir, m, &o);
        ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
        ck_assert_ptr_null(m2);
        char want[128];
        snprintf(want, sizeof want, "unexpected tensor '%s'", unknown[k]);
        assert_msg_has(want, "model.safetensors", NULL);
    }
    ckpt_opts o = PLAIN;
    o.prefix = "transformer.";
    o.dup_plain = "wpe.weight";
    write_ckpt(dir, m, &o);
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_FORMAT);
    assert_msg_has("'wpe.weight' appears twice", "'transformer.wpe.weight'", NULL);
    rt_gpt2_destroy(&m);
}
END_TEST

START_TEST(test_no_weights) {
    char dir[512];
    tpath(dir, "noweights");
    rt_gpt2 *m = tiny_model(0);
    ck_assert(rt_hf_gpt2_save(m, dir) == RT_OK);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rt_gpt2 *m2 = NULL;
    ck_assert_int_eq(rt_hf_gpt2_load(dir, &m2), RT_ERR_IO);
    assert_msg_has("model.safetensors", "model.safetensors.index.json", NULL);
    rt_gpt2_destroy(&m);
}
END_TEST

/* ---- config.json ---- */

/* Valid except where a case says otherwise; each case adds the fields it is about. */
#define TINY_CFG "\"vocab_size\": 37, \"n_positions\": 11, \"eos_token_id\": 1, \"bos_token_id\": 1"
#define TINY_SHAPE "\"n_embd\": 8, \"n_head\": 2, \"n_layer\": 2"

typedef struct {
    const char *json;
    rt_status status;
    const char *expect[2];
} cfg_case;

static const cfg_case BAD_CFG[] = {
    {"{" TINY_CFG ", \"n_embd\": 8, \"n_head\": \"twelve\"}",
     RT_ERR_FORMAT,
     {"field 'n_head'", "\"twelve\""}},
    {"{" TINY_CFG ", " TINY_SHAPE ", \"activation_function\": \"relu\"}",
     RT_ERR_ARG,
     {"field 'activation_function' is \"relu\"", "gelu_new"}},
    {"{" TINY_CFG ", \"activation_function\": 3}", RT_ERR_FORMAT, {"'activation_function'"}},
    {"{" TINY_CFG ", \"model_type\": \"bert\"}", RT_ERR_ARG, {"'model_type'", "\"gpt2\""}},
    {"{" TINY_CFG ", \"layer_norm_epsilon\": \"1e-5\"}",
     RT_ERR_FORMAT,
     {"'layer_norm_epsilon'", "a number"}},
    {"{" TINY_CFG ", \"n_inner\": 3.5}", RT_ERR_FORMAT, {"'n_inner'", "integer or null"}},
    {"{\"vocab_size\": null}", RT_ERR_FORMAT, {"'vocab_size'", "null"}},
    {"{" TINY_CFG ", \"n_embd\": 10000000000}", RT_ERR_ARG, {"'n_embd'", "does not fit"}},
    {"{" TINY_CFG ", \"scale_attn_weights\": false}", RT_ERR_ARG, {"'scale_attn_weights'"}},
    {"{" TINY_CFG ", \"scale_attn_by_inverse_layer_idx\": true}",
     RT_ERR_ARG,
     {"'scale_attn_by_inverse_layer_idx'"}},
    {"{" TINY_CFG ", \"add_cross_attention\": 1}", RT_ERR_FORMAT, {"'add_cross_attention'"}},
    {"{" TINY_CFG ", \"n_embd\": 10, \"n_head\": 3, \"n_layer\": 2}", RT_ERR_ARG, {"n_head"}},
    {"{" TINY_CFG ", \"n_embd\": 8, \"n_head\": 2, \"n_layer\": 0}", RT_ERR_ARG, {"n_layer"}},
    {"{" TINY_CFG ",}", RT_ERR_FORMAT, {"not valid JSON"}},
    {"{" TINY_CFG ", \"n_head\": 2, \"n_head\": 4}", RT_ERR_FORMAT, {"duplicate"}},
    {"[1]", RT_ERR_FORMAT, {"expected an object"}},
};

START_TEST(test_bad_config) {
    const cfg_case *c = &BAD_CFG[_i];
    char p[512];
    write_text(tpath(p, "config.json"), c->json);
    rt_gpt2_config cfg;
    rt_status st = rt_hf_gpt2_read_config(tmpdir, &cfg);
    ck_assert_msg(st == c->status, "%s: status %s (%s)", c->json, rt_status_name(st),
                  rt_error_message());
    assert_msg_has("config.json", c->expect[0], c->expect[1]);
    /* And the loader stops at the config. */
    rt_gpt2 *m = NULL;
    ck_assert_int_eq(rt_hf_gpt2_load(tmpdir, &m), c->status);
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_config_defaults_and_aliases) {
    char p[512];
    tpath(p, "config.json");
    rt_gpt2_config c;
    /* Absent fields take GPT2Config's defaults (the 124M model). */
    write_text(p, "{\"model_type\": \"gpt2\"}");
    rt_status st = rt_hf_gpt2_read_config(tmpdir, &c);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(c.vocab_size, 50257);
    ck_assert_int_eq(c.n_positions, 1024);
    ck_assert_int_eq(c.n_embd, 768);
    ck_assert_int_eq(c.n_layer, 12);
    ck_assert_int_eq(c.n_head, 12);
    ck_assert_int_eq(c.n_inner, 3072);
    ck_assert(c.layer_norm_epsilon == 1e-5f && c.initializer_range == 0.02f);
    ck_assert(c.resid_pdrop == 0.1f && c.embd_pdrop == 0.1f && c.attn_pdrop == 0.1f);
    ck_assert_int_eq(c.bos_token_id, 50256);
    ck_assert_int_eq(c.eos_token_id, 50256);

    /* n_ctx is ignored (as by transformers); gelu_pytorch_tanh is accepted. */
    write_text(p, "{\"vocab_size\": 37, \"n_positions\": 11, " TINY_SHAPE ", \"n_ctx\": 99,"
                  " \"activation_function\": \"gelu_pytorch_tanh\", \"n_inner\": null,"
                  " \"layer_norm_epsilon\": 1e-6, \"resid_pdrop\": 0, \"eos_token_id\": 7,"
                  " \"bos_token_id\": null}");
    ck_assert(rt_hf_gpt2_read_config(tmpdir, &c) == RT_OK);
    ck_assert_int_eq(c.n_positions, 11);
    ck_assert_int_eq(c.n_inner, 32);
    ck_assert(c.layer_norm_epsilon == 1e-6f && c.resid_pdrop == 0.0f);
    ck_assert_int_eq(c.eos_token_id, 7);
    ck_assert_int_eq(c.bos_token_id, -1);
    write_text(p, "{\"vocab_size\": 37, \"n_ctx\": 9, \"n_embd\": 8, \"n_head\": 2,"
                  " \"n_inner\": 12, \"eos_token_id\": 1}");
    ck_assert(rt_hf_gpt2_read_config(tmpdir, &c) == RT_OK);
    ck_assert_int_eq(c.n_positions, 1024); /* GPT2Config's default, not n_ctx */
    ck_assert_int_eq(c.n_inner, 12);

    /* No config at all. */
    unlink(p);
    ck_assert_int_eq(rt_hf_gpt2_read_config(tmpdir, &c), RT_ERR_IO);
    assert_msg_has("config.json", NULL, NULL);
}
END_TEST

/* The checkpoint transformers itself wrote (tests/fixtures/gen_fixtures.py). */
START_TEST(test_reference_checkpoint) {
    const char *dir = RT_FIXTURES "/gpt2_tiny/hf";
    rt_gpt2 *m = NULL;
    rt_status st = rt_hf_gpt2_load(dir, &m);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    rt_st_file *f = NULL;
    ck_assert(rt_st_open(&f, RT_FIXTURES "/gpt2_tiny/hf/model.safetensors") == RT_OK);
    for (int i = 0; i < m->params.n; i++) {
        const rt_tensor_info *t = &m->params.t[i];
        char name[256];
        snprintf(name, sizeof name, "transformer.%s", t->name);
        const rt_st_tensor *s = rt_st_find(f, name);
        if (!s) s = rt_st_find(f, t->name);
        ck_assert_msg(s != NULL, "%s", t->name);
        ck_assert(s->dtype == RT_ST_F32 && s->numel == t->numel);
        ck_assert(memcmp(s->data, m->params_mem + t->offset, s->nbytes) == 0);
    }
    rt_st_close(&f);
    char out[512];
    tpath(out, "resaved");
    ck_assert(rt_hf_gpt2_save(m, out) == RT_OK);
    rt_gpt2 *m2 = NULL;
    ck_assert(rt_hf_gpt2_load(out, &m2) == RT_OK);
    assert_same_model(m, m2);
    rt_gpt2_destroy(&m);
    rt_gpt2_destroy(&m2);
}
END_TEST

int main(void) {
    Suite *s = suite_create("hf_gpt2");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_save_load_round_trip, 0, 2);
    tcase_add_test(tc, test_resave_byte_identical);
    tcase_add_test(tc, test_unprefixed_names_buffers_and_tied_head);
    tcase_add_test(tc, test_untied_head_rejected);
    tcase_add_test(tc, test_half_precision_weights);
    tcase_add_test(tc, test_sharded);
    tcase_add_test(tc, test_missing_tensor);
    tcase_add_test(tc, test_wrong_shape);
    tcase_add_test(tc, test_unknown_and_duplicate_tensors);
    tcase_add_test(tc, test_no_weights);
    tcase_add_loop_test(tc, test_bad_config, 0, (int)(sizeof BAD_CFG / sizeof BAD_CFG[0]));
    tcase_add_test(tc, test_config_defaults_and_aliases);
    tcase_add_test(tc, test_reference_checkpoint);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
