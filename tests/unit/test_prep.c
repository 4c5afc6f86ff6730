/* `ringtune prep` under MPI (run with 1, 2 and 3 ranks): the corpus is identical to a 1-rank run
   made in the same job (MPI_COMM_SELF on rank 0), documents round-trip through the tokenizer,
   bad input is reported the same way on every rank and never leaves a file behind.
   Collectives first, assertions after: a failed assertion must not skip a collective.
   `test_prep --cli ARGS...` runs rt_cmd_prep(ARGS) instead (the CLI tests use it as a driver
   until `prep` is wired into the ringtune executable). */
#include <check.h>
#include <dirent.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <hdf5.h>
#include <jansson.h>
#include "bpe.h"
#include "corpus.h"
#include "fsutil.h"
#include "prep.h"

int rt_cmd_prep(int argc, char **argv);

static int rank, nranks;
static char dir[1024]; /* this rank count's scratch directory */
static rt_bpe *bpe;

static const char *path_in(const char *name) {
    static char buf[8][1200];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* Rank 0 writes the file, everyone waits. */
static void put_file(const char *name, const char *bytes, size_t n) {
    if (rank == 0) {
        FILE *f = fopen(path_in(name), "wb");
        if (f) {
            fwrite(bytes, 1, n, f);
            fclose(f);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void put_str(const char *name, const char *s) {
    put_file(name, s, strlen(s));
}

static void base_opts(rt_prep_opts *o, rt_prep_format fmt) {
    rt_prep_opts_default(o);
    o->tokenizer_dir = RT_TOKENIZER_TEST_DIR;
    o->tokenizer = bpe; /* loaded once: loading costs ~1 s per run under ASan */
    o->format = fmt;
    o->round_bytes = 300; /* many rounds even on the small fixtures */
    o->chunk = 32;        /* many chunks, partial last chunks */
    o->command_line = "test_prep";
    o->overwrite = 1;
}

/* Runs prep on comm; returns the status with the message copied to msg. */
static rt_status run(rt_prep_opts *o, MPI_Comm comm, rt_prep_result *r, char *msg, size_t n) {
    rt_error_clear();
    rt_status st = rt_prep_run(o, comm, r);
    snprintf(msg, n, "%s", st == RT_OK ? "" : rt_error_message());
    return st;
}

/* Count of "<out>.tmp.*" files in dir. */
static int temp_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *n) {
    char *b = NULL;
    if (rt_fs_read_file(path, &b, n) != RT_OK) return NULL;
    return b;
}

/* Compares two corpora: every attribute but command_line and every dataset value; returns "" or
   what differs. Then compares the raw files when their command lines are equal. */
static const char *compare(const char *a, const char *b) {
    static char why[512];
    rt_corpus *x = NULL, *y = NULL;
    if (rt_corpus_open(&x, a, MPI_COMM_NULL) != RT_OK ||
        rt_corpus_open(&y, b, MPI_COMM_NULL) != RT_OK) {
        snprintf(why, sizeof why, "open: %s", rt_error_message());
        rt_corpus_close(&x);
        return why;
    }
    const rt_corpus_info *p = rt_corpus_get_info(x), *q = rt_corpus_get_info(y);
    why[0] = 0;
    if (p->vocab_size != q->vocab_size || p->eos_id != q->eos_id ||
        p->token_bytes != q->token_bytes || strcmp(p->tokenizer_sha256, q->tokenizer_sha256) ||
        strcmp(p->kind, q->kind) || p->split_seed != q->split_seed ||
        p->validation_ratio != q->validation_ratio || p->n_documents != q->n_documents ||
        p->n_skipped_empty != q->n_skipped_empty || p->n_replaced_utf8 != q->n_replaced_utf8 ||
        p->n_skipped_bad_json != q->n_skipped_bad_json || strcmp(p->sources, q->sources) ||
        strcmp(p->ringtune_version, q->ringtune_version))
        snprintf(why, sizeof why, "attributes differ");
    for (int k = 0; k < 2 && !why[0]; k++) {
        if (p->n_tokens[k] != q->n_tokens[k] || p->n_docs[k] != q->n_docs[k]) {
            snprintf(why, sizeof why, "split %d sizes differ: %llu/%llu tokens", k,
                     (unsigned long long)p->n_tokens[k], (unsigned long long)q->n_tokens[k]);
            break;
        }
        size_t nt = p->n_tokens[k], nd = p->n_docs[k];
        int32_t *ta = malloc(4 * nt + 4), *tb = malloc(4 * nt + 4);
        uint64_t *oa = malloc(8 * nd + 8), *ob = malloc(8 * nd + 8);
        uint64_t *ia = malloc(8 * nd + 8), *ib = malloc(8 * nd + 8);
        if (rt_corpus_read_tokens(x, k, 0, nt, ta) || rt_corpus_read_tokens(y, k, 0, nt, tb) ||
            rt_corpus_read_doc_offsets(x, k, 0, nd + 1, oa) ||
            rt_corpus_read_doc_offsets(y, k, 0, nd + 1, ob) ||
            rt_corpus_read_doc_index(x, k, 0, nd, ia) || rt_corpus_read_doc_index(y, k, 0, nd, ib))
            snprintf(why, sizeof why, "read: %s", rt_error_message());
        else if (memcmp(ta, tb, 4 * nt) || memcmp(oa, ob, 8 * (nd + 1)) || memcmp(ia, ib, 8 * nd))
            snprintf(why, sizeof why, "split %d contents differ", k);
        free(ta), free(tb), free(oa), free(ob), free(ia), free(ib);
    }
    int same_cmd = !strcmp(p->command_line, q->command_line);
    rt_corpus_close(&x);
    rt_corpus_close(&y);
    if (!why[0] && same_cmd) {
        size_t na = 0, nb = 0;
        char *fa = slurp(a, &na), *fb = slurp(b, &nb);
        if (!fa || !fb || na != nb || memcmp(fa, fb, na))
            snprintf(why, sizeof why, "files differ (%zu vs %zu bytes)", na, nb);
        free(fa);
        free(fb);
    }
    return why;
}

/* prep on all ranks with small rounds, then on rank 0 alone with one big round: same corpus. */
static void check_identical(rt_prep_opts *o, const char *name, int expect_docs) {
    char msg[4096], out_p[1200], out_1[1300];
    snprintf(out_p, sizeof out_p, "%s", path_in(name));
    snprintf(out_1, sizeof out_1, "%s.np1", out_p);
    o->out = out_p;
    rt_prep_result r, r1;
    rt_status st = run(o, MPI_COMM_WORLD, &r, msg, sizeof msg);
    ck_assert_msg(st == RT_OK, "prep on %d ranks: %s", nranks, msg);
    ck_assert_int_eq(r.n_ranks, nranks);
    ck_assert_int_eq((int)r.n_documents, expect_docs);
    if (rank != 0) return;
    o->out = out_1;
    o->round_bytes = (size_t)1 << 20;
    st = run(o, MPI_COMM_SELF, &r1, msg, sizeof msg);
    ck_assert_msg(st == RT_OK, "prep on 1 rank: %s", msg);
    const char *why = compare(out_p, out_1);
    ck_assert_msg(!why[0], "%d ranks vs 1 rank: %s", nranks, why);
    ck_assert_int_eq(r.n_tokens[0], r1.n_tokens[0]);
    ck_assert_int_eq(r.n_tokens[1], r1.n_tokens[1]);
}

START_TEST(test_identical_text_delimiter) {
    rt_prep_opts o;
    base_opts(&o, RT_PREP_TEXT);
    o.delimiter = "=====";
    o.val_ratio = 0.3;
    const char *in[] = {RT_PREP_INPUTS "/text"};
    o.inputs = in;
    o.n_inputs = 1;
    check_identical(&o, "text.h5", 8);
}
END_TEST

START_TEST(test_identical_jsonl_glob) {
    rt_prep_opts o;
    base_opts(&o, RT_PREP_JSONL);
    o.val_ratio = 0.3;
    o.round_bytes = 100;
    const char *in[] = {RT_PREP_INPUTS "/jsonl/*.jsonl"};
    o.inputs = in;
    o.n_inputs = 1;
    check_identical(&o, "jsonl.h5", 7);
}
END_TEST

/* ---- a generated corpus whose documents the test knows -------------------------------------- */

#define GEN_DOCS 120
static char *gen_text[GEN_DOCS];

static void gen_docs(void) {
    static const char *words[] = {"the",           "licence", "naïve", "日本語", "🙂",
                                  "<|endoftext|>", "  ",      "\n",    "tab\t",  "Ελληνικά",
                                  "don't",         "3.14",    "CAPS",  "a",      "x"};
    uint64_t s = 42;
    for (int i = 0; i < GEN_DOCS; i++) {
        char buf[4096];
        size_t n = 0;
        int nw = 1 + (int)(i * 7 % 60);
        for (int w = 0; w < nw; w++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            const char *t = words[(s >> 33) % (sizeof words / sizeof *words)];
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", w ? " " : "", t);
        }
        /* documents must not contain the delimiter line and must not be blank */
        n += (size_t)snprintf(buf + n, sizeof buf - n, " doc%d.\n", i);
        gen_text[i] = strdup(buf);
    }
}

/* Writes the generated documents as 3 delimited text files and as 2 JSONL files (with empty
   documents interleaved: every 10th slot is "" or blank, not counted as a document). */
static int gen_files(void) {
    int empties = 0;
    if (rank == 0) {
        FILE *t[3], *j[2];
        char name[64];
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof name, "gen-%d.txt", k);
            t[k] = fopen(path_in(name), "wb");
        }
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "gen-%d.jsonl", k);
            j[k] = fopen(path_in(name), "wb");
        }
        for (int i = 0; i < GEN_DOCS; i++) {
            int ft = i * 3 / GEN_DOCS, fj = i * 2 / GEN_DOCS;
            if (i % 10 == 5) {
                fputs("  \n--DOC--\n", t[ft]);
                fputs("{\"text\": \" \\n \"}\n\n", j[fj]);
            }
            fputs(gen_text[i], t[ft]);
            fputs("--DOC--\n", t[ft]);
            json_t *o = json_pack("{s:s, s:i}", "text", gen_text[i], "n", i);
            char *line = json_dumps(o, JSON_COMPACT);
            fprintf(j[fj], "%s\n", line);
            free(line);
            json_decref(o);
        }
        for (int k = 0; k < 3; k++) fclose(t[k]);
        for (int k = 0; k < 2; k++) fclose(j[k]);
    }
    for (int i = 0; i < GEN_DOCS; i++) empties += i % 10 == 5;
    MPI_Barrier(MPI_COMM_WORLD);
    return empties;
}

