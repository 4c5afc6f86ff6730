/* dist/pairs.c: the pair lengths of a split, the length-grouped training order (every epoch a
   permutation of the pairs; each global batch sorted by length; its make-up independent of the
   rank count, which the API does not even take), and padded encoder-decoder micro-batches
   (shift right with decoder_start, -100 labels, pad, mask). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "corpus.h"
#include "pairs.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define N 97
#define MAX_SRC 13
#define MAX_TGT 9

static int src_len(int d) {
    return 1 + (d * 7 + 3) % MAX_SRC;
}
static int tgt_len(int d) {
    return 1 + (d * 5 + 1) % MAX_TGT;
}
/* ids >= 2, the last one eos (1) */
static uint16_t src_id(int d, int i) {
    return i == src_len(d) - 1 ? 1 : (uint16_t)(2 + (d + i) % 90);
}
static uint16_t tgt_id(int d, int i) {
    return i == tgt_len(d) - 1 ? 1 : (uint16_t)(2 + (3 * d + i) % 90);
}

static char g_path[512];
static rt_corpus *g_c;
static rt_pair_source g_ps;

static void setup(void) {
    snprintf(g_path, sizeof g_path, "%s/test_pairs.h5", RT_BUILD_DIR);
    unlink(g_path);
    rt_corpus_pair_meta pm = {MAX_SRC, MAX_TGT, NULL};
    rt_corpus_meta m = {"pairs", 100, 1, SHA, "in.jsonl", 5, 0.0, "test", 0, NULL, &pm};
    rt_corpus_writer *w = NULL;
    ck_assert(rt_corpus_writer_create(&w, g_path, 1, &m) == RT_OK);
    for (int d = 0; d < N; d++) {
        uint16_t s[MAX_SRC], t[MAX_TGT];
        for (int i = 0; i < src_len(d); i++) s[i] = src_id(d, i);
        for (int i = 0; i < tgt_len(d); i++) t[i] = tgt_id(d, i);
        ck_assert(rt_corpus_writer_add_pair(w, RT_SPLIT_TRAIN, (uint64_t)d, s, (size_t)src_len(d),
                                            t, (size_t)tgt_len(d)) == RT_OK);
    }
    ck_assert(rt_corpus_writer_commit(&w, NULL) == RT_OK);
    ck_assert(rt_corpus_open(&g_c, g_path, MPI_COMM_NULL) == RT_OK);
    ck_assert(rt_pair_source_open(&g_ps, g_c, RT_SPLIT_TRAIN) == RT_OK);
}

static void teardown(void) {
    rt_pair_source_free(&g_ps);
    rt_corpus_close(&g_c);
}

START_TEST(test_lengths) {
    ck_assert_int_eq((int)g_ps.n, N);
    for (int d = 0; d < N; d++) {
        ck_assert_int_eq((int)g_ps.src_len[d], src_len(d));
        ck_assert_int_eq((int)g_ps.tgt_len[d], tgt_len(d));
    }
    ck_assert_int_eq(g_ps.max_src, MAX_SRC);
    ck_assert_int_eq(g_ps.max_tgt, MAX_TGT);
}
END_TEST

/* Over the samples of whole pools: each epoch's samples are the pairs once each (the pools tile
   the permutation), every global batch is sorted longest first, and grouped batches pad less. */
