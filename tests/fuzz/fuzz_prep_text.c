/* `ringtune prep` on text: one document per file or blank-line delimited documents, UTF-8 checks
   and the tokenizer (fuzz_prep.h). */
#include "fuzz_prep.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_prep_init(argc, argv);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_prep_run(data, size, RT_PREP_TEXT);
    return 0;
}
