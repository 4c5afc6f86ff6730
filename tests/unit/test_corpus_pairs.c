/* Kind "pairs" corpora in io/corpus.h (io/corpus_pairs.c), in one process that never initialises
   MPI: writer/reader round trip of sources, targets, lengths, the pair attributes and the
   truncation counts; the writer's refusals; the reader refusing other kinds' calls and other
   kinds refusing its calls; a damaged file (target offsets that disagree, a side longer than its
   limit, a missing dataset or attribute, changed attributes, a side not ending in eos) refused
   with the file and dataset named; byte-identical rewrites.

   `test_corpus_pairs --dump CORPUS` prints every pair of a corpus as JSON lines (the info first)
   through the reader API, for tests/prep/pairs.sh; `--write CORPUS` writes the round trip's
   corpus (150 pairs, chunk 16; the one `test_corpus_integrity --scan` measured). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include "corpus.h"
#include "fsutil.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define VOCAB 32100
#define EOS 1
#define N_PAIRS 150
#define MAX_SRC 11
#define MAX_TGT 7
#define PREFIX "translate English to German: "

static char dir[1024];

static const char *path_in(const char *name) {
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* pair d: a source of 1 + d % MAX_SRC ids and a target of 1 + (d * 3) % MAX_TGT, each ending in
   eos; validation when d % 4 == 1 */
static int src_len(int d) {
    return 1 + d % MAX_SRC;
}
static int tgt_len(int d) {
    return 1 + (d * 3) % MAX_TGT;
}
static int32_t src_id(int d, int i) {
    return i == src_len(d) - 1 ? EOS : 2 + (d * 131 + i * 17) % (VOCAB - 2);
}
static int32_t tgt_id(int d, int i) {
    return i == tgt_len(d) - 1 ? EOS : 2 + (d * 71 + i * 29 + 5) % (VOCAB - 2);
}
static int is_val(int d) {
    return d % 4 == 1;
}

static rt_status write_pairs(const char *path, size_t chunk, int n_pairs) {
    rt_corpus_pair_meta pm = {MAX_SRC, MAX_TGT, PREFIX};
    rt_corpus_meta m = {"pairs", VOCAB, EOS, SHA, "in.jsonl", 5, 0.25, "test", chunk, NULL, &pm};
    rt_corpus_writer *w = NULL;
    unlink(path);
    RT_CALL(rt_corpus_writer_create(&w, path, 1, &m));
    for (int d = 0; d < n_pairs; d++) {
        uint16_t s[MAX_SRC], t[MAX_TGT];
        for (int i = 0; i < src_len(d); i++) s[i] = (uint16_t)src_id(d, i);
        for (int i = 0; i < tgt_len(d); i++) t[i] = (uint16_t)tgt_id(d, i);
        rt_status st =
            rt_corpus_writer_add_pair(w, is_val(d) ? RT_SPLIT_VALIDATION : RT_SPLIT_TRAIN,
                                      (uint64_t)d, s, (size_t)src_len(d), t, (size_t)tgt_len(d));
        if (st != RT_OK) {
            rt_corpus_writer_abort(&w);
            return st;
        }
    }
    rt_corpus_counts counts = {0, 2, 0, 0, 0, 13, 21};
    return rt_corpus_writer_commit(&w, &counts);
}

