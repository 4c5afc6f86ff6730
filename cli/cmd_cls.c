/* Sequence classification from the command line: `ringtune eval` on a labeled corpus (the metric
   table, before and after fine-tuning, and its JSON) and `ringtune predict` (JSONL texts in,
   labels and probabilities out). One process; models are Hugging Face directories (a plain LM
   one gets a fresh score, as GPT2ForSequenceClassification.from_pretrained) or checkpoints. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bpe.h"
#include "ckpt.h"
#include "cli_opts.h"
#include "cls_eval.h"
#include "corpus.h"
#include "fsutil.h"
#include "head_seqcls.h"
#include "hf_gpt2.h"
#include "hf_gpt2_seqcls.h"
#include "hf_tokenizer.h"
#include "model_registry.h"
#include "text.h"

#define BATCH_DEFAULT 16

/* The model at path with a classification head for K labels named names (K 0: the model's). */
static rt_status load_model(const char *path, int K, const char *const *names, uint64_t seed,
                            rt_model **out) {
    char dir[4096];
    *out = NULL;
    if (rt_ckpt_find(path, dir, sizeof dir) == RT_OK) {
        RT_CALL(rt_model_load_ckpt(dir, out));
    } else {
        rt_error_clear();
        return rt_model_load_hf_classifier(path, K, names, seed, stderr, out);
    }
    rt_status st = rt_model_check_classifier(*out, path, K, names);
    if (st != RT_OK) rt_model_destroy(out);
    return st;
}

typedef struct {
    const char *path, *label; /* the model, its column */
    double loss;
    rt_metrics m;
    rt_confusion conf;
    int64_t n_truncated;
} cls_result;

static rt_status evaluate(const char *path, rt_corpus *c, rt_corpus_split sp, int B, uint64_t seed,
                          cls_result *r) {
    const rt_corpus_info *in = rt_corpus_get_info(c);
    rt_model *m = NULL;
    RT_CALL(load_model(path, in->num_labels, (const char *const *)in->label_names, seed, &m));
    int T = in->max_length < m->max_positions ? in->max_length : m->max_positions;
    rt_corpus_source cs = {c, sp};
    rt_example_source src = rt_example_source_corpus(&cs);
    rt_cls_tally t = {0};
    rt_status st = rt_corpus_check_model(c, m->vocab_size, NULL);
    char dir[4096];
    if (st == RT_OK && rt_ckpt_find(path, dir, sizeof dir) != RT_OK) {
        rt_error_clear(); /* a Hugging Face directory: its tokenizer files, when present */
        st = rt_hf_check_corpus_tokenizer(c, NULL, path, stderr);
    }
    if (st == RT_OK) st = rt_confusion_init(&t.conf, in->num_labels);
    if (st == RT_OK) st = rt_model_alloc_acts(m, B, T);
    if (st == RT_OK) st = rt_cls_run(m, &src, 0, src.n, B, T, &t, NULL, NULL);
    if (st == RT_OK) st = rt_metrics_init(&r->m, in->num_labels);
    if (st == RT_OK) st = rt_metrics_from_confusion(&r->m, &t.conf);
    r->loss = t.n_loss > 0 ? t.loss_sum / t.n_loss : NAN;
    r->conf = t.conf;
    r->n_truncated = t.n_truncated;
    rt_model_destroy(&m);
    return st;
}

static void result_free(cls_result *r) {
    rt_metrics_free(&r->m);
    rt_confusion_free(&r->conf);
}

static const rt_metric_id ROWS[] = {RT_METRIC_ACCURACY,        RT_METRIC_PRECISION_MACRO,
                                    RT_METRIC_RECALL_MACRO,    RT_METRIC_F1_MACRO,
                                    RT_METRIC_F1_MICRO,        RT_METRIC_PRECISION_WEIGHTED,
                                    RT_METRIC_RECALL_WEIGHTED, RT_METRIC_F1_WEIGHTED};
#define N_ROWS (sizeof ROWS / sizeof ROWS[0])

