/* uint16 token files. */
#include "tokfile.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rt_status rt_tokens_read_u16(const char *path, int vocab_size, rt_tokens *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return rt_error(RT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    long sz = -1;
    if (fseek(f, 0, SEEK_END) == 0) sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return rt_error(RT_ERR_IO, "%s: cannot determine its size", path);
    }
    if (sz % 2 != 0 || sz == 0) {
        fclose(f);
        return rt_error(RT_ERR_FORMAT,
                        "%s: %ld bytes: expected a non-empty whole number of uint16 tokens", path,
                        sz);
    }
    size_t n = (size_t)sz / 2;
    uint16_t *ids = malloc(n * sizeof *ids);
    if (!ids) {
        fclose(f);
        return rt_error(RT_ERR_MEMORY, "%s: out of memory for %zu tokens", path, n);
    }
    size_t got = fread(ids, sizeof *ids, n, f);
    fclose(f);
    if (got != n) {
        free(ids);
        return rt_error(RT_ERR_IO, "%s: read %zu of %zu tokens", path, got, n);
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= vocab_size) {
            rt_status s = rt_error(RT_ERR_FORMAT,
                                   "%s: token %zu is id %u, outside the model's vocabulary [0, %d)",
                                   path, i, ids[i], vocab_size);
            free(ids);
            return s;
        }
    out->ids = ids;
    out->n = n;
    return RT_OK;
}

void rt_tokens_free(rt_tokens *t) {
    free(t->ids);
    t->ids = NULL;
    t->n = 0;
}
