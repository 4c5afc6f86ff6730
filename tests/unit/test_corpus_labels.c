/* Kind "labeled" corpora in io/corpus.h (io/corpus_labels.c), in one process that never
   initialises MPI: writer/reader round trip of labels, names, per-class counts and the label
   attributes; the writer's refusals; a damaged file (labels out of range, counts that disagree,
   a missing dataset, a document longer than max_length, changed attributes) refused on open with
   the file and dataset named; text corpora unaffected. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include "corpus.h"
#include "fsutil.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define VOCAB 50257
#define N_DOCS 200
#define MAXLEN 9

static char dir[1024];
static const char *const names[] = {"neg", "neutral", "pos",
                                    "\xc3\xa7"
                                    "a"};

static const char *path_in(const char *name) {
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* document d: label (d * 7) % 4 except every 5th is class 0; 1 + d % MAXLEN ids; validation
   when d % 3 == 0 */
static int32_t label_of(int d) {
    return d % 5 == 0 ? 0 : (d * 7) % 4;
}
static int len_of(int d) {
    return 1 + d % MAXLEN;
}
static int32_t id_of(int d, int i) {
    return (d * 131 + i * 17) % VOCAB;
}

static rt_corpus_label_meta lmeta(void) {
    rt_corpus_label_meta l = {4, names, "sorted", MAXLEN, "left"};
    return l;
}

static rt_status write_labeled(const char *path, size_t chunk) {
    rt_corpus_label_meta l = lmeta();
    rt_corpus_meta m = {"labeled", VOCAB,  VOCAB - 1, SHA, "in.jsonl", 5,
                        0.3,       "test", chunk,     &l,  NULL};
    rt_corpus_writer *w = NULL;
    unlink(path);
    RT_CALL(rt_corpus_writer_create(&w, path, 1, &m));
    for (int d = 0; d < N_DOCS; d++) {
        uint16_t buf[MAXLEN];
        for (int i = 0; i < len_of(d); i++) buf[i] = (uint16_t)id_of(d, i);
        rt_status st =
            rt_corpus_writer_add_labeled(w, d % 3 == 0 ? RT_SPLIT_VALIDATION : RT_SPLIT_TRAIN,
                                         (uint64_t)d, label_of(d), buf, (size_t)len_of(d));
        if (st != RT_OK) {
            rt_corpus_writer_abort(&w);
            return st;
        }
    }
    rt_corpus_counts counts = {1, 2, 3, 17, 4, 0, 0};
    return rt_corpus_writer_commit(&w, &counts);
}

START_TEST(test_labeled_round_trip) {
    const char *p = path_in("lab.h5");
    ck_assert_msg(write_labeled(p, 16) == RT_OK, "%s", rt_error_message());
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK, "%s", rt_error_message());
    const rt_corpus_info *in = rt_corpus_get_info(c);
    ck_assert_str_eq(in->kind, "labeled");
    ck_assert_int_eq(in->num_labels, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(in->label_names[i], names[i]);
        ck_assert_str_eq(rt_corpus_label_name(c, i), names[i]);
    }
    ck_assert(rt_corpus_label_name(c, 4) == NULL && rt_corpus_label_name(c, -1) == NULL);
    ck_assert_str_eq(in->label_order, "sorted");
    ck_assert_str_eq(in->truncation, "left");
    ck_assert_int_eq(in->max_length, MAXLEN);
    ck_assert_int_eq((int)in->n_truncated, 17);
    ck_assert_int_eq((int)in->n_skipped_bad_label, 4);
    ck_assert_int_eq((int)in->n_skipped_empty, 1);
    uint64_t want[2][4] = {{0}};
    for (int d = 0; d < N_DOCS; d++) want[d % 3 == 0][label_of(d)]++;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 4; i++) ck_assert_int_eq(in->label_counts[k][i], want[k][i]);
    for (int k = 0; k < 2; k++) {
        uint64_t e = 0;
        int32_t lab[N_DOCS], ids[MAXLEN], one;
        size_t nd = rt_corpus_n_docs(c, k), n;
        ck_assert_msg(rt_corpus_read_labels(c, k, 0, nd, lab) == RT_OK, "%s", rt_error_message());
        for (int d = 0; d < N_DOCS; d++) {
            if ((d % 3 == 0) != k) continue;
            ck_assert_int_eq(lab[e], label_of(d));
            ck_assert_msg(rt_corpus_read_example(c, k, e, ids, MAXLEN, &n, &one) == RT_OK, "%s",
                          rt_error_message());
            ck_assert_int_eq(one, label_of(d));
            ck_assert_int_eq((int)n, len_of(d));
            for (int i = 0; i < len_of(d); i++) ck_assert_int_eq(ids[i], id_of(d, i));
            e++;
        }
        ck_assert_int_eq(e, nd);
        ck_assert_int_eq(rt_corpus_read_labels(c, k, nd, 1, lab), RT_ERR_ARG);
    }
    int32_t ids[2], one;
    size_t n;
    /* train example 1 is d = 2, of 3 ids: more than 2 */
    ck_assert_int_eq(rt_corpus_read_example(c, RT_SPLIT_TRAIN, 1, ids, 2, &n, &one), RT_ERR_ARG);
    rt_error_clear();
    /* the head of it: its first 2 ids, its full length and its label */
    ck_assert_msg(rt_corpus_read_example_head(c, RT_SPLIT_TRAIN, 1, ids, 2, &n, &one) == RT_OK,
                  "%s", rt_error_message());
    ck_assert_int_eq((int)n, len_of(2));
    ck_assert_int_eq(one, label_of(2));
    for (int i = 0; i < 2; i++) ck_assert_int_eq(ids[i], id_of(2, i));
    rt_corpus_close(&c);
}
END_TEST

