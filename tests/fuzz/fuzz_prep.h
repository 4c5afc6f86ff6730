/* Shared by fuzz_prep_jsonl and fuzz_prep_text: `ringtune prep` (dist/prep.c rt_prep_run) over one
   input file on MPI_COMM_SELF (a singleton MPI_Init at start-up) with the GPT-2 tokenizer of
   cli/demo/tokenizers (RT_FUZZ_GPT2), writing a corpus into the scratch directory. The input's
   length picks the options (odd: skip bad JSON lines, replace invalid UTF-8, allow the special
   token; even: fail on them), so both paths of the readers are fuzzed. */
#pragma once
#include <mpi.h>
#include "bpe.h"
#include "corpus.h"
#include "fuzz_common.h"
#include "prep.h"

static rt_bpe *fz_tok;

static void fz_mpi_finalize(void) {
    MPI_Finalize();
}

static inline void fz_prep_init(int *argc, char ***argv) {
    if (getuid() == 0) { /* a singleton still checks (CI containers run as root) */
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    }
    MPI_Init(argc, argv);
    atexit(fz_mpi_finalize);
    FZ_CALL(rt_bpe_load(&fz_tok, RT_FUZZ_GPT2 "/vocab.json", RT_FUZZ_GPT2 "/merges.txt"));
}

/* A labeled corpus that prep wrote opens (the reader validates labels, counts and lengths) and
   every example reads back with at most max_length tokens and a label in range. */
static inline void fz_check_labeled(const char *out, const rt_prep_opts *o,
                                    const rt_prep_result *res) {
    rt_corpus *c = NULL;
    if (rt_corpus_open(&c, out, MPI_COMM_NULL) != RT_OK) {
        fprintf(stderr, "labeled corpus written but not readable: %s\n", rt_error_message());
        abort();
    }
    const rt_corpus_info *in = rt_corpus_get_info(c);
    if (in->max_length != o->max_length || in->num_labels != res->num_labels ||
        in->n_truncated != res->n_truncated)
        abort();
    int32_t ids[8], lab;
    size_t n;
    for (int k = 0; k < 2; k++)
        for (uint64_t i = 0; i < in->n_docs[k]; i++)
            if (rt_corpus_read_example(c, (rt_corpus_split)k, i, ids, 8, &n, &lab) != RT_OK ||
                n < 1 || n > (size_t)o->max_length || lab < 0 || lab >= in->num_labels) {
                fprintf(stderr, "labeled example %d/%llu: %s\n", k, (unsigned long long)i,
                        rt_error_message());
                abort();
            }
    rt_corpus_close(&c);
}

static inline void fz_prep_run(const uint8_t *data, size_t size, rt_prep_format format) {
    char in[256], out[256];
    snprintf(in, sizeof in, "%s",
             fz_write(format == RT_PREP_JSONL ? "in.jsonl" : "in.txt", data, size));
    snprintf(out, sizeof out, "%s/out.h5", fz_dir());
    rt_prep_opts o;
    rt_prep_opts_default(&o);
    const char *inputs[1] = {in};
    o.tokenizer = fz_tok;
    o.out = out;
    o.format = format;
    o.overwrite = 1;
    o.inputs = inputs;
    o.n_inputs = 1;
    o.val_ratio = 0.5;
    int lax = size % 2;
    o.skip_bad_json = o.replace_invalid_utf8 = o.allow_special = lax;
    if (format == RT_PREP_TEXT && (size / 2) % 2) o.delimiter = "";
    /* jsonl, (size / 4) % 3: 0 text corpus, 1 labeled with sorted string labels, 2 labeled with
       integer ids (--num-labels 3); max_length 1..7, either truncation side */
    int labeled = format == RT_PREP_JSONL ? (int)((size / 4) % 3) : 0;
    if (labeled) {
        o.label_field = "label";
        o.skip_bad_labels = lax;
        o.num_labels = labeled == 2 ? 3 : 0;
        o.max_length = 1 + (int)(size % 7);
        o.truncate_left = (size / 16) % 2;
    }
    rt_prep_result res;
    if (rt_prep_run(&o, MPI_COMM_SELF, &res) == RT_OK) {
        if (res.n_documents != res.n_docs[0] + res.n_docs[1]) {
            fprintf(stderr, "prep: %llu documents but %llu + %llu per split\n",
                    (unsigned long long)res.n_documents, (unsigned long long)res.n_docs[0],
                    (unsigned long long)res.n_docs[1]);
            abort();
        }
        if (labeled) fz_check_labeled(out, &o, &res);
    }
    rt_error_clear();
}
