/* The on-disk feature cache (io/fcache.h): parts written by 3 "ranks" (one of them empty for a
   split) read back row by row in any order; a cache is reported stale, with the reason, for a
   different key, a damaged part (found only by the rank whose share of the parts it is), a
   missing part; writes out of order and unfinished parts are refused; removal refuses a
   directory holding another file and keeps it. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fcache.h"

enum { C = 3, P = 3 };
static const uint64_t N[2] = {5, 2};
static const rt_fcache_key KEY = {11, 22, 33};
static char dir[256];

static float value(int s, uint64_t row, int col) {
    return (s ? -1.0f : 1.0f) * (float)(row * 100 + (uint64_t)col) + 0.25f;
}

/* Part k holds rows [k n / P, (k + 1) n / P) of each split: validation's part 0 is empty. */
static void write_parts(const rt_fcache_key *key) {
    for (int k = 0; k < P; k++) {
        uint64_t lo[2], hi[2];
        for (int s = 0; s < 2; s++) lo[s] = k * N[s] / P, hi[s] = (k + 1) * N[s] / P;
        rt_fcache_part *w = NULL;
        ck_assert_int_eq(rt_fcache_part_create(dir, k, P, key, C, N, lo, hi, &w), RT_OK);
        for (int s = 0; s < 2; s++)
            for (uint64_t r = lo[s]; r < hi[s]; r++) {
                float row[C];
                for (int c = 0; c < C; c++) row[c] = value(s, r, c);
                ck_assert_int_eq(rt_fcache_part_write(w, s, r, 1, row), RT_OK);
            }
        ck_assert_int_eq(rt_fcache_part_close(&w), RT_OK);
        ck_assert_ptr_null(w);
    }
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/rt_fcache_XXXXXX");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void teardown(void) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

static rt_fcache *open_ok(int mod, int rem) {
    rt_fcache *c = NULL;
    char why[512];
    ck_assert_int_eq(rt_fcache_open(dir, &KEY, C, N, mod, rem, &c, why, sizeof why), RT_OK);
    ck_assert_msg(c != NULL, "not opened: %s", why);
    return c;
}

/* The reason a cache is not used ("" when it is). */
static void open_stale(const rt_fcache_key *key, int mod, int rem, const char *expect) {
    rt_fcache *c = NULL;
    char why[512];
    ck_assert_int_eq(rt_fcache_open(dir, key, C, N, mod, rem, &c, why, sizeof why), RT_OK);
    ck_assert_msg(c == NULL, "stale cache opened (expected: %s)", expect);
    ck_assert_msg(strstr(why, expect) != NULL, "reason '%s', expected '%s'", why, expect);
    printf("[fcache] stale as expected: %s\n", why);
}

START_TEST(test_rows_any_order) {
    write_parts(&KEY);
    rt_fcache *c = open_ok(1, 0);
    int32_t rows[5] = {4, 0, 2, 1, 3}, vrows[3] = {1, 0, 1};
    float got[5 * C], vgot[3 * C];
    ck_assert_int_eq(rt_fcache_read(c, 0, rows, 5, got), RT_OK);
    ck_assert_int_eq(rt_fcache_read(c, 1, vrows, 3, vgot), RT_OK);
    for (int r = 0; r < 5; r++)
        for (int k = 0; k < C; k++)
            ck_assert_float_eq(got[r * C + k], value(0, (uint64_t)rows[r], k));
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < C; k++)
            ck_assert_float_eq(vgot[r * C + k], value(1, (uint64_t)vrows[r], k));
    int32_t bad = 5;
    ck_assert_int_eq(rt_fcache_read(c, 0, &bad, 1, got), RT_ERR_ARG);
    printf("[fcache] %s\n", rt_error_message());
    rt_fcache_close(&c);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_key_and_sizes) {
    write_parts(&KEY);
    rt_fcache_key k = KEY;
    k.model++;
    open_stale(&k, 1, 0, "frozen weights differ");
    k = KEY, k.corpus++;
    open_stale(&k, 1, 0, "corpus differs");
    k = KEY, k.pooling++;
    open_stale(&k, 1, 0, "pooling");
    rt_fcache *c = NULL;
    char why[512];
    const uint64_t other[2] = {6, 2};
    ck_assert_int_eq(rt_fcache_open(dir, &KEY, C, other, 1, 0, &c, why, sizeof why), RT_OK);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(why, "expected rows") != NULL, "%s", why);
    printf("[fcache] other split size: %s\n", why);
    char empty[300];
    snprintf(empty, sizeof empty, "%s/none", dir);
    ck_assert_int_eq(rt_fcache_open(empty, &KEY, C, N, 1, 0, &c, why, sizeof why), RT_OK);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(why, "holds no feature cache") != NULL, "%s", why);
}
END_TEST

