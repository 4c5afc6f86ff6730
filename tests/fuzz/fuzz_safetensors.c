/* A safetensors file, header and data (io/safetensors.c rt_st_open and the readers): every
   tensor the header lists is found by name, and the float ones convert. */
#include "fuzz_common.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write("model.safetensors", data, size);
    rt_st_file *f = NULL;
    if (rt_st_open(&f, path) == RT_OK) {
        for (int i = 0; i < rt_st_count(f); i++) {
            const rt_st_tensor *t = rt_st_get(f, i);
            if (!t || rt_st_find(f, t->name) != t) abort();
            if (t->dtype != RT_ST_F32 && t->dtype != RT_ST_F16 && t->dtype != RT_ST_BF16) continue;
            float *v = malloc((t->numel ? t->numel : 1) * sizeof(float));
            if (!v) abort();
            if (rt_st_read_f32(f, t->name, v, t->numel) != RT_OK) abort();
            free(v);
        }
        for (int i = 0; i < rt_st_metadata_count(f); i++) {
            const char *k = NULL, *v = NULL;
            if (rt_st_metadata_at(f, i, &k, &v) != 0 || rt_st_metadata(f, k) == NULL) abort();
        }
        rt_st_close(&f);
    }
    rt_error_clear();
    return 0;
}
