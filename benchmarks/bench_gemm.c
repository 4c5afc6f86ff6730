/* BLIS sgemm throughput for the GEMMs of one GPT-2 training step, through rt_gemm with the exact
   layouts, transposes and leading dimensions compute/gpt2.c and compute/layers.c use: for each
   linear (attn qkv C->3C, attn proj C->C, mlp fc C->4C, mlp proj 4C->C, the LM head C->vocab with
   the tied embedding) the forward product and both backward products (dX, dW); for attention the
   per-head products (Q K^T, P V and their backward dQ, dK, dP, dV), run as gpt2.c runs them: an
   OpenMP loop over the B*NH heads with one BLIS thread per call (rt_gemm_1t).

   Per shape: GFLOPS over --repeats repeats (a repeat times enough back-to-back calls to last
   20 ms; a warm-up call first), its fraction of the machine's peak (the best GFLOPS of a square
   2048^3 sgemm over the same number of repeats, in the same process), its share of the step's
   GEMM FLOPs, and the FLOP-weighted overall efficiency: step GEMM FLOPs / (sum over shapes of
   FLOPs / median GFLOPS) / peak, i.e. what the step's GEMMs achieve together.

   Kernel configurations (--arch): "chosen" is what rt_gemm_setup picks (BLIS's skx kernels on
   CPUs with AVX-512 F/DQ/BW/VL, or whatever BLIS_ARCH_TYPE says when the user set it); "auto" is
   what BLIS detects by itself (BLIS_ARCH_TYPE removed from the environment, bli_init before
   rt_gemm_setup). BLIS fixes its kernels once per process, so "both" runs this program once per
   configuration (/proc/self/exe --raw ...) and merges their measurements into one document.
   Prints JSON on stdout (bench_common.h) and a table on stderr.

   usage: bench_gemm [--model 124m|small] [--threads N] [--repeats N] [--arch auto|chosen|both]
   --model 124m (default): 12 layers, C=768, 12 heads, vocab 50257, B=4, T=256 (1024 rows);
   --model small: 2 layers, C=128, 2 heads, vocab 50257, B=4, T=64. Defaults: --threads 1,
   --repeats 10, --arch both. (--raw: internal, what "both" runs.) */
#include <blis.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "arena.h"
#include "bench_common.h"
#include "gemm.h"
#include "gemm_shapes.h"
#include "gpt2.h"

#define MIN_REPEAT_S 0.02
#define MAX_SHAPES GEMM_MAX_SHAPES

static void gpt2_config(const model *md, rt_gpt2_config *c) {
    rt_gpt2_config_default(c);
    c->n_layer = md->L;
    c->n_embd = md->C;
    c->n_head = md->NH;
    c->n_inner = md->F;
    c->vocab_size = md->V;
}

/* ---- measuring (in this process) ------------------------------------------------------------ */

typedef struct {
    char arch[32]; /* bli_arch_string of the kernels that ran */
    int reps;
    double *peak;   /* [reps] GFLOPS of the square sgemm */
    double *gflops; /* [nshapes * reps] */
    int *iters;     /* [nshapes] calls per timed repeat */
} measured;

static int measured_alloc(measured *m, int ns, int reps) {
    memset(m, 0, sizeof *m);
    m->reps = reps;
    m->peak = calloc((size_t)reps, sizeof *m->peak);
    m->gflops = calloc((size_t)ns * reps, sizeof *m->gflops);
    m->iters = calloc((size_t)ns, sizeof *m->iters);
    return m->peak && m->gflops && m->iters;
}

static void measured_free(measured *m) {
    free(m->peak);
    free(m->gflops);
    free(m->iters);
}

