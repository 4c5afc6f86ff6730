/* GPT2ForSequenceClassification checkpoints: the classification fields of config.json, the body
   through hf_gpt2.c, the "score.weight" head beside it. */
#include "hf_gpt2_seqcls.h"
#include "fsutil.h"
#include "hf_gpt2.h"
#include "seqcls.h"
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define ARCH "GPT2ForSequenceClassification"

void rt_hf_seqcls_config_free(rt_hf_seqcls_config *c) {
    if (!c) return;
    for (int i = 0; c->id2label && i < c->num_labels; i++) free(c->id2label[i]);
    free(c->id2label);
    c->id2label = NULL;
}

int rt_hf_seqcls_pool_pad(const rt_hf_seqcls_config *c) {
    if (!c->has_pad) return -1;
    return c->pad_token_id < 0 ? INT32_MAX : c->pad_token_id;
}

static rt_status load_json(const char *path, json_t **root) {
    char *text = NULL;
    size_t len = 0;
    *root = NULL;
    RT_CALL(rt_fs_read_file(path, &text, &len));
    json_error_t e;
    *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    free(text);
    if (!*root)
        return rt_error(RT_ERR_FORMAT, "%s: not valid JSON: %s (line %d column %d)", path, e.text,
                        e.line, e.column);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return rt_error(RT_ERR_FORMAT, "%s: top level is not an object", path);
    }
    return RT_OK;
}

/* Names LABEL_<i> for K labels, or copies of names[0..K). */
static rt_status set_names(rt_hf_seqcls_config *c, int K, const char *const *names) {
    c->id2label = calloc((size_t)K, sizeof *c->id2label);
    if (!c->id2label) return rt_error(RT_ERR_MEMORY, "out of memory for %d label names", K);
    c->num_labels = K;
    for (int i = 0; i < K; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "LABEL_%d", i);
        c->id2label[i] = strdup(names ? names[i] : buf);
        if (!c->id2label[i]) return rt_error(RT_ERR_MEMORY, "out of memory for label names");
    }
    return RT_OK;
}

/* id2label {"0": name, ...}: keys exactly 0..n-1 (ringtune indexes classes by them). */
static rt_status read_id2label(const char *path, json_t *obj, rt_hf_seqcls_config *c) {
    if (!json_is_object(obj))
        return rt_error(RT_ERR_FORMAT, "%s: field 'id2label' is not an object {\"0\": name, ...}",
                        path);
    int n = (int)json_object_size(obj);
    if (n < 1) return rt_error(RT_ERR_ARG, "%s: field 'id2label' is empty", path);
    const char **names = calloc((size_t)n, sizeof *names);
    if (!names) return rt_error(RT_ERR_MEMORY, "%s: out of memory", path);
    const char *key;
    json_t *v;
    rt_status s = RT_OK;
    json_object_foreach(obj, key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        if (!*key || *end || id < 0 || id >= n) {
            s = rt_error(RT_ERR_ARG,
                         "%s: field 'id2label' has key \"%s\": expected the class ids 0..%d as "
                         "decimal strings",
                         path, key, n - 1);
            break;
        }
        if (!json_is_string(v)) {
            s = rt_error(RT_ERR_FORMAT, "%s: field 'id2label' entry \"%s\" is not a string", path,
                         key);
            break;
        }
        if (names[id]) {
            s = rt_error(RT_ERR_ARG, "%s: field 'id2label' gives class %ld twice", path, id);
            break;
        }
        names[id] = json_string_value(v);
    }
    if (s == RT_OK) s = set_names(c, n, names);
    free(names);
    return s;
}

static rt_status read_problem_type(const char *path, json_t *root, int K) {
    json_t *pt = json_object_get(root, "problem_type");
    if (pt && !json_is_null(pt) && !json_is_string(pt))
        return rt_error(RT_ERR_FORMAT, "%s: field 'problem_type' is not a string or null", path);
    const char *p = pt && json_is_string(pt) ? json_string_value(pt) : NULL;
    if (p && strcmp(p, "single_label_classification") != 0)
        return rt_error(RT_ERR_ARG,
                        "%s: field 'problem_type' is \"%.60s\": ringtune's classification head "
                        "does single-label classification only (\"single_label_classification\" "
                        "or null)%s",
                        path, p,
                        strcmp(p, "regression") == 0 || strcmp(p, "multi_label_classification") == 0
                            ? ""
                            : "; transformers knows \"regression\", "
                              "\"single_label_classification\" and \"multi_label_classification\"");
    if (K < 2)
        return rt_error(RT_ERR_ARG,
                        "%s: field 'num_labels' (or 'id2label') gives %d label(s): transformers "
                        "treats one label as regression, and ringtune's head does single-label "
                        "classification, which needs at least 2 labels",
                        path, K);
    return RT_OK;
}

