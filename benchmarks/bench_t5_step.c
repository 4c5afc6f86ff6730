/* One T5 training step (forward + backward + AdamW) on one process through the model interface
   (compute/model_t5.h: rt_model_forward, rt_model_backward): tokens/s, ms per phase and MFU
   against a BLIS sgemm peak measured in the same run (the best of 7 square 2048^3 sgemms before
   the steps and 3 after them). Random weights (rt_t5_init_weights), random ids, no padding,
   dropout on as in training. Each per-step figure is a stats object over the timed steps.
   Prints JSON (bench_common.h), "benchmark": "t5_step".

   Shapes: --model small is t5-small (d_model 512, d_kv 64, 8 heads, d_ff 2048, 6 + 6 blocks,
   vocab 32128, relu FFN, head tied to shared.weight with the d_model^-0.5 rescale); --gated gives
   v1.1 / flan-t5-small's instead (d_ff 1024, 6 heads, 8 + 8 blocks, gated-gelu FFN, untied
   lm_head). --model tiny: 2 + 2 blocks of 64 (4 heads of 16, d_ff 256, vocab 1024) for smoke runs.

   Phases: forward = rt_model_forward (encoder, decoder, LM head logits and cross-entropy),
   backward = rt_model_backward (head and backbone gradients), optimizer = global-norm clipping at
   1.0 and rt_adamw_step over every parameter (lr 1e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1
   on the matrices). tokens_per_s counts source + target tokens, B * (Ts + Tt) per step;
   target_tokens_per_s counts B * Tt (the tokens the loss is over). FLOPs: rt_model_flops_done
   (encoder, decoder incl. cross-attention, LM head), checked against a closed form written out
   here; mfu = FLOPs / step time / the sgemm peak, refused (exit 1, no figure printed) if any step
   would be above 1.

   --precision bf16: train.precision bf16 (compute/gemm.h), MFU against the bf16 kernel's peak.
   usage: bench_t5_step [--model small|tiny] [--gated] [--batch B] [--src-len Ts] [--tgt-len Tt]
                        [--steps N] [--warmup N] [--threads N] [--dropout P]
     defaults: --model small --batch 4 --src-len 256 --tgt-len 64 --steps 5 --warmup 2
               --dropout 0.1 (t5-small's dropout_rate); --threads: rt_gemm_setup's default
               (OMP_NUM_THREADS, else the cores of the affinity mask) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "bench_common.h"
#include "gemm.h"
#include "model_t5.h"
#include "optim.h"

enum { MAX_STEPS = 64, PEAK_BEFORE = 7, PEAK_AFTER = 3 };

/* The shapes of --model / --gated. */
static void shapes(rt_t5_config *c, int tiny, int gated) {
    rt_t5_config_default(c); /* t5-small */
    if (gated) {             /* google/t5-v1_1-small, flan-t5-small */
        c->d_ff = 1024;
        c->num_heads = 6;
        c->num_layers = c->num_decoder_layers = 8;
        c->ff = RT_T5_FF_GATED_GELU;
        c->tie_word_embeddings = c->scale_decoder_outputs = 0;
    }
    if (tiny) {
        c->vocab_size = 1024;
        c->d_model = 64;
        c->d_kv = 16;
        c->num_heads = 4;
        c->d_ff = gated ? 128 : 256;
        c->num_layers = c->num_decoder_layers = 2;
    }
}

/* The FLOPs of one full training step (every tensor trains) written out from the shapes, as
   rt_model_flops_done should count them: every matrix product of the forward (linears over the
   tokens of their side: the cross-attention's k and v over the source; attention scores and
   weighted sums over full Tq x Tk; the LM head's logits) three times (forward, d(input),
   d(weight); attention: forward and its two-products-each backward). */
static double flops_closed_form(const rt_t5_config *c, int B, int Ts, int Tt) {
    double d = c->d_model, in = (double)c->num_heads * c->d_kv, F = c->d_ff, V = c->vocab_size;
    double Ns = (double)B * Ts, Nt = (double)B * Tt, NH = c->num_heads, dk = c->d_kv;
    double ff = (c->ff == RT_T5_FF_GATED_GELU ? 2.0 : 1.0) * d * F + F * d;
    double enc = 2.0 * Ns * (4.0 * d * in + ff) + 4.0 * B * NH * Ts * Ts * dk;
    double dec = 2.0 * Nt * (6.0 * d * in + ff) + 2.0 * Ns * 2.0 * d * in +
                 4.0 * B * NH * Tt * Tt * dk + 4.0 * B * NH * Tt * Ts * dk;
    double fwd = c->num_layers * enc + c->num_decoder_layers * dec + 2.0 * Nt * V * d;
    return 3.0 * fwd;
}