/* BLIS through the wrapper, as gpt2.c calls it. */
static void blis_gemm(void *ctx, int one_thread, int ta, int tb, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta, float *C,
                      int ldc) {
    (void)ctx;
    (one_thread ? rt_gemm_1t : rt_gemm)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Sets BLIS up for configuration auto or chosen, then measures the peak and every shape. */
static int measure(const model *md, const shape *s, int ns, int reps, int threads, int is_auto,
                   measured *out) {
    if (is_auto) {
        /* BLIS's own detection: no BLIS_ARCH_TYPE, and BLIS initialised before rt_gemm_setup
           could set it */
        unsetenv("BLIS_ARCH_TYPE");
        bli_init();
    }
    rt_gemm_setup(threads);
    omp_set_num_threads(threads);
    if (!measured_alloc(out, ns, reps)) return -1;
    snprintf(out->arch, sizeof out->arch, "%s", bli_arch_string(bli_arch_query_id()));
    if (rt_gemm_peak(BENCH_PEAK_DIM, reps, out->peak) != 0) return -1;
    for (int i = 0; i < ns; i++) {
        buffers b;
        buffers_alloc(&b, &s[i], md, threads);
        double t = bench_now();
        run_shape(&s[i], md, &b, blis_gemm, NULL); /* warm-up; sizes the repeats */
        t = bench_now() - t;
        double it = t > 0 ? ceil(MIN_REPEAT_S / t) : 1e4;
        int iters = it < 1 ? 1 : it > 1e4 ? 10000 : (int)it;
        out->iters[i] = iters;
        for (int r = 0; r < reps; r++) {
            double t0 = bench_now();
            for (int k = 0; k < iters; k++) run_shape(&s[i], md, &b, blis_gemm, NULL);
            out->gflops[(size_t)i * reps + r] =
                iters * shape_flops(&s[i]) / (bench_now() - t0) / 1e9;
        }
        buffers_free(&b);
    }
    return 0;
}

/* --raw: the measurements as lines of text for the parent process of --arch both. */
static void print_raw(const measured *m, int ns) {
    printf("arch %s\npeak", m->arch);
    for (int r = 0; r < m->reps; r++) printf(" %.17g", m->peak[r]);
    printf("\n");
    for (int i = 0; i < ns; i++) {
        printf("shape %d %d", i, m->iters[i]);
        for (int r = 0; r < m->reps; r++) printf(" %.17g", m->gflops[(size_t)i * m->reps + r]);
        printf("\n");
    }
    fflush(stdout);
}

static int parse_values(char *p, double *v, int n) {
    for (int r = 0; r < n; r++) {
        char *e;
        errno = 0;
        v[r] = strtod(p, &e);
        if (e == p || errno) return -1;
        p = e;
    }
    return 0;
}

static int parse_raw(char *text, measured *m, int ns) {
    int seen_arch = 0, seen_peak = 0, seen = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int i, it, off = 0;
        if (sscanf(line, "arch %31s", m->arch) == 1) {
            seen_arch = 1;
        } else if (!strncmp(line, "peak ", 5)) {
            if (parse_values(line + 5, m->peak, m->reps)) return -1;
            seen_peak = 1;
        } else if (sscanf(line, "shape %d %d%n", &i, &it, &off) == 2 && i >= 0 && i < ns) {
            m->iters[i] = it;
            if (parse_values(line + off, m->gflops + (size_t)i * m->reps, m->reps)) return -1;
            seen++;
        }
    }
    return seen_arch && seen_peak && seen == ns ? 0 : -1;
}

/* Runs this program with args (stdout into a pipe) and parses its --raw output. */
static int run_child(char **args, measured *m, int ns) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], STDOUT_FILENO);
        close(fd[1]);
        execv("/proc/self/exe", args);
        execvp(args[0], args);
        fprintf(stderr, "bench_gemm: cannot run %s: %s\n", args[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap);
    int ok = text != NULL;
    while (ok) {
        ssize_t got = read(fd[0], text + len, cap - len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            ok = got == 0;
            break;
        }
        len += (size_t)got;
        if (len + 1 == cap) {
            char *t = realloc(text, cap *= 2);
            if (!t)
                ok = 0;
            else
                text = t;
        }
    }
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) continue;
    int rc = -1;
    if (ok && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        text[len] = 0;
        rc = parse_raw(text, m, ns);
    }
    free(text);
    return rc;
}

/* ---- the document --------------------------------------------------------------------------- */

typedef struct {
    const char *config; /* "auto" or "chosen" */
    measured m;
    double peak, step_s, gemm_gflops, efficiency;
} arch_run;

/* FLOP-weighted totals of run a: step GEMM seconds at the median GFLOPS of each shape. */
static void summarise(arch_run *a, const shape *s, int ns, double total_flops) {
    a->peak = bench_max(a->m.peak, a->m.reps);
    a->step_s = 0;
    for (int i = 0; i < ns; i++)
        a->step_s += s[i].calls * shape_flops(&s[i]) /
                     (bench_median(a->m.gflops + (size_t)i * a->m.reps, a->m.reps) * 1e9);
    a->gemm_gflops = total_flops / a->step_s / 1e9;
    a->efficiency = a->gemm_gflops / a->peak;
}

