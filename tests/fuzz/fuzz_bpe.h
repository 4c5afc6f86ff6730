/* Shared by fuzz_vocab and fuzz_merges: loads a tokenizer from the two files and, when it loads,
   encodes and decodes a fixed text through it (ids in range, decode never fails). */
#pragma once
#include "bpe.h"
#include "fuzz_common.h"

static const char fz_text[] = "Hello world, 123 <|endoftext|> caf\xc3\xa9 \xe2\x82\xac  x\n\ttabs";

static inline void fz_bpe_exercise(const char *vocab, const char *merges) {
    rt_bpe *t = NULL;
    if (rt_bpe_load(&t, vocab, merges) == RT_OK) {
        rt_bpe_scratch *s = NULL;
        FZ_CALL(rt_bpe_scratch_create(&s));
        int32_t *ids = NULL;
        size_t n = 0, cap = 0, rep = 0;
        rt_bpe_encode_opts o = {1, 1, "fuzz", 1};
        if (rt_bpe_encode(t, s, fz_text, sizeof fz_text - 1, &o, &ids, &n, &cap, &rep) != RT_OK)
            abort();
        for (size_t i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= rt_bpe_vocab_size(t)) abort();
        char *out = NULL;
        size_t len = 0, ocap = 0;
        if (rt_bpe_decode(t, ids, n, &out, &len, &ocap) != RT_OK) abort();
        free(out);
        free(ids);
        rt_bpe_scratch_destroy(&s);
        rt_bpe_destroy(&t);
    }
    rt_error_clear();
}
