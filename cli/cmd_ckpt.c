/* `ringtune inspect CKPT` (the manifest in human terms, optionally every checksum verified) and
   `ringtune export CKPT DIR` (a Hugging Face directory that transformers loads). CKPT is a
   step-N directory or a training output.dir (its `latest`). One process, no MPI. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ckpt.h"
#include "hf_gpt2.h"
#include "model_lora.h"
#include "model_registry.h"
#include "peft.h"

int rt_cmd_inspect(int argc, char **argv);
int rt_cmd_export(int argc, char **argv);

static int ckpt_fail(const char *cmd, const char *what) {
    fprintf(stderr, "ringtune %s: %s: %s\n", cmd, what, rt_error_message());
    return 1;
}

static void print_loss(const char *label, double v) {
    if (isfinite(v))
        printf("  %-22s %.4f (perplexity %.2f)\n", label, v, exp(v));
    else
        printf("  %-22s -\n", label);
}

/* Reads every dataset of every shard and checks all checksums; prints one line per shard. */
static rt_status verify_all(const char *dir, const Ringtune__Manifest *m) {
    rt_model *model = NULL;
    /* the tensor table names tensors in messages; the shard files bound the buffers (any
       architecture and head the registry knows) */
    RT_CALL(rt_model_from_manifest(dir, m, &model));
    float *scratch = rt_alloc_floats(RT_CKPT_PIECE_ELEMS), *buf = NULL;
    rt_status st = scratch ? RT_OK : rt_error(RT_ERR_MEMORY, "out of memory");
    for (size_t s = 0; s < m->n_shards && st == RT_OK; s++) {
        const Ringtune__Shard *sh = m->shards[s];
        buf = rt_alloc_floats(sh->hi - sh->lo + 1);
        if (!buf) st = rt_error(RT_ERR_MEMORY, "out of memory");
        for (size_t d = 0; d < sh->n_datasets && st == RT_OK; d++) {
            st = rt_ckpt_shard_read(dir, sh, sh->datasets[d]->name, model->params, sh->lo, sh->hi,
                                    buf, scratch);
        }
        if (st == RT_OK)
            printf("  verified %s: %zu datasets, all checksums match\n", sh->file, sh->n_datasets);
        rt_free_floats(&buf);
    }
    rt_free_floats(&scratch);
    rt_model_destroy(&model);
    return st;
}