/* Every document decodes to its text followed by eos; doc_index covers 0..n-1 once; the split
   of each document follows rt_prep_is_validation. Returns "" or the first problem. */
static const char *check_round_trip(const char *path, uint64_t seed, double ratio) {
    static char why[512];
    why[0] = 0;
    rt_corpus *c = NULL;
    if (rt_corpus_open(&c, path, MPI_COMM_NULL) != RT_OK) {
        snprintf(why, sizeof why, "open: %s", rt_error_message());
        return why;
    }
    int seen[GEN_DOCS] = {0}, eos = rt_corpus_eos_id(c);
    for (int k = 0; k < 2 && !why[0]; k++) {
        size_t nd = rt_corpus_n_docs(c, k), nt = rt_corpus_n_tokens(c, k);
        uint64_t *off = malloc(8 * (nd + 1)), *idx = malloc(8 * nd + 8);
        int32_t *tok = malloc(4 * nt + 4);
        if (rt_corpus_read_doc_offsets(c, k, 0, nd + 1, off) ||
            rt_corpus_read_doc_index(c, k, 0, nd, idx) || rt_corpus_read_tokens(c, k, 0, nt, tok))
            snprintf(why, sizeof why, "read: %s", rt_error_message());
        for (size_t d = 0; d < nd && !why[0]; d++) {
            uint64_t i = idx[d], a = off[d], b = off[d + 1];
            if (i >= GEN_DOCS || seen[i]++) {
                snprintf(why, sizeof why, "doc_index %llu repeated or out of range",
                         (unsigned long long)i);
                break;
            }
            if (rt_prep_is_validation(seed, i, ratio) != k) {
                snprintf(why, sizeof why, "doc %llu in the wrong split", (unsigned long long)i);
                break;
            }
            if (b <= a || tok[b - 1] != eos) {
                snprintf(why, sizeof why, "doc %llu does not end with eos", (unsigned long long)i);
                break;
            }
            for (uint64_t t = a; t + 1 < b; t++)
                if (tok[t] == eos)
                    snprintf(why, sizeof why, "eos inside doc %llu", (unsigned long long)i);
            char *text = NULL;
            size_t len = 0, cap = 0;
            if (rt_bpe_decode(bpe, tok + a, b - a - 1, &text, &len, &cap) != RT_OK ||
                len != strlen(gen_text[i]) || memcmp(text, gen_text[i], len))
                snprintf(why, sizeof why, "doc %llu decodes to '%.*s', expected '%s'",
                         (unsigned long long)i, (int)len, text ? text : "", gen_text[i]);
            free(text);
        }
        free(off), free(idx), free(tok);
    }
    for (int i = 0; i < GEN_DOCS && !why[0]; i++)
        if (!seen[i]) snprintf(why, sizeof why, "doc %d missing", i);
    rt_corpus_close(&c);
    return why;
}

