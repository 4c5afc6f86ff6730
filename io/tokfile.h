/* Token files: raw little-endian uint16 token ids (the embedded demo's corpus format until the
   HDF5 corpus exists). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "status.h"

typedef struct {
    uint16_t *ids; /* owned */
    size_t n;
} rt_tokens;

/* Reads path; every id must be < vocab_size (the error names the file, the position and the id). */
rt_status rt_tokens_read_u16(const char *path, int vocab_size, rt_tokens *out);
void rt_tokens_free(rt_tokens *t);
