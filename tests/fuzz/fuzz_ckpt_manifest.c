/* The checkpoint manifest decoder (io/ckpt.c rt_ckpt_manifest_decode): envelope, checksum,
   protobuf, and every bound on what the readers use. Pure: no files. A manifest that decodes must
   satisfy, checked here independently, what the readers index with: shards tiling
   [0, total_params), pieces of at most RT_CKPT_PIECE_ELEMS inside their shard, tensors inside the
   buffer, a params dataset in every shard. The first input byte picks what the rest is: even, a
   whole manifest.pb (envelope included); odd, the inner Manifest, wrapped with a correct
   checksum (fuzz_ckpt.h). */
#include "fuzz_ckpt.h"

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "decoded manifest violates: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t n = size - 1;
    uint8_t *wrapped = data[0] % 2 ? fz_envelope(data + 1, n, &n) : NULL;
    Ringtune__Manifest *m = NULL;
    if (rt_ckpt_manifest_decode("fuzz", wrapped ? wrapped : data + 1, n, &m) == RT_OK) {
        uint64_t e = 0;
        check(m->total_params <= RT_CKPT_MAX_PARAMS, "total_params bound");
        for (size_t s = 0; s < m->n_shards; s++) {
            const Ringtune__Shard *sh = m->shards[s];
            check(sh->lo == e && sh->hi >= sh->lo, "shards tile");
            check(rt_ckpt_find_dataset(sh, "params") != NULL, "params dataset");
            for (size_t d = 0; d < sh->n_datasets; d++)
                for (size_t k = 0; k < sh->datasets[d]->n_pieces; k++) {
                    const Ringtune__Piece *p = sh->datasets[d]->pieces[k];
                    check(p->lo >= sh->lo && p->hi <= sh->hi && p->lo < p->hi, "piece in shard");
                    check(p->hi - p->lo <= RT_CKPT_PIECE_ELEMS, "piece size");
                }
            e = sh->hi;
        }
        check(e == m->total_params, "shards end at total_params");
        for (size_t i = 0; i < m->n_tensors; i++) {
            const Ringtune__Tensor *t = m->tensors[i];
            check(t->offset <= m->total_params && t->numel <= m->total_params - t->offset,
                  "tensor inside the buffer");
        }
        check(m->config_yaml && m->data->tokenizer_sha256, "strings");
        rt_ckpt_manifest_free(&m);
    }
    free(wrapped);
    rt_error_clear();
    return 0;
}