START_TEST(test_round_trip_text_and_jsonl) {
    int empties = gen_files();
    char msg[2][4096];
    rt_prep_result r[2];
    rt_status st[2];
    for (int f = 0; f < 2; f++) {
        rt_prep_opts o;
        base_opts(&o, f ? RT_PREP_JSONL : RT_PREP_TEXT);
        o.delimiter = f ? NULL : "--DOC--";
        o.val_ratio = 0.25;
        o.split_seed = 99;
        o.round_bytes = 2000;
        char pattern[1200];
        snprintf(pattern, sizeof pattern, "%s/gen-*.%s", dir, f ? "jsonl" : "txt");
        const char *in[] = {pattern};
        o.inputs = in;
        o.n_inputs = 1;
        o.out = path_in(f ? "gen-jsonl.h5" : "gen-text.h5");
        st[f] = run(&o, MPI_COMM_WORLD, &r[f], msg[f], sizeof msg[f]);
    }
    for (int f = 0; f < 2; f++) {
        ck_assert_msg(st[f] == RT_OK, "%s: %s", f ? "jsonl" : "text", msg[f]);
        ck_assert_int_eq((int)r[f].n_documents, GEN_DOCS);
        ck_assert_int_eq((int)r[f].n_skipped_empty, empties);
        ck_assert_int_eq(r[f].n_tokens[0], r[0].n_tokens[0]);
        ck_assert_int_eq(r[f].n_tokens[1], r[0].n_tokens[1]);
    }
    if (rank == 0) {
        for (int f = 0; f < 2; f++) {
            const char *why =
                check_round_trip(path_in(f ? "gen-jsonl.h5" : "gen-text.h5"), 99, 0.25);
            ck_assert_msg(!why[0], "%s: %s", f ? "jsonl" : "text", why);
        }
    }
}
END_TEST

