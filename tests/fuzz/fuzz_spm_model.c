/* A SentencePiece model file (io/spm.c rt_spm_load_bytes: protobuf ModelProto, pieces, the
   precompiled charsmap's Darts trie): when it loads, a fixed text encodes (added tokens off and
   on, </s> appended) to ids in range, which decode. Seed: corpus/fuzz_spm_model/tiny.model
   (make_spm_seed.py), a 100-piece model with a 10-rule charsmap. */
#include "fuzz_common.h"
#include "spm.h"

static const char fz_text[] = "Hello  world, 123 <extra_id_0> caf\xc3\xa9 \xef\xac\x81 A\xcc\x8a "
                              "\xe2\x91\xa0\t\xe3\x80\x80x\n</s> \xff\xfe \xe2\x96\x81 end ";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rt_spm *t = NULL;
    if (rt_spm_load_bytes(&t, data, size, "fuzz.model", NULL) == RT_OK) {
        for (int special = 0; special < 2; special++) {
            int32_t *ids = NULL;
            size_t n = 0, cap = 0;
            rt_spm_encode_opts o = {rt_spm_eos_id(t) >= 0, special};
            rt_status s = rt_spm_encode(t, fz_text, sizeof fz_text - 1, &o, &ids, &n, &cap);
            /* a charsmap value past its strings is the only error a loaded model may give */
            if (s != RT_OK && !strstr(rt_error_message(), "precompiled_charsmap")) abort();
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= rt_spm_vocab_size(t)) abort();
            char *out = NULL;
            size_t len = 0, ocap = 0;
            if (rt_spm_decode(t, ids, n, &out, &len, &ocap) != RT_OK) abort();
            free(out);
            free(ids);
        }
        rt_spm_destroy(&t);
    }
    rt_error_clear();
    return 0;
}