static uint32_t mix(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    return x ^ (x >> 16);
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [--model small|tiny] [--gated] [--batch B] [--src-len Ts] [--tgt-len Tt]\n"
            "       [--precision fp32|bf16]\n"
            "          [--steps N] [--warmup N] [--threads N] [--dropout P]\n",
            argv0);
    exit(2);
}

static int posint(const char *s, int lo, const char *argv0) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > 1 << 20) usage(argv0);
    return (int)v;
}

int main(int argc, char **argv) {
    int threads = 0, steps = 5, warmup = 2, B = 4, Ts = 256, Tt = 64, tiny = 0, gated = 0;
    int bf16 = 0;
    double dropout = 0.1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--gated")) {
            gated = 1;
            continue;
        }
        if (!v) usage(argv[0]);
        i++;
        if (!strcmp(a, "--model")) {
            if (!strcmp(v, "tiny"))
                tiny = 1;
            else if (strcmp(v, "small"))
                usage(argv[0]);
        } else if (!strcmp(a, "--batch"))
            B = posint(v, 1, argv[0]);
        else if (!strcmp(a, "--src-len"))
            Ts = posint(v, 1, argv[0]);
        else if (!strcmp(a, "--tgt-len"))
            Tt = posint(v, 1, argv[0]);
        else if (!strcmp(a, "--steps"))
            steps = posint(v, 1, argv[0]);
        else if (!strcmp(a, "--warmup"))
            warmup = posint(v, 0, argv[0]);
        else if (!strcmp(a, "--threads"))
            threads = posint(v, 1, argv[0]);
        else if (!strcmp(a, "--precision") && (!strcmp(v, "bf16") || !strcmp(v, "fp32")))
            bf16 = !strcmp(v, "bf16");
        else if (!strcmp(a, "--dropout")) {
            char *end;
            dropout = strtod(v, &end);
            if (*end != '\0' || !(dropout >= 0.0 && dropout < 1.0)) usage(argv[0]);
        } else
            usage(argv[0]);
    }
    if (steps > MAX_STEPS) steps = MAX_STEPS;
    const char *env = getenv("BLIS_ARCH_TYPE");
    char *user_env = env ? strdup(env) : NULL;
    const char *arch = rt_gemm_setup(threads);
    omp_set_num_threads(rt_gemm_threads());
    /* train.precision bf16: every product (and the peak MFU is against) on the bf16 kernel */
    const char *kernel = rt_gemm_set_precision(bf16 ? RT_PRECISION_BF16 : RT_PRECISION_FP32);

    double peak_g[PEAK_BEFORE + PEAK_AFTER];
    if (rt_gemm_peak(BENCH_PEAK_DIM, PEAK_BEFORE, peak_g) != 0) {
        fprintf(stderr, "bench_t5_step: out of memory for the sgemm peak\n");
        return 1;
    }

    rt_t5_config cfg;
    shapes(&cfg, tiny, gated);
    cfg.dropout_rate = (float)dropout;
    rt_t5 *t = NULL;
    rt_model *m = NULL;
    if (rt_t5_create(&t, &cfg) != RT_OK) {
        fprintf(stderr, "bench_t5_step: %s\n", rt_error_message());
        return 1;
    }
    rt_t5_init_weights(t, 42);
    if (rt_model_t5_wrap(t, &m) != RT_OK) {
        fprintf(stderr, "bench_t5_step: %s\n", rt_error_message());
        return 1;
    }
    m->src_T = Ts;
    if (rt_model_alloc_acts(m, B, Tt) != RT_OK) {
        fprintf(stderr, "bench_t5_step: %s\n", rt_error_message());
        rt_model_destroy(&m);
        return 1;
    }
    size_t P = m->params->total;
    float *mom = rt_alloc_floats(P), *var = rt_alloc_floats(P);
    int32_t *src = malloc(sizeof(int32_t) * B * Ts), *dec = malloc(sizeof(int32_t) * B * Tt),
            *lab = malloc(sizeof(int32_t) * B * Tt);
    if (!mom || !var || !src || !dec || !lab) {
        fprintf(stderr, "bench_t5_step: out of memory\n");
        return 1;
    }
    /* random ids in [2, V) (not pad 0 or eos 1); decoder inputs = labels shifted right after
       decoder_start_token_id, as T5ForConditionalGeneration does with labels */
    unsigned V2 = (unsigned)cfg.vocab_size - 2;
    for (int i = 0; i < B * Ts; i++) src[i] = (int32_t)(2 + mix(2u * i + 1u) % V2);
    for (int i = 0; i < B * Tt; i++) lab[i] = (int32_t)(2 + mix(2u * i + 0x9e3779b9u) % V2);
    for (int b = 0; b < B; b++) {
        dec[b * Tt] = cfg.decoder_start_token_id;
        for (int j = 1; j < Tt; j++) dec[b * Tt + j] = lab[b * Tt + j - 1];
    }
    rt_batch batch = {
        .B = B, .T = Tt, .ids = dec, .targets = lab, .src_T = Ts, .src_ids = src, .src_mask = NULL};
    rt_adamw_config ac = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f};
    double flops = rt_model_flops_done(m, B, Tt), closed = flops_closed_form(&cfg, B, Ts, Tt);
    if (fabs(flops - closed) > 1e-9 * closed) {
        fprintf(stderr,
                "bench_t5_step: rt_model_flops_done counts %.6g FLOPs per step, the closed form "
                "%.6g: one of them is wrong\n",
                flops, closed);
        return 1;
    }
    double tf[MAX_STEPS], tb[MAX_STEPS], to[MAX_STEPS], tt[MAX_STEPS], tps[MAX_STEPS],
        ttps[MAX_STEPS], gf[MAX_STEPS], mfu[MAX_STEPS], loss0 = 0, loss = 0;
    for (int s = -warmup; s < steps; s++) {
        double ls = 0, cnt = 0;
        rt_step_key key = {0, (uint64_t)(s + warmup), 0, dropout > 0};
        double t0 = bench_now();
        if (rt_model_forward(m, &batch, &key, &ls, &cnt) != RT_OK) {
            fprintf(stderr, "bench_t5_step: %s\n", rt_error_message());
            return 1;
        }
        double t1 = bench_now();
        rt_model_backward(m, (float)(1.0 / cnt), 0, NULL, NULL);
        double t2 = bench_now();
        double norm = sqrt(rt_grad_sumsq(m->params, 0, P, m->grads_mem));
        rt_scale_grads(m->params, 0, P, m->grads_mem, rt_clip_factor(norm, 1.0f));
        rt_adamw_step(m->params, 0, P, m->params_mem, m->grads_mem, mom, var, &ac, s + warmup + 1);
        double t3 = bench_now();
        if (s == -warmup) loss0 = ls / cnt;
        loss = ls / cnt;
        if (s >= 0) {
            tf[s] = (t1 - t0) * 1e3;
            tb[s] = (t2 - t1) * 1e3;
            to[s] = (t3 - t2) * 1e3;
            tt[s] = (t3 - t0) * 1e3;
            tps[s] = (double)B * (Ts + Tt) / (t3 - t0);
            ttps[s] = (double)B * Tt / (t3 - t0);
            gf[s] = flops / (t3 - t0) / 1e9;
        }
    }
    if (rt_gemm_peak(BENCH_PEAK_DIM, PEAK_AFTER, peak_g + PEAK_BEFORE) != 0) {
        fprintf(stderr, "bench_t5_step: out of memory for the sgemm peak\n");
        return 1;
    }
    double peak = bench_max(peak_g, PEAK_BEFORE + PEAK_AFTER);
    int impossible = 0;
    for (int s = 0; s < steps; s++) {
        mfu[s] = gf[s] / peak;
        if (!(mfu[s] <= 1.0)) {
            fprintf(stderr,
                    "bench_t5_step: step %d would be at %.1f%% of the sgemm peak (%.1f GFLOPS of "
                    "%.1f): the FLOP count or the peak is wrong; no MFU printed\n",
                    s + 1, 100.0 * mfu[s], gf[s], peak);
            impossible = 1;
        }
    }

    const char *name =
        tiny ? (gated ? "tiny-gated" : "tiny") : (gated ? "t5-v1_1-small-shapes" : "t5-small");
    bench_json j;
    bench_begin(&j, stdout, "t5_step", NULL, NULL);
    bj_object(&j, "config");
    bj_str(&j, "model", name);
    bj_int(&j, "threads", rt_gemm_threads());
    bj_int(&j, "batch", B);
    bj_int(&j, "src_len", Ts);
    bj_int(&j, "tgt_len", Tt);
    bj_int(&j, "steps", steps);
    bj_int(&j, "warmup_steps", warmup);
    bj_num(&j, "dropout", dropout);
    bj_str(&j, "blis_kernels", arch);
    bj_str(&j, "blis_arch_type_env", user_env);
    bj_str(&j, "optim",
           "clip 1.0, AdamW lr 1e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1 "
           "(matrices), every parameter");
    bj_str(&j, "tokens_per_s", "source + target tokens per second: B * (src_len + tgt_len) / step");
    bj_str(&j, "target_tokens_per_s", "target (loss) tokens per second: B * tgt_len / step");
    bj_str(&j, "phases",
           "forward: rt_model_forward (encoder, decoder, LM head, loss); backward: "
           "rt_model_backward; optimizer: clip + AdamW");
    bj_object(&j, "peak");
    bj_int(&j, "m", BENCH_PEAK_DIM);
    bj_int(&j, "n", BENCH_PEAK_DIM);
    bj_int(&j, "k", BENCH_PEAK_DIM);
    bj_int(&j, "repeats_before", PEAK_BEFORE);
    bj_int(&j, "repeats_after", PEAK_AFTER);
    bj_str(&j, "statistic", "best GFLOPS over the repeats; mfu = model FLOPs / step time / it");
    bj_end(&j);
    bj_object(&j, "shapes");
    bj_int(&j, "vocab_size", cfg.vocab_size);
    bj_int(&j, "d_model", cfg.d_model);
    bj_int(&j, "d_kv", cfg.d_kv);
    bj_int(&j, "num_heads", cfg.num_heads);
    bj_int(&j, "d_ff", cfg.d_ff);
    bj_int(&j, "num_layers", cfg.num_layers);
    bj_int(&j, "num_decoder_layers", cfg.num_decoder_layers);
    bj_str(&j, "feed_forward_proj", cfg.ff == RT_T5_FF_GATED_GELU ? "gated-gelu" : "relu");
    bj_bool(&j, "tie_word_embeddings", cfg.tie_word_embeddings);
    bj_end(&j);
    bj_end(&j);
    bj_str(&j, "precision", bf16 ? "bf16" : "fp32");
    bj_str(&j, "gemm_kernel", kernel);
    /* named sgemm_* for the documents that read them; with --precision bf16 the bf16 kernel's */
    bj_stats(&j, "sgemm_peak", peak_g, PEAK_BEFORE + PEAK_AFTER);
    bj_num(&j, "sgemm_peak_gflops", peak);
    bj_array(&j, "results");
    bj_object(&j, NULL);
    bj_str(&j, "name", name);
    bj_int(&j, "params", (long long)rt_model_num_params(m));
    bj_int(&j, "flops_per_step", llround(flops)); /* exact: %g would keep 6 digits */
    bj_int(&j, "flops_per_step_closed_form", llround(closed));
    bj_stats(&j, "ms_step", tt, steps);
    bj_stats(&j, "ms_forward", tf, steps);
    bj_stats(&j, "ms_backward", tb, steps);
    bj_stats(&j, "ms_optimizer", to, steps);
    bj_stats(&j, "tokens_per_s", tps, steps);
    bj_stats(&j, "target_tokens_per_s", ttps, steps);
    bj_stats(&j, "gflops", gf, steps);
    bj_stats(&j, "mfu", mfu, impossible ? 0 : steps);
    bj_num(&j, "loss_first_step", loss0);
    bj_num(&j, "loss_last_step", loss);
    bj_end(&j);
    bj_end(&j);
    bench_finish(&j);
    free(user_env);
    free(src);
    free(dec);
    free(lab);
    rt_free_floats(&mom);
    rt_free_floats(&var);
    rt_model_destroy(&m);
    return impossible ? 1 : 0;
}
