/* The one ringtune executable: subcommand parsing and dispatch only. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "fsutil.h"
#include "gemm.h"
#include "hf_tokenizer.h"
#include "model_registry.h"
#include "windows.h"
#include "corpus.h"
#include "cli_opts.h"
#include "ckpt.h"
#include <mpi.h>
#include <hdf5.h>

int rt_cmd_prep(int argc, char **argv);                                         /* cmd_prep.c */
int rt_cmd_train(int argc, char **argv);                                        /* cmd_train.c */
int rt_cmd_sweep(int argc, char **argv);                                        /* cmd_sweep.c */
int rt_cmd_inspect(int argc, char **argv);                                      /* cmd_ckpt.c */
int rt_cmd_export(int argc, char **argv);                                       /* cmd_ckpt.c */
int rt_cmd_eval_labeled(int argc, char **argv, rt_corpus *c);                   /* cmd_cls.c */
int rt_cmd_predict(int argc, char **argv);                                      /* cmd_cls.c */
int rt_cmd_init(int argc, char **argv);                                         /* cmd_init.c */
int rt_cmd_eval_pairs(int argc, char **argv, rt_corpus *c, rt_corpus_split sp); /* cmd_s2s.c */
int rt_cmd_generate(int argc, char **argv);                                     /* cmd_generate.c */

static void usage(FILE *f) {
    fprintf(f,
            "usage: ringtune <command> [options]\n"
            "\n"
            "commands:\n"
            "  prep --out FILE.h5 [options] INPUT...\n"
            "      tokenize text/JSONL into an HDF5 corpus (under mpirun: on every rank);\n"
            "      `ringtune prep --help` lists the options\n"
            "  train RUN.yaml [--resume latest|auto|DIR] [key.sub=value ...]\n"
            "      data-parallel fine-tuning under mpirun/srun with sharded checkpoints;\n"
            "      `ringtune train --help` and `--help-config` for details\n"
            "  sweep SWEEP.yaml [--ranks-per-trial K] [--out DIR]\n"
            "      hyperparameter search (grid, random, ASHA) with trials in parallel on\n"
            "      groups of K ranks; `ringtune sweep --help`, docs/sweep.md\n"
            "  inspect CKPT [--verify] [--tensors] [--config]\n"
            "      a checkpoint's manifest in human terms (CKPT: step-N dir or output.dir)\n"
            "  export CKPT DIR\n"
            "      a checkpoint's weights as a Hugging Face directory\n"
            "  finetune\n"
            "      retired: one process runs `ringtune train RUN.yaml` (no mpirun needed)\n"
            "  eval --model HF_DIR --corpus FILE.h5 [--split train|validation --batch B --seq T]\n"
            "       [--before DIR --json FILE --seed S --label NAME]\n"
            "      loss and perplexity of a checkpoint on a corpus split (default validation);\n"
            "      on a labeled corpus: loss, accuracy, precision/recall/F1 (macro, micro,\n"
            "      weighted, per class) and the confusion matrix, before/after with --before;\n"
            "      --model (and --label, its column) may repeat: one table, side by side;\n"
            "      on a pairs corpus (T5): loss, perplexity and BLEU, chrF, ROUGE-L, exact match\n"
            "      of --max-examples N (256) decoded pairs [--num-beams K --max-new-tokens N\n"
            "      --length-penalty X --tokenizer DIR]\n"
            "  predict --model DIR --input IN.jsonl [--out OUT.jsonl ...]\n"
            "      label texts with a sequence classifier (`ringtune predict --help`)\n"
            "  convert SRC_DIR DST_DIR\n"
            "      import a Hugging Face GPT-2 or T5 checkpoint and export it again\n"
            "  init --out DIR [--vocab V --positions P --embd C --layers L --heads H --seed S]\n"
            "  init --arch t5 --out DIR [--vocab V --embd D --d-kv K --d-ff F --layers L\n"
            "       --decoder-layers L --heads H --ff relu|gated-gelu --seed S]\n"
            "      write a freshly initialised GPT-2 (or T5) as a Hugging Face checkpoint\n"
            "  generate --model DIR (--ids 1,2,3 | --text TEXT | --input IN.jsonl) [options]\n"
            "      T5: greedy or beam search (--num-beams N --max-new-tokens N\n"
            "      --length-penalty X --early-stopping true|false|never), the text and ids;\n"
            "      GPT-2: greedy/top-k continuation of a prompt (--new N --top-k K\n"
            "      --temperature X --seed S --eos-id N|model); `ringtune generate --help`\n"
            "  info\n"
            "      version, BLIS kernels and threads\n");
}

