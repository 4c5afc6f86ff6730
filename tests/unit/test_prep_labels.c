/* `ringtune prep --label-field` under MPI (run with 1, 2 and 3 ranks): the labeled corpus is
   byte-identical to a 1-rank run made in the same job; label ids follow --labels, the sorted
   distinct strings or the integer ids; every bad label is reported as file:line with what was
   expected, or skipped and counted; truncation keeps the stated side; the validation split holds
   round(ratio * n) of every class, the ones with the lowest split hashes; examples read back
   through the reader API decode to their text. Collectives first, assertions after. */
#include <check.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "bpe.h"
#include "corpus.h"
#include "fsutil.h"
#include "prep.h"

static int rank, nranks;
static char dir[1024];
static rt_bpe *bpe;

static const char *path_in(const char *name) {
    static char buf[8][1200];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void put_str(const char *name, const char *s) {
    if (rank == 0) {
        FILE *f = fopen(path_in(name), "wb");
        if (f) {
            fputs(s, f);
            fclose(f);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void base_opts(rt_prep_opts *o, const char *in, const char **inputs) {
    rt_prep_opts_default(o);
    o->tokenizer_dir = RT_TOKENIZER_TEST_DIR;
    o->tokenizer = bpe;
    o->format = RT_PREP_JSONL;
    o->round_bytes = 300;
    o->chunk = 32;
    o->command_line = "test_prep_labels";
    o->overwrite = 1;
    o->label_field = "label";
    o->progress = NULL;
    inputs[0] = in;
    o->inputs = inputs;
    o->n_inputs = 1;
}

static rt_status run(rt_prep_opts *o, MPI_Comm comm, rt_prep_result *r, char *msg, size_t n) {
    rt_error_clear();
    rt_status st = rt_prep_run(o, comm, r);
    snprintf(msg, n, "%s", st == RT_OK ? "" : rt_error_message());
    return st;
}

/* ---- a generated labeled input whose examples the test knows --------------------------------- */

#define N_EX 400
static const char *const classes[] = {"pos", "neg", "neutral", "Zed",
                                      "\xc3\xa7"
                                      "a"};
/* byte order: "Zed" < "neg" < "neutral" < "pos" < "ça" */
static const char *const sorted_classes[] = {"Zed", "neg", "neutral", "pos",
                                             "\xc3\xa7"
                                             "a"};
static char *ex_text[N_EX];
static int ex_class[N_EX]; /* index into classes */

static void gen_examples(void) {
    static const char *words[] = {"the",   "film", "naïve", "日本語", "🙂", "  ",    "tab\t",
                                  "don't", "3.14", "CAPS",  "a",      "x",    "great", "bad"};
    uint64_t s = 7;
    for (int i = 0; i < N_EX; i++) {
        char buf[2048];
        size_t n = 0;
        int nw = 1 + (int)(i * 11 % 40);
        for (int w = 0; w < nw; w++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", w ? " " : "",
                                  words[(s >> 33) % (sizeof words / sizeof *words)]);
        }
        snprintf(buf + n, sizeof buf - n, " ex%d", i);
        ex_text[i] = strdup(buf);
        int r = (int)((s >> 20) % 20); /* uneven: pos 8/20, neg 6/20, neutral 3/20, ... */
        ex_class[i] = r < 8 ? 0 : r < 14 ? 1 : r < 17 ? 2 : r < 19 ? 3 : 4;
    }
}

/* Two files; every 13th slot an empty example (skipped, counted) and a blank line. Returns the
   number of empty examples. */
static int gen_files(void) {
    int empties = 0;
    if (rank == 0) {
        FILE *f[2] = {fopen(path_in("lab-0.jsonl"), "wb"), fopen(path_in("lab-1.jsonl"), "wb")};
        for (int i = 0; i < N_EX; i++) {
            FILE *o = f[i * 2 / N_EX];
            if (i % 13 == 4) fputs("{\"text\": \"  \", \"label\": \"pos\"}\n\n", o);
            json_t *j = json_pack("{s:s, s:s, s:i}", "text", ex_text[i], "label",
                                  classes[ex_class[i]], "i", i);
            char *line = json_dumps(j, JSON_COMPACT);
            fprintf(o, "%s\n", line);
            free(line);
            json_decref(j);
        }
        fclose(f[0]);
        fclose(f[1]);
    }
    for (int i = 0; i < N_EX; i++) empties += i % 13 == 4;
    MPI_Barrier(MPI_COMM_WORLD);
    return empties;
}

static char *slurp(const char *path, size_t *n) {
    char *b = NULL;
    if (rt_fs_read_file(path, &b, n) != RT_OK) return NULL;
    return b;
}

/* Checks the generated corpus through the reader; returns "" or the first problem. */
static const char *check_generated(const char *path, uint64_t seed, double ratio) {
    static char why[1024];
    why[0] = 0;
    rt_corpus *c = NULL;
    if (rt_corpus_open(&c, path, MPI_COMM_NULL) != RT_OK) {
        snprintf(why, sizeof why, "open: %s", rt_error_message());
        return why;
    }
    const rt_corpus_info *in = rt_corpus_get_info(c);
    if (strcmp(in->kind, "labeled") || in->num_labels != 5 || strcmp(in->label_order, "sorted"))
        snprintf(why, sizeof why, "kind %s, %d labels, order %s", in->kind, in->num_labels,
                 in->label_order);
    for (int i = 0; i < 5 && !why[0]; i++)
        if (strcmp(in->label_names[i], sorted_classes[i]))
            snprintf(why, sizeof why, "label %d is '%s', expected '%s'", i, in->label_names[i],
                     sorted_classes[i]);
    int cls_id[5]; /* classes[] index -> id */
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            if (!strcmp(classes[i], sorted_classes[j])) cls_id[i] = j;
    uint64_t n_class[5] = {0}, n_val[5] = {0}, max_val_h[5] = {0}, min_train_h[5];
    for (int i = 0; i < 5; i++) min_train_h[i] = UINT64_MAX;
    int seen[N_EX] = {0};
    for (int i = 0; i < N_EX; i++) n_class[cls_id[ex_class[i]]]++;
    for (int k = 0; k < 2 && !why[0]; k++) {
        size_t nd = rt_corpus_n_docs(c, k);
        uint64_t *idx = malloc(8 * nd + 8);
        if (rt_corpus_read_doc_index(c, k, 0, nd, idx))
            snprintf(why, sizeof why, "read: %s", rt_error_message());
        for (size_t e = 0; e < nd && !why[0]; e++) {
            int32_t ids[2048], lab;
            size_t n = 0;
            uint64_t d = idx[e];
            if (d >= N_EX || seen[d]++ || (e && idx[e - 1] >= d)) {
                snprintf(why, sizeof why, "doc_index %llu repeated, unordered or out of range",
                         (unsigned long long)d);
                break;
            }
            if (rt_corpus_read_example(c, k, e, ids, 2048, &n, &lab) != RT_OK) {
                snprintf(why, sizeof why, "read example: %s", rt_error_message());
                break;
            }
            if (lab != cls_id[ex_class[d]])
                snprintf(why, sizeof why, "example %llu has label %d, expected %d",
                         (unsigned long long)d, lab, cls_id[ex_class[d]]);
            uint64_t h = rt_prep_split_hash(seed, d);
            if (k) {
                n_val[lab]++;
                if (h > max_val_h[lab]) max_val_h[lab] = h;
            } else if (h < min_train_h[lab]) {
                min_train_h[lab] = h;
            }
            char *text = NULL;
            size_t len = 0, cap = 0;
            if (rt_bpe_decode(bpe, ids, n, &text, &len, &cap) != RT_OK ||
                len != strlen(ex_text[d]) || memcmp(text, ex_text[d], len))
                snprintf(why, sizeof why, "example %llu decodes to '%.*s', expected '%s'",
                         (unsigned long long)d, (int)len, text ? text : "", ex_text[d]);
            free(text);
        }
        free(idx);
    }
    for (int i = 0; i < N_EX && !why[0]; i++)
        if (!seen[i]) snprintf(why, sizeof why, "example %d missing", i);
    for (int c_ = 0; c_ < 5 && !why[0]; c_++) {
        uint64_t want = (uint64_t)floor(ratio * (double)n_class[c_] + 0.5);
        if (n_val[c_] != want || in->label_counts[1][c_] != want ||
            in->label_counts[0][c_] != n_class[c_] - want)
            snprintf(why, sizeof why,
                     "class %d: %llu validation (stored %llu / %llu), expected %llu of %llu", c_,
                     (unsigned long long)n_val[c_], (unsigned long long)in->label_counts[1][c_],
                     (unsigned long long)in->label_counts[0][c_], (unsigned long long)want,
                     (unsigned long long)n_class[c_]);
        else if (n_val[c_] && n_val[c_] < n_class[c_] && max_val_h[c_] >= min_train_h[c_])
            snprintf(why, sizeof why, "class %d: a train example hashes below a validation one",
                     c_);
    }
    rt_corpus_close(&c);
    return why;
}

START_TEST(test_labeled_identical_and_round_trip) {
    int empties = gen_files();
    char pattern[1200], msg[4096], out_p[1200], out_1[1300];
    snprintf(pattern, sizeof pattern, "%s/lab-*.jsonl", dir);
    const char *in[1];
    rt_prep_opts o;
    base_opts(&o, pattern, in);
    o.val_ratio = 0.3;
    o.split_seed = 99;
    snprintf(out_p, sizeof out_p, "%s", path_in("lab.h5"));
    snprintf(out_1, sizeof out_1, "%s.np1", out_p);
    o.out = out_p;
    rt_prep_result r, r1;
    rt_status st = run(&o, MPI_COMM_WORLD, &r, msg, sizeof msg);
    ck_assert_msg(st == RT_OK, "prep on %d ranks: %s", nranks, msg);
    ck_assert_int_eq((int)r.n_documents, N_EX);
    ck_assert_int_eq((int)r.n_skipped_empty, empties);
    ck_assert_int_eq(r.num_labels, 5);
    ck_assert_int_eq(r.max_length, 1024); /* the demo tokenizer has no tokenizer_config.json */
    ck_assert_int_eq((int)r.n_truncated, 0);
    if (rank != 0) return;
    o.out = out_1;
    o.round_bytes = (size_t)1 << 20;
    st = run(&o, MPI_COMM_SELF, &r1, msg, sizeof msg);
    ck_assert_msg(st == RT_OK, "prep on 1 rank: %s", msg);
    size_t na = 0, nb = 0;
    char *fa = slurp(out_p, &na), *fb = slurp(out_1, &nb);
    ck_assert_msg(fa && fb && na == nb && !memcmp(fa, fb, na),
                  "%d ranks vs 1 rank: files differ (%zu vs %zu bytes)", nranks, na, nb);
    free(fa);
    free(fb);
    const char *why = check_generated(out_p, 99, 0.3);
    ck_assert_msg(!why[0], "%s", why);
}
END_TEST

/* ---- label orders --------------------------------------------------------------------------- */

/* Runs prep over body with the given options; rank 0 returns the ids of the examples in input
   order (val_ratio 0: all in train) in ids[], the names joined by ',' in names. */
static rt_status run_small(const char *body, const char *labels, int num_labels, char *msg,
                           int32_t *ids, int *n_ids, char *names, size_t names_n,
                           rt_prep_result *r) {
    put_str("small.jsonl", body);
    const char *in[1], *lv[8];
    rt_prep_opts o;
    base_opts(&o, path_in("small.jsonl"), in);
    o.val_ratio = 0;
    o.out = path_in("small.h5");
    o.num_labels = num_labels;
    char copy[256] = "";
    if (labels) {
        snprintf(copy, sizeof copy, "%s", labels);
        int k = 0;
        for (char *q = strtok(copy, ","); q; q = strtok(NULL, ",")) lv[k++] = q;
        o.label_names = lv;
        o.n_label_names = k;
    }
    rt_status st = run(&o, MPI_COMM_WORLD, r, msg, 4096);
    *n_ids = 0;
    names[0] = 0;
    if (st != RT_OK || rank != 0) return st;
    rt_corpus *c = NULL;
    if (rt_corpus_open(&c, o.out, MPI_COMM_NULL) != RT_OK) return RT_ERR_FORMAT;
    const rt_corpus_info *ci = rt_corpus_get_info(c);
    *n_ids = (int)ci->n_docs[0];
    rt_corpus_read_labels(c, RT_SPLIT_TRAIN, 0, (size_t)*n_ids, ids);
    size_t at = 0;
    for (int i = 0; i < ci->num_labels; i++)
        at += (size_t)snprintf(names + at, names_n - at, "%s%s", i ? "," : "", ci->label_names[i]);
    snprintf(names + at, names_n - at, "|%s", ci->label_order);
    rt_corpus_close(&c);
    return RT_OK;
}

START_TEST(test_label_orders) {
    const char *strs = "{\"text\": \"a\", \"label\": \"pos\"}\n{\"text\": \"b\", \"label\": "
                       "\"neg\"}\n{\"text\": \"c\", \"label\": \"Neutral\"}\n{\"text\": \"d\", "
                       "\"label\": \"pos\"}\n";
    const char *ints = "{\"text\": \"a\", \"label\": 2}\n{\"text\": \"b\", \"label\": 0}\n"
                       "{\"text\": \"c\", \"label\": 2}\n";
    char msg[5][4096], names[5][256];
    int32_t ids[5][8];
    int n[5];
    rt_prep_result r;
    rt_status st[5];
    st[0] = run_small(strs, NULL, 0, msg[0], ids[0], &n[0], names[0], 256, &r);
    st[1] = run_small(strs, "pos,neg,Neutral,other", 0, msg[1], ids[1], &n[1], names[1], 256, &r);
    st[2] = run_small(ints, NULL, 3, msg[2], ids[2], &n[2], names[2], 256, &r);
    st[3] = run_small(ints, "x,y,z", 0, msg[3], ids[3], &n[3], names[3], 256, &r);
    st[4] = run_small(ints, NULL, 0, msg[4], ids[4], &n[4], names[4], 256, &r);
    for (int i = 0; i < 4; i++) ck_assert_msg(st[i] == RT_OK, "case %d: %s", i, msg[i]);
    ck_assert_int_eq(st[4], RT_ERR_ARG);
    ck_assert_msg(strstr(msg[4], "small.jsonl:1: label 2 is an integer class id: pass "
                                 "--num-labels K"),
                  "%s", msg[4]);
    if (rank != 0) return;
    /* sorted by bytes: "Neutral" < "neg" < "pos" (uppercase first, as LabelEncoder) */
    ck_assert_str_eq(names[0], "Neutral,neg,pos|sorted");
    int32_t want0[] = {2, 1, 0, 2}, want1[] = {0, 1, 2, 0}, want2[] = {2, 0, 2};
    ck_assert_int_eq(n[0], 4);
    ck_assert_int_eq(n[1], 4);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(ids[0][i], want0[i]);
    ck_assert_str_eq(names[1], "pos,neg,Neutral,other|given"); /* an unused class is kept */
    for (int i = 0; i < 4; i++) ck_assert_int_eq(ids[1][i], want1[i]);
    ck_assert_str_eq(names[2], "0,1,2|ids");
    ck_assert_str_eq(names[3], "x,y,z|given");
    for (int c = 2; c < 4; c++) {
        ck_assert_int_eq(n[c], 3);
        for (int i = 0; i < 3; i++) ck_assert_int_eq(ids[c][i], want2[i]);
    }
}
END_TEST

/* ---- bad labels ----------------------------------------------------------------------------- */

typedef struct {
    const char *line2; /* between two good lines */
    const char *labels;
    int num_labels;
    const char *want; /* after "bl.jsonl:2: " */
    int skippable;
} bad_case;

static const bad_case bad_cases[] = {
    {"{\"text\": \"b\"}", "a,b", 0, "no label field \"label\" in the JSON object", 1},
    {"{\"text\": \"b\", \"label\": \"zzz\"}", "a,b", 0, "label \"zzz\" is not one of --labels a,b",
     1},
    {"{\"text\": \"b\", \"label\": true}", NULL, 0,
     "label field \"label\" is a boolean, expected a string or an integer", 1},
    {"{\"text\": \"b\", \"label\": [1]}", NULL, 0, "label field \"label\" is an array", 1},
    {"{\"text\": \"b\", \"label\": \"a\\u0000b\"}", NULL, 0,
     "label field \"label\" holds a NUL byte", 1},
    {"{\"text\": \"b\", \"label\": 3}", "a,b,c", 0,
     "label 3 is outside [0, 3) (3 names in --labels)", 1},
    {"{\"text\": \"b\", \"label\": -1}", NULL, 3, "label -1 is outside [0, 3) (--num-labels 3)", 1},
    {"{\"text\": \"b\", \"label\": 1.5}", NULL, 3, "label 1.5 is not an integer class id", 1},
    {"{\"text\": \"b\", \"label\": 2.0}", NULL, 3,
     "label 2 is not an integer class id (write it without a fraction", 1},
    {"{\"text\": \"b\", \"label\": \"a\"}", NULL, 3,
     "label \"a\" is a string, but --num-labels 3 takes integer class ids", 1},
    {"{\"text\": \"b\", \"label\": 1}", "a,b", 0,
     "the label is an integer, but the labels before it are strings (the first at ", 0},
};

START_TEST(test_bad_labels) {
    int n = (int)(sizeof bad_cases / sizeof *bad_cases);
    for (int i = 0; i < n; i++) {
        const bad_case *b = &bad_cases[i];
        int ints = b->num_labels > 0 || strstr(b->want, "(3 names") != NULL;
        char body[512];
        snprintf(body, sizeof body,
                 "{\"text\": \"a\", \"label\": %s}\n%s\n{\"text\": \"c\", "
                 "\"label\": %s}\n",
                 ints ? "0" : "\"a\"", b->line2, ints ? "1" : "\"b\"");
        put_str("bl.jsonl", body);
        const char *in[1], *lv[4];
        char copy[64] = "";
        rt_prep_opts o;
        base_opts(&o, path_in("bl.jsonl"), in);
        o.out = path_in("bl.h5");
        o.num_labels = b->num_labels;
        o.round_bytes = 20; /* the lines land on different ranks */
        if (b->labels) {
            snprintf(copy, sizeof copy, "%s", b->labels);
            int k = 0;
            for (char *q = strtok(copy, ","); q; q = strtok(NULL, ",")) lv[k++] = q;
            o.label_names = lv;
            o.n_label_names = k;
        }
        char msg[4096], msg2[4096], want[512];
        rt_prep_result r;
        rt_status st = run(&o, MPI_COMM_WORLD, NULL, msg, sizeof msg);
        int left = rt_fs_exists(o.out);
        MPI_Barrier(MPI_COMM_WORLD);
        o.skip_bad_labels = 1;
        rt_status st2 = run(&o, MPI_COMM_WORLD, &r, msg2, sizeof msg2);
        if (rank == 0) unlink(o.out);
        MPI_Barrier(MPI_COMM_WORLD);
        snprintf(want, sizeof want, "bl.jsonl:2: %s", b->want);
        ck_assert_msg(st == RT_ERR_FORMAT, "case %d: status %d: %s", i, st, msg);
        ck_assert_msg(strstr(msg, want), "case %d: wanted '%s' in: %s", i, want, msg);
        ck_assert_msg(!left, "case %d: a failed prep left its output", i);
        if (b->skippable) {
            ck_assert_msg(strstr(msg, "(--skip-bad-labels skips such examples)"), "%s", msg);
            ck_assert_msg(st2 == RT_OK, "case %d with --skip-bad-labels: %s", i, msg2);
            ck_assert_int_eq((int)r.n_skipped_bad_label, 1);
            ck_assert_int_eq((int)r.n_documents, 2);
        } else {
            ck_assert_msg(st2 == RT_ERR_FORMAT && strstr(msg2, want), "case %d: %s", i, msg2);
        }
    }
}
END_TEST

/* The attribute n_skipped_bad_label, and a corpus of only skipped examples. */
START_TEST(test_skip_counts_stored) {
    put_str("sk.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n"
                        "{\"text\": \"c\", \"label\": 7}\n{\"text\": \"\", \"label\": \"x\"}\n"
                        "{\"text\": \"d\", \"label\": \"y\"}\n");
    const char *in[1], *lv[] = {"x", "y"};
    rt_prep_opts o;
    base_opts(&o, path_in("sk.jsonl"), in);
    o.out = path_in("sk.h5");
    o.label_names = lv;
    o.n_label_names = 2;
    o.skip_bad_labels = 1;
    o.round_bytes = 30;
    char msg[4096];
    rt_prep_result r;
    rt_status st = run(&o, MPI_COMM_WORLD, &r, msg, sizeof msg);
    ck_assert_msg(st == RT_OK, "%s", msg);
    ck_assert_int_eq((int)r.n_skipped_bad_label, 2); /* the missing label, 7 of 2 classes */
    ck_assert_int_eq((int)r.n_skipped_empty, 1);
    ck_assert_int_eq((int)r.n_documents, 2);
    if (rank != 0) return;
    rt_corpus *c = NULL;
    ck_assert(rt_corpus_open(&c, o.out, MPI_COMM_NULL) == RT_OK);
    const rt_corpus_info *ci = rt_corpus_get_info(c);
    ck_assert_int_eq((int)ci->n_skipped_bad_label, 2);
    ck_assert_int_eq((int)ci->n_skipped_empty, 1);
    ck_assert_int_eq(ci->num_labels, 2);
    ck_assert_int_eq((int)(ci->label_counts[0][0] + ci->label_counts[1][0]), 1);
    ck_assert_int_eq((int)(ci->label_counts[0][1] + ci->label_counts[1][1]), 1);
    rt_corpus_close(&c);
}
END_TEST

/* ---- truncation ----------------------------------------------------------------------------- */

static const char *const trunc_texts[] = {
    "The quick brown fox jumps over the lazy dog, again and again.", "Short one.",
    "日本語のテキストも切り詰められる", "Exactly five tokens here?"};

START_TEST(test_truncation_sides) {
    char body[1024] = "";
    for (int i = 0; i < 4; i++) {
        json_t *j = json_pack("{s:s, s:i}", "text", trunc_texts[i], "label", i % 2);
        char *line = json_dumps(j, JSON_COMPACT);
        strcat(body, line);
        strcat(body, "\n");
        free(line);
        json_decref(j);
    }
    put_str("tr.jsonl", body);
    rt_prep_result r[2];
    char msg[2][4096];
    rt_status st[2];
    for (int side = 0; side < 2; side++) {
        const char *in[1];
        rt_prep_opts o;
        base_opts(&o, path_in("tr.jsonl"), in);
        o.out = path_in(side ? "tr-left.h5" : "tr-right.h5");
        o.num_labels = 2;
        o.val_ratio = 0;
        o.max_length = 5;
        o.truncate_left = side;
        o.round_bytes = 40;
        st[side] = run(&o, MPI_COMM_WORLD, &r[side], msg[side], sizeof msg[side]);
    }
    for (int side = 0; side < 2; side++) {
        ck_assert_msg(st[side] == RT_OK, "%s", msg[side]);
        ck_assert_int_eq(r[side].max_length, 5);
    }
    if (rank != 0) return;
    rt_bpe_scratch *scr = NULL;
    ck_assert(rt_bpe_scratch_create(&scr) == RT_OK);
    int n_long = 0;
    for (int side = 0; side < 2; side++) {
        rt_corpus *c = NULL;
        ck_assert(rt_corpus_open(&c, path_in(side ? "tr-left.h5" : "tr-right.h5"), MPI_COMM_NULL) ==
                  RT_OK);
        ck_assert_str_eq(rt_corpus_get_info(c)->truncation, side ? "left" : "right");
        ck_assert_int_eq(rt_corpus_get_info(c)->max_length, 5);
        n_long = 0;
        for (int i = 0; i < 4; i++) {
            int32_t *full = NULL, got[8], lab;
            size_t nf = 0, capf = 0, ng = 0;
            rt_bpe_encode_opts eo = {0, 0, "t", 1};
            ck_assert(rt_bpe_encode(bpe, scr, trunc_texts[i], strlen(trunc_texts[i]), &eo, &full,
                                    &nf, &capf, NULL) == RT_OK);
            ck_assert(rt_corpus_read_example(c, RT_SPLIT_TRAIN, (uint64_t)i, got, 8, &ng, &lab) ==
                      RT_OK);
            size_t want_n = nf < 5 ? nf : 5, from = side && nf > 5 ? nf - 5 : 0;
            n_long += nf > 5;
            ck_assert_int_eq(ng, want_n);
            ck_assert_int_eq(lab, i % 2);
            for (size_t t = 0; t < want_n; t++) ck_assert_int_eq(got[t], full[from + t]);
            free(full);
        }
        ck_assert_int_eq((int)rt_corpus_get_info(c)->n_truncated, n_long);
        ck_assert_int_eq((int)r[side].n_truncated, n_long);
        rt_corpus_close(&c);
    }
    ck_assert_int_ge(n_long, 2);
    rt_bpe_scratch_destroy(&scr);
}
END_TEST

/* val_ratio 0 and 1, and option errors. */
START_TEST(test_ratio_edges_and_options) {
    gen_files();
    char pattern[1200], msg[4][4096];
    snprintf(pattern, sizeof pattern, "%s/lab-*.jsonl", dir);
    rt_prep_result r[2];
    rt_status st[4];
    for (int k = 0; k < 2; k++) {
        const char *in[1];
        rt_prep_opts o;
        base_opts(&o, pattern, in);
        o.out = path_in("edge.h5");
        o.val_ratio = k;
        o.round_bytes = 4000;
        st[k] = run(&o, MPI_COMM_WORLD, &r[k], msg[k], sizeof msg[k]);
    }
    const char *in[1], *dup[] = {"a", "a"};
    rt_prep_opts o;
    base_opts(&o, pattern, in);
    o.out = path_in("opt.h5");
    o.label_names = dup;
    o.n_label_names = 2;
    st[2] = run(&o, MPI_COMM_WORLD, NULL, msg[2], sizeof msg[2]);
    base_opts(&o, pattern, in);
    o.out = path_in("opt.h5");
    o.format = RT_PREP_TEXT;
    st[3] = run(&o, MPI_COMM_WORLD, NULL, msg[3], sizeof msg[3]);
    ck_assert_msg(st[0] == RT_OK && st[1] == RT_OK, "%s %s", msg[0], msg[1]);
    ck_assert_int_eq(r[0].n_docs[1], 0);
    ck_assert_int_eq(r[0].n_docs[0], N_EX);
    ck_assert_int_eq(r[1].n_docs[0], 0);
    ck_assert_int_eq(r[1].n_docs[1], N_EX);
    ck_assert_int_eq(st[2], RT_ERR_ARG);
    ck_assert_msg(strstr(msg[2], "--labels names 'a' twice"), "%s", msg[2]);
    ck_assert_int_eq(st[3], RT_ERR_ARG);
    ck_assert_msg(strstr(msg[3], "a label field applies to jsonl input"), "%s", msg[3]);
}
END_TEST

/* ---- the oracle: sklearn's LabelEncoder and transformers' tokenizer with truncation --------- */

/* Compares the corpus at path with tests/fixtures/labeled/expected.json for one side; returns ""
   or the first difference; *n_ids gets the ids compared. */
static const char *check_oracle(const char *path, const json_t *e, const char *side, int *n_ids) {
    static char why[1024];
    why[0] = 0;
    *n_ids = 0;
    rt_corpus *c = NULL;
    if (rt_corpus_open(&c, path, MPI_COMM_NULL) != RT_OK) {
        snprintf(why, sizeof why, "open: %s", rt_error_message());
        return why;
    }
    const rt_corpus_info *in = rt_corpus_get_info(c);
    const json_t *cls = json_object_get(e, "label_classes"), *lab = json_object_get(e, "label_ids");
    char key[32];
    snprintf(key, sizeof key, "ids_%s", side);
    const json_t *ids = json_object_get(e, key), *val = json_object_get(e, "validation");
    if ((size_t)in->num_labels != json_array_size(cls) || strcmp(in->label_order, "sorted") ||
        in->n_truncated != (uint64_t)json_integer_value(json_object_get(e, "n_truncated")) ||
        in->n_documents != json_array_size(lab))
        snprintf(why, sizeof why, "%d labels (%s), %llu truncated, %llu examples", in->num_labels,
                 in->label_order, (unsigned long long)in->n_truncated,
                 (unsigned long long)in->n_documents);
    for (int i = 0; i < in->num_labels && !why[0]; i++)
        if (strcmp(in->label_names[i], json_string_value(json_array_get(cls, (size_t)i))))
            snprintf(why, sizeof why, "label %d is '%s', LabelEncoder has '%s'", i,
                     in->label_names[i], json_string_value(json_array_get(cls, (size_t)i)));
    for (int k = 0; k < 2 && !why[0]; k++) {
        for (uint64_t x = 0; x < rt_corpus_n_docs(c, k) && !why[0]; x++) {
            uint64_t d;
            int32_t got[64], l;
            size_t n;
            if (rt_corpus_read_doc_index(c, k, x, 1, &d) ||
                rt_corpus_read_example(c, k, x, got, 64, &n, &l)) {
                snprintf(why, sizeof why, "read: %s", rt_error_message());
                break;
            }
            int in_val = 0;
            for (size_t v = 0; v < json_array_size(val); v++)
                in_val |= (uint64_t)json_integer_value(json_array_get(val, v)) == d;
            const json_t *w = json_array_get(ids, (size_t)d);
            if (in_val != k)
                snprintf(why, sizeof why, "example %llu in split %d", (unsigned long long)d, k);
            else if (l != json_integer_value(json_array_get(lab, (size_t)d)))
                snprintf(why, sizeof why, "example %llu: label %d, LabelEncoder %lld",
                         (unsigned long long)d, l,
                         (long long)json_integer_value(json_array_get(lab, (size_t)d)));
            else if (n != json_array_size(w))
                snprintf(why, sizeof why, "example %llu: %zu ids, transformers %zu",
                         (unsigned long long)d, n, json_array_size(w));
            for (size_t t = 0; t < n && !why[0]; t++, (*n_ids)++)
                if (got[t] != json_integer_value(json_array_get(w, t)))
                    snprintf(why, sizeof why, "example %llu id %zu: %d, transformers %lld",
                             (unsigned long long)d, t, got[t],
                             (long long)json_integer_value(json_array_get(w, t)));
        }
    }
    rt_corpus_close(&c);
    return why;
}

START_TEST(test_oracle_fixture) {
    json_error_t je;
    json_t *e = json_load_file(RT_FIXTURES "/labeled/expected.json", 0, &je);
    ck_assert_msg(e, "expected.json: %s", je.text);
    rt_status st[2];
    char msg[2][4096];
    for (int side = 0; side < 2; side++) {
        const char *in[1];
        rt_prep_opts o;
        base_opts(&o, RT_FIXTURES "/labeled/input.jsonl", in);
        o.out = path_in(side ? "oracle-left.h5" : "oracle-right.h5");
        o.max_length = (int)json_integer_value(json_object_get(e, "max_length"));
        o.split_seed = (uint64_t)json_integer_value(json_object_get(e, "split_seed"));
        o.val_ratio = json_real_value(json_object_get(e, "val_ratio"));
        o.truncate_left = side;
        o.round_bytes = 200;
        st[side] = run(&o, MPI_COMM_WORLD, NULL, msg[side], sizeof msg[side]);
    }
    for (int side = 0; side < 2; side++) ck_assert_msg(st[side] == RT_OK, "%s", msg[side]);
    if (rank == 0)
        for (int side = 0; side < 2; side++) {
            int n_ids = 0;
            const char *why = check_oracle(path_in(side ? "oracle-left.h5" : "oracle-right.h5"), e,
                                           side ? "left" : "right", &n_ids);
            printf(
                "oracle (%s truncation): %d ids, labels and splits compared with transformers "
                "%s / sklearn %s: %s\n",
                side ? "left" : "right", n_ids,
                json_string_value(json_object_get(json_object_get(e, "versions"), "transformers")),
                json_string_value(json_object_get(json_object_get(e, "versions"), "sklearn")),
                why[0] ? why : "0 differences");
            ck_assert_msg(!why[0], "%s truncation: %s", side ? "left" : "right", why);
            ck_assert_int_gt(n_ids, 200);
        }
    json_decref(e);
}
END_TEST

/* --max-length unset: tokenizer_config.json's model_max_length when sane, else 1024. */
START_TEST(test_default_max_length) {
    char tdir[1200];
    snprintf(tdir, sizeof tdir, "%s", path_in("tok"));
    if (rank == 0) {
        rt_fs_mkdir_p(tdir);
        char a[1300], b[1300];
        snprintf(a, sizeof a, "%s/vocab.json", tdir);
        snprintf(b, sizeof b, "%s/merges.txt", tdir);
        unlink(a), unlink(b);
        if (symlink(RT_TOKENIZER_TEST_DIR "/vocab.json", a) ||
            symlink(RT_TOKENIZER_TEST_DIR "/merges.txt", b))
            perror("symlink");
    }
    put_str("ml.jsonl",
            "{\"text\": \"one two three four five six seven eight\", \"label\": \"a\"}\n");
    static const char *const configs[] = {"{\"model_max_length\": 6}",
                                          "{\"model_max_length\": 1000000000000000019884624838656}",
                                          "{\"model_max_length\": 1e30}", "not json"};
    int want[] = {6, 1024, 1024, 1024}, got[4];
    rt_status st[4];
    char msg[4][4096];
    for (int i = 0; i < 4; i++) {
        char cfg[1300];
        snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", tdir);
        if (rank == 0) {
            FILE *f = fopen(cfg, "wb");
            if (f) fputs(configs[i], f), fclose(f);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        const char *in[1];
        rt_prep_opts o;
        base_opts(&o, path_in("ml.jsonl"), in);
        o.tokenizer_dir = tdir;
        o.tokenizer = NULL; /* loaded from tdir, as the CLI does */
        o.out = path_in("ml.h5");
        rt_prep_result r;
        st[i] = run(&o, MPI_COMM_WORLD, &r, msg[i], sizeof msg[i]);
        got[i] = r.max_length;
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(st[i] == RT_OK, "config %d: %s", i, msg[i]);
        ck_assert_msg(got[i] == want[i], "config '%s': max_length %d, expected %d", configs[i],
                      got[i], want[i]);
    }
}
END_TEST

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    snprintf(dir, sizeof dir, "%s/prep_labels_tests/np%d", RT_BUILD_DIR, nranks);
    if (rank == 0) rt_fs_mkdir_p(dir);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rt_bpe_load(&bpe, RT_TOKENIZER_TEST_DIR "/vocab.json",
                    RT_TOKENIZER_TEST_DIR "/merges.txt") != RT_OK) {
        fprintf(stderr, "test_prep_labels: %s\n", rt_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    gen_examples();
    Suite *s = suite_create("prep_labels");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_labeled_identical_and_round_trip);
    tcase_add_test(tc, test_label_orders);
    tcase_add_test(tc, test_bad_labels);
    tcase_add_test(tc, test_skip_counts_stored);
    tcase_add_test(tc, test_truncation_sides);
    tcase_add_test(tc, test_ratio_edges_and_options);
    tcase_add_test(tc, test_oracle_fixture);
    tcase_add_test(tc, test_default_max_length);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    int nf = srunner_ntests_failed(sr), total = 0;
    if (rank != 0 && nf > 0) {
        TestResult **tr = srunner_failures(sr);
        for (int i = 0; i < nf; i++)
            fprintf(stderr, "[rank %d] %s:%d: %s: %s\n", rank, tr_lfile(tr[i]), tr_lno(tr[i]),
                    tr_tcname(tr[i]), tr_msg(tr[i]));
        free(tr);
    }
    srunner_free(sr);
    MPI_Allreduce(&nf, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0 && total)
        fprintf(stderr, "test_prep_labels: %d failures summed over ranks\n", total);
    for (int i = 0; i < N_EX; i++) free(ex_text[i]);
    rt_bpe_destroy(&bpe);
    MPI_Finalize();
    return total == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