/* env: BLIS_ARCH_TYPE as the user set it (NULL: unset). */
static void print_doc(const model *md, const shape *s, int ns, arch_run *runs, int nr,
                      const char *arch_opt, int threads, int reps, const char *env) {
    rt_gpt2_config gc;
    gpt2_config(md, &gc);
    double total = 0;
    for (int i = 0; i < ns; i++) total += s[i].calls * shape_flops(&s[i]);
    for (int a = 0; a < nr; a++) summarise(&runs[a], s, ns, total);
    bench_json j;
    bench_begin(&j, stdout, "gemm", NULL, NULL);
    bj_object(&j, "config");
    bj_str(&j, "model", md->name);
    bj_int(&j, "n_layer", md->L);
    bj_int(&j, "n_embd", md->C);
    bj_int(&j, "n_head", md->NH);
    bj_int(&j, "n_inner", md->F);
    bj_int(&j, "vocab_size", md->V);
    bj_int(&j, "B", md->B);
    bj_int(&j, "T", md->T);
    bj_int(&j, "rows", md->B * md->T);
    bj_int(&j, "threads", threads);
    bj_int(&j, "repeats", reps);
    bj_num(&j, "min_seconds_per_repeat", MIN_REPEAT_S);
    bj_str(&j, "arch", arch_opt);
    bj_str(&j, "blis_arch_type_env", env);
    if (env)
        bj_str(&j, "blis_arch_type_note",
               "set by the user: chosen honours it (as rt_gemm_setup does), auto removes it");
    bj_object(&j, "peak");
    bj_int(&j, "m", BENCH_PEAK_DIM);
    bj_int(&j, "n", BENCH_PEAK_DIM);
    bj_int(&j, "k", BENCH_PEAK_DIM);
    bj_int(&j, "repeats", reps);
    bj_str(&j, "statistic", "best GFLOPS over the repeats");
    bj_end(&j);
    bj_end(&j);

    bj_array(&j, "results");
    for (int a = 0; a < nr; a++) {
        const measured *m = &runs[a].m;
        bj_object(&j, NULL);
        bj_str(&j, "arch_config", runs[a].config);
        bj_str(&j, "blis_arch", m->arch);
        bj_str(&j, "name", "peak");
        bj_int(&j, "m", BENCH_PEAK_DIM);
        bj_int(&j, "n", BENCH_PEAK_DIM);
        bj_int(&j, "k", BENCH_PEAK_DIM);
        bj_stats(&j, "gflops", m->peak, m->reps);
        bj_num(&j, "best_gflops", runs[a].peak);
        bj_end(&j);
        for (int i = 0; i < ns; i++) {
            const double *g = m->gflops + (size_t)i * m->reps;
            char name[64];
            snprintf(name, sizeof name, "%s.%s", s[i].layer, s[i].pass);
            bj_object(&j, NULL);
            bj_str(&j, "arch_config", runs[a].config);
            bj_str(&j, "blis_arch", m->arch);
            bj_str(&j, "name", name);
            bj_str(&j, "layer", s[i].layer);
            bj_str(&j, "pass", s[i].pass);
            bj_str(&j, "product", s[i].product);
            bj_int(&j, "m", s[i].m);
            bj_int(&j, "n", s[i].n);
            bj_int(&j, "k", s[i].k);
            bj_int(&j, "ta", s[i].ta);
            bj_int(&j, "tb", s[i].tb);
            bj_int(&j, "lda", s[i].lda);
            bj_int(&j, "ldb", s[i].ldb);
            bj_int(&j, "ldc", s[i].ldc);
            bj_num(&j, "beta", s[i].beta);
            bj_int(&j, "batch", s[i].batch);
            bj_str(&j, "call", s[i].op == LINEAR ? "rt_gemm" : "rt_gemm_1t per head, omp loop");
            bj_int(&j, "calls_per_step", s[i].calls);
            bj_num(&j, "gflop_per_call", shape_flops(&s[i]) / 1e9);
            bj_int(&j, "calls_per_repeat", m->iters[i]);
            bj_stats(&j, "gflops", g, m->reps);
            bj_num(&j, "fraction_of_peak", bench_median(g, m->reps) / runs[a].peak);
            bj_num(&j, "step_flop_share", s[i].calls * shape_flops(&s[i]) / total);
            bj_end(&j);
        }
    }
    bj_end(&j);

    bj_num(&j, "step_gemm_gflop", total / 1e9);
    bj_num(&j, "model_flops_per_step_gflop", rt_gpt2_flops_per_step(&gc, md->B, md->T) / 1e9);
    const char *keys[] = {"blis_arch", "peak_gflops", "gemm_efficiency", "gemm_gflops",
                          "gemm_seconds_per_step"};
    for (int k = 0; k < 5; k++) {
        bj_object(&j, keys[k]);
        for (int a = 0; a < nr; a++) {
            const arch_run *r = &runs[a];
            if (k == 0)
                bj_str(&j, r->config, r->m.arch);
            else
                bj_num(&j, r->config,
                       k == 1   ? r->peak
                       : k == 2 ? r->efficiency
                       : k == 3 ? r->gemm_gflops
                                : r->step_s);
        }
        bj_end(&j);
    }
    const arch_run *au = NULL, *ch = NULL;
    for (int a = 0; a < nr; a++) {
        if (!strcmp(runs[a].config, "auto")) au = &runs[a];
        if (!strcmp(runs[a].config, "chosen")) ch = &runs[a];
    }
    bj_object(&j, "speedup_chosen_over_auto");
    bj_num(&j, "peak", au && ch ? ch->peak / au->peak : NAN);
    bj_num(&j, "step_gemm", au && ch ? au->step_s / ch->step_s : NAN);
    bj_end(&j);
    if (au && ch)
        bj_bool(&j, "distinct_kernels", strcmp(au->m.arch, ch->m.arch) != 0);
    else
        bj_null(&j, "distinct_kernels");
    bench_finish(&j);

    for (int a = 0; a < nr; a++) {
        const arch_run *r = &runs[a];
        fprintf(stderr,
                "%s (%s): peak %.1f GFLOPS; step GEMMs %.1f GFLOPS = %.1f%% of peak, %.3f s\n",
                r->config, r->m.arch, r->peak, r->gemm_gflops, 100 * r->efficiency, r->step_s);
        for (int i = 0; i < ns; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s.%s", s[i].layer, s[i].pass);
            fprintf(stderr, "  %-24s %5d x %5d x %5d x%-3d %7.1f GFLOPS  %5.1f%% of the FLOPs\n",
                    name, s[i].m, s[i].n, s[i].k, s[i].batch,
                    bench_median(r->m.gflops + (size_t)i * r->m.reps, r->m.reps),
                    100 * s[i].calls * shape_flops(&s[i]) / total);
        }
    }
}

