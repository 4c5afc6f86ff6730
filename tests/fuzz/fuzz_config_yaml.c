/* The YAML run configuration (dist/config.c rt_config_load_string). A configuration that loads
   must write canonical YAML that loads again to the same values (config.h's promise). */
#include <stdio.h>
#include "config.h"
#include "fuzz_common.h"

static void on_diff(void *arg, const char *key, const char *was, const char *now) {
    fprintf(stderr, "canonical YAML changed %s: %s -> %s\n", key, was, now);
    *(int *)arg = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rt_run_config cfg;
    if (rt_config_load_string(&cfg, (const char *)data, size, "fuzz.yaml", 0, NULL) == RT_OK) {
        char *yaml = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&yaml, &len);
        if (!f || rt_config_write_yaml(&cfg, f) != RT_OK) abort();
        fclose(f);
        rt_run_config again;
        if (rt_config_load_string(&again, yaml, len, "canonical.yaml", 0, NULL) != RT_OK) {
            fprintf(stderr, "canonical YAML does not load: %s\n%s\n", rt_error_message(), yaml);
            abort();
        }
        int changed = 0;
        rt_config_diff(&cfg, &again, on_diff, &changed);
        if (changed) abort();
        rt_config_free(&again);
        rt_config_free(&cfg);
        free(yaml);
    }
    rt_error_clear();
    return 0;
}
