/* One training step (forward + backward + AdamW) of GPT-2 shapes on one process: tokens/s, ms per
   phase and MFU against a BLIS sgemm peak measured in the same run (the best of 7 square 2048^3
   sgemms). Each per-step figure is a stats object over the timed steps (one warm-up step first).
   Prints JSON (bench_common.h).
   usage: bench_step [--threads N] [--steps N] [--config small|124m|all] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "bench_common.h"
#include "gemm.h"
#include "gpt2.h"
#include "optim.h"

static int run_config(bench_json *j, const char *name, rt_gpt2_config *cfg, int B, int T, int steps,
                      double peak) {
    rt_gpt2 *m;
    if (rt_gpt2_create(&m, cfg) != RT_OK || rt_gpt2_alloc_acts(m, B, T) != RT_OK) {
        fprintf(stderr, "bench_step: %s\n", rt_error_message());
        return 1;
    }
    rt_gpt2_init_weights(m, 42);
    size_t P = m->params.total;
    float *mom = rt_alloc_floats(P), *var = rt_alloc_floats(P);
    int32_t *ids = malloc(sizeof(int32_t) * B * T), *tgt = malloc(sizeof(int32_t) * B * T);
    for (int i = 0; i < B * T; i++) {
        ids[i] = (int32_t)((i * 2654435761u) % (unsigned)cfg->vocab_size);
        tgt[i] = (int32_t)(((i + 1) * 2654435761u) % (unsigned)cfg->vocab_size);
    }
    rt_adamw_config ac = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f};
    double tf[64], tb[64], to[64], tt[64], tps[64], gf[64], mfu[64], loss = 0;
    double flops = rt_gpt2_flops_per_step(cfg, B, T);
    for (int s = -1; s < steps; s++) { /* step -1 warms up */
        double t0 = bench_now();
        rt_step_key key = {0, (uint64_t)(s + 1), 0, 1}; /* dropout on, as in training */
        rt_gpt2_forward_keyed(m, ids, tgt, B, T, &key, &loss);
        double t1 = bench_now();
        rt_gpt2_backward(m, 1.0f / (B * T), 0);
        double t2 = bench_now();
        double norm = sqrt(rt_grad_sumsq(&m->params, 0, P, m->grads_mem));
        rt_scale_grads(&m->params, 0, P, m->grads_mem, rt_clip_factor(norm, 1.0f));
        rt_adamw_step(&m->params, 0, P, m->params_mem, m->grads_mem, mom, var, &ac, s + 2);
        double t3 = bench_now();
        if (s >= 0) {
            tf[s] = (t1 - t0) * 1e3;
            tb[s] = (t2 - t1) * 1e3;
            to[s] = (t3 - t2) * 1e3;
            tt[s] = (t3 - t0) * 1e3;
            tps[s] = B * T / (t3 - t0);
            gf[s] = flops / (t3 - t0) / 1e9;
            mfu[s] = gf[s] / peak;
        }
    }
    bj_object(j, NULL);
    bj_str(j, "name", name);
    bj_int(j, "params", (long long)rt_gpt2_num_params(m));
    bj_int(j, "n_layer", cfg->n_layer);
    bj_int(j, "n_embd", cfg->n_embd);
    bj_int(j, "n_head", cfg->n_head);
    bj_int(j, "B", B);
    bj_int(j, "T", T);
    bj_int(j, "steps", steps);
    bj_num(j, "flops_per_step", flops);
    bj_stats(j, "ms_step", tt, steps);
    bj_stats(j, "ms_forward", tf, steps);
    bj_stats(j, "ms_backward", tb, steps);
    bj_stats(j, "ms_optimizer", to, steps);
    bj_stats(j, "tokens_per_s", tps, steps);
    bj_stats(j, "gflops", gf, steps);
    bj_stats(j, "mfu", mfu, steps);
    bj_num(j, "loss", loss / (B * T));
    bj_end(j);
    fflush(stdout);
    rt_free_floats(&mom);
    rt_free_floats(&var);
    free(ids);
    free(tgt);
    rt_gpt2_destroy(&m);
    return 0;
}

int main(int argc, char **argv) {
    int threads = 0, steps = 5;
    const char *which = "all";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--config") && i + 1 < argc)
            which = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--threads N] [--steps N] [--config small|124m|all]\n",
                    argv[0]);
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    if (steps > 64) steps = 64;
    /* the user's BLIS_ARCH_TYPE, before rt_gemm_setup sets it */
    const char *env = getenv("BLIS_ARCH_TYPE");
    char *user_env = env ? strdup(env) : NULL;
    const char *arch = rt_gemm_setup(threads);
    omp_set_num_threads(rt_gemm_threads());
    enum { PEAK_REPS = 7 };
    double peak_g[PEAK_REPS];
    if (rt_gemm_peak(BENCH_PEAK_DIM, PEAK_REPS, peak_g) != 0) {
        fprintf(stderr, "bench_step: out of memory for the sgemm peak\n");
        return 1;
    }
    double peak = bench_max(peak_g, PEAK_REPS);

    bench_json j;
    bench_begin(&j, stdout, "step", NULL, NULL);
    bj_object(&j, "config");
    bj_str(&j, "configs", which);
    bj_int(&j, "threads", rt_gemm_threads());
    bj_int(&j, "steps", steps);
    bj_int(&j, "warmup_steps", 1);
    bj_str(&j, "blis_kernels", arch);
    bj_str(&j, "blis_arch_type_env", user_env);
    bj_object(&j, "peak");
    bj_int(&j, "m", BENCH_PEAK_DIM);
    bj_int(&j, "n", BENCH_PEAK_DIM);
    bj_int(&j, "k", BENCH_PEAK_DIM);
    bj_int(&j, "repeats", PEAK_REPS);
    bj_str(&j, "statistic", "best GFLOPS over the repeats; mfu = model FLOPs / step time / it");
    bj_end(&j);
    bj_end(&j);
    bj_stats(&j, "sgemm_peak", peak_g, PEAK_REPS);
    bj_num(&j, "sgemm_peak_gflops", peak);
    bj_array(&j, "results");
    int rc = 0;
    if (!strcmp(which, "small") || !strcmp(which, "all")) {
        rt_gpt2_config c;
        rt_gpt2_config_default(&c);
        c.n_layer = 4;
        c.n_embd = 256;
        c.n_head = 4;
        c.n_inner = 1024;
        rc |= run_config(&j, "small-4x256", &c, 8, 256, steps, peak);
    }
    if (!strcmp(which, "124m") || !strcmp(which, "all")) {
        rt_gpt2_config c;
        rt_gpt2_config_default(&c);
        rc |= run_config(&j, "gpt2-124M", &c, 4, 256, steps, peak);
    }
    bench_finish(&j);
    free(user_env);
    return rc;
}
