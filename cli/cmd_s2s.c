/* `ringtune eval` on a pairs corpus: a sequence-to-sequence model's teacher-forced loss and
   perplexity, and the BLEU, chrF, ROUGE-L and exact match of its greedy or beam-search outputs
   (text-to-text classification figures for label-word targets), single process. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_opts.h"
#include "hf_tokenizer.h"
#include "model_registry.h"
#include "pairs.h"
#include "s2s_eval.h"
#include "spm.h"

typedef struct {
    rt_model *m;
    rt_spm *tok;
    rt_pair_source ps;
    rt_s2s_labels L;
    int32_t *src, *dec, *lab;
    uint8_t *mask;
} s2s_eval;

static void s2s_free(s2s_eval *e) {
    rt_s2s_labels_free(&e->L);
    rt_pair_source_free(&e->ps);
    rt_spm_destroy(&e->tok);
    rt_model_destroy(&e->m);
    free(e->src);
    free(e->dec);
    free(e->lab);
    free(e->mask);
}

/* The model, its tokenizer (--tokenizer or the model directory's), the split and buffers of B
   rows. */
static rt_status s2s_open(s2s_eval *e, const char *model, const char *tokdir, rt_corpus *c,
                          rt_corpus_split sp, int B) {
    RT_CALL(rt_model_load_hf(model, &e->m));
    if (!e->m->encoder_decoder)
        return rt_error(RT_ERR_ARG,
                        "%s is a decoder-only model (\"%s\"): a pairs corpus needs an "
                        "encoder-decoder (T5)",
                        model, e->m->ops->arch);
    RT_CALL(rt_corpus_check_model(c, e->m->vocab_size, NULL));
    RT_CALL(rt_hf_check_corpus_tokenizer(c, NULL, model, stderr));
    if (rt_hf_spm_load_dir(tokdir ? tokdir : model, &e->tok, NULL) != RT_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", rt_error_message());
        return rt_error(RT_ERR_IO,
                        "%s (the generated ids are scored as text: pass --tokenizer "
                        "DIR, the directory of spiece.model)",
                        msg);
    }
    RT_CALL(rt_pair_source_open(&e->ps, c, sp));
    if (e->ps.n == 0)
        return rt_error(RT_ERR_ARG, "%s: the %s split holds no pair", rt_corpus_path(c),
                        rt_corpus_split_name(sp));
    size_t rs = (size_t)B * e->ps.max_src, rt = (size_t)B * e->ps.max_tgt;
    e->src = malloc(sizeof(int32_t) * rs);
    e->mask = malloc(rs);
    e->dec = malloc(sizeof(int32_t) * rt);
    e->lab = malloc(sizeof(int32_t) * rt);
    if (!e->src || !e->mask || !e->dec || !e->lab) return rt_error(RT_ERR_MEMORY, "out of memory");
    e->m->src_T = e->ps.max_src;
    return rt_model_alloc_acts(e->m, B, e->ps.max_tgt);
}

static rt_status s2s_run(s2s_eval *e, int B, uint64_t n_gen, const rt_gen_opts *o, double *loss,
                         double *count, rt_s2s_scores *sc) {
    rt_pair_batch pb = {e->src, e->dec, e->lab, e->mask, 0, 0};
    double ls;
    RT_CALL(rt_pairs_loss(e->m, &e->ps, 0, e->ps.n, B, &pb, &ls, count));
    *loss = *count > 0 ? ls / *count : NAN;
    memset(sc, 0, sizeof *sc);
    if (n_gen == 0) return RT_OK;
    RT_CALL(rt_s2s_labels_find(&e->ps, n_gen, e->tok, &e->L));
    double *tally = calloc(rt_s2s_tally_len(e->L.K), sizeof(double));
    if (!tally) return rt_error(RT_ERR_MEMORY, "out of memory");
    rt_status st = rt_s2s_tally_range(e->m, &e->ps, 0, n_gen, B, o, e->tok, &e->L, &pb, tally);
    if (st == RT_OK) st = rt_s2s_scores_from(tally, e->L.K, sc);
    free(tally);
    return st;
}

int rt_cmd_eval_pairs(int argc, char **argv, rt_corpus *c, rt_corpus_split sp) {
    const char *model = rt_cli_opt(argc, argv, "--model"), *path = rt_corpus_path(c);
    long B, ng, beams, mnt;
    double lp;
    if (!rt_cli_num_l(argc, argv, "--batch", 8, 1, 1 << 16, &B) ||
        !rt_cli_num_l(argc, argv, "--max-examples", 256, 0, 1L << 40, &ng) ||
        !rt_cli_num_l(argc, argv, "--num-beams", 1, 1, 64, &beams) ||
        !rt_cli_num_l(argc, argv, "--max-new-tokens", 0, 0, 1 << 20, &mnt) ||
        !rt_cli_num_f(argc, argv, "--length-penalty", 1.0, -1e6, 1e6, &lp)) {
        rt_corpus_close(&c);
        return 2;
    }
    s2s_eval e;
    memset(&e, 0, sizeof e);
    rt_status st = s2s_open(&e, model, rt_cli_opt(argc, argv, "--tokenizer"), c, sp, (int)B);
    double loss = NAN, count = 0;
    rt_s2s_scores sc;
    uint64_t n_gen = st == RT_OK && (uint64_t)ng < e.ps.n ? (uint64_t)ng : e.ps.n;
    rt_gen_opts o = {(int)beams, mnt > 0 ? (int)mnt : (st == RT_OK ? e.ps.max_tgt : 1), lp, 0};
    if (st == RT_OK) st = s2s_run(&e, (int)B, n_gen, &o, &loss, &count, &sc);
    int rc = 0;
    if (st != RT_OK) {
        rc = rt_cli_fail("eval");
    } else {
        printf("%s on %s (%s): loss %.4f, perplexity %.2f over %.0f target tokens of %llu pairs\n",
               model, path, rt_corpus_split_name(sp), loss, exp(loss), count,
               (unsigned long long)e.ps.n);
        if (n_gen)
            printf("generation (%s, %llu pairs): BLEU %.2f, chrF %.2f, ROUGE-L %.4f, exact match "
                   "%.4f\n",
                   beams > 1 ? "beam search" : "greedy", (unsigned long long)n_gen, sc.bleu,
                   sc.chrf, sc.rouge_l, sc.exact_match);
        if (sc.K)
            printf("text-to-text classification over %d label words: accuracy %.4f, f1_macro "
                   "%.4f\n",
                   sc.K, sc.accuracy, sc.f1_macro);
    }
    s2s_free(&e);
    rt_corpus_close(&c);
    return rc;
}
