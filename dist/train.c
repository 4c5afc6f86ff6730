/* The data-parallel training loop behind `ringtune train`. */
#include "train.h"
#include "lora_run.h"
#include "model_lora.h"
#include "pairs.h"
#include "s2s_eval.h"
#include "spm.h"
#include "checkpoint.h"
#include "cls_eval.h"
#include "corpus.h"
#include "fsutil.h"
#include "gemm.h"
#include "guard.h"
#include "head_seqcls.h"
#include "feature_cache.h"
#include "hf_tokenizer.h"
#include "metrics_resume.h"
#include "model_registry.h"
#include "optim.h"
#include "peak.h"
#include "ring.h"
#include "runlock.h"
#include "sampler.h"
#include "tbevents.h"
#include "watchdog.h"
#include "windows.h"
#include <math.h>
#include <signal.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Everything one run holds; freed by trainer_free on every path. */
typedef struct {
    const rt_run_config *cfg;
    rt_mpi_ctx *ctx;
    rt_model *m;
    rt_corpus *ct, *cv;
    rt_corpus_source st, sv;
    rt_token_source train, val;
    rt_ring *ring;
    float *mom, *var, *best;
    long *first_step; /* per tensor: the step it became trainable (AdamW bias correction) */
    int32_t *ids, *tgt, *buf;
    size_t lo, hi;  /* this rank's shard of the flat buffer */
    size_t *lo_of;  /* (P): every rank's shard start */
    int B, T, A, G; /* micro-batch, sequence, accumulation, global batch */
    int EB;         /* evaluation micro-batch */
    int unfrozen;   /* gradual unfreezing: blocks unfrozen from the top */
    rt_peak peak;   /* the MFU denominator (dist/peak.h) */
    FILE *metrics;
    rt_tb_writer *tb; /* rank 0, output.tensorboard: the event file of this run */
    rt_runlock *lock; /* output.dir's run lock (rank 0) */
    /* gradient buckets, top of the network first: bucket k is the flat range [lo, hi), complete
       once backward has finished parameter group `ready` (compute/model.h) */
    int nbuckets;
    struct bucket {
        size_t lo, hi;
        int ready;
        int active; /* holds a trainable tensor this step */
        int started;
        size_t *bounds; /* (P + 1): the shard boundaries clipped to the bucket */
        /* the span reduced (and, with ZeRO-1, all-gathered) this step: the whole bucket when all
           its tensors train, else from its first to the end of its last trainable tensor, so a
           frozen backbone costs no communication; sbounds are the shard edges clipped to it */
        size_t slo, shi;
        size_t *sbounds;
        rt_ring *ring;
    } * buckets;
    uint64_t *samples;     /* (G) this step's window ids, global batch order (log_samples) */
    int *scount, *sdispl;  /* (P) per-rank sample counts and offsets, rank 0 */
    char resume_dir[4096]; /* the checkpoint resumed from, "" when fresh */
    Ringtune__Manifest *manifest;
    rt_schedule sch;
    uint64_t nwin;
    /* data.task classification: samples are the examples of a labeled corpus, right-padded per
       micro-batch to its longest row (Tm[a] <= T) */
    int cls;
    rt_example_source xt, xv; /* the train / validation examples */
    int32_t *labels;          /* (A * B or EB) */
    int *Tm;                  /* (A) the padded length of each micro-batch of the step */
    double step_tokens;       /* this rank's tokens (padding included) in this step */
    rt_metrics vm, bm;        /* the last evaluation's metrics; the one before training */
    /* feature extraction's cache (finetune.feature_cache) and the models the steps and the
       evaluations run: mt (the cache's train model, or m itself) and mv (the cache's validation
       model, or NULL: mt) */
    rt_feature_cache *fc;
    rt_model *mt, *mv;
    /* data.task seq2seq: the pairs of a pairs corpus (dist/pairs.h), sampled grouped by length
       and padded per micro-batch; ids holds the decoder inputs, tgt the labels (stride T = the
       longest target), src / smask the sources (stride S = the longest source) */
    int s2s, S;
    rt_pair_source pt, pv;
    rt_pair_order po;
    int32_t *src;
    uint8_t *smask;
    rt_pair_batch *pb;    /* (A) the step's micro-batches */
    struct rt_spm *tok;   /* detokenizes generated ids (NULL: no generation metrics) */
    rt_s2s_labels words;  /* the validation targets' label words (text-to-text classification) */
    uint64_t n_gen;       /* validation pairs decoded (eval.generate.max_examples) */
    rt_s2s_scores gb, ga; /* generation scores before and after training */
    int have_gb, have_ga;
    rt_metric_id mid; /* eval.metric, and whether higher is better */
    rt_metric_dir mdir;
    int have_bm;
    rt_lora_run lora;      /* lora.*: adapters on a frozen base (t->m is their handle) */
    rt_status comm_status; /* first error met while reducing during backward */
    double comm_wait_s;    /* time blocked waiting for reductions after backward (this step) */
} trainer;

/* Where one step's time went on this rank (seconds), for the metrics file. The phases do not
   overlap; ms_step minus their sum is reading the micro-batches and bookkeeping. */
typedef struct {
    double forward, backward; /* summed over the micro-batches (gradient accumulation); backward
                                 includes pushing the bucket reductions along (overlap on) */
    double sync;      /* the status agreement after backward, which also waits for the slowest
                         rank (load imbalance, not data movement), and the sample-id gather
                         (log_samples) */
    double comm;      /* blocked on communication after that: finish_reduction (comm_wait_s), the
                         loss/norm all-reduce and the ZeRO-1 parameter all-gather */
    double allgather; /* the ZeRO-1 parameter all-gather alone (part of comm; 0 without ZeRO-1) */
    double optimizer; /* gradient norm, clipping and AdamW on this rank's shard */
} step_times;

static void trainer_free(trainer *t) {
    for (int k = 0; k < t->nbuckets; k++) {
        rt_ring_destroy(&t->buckets[k].ring);
        free(t->buckets[k].bounds);
        free(t->buckets[k].sbounds);
    }
    free(t->buckets);
    rt_feature_cache_free(&t->fc); /* before the base its models borrow from */
    rt_model_destroy(&t->m);
    rt_lora_run_free(&t->lora);
    rt_corpus_close(&t->ct);
    if (t->cv) rt_corpus_close(&t->cv);
    rt_ring_destroy(&t->ring);
    rt_free_floats(&t->mom);
    rt_free_floats(&t->var);
    rt_free_floats(&t->best);
    free(t->first_step);
    free(t->lo_of);
    free(t->ids);
    free(t->tgt);
    free(t->labels);
    free(t->Tm);
    rt_pair_order_free(&t->po);
    rt_spm_destroy(&t->tok);
    rt_s2s_labels_free(&t->words);
    rt_pair_source_free(&t->pt);
    rt_pair_source_free(&t->pv);
    free(t->src);
    free(t->smask);
    free(t->pb);
    rt_metrics_free(&t->vm);
    rt_metrics_free(&t->bm);
    free(t->buf);
    free(t->samples);
    free(t->scount);
    free(t->sdispl);
    rt_ckpt_manifest_free(&t->manifest);
    if (t->metrics) fclose(t->metrics);
    rt_tb_free(&t->tb); /* every record was flushed (and checked) when written */
    rt_runlock_release(&t->lock);
}

/* Sets trainable flags for the mode on the model's parameter groups: the blocks from `lowest`
   up and the embeddings when `embd`; head groups (final norm, task head) always train.
   `unfrozen` counts blocks from the top (gradual). */
static void apply_mode(trainer *t, long step) {
    rt_model *m = t->m;
    const rt_run_config *c = t->cfg;
    int L = m->n_blocks, lowest = 0, embd = 1;
    switch (c->finetune.mode) {
    case RT_FINETUNE_MODE_FULL:
        break;
    case RT_FINETUNE_MODE_PARTIAL:
        lowest = L - c->finetune.last_n_blocks;
        embd = 0;
        break;
    case RT_FINETUNE_MODE_FEATURE_EXTRACTION: /* the head groups only (an untied head) */
        lowest = L;
        embd = 0;
        break;
    case RT_FINETUNE_MODE_GRADUAL_UNFREEZE:
    default: {
        /* start with the top block; one more every unfreeze_every units; the embeddings last */
        long unit = c->finetune.unfreeze_unit == RT_UNFREEZE_UNIT_STEPS
                        ? step
                        : step / (long)((t->cls ? t->xt.n / (uint64_t)t->G
                                                : t->train.n_tokens / ((uint64_t)t->T * t->G)) +
                                        1);
        long n = 1 + unit / c->finetune.unfreeze_every;
        lowest = n >= L ? 0 : L - (int)n;
        embd = n > L;
        t->unfrozen = (int)(n > L + 1 ? L + 1 : n);
        break;
    }
    }
    if (lowest < 0) lowest = 0;
    /* feature extraction with a head of its own: that head alone (compute/model.h) */
    int own = c->finetune.mode == RT_FINETUNE_MODE_FEATURE_EXTRACTION && m->head_tensors > 0
                  ? m->params->n - m->head_tensors
                  : 0;
    for (int k = 0; k < m->n_groups; k++) {
        const rt_param_group *g = &m->groups[k];
        int tr =
            g->kind == RT_GROUP_BLOCK ? g->block >= lowest : (g->kind == RT_GROUP_EMBED ? embd : 1);
        for (int i = g->first; i < g->first + g->count; i++) {
            int was = m->params->t[i].trainable;
            m->params->t[i].trainable = tr && i >= own;
            if (tr && (!was || step == 0) && t->first_step[i] < 0) t->first_step[i] = step;
        }
    }
}

/* Classification: mean loss and the metrics (t->vm) over the validation examples, each rank
   classifying a contiguous share; the loss sums and the confusion counts are summed over the
   ranks. Collective. */
