/* dist/s2s_eval.c: the generation tallies of pairs decoded by a real T5 (the t5_gated_odd fixture
   model, ids below its 301 rows, text through T5's own SentencePiece tokenizer) equal the
   metrics computed directly on the same decoded strings (BLEU, chrF, ROUGE-L, exact match), add
   up over shards (what the ranks' all-reduce relies on), and label-word targets give the
   classification figures. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "corpus.h"
#include "gemm.h"
#include "hf_tokenizer.h"
#include "metrics_text.h"
#include "model_registry.h"
#include "s2s_eval.h"
#include "spm.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
enum { N = 12, MS = 9, MT = 6, B = 5 };

static rt_model *g_m;
static rt_spm *g_tok;
static rt_corpus *g_c;
static rt_pair_source g_ps;

/* targets: three label words' ids (pairs % 3), sources vary */
static const uint16_t WORDS[3][3] = {{100, 57, 1}, {221, 1, 0}, {33, 144, 1}};
static int tlen(int d) {
    return d % 3 == 1 ? 2 : 3;
}

static void setup(void) {
    rt_gemm_setup(1);
    char path[600];
    snprintf(path, sizeof path, "%s/t5_gated_odd/hf", RT_FIXTURES);
    ck_assert_msg(rt_model_load_hf(path, &g_m) == RT_OK, "%s", rt_error_message());
    ck_assert_msg(rt_hf_spm_load_dir(RT_T5_TOKENIZER, &g_tok, NULL) == RT_OK, "%s",
                  rt_error_message());
    snprintf(path, sizeof path, "%s/test_s2s_eval.h5", RT_BUILD_DIR);
    unlink(path);
    rt_corpus_pair_meta pm = {MS, MT, NULL};
    rt_corpus_meta meta = {"pairs", 32100, 1, SHA, "in.jsonl", 5, 1.0, "test", 0, NULL, &pm};
    rt_corpus_writer *w = NULL;
    ck_assert(rt_corpus_writer_create(&w, path, 1, &meta) == RT_OK);
    for (int d = 0; d < N; d++) {
        uint16_t s[MS];
        int ns = 3 + d % 6;
        for (int i = 0; i < ns - 1; i++) s[i] = (uint16_t)(5 + (d * 31 + i * 7) % 250);
        s[ns - 1] = 1;
        ck_assert(rt_corpus_writer_add_pair(w, RT_SPLIT_VALIDATION, (uint64_t)d, s, (size_t)ns,
                                            WORDS[d % 3], (size_t)tlen(d)) == RT_OK);
    }
    ck_assert(rt_corpus_writer_commit(&w, NULL) == RT_OK);
    ck_assert(rt_corpus_open(&g_c, path, MPI_COMM_NULL) == RT_OK);
    ck_assert(rt_pair_source_open(&g_ps, g_c, RT_SPLIT_VALIDATION) == RT_OK);
    g_m->src_T = MS;
    ck_assert(rt_model_alloc_acts(g_m, B, MT) == RT_OK);
}

static void teardown(void) {
    rt_pair_source_free(&g_ps);
    rt_corpus_close(&g_c);
    rt_spm_destroy(&g_tok);
    rt_model_destroy(&g_m);
}

static char *text_of(const int32_t *ids, size_t n) {
    char *s = NULL;
    size_t len = 0, cap = 0;
    ck_assert(rt_spm_decode(g_tok, ids, n, &s, &len, &cap) == RT_OK);
    s = realloc(s, len + 1);
    s[len] = '\0';
    return s;
}

