/* The checkpoint load path a manifest drives (io/ckpt.c; dist/checkpoint.c rt_ckpt_load without
   MPI): decode, the stored configuration (as the compatibility check loads it), the tensor table
   against a small model, then the resharded reads every rank of a 1-, 2- and 4-rank resume makes
   (every dataset, checksums verified, scratch of RT_CKPT_PIECE_ELEMS floats as rt_ckpt_load
   allocates), and the serial loader's model built from the manifest (`inspect --verify`,
   `export`). The shards are a real 3-rank checkpoint of that model written at start-up into the
   scratch directory. The input is the inner Manifest, wrapped with a correct checksum
   (fuzz_ckpt.h); the seed is the checkpoint's own (written to $RT_FUZZ_SEED_DIR when set). */
#include <math.h>
#include "config.h"
#include "fuzz_ckpt.h"
#include "gpt2.h"

#define NSHARD 3
static rt_gpt2 *model;
static float *buf;

static void set_section_defaults(Ringtune__Manifest *m) {
    static Ringtune__ModelConfig mc = RINGTUNE__MODEL_CONFIG__INIT;
    static Ringtune__Schedule sc = RINGTUNE__SCHEDULE__INIT;
    static Ringtune__Sampler sa = RINGTUNE__SAMPLER__INIT;
    static Ringtune__Rng rng = RINGTUNE__RNG__INIT;
    static Ringtune__DataIdentity di = RINGTUNE__DATA_IDENTITY__INIT;
    static Ringtune__TrainState ts = RINGTUNE__TRAIN_STATE__INIT;
    rt_ckpt_model_config_to_proto(&model->cfg, &mc);
    sc.kind = (char *)"cosine";
    sc.lr = 1e-3;
    sa.seq_len = 16;
    sa.global_batch = 4;
    sa.windows = 100;
    di.tokenizer_sha256 =
        (char *)"0000000000000000000000000000000000000000000000000000000000000000";
    ts.val_loss = NAN;
    m->model = &mc;
    m->schedule = &sc;
    m->sampler = &sa;
    m->rng = &rng;
    m->data = &di;
    m->state = &ts;
}