static rt_status evaluate_cls(trainer *t, double *loss) {
    const rt_run_config *c = t->cfg;
    uint64_t n = t->xv.n;
    if (c->eval.max_batches != RT_CONFIG_NULL_INT &&
        (uint64_t)c->eval.max_batches * (uint64_t)t->EB < n)
        n = (uint64_t)c->eval.max_batches * (uint64_t)t->EB;
    size_t lo, hi;
    rt_ring_chunk((size_t)n, t->ctx->size, t->ctx->rank, &lo, &hi);
    int K = t->vm.num_labels;
    rt_cls_tally tl = {0};
    const char *phase = rt_watchdog_phase("evaluation");
    rt_status st = rt_confusion_init(&tl.conf, K);
    rt_model *em = t->mv ? t->mv : t->mt;
    if (st == RT_OK) st = rt_cls_run(em, &t->xv, lo, hi, t->EB, t->T, &tl, NULL, NULL);
    st = rt_mpi_ctx_agree(t->ctx, st);
    double sum[2] = {tl.loss_sum, tl.n_loss}, tot[2];
    if (st == RT_OK)
        st = rt_mpi_check(rt_wd_allreduce(sum, tot, 2, MPI_DOUBLE, MPI_SUM, t->ctx->comm,
                                          "validation loss sum (MPI_Allreduce)"),
                          "MPI_Allreduce(eval)");
    if (st == RT_OK)
        st = rt_mpi_check(rt_wd_allreduce(MPI_IN_PLACE, tl.conf.counts, K * K, MPI_INT64_T, MPI_SUM,
                                          t->ctx->comm,
                                          "validation confusion counts (MPI_Allreduce)"),
                          "MPI_Allreduce(confusion)");
    rt_watchdog_phase(phase);
    if (st == RT_OK) st = rt_metrics_from_confusion(&t->vm, &tl.conf);
    rt_confusion_free(&tl.conf);
    RT_CALL(st);
    if (tot[1] <= 0)
        return rt_error(RT_ERR_ARG, "the validation split of %s holds no example",
                        rt_corpus_path(t->cv ? t->cv : t->ct));
    *loss = tot[0] / tot[1];
    return RT_OK;
}

/* Seq2seq: the mean token loss over the validation pairs (eval.max_batches x eval micro-batches of
   them at most), this rank's contiguous share, reduced over ranks. Collective. */
static rt_status evaluate_s2s(trainer *t, double *loss) {
    const rt_run_config *c = t->cfg;
    uint64_t n = t->pv.n;
    if (c->eval.max_batches != RT_CONFIG_NULL_INT &&
        (uint64_t)c->eval.max_batches * (uint64_t)t->EB < n)
        n = (uint64_t)c->eval.max_batches * (uint64_t)t->EB;
    size_t lo, hi;
    rt_ring_chunk((size_t)n, t->ctx->size, t->ctx->rank, &lo, &hi);
    double sum[2] = {0.0, 0.0}, tot[2];
    const char *phase = rt_watchdog_phase("evaluation");
    rt_pair_batch pb = {t->src, t->ids, t->tgt, t->smask, 0, 0};
    rt_status st = rt_pairs_loss(t->m, &t->pv, lo, hi, t->EB, &pb, &sum[0], &sum[1]);
    st = rt_mpi_ctx_agree(t->ctx, st);
    if (st == RT_OK)
        st = rt_mpi_check(rt_wd_allreduce(sum, tot, 2, MPI_DOUBLE, MPI_SUM, t->ctx->comm,
                                          "validation loss sum (MPI_Allreduce)"),
                          "MPI_Allreduce(eval)");
    rt_watchdog_phase(phase);
    RT_CALL(st);
    if (tot[1] <= 0)
        return rt_error(RT_ERR_ARG, "the validation pairs of %s hold no target token",
                        rt_corpus_path(t->cv ? t->cv : t->ct));
    *loss = tot[0] / tot[1];
    return RT_OK;
}

/* Seq2seq: decodes the first n_gen validation pairs (this rank's contiguous share; greedy or beam
   search as eval.generate says) and scores them against their targets, the tallies summed over
   ranks. Collective. */
static rt_status evaluate_gen(trainer *t, rt_s2s_scores *out) {
    const rt_run_config *c = t->cfg;
    size_t lo, hi, len = rt_s2s_tally_len(t->words.K);
    rt_ring_chunk((size_t)t->n_gen, t->ctx->size, t->ctx->rank, &lo, &hi);
    rt_gen_opts o = {c->eval.generate.num_beams,
                     c->eval.generate.max_new_tokens != RT_CONFIG_NULL_INT
                         ? c->eval.generate.max_new_tokens
                         : t->pv.max_tgt,
                     c->eval.generate.length_penalty, 0};
    double *tally = calloc(len, sizeof(double)), *sum = calloc(len, sizeof(double));
    const char *phase = rt_watchdog_phase("generation (eval.generate)");
    rt_pair_batch pb = {t->src, t->ids, t->tgt, t->smask, 0, 0};
    rt_status st = tally && sum ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK)
        st = rt_s2s_tally_range(t->m, &t->pv, lo, hi, t->EB, &o, t->tok, &t->words, &pb, tally);
    st = rt_mpi_ctx_agree(t->ctx, st);
    if (st == RT_OK)
        st = rt_mpi_check(rt_wd_allreduce(tally, sum, (int)len, MPI_DOUBLE, MPI_SUM, t->ctx->comm,
                                          "generation tallies (MPI_Allreduce)"),
                          "MPI_Allreduce(generation)");
    rt_watchdog_phase(phase);
    if (st == RT_OK) st = rt_s2s_scores_from(sum, t->words.K, out);
    free(tally);
    free(sum);
    return st;
}

/* Mean validation loss over this rank's share of the windows, reduced over ranks. Collective. */
static rt_status evaluate(trainer *t, double *loss) {
    if (t->cls) return evaluate_cls(t, loss);
    if (t->s2s) return evaluate_s2s(t, loss);
    uint64_t nw = rt_sampler_windows(t->val.n_tokens, t->T);
    const rt_run_config *c = t->cfg;
    /* max_batches counts eval micro-batches of the whole job, so the windows evaluated do not
       depend on the rank count */
    if (c->eval.max_batches != RT_CONFIG_NULL_INT &&
        (uint64_t)c->eval.max_batches * (uint64_t)t->EB < nw)
        nw = (uint64_t)c->eval.max_batches * (uint64_t)t->EB;
    size_t lo, hi;
    rt_ring_chunk((size_t)nw, t->ctx->size, t->ctx->rank, &lo, &hi);
    double sum[2] = {0.0, 0.0}; /* loss sum, token count */
    rt_status st = RT_OK;
    const char *phase = rt_watchdog_phase("evaluation");
    for (size_t w = lo; w < hi && st == RT_OK; w += (size_t)t->EB) {
        int nb = (int)(hi - w < (size_t)t->EB ? hi - w : (size_t)t->EB);
        for (int b = 0; b < nb && st == RT_OK; b++)
            st = rt_token_source_window(&t->val, (uint64_t)(w + b), t->T, t->buf, t->ids + b * t->T,
                                        t->tgt + b * t->T);
        double ls = 0.0;
        double n = 0.0;
        rt_batch batch = {.B = nb, .T = t->T, .ids = t->ids, .targets = t->tgt};
        if (st == RT_OK) st = rt_model_forward(t->m, &batch, NULL, &ls, &n); /* no dropout */
        sum[0] += ls;
        sum[1] += (double)n;
    }
    st = rt_mpi_ctx_agree(t->ctx, st);
    double tot[2];
    if (st == RT_OK)
        st = rt_mpi_check(rt_wd_allreduce(sum, tot, 2, MPI_DOUBLE, MPI_SUM, t->ctx->comm,
                                          "validation loss sum (MPI_Allreduce)"),
                          "MPI_Allreduce(eval)");
    rt_watchdog_phase(phase);
    RT_CALL(st);
    if (tot[1] <= 0)
        return rt_error(RT_ERR_ARG, "validation split of %s holds no full window of %d tokens",
                        rt_corpus_path(t->cv ? t->cv : t->ct), t->T + 1);
    *loss = tot[0] / tot[1];
    return RT_OK;
}

/* Splits the flat gradient buffer into buckets of about bucket_mb at parameter-group boundaries,
   in the order backward finishes the groups (the top of the network first). A bucket closes only
   after a group whose completion backward reports (a head group joins the group after it). */
static rt_status make_buckets(trainer *t) {
    const rt_model *m = t->m;
    int P = t->ctx->size;
    size_t target = (size_t)(t->cfg->dist.bucket_mb * 1048576.0 / sizeof(float));
    if (target < 1) target = 1;
    t->buckets = calloc((size_t)m->n_groups, sizeof *t->buckets);
    if (!t->buckets) return rt_error(RT_ERR_MEMORY, "out of memory for gradient buckets");
    size_t hi = m->params->total;
    for (int k = 0; k < m->n_groups; k++) {
        const rt_param_group *g = &m->groups[k];
        int last = k == m->n_groups - 1;
        if (!g->reports_done || (!last && hi - g->lo < target)) continue; /* grow downwards */
        struct bucket *b = &t->buckets[t->nbuckets++];
        b->lo = g->lo;
        b->hi = hi;
        b->ready = k;
        hi = g->lo;
    }
    for (int k = 0; k < t->nbuckets; k++) {
        struct bucket *b = &t->buckets[k];
        b->bounds = malloc(sizeof(size_t) * (size_t)(P + 1));
        b->sbounds = malloc(sizeof(size_t) * (size_t)(P + 1));
        if (!b->bounds || !b->sbounds)
            return rt_error(RT_ERR_MEMORY, "out of memory for gradient buckets");
        for (int c = 0; c <= P; c++) {
            size_t edge = c < P ? t->lo_of[c] : m->params->total;
            b->bounds[c] = edge < b->lo ? 0 : (edge > b->hi ? b->hi - b->lo : edge - b->lo);
        }
        RT_CALL(rt_ring_create(&b->ring, NULL));
        char label[64];
        snprintf(label, sizeof label, "gradient bucket %d", k);
        rt_ring_set_label(b->ring, label);
    }
    return RT_OK;
}

static void bucket_start(trainer *t, struct bucket *b) {
    b->started = 1;
    if (!b->active || t->comm_status != RT_OK) return;
    float *g = t->m->grads_mem + b->slo;
    t->comm_status = t->cfg->dist.zero1 ? rt_ring_start_bounds(b->ring, t->ctx, g, b->shi - b->slo,
                                                               RT_RING_REDUCE_SCATTER, b->sbounds)
                                        : rt_ring_start_bounds(b->ring, t->ctx, g, b->shi - b->slo,
                                                               RT_RING_ALLREDUCE, b->sbounds);
}

/* Called by backward (last micro-batch, overlap on) as parameter groups finish: starts the
   buckets that are complete and pushes the ones in flight along. */
static void on_group_done(void *arg, int group) {
    trainer *t = arg;
    for (int k = 0; k < t->nbuckets; k++) {
        struct bucket *b = &t->buckets[k];
        if (!b->started && b->ready <= group) bucket_start(t, b);
        if (b->started && b->active && t->comm_status == RT_OK) {
            int done;
            t->comm_status = rt_ring_progress(b->ring, &done);
        }
    }
}

/* Starts what backward did not reach (frozen lower blocks, or overlap off) and waits for all. */
static rt_status finish_reduction(trainer *t) {
    double t0 = now_s();
    for (int k = 0; k < t->nbuckets; k++)
        if (!t->buckets[k].started) bucket_start(t, &t->buckets[k]);
    rt_status st = t->comm_status;
    for (int k = 0; k < t->nbuckets; k++) {
        struct bucket *b = &t->buckets[k];
        if (b->active && rt_ring_busy(b->ring)) {
            rt_status w = rt_ring_wait(b->ring);
            if (st == RT_OK) st = w;
        }
    }
    t->comm_wait_s = now_s() - t0;
    return st;
}

