/* A Hugging Face GPT-2 config.json (io/hf_gpt2.c rt_hf_gpt2_read_config). A config that reads is
   valid for rt_gpt2_config_validate. */
#include "fuzz_common.h"
#include "gpt2.h"
#include "hf_gpt2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write("config.json", data, size);
    rt_gpt2_config c;
    if (rt_hf_gpt2_read_config(fz_dir(), &c) == RT_OK && rt_gpt2_config_validate(&c) != RT_OK) {
        fprintf(stderr, "read_config accepted an invalid config: %s\n", rt_error_message());
        abort();
    }
    rt_error_clear();
    return 0;
}