/* Writes the seed checkpoint: NSHARD shards of params/adam_m/adam_v and the manifest. */
static void write_seed(const char *dir) {
    const rt_tensor_table *tab = &model->params;
    size_t P = tab->total;
    float *v = malloc(3 * P * sizeof(float));
    for (size_t i = 0; i < 3 * P; i++) v[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    Ringtune__Shard shards[NSHARD], *sp[NSHARD];
    for (int r = 0; r < NSHARD; r++) {
        uint64_t lo = P * (uint64_t)r / NSHARD, hi = P * (uint64_t)(r + 1) / NSHARD;
        rt_ckpt_dataset ds[3] = {
            {"params", v + lo}, {"adam_m", v + P + lo}, {"adam_v", v + 2 * P + lo}};
        char path[512];
        snprintf(path, sizeof path, "%s/shard-%05d-of-%05d.h5", dir, r, NSHARD);
        FZ_CALL(
            rt_ckpt_shard_write(path, tab, r, NSHARD, 2, lo, hi, ds, 3, NULL, NULL, &shards[r]));
        sp[r] = &shards[r];
    }
    Ringtune__Tensor t[64], *tp[64];
    for (int i = 0; i < tab->n; i++) {
        ringtune__tensor__init(&t[i]);
        t[i].name = (char *)tab->t[i].name;
        t[i].n_shape = (size_t)tab->t[i].ndim;
        t[i].shape = (int64_t *)tab->t[i].shape;
        t[i].offset = tab->t[i].offset;
        t[i].numel = tab->t[i].numel;
        t[i].trainable = 1;
        t[i].first_step = 0;
        tp[i] = &t[i];
    }
    Ringtune__Manifest m = RINGTUNE__MANIFEST__INIT;
    m.format_version = RT_CKPT_FORMAT_VERSION;
    m.step = 2;
    m.world_size = NSHARD;
    m.total_params = P;
    m.piece_elems = RT_CKPT_PIECE_ELEMS;
    m.n_tensors = (size_t)tab->n;
    m.tensors = tp;
    m.n_shards = NSHARD;
    m.shards = sp;
    m.config_yaml = (char *)"model: {path: base}\ndata: {corpus: c.h5, seq_len: 16}\n"
                            "output: {dir: out}\n";
    set_section_defaults(&m);
    FZ_CALL(rt_ckpt_manifest_write(dir, &m));
    for (int r = 0; r < NSHARD; r++) rt_ckpt_shard_desc_free(&shards[r]);
    free(v);
}

/* The reads of rank r of P (rt_ckpt_load's ranges) for every dataset a load reads. */
static rt_status read_as_rank(const Ringtune__Manifest *man, int r, int P, float *scratch) {
    const rt_tensor_table *tab = &model->params;
    uint64_t lo = tab->total * (uint64_t)r / P, hi = tab->total * (uint64_t)(r + 1) / P;
    const char *names[4] = {"params", "adam_m", "adam_v", "best_params"};
    for (int k = 0; k < (man->state->has_best_params ? 4 : 3); k++)
        RT_CALL(rt_ckpt_read_range(fz_dir(), man, tab, names[k], lo, hi, buf + lo, scratch));
    return RT_OK;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    rt_gpt2_config c;
    rt_gpt2_config_default(&c);
    c.vocab_size = 40;
    c.n_positions = 8;
    c.n_embd = 8;
    c.n_inner = 16;
    c.n_layer = 2;
    c.n_head = 2;
    c.bos_token_id = c.eos_token_id = 39;
    FZ_CALL(rt_gpt2_create(&model, &c));
    buf = malloc(model->params.total * sizeof(float));
    write_seed(fz_dir());
    /* the unforged checkpoint loads completely (else the fuzzing would test nothing) */
    uint8_t *b0 = NULL;
    size_t n0 = 0;
    Ringtune__Manifest *m0 = NULL;
    FZ_CALL(rt_ckpt_manifest_read_bytes(fz_dir(), &b0, &n0));
    FZ_CALL(rt_ckpt_manifest_decode(fz_dir(), b0, n0, &m0));
    FZ_CALL(rt_ckpt_check_table(fz_dir(), m0, &model->params));
    float *scratch = rt_alloc_floats(RT_CKPT_PIECE_ELEMS);
    for (int r = 0; r < 4; r++) FZ_CALL(read_as_rank(m0, r, 4, scratch));
    rt_free_floats(&scratch);
    rt_gpt2 *m1 = NULL;
    FZ_CALL(rt_ckpt_model_for(fz_dir(), m0, &m1));
    rt_gpt2_destroy(&m1);
    rt_ckpt_manifest_free(&m0);
    free(b0);
    const char *seed = getenv("RT_FUZZ_SEED_DIR");
    if (seed && *seed) {
        uint8_t *b = NULL;
        size_t n = 0;
        FZ_CALL(rt_ckpt_manifest_read_bytes(fz_dir(), &b, &n));
        Ringtune__ManifestFile *env = ringtune__manifest_file__unpack(NULL, n, b);
        char path[1024];
        snprintf(path, sizeof path, "%s/generated-manifest", seed);
        FILE *f = fopen(path, "wb");
        if (!env || !f || fwrite(env->manifest.data, 1, env->manifest.len, f) != env->manifest.len)
            abort();
        fclose(f);
        ringtune__manifest_file__free_unpacked(env, NULL);
        free(b);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n = 0;
    uint8_t *env = fz_envelope(data, size, &n);
    Ringtune__Manifest *man = NULL;
    rt_status st = rt_ckpt_manifest_decode(fz_dir(), env, n, &man);
    free(env);
    if (st != RT_OK) {
        rt_error_clear();
        return 0;
    }
    rt_run_config old;
    if (rt_config_load_string(&old, man->config_yaml, strlen(man->config_yaml), "config_yaml", 0,
                              NULL) == RT_OK)
        rt_config_free(&old);
    if (rt_ckpt_check_table(fz_dir(), man, &model->params) == RT_OK) {
        float *scratch = rt_alloc_floats(RT_CKPT_PIECE_ELEMS);
        static const int ranks[] = {1, 2, 4};
        for (int i = 0; i < 3 && st == RT_OK; i++)
            for (int r = 0; r < ranks[i] && st == RT_OK; r++)
                st = read_as_rank(man, r, ranks[i], scratch);
        rt_free_floats(&scratch);
    }
    rt_gpt2 *m = NULL;
    if (rt_ckpt_model_for(fz_dir(), man, &m) == RT_OK) {
        float *scratch = rt_alloc_floats(RT_CKPT_PIECE_ELEMS);
        rt_ckpt_read_range(fz_dir(), man, &m->params, "params", 0, man->total_params, m->params_mem,
                           scratch);
        rt_free_floats(&scratch);
        rt_gpt2_destroy(&m);
    }
    rt_ckpt_manifest_free(&man);
    rt_error_clear();
    return 0;
}