/* Marks the buckets holding a trainable tensor and resets them for a new step. */
static void buckets_reset(trainer *t) {
    int P = t->ctx->size;
    for (int k = 0; k < t->nbuckets; k++) {
        struct bucket *b = &t->buckets[k];
        b->started = 0;
        b->active = 0;
        size_t lo = b->hi, hi = b->lo;
        int frozen = 0;
        for (int i = 0; i < t->m->params->n; i++) {
            const rt_tensor_info *ti = &t->m->params->t[i];
            if (ti->offset >= b->hi || ti->offset + ti->numel <= b->lo) continue;
            if (!ti->trainable) {
                frozen = 1;
                continue;
            }
            b->active = 1;
            if (ti->offset < lo) lo = ti->offset;
            if (ti->offset + ti->numel > hi) hi = ti->offset + ti->numel;
        }
        b->slo = frozen ? lo : b->lo;
        b->shi = frozen ? hi : b->hi;
        /* the chunk edges the whole bucket would have (ZeRO-1: the shards; all-reduce: the
           ring's chunks of the bucket), clipped to the span: every element keeps its chunk, so
           the reduction adds in the same order as over the whole bucket */
        for (int c = 0; b->active && c <= P; c++) {
            size_t edge, clo, chi;
            if (t->cfg->dist.zero1) {
                edge = c < P ? t->lo_of[c] : t->m->params->total;
            } else {
                rt_ring_chunk(b->hi - b->lo, P, c < P ? c : P - 1, &clo, &chi);
                edge = b->lo + (c < P ? clo : chi);
            }
            b->sbounds[c] = edge < b->slo ? 0 : (edge > b->shi ? b->shi - b->slo : edge - b->slo);
        }
    }
    t->comm_status = RT_OK;
}

/* data.task lm packs the windows of a text corpus; classification reads the examples and labels
   of a labeled one. Same answer on every rank (same file). */
static rt_status check_kind(const rt_corpus *c, const char *path, rt_task task) {
    static const char *const want_of[] = {"text", "labeled", "pairs"}, *const task_of[] = {
                                                                           "lm", "classification",
                                                                           "seq2seq"};
    const char *kind = rt_corpus_get_info(c)->kind, *want = want_of[task];
    const char *hint = !strcmp(kind, "pairs")     ? "set data.task: seq2seq to train on its pairs"
                       : !strcmp(kind, "labeled") ? "set data.task: classification to train a "
                                                    "classifier on it"
                       : task == RT_TASK_SEQ2SEQ  ? "make one with `ringtune prep --source-field "
                                                    "F --target-field G`"
                       : task == RT_TASK_CLASSIFICATION ? "make one with `ringtune prep "
                                                          "--label-field`"
                                                        : "make one with `ringtune prep`";
    if (strcmp(kind, want))
        return rt_error(RT_ERR_ARG,
                        "%s: corpus kind is \"%s\", expected \"%s\" for data.task %s (%s)", path,
                        kind, want, task_of[task], hint);
    return RT_OK;
}

/* eval.generate: the tokenizer that turns generated ids into text (data.tokenizer, else
   model.path when it holds spiece.model, as Hugging Face seq2seq directories do) and the label
   words of the decoded validation pairs. Without one the evaluations report loss and perplexity
   only, with a note. Local. */
static rt_status setup_generation(trainer *t) {
    const rt_run_config *c = t->cfg;
    t->n_gen = (uint64_t)c->eval.generate.max_examples < t->pv.n
                   ? (uint64_t)c->eval.generate.max_examples
                   : t->pv.n;
    if (t->n_gen == 0) return RT_OK;
    const char *dir = c->data.tokenizer;
    if (!dir) {
        char *sp = rt_fs_join(c->model.path, "spiece.model");
        int found = sp && rt_fs_exists(sp);
        free(sp);
        if (!found) {
            if (t->ctx->rank == 0)
                fprintf(stderr,
                        "note: %s holds no spiece.model: the seq2seq evaluations report loss and "
                        "perplexity only (set data.tokenizer to the tokenizer's directory for "
                        "BLEU, chrF, ROUGE-L and exact match)\n",
                        c->model.path);
            t->n_gen = 0;
            return RT_OK;
        }
        dir = c->model.path;
    }
    RT_CALL(rt_hf_spm_load_dir(dir, &t->tok, NULL));
    return rt_s2s_labels_find(&t->pv, t->n_gen, t->tok, &t->words);
}

/* data.task seq2seq: the train and validation pairs, their longest source (S) and target (T),
   and the length-grouped sample order. Local. */
static rt_status setup_pairs(trainer *t) {
    const rt_run_config *c = t->cfg;
    RT_CALL(rt_pair_source_open(&t->pt, t->ct, RT_SPLIT_TRAIN));
    RT_CALL(rt_pair_source_open(&t->pv, t->cv ? t->cv : t->ct, RT_SPLIT_VALIDATION));
    if (t->pt.n == 0)
        return rt_error(RT_ERR_ARG, "the train split of %s holds no pair", c->data.corpus);
    if (t->pv.n == 0)
        return rt_error(RT_ERR_ARG,
                        "the validation split of %s holds no pair: seq2seq evaluates before and "
                        "after training (prep with --val-ratio > 0, or set data.val_corpus)",
                        c->data.val_corpus ? c->data.val_corpus : c->data.corpus);
    t->S = t->pt.max_src > t->pv.max_src ? t->pt.max_src : t->pv.max_src;
    t->T = t->pt.max_tgt > t->pv.max_tgt ? t->pt.max_tgt : t->pv.max_tgt;
    t->m->src_T = t->S;
    RT_CALL(setup_generation(t));
    return rt_pair_order_init(&t->po, &t->pt, c->data.seed, c->train.global_batch,
                              c->data.length_pool);
}

/* The model must be what the task trains: an encoder-decoder for seq2seq, else decoder-only. */
static rt_status check_model_task(const trainer *t) {
    const rt_model *m = t->m;
    if (t->s2s && !m->encoder_decoder)
        return rt_error(RT_ERR_ARG,
                        "data.task seq2seq needs an encoder-decoder model; %s is \"%s\"",
                        t->cfg->model.path, m->ops->arch);
    if (!t->s2s && m->encoder_decoder)
        return rt_error(RT_ERR_ARG,
                        "%s is an encoder-decoder model (\"%s\"): it trains on source-target "
                        "pairs with data.task seq2seq",
                        t->cfg->model.path, m->ops->arch);
    return RT_OK;
}

/* The model of a classification run: a checkpoint's (its head must fit the corpus's labels) or
   from_pretrained with the corpus's labels (a fresh score on an LM directory). Local. */
static rt_status load_classifier(trainer *t, const char *path) {
    const rt_corpus_info *in = rt_corpus_get_info(t->ct);
    const char *const *names = (const char *const *)in->label_names;
    /* LoRA: the base's weights always come from model.path (the checkpoint holds adapters) */
    if (t->resume_dir[0] && !rt_lora_run_enabled(t->cfg)) {
        RT_CALL(rt_model_from_manifest(t->resume_dir, t->manifest, &t->m));
    } else if (rt_ckpt_is_checkpoint(path)) {
        RT_CALL(rt_model_load_ckpt(path, &t->m));
    } else {
        return rt_model_load_hf_classifier(path, in->num_labels, names, t->cfg->train.seed,
                                           t->ctx->rank == 0 ? stderr : NULL, &t->m);
    }
    return rt_model_check_classifier(t->m, t->resume_dir[0] ? t->resume_dir : path, in->num_labels,
                                     names);
}
/* train.class_weights: "balanced" (n / (K n_k) over the train split's label counts, sklearn's
   compute_class_weight) or K comma-separated numbers, set on the head. Local. */
static rt_status class_weights(trainer *t, int K) {
    const char *spec = t->cfg->train.class_weights;
    if (!spec) return RT_OK;
    float w[K];
    const rt_corpus_info *in = rt_corpus_get_info(t->ct);
    if (!strcmp(spec, "balanced")) {
        uint64_t n = in->n_docs[RT_SPLIT_TRAIN];
        for (int k = 0; k < K; k++) {
            uint64_t nk = in->label_counts[RT_SPLIT_TRAIN][k];
            if (nk == 0)
                return rt_error(RT_ERR_ARG,
                                "train.class_weights balanced: class %d (\"%s\") has no example "
                                "in the train split of %s",
                                k, in->label_names[k], t->cfg->data.corpus);
            w[k] = (float)((double)n / ((double)K * (double)nk));
        }
    } else {
        const char *p = spec;
        for (int k = 0; k < K; k++) {
            char *end;
            double v = strtod(p, &end);
            if (end == p || (*end != ',' && *end != '\0') || (k < K - 1 && *end != ',') ||
                (k == K - 1 && *end != '\0'))
                return rt_error(RT_ERR_ARG,
                                "train.class_weights '%s': expected \"balanced\" or %d "
                                "comma-separated numbers (one per label of %s)",
                                spec, K, t->cfg->data.corpus);
            w[k] = (float)v;
            p = end + 1;
        }
    }
    RT_CALL(rt_head_seqcls_set_class_weights(t->m, w));
    if (t->ctx->rank == 0) {
        fprintf(stderr, "class weights:");
        for (int k = 0; k < K; k++) fprintf(stderr, " %s %.4g", in->label_names[k], (double)w[k]);
        fprintf(stderr, "\n");
    }
    return RT_OK;
}

/* Classification: the example sources, the longest example (data.seq_len caps it) and the
   metrics of the evaluations. Local. */
static rt_status setup_examples(trainer *t) {
    const rt_run_config *c = t->cfg;
    t->xt = rt_example_source_corpus(&t->st);
    t->xv = rt_example_source_corpus(&t->sv);
    int K = rt_head_seqcls_num_labels(t->m), maxlen = rt_corpus_get_info(t->ct)->max_length;
    if (t->cv && rt_corpus_get_info(t->cv)->max_length > maxlen)
        maxlen = rt_corpus_get_info(t->cv)->max_length;
    if (maxlen < t->T) t->T = maxlen;
    if (t->xt.n == 0)
        return rt_error(RT_ERR_ARG, "the train split of %s holds no example", c->data.corpus);
    if (t->xv.n == 0) /* before a feature cache is computed: the evaluations need examples */
        return rt_error(RT_ERR_ARG,
                        "the validation split of %s holds no example: classification evaluates "
                        "before and after training (prep with --val-ratio > 0, or set "
                        "data.val_corpus)",
                        c->data.val_corpus ? c->data.val_corpus : c->data.corpus);
    if (t->cv && rt_corpus_get_info(t->cv)->num_labels != K)
        return rt_error(RT_ERR_ARG, "%s has %d labels, %s %d", c->data.val_corpus,
                        rt_corpus_get_info(t->cv)->num_labels, c->data.corpus, K);
    RT_CALL(class_weights(t, K));
    RT_CALL(rt_metrics_init(&t->vm, K));
    return rt_metrics_init(&t->bm, K);
}