/* One value of part 1's train rows changed behind the cache's back. */
static void damage_part1(void) {
    char path[400];
    snprintf(path, sizeof path, "%s/part-00001-of-00003.h5", dir);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT),
          d = H5Dopen2(f, "train/features", H5P_DEFAULT);
    ck_assert(f >= 0 && d >= 0);
    float rows[2 * C];
    ck_assert(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) >= 0);
    rows[4] += 1.0f;
    ck_assert(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) >= 0);
    H5Dclose(d);
    H5Fclose(f);
}

START_TEST(test_damage_found_by_its_checker) {
    write_parts(&KEY);
    damage_part1();
    rt_fcache *c = open_ok(P, 0); /* rank 0 of 3 checks part 0 only */
    rt_fcache_close(&c);
    c = open_ok(P, 2);
    rt_fcache_close(&c);
    open_stale(&KEY, P, 1, "part-00001-of-00003.h5: /train/features fails its checksum");
    open_stale(&KEY, 1, 0, "fails its checksum");
}
END_TEST

START_TEST(test_missing_part) {
    write_parts(&KEY);
    char path[400];
    snprintf(path, sizeof path, "%s/part-00002-of-00003.h5", dir);
    ck_assert_int_eq(unlink(path), 0);
    open_stale(&KEY, 0, 0, "part-00002-of-00003.h5: No such file");
}
END_TEST

START_TEST(test_writes_checked) {
    uint64_t lo[2] = {0, 0}, hi[2] = {5, 2};
    rt_fcache_part *w = NULL;
    ck_assert_int_eq(rt_fcache_part_create(dir, 0, 1, &KEY, C, N, lo, hi, &w), RT_OK);
    float rows[5 * C] = {0};
    ck_assert_int_eq(rt_fcache_part_write(w, 0, 1, 1, rows), RT_ERR_ARG); /* row 0 comes first */
    printf("[fcache] %s\n", rt_error_message());
    ck_assert_int_eq(rt_fcache_part_write(w, 0, 0, 6, rows), RT_ERR_ARG); /* past the range */
    ck_assert_int_eq(rt_fcache_part_write(w, 0, 0, 5, rows), RT_OK);
    ck_assert_int_eq(rt_fcache_part_close(&w), RT_ERR_ARG); /* no validation rows written */
    printf("[fcache] %s\n", rt_error_message());
    ck_assert_ptr_null(w);
    open_stale(&KEY, 1, 0, "no checksum");
}
END_TEST

START_TEST(test_remove_only_ours) {
    write_parts(&KEY);
    char path[400];
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("mine\n", f);
    fclose(f);
    ck_assert_int_eq(rt_fcache_remove(dir), RT_ERR_IO);
    ck_assert_msg(strstr(rt_error_message(), "holds notes.txt, not a feature cache file") != NULL,
                  "%s", rt_error_message());
    ck_assert_int_eq(access(path, F_OK), 0);
    rt_fcache *c = open_ok(1, 0); /* nothing of the cache was removed either */
    rt_fcache_close(&c);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rt_fcache_remove(dir), RT_OK);
    ck_assert_int_ne(access(dir, F_OK), 0);
    ck_assert_int_eq(rt_fcache_remove(dir), RT_OK); /* absent */
    ck_assert_int_eq(mkdir(dir, 0700), 0);          /* for teardown */
}
END_TEST

int main(void) {
    Suite *s = suite_create("fcache");
    TCase *tc = tcase_create("fcache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_rows_any_order);
    tcase_add_test(tc, test_key_and_sizes);
    tcase_add_test(tc, test_damage_found_by_its_checker);
    tcase_add_test(tc, test_missing_part);
    tcase_add_test(tc, test_writes_checked);
    tcase_add_test(tc, test_remove_only_ours);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