static rt_status read_pad(const char *path, json_t *root, rt_hf_seqcls_config *c) {
    json_t *pad = json_object_get(root, "pad_token_id");
    c->has_pad = 0;
    c->pad_token_id = -1;
    if (!pad || json_is_null(pad)) return RT_OK;
    if (!json_is_integer(pad) || json_integer_value(pad) < INT_MIN ||
        json_integer_value(pad) > INT_MAX)
        return rt_error(RT_ERR_FORMAT, "%s: field 'pad_token_id' is not an integer or null", path);
    c->has_pad = 1;
    c->pad_token_id = (int)json_integer_value(pad);
    return RT_OK;
}

/* num_labels: id2label, else num_labels, else 2; both and different: num_labels wins (warned). */
static rt_status read_labels(const char *path, json_t *root, FILE *log, rt_hf_seqcls_config *c) {
    json_t *i2l = json_object_get(root, "id2label"), *nl = json_object_get(root, "num_labels");
    if (i2l && json_is_null(i2l)) i2l = NULL;
    if (nl && json_is_null(nl)) nl = NULL;
    if (nl &&
        (!json_is_integer(nl) || json_integer_value(nl) < 0 || json_integer_value(nl) > (1 << 24)))
        return rt_error(RT_ERR_FORMAT, "%s: field 'num_labels' is not an integer in [0, 2^24]",
                        path);
    json_t *l2i = json_object_get(root, "label2id");
    if (l2i && !json_is_null(l2i) && !json_is_object(l2i))
        return rt_error(RT_ERR_FORMAT, "%s: field 'label2id' is not an object {name: id}", path);
    if (i2l) RT_CALL(read_id2label(path, i2l, c));
    int K = nl ? (int)json_integer_value(nl) : 2;
    if (i2l && (!nl || K == c->num_labels)) return RT_OK;
    if (i2l && log)
        fprintf(log,
                "warning: %s: num_labels %d is incompatible with the id2label map of length %d; "
                "num_labels wins and the labels are named LABEL_<i> (as transformers does)\n",
                path, K, c->num_labels);
    rt_hf_seqcls_config_free(c);
    return K >= 1 ? set_names(c, K, NULL) : rt_error(RT_ERR_ARG, "%s: num_labels is 0", path);
}

rt_status rt_hf_seqcls_read_config(const char *dir, const rt_hf_seqcls_options *opt, FILE *log,
                                   rt_hf_seqcls_config *c) {
    memset(c, 0, sizeof *c);
    char *path = rt_fs_join(dir, "config.json");
    if (!path) return rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    json_t *root = NULL;
    rt_status s = load_json(path, &root);
    if (s == RT_OK) s = read_labels(path, root, log, c);
    if (s == RT_OK && opt && opt->num_labels > 0 &&
        (opt->num_labels != c->num_labels || opt->labels)) {
        rt_hf_seqcls_config_free(c);
        s = set_names(c, opt->num_labels, opt->labels);
    }
    if (s == RT_OK) s = read_problem_type(path, root, c->num_labels);
    if (s == RT_OK) s = read_pad(path, root, c);
    if (s == RT_OK && opt && opt->set_pad) {
        c->has_pad = opt->pad_token_id >= 0;
        c->pad_token_id = c->has_pad ? opt->pad_token_id : -1;
    }
    if (s != RT_OK) rt_hf_seqcls_config_free(c);
    json_decref(root);
    free(path);
    return s;
}

void rt_hf_gpt2_seqcls_destroy(rt_hf_gpt2_seqcls **pm) {
    if (!pm || !*pm) return;
    rt_gpt2_destroy(&(*pm)->body);
    rt_hf_seqcls_config_free(&(*pm)->cfg);
    free(*pm);
    *pm = NULL;
}

/* Body and score weights; an LM head in the files is read into scratch and dropped (transformers:
   an unexpected key for this class). */
static rt_status load_weights(const char *dir, rt_hf_gpt2_seqcls *m, FILE *log) {
    const rt_gpt2_config *b = &m->body->cfg;
    int K = m->cfg.num_labels, C = b->n_embd;
    float *lm = rt_alloc_floats((size_t)b->vocab_size * C);
    if (!lm) return rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    char why[160];
    snprintf(why, sizeof why,
             "([num_labels %d, n_embd %d]: the checkpoint's head has another "
             "number of labels)",
             K, C);
    rt_hf_extra_tensor x[2] = {{"score.weight", 2, {K, C}, m->score, why, 0},
                               {"lm_head.weight", 2, {b->vocab_size, C}, lm, NULL, 0}};
    rt_status s = rt_hf_gpt2_load_weights_ex(dir, m->body, x, 2);
    rt_free_floats(&lm);
    if (s != RT_OK) return s;
    if (x[1].found && log)
        fprintf(log, "notice: %s: lm_head.weight is not used by " ARCH " (ignored)\n", dir);
    m->score_fresh = !x[0].found;
    return RT_OK;
}

static int add_score(void *arg, rt_tensor_table *tab) {
    const int *KC = arg;
    return rt_seqcls_table_add(tab, KC[0], KC[1]) >= 0;
}