/* The source buffers of nb rows and the step's micro-batch views. */
static rt_status alloc_pairs(trainer *t, int nb) {
    t->src = malloc(sizeof(int32_t) * (size_t)nb * t->S);
    t->smask = malloc((size_t)nb * t->S);
    t->pb = calloc((size_t)t->A, sizeof *t->pb);
    if (!t->src || !t->smask || !t->pb) return rt_error(RT_ERR_MEMORY, "out of memory");
    for (int a = 0; a < t->A; a++) {
        size_t rs = (size_t)a * t->B * t->S, rt = (size_t)a * t->B * t->T;
        t->pb[a] = (rt_pair_batch){t->src + rs, t->ids + rt, t->tgt + rt, t->smask + rs, 0, 0};
    }
    return RT_OK;
}

static rt_status setup(trainer *t) {
    const rt_run_config *c = t->cfg;
    rt_mpi_ctx *ctx = t->ctx;
    int threads = c->dist.threads_per_rank;
    if (threads <= 0) {
        /* auto: the cores of this node divided among its ranks (at least 1) */
        int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores / (ctx->node_size > 0 ? ctx->node_size : 1);
        if (threads < 1) threads = 1;
    }
    rt_gemm_setup(threads);
    omp_set_num_threads(threads);
    /* from here on every collective wait is under the watchdog (dist.timeout_s) */
    RT_CALL(rt_watchdog_start(ctx->comm, c->dist.timeout_s, "dist.timeout_s"));
    /* before anything in output.dir is read or cleaned: one run at a time per output.dir */
    rt_status lk =
        ctx->rank == 0 ? rt_runlock_acquire(c->output.dir, NULL, stderr, &t->lock) : RT_OK;
    RT_CALL(rt_mpi_ctx_agree(ctx, lk));
    RT_CALL(rt_ckpt_resolve(ctx, c, t->resume_dir, sizeof t->resume_dir));
    rt_status st;
    t->cls = c->data.task == RT_TASK_CLASSIFICATION;
    t->s2s = c->data.task == RT_TASK_SEQ2SEQ;
    RT_CALL(rt_metric_by_name(c->eval.metric, &t->mid, &t->mdir)); /* validated with the config */
    if (t->resume_dir[0]) RT_CALL(rt_ckpt_read_manifest(ctx, t->resume_dir, &t->manifest));
    if (t->cls) { /* the corpus first: its labels shape the head */
        RT_CALL(rt_corpus_open(&t->ct, c->data.corpus, ctx->comm));
        RT_CALL(check_kind(t->ct, c->data.corpus, c->data.task));
        st = load_classifier(t, c->model.path);
    } else if (t->resume_dir[0] && !rt_lora_run_enabled(c)) {
        /* the weights come from the checkpoint: only the architecture from model.path */
        st = rt_ckpt_is_checkpoint(c->model.path)
                 ? rt_model_from_manifest(t->resume_dir, t->manifest, &t->m) /* from a checkpoint */
                 : rt_model_config_hf(c->model.path, &t->m);
    } else if (rt_ckpt_is_checkpoint(c->model.path)) {
        /* a new run from a ringtune checkpoint's weights (fresh optimizer and schedule) */
        st = rt_model_load_ckpt(c->model.path, &t->m);
    } else {
        st = rt_model_load_hf(c->model.path, &t->m);
    }
    if (st == RT_OK) st = check_model_task(t);
    if (st == RT_OK) st = rt_lora_run_setup(&t->lora, c, &t->m); /* lora.*: adapters over it */
    RT_CALL(rt_mpi_ctx_agree(ctx, st));
    rt_model *m = t->m;
    m->ops->set_dropout(m, c->model.dropout.embd, c->model.dropout.attn, c->model.dropout.resid);
    if (c->data.seq_len > m->max_positions)
        return rt_error(RT_ERR_ARG, "data.seq_len %d exceeds the model's n_positions %d",
                        c->data.seq_len, m->max_positions);
    if (c->finetune.mode == RT_FINETUNE_MODE_PARTIAL && c->finetune.last_n_blocks > m->n_blocks)
        return rt_error(RT_ERR_ARG, "finetune.last_n_blocks %d exceeds the model's %d blocks",
                        c->finetune.last_n_blocks, m->n_blocks);
    /* feature extraction: the head trains on its own (an untied output projection initialised
       from the input embedding) */
    if (c->finetune.mode == RT_FINETUNE_MODE_FEATURE_EXTRACTION && m->head->uses_output_embedding)
        RT_CALL(m->ops->untie(m));
    if (!t->ct) RT_CALL(rt_corpus_open(&t->ct, c->data.corpus, ctx->comm));
    if (c->data.val_corpus) RT_CALL(rt_corpus_open(&t->cv, c->data.val_corpus, ctx->comm));
    RT_CALL(check_kind(t->ct, c->data.corpus, c->data.task));
    if (t->cv) RT_CALL(check_kind(t->cv, c->data.val_corpus, c->data.task));
    RT_CALL(rt_corpus_check_model(t->ct, m->vocab_size, NULL));
    if (t->cv) RT_CALL(rt_corpus_check_model(t->cv, m->vocab_size, NULL));
    t->st = (rt_corpus_source){t->ct, RT_SPLIT_TRAIN};
    t->sv = (rt_corpus_source){t->cv ? t->cv : t->ct, RT_SPLIT_VALIDATION};
    t->train = rt_token_source_corpus(&t->st);
    t->val = rt_token_source_corpus(&t->sv);
    RT_CALL(rt_config_derive(c, ctx->size, &t->A));
    t->B = c->train.micro_batch;
    t->T = c->data.seq_len;
    t->G = c->train.global_batch;
    if (t->cls)
        RT_CALL(setup_examples(t));
    else if (t->s2s)
        RT_CALL(setup_pairs(t));
    else if (rt_sampler_windows(t->train.n_tokens, t->T) == 0)
        return rt_error(RT_ERR_ARG,
                        "the train split of %s holds %llu tokens: fewer than one window",
                        c->data.corpus, (unsigned long long)t->train.n_tokens);
    int eb = c->eval.micro_batch != RT_CONFIG_NULL_INT ? c->eval.micro_batch : t->B;
    t->EB = eb;
    st = rt_model_alloc_acts(t->m, eb > t->B ? eb : t->B, t->T);
    t->mt = t->m;
    if (st == RT_OK) st = rt_ring_create(&t->ring, NULL);
    if (st == RT_OK) rt_ring_set_label(t->ring, "the ZeRO-1 parameters");
    size_t P = t->m->params->total;
    if (c->dist.zero1) {
        rt_ring_chunk(P, ctx->size, ctx->rank, &t->lo, &t->hi);
    } else {
        t->lo = 0;
        t->hi = P;
    }
    t->lo_of = malloc(sizeof(size_t) * (size_t)ctx->size);
    for (int r = 0; t->lo_of && r < ctx->size; r++) {
        size_t a, b;
        rt_ring_chunk(P, ctx->size, r, &a, &b);
        t->lo_of[r] = c->dist.zero1 ? a : 0;
    }
    if (st == RT_OK && !t->lo_of) st = rt_error(RT_ERR_MEMORY, "out of memory");
    if (st == RT_OK) st = make_buckets(t);
    t->mom = rt_alloc_floats(t->hi - t->lo + 1);
    t->var = rt_alloc_floats(t->hi - t->lo + 1);
    t->first_step = malloc(sizeof(long) * t->m->params->n);
    /* the id / target buffers hold a step's A micro-batches (read before the first forward, so
       the loss terms of the global batch are counted first) or one evaluation micro-batch */
    int nb = eb > t->A * t->B ? eb : t->A * t->B;
    t->ids = malloc(sizeof(int32_t) * nb * t->T);
    t->tgt = malloc(sizeof(int32_t) * nb * t->T);
    t->buf = malloc(sizeof(int32_t) * (t->T + 1));
    t->samples = malloc(sizeof(uint64_t) * (size_t)t->G);
    t->scount = malloc(sizeof(int) * (size_t)ctx->size);
    t->sdispl = malloc(sizeof(int) * (size_t)ctx->size);
    for (int r = 0; t->scount && t->sdispl && r < ctx->size; r++)
        rt_sampler_slice(t->G, r, ctx->size, &t->sdispl[r], &t->scount[r]);
    t->labels = malloc(sizeof(int32_t) * nb);
    t->Tm = malloc(sizeof(int) * (size_t)t->A);
    if (st == RT_OK && t->s2s) st = alloc_pairs(t, nb);
    if (st == RT_OK && (!t->mom || !t->var || !t->first_step || !t->ids || !t->tgt || !t->buf ||
                        !t->samples || !t->scount || !t->sdispl || !t->labels || !t->Tm))
        st = rt_error(RT_ERR_MEMORY, "out of memory for the optimizer state");
    if (st == RT_OK && c->eval.early_stopping.patience > 0 && !(t->best = rt_alloc_floats(P)))
        st = rt_error(RT_ERR_MEMORY, "out of memory for the best weights");
    if (st == RT_OK)
        for (int i = 0; i < t->m->params->n; i++) t->first_step[i] = -1;
    RT_CALL(rt_mpi_ctx_agree(ctx, st));
    /* all ranks at once, as they compute in training: 5 rounds of 0.1 s of 768^3 products */
    return rt_peak_measure(ctx, 768, 5, 0.1, &t->peak);
}

/* Rank 0: output.dir, the effective config and the metrics file (after a resume was accepted,
   so a refused resume changes nothing on disk). Collective. */
static rt_status open_outputs(trainer *t) {
    const rt_run_config *c = t->cfg;
    rt_mpi_ctx *ctx = t->ctx;
    rt_status st = RT_OK;
    if (st == RT_OK && ctx->rank == 0) {
        st = rt_fs_mkdir_p(c->output.dir);
        char path[4096];
        if (st == RT_OK) {
            snprintf(path, sizeof path, "%s/config.yaml", c->output.dir);
            st = rt_config_save(c, path);
        }
        if (st == RT_OK && c->output.metrics_file) {
            snprintf(path, sizeof path, "%s/%s", c->output.dir, c->output.metrics_file);
            /* a resumed run continues the file (lines carry their step) */
            if (!(t->metrics = fopen(path, t->resume_dir[0] ? "a" : "w")))
                st = rt_error(RT_ERR_IO, "%s: cannot create the metrics file", path);
        }
    }
    return rt_mpi_ctx_agree(ctx, st);
}