int main(int argc, char **argv) {
    const char *model_name = "124m", *arch = "both";
    int threads = 1, reps = 10, raw = 0;
    /* the user's setting, before measure() / rt_gemm_setup change the environment */
    const char *e = getenv("BLIS_ARCH_TYPE");
    char *user_env = e ? strdup(e) : NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model_name = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeats") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--arch") && i + 1 < argc)
            arch = argv[++i];
        else if (!strcmp(argv[i], "--raw"))
            raw = 1;
        else
            goto usage;
    }
    model md;
    if (!strcmp(model_name, "124m"))
        md = (model){"124m", 12, 768, 12, 4 * 768, 50257, 4, 256};
    else if (!strcmp(model_name, "small"))
        md = (model){"small", 2, 128, 2, 4 * 128, 50257, 4, 64};
    else
        goto usage;
    int both = !strcmp(arch, "both");
    if (threads < 1 || reps < 1 || reps > 1000 ||
        (!both && strcmp(arch, "auto") && strcmp(arch, "chosen")) || (raw && both))
        goto usage;

    shape s[MAX_SHAPES];
    int ns = build_shapes(&md, s);
    arch_run runs[2];
    memset(runs, 0, sizeof runs);
    int nr = 0;
    if (!both) {
        runs[0].config = !strcmp(arch, "auto") ? "auto" : "chosen";
        if (measure(&md, s, ns, reps, threads, !strcmp(arch, "auto"), &runs[0].m) != 0) {
            fprintf(stderr, "bench_gemm: out of memory\n");
            return 1;
        }
        if (raw) {
            print_raw(&runs[0].m, ns);
            measured_free(&runs[0].m);
            return 0;
        }
        nr = 1;
    } else {
        const char *cfgs[2] = {"auto", "chosen"};
        char tb[16], rb[16];
        snprintf(tb, sizeof tb, "%d", threads);
        snprintf(rb, sizeof rb, "%d", reps);
        for (int a = 0; a < 2; a++) {
            char *args[] = {argv[0], "--model", (char *)model_name, "--threads", tb,  "--repeats",
                            rb,      "--arch",  (char *)cfgs[a],    "--raw",     NULL};
            runs[a].config = cfgs[a];
            if (!measured_alloc(&runs[a].m, ns, reps) || run_child(args, &runs[a].m, ns) != 0) {
                fprintf(stderr, "bench_gemm: the --arch %s run failed\n", cfgs[a]);
                return 1;
            }
        }
        nr = 2;
        if (!strcmp(runs[0].m.arch, runs[1].m.arch))
            fprintf(stderr,
                    "bench_gemm: warning: auto and chosen both ran BLIS's %s kernels (%s)\n",
                    runs[0].m.arch,
                    user_env ? "BLIS_ARCH_TYPE is set and chosen honours it"
                             : "no AVX-512 F/DQ/BW/VL, or BLIS picks this CPU's kernels itself");
    }
    print_doc(&md, s, ns, runs, nr, arch, threads, reps, user_env);
    for (int a = 0; a < nr; a++) measured_free(&runs[a].m);
    free(user_env);
    return 0;

usage:
    fprintf(stderr,
            "usage: %s [--model 124m|small] [--threads N] [--repeats N] "
            "[--arch auto|chosen|both]\n",
            argv[0]);
    return 2;
}
