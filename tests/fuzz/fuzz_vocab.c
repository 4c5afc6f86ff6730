/* vocab.json of a GPT-2 BPE tokenizer (io/bpe.c rt_bpe_load), with a fixed small merges.txt
   (RT_FUZZ_TOKENIZER: tests/fuzz/corpus/tokenizer). */
#include "fuzz_bpe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char vocab[256];
    snprintf(vocab, sizeof vocab, "%s", fz_write("vocab.json", data, size));
    fz_bpe_exercise(vocab, RT_FUZZ_TOKENIZER "/merges.txt");
    return 0;
}