/* Rank 0, output.tensorboard: a new event file in <output.dir>/tensorboard/, starting with a
   SessionLog START at the first step this run writes (0 fresh, start + 1 resumed), so that
   TensorBoard drops what older files of the directory hold for the steps this run writes again
   (a run that crashed after its last checkpoint; a fresh run over an old output.dir).
   Collective: the ranks agree on the outcome. */
static rt_status tb_open(trainer *t, long start) {
    rt_status st = RT_OK;
    if (t->ctx->rank == 0 && t->cfg->output.tensorboard) {
        char *dir = rt_fs_join(t->cfg->output.dir, "tensorboard");
        st = dir ? rt_tb_open(&t->tb, dir) : rt_error(RT_ERR_MEMORY, "out of memory");
        free(dir);
        if (st == RT_OK) st = rt_tb_session_start(t->tb, t->resume_dir[0] ? start + 1 : 0);
        if (st == RT_OK) st = rt_tb_flush(t->tb);
    }
    return rt_mpi_ctx_agree(t->ctx, st);
}

/* Rank 0: appends n scalars at step to the event file and flushes. A failure (disk full) ends the
   event file with a warning on stderr; training goes on (metrics.jsonl has the figures too). */
static void tb_write(trainer *t, long step, int n, const char *const *tags, const double *v) {
    if (!t->tb) return;
    rt_status st = rt_tb_scalars(t->tb, step, n, tags, v);
    if (st == RT_OK) st = rt_tb_flush(t->tb);
    if (st != RT_OK) {
        fprintf(stderr, "warning: %s; no more TensorBoard events are written\n",
                rt_error_message());
        rt_tb_free(&t->tb);
        rt_error_clear();
    }
}

/* The training figures of a logged step (the ones metrics.jsonl holds), rank 0. */
static void tb_train(trainer *t, long step, double loss, double lr, double norm, double tps,
                     double mfu, double epoch) {
    static const char *const tags[] = {"train/loss",         "train/lr",    "train/grad_norm",
                                       "train/tokens_per_s", "train/epoch", "train/mfu"};
    double v[] = {loss, lr, norm, tps, epoch, mfu};
    tb_write(t, step, t->peak.gflops > 0 ? 6 : 5, tags, v); /* mfu only against a peak */
}

/* An evaluation's figures at step, rank 0. */
static void tb_eval(trainer *t, long step, double val_loss) {
    static const char *const tags[] = {"eval/loss", "eval/perplexity"};
    static const char *const cls_tags[] = {"eval/loss", "eval/accuracy", "eval/f1_macro"};
    double v[] = {val_loss, exp(val_loss)}, cv[] = {val_loss, t->vm.accuracy, t->vm.macro.f1};
    if (t->cls)
        tb_write(t, step, 3, cls_tags, cv);
    else
        tb_write(t, step, 2, tags, v);
}

/* eval.metric's score of the last evaluation (of loss `loss`), oriented so that lower is
   better: the loss, or minus a higher-is-better metric. */
static double score_of(const trainer *t, double loss) {
    double v = loss;
    if (t->mid != RT_METRIC_LOSS) rt_metrics_value(&t->vm, t->mid, &v, NULL);
    return t->mdir == RT_METRIC_HIGHER_IS_BETTER ? -v : v;
}

/* A score back in eval.metric's own terms (for messages). */
static double metric_of(const trainer *t, double score) {
    return t->mdir == RT_METRIC_HIGHER_IS_BETTER ? -score : score;
}

/* The figures of an evaluation after "loss": perplexity, or the classification metrics. */
static const char *eval_figures(const trainer *t, double loss, char *buf, size_t cap) {
    if (t->cls)
        snprintf(buf, cap, "accuracy %.4f, f1_macro %.4f", t->vm.accuracy, t->vm.macro.f1);
    else
        snprintf(buf, cap, "perplexity %.2f", exp(loss));
    return buf;
}

/* A metrics.jsonl line of an evaluation at step. */
static void eval_jsonl(trainer *t, long step, double loss) {
    if (!t->metrics) return;
    if (t->cls)
        fprintf(t->metrics,
                "{\"step\": %ld, \"val_loss\": %.17g, \"val_accuracy\": %.17g, "
                "\"val_f1_macro\": %.17g, \"val_f1_weighted\": %.17g}\n",
                step, loss, t->vm.accuracy, t->vm.macro.f1, t->vm.weighted.f1);
    else
        fprintf(t->metrics, "{\"step\": %ld, \"val_loss\": %.17g, \"val_ppl\": %.9g}\n", step, loss,
                exp(loss));
    fflush(t->metrics);
}

/* Rank 0: an evaluation outside the periodic ones (the one before training, with eval.at_start,
   and the final one) as a metrics.jsonl line and TensorBoard scalars at step. */
static void log_eval(trainer *t, long step, double val_loss) {
    eval_jsonl(t, step, val_loss);
    tb_eval(t, step, val_loss);
}

/* Fault injection for tests: RINGTUNE_TRAIN_FAULT="RANK:STEP" makes rank RANK's first read of
   step STEP (1-based) fail as a corpus read would, while the other ranks go on into the
   gradient reductions (their first error must stay the one reported). */
static rt_status read_fault(const trainer *t, long step) {
    const char *f = getenv("RINGTUNE_TRAIN_FAULT");
    int r = -1;
    long s = -1;
    if (!f || sscanf(f, "%d:%ld", &r, &s) != 2 || r != t->ctx->rank || s != step + 1) return RT_OK;
    return rt_error(RT_ERR_IO,
                    "%s: cannot read the training windows of step %ld (injected by "
                    "RINGTUNE_TRAIN_FAULT)",
                    t->cfg->data.corpus, step + 1);
}

/* Reads this rank's micro-batch a of global batch `step` into micro-batch a of t->ids / t->tgt. */
static rt_status load_micro(trainer *t, uint64_t nwin, long step, int a) {
    if (a == 0) RT_CALL(read_fault(t, step));
    int start, count;
    rt_sampler_slice(t->G, t->ctx->rank, t->ctx->size, &start, &count);
    uint64_t base = (uint64_t)step * t->G + (uint64_t)start + (uint64_t)a * t->B;
    for (int b = 0; b < t->B; b++) {
        uint64_t k = base + (uint64_t)b;
        uint64_t w = t->s2s ? rt_pair_order_sample(&t->po, k)
                            : rt_sampler_permute(nwin, t->cfg->data.seed, k / nwin, k % nwin);
        t->samples[start + a * t->B + b] = w;
        size_t at = ((size_t)a * t->B + (size_t)b) * (size_t)t->T;
        if (!t->cls && !t->s2s)
            RT_CALL(rt_token_source_window(&t->train, w, t->T, t->buf, t->ids + at, t->tgt + at));
    }
    if (t->s2s) {
        double tokens;
        RT_CALL(rt_pairs_fill(&t->pt, t->samples + start + a * t->B, t->B, t->m->pad_id,
                              t->m->decoder_start_id, &t->pb[a], &tokens));
        t->step_tokens += tokens;
        return RT_OK;
    }
    if (!t->cls) return RT_OK;
    /* the micro-batch's examples, padded to its longest (stored at stride T per micro-batch) */
    int64_t cut = 0;
    size_t at = (size_t)a * t->B * t->T;
    RT_CALL(rt_cls_fill(&t->xt, t->samples + start + a * t->B, 0, t->B, t->T,
                        rt_head_seqcls_pad(t->mt) < 0 ? 0 : rt_head_seqcls_pad(t->mt), t->ids + at,
                        t->labels + (size_t)a * t->B, &t->Tm[a], &cut));
    t->step_tokens += (double)t->B * t->Tm[a];
    return RT_OK;
}

/* Micro-batch a of the step as the model reads it: windows and next-token targets, or padded
   examples and their labels. */
static rt_batch micro_batch(const trainer *t, int a) {
    size_t at = (size_t)a * t->B * t->T;
    if (t->s2s) return rt_pair_batch_view(&t->pb[a], t->B);
    if (t->cls)
        return (rt_batch){
            .B = t->B, .T = t->Tm[a], .ids = t->ids + at, .labels = t->labels + (size_t)a * t->B};
    return (rt_batch){.B = t->B, .T = t->T, .ids = t->ids + at, .targets = t->tgt + at};
}

/* The checkpoint view of the trainer's state. */
static rt_ckpt_view ckpt_view(trainer *t) {
    rt_ckpt_view v = {t->ctx,  t->cfg,        t->m,    t->mom,  t->var, t->lo, t->hi,
                      t->best, t->first_step, &t->sch, t->nwin, t->ct,  t->cv};
    return v;
}

/* Rank 0 receives this step's window ids from every rank (global batch order). Collective. */
static rt_status gather_samples(trainer *t) {
    int r = t->ctx->rank;
    return rt_mpi_check(rt_wd_gatherv(r == 0 ? MPI_IN_PLACE : t->samples + t->sdispl[r],
                                      t->scount[r], MPI_UINT64_T, t->samples, t->scount, t->sdispl,
                                      MPI_UINT64_T, 0, t->ctx->comm, "sample ids (MPI_Gatherv)"),
                        "MPI_Gatherv(sample ids)");
}

/* The state of the step loop, beyond what setup built. */
typedef struct {
    trainer *t;
    rt_train_result *res;
    FILE *out; /* rank 0's log, NULL elsewhere */
    rt_ckpt_state cs;
    rt_ckpt_view view;
    rt_adamw_config ac;
    long start, steps, step;
    double best, t0, tokens, step_s; /* best validation loss; time and tokens of steps taken */
    double gtokens;                  /* this step's tokens, all ranks (padding included) */
    int bad_evals;
    /* this step */
    double ts, flops, loss, norm;
    float scale; /* 1 / the loss terms of the global batch */
    int preempt;
    step_times tm;
} run;

/* finetune.feature_cache: the frozen backbone's pooled features of every train and validation
   example (dist/feature_cache.h); from here on the steps and evaluations run the head on them.
   Collective. */