static int cmd_info(void) {
    const char *arch = rt_gemm_setup(0);
    printf("ringtune %s\nBLIS kernels: %s\nthreads per process: %d\n", RT_VERSION, arch,
           rt_gemm_threads());
    return 0;
}

static int cmd_convert(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: ringtune convert SRC_DIR DST_DIR\n");
        return 2;
    }
    rt_model *m;
    if (rt_model_load_hf(argv[0], &m) != RT_OK) return rt_cli_fail(argv[0]);
    rt_model_warn_hf(argv[0], m, stderr);
    rt_status st = rt_model_save_hf(m, argv[1]);
    if (st == RT_OK) st = rt_hf_copy_tokenizer(argv[0], argv[1], NULL);
    size_t n = rt_model_num_params(m);
    const char *arch = m->ops->arch;
    if (st != RT_OK) {
        rt_model_destroy(&m);
        return rt_cli_fail(argv[1]);
    }
    printf("converted %s -> %s (%s, %zu parameters)\n", argv[0], argv[1], arch, n);
    rt_model_destroy(&m);
    return 0;
}

/* Opens a corpus (serially) and checks it against the model in model_dir (its vocabulary and,
   when the directory has them, its tokenizer files); prints the error on failure. */
static int open_corpus(const char *path, int vocab, const char *model_dir, rt_corpus **out) {
    if (rt_corpus_open(out, path, MPI_COMM_NULL) != RT_OK) return !rt_cli_fail("corpus");
    if (rt_corpus_check_model(*out, vocab, NULL) != RT_OK ||
        rt_hf_check_corpus_tokenizer(*out, NULL, model_dir, stderr) != RT_OK) {
        rt_corpus_close(out);
        return !rt_cli_fail("corpus");
    }
    return 1;
}

static int cmd_eval(int argc, char **argv) {
    static const char *const allowed[] = {
        "--model",     "--corpus",         "--split",          "--batch",
        "--seq",       "--threads",        "--before",         "--json",
        "--seed",      "--label",          "--max-examples",   "--num-beams",
        "--tokenizer", "--max-new-tokens", "--length-penalty", NULL};
    if (!rt_cli_check_opts(argc, argv, allowed)) return 2;
    const char *model = rt_cli_opt(argc, argv, "--model"),
               *path = rt_cli_opt(argc, argv, "--corpus"),
               *split = rt_cli_opt(argc, argv, "--split");
    if (!model || !path) {
        fprintf(stderr, "ringtune eval: --model and --corpus are required\n");
        return 2;
    }
    rt_corpus_split sp = RT_SPLIT_VALIDATION;
    if (split && !strcmp(split, "train"))
        sp = RT_SPLIT_TRAIN;
    else if (split && strcmp(split, "validation") != 0) {
        fprintf(stderr, "ringtune eval: --split '%s': expected train or validation\n", split);
        return 2;
    }
    rt_cli_setup_threads(argc, argv);
    if (!rt_ckpt_is_checkpoint(model) && rt_hf_check_model_type(model) != RT_OK)
        return rt_cli_fail("model");
    rt_corpus *lc = NULL; /* a labeled corpus: classification metrics (cmd_cls.c) */
    if (rt_corpus_open(&lc, path, MPI_COMM_NULL) != RT_OK) return rt_cli_fail("corpus");
    if (!strcmp(rt_corpus_get_info(lc)->kind, "labeled"))
        return rt_cmd_eval_labeled(argc, argv, lc);
    if (!strcmp(rt_corpus_get_info(lc)->kind, "pairs"))
        return rt_cmd_eval_pairs(argc, argv, lc, sp);
    if (strcmp(rt_corpus_get_info(lc)->kind, "text") != 0) {
        fprintf(stderr,
                "ringtune eval: %s: corpus kind is \"%s\", expected \"text\" (the loss of an "
                "LM), \"labeled\" (a classifier's metrics) or \"pairs\" (a seq2seq model's)\n",
                path, rt_corpus_get_info(lc)->kind);
        rt_corpus_close(&lc);
        return 1;
    }
    rt_corpus_close(&lc);
    if (rt_cli_opt(argc, argv, "--before") || rt_cli_opt(argc, argv, "--json")) {
        fprintf(stderr, "ringtune eval: --before and --json apply to a labeled corpus\n");
        return 2;
    }
    long B, T;
    if (!rt_cli_num_l(argc, argv, "--batch", 8, 1, 1 << 20, &B) ||
        !rt_cli_num_l(argc, argv, "--seq", 128, 1, 1 << 20, &T))
        return 2;
    rt_model *m;
    if (rt_model_load_hf(model, &m) != RT_OK) return rt_cli_fail("model");
    rt_model_warn_hf(model, m, stderr);
    rt_corpus *c = NULL;
    int rc = 1;
    if (T > m->max_positions) T = m->max_positions;
    if (open_corpus(path, m->vocab_size, model, &c)) {
        rt_corpus_source cs = {c, sp};
        rt_token_source src = rt_token_source_corpus(&cs);
        double loss;
        size_t n;
        if (rt_model_alloc_acts(m, (int)B, (int)T) != RT_OK ||
            rt_evaluate(m, &src, (int)B, (int)T, &loss, &n) != RT_OK) {
            rt_cli_fail("eval");
        } else {
            printf("%s on %s (%s): loss %.4f, perplexity %.2f over %zu tokens\n", model, path,
                   rt_corpus_split_name(sp), loss, exp(loss), n);
            rc = 0;
        }
    }
    rt_corpus_close(&c);
    rt_model_destroy(&m);
    return rc;
}

