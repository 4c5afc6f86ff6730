/* Shared by fuzz_prep_jsonl and fuzz_prep_text: `ringtune prep` (dist/prep.c rt_prep_run) over one
   input file on MPI_COMM_SELF (a singleton MPI_Init at start-up) with the GPT-2 tokenizer of
   cli/demo/tokenizers (RT_FUZZ_GPT2), writing a corpus into the scratch directory. The input's
   length picks the options (odd: skip bad JSON lines, replace invalid UTF-8, allow the special
   token; even: fail on them), so both paths of the readers are fuzzed. */
#pragma once
#include <mpi.h>
#include "bpe.h"
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
    rt_prep_result res;
    if (rt_prep_run(&o, MPI_COMM_SELF, &res) == RT_OK &&
        res.n_documents != res.n_docs[0] + res.n_docs[1]) {
        fprintf(stderr, "prep: %llu documents but %llu + %llu per split\n",
                (unsigned long long)res.n_documents, (unsigned long long)res.n_docs[0],
                (unsigned long long)res.n_docs[1]);
        abort();
    }
    rt_error_clear();
}