START_TEST(test_writer_refusals) {
    const char *p = path_in("refuse.h5");
    unlink(p);
    rt_corpus_label_meta l = lmeta();
    rt_corpus_meta m = {"labeled", VOCAB, VOCAB - 1, SHA, "x", 5, 0.3, "test", 0, NULL, NULL};
    rt_corpus_writer *w = NULL;
    ck_assert_int_eq(rt_corpus_writer_create(&w, p, 1, &m), RT_ERR_ARG); /* no label meta */
    ck_assert_msg(strstr(rt_error_message(), "label metadata missing"), "%s", rt_error_message());
    m.kind = "pairs";
    ck_assert_int_eq(rt_corpus_writer_create(&w, p, 1, &m), RT_ERR_ARG);
    m.kind = "labeled";
    m.labels = &l;
    l.truncation = "middle";
    ck_assert_int_eq(rt_corpus_writer_create(&w, p, 1, &m), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "truncation 'middle'"), "%s", rt_error_message());
    ck_assert(!rt_fs_exists(p));
    l = lmeta();
    ck_assert(rt_corpus_writer_create(&w, p, 1, &m) == RT_OK);
    uint16_t ids[MAXLEN + 1] = {1, 2, 3};
    ck_assert_int_eq(rt_corpus_writer_add(w, RT_SPLIT_TRAIN, 0, ids, 3), RT_ERR_ARG);
    ck_assert_int_eq(rt_corpus_writer_add_labeled(w, RT_SPLIT_TRAIN, 0, 4, ids, 3), RT_ERR_ARG);
    ck_assert_int_eq(rt_corpus_writer_add_labeled(w, RT_SPLIT_TRAIN, 0, -1, ids, 3), RT_ERR_ARG);
    ck_assert_int_eq(rt_corpus_writer_add_labeled(w, RT_SPLIT_TRAIN, 0, 1, ids, MAXLEN + 1),
                     RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "more than max_length 9"), "%s", rt_error_message());
    rt_corpus_writer_abort(&w);
    m.kind = "text";
    m.labels = NULL;
    ck_assert(rt_corpus_writer_create(&w, p, 1, &m) == RT_OK);
    ck_assert_int_eq(rt_corpus_writer_add_labeled(w, RT_SPLIT_TRAIN, 0, 0, ids, 3), RT_ERR_ARG);
    ck_assert(rt_corpus_writer_add(w, RT_SPLIT_TRAIN, 0, ids, 3) == RT_OK);
    ck_assert(rt_corpus_writer_commit(&w, NULL) == RT_OK);
    rt_corpus *c = NULL;
    ck_assert(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK);
    const rt_corpus_info *in = rt_corpus_get_info(c);
    ck_assert_int_eq(in->num_labels, 0);
    ck_assert(in->label_names == NULL && in->label_counts[0] == NULL);
    int32_t lab;
    ck_assert_int_eq(rt_corpus_read_labels(c, RT_SPLIT_TRAIN, 0, 1, &lab), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "a text corpus has no labels"), "%s",
                  rt_error_message());
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
    ck_assert(write_labeled(good, 16) == RT_OK);
    char p[1200];
    snprintf(p, sizeof p, "%s", path_in("bad.h5"));

    copy_file(good, p);
    int32_t v = 4;
    write_elem(p, "/train/labels", 5, H5T_NATIVE_INT32, &v);
    expect_open_error(p, RT_ERR_FORMAT, "/train/labels[5] is 4, outside [0, num_labels = 4)");

    copy_file(good, p);
    v = (label_of(1) + 1) % 4; /* train document 0 is d = 1: another valid label */
    write_elem(p, "/train/labels", 0, H5T_NATIVE_INT32, &v);
    expect_open_error(p, RT_ERR_FORMAT, "/train/label_counts[");

    copy_file(good, p);
    int64_t big = 1000;
    write_elem(p, "/validation/label_counts", 2, H5T_NATIVE_INT64, &big);
    expect_open_error(p, RT_ERR_FORMAT, "/validation/label_counts[2] is 1000");

    copy_file(good, p);
    uint64_t off = 40; /* document 0 of train: off[1] - off[0] > max_length */
    write_elem(p, "/train/doc_offsets", 1, H5T_NATIVE_UINT64, &off);
    expect_open_error(p, RT_ERR_FORMAT, "/train/doc_offsets gives document 0");

    copy_file(good, p);
    hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(H5Ldelete(f, "/validation/labels", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    expect_open_error(p, RT_ERR_FORMAT, "missing dataset /validation/labels");

    copy_file(good, p);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "max_length", H5P_DEFAULT);
    int32_t ml = MAXLEN + 1; /* consistent with the data, but not with metadata_xxh3 */
    ck_assert(H5Awrite(a, H5T_NATIVE_INT32, &ml) >= 0);
    H5Aclose(a), H5Fclose(f);
    expect_open_error(p, RT_ERR_FORMAT, "do not match their checksum 'metadata_xxh3'");

    copy_file(good, p);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    a = H5Aopen(f, "num_labels", H5P_DEFAULT);
    int32_t k = 3;
    ck_assert(H5Awrite(a, H5T_NATIVE_INT32, &k) >= 0);
    H5Aclose(a), H5Fclose(f);
    expect_open_error(p, RT_ERR_FORMAT, "attribute 'label_names' is not an array of num_labels");

    copy_file(good, p);
    f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert(H5Adelete(f, "truncation") >= 0);
    H5Fclose(f);
    expect_open_error(p, RT_ERR_FORMAT, "missing attribute 'truncation'");
}
END_TEST

