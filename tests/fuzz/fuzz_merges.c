/* merges.txt of a GPT-2 BPE tokenizer (io/bpe.c rt_bpe_load), with a fixed small vocab.json
   (RT_FUZZ_TOKENIZER: tests/fuzz/corpus/tokenizer). */
#include "fuzz_bpe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char merges[256];
    snprintf(merges, sizeof merges, "%s", fz_write("merges.txt", data, size));
    fz_bpe_exercise(RT_FUZZ_TOKENIZER "/vocab.json", merges);
    return 0;
}
