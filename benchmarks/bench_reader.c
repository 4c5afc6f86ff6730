/* Corpus reader throughput: random training windows (T+1 tokens, in the sampler's order) read
   from an HDF5 corpus through hyperslabs, in samples/s and tokens/s (stats over 5 repeats of
   --samples reads), next to what a training step consumes. Prints JSON (bench_common.h).
   usage: bench_reader [--corpus FILE.h5] [--tokens N] [--seq T] [--samples N]
          [--step-tokens-per-s X]
   Without --corpus it writes a synthetic corpus of N random tokens (default 64 Mi) to a temp
   file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bench_common.h"
#include "corpus.h"
#include "rng.h"
#include "sampler.h"

static int make_corpus(const char *path, uint64_t n_tokens) {
    rt_corpus_meta meta = {0};
    meta.kind = "text";
    meta.vocab_size = 50257;
    meta.eos_id = 50256;
    meta.tokenizer_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    meta.sources = "synthetic";
    meta.command_line = "bench_reader";
    rt_corpus_writer *w;
    if (rt_corpus_writer_create(&w, path, 1, &meta) != RT_OK) return 0;
    size_t doc = 4096; /* tokens per synthetic document */
    uint16_t *buf = malloc(doc * sizeof *buf);
    uint64_t key = rt_rng_key(1, 2, 3, 4), done = 0, d = 0;
    while (done < n_tokens) {
        for (size_t i = 0; i < doc; i++)
            buf[i] = (uint16_t)(rt_rng_uniform(key, done + i) * 50256.0f);
        buf[doc - 1] = 50256;
        if (rt_corpus_writer_add(w, RT_SPLIT_TRAIN, d++, buf, doc) != RT_OK) {
            free(buf);
            rt_corpus_writer_abort(&w);
            return 0;
        }
        done += doc;
    }
    free(buf);
    rt_corpus_counts counts = {0};
    return rt_corpus_writer_commit(&w, &counts) == RT_OK;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    long long n_tokens = 64ll << 20, samples = 20000;
    int T = 1024;
    double step_tps = 260.0; /* GPT-2 124M, one process, 2 cores (bench_step) */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--corpus") && i + 1 < argc)
            path = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
            n_tokens = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--seq") && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--samples") && i + 1 < argc)
            samples = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--step-tokens-per-s") && i + 1 < argc)
            step_tps = atof(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [--corpus F] [--tokens N] [--seq T] [--samples N] "
                    "[--step-tokens-per-s X]\n",
                    argv[0]);
            return 2;
        }
    }
    char tmp[256] = "";
    double t_make = 0.0;
    if (!path) {
        snprintf(tmp, sizeof tmp, "/tmp/rt_bench_reader_%d.h5", (int)getpid());
        double t0 = bench_now();
        if (!make_corpus(tmp, (uint64_t)n_tokens)) {
            fprintf(stderr, "bench_reader: %s\n", rt_error_message());
            return 1;
        }
        t_make = bench_now() - t0;
        path = tmp;
    }
    rt_corpus *c;
    if (rt_corpus_open(&c, path, MPI_COMM_NULL) != RT_OK) {
        fprintf(stderr, "bench_reader: %s\n", rt_error_message());
        return 1;
    }
    uint64_t ntok = rt_corpus_n_tokens(c, RT_SPLIT_TRAIN), nwin = rt_sampler_windows(ntok, T);
    rt_sampler s;
    rt_sampler_init(&s, nwin, 1234, 64);
    int32_t *buf = malloc(sizeof(int32_t) * (T + 1));
    double rates[5];
    int reps = 5, rc = 0;
    for (int r = 0; r < reps && !rc; r++) {
        double t0 = bench_now();
        for (long long k = 0; k < samples; k++) {
            uint64_t w = rt_sampler_sample(&s, (uint64_t)(r * samples + k));
            if (rt_corpus_read_tokens(c, RT_SPLIT_TRAIN, w * (uint64_t)T, (size_t)T + 1, buf) !=
                RT_OK) {
                fprintf(stderr, "bench_reader: %s\n", rt_error_message());
                rc = 1;
                break;
            }
        }
        rates[r] = samples / (bench_now() - t0);
    }
    double tokens[5];
    for (int r = 0; r < reps; r++) tokens[r] = rates[r] * T;
    double med = bench_median(rates, reps), need = step_tps / T;
    bench_json j;
    bench_begin(&j, stdout, "reader", bench_openmpi_version(), bench_hdf5_version());
    bj_object(&j, "config");
    bj_str(&j, "corpus", tmp[0] ? NULL : path);
    bj_str(&j, "corpus_kind", tmp[0] ? "synthetic (written to a temp file)" : "--corpus");
    bj_int(&j, "corpus_tokens", (long long)ntok);
    bj_int(&j, "T", T);
    bj_int(&j, "samples_per_rep", samples);
    bj_int(&j, "reps", reps);
    bj_num(&j, "step_tokens_per_s", step_tps);
    bj_end(&j);
    bj_array(&j, "results");
    bj_object(&j, NULL);
    bj_int(&j, "T", T);
    bj_int(&j, "samples_per_rep", samples);
    bj_stats(&j, "samples_per_s", rates, rc ? 0 : reps);
    bj_stats(&j, "tokens_per_s", tokens, rc ? 0 : reps);
    bj_end(&j);
    bj_end(&j);
    bj_num(&j, "step_consumes_samples_per_s", need);
    bj_num(&j, "headroom", rc ? NAN : med / need);
    bj_num(&j, "write_seconds", t_make);
    bench_finish(&j);
    free(buf);
    rt_corpus_close(&c);
    if (tmp[0]) unlink(tmp);
    return rc;
}