START_TEST(test_order) {
    enum { G = 6, POOL = 10 };
    rt_pair_order o, plain;
    ck_assert(rt_pair_order_init(&o, &g_ps, 11, G, POOL) == RT_OK);
    ck_assert(rt_pair_order_init(&plain, &g_ps, 11, G, 1) == RT_OK);
    uint64_t K = (uint64_t)G * POOL * 40; /* 40 pools, about 10 epochs */
    int *seen = calloc(N, sizeof(int));
    double pad_g = 0, pad_p = 0;
    uint64_t last_pool_end = K - K % ((uint64_t)G * POOL);
    for (uint64_t k = 0; k < K; k += G) {
        int ms = 0, mt = 0, ps = 0, pt = 0, ls = 0;
        for (int b = 0; b < G; b++) {
            uint64_t i = rt_pair_order_sample(&o, k + b), j = rt_pair_order_sample(&plain, k + b);
            ck_assert(i < N && j < N);
            seen[i]++;
            int l = src_len((int)i) + tgt_len((int)i);
            if (b) ck_assert_msg(l <= ls, "batch at %llu not sorted", (unsigned long long)k);
            ls = l;
            if (src_len((int)i) > ms) ms = src_len((int)i);
            if (tgt_len((int)i) > mt) mt = tgt_len((int)i);
            if (src_len((int)j) > ps) ps = src_len((int)j);
            if (tgt_len((int)j) > pt) pt = tgt_len((int)j);
        }
        pad_g += G * (ms + mt);
        pad_p += G * (ps + pt);
    }
    (void)last_pool_end;
    /* K samples over N pairs: each pair appears K / N times, give or take one (epoch edges
       fall inside pools) */
    for (int d = 0; d < N; d++)
        ck_assert_msg(abs(seen[d] - (int)(K / N)) <= 1, "pair %d seen %d times of %llu", d, seen[d],
                      (unsigned long long)(K / N));
    printf("pairs order: padded tokens grouped %.0f vs plain %.0f (%.2fx)\n", pad_g, pad_p,
           pad_p / pad_g);
    ck_assert(pad_g < 0.9 * pad_p);
    /* the same sample asked again (another pool cached in between) gives the same pair */
    uint64_t a = rt_pair_order_sample(&o, 5), b = rt_pair_order_sample(&o, K - 1),
             c = rt_pair_order_sample(&o, 5);
    ck_assert(a == c);
    (void)b;
    free(seen);
    rt_pair_order_free(&o);
    rt_pair_order_free(&plain);
}
END_TEST

START_TEST(test_fill) {
    uint64_t idx[3] = {4, 0, 9};
    int32_t src[3 * MAX_SRC], dec[3 * MAX_TGT], lab[3 * MAX_TGT];
    uint8_t mask[3 * MAX_SRC];
    rt_pair_batch b = {src, dec, lab, mask, 0, 0};
    double tokens;
    ck_assert(rt_pairs_fill(&g_ps, idx, 3, 0, 0, &b, &tokens) == RT_OK);
    int Ts = 0, Tt = 0;
    for (int r = 0; r < 3; r++) {
        if (src_len((int)idx[r]) > Ts) Ts = src_len((int)idx[r]);
        if (tgt_len((int)idx[r]) > Tt) Tt = tgt_len((int)idx[r]);
    }
    ck_assert_int_eq(b.Ts, Ts);
    ck_assert_int_eq(b.Tt, Tt);
    ck_assert(tokens == 3.0 * (Ts + Tt));
    for (int r = 0; r < 3; r++) {
        int d = (int)idx[r];
        for (int i = 0; i < Ts; i++) {
            ck_assert_int_eq(mask[r * Ts + i], i < src_len(d));
            ck_assert_int_eq(src[r * Ts + i], i < src_len(d) ? src_id(d, i) : 0);
        }
        for (int i = 0; i < Tt; i++) {
            ck_assert_int_eq(lab[r * Tt + i], i < tgt_len(d) ? tgt_id(d, i) : -100);
            ck_assert_int_eq(dec[r * Tt + i], i == 0 ? 0 : i < tgt_len(d) ? tgt_id(d, i - 1) : 0);
        }
    }
    rt_batch v = rt_pair_batch_view(&b, 3);
    ck_assert(v.B == 3 && v.T == Tt && v.src_T == Ts && v.ids == dec && v.targets == lab &&
              v.src_ids == src && v.src_mask == mask);
}
END_TEST

START_TEST(test_refuses_text) {
    /* the same API on a corpus of another kind names the file and the kind */
    char p[600];
    snprintf(p, sizeof p, "%s/test_pairs_text.h5", RT_BUILD_DIR);
    unlink(p);
    rt_corpus_meta m = {"text", 100, 1, SHA, "in.txt", 5, 0.0, "test", 0, NULL, NULL};
    rt_corpus_writer *w = NULL;
    ck_assert(rt_corpus_writer_create(&w, p, 1, &m) == RT_OK);
    uint16_t t[3] = {5, 6, 1};
    ck_assert(rt_corpus_writer_add(w, RT_SPLIT_TRAIN, 0, t, 3) == RT_OK);
    ck_assert(rt_corpus_writer_commit(&w, NULL) == RT_OK);
    rt_corpus *c = NULL;
    ck_assert(rt_corpus_open(&c, p, MPI_COMM_NULL) == RT_OK);
    rt_pair_source ps;
    ck_assert_int_eq(rt_pair_source_open(&ps, c, RT_SPLIT_TRAIN), RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "corpus kind is \"text\", expected \"pairs\""), "%s",
                  rt_error_message());
    rt_corpus_close(&c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("pairs");
    TCase *tc = tcase_create("pairs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_lengths);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_fill);
    tcase_add_test(tc, test_refuses_text);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