int rt_cmd_inspect(int argc, char **argv) {
    int verify = 0, tensors = 0, config = 0;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--verify"))
            verify = 1;
        else if (!strcmp(argv[i], "--tensors"))
            tensors = 1;
        else if (!strcmp(argv[i], "--config"))
            config = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ringtune inspect CKPT [--verify] [--tensors] [--config]\n"
                   "  CKPT: a step-N checkpoint directory or a training output.dir (its latest)\n"
                   "  --verify   read every shard and check every checksum\n"
                   "  --tensors  list the tensor table\n"
                   "  --config   print the stored run configuration (YAML)\n");
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "ringtune inspect: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "ringtune inspect: one checkpoint at a time ('%s')\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: ringtune inspect CKPT [--verify] [--tensors] [--config]\n");
        return 2;
    }
    char dir[4096];
    if (rt_ckpt_find(path, dir, sizeof dir) != RT_OK) return ckpt_fail("inspect", path);
    uint8_t *buf = NULL;
    size_t n = 0;
    Ringtune__Manifest *m = NULL;
    if (rt_ckpt_manifest_read_bytes(dir, &buf, &n) != RT_OK ||
        rt_ckpt_manifest_decode(dir, buf, n, &m) != RT_OK) {
        free(buf);
        return ckpt_fail("inspect", dir);
    }
    free(buf);
    char when[64] = "?";
    time_t ct = (time_t)m->created_unix;
    struct tm tmv;
    if (gmtime_r(&ct, &tmv)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tmv);
    uint64_t bytes = 0, trainable = 0;
    for (size_t s = 0; s < m->n_shards; s++) bytes += m->shards[s]->file_bytes;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i]->trainable) trainable += m->tensors[i]->numel;
    const Ringtune__ModelConfig *mc = m->model;
    printf("checkpoint %s\n", dir);
    printf("  format version %u, written by %s at %s (%s)\n", m->format_version, m->producer, when,
           m->reason);
    printf("  step %" PRId64 " of %" PRId64 ", epoch %.3f, %" PRIu64 " samples consumed%s\n",
           m->step, m->schedule->total_steps, m->sampler->epoch, m->sampler->samples_consumed,
           m->state->finished ? " (run finished)" : "");
    printf("  saved by %u ranks on %u node(s), ZeRO-1 %s; %zu shards, %.1f MB\n", m->world_size,
           m->nodes, m->zero1 ? "on" : "off", m->n_shards, bytes / 1e6);
    printf("model %s: %d layers, %d heads, n_embd %d, n_inner %d, vocab %d, n_positions %d, "
           "%s head\n",
           mc->architecture, mc->n_layer, mc->n_head, mc->n_embd, mc->n_inner, mc->vocab_size,
           mc->n_positions, mc->tie_word_embeddings ? "tied" : "untied");
    printf("  task head %s%s\n", rt_manifest_head(m),
           m->model_desc ? "" : " (first manifest format: no model_desc)");
    printf("  %" PRIu64 " parameters in %zu tensors, %" PRIu64 " trainable at this step\n",
           m->total_params, m->n_tensors, trainable);
    printf("  dropout embd %.3g attn %.3g resid %.3g\n", mc->embd_pdrop, mc->attn_pdrop,
           mc->resid_pdrop);
    printf("schedule %s: lr %.3g -> %.3g, warmup %" PRId64 " steps; last lr %.4g\n",
           m->schedule->kind, m->schedule->lr, m->schedule->min_lr, m->schedule->warmup_steps,
           m->schedule->lr_last);
    printf("sampler: global batch %d x seq_len %d, %" PRIu64 " windows, data seed %" PRIu64
           "; train seed %" PRIu64 " (%s)\n",
           m->sampler->global_batch, m->sampler->seq_len, m->sampler->windows, m->sampler->seed,
           m->rng->train_seed, m->rng->scheme);
    printf("data: %s (%" PRIu64 " train tokens), validation %s (%" PRIu64 " tokens)\n",
           m->data->corpus, m->data->train_tokens,
           m->data->val_corpus[0] ? m->data->val_corpus : "split of the corpus",
           m->data->val_tokens);
    printf("  tokenizer sha256 %s, vocab %d, identity %016" PRIx64 "\n", m->data->tokenizer_sha256,
           m->data->vocab_size, m->data->fingerprint);
    printf("validation:\n");
    print_loss("base model", m->state->before_loss);
    print_loss("at this step", m->state->val_loss);
    print_loss("best so far", m->state->best_loss);
    printf("  best at step %" PRId64 ", %d evaluations without improvement, %" PRId64
           " steps skipped; best weights %s\n",
           m->state->best_step, m->state->bad_evals, m->state->steps_skipped,
           m->state->has_best_params ? "stored" : "not stored");
    printf("shards:\n");
    for (size_t s = 0; s < m->n_shards; s++) {
        const Ringtune__Shard *sh = m->shards[s];
        size_t pieces = 0;
        for (size_t d = 0; d < sh->n_datasets; d++) pieces += sh->datasets[d]->n_pieces;
        printf("  %-28s rank %-4u [%" PRIu64 ", %" PRIu64 ")  %.1f MB, %zu datasets, %zu "
               "checksummed pieces\n",
               sh->file, sh->rank, sh->lo, sh->hi, sh->file_bytes / 1e6, sh->n_datasets, pieces);
    }
    if (tensors) {
        printf("tensors:\n");
        for (size_t i = 0; i < m->n_tensors; i++) {
            const Ringtune__Tensor *t = m->tensors[i];
            char shape[96] = "";
            for (size_t d = 0; d < t->n_shape; d++) {
                size_t l = strlen(shape);
                snprintf(shape + l, sizeof shape - l, "%s%" PRId64, d ? " x " : "", t->shape[d]);
            }
            printf("  %-32s %-16s offset %-10" PRIu64 " %s", t->name, shape, t->offset,
                   t->trainable ? "trainable" : "frozen");
            if (t->first_step >= 0) printf(" since step %" PRId64, t->first_step);
            printf("\n");
        }
    }
    if (config) printf("configuration:\n%s", m->config_yaml);
    int rc = 0;
    if (verify && verify_all(dir, m) != RT_OK) rc = ckpt_fail("inspect", dir);
    rt_ckpt_manifest_free(&m);
    return rc;
}

int rt_cmd_export(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
        printf(
            "usage: ringtune export CKPT DIR\n"
            "  writes the checkpoint's weights as a Hugging Face directory (GPT2LMHeadModel or\n"
            "  GPT2ForSequenceClassification, as the checkpoint's task head)\n"
            "  (config.json + model.safetensors) that transformers loads; a checkpoint of LoRA\n"
            "  adapters: PEFT's adapter_config.json + adapter_model.safetensors in DIR, and the\n"
            "  merged model in DIR/merged\n");
        return 0;
    }
    if (argc != 2 || argv[0][0] == '-' || argv[1][0] == '-') {
        fprintf(stderr, "usage: ringtune export CKPT DIR\n");
        return 2;
    }
    char dir[4096];
    if (rt_ckpt_find(argv[0], dir, sizeof dir) != RT_OK) return ckpt_fail("export", argv[0]);
    rt_model *m = NULL;
    if (rt_model_load_ckpt(dir, &m) != RT_OK) return ckpt_fail("export", dir);
    size_t np = rt_model_num_params(m);
    int lora = rt_model_lora(m) != NULL;
    /* LM or classifier, as the manifest says; LoRA adapters: PEFT's files and the merged model */
    rt_status st = lora ? rt_peft_export(&m, argv[1]) : rt_model_save_hf(m, argv[1]);
    rt_model_destroy(&m);
    if (st != RT_OK) return ckpt_fail("export", argv[1]);
    if (lora)
        printf("exported %s -> %s (a PEFT adapter of %zu parameters) and %s/merged\n", dir, argv[1],
               np, argv[1]);
    else
        printf("exported %s -> %s (%zu parameters)\n", dir, argv[1], np);
    return 0;
}