static void check_split(rt_corpus *c, int k) {
    int32_t s[MAX_SRC], t[MAX_TGT];
    size_t ns, nt, e = 0;
    uint64_t want_src = 0, want_tgt = 0;
    for (int d = 0; d < N_PAIRS; d++) {
        if (is_val(d) != k) continue;
        ck_assert_msg(rt_corpus_read_pair(c, k, e, s, MAX_SRC, &ns, t, MAX_TGT, &nt) == RT_OK, "%s",
                      rt_error_message());
        ck_assert_int_eq((int)ns, src_len(d));
        ck_assert_int_eq((int)nt, tgt_len(d));
        for (int i = 0; i < src_len(d); i++) ck_assert_int_eq(s[i], src_id(d, i));
        for (int i = 0; i < tgt_len(d); i++) ck_assert_int_eq(t[i], tgt_id(d, i));
        size_t ls, lt;
        ck_assert(rt_corpus_pair_lengths(c, k, e, &ls, &lt) == RT_OK);
        ck_assert(ls == ns && lt == nt);
        uint64_t di;
        ck_assert(rt_corpus_read_doc_index(c, k, e, 1, &di) == RT_OK);
        ck_assert_int_eq((int)di, d);
        want_src += (uint64_t)src_len(d);
        want_tgt += (uint64_t)tgt_len(d);
        e++;
    }
    ck_assert_int_eq((int)e, (int)rt_corpus_n_docs(c, k));
    ck_assert_int_eq((int)rt_corpus_n_tokens(c, k), (int)want_src);
    ck_assert_int_eq((int)rt_corpus_get_info(c)->n_target_tokens[k], (int)want_tgt);
    /* bulk reads: the last target through target_offsets and target_tokens */
    uint64_t off[2];
    ck_assert(rt_corpus_read_target_offsets(c, k, e - 1, 2, off) == RT_OK);
    ck_assert_int_eq((int)off[1], (int)want_tgt);
    int32_t last;
    ck_assert(rt_corpus_read_target_tokens(c, k, off[1] - 1, 1, &last) == RT_OK);
    ck_assert_int_eq(last, EOS);
    ck_assert_int_eq(rt_corpus_read_target_offsets(c, k, e, 2, off), RT_ERR_ARG);
    ck_assert_int_eq(rt_corpus_read_target_tokens(c, k, want_tgt, 1, &last), RT_ERR_ARG);
    ck_assert_int_eq(rt_corpus_read_pair(c, k, e, s, MAX_SRC, &ns, t, MAX_TGT, &nt), RT_ERR_ARG);
}

START_TEST(test_pairs_round_trip) {
    const char *p = path_in("pairs.h5");
    ck_assert_msg(write_pairs(p, 16, N_PAIRS) == RT_OK, "%s", rt_error_message());
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK, "%s", rt_error_message());
    const rt_corpus_info *in = rt_corpus_get_info(c);
    ck_assert_str_eq(in->kind, "pairs");
    ck_assert_int_eq(in->max_source_length, MAX_SRC);
    ck_assert_int_eq(in->max_target_length, MAX_TGT);
    ck_assert_str_eq(in->source_prefix, PREFIX);
    ck_assert_int_eq((int)in->n_truncated_source, 13);
    ck_assert_int_eq((int)in->n_truncated_target, 21);
    ck_assert_int_eq((int)in->n_skipped_bad_json, 2);
    ck_assert_int_eq((int)in->n_documents, N_PAIRS);
    ck_assert_int_eq(in->num_labels, 0);
    check_split(c, RT_SPLIT_TRAIN);
    check_split(c, RT_SPLIT_VALIDATION);
    /* a buffer too small: refused, with the lengths given back (train pair 7 is d = 10: source
       11, target 3) */
    int32_t s[MAX_SRC], t[MAX_TGT];
    size_t ns = 0, nt = 0;
    ck_assert_int_eq(rt_corpus_read_pair(c, RT_SPLIT_TRAIN, 7, s, 4, &ns, t, MAX_TGT, &nt),
                     RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "more than the 4 and 7 given"), "%s",
                  rt_error_message());
    ck_assert_int_eq((int)ns, src_len(10));
    ck_assert_int_eq((int)nt, tgt_len(10));
    /* labels belong to another kind */
    int32_t lab;
    ck_assert_int_eq(rt_corpus_read_labels(c, RT_SPLIT_TRAIN, 0, 1, &lab), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "a pairs corpus has no labels"), "%s",
                  rt_error_message());
    uint64_t fp1 = 0, fp2 = 0;
    ck_assert(rt_corpus_fingerprint(c, &fp1) == RT_OK);
    rt_corpus_close(&c);
    /* the fingerprint covers the targets: a corpus with other targets differs */
    ck_assert(write_pairs(p, 16, N_PAIRS - 1) == RT_OK);
    ck_assert(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK);
    ck_assert(rt_corpus_fingerprint(c, &fp2) == RT_OK);
    ck_assert(fp1 != fp2);
    rt_corpus_close(&c);
}
END_TEST