rt_status rt_hf_gpt2_seqcls_load(const char *dir, const rt_hf_seqcls_options *opt, FILE *log,
                                 rt_hf_gpt2_seqcls **out) {
    *out = NULL;
    rt_hf_gpt2_seqcls *m = calloc(1, sizeof *m);
    if (!m) return rt_error(RT_ERR_MEMORY, "%s: out of memory", dir);
    rt_gpt2_config bc;
    rt_status s = rt_hf_seqcls_read_config(dir, opt, log, &m->cfg);
    if (s == RT_OK) s = rt_hf_gpt2_read_config(dir, &bc);
    if (s == RT_OK) {
        bc.tie_word_embeddings = 1; /* the class has no LM head: nothing to tie or load */
        int KC[2] = {m->cfg.num_labels, bc.n_embd};
        s = rt_gpt2_create_ext(&m->body, &bc, add_score, KC);
    }
    if (s == RT_OK) {
        const rt_tensor_table *tab = &m->body->params;
        m->score_index = tab->n - 1;
        m->score = m->body->params_mem + tab->t[m->score_index].offset;
    }
    if (s == RT_OK) s = load_weights(dir, m, log);
    if (s != RT_OK) {
        rt_hf_gpt2_seqcls_destroy(&m);
        return s;
    }
    rt_hf_seqcls_config *c = &m->cfg;
    if (!c->has_pad && opt && opt->pad_with_eos && bc.eos_token_id >= 0 &&
        bc.eos_token_id < bc.vocab_size) {
        c->has_pad = 1;
        c->pad_token_id = bc.eos_token_id;
        if (log)
            fprintf(log,
                    "notice: %s: pad_token_id is null; padding with eos_token_id %d (as "
                    "model.config.pad_token_id = tokenizer.eos_token_id)\n",
                    dir, bc.eos_token_id);
    } else if (log && !c->has_pad)
        fprintf(log,
                "notice: %s: pad_token_id is null, so only batches of one row can be classified "
                "(GPT-2 has no pad token; the usual setting is pad = eos, id %d)\n",
                dir, bc.eos_token_id);
    else if (log && (c->pad_token_id < 0 || c->pad_token_id >= bc.vocab_size))
        fprintf(log,
                "warning: %s: pad_token_id %d is outside the vocabulary [0, %d): no token is "
                "padding, so every row is read at its last position (as transformers does)\n",
                dir, c->pad_token_id, bc.vocab_size);
    if (m->score_fresh) {
        uint64_t seed = opt ? opt->seed : 0;
        rt_seqcls_init(m->score, m->cfg.num_labels, bc.n_embd, bc.initializer_range, seed);
        if (log)
            fprintf(log,
                    "notice: Some weights of " ARCH " were not initialized from the model "
                    "checkpoint at %s and are newly initialized: ['score.weight'] (N(0, %g), "
                    "seed %llu). You should probably TRAIN this model on a down-stream task to be "
                    "able to use it for predictions and inference.\n",
                    dir, (double)bc.initializer_range, (unsigned long long)seed);
    }
    *out = m;
    return RT_OK;
}

static json_t *config_fields(const rt_hf_seqcls_config *c) {
    json_t *r = json_object(), *arch = json_array(), *i2l = json_object(), *l2i = json_object();
    int bad = !r || !arch || !i2l || !l2i;
    bad = bad || json_array_append_new(arch, json_string(ARCH));
    for (int i = 0; i < c->num_labels && !bad; i++) {
        char key[32];
        snprintf(key, sizeof key, "%d", i);
        bad |= json_object_set_new(i2l, key, json_string(c->id2label[i]));
        bad |= json_object_set_new(l2i, c->id2label[i], json_integer(i));
    }
    bad = bad || json_object_set(r, "architectures", arch) || json_object_set(r, "id2label", i2l) ||
          json_object_set(r, "label2id", l2i);
    bad = bad || json_object_set_new(r, "num_labels", json_integer(c->num_labels));
    bad = bad || json_object_set_new(r, "pad_token_id",
                                     c->has_pad ? json_integer(c->pad_token_id) : json_null());
    bad = bad || json_object_set_new(r, "problem_type", json_string("single_label_classification"));
    json_decref(arch);
    json_decref(i2l);
    json_decref(l2i);
    if (bad) json_decref(r);
    return bad ? NULL : r;
}

rt_status rt_hf_gpt2_seqcls_save(const rt_hf_gpt2_seqcls *m, const char *dir) {
    json_t *fields = config_fields(&m->cfg);
    if (!fields) return rt_error(RT_ERR_MEMORY, "%s: out of memory building the config", dir);
    rt_hf_extra_tensor x = {"score.weight", 2,    {m->cfg.num_labels, m->body->cfg.n_embd},
                            m->score,       NULL, 0};
    rt_status s = rt_hf_gpt2_save_ex(m->body, dir, &x, 1, fields);
    json_decref(fields);
    return s;
}
