/* The HDF5 corpus writer and reader (io/corpus.h) in one process that never initialises MPI:
   round trip across chunk boundaries, uint16/uint32 ids, refusal to overwrite, temp-file hygiene,
   validation errors that name the file and attribute, the model check, and fletcher32 catching a
   flipped byte. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include "corpus.h"
#include "fsutil.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char dir[1024];

static const char *path_in(const char *name) {
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int temp_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static rt_corpus_meta meta(int vocab) {
    rt_corpus_meta m = {
        "text", vocab, vocab - 1, SHA, "a.txt\nb.txt", 77, 0.25, "ringtune prep test",
        7,      NULL,  NULL};
    return m;
}

/* Writes n_docs documents; document d has 1 + (d * 5) % 17 ids, id = (d * 1000 + i) % vocab, the
   last one eos; documents with d % 4 == 1 go to validation. */
static rt_status write_corpus(const char *path, int vocab, int n_docs, int overwrite) {
    rt_corpus_meta m = meta(vocab);
    rt_corpus_writer *w = NULL;
    RT_CALL(rt_corpus_writer_create(&w, path, overwrite, &m));
    int tb = rt_corpus_writer_token_bytes(w);
    for (int d = 0; d < n_docs; d++) {
        int n = 1 + (d * 5) % 17;
        unsigned char buf[4 * 32];
        for (int i = 0; i < n; i++) {
            uint32_t id = i == n - 1 ? (uint32_t)(vocab - 1) : (uint32_t)((d * 1000 + i) % vocab);
            if (tb == 2) {
                uint16_t v = (uint16_t)id;
                memcpy(buf + 2 * i, &v, 2);
            } else {
                memcpy(buf + 4 * i, &id, 4);
            }
        }
        rt_status st = rt_corpus_writer_add(w, d % 4 == 1 ? RT_SPLIT_VALIDATION : RT_SPLIT_TRAIN,
                                            (uint64_t)d, buf, (size_t)n);
        if (st != RT_OK) {
            rt_corpus_writer_abort(&w);
            return st;
        }
    }
    rt_corpus_counts counts = {3, 2, 1, 0, 0, 0, 0};
    return rt_corpus_writer_commit(&w, &counts);
}

static void check_contents(const char *path, int vocab, int n_docs) {
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, path, MPI_COMM_NULL) == RT_OK, "%s", rt_error_message());
    const rt_corpus_info *in = rt_corpus_get_info(c);
    ck_assert_int_eq(in->vocab_size, vocab);
    ck_assert_int_eq(rt_corpus_vocab_size(c), vocab);
    ck_assert_int_eq(rt_corpus_eos_id(c), vocab - 1);
    ck_assert_int_eq(in->token_bytes, vocab <= 65536 ? 2 : 4);
    ck_assert_str_eq(rt_corpus_tokenizer_sha256(c), SHA);
    ck_assert_str_eq(in->sources, "a.txt\nb.txt");
    ck_assert_str_eq(in->command_line, "ringtune prep test");
    ck_assert_str_eq(in->kind, "text");
    ck_assert_int_eq((int)in->split_seed, 77);
    ck_assert(in->validation_ratio == 0.25);
    ck_assert_int_eq((int)in->n_documents, n_docs);
    ck_assert_int_eq((int)in->n_skipped_empty, 3);
    ck_assert_int_eq((int)in->n_skipped_bad_json, 2);
    ck_assert_int_eq((int)in->n_replaced_utf8, 1);
    for (int k = 0; k < 2; k++) {
        uint64_t pos = 0, nd = 0;
        int32_t buf[32];
        for (int d = 0; d < n_docs; d++) {
            if ((d % 4 == 1) != k) continue;
            int n = 1 + (d * 5) % 17;
            uint64_t off[2], idx;
            ck_assert(rt_corpus_read_doc_offsets(c, k, nd, 2, off) == RT_OK);
            ck_assert(rt_corpus_read_doc_index(c, k, nd, 1, &idx) == RT_OK);
            ck_assert_int_eq(off[0], pos);
            ck_assert_int_eq(off[1], pos + (uint64_t)n);
            ck_assert_int_eq(idx, d);
            ck_assert_msg(rt_corpus_read_tokens(c, k, pos, (size_t)n, buf) == RT_OK, "%s",
                          rt_error_message());
            for (int i = 0; i < n; i++)
                ck_assert_int_eq(buf[i], i == n - 1 ? vocab - 1 : (d * 1000 + i) % vocab);
            pos += (uint64_t)n;
            nd++;
        }
        ck_assert_int_eq(rt_corpus_n_tokens(c, k), pos);
        ck_assert_int_eq(rt_corpus_n_docs(c, k), nd);
    }
    /* one read spanning many chunks */
    uint64_t nt = rt_corpus_n_tokens(c, RT_SPLIT_TRAIN);
    int32_t *all = malloc(4 * nt);
    ck_assert(rt_corpus_read_tokens(c, RT_SPLIT_TRAIN, 0, nt, all) == RT_OK);
    free(all);
    rt_corpus_close(&c);
    ck_assert(c == NULL);
}