static void print_table(const cls_result *r, int n, const rt_corpus_info *in) {
    printf("%-20s", "metric");
    for (int j = 0; j < n; j++) printf(" %11.11s ", r[j].label);
    printf("\n%-20s", "loss");
    for (int j = 0; j < n; j++) printf(" %11.4f ", r[j].loss);
    printf("\n");
    for (size_t i = 0; i < N_ROWS; i++) {
        printf("%-20s", rt_metric_name(ROWS[i]));
        for (int j = 0; j < n; j++) {
            double v = 0.0;
            int u = 0;
            rt_metrics_value(&r[j].m, ROWS[i], &v, &u);
            printf(" %11.4f%s", v, u ? "*" : " ");
        }
        printf("\n");
    }
    for (int j = n > 1; j < n; j++) { /* the fine-tuned models in detail, not the base */
        const cls_result *a = &r[j];
        printf("per class (%s):\n%-20s %9s %9s %9s %9s\n", a->label, "label", "precision", "recall",
               "f1", "support");
        for (int k = 0; k < in->num_labels; k++)
            printf("%-20.20s %9.4f %9.4f %9.4f %9lld\n", in->label_names[k],
                   a->m.per_class[k].precision, a->m.per_class[k].recall, a->m.per_class[k].f1,
                   (long long)a->m.support[k]);
        printf("confusion (%s; rows true, columns predicted):\n", a->label);
        for (int t = 0; t < in->num_labels; t++) {
            printf("%-20.20s", in->label_names[t]);
            for (int p = 0; p < in->num_labels; p++)
                printf(" %6lld", (long long)a->conf.counts[(size_t)t * in->num_labels + p]);
            printf("\n");
        }
    }
    for (int j = 0; j < n; j++)
        if (r[j].m.macro.undefined || r[j].m.weighted.undefined)
            fprintf(stderr,
                    "warning: %s: some precision/recall/F1 figures are ill-defined (a class never "
                    "predicted or absent) and set to 0, marked * (sklearn's "
                    "UndefinedMetricWarning)\n",
                    r[j].path);
}

static json_t *result_json(const cls_result *r, const rt_corpus_info *in) {
    json_t *o = json_object(), *mt = json_object(), *pc = json_array(), *cf = json_array();
    json_object_set_new(o, "model", json_string(r->path));
    json_object_set_new(mt, "loss", isnan(r->loss) ? json_null() : json_real(r->loss));
    for (size_t i = 0; i < N_ROWS; i++) {
        double v = 0.0;
        rt_metrics_value(&r->m, ROWS[i], &v, NULL);
        json_object_set_new(mt, rt_metric_name(ROWS[i]), json_real(v));
    }
    for (int k = 0; k < in->num_labels; k++) {
        json_t *row = json_array();
        for (int p = 0; p < in->num_labels; p++)
            json_array_append_new(row,
                                  json_integer(r->conf.counts[(size_t)k * in->num_labels + p]));
        json_array_append_new(cf, row);
        json_array_append_new(
            pc, json_pack("{s:s, s:f, s:f, s:f, s:I}", "label", in->label_names[k], "precision",
                          r->m.per_class[k].precision, "recall", r->m.per_class[k].recall, "f1",
                          r->m.per_class[k].f1, "support", (json_int_t)r->m.support[k]));
    }
    json_object_set_new(o, "metrics", mt);
    json_object_set_new(o, "per_class", pc);
    json_object_set_new(o, "confusion", cf);
    json_object_set_new(o, "examples_truncated", json_integer(r->n_truncated));
    return o;
}

static rt_status write_json(const char *path, const cls_result *r, int n, const char *corpus,
                            rt_corpus_split sp, const rt_corpus_info *in) {
    json_t *root = json_object(), *labels = json_array();
    for (int k = 0; k < in->num_labels; k++)
        json_array_append_new(labels, json_string(in->label_names[k]));
    json_object_set_new(root, "corpus", json_string(corpus));
    json_object_set_new(root, "split", json_string(rt_corpus_split_name(sp)));
    json_object_set_new(root, "examples", json_integer((json_int_t)in->n_docs[sp]));
    json_object_set_new(root, "labels", labels);
    json_t *res = json_array();
    for (int j = 0; j < n; j++) {
        json_t *o = result_json(&r[j], in);
        json_object_set_new(o, "label", json_string(r[j].label));
        json_array_append_new(res, o);
    }
    json_object_set_new(root, "results", res);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (!text) return rt_error(RT_ERR_MEMORY, "out of memory");
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps' terminator becomes the final newline */
    rt_status st = rt_fs_write_file_atomic(path, text, len + 1);
    free(text);
    return st;
}