static rt_status feature_cache(trainer *t, FILE *out) {
    const rt_run_config *cfg = t->cfg;
    char *dir = cfg->finetune.feature_cache_dir ? strdup(cfg->finetune.feature_cache_dir)
                                                : rt_fs_join(cfg->output.dir, "feature_cache");
    RT_CALL(rt_mpi_ctx_agree(t->ctx, dir ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory")));
    rt_feature_cache_args a = {t->ctx,
                               t->m,
                               {t->xt, t->xv},
                               {t->ct, t->cv ? t->cv : t->ct},
                               t->EB,
                               t->T,
                               t->EB > t->B ? t->EB : t->B,
                               cfg->finetune.feature_cache_max_mb,
                               dir};
    rt_status st = rt_feature_cache_build(&a, out, &t->fc);
    free(dir);
    RT_CALL(st);
    t->xt = rt_feature_cache_source(t->fc, 0);
    t->xv = rt_feature_cache_source(t->fc, 1);
    t->mt = rt_feature_cache_model(t->fc, 0);
    t->mv = rt_feature_cache_model(t->fc, 1);
    return RT_OK;
}

/* Steps, schedule, the resumed state and the outputs; the header lines and the evaluation of the
   base model. Collective. */
static rt_status run_begin(run *r) {
    trainer *t = r->t;
    const rt_run_config *cfg = t->cfg;
    rt_mpi_ctx *ctx = t->ctx;
    t->nwin = t->cls ? t->xt.n : t->s2s ? t->pt.n : rt_sampler_windows(t->train.n_tokens, t->T);
    r->steps = cfg->train.max_steps != RT_CONFIG_NULL_INT
                   ? cfg->train.max_steps
                   : (long)ceil(cfg->train.epochs * (double)t->nwin / t->G);
    if (r->steps < 1) r->steps = 1;
    /* optim.schedule_steps: this run may stop partway along a longer run's schedule */
    long span =
        cfg->optim.schedule_steps != RT_CONFIG_NULL_INT ? cfg->optim.schedule_steps : r->steps;
    rt_schedule sch = {cfg->optim.schedule, (float)cfg->optim.lr, (float)cfg->optim.min_lr,
                       cfg->optim.warmup_steps > 0 ? cfg->optim.warmup_steps
                                                   : (long)(cfg->optim.warmup_ratio * span),
                       span};
    t->sch = sch;
    rt_adamw_config ac = {(float)cfg->optim.lr, (float)cfg->optim.beta1, (float)cfg->optim.beta2,
                          (float)cfg->optim.eps, (float)cfg->optim.weight_decay};
    r->ac = ac;
    r->cs.val_loss = NAN;
    r->view = ckpt_view(t);
    if (t->resume_dir[0]) {
        RT_CALL(rt_ckpt_load(&r->view, t->resume_dir, t->manifest, &r->cs, r->out));
        r->res->resumed_step = r->cs.step;
        RT_CALL(rt_metrics_resume(ctx, cfg, r->cs.step, r->out));
    }
    if (t->cls && cfg->finetune.feature_cache &&
        cfg->finetune.mode == RT_FINETUNE_MODE_FEATURE_EXTRACTION && t->m->head_tensors > 0)
        RT_CALL(feature_cache(t, r->out));
    RT_CALL(open_outputs(t));
    RT_CALL(tb_open(t, r->cs.step));
    r->start = r->cs.step;
    apply_mode(t, r->start);
    FILE *out = r->out;
    if (out)
        fprintf(out,
                "ringtune train: %d ranks (%d nodes x %d per node), %d threads each, BLIS '%s', "
                "%s\n"
                "model %s (%zu parameters%s), corpus %s: %llu train %s %d tokens\n"
                "global batch %d = %d ranks x %d micro-batches x %d; %ld steps; ZeRO-1 %s\n",
                ctx->size, ctx->nodes, ctx->ranks_per_node, rt_gemm_threads(), rt_gemm_arch(),
                rt_gemm_describe(), cfg->model.path, rt_model_num_params(rt_model_unwrapped(t->m)),
                t->lora.on ? ", the LoRA adapters train" : "", cfg->data.corpus,
                (unsigned long long)t->nwin,
                t->cls   ? "examples (padded per micro-batch) of up to"
                : t->s2s ? "pairs (grouped by length, padded per micro-batch) with targets of up to"
                         : "windows of",
                t->T, t->G, ctx->size, t->A, t->B, r->steps, cfg->dist.zero1 ? "on" : "off");
    rt_peak_describe(&t->peak, out);
    if (out && cfg->output.log_every > 0) {
        fprintf(out, "effective configuration (saved as %s/config.yaml):\n", cfg->output.dir);
        rt_config_write_yaml(cfg, out);
    }
    if (out && t->tb) fprintf(out, "TensorBoard events: %s\n", rt_tb_path(t->tb));
    rt_train_result *res = r->res;
    if (t->resume_dir[0]) {
        res->before_loss = r->cs.before_loss;
        if (out && !t->cls)
            fprintf(out, "validation before (from the checkpoint): loss %.4f, perplexity %.2f\n",
                    res->before_loss, exp(res->before_loss));
        else if (out)
            fprintf(out, "validation before (from the checkpoint): loss %.4f\n", res->before_loss);
    } else {
        RT_CALL(evaluate(t, &res->before_loss));
        if (t->n_gen) RT_CALL(evaluate_gen(t, &t->gb));
        t->have_gb = t->n_gen > 0;
        char fig[96];
        if (out)
            fprintf(out, "validation before: loss %.4f, %s\n", res->before_loss,
                    eval_figures(t, res->before_loss, fig, sizeof fig));
        if (t->cls) t->have_bm = rt_metrics_copy(&t->bm, &t->vm) == RT_OK;
        if (cfg->eval.at_start) log_eval(t, 0, res->before_loss); /* as step 0 */
        r->cs.before_loss = res->before_loss;
        r->cs.best_loss = score_of(t, res->before_loss);
        r->cs.best_step = 0;
        if (t->best) memcpy(t->best, t->m->params_mem, t->m->params->total * sizeof(float));
    }
    r->best = r->cs.best_loss;
    r->bad_evals = r->cs.bad_evals;
    res->steps_skipped = r->cs.steps_skipped;
    r->t0 = now_s();
    return RT_OK;
}

/* Reads this rank's micro-batches of the step and agrees on the loss terms of the whole global
   batch (what the loss is normalised by: tokens for a language model, examples for a
   classifier); *scale = 1 / that count. Collective (also when the read failed: *st carries the
   error into the agreement after backward). */
static rt_status read_step(run *r, rt_status *st, float *scale) {
    trainer *t = r->t;
    double local = 0.0, global = 0.0;
    t->step_tokens = 0.0;
    for (int a = 0; a < t->A && *st == RT_OK; a++) {
        *st = load_micro(t, t->nwin, r->step, a);
        rt_batch b = micro_batch(t, a);
        if (*st == RT_OK) local += rt_model_count(t->mt, &b);
    }
    if (t->cls || t->s2s) { /* the FLOPs of the rows as padded */
        r->flops = 0.0;
        for (int a = 0; a < t->A && *st == RT_OK; a++) {
            rt_batch b = micro_batch(t, a);
            r->flops += rt_model_flops_batch(t->mt, &b);
        }
    }
    RT_CALL(rt_mpi_check(rt_wd_allreduce(&local, &global, 1, MPI_DOUBLE, MPI_SUM, t->ctx->comm,
                                         "loss terms of the global batch (MPI_Allreduce)"),
                         "MPI_Allreduce(loss terms)"));
    *scale = global > 0 ? 1.0f / (float)global : 0.0f;
    return RT_OK;
}

/* Forward and backward of this rank's micro-batches (gradient accumulation); the last
   micro-batch's backward starts the bucket reductions as groups finish (dist.overlap). *local:
   this rank's loss sum. Collective through the buckets. */
static rt_status accumulate(run *r, double *local) {
    trainer *t = r->t;
    const rt_run_config *cfg = t->cfg;
    int first, count;
    rt_sampler_slice(t->G, t->ctx->rank, t->ctx->size, &first, &count);
    buckets_reset(t);
    rt_status st = RT_OK;
    float scale;
    RT_CALL(read_step(r, &st, &scale));
    r->scale = scale;
    *local = 0.0;
    for (int a = 0; a < t->A && st == RT_OK; a++) {
        /* dropout masks follow the micro-batch's place in the global batch, not the rank */
        rt_step_key key = {cfg->train.seed, (uint64_t)r->step, (uint64_t)(first / t->B + a), 1};
        rt_batch b = micro_batch(t, a);
        int overlap = cfg->dist.overlap && a == t->A - 1;
        double ls = 0.0, tp = now_s();
        double n;
        st = rt_model_forward(t->mt, &b, &key, &ls, &n);
        r->tm.forward += now_s() - tp;
        tp = now_s();
        if (st == RT_OK) rt_model_backward(t->mt, scale, a > 0, overlap ? on_group_done : NULL, t);
        r->tm.backward += now_s() - tp;
        *local += ls;
    }
    return st;
}

/* Agrees on the status, finishes the gradient reductions and reduces the loss, the squared
   gradient norm and the signal flag over the ranks. Collective. */
static rt_status reduce_and_norm(run *r, rt_status st, double local) {
    trainer *t = r->t;
    const rt_run_config *cfg = t->cfg;
    rt_mpi_ctx *ctx = t->ctx;
    rt_model *m = t->m;
    double tp = now_s();
    RT_CALL(rt_mpi_ctx_agree(ctx, st));
    if (cfg->output.log_samples) RT_CALL(gather_samples(t));
    r->tm.sync = now_s() - tp;
    tp = now_s();
    /* gradients: bucket reduce-scatters into the shards (ZeRO-1) or all-reduces; with overlap
       most are already under way */
    st = finish_reduction(t);
    r->tm.comm += now_s() - tp;
    tp = now_s();
    /* the same reduction carries the signal flag: every rank sees the same decision */
    double red[4] = {local, rt_grad_sumsq(m->params, t->lo, t->hi, m->grads_mem),
                     (double)rt_signals_pending(), t->step_tokens},
           tot[4];
    if (!cfg->dist.zero1) red[1] = ctx->rank == 0 ? red[1] : 0.0;
    r->tm.optimizer += now_s() - tp;
    tp = now_s();
    if (st == RT_OK)
        st = rt_mpi_check(rt_wd_allreduce(red, tot, 4, MPI_DOUBLE, MPI_SUM, ctx->comm,
                                          "loss, norm, signals, tokens (MPI_Allreduce)"),
                          "MPI_Allreduce(loss, norm, signals)");
    r->tm.comm += now_s() - tp;
    RT_CALL(st);
    r->preempt = tot[2] > 0;
    r->loss = tot[0] * r->scale;
    r->norm = sqrt(tot[1]);
    /* classification: the rows as padded (none through the model on cached features) */
    r->gtokens = t->cls || t->s2s ? (t->fc ? 0.0 : tot[3]) : (double)t->G * t->T;
    return RT_OK;
}

/* nan_policy: a non-finite loss or norm stops the run (stop) or skips the update (*skipped).
   Local (every rank has the same figures). */
static rt_status check_finite(run *r, int *skipped) {
    const rt_run_config *cfg = r->t->cfg;
    *skipped = 0;
    if (isfinite(r->loss) && isfinite(r->norm)) return RT_OK;
    if (cfg->train.nan_policy == RT_NAN_POLICY_STOP)
        return rt_error(RT_ERR_NUMERIC,
                        "step %ld: loss %g, gradient norm %g are not finite (set "
                        "train.nan_policy: skip to drop such steps)",
                        r->step + 1, r->loss, r->norm);
    r->res->steps_skipped++;
    *skipped = 1;
    if (r->out)
        fprintf(r->out, "step %ld: non-finite loss or gradient, update skipped\n", r->step + 1);
    return rt_guard_skips(r->res->steps_skipped, r->res->steps_done, r->step + 1 - r->start,
                          r->steps, cfg->train.max_skipped_ratio, r->step + 1, 0);
}

/* Clipping and AdamW on this rank's shard; with ZeRO-1 the parameters are all-gathered.
   Collective (ZeRO-1). */
static rt_status update(run *r) {
    trainer *t = r->t;
    rt_model *m = t->m;
    double tp = now_s();
    /* the clip factor is applied inside AdamW's pass (rt_adamw_step_scaled) */
    const float clip = rt_clip_factor(r->norm, (float)t->cfg->optim.clip_norm);
    r->ac.lr = rt_schedule_lr(&t->sch, r->step);
    /* each tensor's bias correction counts from the step it became trainable */
    for (int i = 0; i < m->params->n; i++) {
        const rt_tensor_info *ti = &m->params->t[i];
        size_t a = ti->offset > t->lo ? ti->offset : t->lo;
        size_t b = ti->offset + ti->numel < t->hi ? ti->offset + ti->numel : t->hi;
        if (a >= b || !ti->trainable) continue;
        rt_adamw_step_scaled(m->params, a, b, m->params_mem, m->grads_mem, clip,
                             t->mom + (a - t->lo), t->var + (a - t->lo), &r->ac,
                             r->step - t->first_step[i] + 1);
    }
    r->tm.optimizer += now_s() - tp;
    if (t->cfg->dist.zero1) {
        /* the spans that changed: each active bucket's trainable span (frozen tensors are the
           same on every rank); with every tensor training, the whole buffer */
        tp = now_s();
        int all = 1;
        for (int k = 0; k < t->nbuckets; k++)
            all &= t->buckets[k].active && t->buckets[k].slo == t->buckets[k].lo &&
                   t->buckets[k].shi == t->buckets[k].hi;
        if (all) {
            RT_CALL(
                rt_ring_start(t->ring, t->ctx, m->params_mem, m->params->total, RT_RING_ALLGATHER));
            RT_CALL(rt_ring_wait(t->ring));
        } else {
            rt_status st = RT_OK;
            for (int k = 0; k < t->nbuckets && st == RT_OK; k++) {
                struct bucket *b = &t->buckets[k];
                if (b->active)
                    st = rt_ring_start_bounds(b->ring, t->ctx, m->params_mem + b->slo,
                                              b->shi - b->slo, RT_RING_ALLGATHER, b->sbounds);
            }
            for (int k = 0; k < t->nbuckets; k++) {
                struct bucket *b = &t->buckets[k];
                if (b->active && rt_ring_busy(b->ring)) {
                    rt_status w = rt_ring_wait(b->ring);
                    if (st == RT_OK) st = w;
                }
            }
            RT_CALL(st);
        }
        r->tm.allgather = now_s() - tp;
        r->tm.comm += r->tm.allgather;
    }
    return RT_OK;
}

/* Rank 0: the progress line, the metrics line and the TensorBoard scalars of a step taken. */
static void log_step(run *r) {
    trainer *t = r->t;
    const rt_run_config *cfg = t->cfg;
    long step = r->step, steps = r->steps;
    double dt = now_s() - r->ts, el = now_s() - r->t0;
    r->tokens += r->gtokens;
    r->step_s += dt;
    double tps = r->gtokens / dt, eps = t->G / dt;
    double mfu = rt_peak_mfu(&t->peak, r->flops, dt, step + 1, r->out);
    char thr[64];
    if (t->s2s)
        snprintf(thr, sizeof thr, "%.0f pairs/s, %.0f tok/s", eps, tps);
    else if (!t->cls)
        snprintf(thr, sizeof thr, "%.0f tok/s", tps);
    else if (t->fc)
        snprintf(thr, sizeof thr, "%.0f ex/s", eps); /* cached features: no tokens */
    else
        snprintf(thr, sizeof thr, "%.0f ex/s, %.0f tok/s", eps, tps);
    double epoch = (double)(step + 1) * t->G / (double)t->nwin;
    if (r->out && cfg->output.log_every > 0 &&
        ((step + 1) % cfg->output.log_every == 0 || step + 1 == steps))
        fprintf(r->out,
                "step %5ld/%ld | epoch %.2f | loss %.4f | lr %.3e | grad norm %.3f | "
                "%s | MFU %.0f%% | ETA %.0fs\n",
                step + 1, steps, epoch, r->loss, r->ac.lr, r->norm, thr, 100.0 * mfu,
                el / (step + 1 - r->start) * (steps - step - 1));
    if (t->metrics) {
        /* the phase times are rank 0's own (see step_times); peak_gflops is the denominator of
           this line's mfu (dist/peak.h: measured at startup, raised by a step that ran faster) */
        const step_times *tm = &r->tm;
        fprintf(t->metrics,
                "{\"step\": %ld, \"epoch\": %.6f, \"loss\": %.17g, \"lr\": %.9g, "
                "\"grad_norm\": %.17g, \"tokens_per_s\": %.1f, \"mfu\": %.4f, "
                "\"trainable_blocks\": %d, \"ms_step\": %.3f, \"ms_forward\": %.3f, "
                "\"ms_backward\": %.3f, \"ms_sync\": %.3f, \"ms_comm_wait\": %.3f, "
                "\"ms_allgather\": %.3f, \"ms_optimizer\": %.3f, \"peak_gflops\": %.2f",
                step + 1, epoch, r->loss, r->ac.lr, r->norm, tps, mfu,
                cfg->finetune.mode == RT_FINETUNE_MODE_GRADUAL_UNFREEZE ? t->unfrozen : -1,
                1e3 * dt, 1e3 * tm->forward, 1e3 * tm->backward, 1e3 * tm->sync, 1e3 * tm->comm,
                1e3 * tm->allgather, 1e3 * tm->optimizer, t->peak.gflops);
        if (t->cls) fprintf(t->metrics, ", \"examples_per_s\": %.1f", eps);
        if (cfg->output.log_samples) {
            fprintf(t->metrics, ", \"samples\": [");
            for (int k = 0; k < t->G; k++)
                fprintf(t->metrics, "%s%llu", k ? ", " : "", (unsigned long long)t->samples[k]);
            fprintf(t->metrics, "]");
        }
        fprintf(t->metrics, "}\n");
        fflush(t->metrics);
    }
    tb_train(t, step + 1, r->loss, r->ac.lr, r->norm, tps, mfu, epoch); /* rank 0 */
}

/* The periodic evaluation (eval.every_steps) and early stopping: keeps the best weights,
 *stop_early when patience ran out. Collective. */
static rt_status eval_and_stop(run *r, int *stop_early) {
    trainer *t = r->t;
    const rt_run_config *cfg = t->cfg;
    long step = r->step;
    *stop_early = 0;
    if (!(cfg->eval.every_steps > 0 && (step + 1) % cfg->eval.every_steps == 0 &&
          step + 1 < r->steps))
        return RT_OK;
    double vl;
    RT_CALL(evaluate(t, &vl));
    r->cs.val_loss = vl;
    double sc = r->cs.val_score = score_of(t, vl);
    char fig[96];
    if (r->out)
        fprintf(r->out, "eval step %ld: validation loss %.4f, %s\n", step + 1, vl,
                eval_figures(t, vl, fig, sizeof fig));
    eval_jsonl(t, step + 1, vl);
    tb_eval(t, step + 1, vl);
    if (sc < r->best - cfg->eval.early_stopping.min_delta) {
        r->best = sc;
        r->cs.best_step = step + 1;
        r->bad_evals = 0;
        if (t->best) memcpy(t->best, t->m->params_mem, t->m->params->total * sizeof(float));
    } else if (cfg->eval.early_stopping.patience > 0 &&
               ++r->bad_evals >= cfg->eval.early_stopping.patience) {
        r->res->stopped_early = 1;
        if (r->out)
            fprintf(r->out, "early stopping at step %ld: no improvement in %d evaluations\n",
                    step + 1, r->bad_evals);
        *stop_early = 1;
    }
    return RT_OK;
}

/* The checkpoint after a step: a signal's (then *stop) or a periodic one. Collective. */
static rt_status checkpoint_step(run *r, int stop_early, int *stop) {
    trainer *t = r->t;
    const rt_run_config *cfg = t->cfg;
    long step = r->step;
    if (r->preempt) {
        /* SIGUSR1/SIGTERM/SIGINT: checkpoint here and stop; the job is requeued and resumes */
        if (r->out)
            fprintf(r->out, "%s received%s: checkpointing at step %ld and exiting\n",
                    rt_signals_pending() ? rt_signals_name(rt_signals_last())
                                         : "SIGUSR1/SIGTERM/SIGINT",
                    rt_signals_pending() ? " on rank 0" : " by another rank", step + 1);
        *stop = 1;
        RT_CALL(rt_ckpt_save(&r->view, &r->cs, "signal", r->out));
        r->res->checkpointed = 1;
        return RT_OK;
    }
    if (cfg->checkpoint.every_steps > 0 && (step + 1) % cfg->checkpoint.every_steps == 0 &&
        step + 1 < r->steps && !stop_early)
        RT_CALL(rt_ckpt_save(&r->view, &r->cs, "periodic", r->out));
    *stop = stop_early;
    return RT_OK;
}

/* One optimizer step: accumulate, reduce + norm, update, log, evaluate, checkpoint. *stop: the
   loop ends after this step (early stopping, a signal). Collective. */
static rt_status train_step(run *r, int *stop) {
    trainer *t = r->t;
    const rt_run_config *cfg = t->cfg;
    rt_watchdog_step(r->step + 1);
    r->ts = now_s();
    memset(&r->tm, 0, sizeof r->tm);
    if (cfg->finetune.mode == RT_FINETUNE_MODE_GRADUAL_UNFREEZE) apply_mode(t, r->step);
    r->flops = rt_model_flops_done(t->m, t->B, t->T) * t->A; /* this step's (frozen: fewer) */
    double local = 0.0;
    rt_status st = accumulate(r, &local);
    RT_CALL(reduce_and_norm(r, st, local));
    int skipped;
    RT_CALL(check_finite(r, &skipped));
    if (!skipped) {
        RT_CALL(update(r));
        r->res->steps_done++;
        log_step(r);
    }
    r->cs.step = r->step + 1;
    r->cs.lr_last = r->ac.lr;
    r->cs.val_loss = NAN;
    r->cs.val_score = NAN;
    int stop_early;
    RT_CALL(eval_and_stop(r, &stop_early));
    r->cs.best_loss = r->best;
    r->cs.bad_evals = r->bad_evals;
    r->cs.steps_skipped = r->res->steps_skipped;
    r->cs.tokens_seen += r->gtokens;
    return checkpoint_step(r, stop_early, stop);
}

/* Rank 0: the classification before/after table (the metrics of the evaluation before training,
   unknown after a resume, and of the final one). */
static void print_cls_table(const trainer *t, double before, double after, FILE *out) {
    static const rt_metric_id rows[] = {RT_METRIC_ACCURACY,     RT_METRIC_PRECISION_MACRO,
                                        RT_METRIC_RECALL_MACRO, RT_METRIC_F1_MACRO,
                                        RT_METRIC_F1_MICRO,     RT_METRIC_F1_WEIGHTED};
    fprintf(out, "\n%-22s %11s %11s\n", "validation", "before", "after");
    fprintf(out, "%-22s %11.4f %11.4f\n", "loss", before, after);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double b = 0.0, a = 0.0;
        rt_metrics_value(&t->vm, rows[i], &a, NULL);
        if (t->have_bm && rt_metrics_value(&t->bm, rows[i], &b, NULL) == RT_OK)
            fprintf(out, "%-22s %11.4f %11.4f\n", rt_metric_name(rows[i]), b, a);
        else /* resumed: the checkpoint keeps the loss before training, not the metrics */
            fprintf(out, "%-22s %11s %11.4f\n", rt_metric_name(rows[i]), "n/a", a);
    }
}

/* One row of the seq2seq table: loss, perplexity and, when generated, the text metrics. */
static void s2s_row(const trainer *t, const char *name, double loss, const rt_s2s_scores *g,
                    int have, FILE *out) {
    fprintf(out, "%-22s %9.4f %11.2f", name, loss, exp(loss));
    if (have)
        fprintf(out, " %7.2f %7.2f %8.4f %8.4f\n", g->bleu, g->chrf, g->rouge_l, g->exact_match);
    else if (t->n_gen)
        fprintf(out, " %7s %7s %8s %8s\n", "n/a", "n/a", "n/a", "n/a");
    else
        fprintf(out, "\n");
}

/* Rank 0: the seq2seq before/after table (generation metrics of n_gen validation pairs, unknown
   before a resumed run's first step) and, for label-word targets, the classification figures. */
static void print_s2s_table(const trainer *t, double before, double after, FILE *out) {
    fprintf(out, "\n%-22s %9s %11s", "validation", "loss", "perplexity");
    if (t->n_gen) fprintf(out, " %7s %7s %8s %8s", "BLEU", "chrF", "ROUGE-L", "exact");
    fprintf(out, "\n");
    s2s_row(t, "base (before)", before, &t->gb, t->have_gb, out);
    s2s_row(t, "fine-tuned (after)", after, &t->ga, t->have_ga, out);
    if (t->n_gen)
        fprintf(out,
                "(BLEU and chrF as sacrebleu's corpus scores, ROUGE-L F and exact match as "
                "fractions, over %llu validation pairs decoded %s)\n",
                (unsigned long long)t->n_gen,
                t->cfg->eval.generate.num_beams > 1 ? "with beam search" : "greedily");
    if (t->words.K && t->have_ga) {
        fprintf(out, "text-to-text classification over %d label words:", t->words.K);
        if (t->have_gb)
            fprintf(out, " accuracy %.4f -> %.4f, f1_macro %.4f -> %.4f\n", t->gb.accuracy,
                    t->ga.accuracy, t->gb.f1_macro, t->ga.f1_macro);
        else
            fprintf(out, " accuracy %.4f, f1_macro %.4f\n", t->ga.accuracy, t->ga.f1_macro);
    }
}

/* Rank 0: the before/after table and the throughput line. */
static void print_summary(run *r, double final) {
    rt_train_result *res = r->res;
    FILE *out = r->out;
    if (!out) return;
    if (r->t->cls) {
        print_cls_table(r->t, res->before_loss, final, out);
    } else if (r->t->s2s) {
        print_s2s_table(r->t, res->before_loss, final, out);
    } else {
        fprintf(out, "\n%-22s %11s %11s\n", "validation", "loss", "perplexity");
        fprintf(out, "%-22s %11.4f %11.2f\n", "base (before)", res->before_loss,
                exp(res->before_loss));
        fprintf(out, "%-22s %11.4f %11.2f\n", "fine-tuned (after)", final, exp(final));
    }
    char thr[96];
    double eps = r->step_s > 0 ? (double)res->steps_done * r->t->G / r->step_s : 0.0;
    if (r->t->cls)
        snprintf(thr, sizeof thr, "%.0f examples/s (%.0f tokens/s)", eps, res->tokens_per_s);
    else
        snprintf(thr, sizeof thr, "%.0f tokens/s", res->tokens_per_s);
    fprintf(out,
            "\n%ld steps taken (%ld skipped in all), %s over %d ranks in %.1f s of steps (%.1f s "
            "with evaluations and checkpoints)\n",
            res->steps_done, res->steps_skipped, thr, r->t->ctx->size, r->step_s, res->seconds);
}

/* Rank 0: the model as a Hugging Face directory in <output.dir>/final with the tokenizer.
   Collective (the ranks agree on the outcome). */
static rt_status export_final(run *r) {
    trainer *t = r->t;
    rt_status st = RT_OK;
    if (t->ctx->rank == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/final", t->cfg->output.dir);
        st = rt_guard_weights(t->m, "the export to final/");
        if (st == RT_OK && t->lora.on) { /* the adapter, then the merged model */
            st = rt_lora_run_export(&t->m, path);
            t->mt = t->m;
            char merged[4200];
            snprintf(merged, sizeof merged, "%s/merged", path);
            if (st == RT_OK) st = rt_hf_copy_tokenizer(t->cfg->model.path, merged, NULL);
            if (st == RT_OK && r->out)
                fprintf(r->out, "exported the adapter (PEFT) to %s and the merged model to %s\n",
                        path, merged);
        } else if (st == RT_OK) {
            st = rt_model_save_hf(t->m, path);
            if (st == RT_OK && r->out)
                fprintf(r->out, "exported the fine-tuned model to %s\n", path);
        }
        if (st == RT_OK) st = rt_hf_copy_tokenizer(t->cfg->model.path, path, NULL);
    }
    return rt_mpi_ctx_agree(t->ctx, st);
}

/* After the last step: the final evaluation, the final checkpoint, the best weights, the
   summary and the export. Collective. */
static rt_status run_end(run *r) {
    trainer *t = r->t;
    const rt_run_config *cfg = t->cfg;
    rt_train_result *res = r->res;
    long step = r->step;
    double final;
    RT_CALL(evaluate(t, &final));
    /* logged unless this step's periodic evaluation was, or a resumed run did no step */
    if ((step > r->start || !t->resume_dir[0]) && isnan(r->cs.val_loss)) log_eval(t, step, final);
    RT_CALL(rt_guard_skips(res->steps_skipped, res->steps_done, step - r->start, r->steps,
                           cfg->train.max_skipped_ratio, step, 1));
    RT_CALL(rt_mpi_ctx_agree(t->ctx, rt_guard_weights(t->m, "the final checkpoint")));
    /* the final checkpoint holds the last step's state (resumable, e.g. with more steps) */
    if (step > r->start || !t->resume_dir[0]) {
        r->cs.step = step;
        r->cs.val_loss = final;
        r->cs.val_score = score_of(t, final);
        r->cs.finished = 1;
        r->cs.best_loss = r->best;
        RT_CALL(rt_ckpt_save(&r->view, &r->cs, "final", r->out));
    }
    if (t->best && r->best < score_of(t, final) - cfg->eval.early_stopping.min_delta) {
        memcpy(t->m->params_mem, t->best, t->m->params->total * sizeof(float)); /* keep the best */
        if (r->out)
            fprintf(r->out, "restored the best weights (validation %s %.4f, step %ld)\n",
                    cfg->eval.metric, metric_of(t, r->best), r->cs.best_step);
        if (t->mid == RT_METRIC_LOSS)
            final = r->best; /* the loss of those weights, as measured then */
        else
            RT_CALL(evaluate(t, &final)); /* their loss and metrics, for the table */
    }
    res->after_loss = final;
    res->best_loss = t->mid != RT_METRIC_LOSS ? final : r->best < final ? r->best : final;
    if (t->n_gen) RT_CALL(evaluate_gen(t, &t->ga)); /* of the weights exported */
    t->have_ga = t->n_gen > 0;
    print_summary(r, final);
    return export_final(r);
}

rt_status rt_train(const rt_run_config *cfg, rt_mpi_ctx *ctx, FILE *log, rt_train_result *res) {
    trainer t;
    memset(&t, 0, sizeof t);
    memset(res, 0, sizeof *res);
    t.cfg = cfg;
    t.ctx = ctx;
    /* caught from setup on (a signal before the first step stops at its end) until the return:
       one after the last step lets the run finish */
    rt_signals_install();
    /* the products' precision, before the peak is measured (MFU is against the kernel's own) */
    rt_gemm_set_precision((rt_precision)cfg->train.precision);
    rt_status st = setup(&t);
    if (st == RT_OK && ctx->rank == 0) rt_model_warn_hf(cfg->model.path, t.m, log);
    if (st == RT_OK) /* a corpus made with another tokenizer than the model directory's */
        st = rt_mpi_ctx_agree(ctx, rt_hf_check_corpus_tokenizer(t.ct, t.cv, cfg->model.path,
                                                                ctx->rank == 0 ? log : NULL));
    run r;
    memset(&r, 0, sizeof r);
    r.t = &t;
    r.res = res;
    r.out = ctx->rank == 0 ? log : NULL;
    if (st == RT_OK) rt_lora_run_report(&t.lora, t.m, ctx->size, cfg->dist.zero1, r.out);
    if (st == RT_OK) st = run_begin(&r);
    if (st == RT_OK) {
        rt_watchdog_phase("training");
        int stop = 0;
        for (r.step = r.start; r.step < r.steps && st == RT_OK && !stop; r.step++)
            st = train_step(&r, &stop);
        /* r.step: the steps completed (a failed step does not count) */
        if (st != RT_OK) r.step--;
        res->seconds = now_s() - r.t0;
        res->tokens_per_s = r.step_s > 0 ? r.tokens / r.step_s : 0.0;
        if (st == RT_OK && !res->checkpointed) st = run_end(&r);
    }
    rt_signals_restore();
    trainer_free(&t);
    rt_gemm_set_precision(RT_PRECISION_FP32);
    return st;
}
