/* The tiny corpus of tests/fixtures/corpus/ (written by tests/fixtures/gen_corpus_fixture.c) and
   of the corpus integrity tests: 12 documents of 1..7 ids, vocabulary 1001 (eos 1000), 8-element
   chunks so that both splits span several chunks and the file stays a few KB. */
#pragma once
#include <stdint.h>
#include "corpus.h"

#define FX_VOCAB 1001
#define FX_EOS 1000
#define FX_DOCS 12
#define FX_CHUNK 8
#define FX_SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FX_SOURCES "a.txt\nb.txt"
#define FX_COMMAND "ringtune prep fixture"

static inline int fx_doc_len(int d) {
    return 1 + (d * 5) % 7;
}
/* id i of document d (the last one is eos) */
static inline uint16_t fx_id(int d, int i) {
    return i == fx_doc_len(d) - 1 ? FX_EOS : (uint16_t)((d * 37 + i * 11) % FX_EOS);
}
static inline rt_corpus_split fx_split(int d) {
    return d % 4 == 1 ? RT_SPLIT_VALIDATION : RT_SPLIT_TRAIN;
}
static inline rt_corpus_meta fx_meta(void) {
    rt_corpus_meta m = {"text", FX_VOCAB,   FX_EOS,   FX_SHA, FX_SOURCES, 77,
                        0.25,   FX_COMMAND, FX_CHUNK, NULL,   NULL};
    return m;
}
static inline rt_corpus_counts fx_counts(void) {
    rt_corpus_counts c = {3, 2, 1, 0, 0, 0, 0};
    return c;
}

/* Writes the fixture corpus to path with the writer of this build. */
static inline rt_status fx_write(const char *path) {
    rt_corpus_meta m = fx_meta();
    rt_corpus_writer *w = NULL;
    RT_CALL(rt_corpus_writer_create(&w, path, 1, &m));
    for (int d = 0; d < FX_DOCS; d++) {
        uint16_t ids[8];
        for (int i = 0; i < fx_doc_len(d); i++) ids[i] = fx_id(d, i);
        rt_status st =
            rt_corpus_writer_add(w, fx_split(d), (uint64_t)d, ids, (size_t)fx_doc_len(d));
        if (st != RT_OK) {
            rt_corpus_writer_abort(&w);
            return st;
        }
    }
    rt_corpus_counts c = fx_counts();
    return rt_corpus_writer_commit(&w, &c);
}
