/* Shared by the checkpoint targets: a fuzzed inner Manifest wrapped in the envelope with a correct
   checksum, so the fuzzer's mutations reach the manifest's checks instead of all failing at the
   envelope's XXH3 (as a forged manifest.pb would, tests/ckpt/ckpt_forge.c). */
#pragma once
#include <xxhash.h>
#include "ckpt.h"
#include "fuzz_common.h"

/* The envelope around inner[0..n) (malloc'd, *len bytes). */
static inline uint8_t *fz_envelope(const uint8_t *inner, size_t n, size_t *len) {
    Ringtune__ManifestFile env = RINGTUNE__MANIFEST_FILE__INIT;
    env.magic = (char *)RT_CKPT_MAGIC;
    env.format_version = RT_CKPT_FORMAT_VERSION;
    env.manifest.data = (uint8_t *)inner;
    env.manifest.len = n;
    env.manifest_xxh3 = (uint64_t)XXH3_64bits(inner, n);
    *len = ringtune__manifest_file__get_packed_size(&env);
    uint8_t *out = malloc(*len ? *len : 1);
    if (!out) abort();
    ringtune__manifest_file__pack(&env, out);
    return out;
}