/* No validation pairs at all, and the default chunk: an empty split opens and reads as such. */
START_TEST(test_pairs_empty_split) {
    const char *p = path_in("one.h5");
    rt_corpus_pair_meta pm = {0, 0, NULL};
    rt_corpus_meta m = {"pairs", VOCAB, EOS, SHA, "in.jsonl", 5, 0.0, "test", 0, NULL, &pm};
    rt_corpus_writer *w = NULL;
    unlink(p);
    ck_assert(rt_corpus_writer_create(&w, p, 1, &m) == RT_OK);
    uint16_t s[40], t[3] = {7, 8, EOS};
    for (int i = 0; i < 40; i++) s[i] = (uint16_t)(i == 39 ? EOS : 100 + i);
    ck_assert(rt_corpus_writer_add_pair(w, RT_SPLIT_TRAIN, 0, s, 40, t, 3) == RT_OK);
    ck_assert(rt_corpus_writer_commit(&w, NULL) == RT_OK);
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK, "%s", rt_error_message());
    const rt_corpus_info *in = rt_corpus_get_info(c);
    ck_assert_int_eq(in->max_source_length, 0);
    ck_assert_str_eq(in->source_prefix, "");
    ck_assert_int_eq((int)rt_corpus_n_docs(c, RT_SPLIT_VALIDATION), 0);
    ck_assert_int_eq((int)in->n_target_tokens[RT_SPLIT_VALIDATION], 0);
    int32_t a[40], b[3];
    size_t na, nb;
    ck_assert(rt_corpus_read_pair(c, RT_SPLIT_TRAIN, 0, a, 40, &na, b, 3, &nb) == RT_OK);
    ck_assert(na == 40 && nb == 3 && a[0] == 100 && b[1] == 8 && b[2] == EOS);
    ck_assert_int_eq(rt_corpus_read_pair(c, RT_SPLIT_VALIDATION, 0, a, 40, &na, b, 3, &nb),
                     RT_ERR_ARG);
    rt_corpus_close(&c);
}
END_TEST

