/* The global sampler without MPI: permutations are bijections, rank slices are disjoint and cover
   the global batch for any rank count, the order does not depend on the rank count, and resuming
   from the consumed-sample count reproduces the rest of the sequence. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sampler.h"

START_TEST(test_permutation_is_bijection) {
    static const uint64_t sizes[] = {1, 2, 3, 5, 17, 64, 65, 1000, 4097};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        uint64_t n = sizes[si];
        for (uint64_t epoch = 0; epoch < 3; epoch++) {
            unsigned char *seen = calloc(n, 1);
            for (uint64_t i = 0; i < n; i++) {
                uint64_t v = rt_sampler_permute(n, 42, epoch, i);
                ck_assert_msg(v < n, "n=%llu: value %llu out of range", (unsigned long long)n,
                              (unsigned long long)v);
                ck_assert_msg(!seen[v], "n=%llu epoch %llu: %llu twice", (unsigned long long)n,
                              (unsigned long long)epoch, (unsigned long long)v);
                seen[v] = 1;
            }
            free(seen);
        }
    }
}
END_TEST

START_TEST(test_order_depends_on_seed_and_epoch) {
    uint64_t n = 1000;
    int same_epoch = 0, same_seed = 0, identity = 0;
    for (uint64_t i = 0; i < n; i++) {
        same_epoch += rt_sampler_permute(n, 1, 0, i) == rt_sampler_permute(n, 1, 1, i);
        same_seed += rt_sampler_permute(n, 1, 0, i) == rt_sampler_permute(n, 2, 0, i);
        identity += rt_sampler_permute(n, 1, 0, i) == i;
    }
    /* a random permutation agrees with another in ~1 place; allow a few */
    printf("sampler: fixed points between epochs %d, seeds %d, identity %d (of %llu)\n", same_epoch,
           same_seed, identity, (unsigned long long)n);
    ck_assert_int_lt(same_epoch, 10);
    ck_assert_int_lt(same_seed, 10);
    ck_assert_int_lt(identity, 10);
    /* pure function: the same arguments give the same value */
    ck_assert_uint_eq(rt_sampler_permute(n, 7, 3, 123), rt_sampler_permute(n, 7, 3, 123));
}
END_TEST

START_TEST(test_slices_cover_global_batch) {
    static const int batches[] = {1, 2, 3, 7, 8, 12, 13};
    rt_sampler s;
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        int G = batches[bi];
        rt_sampler_init(&s, 37, 99, G);
        for (uint64_t b = 0; b < 10; b++) {
            uint64_t ref[16];
            int nref = rt_sampler_batch(&s, b, 0, 1, ref);
            ck_assert_int_eq(nref, G);
            for (int p = 1; p <= 4; p++) {
                uint64_t got[16];
                int total = 0;
                for (int r = 0; r < p; r++) {
                    uint64_t part[16];
                    int start, count;
                    rt_sampler_slice(G, r, p, &start, &count);
                    ck_assert_int_eq(start, total); /* contiguous, in rank order, disjoint */
                    int n = rt_sampler_batch(&s, b, r, p, part);
                    ck_assert_int_eq(n, count);
                    ck_assert_int_le(count, (G + p - 1) / p);
                    ck_assert_int_ge(count, G / p);
                    memcpy(got + total, part, sizeof(uint64_t) * n);
                    total += n;
                }
                ck_assert_int_eq(total, G); /* union is the whole global batch ... */
                for (int i = 0; i < G; i++) /* ... and the same samples as with one rank */
                    ck_assert_uint_eq(got[i], ref[i]);
            }
        }
    }
}
END_TEST

START_TEST(test_epochs_cover_every_window) {
    rt_sampler s;
    uint64_t n = 50;
    rt_sampler_init(&s, n, 5, 8);
    for (uint64_t e = 0; e < 3; e++) {
        unsigned char seen[50] = {0};
        for (uint64_t k = e * n; k < (e + 1) * n; k++) {
            ck_assert_uint_eq(rt_sampler_epoch(&s, k), e);
            seen[rt_sampler_sample(&s, k)]++;
        }
        for (uint64_t i = 0; i < n; i++) ck_assert_int_eq(seen[i], 1);
    }
}
END_TEST

START_TEST(test_resume_reproduces_sequence) {
    /* An uninterrupted run at p=2 versus a run that stops after 7 steps and resumes at p=3 from
       the consumed-sample count alone: the concatenated global batches are the same. */
    rt_sampler s;
    int G = 6;
    rt_sampler_init(&s, 23, 2024, G);
    uint64_t full[40 * 6], resumed[40 * 6];
    int nf = 0, nr = 0;
    for (uint64_t b = 0; b < 40; b++)
        for (int r = 0; r < 2; r++) nf += rt_sampler_batch(&s, b, r, 2, full + nf);
    uint64_t consumed = 0;
    for (uint64_t b = 0; b < 7; b++) {
        for (int r = 0; r < 2; r++) nr += rt_sampler_batch(&s, b, r, 2, resumed + nr);
        consumed += (uint64_t)G;
    }
    rt_sampler s2; /* a fresh process: only (n, seed, G) and the position survive */
    rt_sampler_init(&s2, 23, 2024, G);
    for (uint64_t b = consumed / G; b < 40; b++)
        for (int r = 0; r < 3; r++) nr += rt_sampler_batch(&s2, b, r, 3, resumed + nr);
    ck_assert_int_eq(nf, nr);
    for (int i = 0; i < nf; i++) ck_assert_uint_eq(full[i], resumed[i]);
}
END_TEST

START_TEST(test_windows) {
    ck_assert_uint_eq(rt_sampler_windows(0, 4), 0);
    ck_assert_uint_eq(rt_sampler_windows(4, 4), 0); /* a window needs T+1 tokens */
    ck_assert_uint_eq(rt_sampler_windows(5, 4), 1);
    ck_assert_uint_eq(rt_sampler_windows(9, 4), 2);
    ck_assert_uint_eq(rt_sampler_windows(8, 4), 1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_permutation_is_bijection);
    tcase_add_test(tc, test_order_depends_on_seed_and_epoch);
    tcase_add_test(tc, test_slices_cover_global_batch);
    tcase_add_test(tc, test_epochs_cover_every_window);
    tcase_add_test(tc, test_resume_reproduces_sequence);
    tcase_add_test(tc, test_windows);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