/* Two writes of the same labeled corpus are byte-identical (no time stamps, no slack). */
START_TEST(test_deterministic_bytes) {
    ck_assert(write_labeled(path_in("d1.h5"), 0) == RT_OK);
    ck_assert(write_labeled(path_in("d2.h5"), 0) == RT_OK);
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    ck_assert(rt_fs_read_file(path_in("d1.h5"), &a, &na) == RT_OK);
    ck_assert(rt_fs_read_file(path_in("d2.h5"), &b, &nb) == RT_OK);
    ck_assert(na == nb && !memcmp(a, b, na));
    free(a);
    free(b);
}
END_TEST

/* Text corpora of the older formats still open as kind text, with no labels. */
START_TEST(test_old_fixture_opens) {
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, RT_FIXTURES "/corpus/v0.h5", MPI_COMM_NULL) == RT_OK, "%s",
                  rt_error_message());
    ck_assert_str_eq(rt_corpus_get_info(c)->kind, "text");
    ck_assert_int_eq(rt_corpus_get_info(c)->num_labels, 0);
    ck_assert(rt_corpus_label_name(c, 0) == NULL);
    rt_corpus_close(&c);
}
END_TEST

int main(void) {
    snprintf(dir, sizeof dir, "%s/corpus_labels_tests", RT_BUILD_DIR);
    rt_fs_mkdir_p(dir);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the tests' own HDF5 calls print nothing */
    Suite *s = suite_create("corpus_labels");
    TCase *tc = tcase_create("serial");
    tcase_add_test(tc, test_labeled_round_trip);
    tcase_add_test(tc, test_writer_refusals);
    tcase_add_test(tc, test_damaged_files_refused);
    tcase_add_test(tc, test_deterministic_bytes);
    tcase_add_test(tc, test_old_fixture_opens);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