START_TEST(test_writer_refusals) {
    const char *p = path_in("refuse.h5");
    unlink(p);
    rt_corpus_pair_meta pm = {MAX_SRC, MAX_TGT, PREFIX};
    rt_corpus_meta m = {"pairs", VOCAB, EOS, SHA, "x", 5, 0.3, "test", 0, NULL, NULL};
    rt_corpus_writer *w = NULL;
    ck_assert_int_eq(rt_corpus_writer_create(&w, p, 1, &m), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "pair metadata missing"), "%s", rt_error_message());
    m.kind = "text";
    m.pairs = &pm;
    ck_assert_int_eq(rt_corpus_writer_create(&w, p, 1, &m), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "pair metadata given for corpus kind 'text'"), "%s",
                  rt_error_message());
    m.kind = "pairs";
    pm.max_target_length = -1;
    ck_assert_int_eq(rt_corpus_writer_create(&w, p, 1, &m), RT_ERR_ARG);
    ck_assert(!rt_fs_exists(p));
    pm.max_target_length = MAX_TGT;
    ck_assert(rt_corpus_writer_create(&w, p, 1, &m) == RT_OK);
    uint16_t s[MAX_SRC + 1] = {5, 6, EOS}, t[MAX_TGT + 1] = {9, EOS}, bad[2] = {9, 10};
    ck_assert_int_eq(rt_corpus_writer_add(w, RT_SPLIT_TRAIN, 0, s, 3), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "a pairs corpus takes pairs"), "%s",
                  rt_error_message());
    ck_assert_int_eq(rt_corpus_writer_add_labeled(w, RT_SPLIT_TRAIN, 0, 0, s, 3), RT_ERR_ARG);
    ck_assert_int_eq(rt_corpus_writer_add_pair(w, RT_SPLIT_TRAIN, 0, s, 3, t, 0), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "pair 0: the target is empty"), "%s",
                  rt_error_message());
    ck_assert_int_eq(rt_corpus_writer_add_pair(w, RT_SPLIT_TRAIN, 0, s, 3, bad, 2), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "the target ends in id 10, not eos 1"), "%s",
                  rt_error_message());
    s[MAX_SRC] = EOS;
    ck_assert_int_eq(rt_corpus_writer_add_pair(w, RT_SPLIT_TRAIN, 0, s, MAX_SRC + 1, t, 2),
                     RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "more than max_source_length 11"), "%s",
                  rt_error_message());
    ck_assert_int_eq(rt_corpus_writer_add_pair(w, 2, 0, s, 3, t, 2), RT_ERR_ARG);
    rt_corpus_writer_abort(&w);
    ck_assert(!rt_fs_exists(p));
    /* a text corpus takes no pairs, and its reader has none */
    m.kind = "text";
    m.pairs = NULL;
    ck_assert(rt_corpus_writer_create(&w, p, 1, &m) == RT_OK);
    ck_assert_int_eq(rt_corpus_writer_add_pair(w, RT_SPLIT_TRAIN, 0, s, 3, t, 2), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "a text corpus has no pairs"), "%s",
                  rt_error_message());
    ck_assert(rt_corpus_writer_add(w, RT_SPLIT_TRAIN, 0, s, 3) == RT_OK);
    ck_assert(rt_corpus_writer_commit(&w, NULL) == RT_OK);
    rt_corpus *c = NULL;
    ck_assert(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK);
    const rt_corpus_info *in = rt_corpus_get_info(c);
    ck_assert(in->source_prefix == NULL && in->max_source_length == 0);
    int32_t a[4], b[4];
    size_t na, nb;
    ck_assert_int_eq(rt_corpus_read_pair(c, RT_SPLIT_TRAIN, 0, a, 4, &na, b, 4, &nb), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "refuse.h5: a text corpus has no pairs"), "%s",
                  rt_error_message());
    ck_assert_int_eq(rt_corpus_pair_lengths(c, RT_SPLIT_TRAIN, 0, &na, &nb), RT_ERR_ARG);
    ck_assert_int_eq(rt_corpus_read_target_tokens(c, RT_SPLIT_TRAIN, 0, 1, a), RT_ERR_ARG);
    rt_corpus_close(&c);
}
END_TEST

/* ---- damaged files: edited with HDF5 itself, so only our own checks can notice -------------- */

static void copy_file(const char *from, const char *to) {
    char *b = NULL;
    size_t n = 0;
    ck_assert(rt_fs_read_file(from, &b, &n) == RT_OK);
    FILE *f = fopen(to, "wb");
    ck_assert(f && fwrite(b, 1, n, f) == n);
    fclose(f);
    free(b);
}

static void write_elem(const char *p, const char *dset, hsize_t at, hid_t mtype, const void *v) {
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(f >= 0);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT), fs = H5Dget_space(d);
    hsize_t one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    ck_assert(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL) >= 0);
    ck_assert(H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, v) >= 0);
    H5Sclose(ms), H5Sclose(fs), H5Dclose(d), H5Fclose(f);
}

static void expect_open_error(const char *p, rt_status want, const char *needle) {
    rt_corpus *c = NULL;
    rt_status st = rt_corpus_open(&c, p, MPI_COMM_NULL);
    ck_assert_msg(st == want, "status %d (wanted %d): %s", st, want, rt_error_message());
    ck_assert(c == NULL);
    ck_assert_msg(strstr(rt_error_message(), needle), "wanted '%s' in: %s", needle,
                  rt_error_message());
    ck_assert_msg(strstr(rt_error_message(), p), "no file name in: %s", rt_error_message());
}

