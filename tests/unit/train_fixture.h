/* Shared by the MPI training tests: a tiny GPT-2 (vocab 64, 3 blocks of width 24) saved as a
   Hugging Face directory, and corpora of vocab 64 whose train/validation token streams come from
   generator functions. Rank 0 calls these; failures abort the job (fixture set-up is not a
   test). */
#pragma once
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include "corpus.h"
#include "gpt2.h"
#include "hf_gpt2.h"

#define FIXTURE_CALL(expr)                                                                         \
    do {                                                                                           \
        if ((expr) != RT_OK) {                                                                     \
            fprintf(stderr, "test fixture: %s\n", rt_error_message());                             \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                          \
        }                                                                                          \
    } while (0)

typedef int (*fixture_tokgen)(long i);

static inline int fixture_rnd(long i) {
    return (int)((i * 2654435761u + (unsigned)(i >> 3) * 40503u) % 63u);
}

/* rising and falling sequences: train on one, validate on the other and the validation loss
   gets worse (early stopping, retention by validation loss) */
static inline int fixture_up(long i) {
    return (int)(i % 63);
}
static inline int fixture_down(long i) {
    return (int)(62 - i % 63);
}

/* n tokens per split in documents of 256 tokens + eos (63). */
static inline void fixture_write_corpus(const char *path, fixture_tokgen tr, fixture_tokgen va,
                                        long n) {
    rt_corpus_meta meta = {0};
    meta.kind = "text";
    meta.vocab_size = 64;
    meta.eos_id = 63;
    meta.tokenizer_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    meta.sources = "test fixture";
    rt_corpus_writer *w;
    FIXTURE_CALL(rt_corpus_writer_create(&w, path, 1, &meta));
    uint16_t doc[257];
    for (long d = 0; d < n / 256; d++) {
        for (int k = 0; k < 256; k++) doc[k] = (uint16_t)tr(d * 256 + k);
        doc[256] = 63;
        FIXTURE_CALL(rt_corpus_writer_add(w, RT_SPLIT_TRAIN, (uint64_t)d, doc, 257));
        for (int k = 0; k < 256; k++) doc[k] = (uint16_t)va(d * 256 + k);
        FIXTURE_CALL(rt_corpus_writer_add(w, RT_SPLIT_VALIDATION, (uint64_t)d, doc, 257));
    }
    rt_corpus_counts counts = {0};
    FIXTURE_CALL(rt_corpus_writer_commit(&w, &counts));
}

/* The tiny model, created (not saved) so a caller may alter it before saving. */
static inline rt_gpt2 *fixture_tiny_model(void) {
    rt_gpt2_config c;
    rt_gpt2_config_default(&c);
    c.vocab_size = 64;
    c.n_positions = 32;
    c.n_embd = 24;
    c.n_inner = 96;
    c.n_layer = 3;
    c.n_head = 2;
    c.eos_token_id = c.bos_token_id = 63;
    rt_gpt2 *m;
    FIXTURE_CALL(rt_gpt2_create(&m, &c));
    rt_gpt2_init_weights(m, 7);
    return m;
}

/* The standard files under dir (call on one rank): the tiny model as dir/base, corpora
   dir/rand.h5 (random tokens in both splits) and dir/updown.h5 (train rising, validate falling).
   Returns the model for callers that save variants of it; the caller destroys it. */
static inline rt_gpt2 *fixture_standard_files(const char *dir) {
    rt_gpt2 *m = fixture_tiny_model();
    char p[512];
    snprintf(p, sizeof p, "%s/base", dir);
    FIXTURE_CALL(rt_hf_gpt2_save(m, p));
    snprintf(p, sizeof p, "%s/rand.h5", dir);
    fixture_write_corpus(p, fixture_rnd, fixture_rnd, 256 * 24);
    snprintf(p, sizeof p, "%s/updown.h5", dir);
    fixture_write_corpus(p, fixture_up, fixture_down, 256 * 24);
    return m;
}
