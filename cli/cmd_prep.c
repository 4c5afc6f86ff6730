/* `ringtune prep`: argument parsing for dist/prep.h. Handles MPI_Init/MPI_Finalize itself (unless
   MPI is already initialised), so `mpirun -n 4 ringtune prep ...` and a plain `ringtune prep ...`
   both work. Every rank parses the same argv and so reaches the same decision without talking. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>
#include "corpus.h"
#include "prep.h"
#include "watchdog.h"

int rt_cmd_prep(int argc, char **argv);

static void prep_usage(FILE *f) {
    fprintf(f,
            "usage: ringtune prep --tokenizer DIR --out FILE [options] INPUT...\n"
            "  Tokenizes text or JSONL into one HDF5 corpus for `ringtune train`. Run it under\n"
            "  mpirun/srun to tokenize on several ranks; the output is the same for any count.\n"
            "  INPUT: files, directories (walked recursively, hidden entries skipped) or glob\n"
            "  patterns (quote them); all files are sorted by path.\n"
            "options:\n"
            "  --tokenizer DIR          directory with vocab.json and merges.txt (GPT-2), or\n"
            "                           spiece.model (T5 SentencePiece, for pairs)%s%s%s\n"
            "  --out FILE               the corpus to write (HDF5)\n"
            "  --format text|jsonl      input format (default text)\n"
            "  --delimiter STR          text: a line equal to STR separates documents\n"
            "                           (default: one document per file; '' = blank lines)\n"
            "  --text-field NAME        jsonl: the string field with the text (default text)\n"
            "  --val-ratio X            fraction of documents held out for validation (0.05)\n"
            "  --split-seed N           seed of the train/validation assignment (1234)\n"
            "  --overwrite              replace FILE if it exists\n"
            "  --skip-bad-json          skip and count malformed JSONL lines instead of failing\n"
            "  --replace-invalid-utf8   replace invalid UTF-8 by U+FFFD instead of failing\n"
            "  --allow-special          \"<|endoftext|>\" in the text becomes the eos token\n"
            "  --round-mb N             input MB dealt to the ranks per round (32; memory use\n"
            "                           is a few times this)\n"
            "  --timeout-s N            a rank waiting this long for the others without progress\n"
            "                           ends the job with exit code 69 (default 1800; 0 = off)\n"
            "  --quiet                  no progress lines\n"
            "labeled corpora (sequence classification; jsonl only):\n"
            "  --label-field NAME       the field with each example's label: a string or an\n"
            "                           integer class id; makes a kind \"labeled\" corpus whose\n"
            "                           documents are the examples (no eos appended) and whose\n"
            "                           validation split is stratified per class\n"
            "  --labels A,B,C           the class names in id order (string labels must be one\n"
            "                           of them; integer labels are ids into them). Default:\n"
            "                           the distinct string labels sorted by bytes\n"
            "  --num-labels K           integer labels are class ids in [0, K)\n"
            "  --max-length N           tokens kept per example (default: the tokenizer's\n"
            "                           model_max_length from tokenizer_config.json, else 1024)\n"
            "  --truncation right|left  which end of a longer example is cut (default right:\n"
            "                           the first N tokens are kept)\n"
            "  --skip-bad-labels        skip and count examples whose label is missing, unknown\n"
            "                           or out of range instead of failing\n"
            "sequence-to-sequence pairs (T5; jsonl only; --tokenizer DIR with spiece.model):\n"
            "  --source-field NAME      the string field with each pair's source text; with\n"
            "  --target-field NAME      the one with its target text: a kind \"pairs\" corpus,\n"
            "                           one pair per line, </s> appended to both sides (an\n"
            "                           empty target is an error)\n"
            "  --source-prefix STR      prepended to every source text before tokenizing (T5's\n"
            "                           task prefix, e.g. 'translate English to German: ')\n"
            "  --max-source-len N       tokens kept per source, </s> included (default: all);\n"
            "  --max-target-len N       per target; a longer side keeps its first N-1 tokens\n"
            "                           and </s>, as T5TokenizerFast(truncation=True,\n"
            "                           max_length=N) does\n"
            "  --allow-special          also: <extra_id_N>, </s>, <pad>, <unk> in the text\n"
            "                           become their ids (as T5TokenizerFast does)\n",
#ifdef RT_TOKENIZER_DIR
            " (default ", RT_TOKENIZER_DIR, ")"
#else
            "", "", ""
#endif
    );
}

/* The command line as a shell would take it back, for the corpus's command_line attribute. */
static char *join_command(int argc, char **argv) {
    size_t n = 32;
    for (int i = 0; i < argc; i++) n += 4 * strlen(argv[i]) + 3;
    char *s = malloc(n), *q = s;
    if (!s) return NULL;
    q = stpcpy(q, "ringtune prep");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        *q++ = ' ';
        int plain = *a != 0;
        for (const char *c = a; *c && plain; c++)
            plain =
                strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=:,+-@%",
                       *c) != NULL;
        if (plain) {
            q = stpcpy(q, a);
            continue;
        }
        *q++ = '\'';
        for (const char *c = a; *c; c++) {
            if (*c == '\'')
                q = stpcpy(q, "'\\''");
            else
                *q++ = *c;
        }
        *q++ = '\'';
    }
    *q = 0;
    return s;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* The names of --labels A,B,C: a copy of the value cut at the commas (owned; label_free). */