START_TEST(test_fixture_counts_and_attributes) {
    rt_prep_opts o;
    base_opts(&o, RT_PREP_TEXT);
    o.delimiter = "=====";
    o.tokenizer = NULL; /* every rank loads it from tokenizer_dir */
    o.command_line = "ringtune prep --delimiter ===== text";
    const char *in[] = {RT_PREP_INPUTS "/text"};
    o.inputs = in;
    o.n_inputs = 1;
    o.out = path_in("attrs.h5");
    rt_prep_result r;
    char msg[4096];
    rt_status st = run(&o, MPI_COMM_WORLD, &r, msg, sizeof msg);
    ck_assert_msg(st == RT_OK, "%s", msg);
    ck_assert_int_eq((int)r.n_documents, 8); /* a.txt 3, b.txt 3, sub/c.txt 2 */
    ck_assert_int_eq((int)r.n_skipped_empty, 2);
    ck_assert_int_eq((int)r.n_files, 3); /* .hidden.txt skipped */
    ck_assert_int_eq(r.token_bytes, 2);
    if (rank != 0) return;
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, o.out, MPI_COMM_NULL) == RT_OK, "%s", rt_error_message());
    const rt_corpus_info *in_ = rt_corpus_get_info(c);
    ck_assert_int_eq(in_->vocab_size, 50257);
    ck_assert_int_eq(in_->eos_id, 50256);
    ck_assert_int_eq(in_->token_bytes, 2);
    ck_assert_str_eq(in_->tokenizer_sha256, rt_bpe_sha256(bpe));
    ck_assert_str_eq(in_->kind, "text");
    ck_assert_str_eq(in_->command_line, "ringtune prep --delimiter ===== text");
    ck_assert_str_eq(in_->ringtune_version, RT_VERSION);
    ck_assert_str_eq(in_->sources, RT_PREP_INPUTS "/text/a.txt\n" RT_PREP_INPUTS
                                                  "/text/b.txt\n" RT_PREP_INPUTS "/text/sub/c.txt");
    ck_assert_int_eq((int)in_->n_skipped_empty, 2);
    ck_assert_int_eq((int)in_->split_seed, 1234);
    ck_assert(in_->validation_ratio == 0.05);
    rt_corpus_close(&c);

    /* storage: uint16, chunked, fletcher32 */
    hid_t f = H5Fopen(o.out, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert(f >= 0);
    hid_t d = H5Dopen2(f, "/train/tokens", H5P_DEFAULT);
    hid_t t = H5Dget_type(d), p = H5Dget_create_plist(d);
    ck_assert(H5Tequal(t, H5T_STD_U16LE) > 0);
    ck_assert_int_eq(H5Pget_layout(p), H5D_CHUNKED);
    int fl = 0;
    for (int i = 0; i < H5Pget_nfilters(p); i++) {
        unsigned flags;
        size_t nelem = 0;
        fl |= H5Pget_filter2(p, (unsigned)i, &flags, &nelem, NULL, 0, NULL, NULL) ==
              H5Z_FILTER_FLETCHER32;
    }
    ck_assert_msg(fl, "no fletcher32 filter on /train/tokens");
    H5Pclose(p), H5Tclose(t), H5Dclose(d), H5Fclose(f);
}
END_TEST