START_TEST(test_round_trip_uint16) {
    const char *p = path_in("u16.h5");
    unlink(p);
    ck_assert_msg(write_corpus(p, 50257, 300, 0) == RT_OK, "%s", rt_error_message());
    check_contents(p, 50257, 300);
    ck_assert_int_eq(temp_files(), 0);
}
END_TEST

START_TEST(test_round_trip_uint32) {
    const char *p = path_in("u32.h5");
    unlink(p);
    ck_assert_msg(write_corpus(p, 70000, 100, 0) == RT_OK, "%s", rt_error_message());
    check_contents(p, 70000, 100);
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/validation/tokens", H5P_DEFAULT), t = H5Dget_type(d);
    ck_assert(H5Tequal(t, H5T_STD_U32LE) > 0);
    H5Tclose(t), H5Dclose(d), H5Fclose(f);
}
END_TEST

START_TEST(test_empty_splits) {
    const char *p = path_in("empty.h5");
    unlink(p);
    ck_assert_msg(write_corpus(p, 50257, 0, 0) == RT_OK, "%s", rt_error_message());
    rt_corpus *c = NULL;
    ck_assert_msg(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK, "%s", rt_error_message());
    ck_assert_int_eq(rt_corpus_n_tokens(c, RT_SPLIT_TRAIN), 0);
    ck_assert_int_eq(rt_corpus_n_docs(c, RT_SPLIT_VALIDATION), 0);
    int32_t x;
    ck_assert_int_eq(rt_corpus_read_tokens(c, RT_SPLIT_TRAIN, 0, 1, &x), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "/train/tokens[0, 1) is outside its 0 entries"), "%s",
                  rt_error_message());
    rt_corpus_close(&c);
}
END_TEST