#define MAX_MODELS 8

/* The models of the table: --before (column "before"), then each --model (named by the --label
   of the same rank, or "after" for one model after a --before, else "value" / "model N"). */
static int table_models(int argc, char **argv, cls_result *r) {
    int n = 0, nl = 0;
    const char *labels[MAX_MODELS] = {0};
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--label") && nl < MAX_MODELS) labels[nl++] = argv[i + 1];
    const char *before = rt_cli_opt(argc, argv, "--before");
    if (before) r[n++] = (cls_result){.path = before, .label = "before"};
    int first = n;
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--model")) continue;
        if (n == MAX_MODELS) {
            fprintf(stderr, "ringtune eval: at most %d models in one table\n", MAX_MODELS);
            return -1;
        }
        r[n].path = argv[i + 1];
        r[n].label = n - first < nl ? labels[n - first] : NULL;
        n++;
    }
    static char names[MAX_MODELS][24];
    for (int j = first; j < n; j++)
        if (!r[j].label) {
            snprintf(names[j], sizeof names[j], "model %d", j - first + 1);
            r[j].label = n - first == 1 ? (before ? "after" : "value") : names[j];
        }
    return n;
}

int rt_cmd_eval_labeled(int argc, char **argv, rt_corpus *c) {
    const char *json = rt_cli_opt(argc, argv, "--json"), *split = rt_cli_opt(argc, argv, "--split");
    const char *corpus = rt_cli_opt(argc, argv, "--corpus");
    rt_corpus_split sp = split && !strcmp(split, "train") ? RT_SPLIT_TRAIN : RT_SPLIT_VALIDATION;
    long B, seed;
    cls_result r[MAX_MODELS];
    memset(r, 0, sizeof r);
    int n = table_models(argc, argv, r);
    if (n < 0 || !rt_cli_num_l(argc, argv, "--batch", BATCH_DEFAULT, 1, 1 << 16, &B) ||
        !rt_cli_num_l(argc, argv, "--seed", 0, 0, 1L << 62, &seed)) {
        rt_corpus_close(&c);
        return 2;
    }
    const rt_corpus_info *in = rt_corpus_get_info(c);
    int rc = 0;
    for (int j = 0; j < n && !rc; j++)
        if (evaluate(r[j].path, c, sp, (int)B, (uint64_t)seed, &r[j]) != RT_OK)
            rc = rt_cli_fail(r[j].path);
    if (!rc) {
        printf("classification on %s (%s: %llu examples, %d labels)\n", corpus,
               rt_corpus_split_name(sp), (unsigned long long)in->n_docs[sp], in->num_labels);
        for (int j = 0; j < n && n > 1; j++) printf("%-12s %s\n", r[j].label, r[j].path);
        print_table(r, n, in);
        if (json && write_json(json, r, n, corpus, sp, in) != RT_OK)
            rc = rt_cli_fail(json);
        else if (json)
            printf("wrote %s\n", json);
    }
    for (int j = 0; j < MAX_MODELS; j++) result_free(&r[j]);
    rt_corpus_close(&c);
    return rc;
}

/* ---- predict -------------------------------------------------------------------------------- */

typedef struct {
    int32_t **ids;
    size_t *len;
    uint64_t n, cap;
} rows;

static rt_status rows_read(void *ctx, uint64_t i, int32_t *dst, size_t cap, size_t *len,
                           int32_t *label) {
    const rows *r = ctx;
    *len = r->len[i];
    *label = RT_SEQCLS_IGNORE;
    memcpy(dst, r->ids[i], (r->len[i] < cap ? r->len[i] : cap) * sizeof *dst);
    return RT_OK;
}

static void rows_free(rows *r) {
    for (uint64_t i = 0; i < r->n; i++) free(r->ids[i]);
    free(r->ids);
    free(r->len);
}