START_TEST(test_tally_equals_direct) {
    rt_s2s_labels L;
    ck_assert(rt_s2s_labels_find(&g_ps, N, g_tok, &L) == RT_OK);
    ck_assert_int_eq(L.K, 3);
    rt_gen_opts o = {1, 7, 1.0, 0};
    int32_t src[B * MS], dec[B * MT], lab[B * MT];
    uint8_t mask[B * MS];
    rt_pair_batch pb = {src, dec, lab, mask, 0, 0};
    size_t len = rt_s2s_tally_len(L.K);
    double *all = calloc(len, sizeof(double)), *part = calloc(len, sizeof(double));
    ck_assert(rt_s2s_tally_range(g_m, &g_ps, 0, N, B, &o, g_tok, &L, &pb, all) == RT_OK);
    /* three shards of uneven sizes, summed */
    ck_assert(rt_s2s_tally_range(g_m, &g_ps, 0, 5, B, &o, g_tok, &L, &pb, part) == RT_OK);
    ck_assert(rt_s2s_tally_range(g_m, &g_ps, 5, 6, B, &o, g_tok, &L, &pb, part) == RT_OK);
    ck_assert(rt_s2s_tally_range(g_m, &g_ps, 6, N, B, &o, g_tok, &L, &pb, part) == RT_OK);
    double dsum = 0;
    for (size_t i = 0; i < len; i++) dsum = fmax(dsum, fabs(all[i] - part[i]));
    rt_s2s_scores sa, sp;
    ck_assert(rt_s2s_scores_from(all, L.K, &sa) == RT_OK);
    ck_assert(rt_s2s_scores_from(part, L.K, &sp) == RT_OK);
    ck_assert(dsum < 1e-9 && sa.bleu == sp.bleu && sa.chrf == sp.chrf);
    /* the same decoding done here, scored by the metric functions directly */
    char *hyp[N], *ref[N];
    int32_t out[N * 8];
    int lens[N];
    for (int i0 = 0; i0 < N; i0 += B) {
        int nb = N - i0 < B ? N - i0 : B;
        uint64_t idx[B];
        for (int r = 0; r < nb; r++) idx[r] = (uint64_t)(i0 + r);
        ck_assert(rt_pairs_fill(&g_ps, idx, nb, 0, 0, &pb, NULL) == RT_OK);
        rt_batch b = rt_pair_batch_view(&pb, nb);
        ck_assert(rt_model_generate(g_m, &b, &o, out + (size_t)i0 * 8, lens + i0) == RT_OK);
        for (int r = 0; r < nb; r++) {
            hyp[i0 + r] = text_of(out + (size_t)(i0 + r) * 8 + 1, (size_t)lens[i0 + r]);
            int d = i0 + r;
            int32_t w[3] = {WORDS[d % 3][0], WORDS[d % 3][1], WORDS[d % 3][2]};
            ref[d] = text_of(w, (size_t)tlen(d));
        }
    }
    rt_bleu_result br;
    rt_chrf_result cr;
    ck_assert(rt_bleu_corpus((const char *const *)hyp, (const char *const *)ref, N, &br) == RT_OK);
    ck_assert(rt_chrf_corpus((const char *const *)hyp, (const char *const *)ref, N, NULL, &cr) ==
              RT_OK);
    rt_rouge_score mean;
    ck_assert(rt_rouge_l((const char *const *)hyp, (const char *const *)ref, N, NULL, &mean) ==
              RT_OK);
    int64_t em;
    double frac;
    ck_assert(rt_exact_match((const char *const *)hyp, (const char *const *)ref, N, &em, &frac) ==
              RT_OK);
    int correct = 0;
    for (int d = 0; d < N; d++) correct += !strcmp(hyp[d], ref[d]);
    printf("s2s eval: %d pairs, BLEU %.4f (direct %.4f), chrF %.4f (direct %.4f), ROUGE-L %.4f "
           "(direct %.4f), exact %.4f (direct %.4f), accuracy %.4f; shards vs whole max diff %g; "
           "first hypothesis \"%s\" vs reference \"%s\"\n",
           N, sa.bleu, br.score, sa.chrf, cr.score, sa.rouge_l, mean.fmeasure, sa.exact_match, frac,
           sa.accuracy, dsum, hyp[0], ref[0]);
    ck_assert(fabs(sa.bleu - br.score) < 1e-9 && fabs(sa.chrf - cr.score) < 1e-9);
    ck_assert(fabs(sa.rouge_l - mean.fmeasure) < 1e-12 && fabs(sa.exact_match - frac) < 1e-12);
    ck_assert(sa.K == 3 && fabs(sa.accuracy - (double)correct / N) < 1e-12);
    for (int d = 0; d < N; d++) {
        free(hyp[d]);
        free(ref[d]);
    }
    free(all);
    free(part);
    rt_s2s_labels_free(&L);
}
END_TEST

int main(void) {
    Suite *s = suite_create("s2s_eval");
    TCase *tc = tcase_create("s2s_eval");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tally_equals_direct);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