START_TEST(test_refuses_existing_and_abort_cleans_up) {
    const char *p = path_in("exists.h5");
    FILE *f = fopen(p, "wb");
    fputs("keep me", f);
    fclose(f);
    rt_corpus_meta m = meta(50257);
    rt_corpus_writer *w = NULL;
    ck_assert_int_eq(rt_corpus_writer_create(&w, p, 0, &m), RT_ERR_IO);
    ck_assert_msg(strstr(rt_error_message(), "exists.h5 exists; pass --overwrite"), "%s",
                  rt_error_message());
    ck_assert(w == NULL);
    /* overwrite, but abort: the old file stays, the temp file goes */
    ck_assert(rt_corpus_writer_create(&w, p, 1, &m) == RT_OK);
    uint16_t ids[3] = {1, 2, 50256};
    ck_assert(rt_corpus_writer_add(w, RT_SPLIT_TRAIN, 0, ids, 3) == RT_OK);
    ck_assert_int_eq(temp_files(), 1);
    rt_corpus_writer_abort(&w);
    ck_assert(w == NULL);
    ck_assert_int_eq(temp_files(), 0);
    char *b = NULL;
    size_t n = 0;
    ck_assert(rt_fs_read_file(p, &b, &n) == RT_OK);
    ck_assert_str_eq(b, "keep me");
    free(b);
    /* a file that appears during the run is not clobbered without overwrite */
    const char *q = path_in("race.h5");
    unlink(q);
    ck_assert(rt_corpus_writer_create(&w, q, 0, &m) == RT_OK);
    f = fopen(q, "wb");
    fputs("someone else's", f);
    fclose(f);
    ck_assert_int_eq(rt_corpus_writer_commit(&w, NULL), RT_ERR_IO);
    ck_assert(w == NULL);
    ck_assert_int_eq(temp_files(), 0);
    ck_assert(rt_fs_read_file(q, &b, &n) == RT_OK);
    ck_assert_str_eq(b, "someone else's");
    free(b);
    /* overwrite replaces */
    ck_assert(write_corpus(p, 50257, 10, 1) == RT_OK);
    check_contents(p, 50257, 10);
}
END_TEST

START_TEST(test_writer_rejects_bad_meta) {
    rt_corpus_writer *w = NULL;
    rt_corpus_meta m = meta(50257);
    m.eos_id = 50257;
    ck_assert_int_eq(rt_corpus_writer_create(&w, path_in("x.h5"), 1, &m), RT_ERR_ARG);
    m = meta(50257);
    m.tokenizer_sha256 = "abc";
    ck_assert_int_eq(rt_corpus_writer_create(&w, path_in("x.h5"), 1, &m), RT_ERR_ARG);
    m = meta(50257);
    m.kind = "pairs"; /* without its pair metadata (tests/unit/test_corpus_pairs.c) */
    ck_assert_int_eq(rt_corpus_writer_create(&w, path_in("x.h5"), 1, &m), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "pair metadata missing"), "%s", rt_error_message());
    m.kind = "parallel";
    ck_assert_int_eq(rt_corpus_writer_create(&w, path_in("x.h5"), 1, &m), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "kind 'parallel' is not text, labeled or pairs"), "%s",
                  rt_error_message());
    m = meta(50257);
    ck_assert_int_eq(rt_corpus_writer_create(&w, path_in("no/such/dir/x.h5"), 1, &m), RT_ERR_HDF5);
    ck_assert_msg(strstr(rt_error_message(), "no/such/dir/x.h5.tmp."), "%s", rt_error_message());
    ck_assert(w == NULL);
}
END_TEST

/* An HDF5 file with a given set of root attributes, for the reader's checks. */
static void make_h5(const char *p, const char *format, int version) {
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), s = H5Screate(H5S_SCALAR);
    if (format) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(format));
        hid_t a = H5Acreate2(f, "format", t, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, t, format);
        H5Aclose(a), H5Tclose(t);
    }
    if (version) {
        hid_t a = H5Acreate2(f, "format_version", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(a, H5T_NATIVE_INT, &version);
        H5Aclose(a);
    }
    H5Sclose(s), H5Fclose(f);
}

static void expect_open_error(const char *p, rt_status want, const char *needle) {
    rt_corpus *c = NULL;
    ck_assert_int_eq(rt_corpus_open(&c, p, MPI_COMM_NULL), want);
    ck_assert(c == NULL);
    ck_assert_msg(strstr(rt_error_message(), needle), "wanted '%s' in: %s", needle,
                  rt_error_message());
}