/* Tokenizes the text field of each JSONL line of path into r, cut to max_len tokens on the given
   side (left: the last ones kept). Errors name the file and line. */
static rt_status read_inputs(const char *path, const char *field, const rt_bpe *tok, int max_len,
                             int left, int vocab, rows *r) {
    FILE *f = fopen(path, "rb");
    if (!f) return rt_error(RT_ERR_IO, "%s: cannot open", path);
    rt_bpe_scratch *s = NULL;
    rt_status st = rt_bpe_scratch_create(&s);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    long ln = 0;
    while (st == RT_OK && (got = getline(&line, &lcap, f)) >= 0) {
        ln++;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)got, 0, &je);
        json_t *t = o ? json_object_get(o, field) : NULL;
        if (!o)
            st = rt_error(RT_ERR_FORMAT, "%s:%ld: not valid JSON (%s)", path, ln, je.text);
        else if (!json_is_string(t))
            st = rt_error(RT_ERR_FORMAT, "%s:%ld: field '%s' is missing or not a string", path, ln,
                          field);
        int32_t *ids = NULL;
        size_t n = 0, cap = 0;
        rt_bpe_encode_opts eo = {1, 0, path, ln};
        if (st == RT_OK)
            st = rt_bpe_encode(tok, s, json_string_value(t), json_string_length(t), &eo, &ids, &n,
                               &cap, NULL);
        json_decref(o);
        if (st == RT_OK && n == 0)
            st = rt_error(RT_ERR_FORMAT, "%s:%ld: the text has no tokens", path, ln);
        for (size_t j = 0; st == RT_OK && j < n; j++)
            if (ids[j] >= vocab)
                st = rt_error(RT_ERR_ARG,
                              "%s:%ld: token id %d is outside the model's vocabulary "
                              "of %d (a tokenizer that does not match the model)",
                              path, ln, ids[j], vocab);
        if (st == RT_OK && n > (size_t)max_len) {
            if (left) memmove(ids, ids + (n - (size_t)max_len), (size_t)max_len * sizeof *ids);
            n = (size_t)max_len;
        }
        if (st == RT_OK && r->n == r->cap) {
            uint64_t nc = r->cap ? 2 * r->cap : 64;
            int32_t **a = realloc(r->ids, nc * sizeof *a);
            if (a) r->ids = a;
            size_t *b = a ? realloc(r->len, nc * sizeof *b) : NULL;
            if (b) r->len = b;
            if (!a || !b)
                st = rt_error(RT_ERR_MEMORY, "out of memory");
            else
                r->cap = nc;
        }
        if (st == RT_OK) {
            r->ids[r->n] = ids;
            r->len[r->n++] = n;
        } else {
            free(ids);
        }
    }
    if (st == RT_OK && ferror(f)) st = rt_error(RT_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    rt_bpe_scratch_destroy(&s);
    return st;
}

static rt_status load_tokenizer(const char *dir, rt_bpe **tok) {
    char *v = rt_fs_join(dir, "vocab.json"), *m = rt_fs_join(dir, "merges.txt");
    rt_status st = v && m ? rt_bpe_load(tok, v, m) : rt_error(RT_ERR_MEMORY, "out of memory");
    free(v);
    free(m);
    return st;
}

static int write_predictions(FILE *out, const rt_model *m, const rows *r, const int32_t *pred,
                             const float *probs) {
    int K = rt_head_seqcls_num_labels(m);
    for (uint64_t i = 0; i < r->n; i++) {
        json_t *o = json_object(), *p = json_object();
        for (int k = 0; k < K; k++)
            json_object_set_new(p, rt_head_seqcls_label(m, k), json_real(probs[i * K + k]));
        json_object_set_new(o, "label", json_string(rt_head_seqcls_label(m, pred[i])));
        json_object_set_new(o, "label_id", json_integer(pred[i]));
        json_object_set_new(o, "score", json_real(probs[i * K + pred[i]]));
        json_object_set_new(o, "probs", p);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
        json_decref(o);
        if (!s || fprintf(out, "%s\n", s) < 0) {
            free(s);
            return 0;
        }
        free(s);
    }
    return 1;
}