START_TEST(test_damaged_files_refused) {
    const char *good = path_in("good.h5");
    ck_assert(write_pairs(good, 16, N_PAIRS) == RT_OK);
    char p[1200];
    snprintf(p, sizeof p, "%s", path_in("bad.h5"));

    copy_file(good, p);
    uint64_t off = 100; /* train pair 0 (d = 0) gets a target of 100 tokens: more than 7 */
    write_elem(p, "/train/target_offsets", 1, H5T_NATIVE_UINT64, &off);
    expect_open_error(p, RT_ERR_FORMAT,
                      "/train/target_offsets gives the target of pair 0 100 tokens, expected "
                      "1..max_target_length = 7");

    copy_file(good, p);
    off = 0; /* validation pair 1 gets an empty target */
    write_elem(p, "/validation/target_offsets", 2, H5T_NATIVE_UINT64, &off);
    expect_open_error(p, RT_ERR_FORMAT, "/validation/target_offsets gives the target of pair 1");

    copy_file(good, p);
    off = 3; /* the offsets no longer start at 0 */
    write_elem(p, "/train/target_offsets", 0, H5T_NATIVE_UINT64, &off);
    expect_open_error(p, RT_ERR_FORMAT, "/train/target_offsets");

    copy_file(good, p);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(H5Ldelete(f, "/validation/target_tokens", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_open_error(p, RT_ERR_FORMAT, "missing dataset /validation/target_tokens (kind pairs)");

    copy_file(good, p);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(H5Adelete(f, "source_prefix") >= 0);
    H5Fclose(f);
    expect_open_error(p, RT_ERR_FORMAT, "missing attribute 'source_prefix' (kind pairs)");

    copy_file(good, p);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "n_truncated_target", H5P_DEFAULT);
    int64_t v = 20; /* plausible, but not what metadata_xxh3 covers */
    ck_assert(H5Awrite(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a), H5Fclose(f);
    expect_open_error(p, RT_ERR_FORMAT, "do not match their checksum 'metadata_xxh3'");

    copy_file(good, p);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    a = H5Aopen(f, "max_source_length", H5P_DEFAULT);
    int32_t ml = 5; /* shorter than the sources written */
    ck_assert(H5Awrite(a, H5T_NATIVE_INT32, &ml) >= 0);
    H5Aclose(a), H5Fclose(f);
    expect_open_error(p, RT_ERR_FORMAT, "expected 1..max_source_length = 5");

    /* a target whose last id is not eos opens (the open reads no tokens) but is refused when
       read: train pair 0 (d = 0) has a target of 1 id at target_tokens[0] */
    copy_file(good, p);
    uint16_t id = 77;
    write_elem(p, "/train/target_tokens", 0, H5T_NATIVE_UINT16, &id);
    rt_corpus *c = NULL;
    ck_assert(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK);
    int32_t s[MAX_SRC], t[MAX_TGT];
    size_t ns, nt;
    ck_assert_int_eq(rt_corpus_read_pair(c, RT_SPLIT_TRAIN, 0, s, MAX_SRC, &ns, t, MAX_TGT, &nt),
                     RT_ERR_FORMAT);
    ck_assert_msg(strstr(rt_error_message(), "/train pair 0: its target does not end in eos 1 "
                                             "(ends in 77)"),
                  "%s", rt_error_message());
    ck_assert(rt_corpus_read_pair(c, RT_SPLIT_TRAIN, 1, s, MAX_SRC, &ns, t, MAX_TGT, &nt) == RT_OK);
    rt_corpus_close(&c);
}
END_TEST

/* Two writes of the same pairs corpus are byte-identical (no time stamps, no slack). */
START_TEST(test_deterministic_bytes) {
    ck_assert(write_pairs(path_in("d1.h5"), 0, N_PAIRS) == RT_OK);
    ck_assert(write_pairs(path_in("d2.h5"), 0, N_PAIRS) == RT_OK);
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    ck_assert(rt_fs_read_file(path_in("d1.h5"), &a, &na) == RT_OK);
    ck_assert(rt_fs_read_file(path_in("d2.h5"), &b, &nb) == RT_OK);
    ck_assert(na == nb && !memcmp(a, b, na));
    free(a);
    free(b);
}
END_TEST

/* ---- --dump: every pair of a corpus as JSON lines ----------------------------------------- */

static void print_ids(const char *key, const int32_t *v, size_t n) {
    printf(",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) printf("%s%d", i ? "," : "", v[i]);
    printf("]");
}

static int dump(const char *path) {
    rt_corpus *c = NULL;
    if (rt_corpus_open(&c, path, MPI_COMM_NULL) != RT_OK) {
        fprintf(stderr, "%s\n", rt_error_message());
        return 1;
    }
    const rt_corpus_info *in = rt_corpus_get_info(c);
    printf("{\"kind\":\"%s\",\"n_documents\":%llu,\"max_source_length\":%d,"
           "\"max_target_length\":%d,\"n_truncated_source\":%llu,\"n_truncated_target\":%llu,"
           "\"split_seed\":%llu,\"validation_ratio\":%.17g,\"vocab_size\":%d,\"eos_id\":%d,"
           "\"tokenizer_sha256\":\"%s\"}\n",
           in->kind, (unsigned long long)in->n_documents, in->max_source_length,
           in->max_target_length, (unsigned long long)in->n_truncated_source,
           (unsigned long long)in->n_truncated_target, (unsigned long long)in->split_seed,
           in->validation_ratio, in->vocab_size, in->eos_id, in->tokenizer_sha256);
    size_t cap_s = 16, cap_t = 16;
    int32_t *s = malloc(cap_s * sizeof *s), *t = malloc(cap_t * sizeof *t);
    rt_status st = s && t ? RT_OK : RT_ERR_MEMORY;
    for (int k = 0; k < 2 && st == RT_OK; k++)
        for (uint64_t i = 0; i < rt_corpus_n_docs(c, k) && st == RT_OK; i++) {
            size_t ns, nt;
            uint64_t di = 0;
            st = rt_corpus_read_pair(c, k, i, s, cap_s, &ns, t, cap_t, &nt);
            if (st == RT_ERR_ARG && (ns > cap_s || nt > cap_t)) { /* grow and retry */
                cap_s = ns > cap_s ? ns : cap_s;
                cap_t = nt > cap_t ? nt : cap_t;
                s = realloc(s, cap_s * sizeof *s);
                t = realloc(t, cap_t * sizeof *t);
                st = rt_corpus_read_pair(c, k, i, s, cap_s, &ns, t, cap_t, &nt);
            }
            if (st == RT_OK) st = rt_corpus_read_doc_index(c, k, i, 1, &di);
            if (st != RT_OK) break;
            printf("{\"split\":\"%s\",\"i\":%llu,\"doc_index\":%llu", rt_corpus_split_name(k),
                   (unsigned long long)i, (unsigned long long)di);
            print_ids("source", s, ns);
            print_ids("target", t, nt);
            printf("}\n");
        }
    if (st != RT_OK) fprintf(stderr, "%s\n", rt_error_message());
    free(s);
    free(t);
    rt_corpus_close(&c);
    return st == RT_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--dump")) return dump(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--write")) { /* the round trip's corpus (chunk 16) */
        rt_status st = write_pairs(argv[2], 16, N_PAIRS);
        if (st != RT_OK) fprintf(stderr, "%s\n", rt_error_message());
        return st != RT_OK;
    }
    snprintf(dir, sizeof dir, "%s/corpus_pairs_tests", RT_BUILD_DIR);
    rt_fs_mkdir_p(dir);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the tests' own HDF5 calls print nothing */
    Suite *s = suite_create("corpus_pairs");
    TCase *tc = tcase_create("serial");
    tcase_add_test(tc, test_pairs_round_trip);
    tcase_add_test(tc, test_pairs_empty_split);
    tcase_add_test(tc, test_writer_refusals);
    tcase_add_test(tc, test_damaged_files_refused);
    tcase_add_test(tc, test_deterministic_bytes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