START_TEST(test_reader_validation_messages) {
    expect_open_error(path_in("nope.h5"), RT_ERR_IO, "nope.h5: No such file");
    FILE *f = fopen(path_in("text.h5"), "wb");
    fputs("hello", f);
    fclose(f);
    expect_open_error(path_in("text.h5"), RT_ERR_FORMAT, "text.h5: not an HDF5 file");
    make_h5(path_in("nofmt.h5"), NULL, 0);
    expect_open_error(path_in("nofmt.h5"), RT_ERR_FORMAT, "nofmt.h5: missing attribute 'format'");
    make_h5(path_in("other.h5"), "something-else", 1);
    expect_open_error(path_in("other.h5"), RT_ERR_FORMAT,
                      "other.h5: attribute 'format' is 'something-else', expected "
                      "'ringtune-corpus'");
    make_h5(path_in("v2.h5"), "ringtune-corpus", 2);
    expect_open_error(path_in("v2.h5"), RT_ERR_FORMAT, "v2.h5: attribute 'format_version' is 2");
    make_h5(path_in("v1.h5"), "ringtune-corpus", 1); /* fixed-length string, then nothing */
    expect_open_error(path_in("v1.h5"), RT_ERR_FORMAT, "v1.h5: missing attribute 'kind'");
}
END_TEST

START_TEST(test_check_model) {
    const char *p = path_in("model.h5");
    unlink(p);
    ck_assert(write_corpus(p, 50257, 5, 1) == RT_OK);
    rt_corpus *c = NULL;
    ck_assert(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK);
    ck_assert(rt_corpus_check_model(c, 50257, SHA) == RT_OK);
    ck_assert(rt_corpus_check_model(c, 50304, NULL) == RT_OK); /* padded vocabulary */
    ck_assert_int_eq(rt_corpus_check_model(c, 1000, NULL), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "vocab_size 50257") &&
                      strstr(rt_error_message(), "only 1000"),
                  "%s", rt_error_message());
    const char *other = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    ck_assert_int_eq(rt_corpus_check_model(c, 50257, other), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), SHA) && strstr(rt_error_message(), other) &&
                      strstr(rt_error_message(), "model.h5"),
                  "%s", rt_error_message());
    rt_corpus_close(&c);
}
END_TEST

START_TEST(test_checksum_catches_corruption) {
    const char *p = path_in("corrupt.h5");
    unlink(p);
    ck_assert(write_corpus(p, 50257, 50, 1) == RT_OK);
    /* find chunk 0 of /train/tokens and flip one of its bytes */
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/train/tokens", H5P_DEFAULT), s = H5Dget_space(d);
    hsize_t off[1];
    unsigned mask;
    haddr_t addr;
    hsize_t size;
    ck_assert(H5Dget_chunk_info(d, s, 0, off, &mask, &addr, &size) >= 0);
    H5Sclose(s), H5Dclose(d), H5Fclose(f);
    int fd = open(p, O_RDWR);
    unsigned char b;
    ck_assert(pread(fd, &b, 1, (off_t)addr + 3) == 1);
    b ^= 0x40;
    ck_assert(pwrite(fd, &b, 1, (off_t)addr + 3) == 1);
    close(fd);
    rt_corpus *c = NULL;
    ck_assert(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK);
    int32_t ids[8];
    ck_assert_int_eq(rt_corpus_read_tokens(c, RT_SPLIT_TRAIN, 0, 8, ids), RT_ERR_HDF5);
    ck_assert_msg(strstr(rt_error_message(), "corrupt.h5: checksum failure (fletcher32) in "
                                             "dataset /train/tokens, elements [0, 8)"),
                  "%s", rt_error_message());
    rt_corpus_close(&c);
}
END_TEST

int main(void) {
    snprintf(dir, sizeof dir, "%s/corpus_tests", RT_BUILD_DIR);
    rt_fs_mkdir_p(dir);
    Suite *s = suite_create("corpus");
    TCase *tc = tcase_create("serial");
    tcase_add_test(tc, test_round_trip_uint16);
    tcase_add_test(tc, test_round_trip_uint32);
    tcase_add_test(tc, test_empty_splits);
    tcase_add_test(tc, test_refuses_existing_and_abort_cleans_up);
    tcase_add_test(tc, test_writer_rejects_bad_meta);
    tcase_add_test(tc, test_reader_validation_messages);
    tcase_add_test(tc, test_check_model);
    tcase_add_test(tc, test_checksum_catches_corruption);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
