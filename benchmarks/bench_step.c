/* One training step (forward + backward + AdamW) of GPT-2 shapes on one process: tokens/s, ms per
   phase and MFU against a BLIS sgemm peak measured in the same run. Prints JSON.
   usage: bench_step [--threads N] [--steps N] [--config small|124m|all] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <omp.h>
#include "gemm.h"
#include "gpt2.h"
#include "optim.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Peak: the best GFLOPS over repeats of a square sgemm big enough for the kernel's steady state
   (the best, not the median: the peak is what the hardware can do, noise only lowers it). */
static double sgemm_peak(int reps) {
    int M = 2048, N = 2048, K = 2048;
    float *A = rt_alloc_floats((size_t)M * K), *B = rt_alloc_floats((size_t)K * N),
          *C = rt_alloc_floats((size_t)M * N);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)(i % 5) * 0.1f;
    double g[32];
    rt_gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    for (int r = 0; r < reps; r++) {
        double t = now_s();
        rt_gemm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        g[r] = 2.0 * M * N * K / (now_s() - t) / 1e9;
    }
    rt_free_floats(&A);
    rt_free_floats(&B);
    rt_free_floats(&C);
    double best = 0.0;
    for (int r = 0; r < reps; r++) best = g[r] > best ? g[r] : best;
    return best;
}

static int run_config(const char *name, rt_gpt2_config *cfg, int B, int T, int steps, double peak,
                      int first) {
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
    double tf[64], tb[64], to[64], tt[64], loss = 0;
    m->train = 1;
    for (int s = -1; s < steps; s++) { /* step -1 warms up */
        double t0 = now_s();
        m->step = (uint64_t)(s + 1);
        rt_gpt2_forward(m, ids, tgt, B, T, &loss);
        double t1 = now_s();
        rt_gpt2_backward(m, 1.0f / (B * T), 0);
        double t2 = now_s();
        double norm = sqrt(rt_grad_sumsq(&m->params, 0, P, m->grads_mem));
        rt_scale_grads(&m->params, 0, P, m->grads_mem, rt_clip_factor(norm, 1.0f));
        rt_adamw_step(&m->params, 0, P, m->params_mem, m->grads_mem, mom, var, &ac, s + 2);
        double t3 = now_s();
        if (s >= 0) {
            tf[s] = (t1 - t0) * 1e3;
            tb[s] = (t2 - t1) * 1e3;
            to[s] = (t3 - t2) * 1e3;
            tt[s] = (t3 - t0) * 1e3;
        }
    }
    double flops = rt_gpt2_flops_per_step(cfg, B, T);
    double ms = median(tt, steps);
    double tps = B * T / (ms / 1e3), achieved = flops / (ms / 1e3) / 1e9;
    printf("%s    {\"name\": \"%s\", \"params\": %zu, \"B\": %d, \"T\": %d, \"steps\": %d, "
           "\"ms_step_median\": %.1f, \"ms_forward\": %.1f, \"ms_backward\": %.1f, "
           "\"ms_optimizer\": %.1f, \"tokens_per_s\": %.1f, \"gflops\": %.1f, \"mfu\": %.3f, "
           "\"loss\": %.4f}",
           first ? "" : ",\n", name, rt_gpt2_num_params(m), B, T, steps, ms, median(tf, steps),
           median(tb, steps), median(to, steps), tps, achieved, achieved / peak, loss / (B * T));
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
    const char *arch = rt_gemm_setup(threads);
    omp_set_num_threads(rt_gemm_threads());
    double peak = sgemm_peak(7);
    printf("{\n  \"benchmark\": \"step\", \"blis_kernels\": \"%s\", \"threads\": %d, "
           "\"sgemm_peak_gflops\": %.1f,\n  \"results\": [\n",
           arch, rt_gemm_threads(), peak);
    int rc = 0, first = 1;
    if (!strcmp(which, "small") || !strcmp(which, "all")) {
        rt_gpt2_config c;
        rt_gpt2_config_default(&c);
        c.n_layer = 4;
        c.n_embd = 256;
        c.n_head = 4;
        c.n_inner = 1024;
        rc |= run_config("small-4x256", &c, 8, 256, steps, peak, first);
        first = 0;
    }
    if (!strcmp(which, "124m") || !strcmp(which, "all")) {
        rt_gpt2_config c;
        rt_gpt2_config_default(&c);
        rc |= run_config("gpt2-124M", &c, 4, 256, steps, peak, first);
    }
    printf("\n  ]\n}\n");
    return rc;
}