/* `ringtune finetune` ran a second, single-process training loop; `ringtune train` is the one loop
   (it runs in one process without mpirun too). */
static int cmd_finetune(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr,
            "ringtune finetune is retired: run `ringtune train RUN.yaml` (one process needs no "
            "mpirun). The options map to run-config keys: --model model.path, --corpus "
            "data.corpus, --val-corpus data.val_corpus, --out output.dir, --steps "
            "train.max_steps, --batch train.micro_batch, --accum train.global_batch = batch x "
            "accum, --seq data.seq_len, --lr optim.lr, --min-lr optim.min_lr, --warmup "
            "optim.warmup_steps, --schedule optim.schedule, --weight-decay optim.weight_decay, "
            "--clip optim.clip_norm, --dropout 0 model.dropout.{embd,attn,resid}=0, --seed "
            "train.seed, --threads dist.threads_per_rank (README.md, `ringtune train "
            "--help-config`)\n");
    return 2;
}

int main(int argc, char **argv) {
    /* Every HDF5 file ringtune opens is closed on every path, so HDF5's own shutdown has nothing to
       flush. Skipping it avoids a spurious "HDF5: infinite loop closing library" after HDF5 1.10
       failed to open a corrupt file (it leaks internal objects then; the error itself has already
       been reported). */
    H5dont_atexit();
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines appear as they happen, also in logs */
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    int n = argc - 2;
    char **a = argv + 2;
    if (!strcmp(cmd, "info")) return cmd_info();
    if (!strcmp(cmd, "convert")) return cmd_convert(n, a);
    if (!strcmp(cmd, "init")) return rt_cmd_init(n, a);
    if (!strcmp(cmd, "finetune")) return cmd_finetune(n, a);
    if (!strcmp(cmd, "eval")) return cmd_eval(n, a);
    if (!strcmp(cmd, "predict")) return rt_cmd_predict(n, a);
    if (!strcmp(cmd, "generate")) return rt_cmd_generate(n, a);
    if (!strcmp(cmd, "prep")) return rt_cmd_prep(n, a);   /* handles MPI itself */
    if (!strcmp(cmd, "train")) return rt_cmd_train(n, a); /* likewise */
    if (!strcmp(cmd, "sweep")) return rt_cmd_sweep(n, a); /* likewise */
    if (!strcmp(cmd, "inspect")) return rt_cmd_inspect(n, a);
    if (!strcmp(cmd, "export")) return rt_cmd_export(n, a);
    fprintf(stderr, "ringtune: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