/* ---- bad input ------------------------------------------------------------------------------ */

START_TEST(test_bad_json_error_and_skip) {
    put_str("bad.jsonl", "{\"text\": \"one\"}\n"
                         "{\"text\": \"two\"}\n"
                         "{\"text\": \"three\"\n"          /* line 3: malformed */
                         "[\"an array\"]\n"                /* line 4: not an object */
                         "{\"body\": \"no text field\"}\n" /* line 5: missing field */
                         "{\"text\": 7}\n"                 /* line 6: not a string */
                         "{\"text\": \"seven\"}\n");
    rt_prep_opts o;
    base_opts(&o, RT_PREP_JSONL);
    o.round_bytes = 20; /* lines land on different ranks */
    const char *in[] = {path_in("bad.jsonl")};
    o.inputs = in;
    o.n_inputs = 1;
    o.out = path_in("bad.h5");
    if (rank == 0) unlink(o.out); /* left by an earlier run of this test */
    MPI_Barrier(MPI_COMM_WORLD);
    char msg[4096], msg2[4096];
    rt_prep_result r;
    rt_status st = run(&o, MPI_COMM_WORLD, &r, msg, sizeof msg);
    int tmp_after_fail = temp_files(), exists_after_fail = rt_fs_exists(o.out);
    MPI_Barrier(MPI_COMM_WORLD);
    o.skip_bad_json = 1;
    rt_status st2 = run(&o, MPI_COMM_WORLD, &r, msg2, sizeof msg2);
    ck_assert_int_eq(st, RT_ERR_FORMAT);
    ck_assert_msg(strstr(msg, "bad.jsonl:3: malformed JSON"), "rank %d: %s", rank, msg);
    ck_assert_int_eq(tmp_after_fail, 0);
    ck_assert_int_eq(exists_after_fail, 0);
    ck_assert_msg(st2 == RT_OK, "%s", msg2);
    ck_assert_int_eq((int)r.n_skipped_bad_json, 4);
    ck_assert_int_eq((int)r.n_documents, 3);
}
END_TEST

START_TEST(test_bad_json_messages) {
    static const char *const lines[] = {"[1]\n", "{\"body\": 1}\n", "{\"text\": null}\n"};
    static const char *const want[] = {"bad2.jsonl:2: expected a JSON object, got an array",
                                       "bad2.jsonl:2: no field \"text\"",
                                       "bad2.jsonl:2: field \"text\" is null, expected a string"};
    for (int i = 0; i < 3; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"text\": \"ok\"}\n%s", lines[i]);
        put_str("bad2.jsonl", body);
        rt_prep_opts o;
        base_opts(&o, RT_PREP_JSONL);
        const char *in[] = {path_in("bad2.jsonl")};
        o.inputs = in;
        o.n_inputs = 1;
        o.out = path_in("bad2.h5");
        char msg[4096];
        rt_status st = run(&o, MPI_COMM_WORLD, NULL, msg, sizeof msg);
        ck_assert_int_eq(st, RT_ERR_FORMAT);
        ck_assert_msg(strstr(msg, want[i]), "got: %s", msg);
    }
}
END_TEST

START_TEST(test_missing_inputs) {
    rt_prep_opts o;
    base_opts(&o, RT_PREP_TEXT);
    const char *in[] = {RT_PREP_INPUTS "/text/a.txt", path_in("no_such_file.txt")};
    o.inputs = in;
    o.n_inputs = 2;
    o.out = path_in("missing.h5");
    char msg[4096], msg2[4096], msg3[4096];
    rt_status st = run(&o, MPI_COMM_WORLD, NULL, msg, sizeof msg);
    const char *in2[] = {path_in("nothing-*.txt")};
    o.inputs = in2;
    o.n_inputs = 1;
    rt_status st2 = run(&o, MPI_COMM_WORLD, NULL, msg2, sizeof msg2);
    o.tokenizer_dir = path_in("no_tokenizer");
    o.tokenizer = NULL;
    o.inputs = in;
    o.n_inputs = 1;
    rt_status st3 = run(&o, MPI_COMM_WORLD, NULL, msg3, sizeof msg3);
    ck_assert_int_eq(st, RT_ERR_IO);
    ck_assert_msg(strstr(msg, "no_such_file.txt") && strstr(msg, "No such file"), "%s", msg);
    ck_assert_int_eq(st2, RT_ERR_IO);
    ck_assert_msg(strstr(msg2, "no input files match") && strstr(msg2, "nothing-*.txt"), "%s",
                  msg2);
    ck_assert_int_eq(st3, RT_ERR_IO);
    ck_assert_msg(strstr(msg3, "no_tokenizer holds no tokenizer") &&
                      strstr(msg3, "(it does not exist)"),
                  "%s", msg3);
    ck_assert(!rt_fs_exists(o.out));
}
END_TEST

