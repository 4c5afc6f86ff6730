/* T5 incremental decoding (compute/t5_decode.h) against recomputing everything each step, on
   randomly initialised models: the encoder pass once, then per decoder position the cached step
   (rt_t5_decoder_step, plus the beam reorder when beams > 1) and the full recompute a decoder
   without caches does (rt_t5_forward_hidden over the source and the whole prefix, and the head
   over the last position of each row). Prints JSON (bench_common.h).
   usage: bench_decode [--threads N] [--steps N] [--src N] [--beams N] [--config small|t5-small|all]
   small: t5_tied's shape (tests/fixtures/t5_tied); t5-small: rt_t5_config_default. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_common.h"
#include "gemm.h"
#include "t5_decode.h"

/* Positions where the full recompute is timed: 0, then every `every`-th, and the last. */
static int timed_full(int t, int steps, int every) {
    return t == 0 || t == steps - 1 || t % every == every - 1;
}

static int run(bench_json *j, const char *name, const rt_t5_config *cfg, int rows_per_input, int B,
               int Ts, int steps, int every) {
    rt_t5 *m = NULL;
    rt_t5_decoder *d = NULL;
    int R = B * rows_per_input, V = cfg->vocab_size, dm = cfg->d_model;
    if (rt_t5_create(&m, cfg) != RT_OK || rt_t5_alloc_acts(m, R, Ts, steps) != RT_OK ||
        rt_t5_decoder_create(&d, m, B, rows_per_input, Ts, steps) != RT_OK) {
        fprintf(stderr, "bench_decode: %s\n", rt_error_message());
        rt_t5_destroy(&m);
        return 1;
    }
    rt_t5_init_weights(m, 7);
    int32_t *src = malloc(sizeof(int32_t) * R * Ts), *hist = malloc(sizeof(int32_t) * R * steps);
    int32_t *tok = malloc(sizeof(int32_t) * R), *parent = malloc(sizeof(int32_t) * R);
    float *logits = malloc(sizeof(float) * R * V);
    double *t_step = malloc(sizeof(double) * steps), *t_full = malloc(sizeof(double) * steps);
    for (int i = 0; i < R * Ts; i++) src[i] = (int32_t)(2 + (i * 2654435761u) % (unsigned)(V - 2));
    for (int r = 0; r < R; r++)
        for (int t = 0; t < steps; t++) hist[r * steps + t] = t ? (r * 31 + t * 17) % V : 0;
    { /* warm-up: one encode, step and full forward, untimed */
        const float *lg, *hidden;
        for (int r = 0; r < R; r++) tok[r] = 0;
        rt_t5_decoder_encode(d, src, NULL, B, Ts, rows_per_input);
        rt_t5_decoder_step(d, tok, &lg);
        rt_t5_forward_hidden(m, src, NULL, Ts, tok, 1, R, NULL, &hidden);
    }
    double t0 = bench_now();
    rt_t5_decoder_encode(d, src, NULL, B, Ts, rows_per_input);
    double t_enc = (bench_now() - t0) * 1e3;
    int n_full = 0;
    for (int t = 0; t < steps; t++) {
        for (int r = 0; r < R; r++) tok[r] = hist[r * steps + t];
        const float *lg;
        t0 = bench_now();
        rt_t5_decoder_step(d, tok, &lg);
        if (rows_per_input > 1) { /* every row continues from its neighbour's history */
            for (int r = 0; r < R; r++)
                parent[r] = r / rows_per_input * rows_per_input + (r + 1) % rows_per_input;
            rt_t5_decoder_reorder(d, parent);
        }
        t_step[t] = (bench_now() - t0) * 1e3;
        if (!timed_full(t, steps, every)) continue;
        /* the same rows recomputed: sources repeated per row, the prefix 0..t */
        int32_t *srcs = malloc(sizeof(int32_t) * R * Ts),
                *dec = malloc(sizeof(int32_t) * R * (t + 1));
        for (int r = 0; r < R; r++) {
            memcpy(srcs + r * Ts, src + (r / rows_per_input) * Ts, sizeof(int32_t) * Ts);
            memcpy(dec + r * (t + 1), hist + r * steps, sizeof(int32_t) * (t + 1));
        }
        const float *hidden;
        t0 = bench_now();
        rt_t5_forward_hidden(m, srcs, NULL, Ts, dec, t + 1, R, NULL, &hidden);
        for (int r = 0; r < R; r++)
            rt_gemm(0, 1, 1, V, dm, 1.0f, hidden + ((size_t)r * (t + 1) + t) * dm, dm,
                    rt_t5_weights(m)->lm_head, dm, 0.0f, logits + (size_t)r * V, V);
        t_full[n_full++] = (bench_now() - t0) * 1e3;
        free(srcs);
        free(dec);
    }
    bj_object(j, NULL);
    bj_str(j, "name", name);
    bj_int(j, "d_model", dm);
    bj_int(j, "layers", cfg->num_layers);
    bj_int(j, "vocab", V);
    bj_int(j, "inputs", B);
    bj_int(j, "rows_per_input", rows_per_input);
    bj_int(j, "src_tokens", Ts);
    bj_int(j, "steps", steps);
    bj_num(j, "decoder_mb", rt_t5_decoder_bytes(d) / 1e6);
    bj_num(j, "ms_encoder", t_enc);
    bj_stats(j, "ms_step", t_step, steps);
    bj_num(j, "ms_step_last", t_step[steps - 1]);
    bj_stats(j, "ms_full_recompute", t_full, n_full);
    bj_num(j, "ms_full_recompute_last", t_full[n_full - 1]);
    bj_num(j, "speedup_last_position", t_full[n_full - 1] / t_step[steps - 1]);
    bj_num(j, "speedup_medians", bench_median(t_full, n_full) / bench_median(t_step, steps));
    bj_end(j);
    fflush(stdout);
    free(src);
    free(hist);
    free(tok);
    free(parent);
    free(logits);
    free(t_step);
    free(t_full);
    rt_t5_decoder_destroy(&d);
    rt_t5_destroy(&m);
    return 0;
}

