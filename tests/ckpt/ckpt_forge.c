/* Makes damaged-but-checksum-valid checkpoints for the tests (tests/ckpt/manifest_bounds.sh):
   rewrites a step directory's manifest.pb through protobuf-c and recomputes every checksum it
   carries (the pieces' XXH3 from the shard data, the envelope's XXH3), so only the bounds checks
   of the reader can refuse it.

     ckpt_forge merge-pieces STEP_DIR MAX
         Re-cuts every dataset of every shard into pieces that end only at tensor starts and
         multiples of MAX elements, and sets piece_elems = MAX (a piece larger than the 2^20
         elements a reader's scratch buffer holds, for MAX > 2^20).
     ckpt_forge set STEP_DIR FIELD VALUE
         Sets one field: total_params, piece_elems, shard1_lo (the second shard's lo: an overlap
         or a gap), shard0_file, tensor0_offset, tensor1_name (to tensor 0's: a duplicate).

   One process, no MPI. Exit 0 on success, 1 with a message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hdf5.h>
#include "ckpt.h"
#include "fsutil.h"

static int die(const char *what) {
    fprintf(stderr, "ckpt_forge: %s: %s\n", what, rt_error_message());
    return 1;
}

/* The whole dataset `name` of shard file path: n floats (caller frees). */
static float *read_dataset(const char *path, const char *name, uint64_t n) {
    float *v = malloc((size_t)(n ? n : 1) * sizeof(float));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : H5I_INVALID_HID;
    int ok = v && d >= 0 &&
             (n == 0 || H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    if (!ok) {
        fprintf(stderr, "ckpt_forge: cannot read %s:%s\n", path, name);
        free(v);
        return NULL;
    }
    return v;
}

/* The boundaries of [lo, hi): tensor starts and multiples of max (as rt_ckpt_piece_bounds). */
static rt_status recut(const char *dir, Ringtune__Manifest *m, uint64_t max) {
    rt_tensor_table tab;
    rt_table_init(&tab);
    for (size_t i = 0; i < m->n_tensors; i++) {
        int64_t shape[RT_MAX_DIMS] = {(int64_t)m->tensors[i]->numel};
        if (rt_table_add(&tab, m->tensors[i]->name, 1, shape, 0) < 0)
            return rt_error(RT_ERR_MEMORY, "tensor table");
        tab.t[i].offset = m->tensors[i]->offset;
    }
    for (size_t s = 0; s < m->n_shards; s++) {
        Ringtune__Shard *sh = m->shards[s];
        char *path = rt_fs_join(dir, sh->file);
        size_t nb = rt_ckpt_piece_bounds(&tab, sh->lo, sh->hi, max, NULL, 0);
        uint64_t *b = malloc(nb * sizeof *b);
        rt_ckpt_piece_bounds(&tab, sh->lo, sh->hi, max, b, nb);
        for (size_t d = 0; d < sh->n_datasets; d++) {
            Ringtune__Dataset *ds = sh->datasets[d];
            float *v = read_dataset(path, ds->name, sh->hi - sh->lo);
            if (!v) return rt_error(RT_ERR_IO, "%s", path);
            for (size_t p = 0; p < ds->n_pieces; p++) free(ds->pieces[p]);
            free(ds->pieces);
            ds->n_pieces = nb - 1;
            ds->pieces = calloc(nb, sizeof *ds->pieces);
            for (size_t p = 0; p + 1 < nb; p++) {
                Ringtune__Piece *pc = malloc(sizeof *pc);
                ringtune__piece__init(pc);
                pc->lo = b[p];
                pc->hi = b[p + 1];
                pc->xxh3 = rt_ckpt_hash(v + (b[p] - sh->lo), (size_t)(b[p + 1] - b[p]));
                ds->pieces[p] = pc;
                if (pc->hi - pc->lo > RT_CKPT_PIECE_ELEMS)
                    printf("%s %s: piece [%llu, %llu) of %llu elements\n", sh->file, ds->name,
                           (unsigned long long)pc->lo, (unsigned long long)pc->hi,
                           (unsigned long long)(pc->hi - pc->lo));
            }
            free(v);
        }
        free(b);
        free(path);
    }
    rt_table_free(&tab);
    m->piece_elems = max;
    return RT_OK;
}

static char *dup_str(const char *s) {
    char *d = malloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

static rt_status set_field(Ringtune__Manifest *m, const char *field, const char *value) {
    uint64_t v = strtoull(value, NULL, 10);
    if (!strcmp(field, "total_params")) {
        m->total_params = v;
    } else if (!strcmp(field, "piece_elems")) {
        m->piece_elems = v;
    } else if (!strcmp(field, "shard1_lo") && m->n_shards > 1) {
        m->shards[1]->lo = v;
    } else if (!strcmp(field, "shard0_file")) {
        free(m->shards[0]->file);
        m->shards[0]->file = dup_str(value);
    } else if (!strcmp(field, "tensor0_offset")) {
        m->tensors[0]->offset = v;
    } else if (!strcmp(field, "tensor1_name") && m->n_tensors > 1) {
        free(m->tensors[1]->name);
        m->tensors[1]->name = dup_str(m->tensors[0]->name);
    } else {
        return rt_error(RT_ERR_ARG, "unknown field %s", field);
    }
    return RT_OK;
}

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "merge-pieces") && strcmp(argv[1], "set")) ||
        (!strcmp(argv[1], "set") && argc != 5)) {
        fprintf(stderr, "usage: ckpt_forge merge-pieces STEP_DIR MAX | set STEP_DIR FIELD VALUE\n");
        return 2;
    }
    const char *dir = argv[2];
    uint8_t *buf = NULL;
    size_t n = 0;
    if (rt_ckpt_manifest_read_bytes(dir, &buf, &n) != RT_OK) return die(dir);
    Ringtune__ManifestFile *env = ringtune__manifest_file__unpack(NULL, n, buf);
    free(buf);
    if (!env) return fprintf(stderr, "ckpt_forge: %s: envelope does not decode\n", dir), 1;
    Ringtune__Manifest *m = ringtune__manifest__unpack(NULL, env->manifest.len, env->manifest.data);
    ringtune__manifest_file__free_unpacked(env, NULL);
    if (!m) return fprintf(stderr, "ckpt_forge: %s: manifest does not decode\n", dir), 1;
    rt_status st = !strcmp(argv[1], "merge-pieces") ? recut(dir, m, strtoull(argv[3], NULL, 10))
                                                    : set_field(m, argv[3], argv[4]);
    /* writes the envelope with a fresh XXH3 of the manifest bytes */
    if (st == RT_OK) st = rt_ckpt_manifest_write(dir, m);
    ringtune__manifest__free_unpacked(m, NULL);
    return st == RT_OK ? 0 : die(dir);
}