typedef struct {
    char *copy;
    const char **v;
} label_list;

static void label_free(label_list *l) {
    free(l->copy);
    free(l->v);
    l->copy = NULL;
    l->v = NULL;
}

/* One of the labeled-corpus options with its value v. 0 or 2 (usage error, printed when loud);
   1 when out of memory. */
static int parse_label_opt(const char *a, const char *v, rt_prep_opts *o, label_list *names,
                           int loud) {
    char *end;
    if (!strcmp(a, "--label-field")) {
        o->label_field = v;
    } else if (!strcmp(a, "--truncation")) {
        if (strcmp(v, "right") && strcmp(v, "left")) {
            if (loud)
                fprintf(stderr, "ringtune prep: --truncation '%s': expected right or left\n", v);
            return 2;
        }
        o->truncate_left = !strcmp(v, "left");
    } else if (!strcmp(a, "--labels")) {
        label_free(names);
        size_t n = 1;
        for (const char *c = v; *c; c++) n += *c == ',';
        names->copy = strdup(v);
        names->v = calloc(n, sizeof *names->v);
        if (!names->copy || !names->v) return 1;
        size_t k = 0;
        for (char *q = names->copy, *c; q; q = c) {
            c = strchr(q, ',');
            if (c) *c++ = 0;
            if (!*q) {
                if (loud)
                    fprintf(stderr,
                            "ringtune prep: --labels '%s': expected names separated by "
                            "commas, none empty\n",
                            v);
                return 2;
            }
            names->v[k++] = q;
        }
        o->label_names = names->v;
        o->n_label_names = (int)k;
    } else { /* --num-labels, --max-length */
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < 1 || x > (1 << 24)) {
            if (loud)
                fprintf(stderr, "ringtune prep: %s '%s': expected an integer in [1, 16777216]\n", a,
                        v);
            return 2;
        }
        if (!strcmp(a, "--num-labels"))
            o->num_labels = (int)x;
        else
            o->max_length = (int)x;
    }
    return 0;
}

/* One of the pairs options with its value v. 0 or 2 (usage error, printed when loud). */
static int parse_pair_opt(const char *a, const char *v, rt_prep_opts *o, int loud) {
    if (!strcmp(a, "--source-field")) {
        o->source_field = v;
    } else if (!strcmp(a, "--target-field")) {
        o->target_field = v;
    } else if (!strcmp(a, "--source-prefix")) {
        o->source_prefix = v;
    } else { /* --max-source-len, --max-target-len */
        char *end;
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < 1 || x > (1 << 24)) {
            if (loud)
                fprintf(stderr, "ringtune prep: %s '%s': expected an integer in [1, 16777216]\n", a,
                        v);
            return 2;
        }
        if (!strcmp(a, "--max-source-len"))
            o->max_source_len = (int)x;
        else
            o->max_target_len = (int)x;
    }
    return 0;
}

/* The usage error of the pairs options, or NULL. */
static const char *pair_problem(const rt_prep_opts *o) {
    int fields = (o->source_field != NULL) + (o->target_field != NULL);
    if (fields == 1) return "--source-field and --target-field go together";
    if (fields == 0 && (o->source_prefix || o->max_source_len || o->max_target_len))
        return "--source-prefix, --max-source-len and --max-target-len need --source-field and "
               "--target-field";
    if (fields == 2 && o->format != RT_PREP_JSONL)
        return "--source-field/--target-field apply to --format jsonl only";
    if (fields == 2 && o->label_field)
        return "--label-field and --source-field/--target-field make different corpora; give "
               "one of them";
    if (fields == 2 && o->text_field && strcmp(o->text_field, "text") != 0)
        return "--text-field does not apply to pairs (--source-field/--target-field name the "
               "texts)";
    return NULL;
}