START_TEST(test_existing_output) {
    const char *precious = "precious bytes, not a corpus\n";
    put_str("exists.h5", precious);
    put_str("ok.jsonl", "{\"text\": \"fine\"}\n");
    put_str("broken.jsonl", "{\"text\": \"fine\"}\n{oops\n");
    rt_prep_opts o;
    base_opts(&o, RT_PREP_JSONL);
    o.overwrite = 0;
    const char *ok[] = {path_in("ok.jsonl")}, *broken[] = {path_in("broken.jsonl")};
    o.inputs = ok;
    o.n_inputs = 1;
    o.out = path_in("exists.h5");
    char msg[3][4096];
    rt_status st[3];
    st[0] = run(&o, MPI_COMM_WORLD, NULL, msg[0], sizeof msg[0]); /* refused */
    MPI_Barrier(MPI_COMM_WORLD);
    size_t n0 = 0;
    char *after_refusal = rank == 0 ? slurp(o.out, &n0) : NULL;
    o.overwrite = 1;
    o.inputs = broken;
    st[1] = run(&o, MPI_COMM_WORLD, NULL, msg[1], sizeof msg[1]); /* fails mid-way */
    MPI_Barrier(MPI_COMM_WORLD);
    size_t n1 = 0;
    char *after_failure = rank == 0 ? slurp(o.out, &n1) : NULL;
    int tmps = temp_files();
    MPI_Barrier(MPI_COMM_WORLD);
    o.inputs = ok;
    st[2] = run(&o, MPI_COMM_WORLD, NULL, msg[2], sizeof msg[2]); /* replaces */
    rt_corpus *c = NULL;
    rt_status so = rt_corpus_open(&c, o.out, MPI_COMM_WORLD);
    rt_corpus_close(&c);

    ck_assert_int_eq(st[0], RT_ERR_IO);
    ck_assert_msg(strstr(msg[0], "exists.h5 exists") && strstr(msg[0], "--overwrite"), "%s",
                  msg[0]);
    ck_assert_int_eq(st[1], RT_ERR_FORMAT);
    ck_assert_msg(strstr(msg[1], "broken.jsonl:2"), "%s", msg[1]);
    ck_assert_int_eq(tmps, 0);
    ck_assert_msg(st[2] == RT_OK, "%s", msg[2]);
    ck_assert_msg(so == RT_OK, "%s", rt_error_message());
    if (rank == 0) {
        ck_assert(after_refusal && n0 == strlen(precious) && !memcmp(after_refusal, precious, n0));
        ck_assert(after_failure && n1 == strlen(precious) && !memcmp(after_failure, precious, n1));
    }
    free(after_refusal);
    free(after_failure);
}
END_TEST

START_TEST(test_invalid_utf8) {
    put_str("bad-utf8.txt", "first line\nsecond line\nthird \xff line \xe2\x82 end\n");
    put_str("bad-utf8.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"caf\xe9\"}\n");
    rt_prep_opts o;
    base_opts(&o, RT_PREP_TEXT);
    const char *in[] = {path_in("bad-utf8.txt")}, *inj[] = {path_in("bad-utf8.jsonl")};
    o.inputs = in;
    o.n_inputs = 1;
    o.out = path_in("utf8.h5");
    char msg[4][4096];
    rt_prep_result r[2];
    rt_status st[3];
    st[0] = run(&o, MPI_COMM_WORLD, NULL, msg[0], sizeof msg[0]);
    o.replace_invalid_utf8 = 1;
    st[1] = run(&o, MPI_COMM_WORLD, &r[0], msg[1], sizeof msg[1]);
    o.format = RT_PREP_JSONL;
    o.inputs = inj;
    o.replace_invalid_utf8 = 0;
    st[2] = run(&o, MPI_COMM_WORLD, NULL, msg[2], sizeof msg[2]);
    o.replace_invalid_utf8 = 1;
    o.out = path_in("utf8j.h5");
    rt_status st3 = run(&o, MPI_COMM_WORLD, &r[1], msg[3], sizeof msg[3]);

    ck_assert_int_eq(st[0], RT_ERR_FORMAT);
    ck_assert_msg(strstr(msg[0], "bad-utf8.txt:3:") && strstr(msg[0], "byte 0xff") &&
                      strstr(msg[0], "byte offset 29"),
                  "%s", msg[0]);
    ck_assert_msg(st[1] == RT_OK, "%s", msg[1]);
    ck_assert_int_eq((int)r[0].n_replaced_utf8, 2);
    ck_assert_int_eq(st[2], RT_ERR_FORMAT);
    ck_assert_msg(strstr(msg[2], "bad-utf8.jsonl:2:") && strstr(msg[2], "byte 0xe9"), "%s", msg[2]);
    ck_assert_msg(st3 == RT_OK, "%s", msg[3]);
    ck_assert_int_eq((int)r[1].n_replaced_utf8, 1);
    if (rank == 0) {
        rt_corpus *c = NULL;
        ck_assert(rt_corpus_open(&c, path_in("utf8.h5"), MPI_COMM_NULL) == RT_OK);
        size_t nt =
            rt_corpus_n_tokens(c, RT_SPLIT_TRAIN) + rt_corpus_n_tokens(c, RT_SPLIT_VALIDATION);
        int k = rt_corpus_n_tokens(c, RT_SPLIT_TRAIN) ? RT_SPLIT_TRAIN : RT_SPLIT_VALIDATION;
        int32_t ids[256];
        ck_assert(nt < 256);
        ck_assert(rt_corpus_read_tokens(c, k, 0, nt - 1, ids) == RT_OK);
        char *text = NULL;
        size_t len = 0, cap = 0;
        ck_assert(rt_bpe_decode(bpe, ids, nt - 1, &text, &len, &cap) == RT_OK);
        const char *want = "first line\nsecond line\nthird \xef\xbf\xbd line \xef\xbf\xbd end\n";
        ck_assert_int_eq(len, strlen(want));
        ck_assert(!memcmp(text, want, len));
        free(text);
        rt_corpus_close(&c);
    }
}
END_TEST