int main(int argc, char **argv) {
    int threads = 0, steps = 32, Ts = 32, beams = 4;
    const char *which = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--src") && i + 1 < argc)
            Ts = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--beams") && i + 1 < argc)
            beams = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--config") && i + 1 < argc)
            which = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--threads N] [--steps N] [--src N] [--beams N] "
                    "[--config small|t5-small|all]\n",
                    argv[0]);
            return 2;
        }
    }
    steps = steps < 1 ? 1 : steps > 512 ? 512 : steps;
    Ts = Ts < 1 ? 1 : Ts > 512 ? 512 : Ts;
    beams = beams < 1 ? 1 : beams > 16 ? 16 : beams;
    rt_gemm_setup(threads);
    omp_set_num_threads(rt_gemm_threads());
    int every = steps >= 8 ? steps / 4 : 1;
    bench_json j;
    bench_begin(&j, stdout, "decode", NULL, NULL);
    bj_object(&j, "config");
    bj_str(&j, "configs", which);
    bj_int(&j, "threads", rt_gemm_threads());
    bj_int(&j, "steps", steps);
    bj_int(&j, "src_tokens", Ts);
    bj_int(&j, "beams", beams);
    bj_int(&j, "full_recompute_every", every);
    bj_str(&j, "statistic",
           "ms per decoder position: the cached step (and beam reorder) vs "
           "encoder + decoder over the prefix + head (timed at some positions)");
    bj_end(&j);
    bj_array(&j, "results");
    int rc = 0;
    rt_t5_config c;
    if (!strcmp(which, "small") || !strcmp(which, "all")) {
        rt_t5_config_default(&c);
        c.vocab_size = 257;
        c.d_model = 32;
        c.d_kv = 8;
        c.num_heads = 4;
        c.d_ff = 64;
        c.num_layers = c.num_decoder_layers = 2;
        rc |= run(&j, "small (t5_tied's shape), greedy", &c, 1, 1, Ts, steps, every);
        rc |= run(&j, "small (t5_tied's shape), beams", &c, beams, 1, Ts, steps, every);
    }
    if (!strcmp(which, "t5-small") || !strcmp(which, "all")) {
        rt_t5_config_default(&c);
        rc |= run(&j, "t5-small, greedy", &c, 1, 1, Ts, steps, every);
        rc |= run(&j, "t5-small, beams", &c, beams, 1, Ts, steps, every);
    }
    bench_finish(&j);
    return rc;
}