/* Parses argv into o (inputs point into argv, label names into names). Returns 0 on success, 2 on
   a usage error (printed when loud), -1 for --help, 1 when out of memory. */
static int parse(int argc, char **argv, rt_prep_opts *o, const char **inputs, label_list *names,
                 int loud) {
    int format_given = 0, n_in = 0, quiet = 0, only_inputs = 0;
    o->progress = stderr;
#ifdef RT_TOKENIZER_DIR
    o->tokenizer_dir = RT_TOKENIZER_DIR;
#endif
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_inputs || a[0] != '-' || !strcmp(a, "-")) {
            inputs[n_in++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_inputs = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return -1;
        if (!strcmp(a, "--overwrite")) {
            o->overwrite = 1;
            continue;
        }
        if (!strcmp(a, "--skip-bad-json")) {
            o->skip_bad_json = 1;
            continue;
        }
        if (!strcmp(a, "--replace-invalid-utf8")) {
            o->replace_invalid_utf8 = 1;
            continue;
        }
        if (!strcmp(a, "--allow-special")) {
            o->allow_special = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "--skip-bad-labels")) {
            o->skip_bad_labels = 1;
            continue;
        }
        static const char *const valued[] = {"--tokenizer",      "--out",
                                             "--format",         "--delimiter",
                                             "--text-field",     "--val-ratio",
                                             "--split-seed",     "--round-mb",
                                             "--timeout-s",      "--label-field",
                                             "--labels",         "--num-labels",
                                             "--max-length",     "--truncation",
                                             "--source-field",   "--target-field",
                                             "--source-prefix",  "--max-source-len",
                                             "--max-target-len", NULL};
        int known = 0;
        for (const char *const *v = valued; *v && !known; v++) known = !strcmp(*v, a);
        if (!known) {
            if (loud) fprintf(stderr, "ringtune prep: unknown option '%s'\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            if (loud) fprintf(stderr, "ringtune prep: option '%s' needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        char *end;
        if (!strcmp(a, "--tokenizer")) {
            o->tokenizer_dir = v;
        } else if (!strcmp(a, "--out")) {
            o->out = v;
        } else if (!strcmp(a, "--format")) {
            format_given = 1;
            if (!strcmp(v, "text"))
                o->format = RT_PREP_TEXT;
            else if (!strcmp(v, "jsonl"))
                o->format = RT_PREP_JSONL;
            else {
                if (loud)
                    fprintf(stderr, "ringtune prep: --format '%s': expected text or jsonl\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--delimiter")) {
            o->delimiter = v;
        } else if (!strcmp(a, "--text-field")) {
            o->text_field = v;
        } else if (!strcmp(a, "--val-ratio")) {
            double x = strtod(v, &end);
            if (end == v || *end || !(x >= 0 && x <= 1)) {
                if (loud)
                    fprintf(stderr,
                            "ringtune prep: --val-ratio '%s': expected a number in [0, 1]\n", v);
                return 2;
            }
            o->val_ratio = x;
        } else if (!strcmp(a, "--split-seed")) {
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (errno || end == v || *end || *v == '-' || x > (unsigned long long)INT64_MAX) {
                if (loud)
                    fprintf(stderr,
                            "ringtune prep: --split-seed '%s': expected an integer in [0, 2^63)\n",
                            v);
                return 2;
            }
            o->split_seed = x;
        } else if (!strcmp(a, "--label-field") || !strcmp(a, "--labels") ||
                   !strcmp(a, "--num-labels") || !strcmp(a, "--max-length") ||
                   !strcmp(a, "--truncation")) {
            int rc = parse_label_opt(a, v, o, names, loud);
            if (rc) return rc;
        } else if (!strcmp(a, "--source-field") || !strcmp(a, "--target-field") ||
                   !strcmp(a, "--source-prefix") || !strcmp(a, "--max-source-len") ||
                   !strcmp(a, "--max-target-len")) {
            int rc = parse_pair_opt(a, v, o, loud);
            if (rc) return rc;
        } else if (!strcmp(a, "--timeout-s")) {
            double x = strtod(v, &end);
            if (end == v || *end || !(x >= 0 && x <= 1e9)) {
                if (loud)
                    fprintf(stderr,
                            "ringtune prep: --timeout-s '%s': expected seconds in [0, 1e9]\n", v);
                return 2;
            }
            o->timeout_s = x;
        } else { /* --round-mb */
            errno = 0;
            long x = strtol(v, &end, 10);
            if (errno || end == v || *end || x < 1 || x > 1024) {
                if (loud)
                    fprintf(stderr,
                            "ringtune prep: --round-mb '%s': expected an integer in [1, 1024]\n",
                            v);
                return 2;
            }
            o->round_bytes = (size_t)x << 20;
        }
    }
    if (quiet) o->progress = NULL;
    const char *problem = NULL;
    if (!o->tokenizer_dir)
        problem = "--tokenizer DIR is required (the directory with vocab.json and merges.txt, "
                  "or spiece.model)";
    else if (!o->out)
        problem = "--out FILE is required";
    else if (n_in == 0)
        problem = "no INPUT files given";
    else if (o->delimiter && o->format != RT_PREP_TEXT)
        problem = "--delimiter applies to --format text only";
    else if (o->text_field && strcmp(o->text_field, "text") != 0 && o->format != RT_PREP_JSONL)
        problem = "--text-field applies to --format jsonl only";
    else if (o->label_field && o->format != RT_PREP_JSONL)
        problem = "--label-field applies to --format jsonl only";
    else if (!o->label_field && (o->label_names || o->num_labels || o->max_length ||
                                 o->truncate_left || o->skip_bad_labels))
        problem = "--labels, --num-labels, --max-length, --truncation and --skip-bad-labels "
                  "need --label-field";
    else if (o->num_labels && o->n_label_names && o->num_labels != o->n_label_names)
        problem = "--num-labels differs from the number of names in --labels";
    else
        problem = pair_problem(o);
    if (problem) {
        if (loud) fprintf(stderr, "ringtune prep: %s (see ringtune prep --help)\n", problem);
        return 2;
    }
    if (!format_given)
        for (int i = 0; i < n_in; i++)
            if (ends_with(inputs[i], ".jsonl") || ends_with(inputs[i], ".json")) {
                if (loud)
                    fprintf(stderr,
                            "ringtune prep: input '%s' looks like JSONL; pass --format jsonl (or "
                            "--format text to tokenize it as plain text)\n",
                            inputs[i]);
                return 2;
            }
    o->inputs = inputs;
    o->n_inputs = n_in;
    return 0;
}

/* Rank 0 after a labeled prep: the truncation and skip counts, and the per-class counts per split
   as the corpus stores them (read back from it). */
static void print_labels(const rt_prep_opts *o, const rt_prep_result *r) {
    printf("  labels: %d classes; %llu examples truncated to %d tokens (%s); %llu skipped for a "
           "bad label\n",
           r->num_labels, (unsigned long long)r->n_truncated, r->max_length,
           o->truncate_left ? "left" : "right", (unsigned long long)r->n_skipped_bad_label);
    rt_corpus *c = NULL;
    if (rt_corpus_open(&c, o->out, MPI_COMM_NULL) != RT_OK) {
        printf("  (cannot read the class counts back: %s)\n", rt_error_message());
        return;
    }
    const rt_corpus_info *in = rt_corpus_get_info(c);
    printf("  %-33s %10s %10s\n", "class", "train", "validation");
    int shown = in->num_labels <= 64 ? in->num_labels : 50;
    for (int i = 0; i < shown; i++)
        printf("  %4d %-28.28s %10llu %10llu\n", i, in->label_names[i],
               (unsigned long long)in->label_counts[0][i],
               (unsigned long long)in->label_counts[1][i]);
    if (shown < in->num_labels)
        printf(
            "  ... %d more classes (all counts: /train/label_counts, /validation/label_counts)\n",
            in->num_labels - shown);
    printf("  label pass (reading the labels, stratifying) %.2f s\n", r->t_labels);
    rt_corpus_close(&c);
}

/* Rank 0 after a pairs prep: the target side and the truncation counts. */
static void print_pairs(const rt_prep_result *r) {
    char ls[32] = "no limit", lt[32] = "no limit";
    if (r->max_source_len) snprintf(ls, sizeof ls, "max %d tokens", r->max_source_len);
    if (r->max_target_len) snprintf(lt, sizeof lt, "max %d tokens", r->max_target_len);
    printf("  pairs: target tokens: train %llu, validation %llu\n",
           (unsigned long long)r->n_target_tokens[RT_SPLIT_TRAIN],
           (unsigned long long)r->n_target_tokens[RT_SPLIT_VALIDATION]);
    printf("  truncated: %llu sources (%s), %llu targets (%s)\n",
           (unsigned long long)r->n_truncated_source, ls, (unsigned long long)r->n_truncated_target,
           lt);
}

/* 1 when argv asks for --help (parsed as rt_cmd_prep parses it, quietly). */
static int wants_help(int argc, char **argv) {
    rt_prep_opts o;
    rt_prep_opts_default(&o);
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    label_list names = {NULL, NULL};
    int rc = inputs ? parse(argc, argv, &o, inputs, &names, 0) : 0;
    free(inputs);
    label_free(&names);
    return rc == -1;
}

int rt_cmd_prep(int argc, char **argv) {
    /* --help needs no MPI: answer it without initialising it (a singleton init forks an orted),
       on every rank, as `ringtune train --help` does */
    if (wants_help(argc, argv)) {
        prep_usage(stdout);
        return 0;
    }
    int inited = 0, finalized = 0, own = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized) {
        fprintf(stderr, "ringtune prep: MPI was already finalized in this process\n");
        return 1;
    }
    if (!inited) {
        int provided;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "ringtune prep: MPI_Init_thread failed\n");
            return 1;
        }
        own = 1;
    }
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);

    rt_prep_opts o;
    rt_prep_opts_default(&o);
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    char *cmd = join_command(argc, argv);
    label_list names = {NULL, NULL};
    int rc = inputs && cmd ? parse(argc, argv, &o, inputs, &names, rank == 0) : 1;
    if (rc == 1 && rank == 0) fprintf(stderr, "ringtune prep: out of memory\n");
    if (rc == -1) {
        if (rank == 0) prep_usage(stdout);
        rc = 0;
    } else if (rc == 0) {
        o.command_line = cmd;
        if (rank != 0) o.progress = NULL;
        rt_prep_result r;
        rt_status st = rt_prep_run(&o, MPI_COMM_WORLD, &r);
        if (st != RT_OK) {
            if (rank == 0) fprintf(stderr, "ringtune prep: %s\n", rt_error_message());
            rc = 1;
        } else if (rank == 0) {
            double mb = r.bytes_in / 1e6;
            const char *what = o.source_field ? "pairs" : "documents";
            const char *side = o.source_field ? " source" : "";
            printf("ringtune prep: wrote %s: %llu %s, %llu%s tokens (uint%d) from %llu files, "
                   "%.1f MB\n",
                   o.out, (unsigned long long)r.n_documents, what,
                   (unsigned long long)(r.n_tokens[0] + r.n_tokens[1]), side, 8 * r.token_bytes,
                   (unsigned long long)r.n_files, mb);
            printf("  train: %llu %s, %llu%s tokens; validation: %llu %s, %llu%s tokens\n",
                   (unsigned long long)r.n_docs[RT_SPLIT_TRAIN], what,
                   (unsigned long long)r.n_tokens[RT_SPLIT_TRAIN], side,
                   (unsigned long long)r.n_docs[RT_SPLIT_VALIDATION], what,
                   (unsigned long long)r.n_tokens[RT_SPLIT_VALIDATION], side);
            printf("  skipped: %llu empty documents, %llu malformed JSON lines; %llu invalid "
                   "UTF-8 sequences replaced\n",
                   (unsigned long long)r.n_skipped_empty, (unsigned long long)r.n_skipped_bad_json,
                   (unsigned long long)r.n_replaced_utf8);
            if (o.label_field) print_labels(&o, &r);
            if (o.source_field) print_pairs(&r);
            printf("  %.1f MB in %.2f s = %.2f MB/s on %d rank%s (setup %.2f s, reading %.2f s, "
                   "tokenizing %.2f s, writing %.2f s)\n",
                   mb, r.seconds, r.seconds > 0 ? mb / r.seconds : 0.0, r.n_ranks,
                   r.n_ranks == 1 ? "" : "s", r.t_setup, r.t_read, r.t_tokenize, r.t_write);
            fflush(stdout);
        }
    }
    free(inputs);
    free(cmd);
    label_free(&names);
    if (own) {
        rt_wd_scope s; /* a peer stopped after the last collective would hang MPI_Finalize */
        rt_watchdog_enter(&s, "MPI_Finalize", RT_WD_ALL, RT_WD_ALL);
        MPI_Finalize();
        rt_watchdog_leave(&s);
        rt_watchdog_stop();
    }
    return rc;
}