/* ---- the split ------------------------------------------------------------------------------ */

START_TEST(test_split_deterministic) {
    if (rank == 0) {
        FILE *f = fopen(path_in("many.jsonl"), "wb");
        for (int i = 0; f && i < 1000; i++) fprintf(f, "{\"text\": \"d%d\"}\n", i);
        if (f) fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    rt_prep_opts o;
    base_opts(&o, RT_PREP_JSONL);
    o.round_bytes = 4000;
    o.chunk = 0;
    o.val_ratio = 0.2;
    const char *in[] = {path_in("many.jsonl")};
    o.inputs = in;
    o.n_inputs = 1;
    rt_prep_result r[5];
    rt_status st[5];
    char msg[5][4096];
    const char *outs[5] = {"s1.h5", "s2.h5", "s3.h5", "s4.h5", "s5.h5"};
    for (int k = 0; k < 5; k++) {
        o.out = path_in(outs[k]);
        o.split_seed = k == 2 ? 7 : 1234;
        o.val_ratio = k == 3 ? 0 : k == 4 ? 1 : 0.2;
        st[k] = run(&o, MPI_COMM_WORLD, &r[k], msg[k], sizeof msg[k]);
    }
    for (int k = 0; k < 5; k++) ck_assert_msg(st[k] == RT_OK, "%s", msg[k]);
    ck_assert_msg(r[0].n_docs[1] >= 150 && r[0].n_docs[1] <= 250, "%llu validation docs of 1000",
                  (unsigned long long)r[0].n_docs[1]);
    ck_assert_int_eq(r[3].n_docs[1], 0);
    ck_assert_int_eq(r[4].n_docs[0], 0);
    ck_assert_int_eq(r[4].n_docs[1], 1000);
    if (rank != 0) return;
    ck_assert_str_eq(compare(path_in("s1.h5"), path_in("s2.h5")), "");
    rt_corpus *a = NULL, *b = NULL;
    ck_assert(rt_corpus_open(&a, path_in("s1.h5"), MPI_COMM_NULL) == RT_OK);
    ck_assert(rt_corpus_open(&b, path_in("s3.h5"), MPI_COMM_NULL) == RT_OK);
    size_t na = rt_corpus_n_docs(a, 1), nb = rt_corpus_n_docs(b, 1);
    uint64_t ia[1000], ib[1000];
    ck_assert(rt_corpus_read_doc_index(a, 1, 0, na, ia) == RT_OK);
    ck_assert(rt_corpus_read_doc_index(b, 1, 0, nb, ib) == RT_OK);
    ck_assert_msg(na != nb || memcmp(ia, ib, 8 * na), "seed 7 gives the same split as seed 1234");
    for (size_t i = 0; i < na; i++) ck_assert(rt_prep_is_validation(1234, ia[i], 0.2));
    rt_corpus_close(&a);
    rt_corpus_close(&b);
}
END_TEST

/* ---- reader, collective open, CLI ------------------------------------------------------------ */

START_TEST(test_collective_open_errors) {
    put_str("not-hdf5.h5", "plain text\n");
    rt_corpus *c = NULL, *d = NULL;
    rt_status s1 = rt_corpus_open(&c, path_in("no-such.h5"), MPI_COMM_WORLD);
    char m1[4096];
    snprintf(m1, sizeof m1, "%s", rt_error_message());
    rt_status s2 = rt_corpus_open(&d, path_in("not-hdf5.h5"), MPI_COMM_WORLD);
    char m2[4096];
    snprintf(m2, sizeof m2, "%s", rt_error_message());
    ck_assert_int_eq(s1, RT_ERR_IO);
    ck_assert_msg(strstr(m1, "no-such.h5"), "%s", m1);
    ck_assert(c == NULL && d == NULL);
    ck_assert_int_eq(s2, RT_ERR_FORMAT);
    ck_assert_msg(strstr(m2, "not-hdf5.h5: not an HDF5 file"), "%s", m2);
}
END_TEST

START_TEST(test_cli_in_process) {
    char out[1200];
    snprintf(out, sizeof out, "%s", path_in("cli.h5"));
    char *argv[] = {"--tokenizer",
                    RT_TOKENIZER_TEST_DIR,
                    "--out",
                    out,
                    "--overwrite",
                    "--format",
                    "jsonl",
                    "--quiet",
                    "--val-ratio",
                    "0.5",
                    RT_PREP_INPUTS "/jsonl",
                    NULL};
    int rc = rt_cmd_prep(11, argv);
    char *bad[] = {"--out", out, "--bogus", "x", NULL};
    int rc2 = rt_cmd_prep(4, bad);
    char *looks[] = {"--tokenizer", RT_TOKENIZER_TEST_DIR, "--out", out, "x.jsonl", NULL};
    int rc3 = rt_cmd_prep(5, looks);
    rt_corpus *c = NULL;
    rt_status st = rt_corpus_open(&c, out, MPI_COMM_WORLD);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(rc2, 2);
    ck_assert_int_eq(rc3, 2);
    ck_assert_msg(st == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq((int)rt_corpus_get_info(c)->n_documents, 7);
    ck_assert_msg(strstr(rt_corpus_get_info(c)->command_line, "ringtune prep --tokenizer"), "%s",
                  rt_corpus_get_info(c)->command_line);
    ck_assert_msg(strstr(rt_corpus_get_info(c)->command_line, "--val-ratio 0.5"), "%s",
                  rt_corpus_get_info(c)->command_line);
    rt_corpus_close(&c);
}
END_TEST

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--cli")) return rt_cmd_prep(argc - 2, argv + 2);
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    snprintf(dir, sizeof dir, "%s/prep_tests/np%d", RT_BUILD_DIR, nranks);
    if (rank == 0) rt_fs_mkdir_p(dir);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rt_bpe_load(&bpe, RT_TOKENIZER_TEST_DIR "/vocab.json",
                    RT_TOKENIZER_TEST_DIR "/merges.txt") != RT_OK) {
        fprintf(stderr, "test_prep: %s\n", rt_error_message());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    gen_docs();

    Suite *s = suite_create("prep");
    TCase *tc = tcase_create("mpi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_identical_text_delimiter);
    tcase_add_test(tc, test_identical_jsonl_glob);
    tcase_add_test(tc, test_round_trip_text_and_jsonl);
    tcase_add_test(tc, test_fixture_counts_and_attributes);
    tcase_add_test(tc, test_bad_json_error_and_skip);
    tcase_add_test(tc, test_bad_json_messages);
    tcase_add_test(tc, test_missing_inputs);
    tcase_add_test(tc, test_existing_output);
    tcase_add_test(tc, test_invalid_utf8);
    tcase_add_test(tc, test_split_deterministic);
    tcase_add_test(tc, test_collective_open_errors);
    tcase_add_test(tc, test_cli_in_process);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
    int nf = srunner_ntests_failed(sr), total = 0;
    if (rank != 0 && nf > 0) { /* rank 0 printed its own; the others' would be lost */
        TestResult **tr = srunner_failures(sr);
        for (int i = 0; i < nf; i++)
            fprintf(stderr, "[rank %d] %s:%d: %s: %s\n", rank, tr_lfile(tr[i]), tr_lno(tr[i]),
                    tr_tcname(tr[i]), tr_msg(tr[i]));
        free(tr);
    }
    srunner_free(sr);
    MPI_Allreduce(&nf, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0 && total) fprintf(stderr, "test_prep: %d failures summed over ranks\n", total);
    for (int i = 0; i < GEN_DOCS; i++) free(gen_text[i]);
    rt_bpe_destroy(&bpe);
    MPI_Finalize();
    return total == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