static void predict_usage(FILE *f) {
    fprintf(f, "usage: ringtune predict --model DIR --input IN.jsonl [--out OUT.jsonl]\n"
               "         [--text-field text] [--max-length N] [--truncation right|left]\n"
               "         [--batch B] [--tokenizer DIR] [--threads N]\n"
               "  labels each line's text with a sequence classifier (a Hugging Face\n"
               "  *ForSequenceClassification directory or a ringtune checkpoint): one JSON line\n"
               "  out per line in, {\"label\", \"label_id\", \"score\", \"probs\": {label: p}}.\n"
               "  The tokenizer is the model directory's (vocab.json, merges.txt) unless\n"
               "  --tokenizer names one; texts longer than --max-length (default: the model's\n"
               "  positions) lose tokens on the --truncation side (default right).\n");
}

int rt_cmd_predict(int argc, char **argv) {
    static const char *const allowed[] = {
        "--model",      "--input", "--out",       "--text-field", "--max-length",
        "--truncation", "--batch", "--tokenizer", "--threads",    NULL};
    if (argc == 1 && !strcmp(argv[0], "--help")) {
        predict_usage(stdout);
        return 0;
    }
    if (!rt_cli_check_opts(argc, argv, allowed)) return 2;
    const char *model = rt_cli_opt(argc, argv, "--model"),
               *input = rt_cli_opt(argc, argv, "--input");
    const char *outp = rt_cli_opt(argc, argv, "--out"),
               *field = rt_cli_opt(argc, argv, "--text-field");
    const char *trunc = rt_cli_opt(argc, argv, "--truncation"),
               *tokdir = rt_cli_opt(argc, argv, "--tokenizer");
    if (!model || !input) {
        predict_usage(stderr);
        return 2;
    }
    if (trunc && strcmp(trunc, "right") && strcmp(trunc, "left")) {
        fprintf(stderr, "ringtune predict: --truncation '%s': expected right or left\n", trunc);
        return 2;
    }
    long B, L;
    if (!rt_cli_num_l(argc, argv, "--batch", BATCH_DEFAULT, 1, 1 << 16, &B) ||
        !rt_cli_num_l(argc, argv, "--max-length", 0, 1, 1 << 20, &L))
        return 2;
    rt_cli_setup_threads(argc, argv);
    rt_model *m = NULL;
    rt_bpe *tok = NULL;
    rows r = {0};
    int32_t *pred = NULL;
    float *probs = NULL;
    FILE *out = NULL;
    int rc = 1;
    if (load_model(model, 0, NULL, 0, &m) != RT_OK) {
        rt_cli_fail(model);
        goto done;
    }
    if (L == 0 || L > m->max_positions) L = m->max_positions;
    if (load_tokenizer(tokdir ? tokdir : model, &tok) != RT_OK ||
        read_inputs(input, field ? field : "text", tok, (int)L, trunc && !strcmp(trunc, "left"),
                    m->vocab_size, &r) != RT_OK) {
        rt_cli_fail(input);
        goto done;
    }
    int K = rt_head_seqcls_num_labels(m);
    pred = malloc((r.n ? r.n : 1) * sizeof *pred);
    probs = malloc((r.n ? r.n : 1) * (size_t)K * sizeof *probs);
    rt_example_source src = {r.n, rows_read, &r};
    if (!pred || !probs || rt_model_alloc_acts(m, (int)B, (int)L) != RT_OK ||
        rt_cls_run(m, &src, 0, r.n, (int)B, (int)L, NULL, pred, probs) != RT_OK) {
        rt_cli_fail("predict");
        goto done;
    }
    out = outp ? fopen(outp, "wb") : stdout;
    if (!out || !write_predictions(out, m, &r, pred, probs) || (outp && fclose(out) != 0)) {
        fprintf(stderr, "ringtune predict: cannot write %s\n", outp ? outp : "stdout");
        out = NULL;
        goto done;
    }
    out = NULL;
    if (outp) fprintf(stderr, "predict: %llu lines -> %s\n", (unsigned long long)r.n, outp);
    rc = 0;
done:
    if (out && out != stdout) fclose(out);
    rows_free(&r);
    free(pred);
    free(probs);
    rt_bpe_destroy(&tok);
    rt_model_destroy(&m);
    return rc;
}
