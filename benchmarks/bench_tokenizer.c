/* GPT-2 BPE tokenizer throughput on one core: MB/s of UTF-8 text encoded by one thread, with a
   cold chunk cache (a fresh scratch per run) and a warm one (a scratch that has seen the text).
   Text: the demo corpus (every *.txt of the directory, in name order) repeated to --mb MB.
   Prints JSON (bench_common.h): stats objects over --runs runs, and the medians' ratio.
   usage: bench_tokenizer [--demo DIR] [--tokenizer DIR] [--mb N] [--runs N] */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_common.h"
#include "bpe.h"
#include "fsutil.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.txt files of dir in name order, concatenated; NULL when there are none. */
static char *read_demo(const char *dir, size_t *len, int *nfiles) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".txt")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    char *all = NULL;
    *len = 0;
    for (int i = 0; i < n; i++) {
        char *path = rt_fs_join(dir, names[i]), *b;
        size_t l;
        if (path && rt_fs_read_file(path, &b, &l) == RT_OK) {
            all = realloc(all, *len + l + 1);
            memcpy(all + *len, b, l);
            *len += l;
            free(b);
        }
        free(path);
        free(names[i]);
    }
    *nfiles = n;
    return *len ? all : (free(all), NULL);
}

static int fail(const char *what) {
    fprintf(stderr, "bench_tokenizer: %s: %s\n", what, rt_error_message());
    return 1;
}

int main(int argc, char **argv) {
    const char *demo = RT_DEMO_DIR, *tokdir = RT_GPT2_TOKENIZER;
    double mb = 20.0;
    int runs = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--demo") && i + 1 < argc)
            demo = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc)
            tokdir = argv[++i];
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc)
            mb = atof(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--demo DIR] [--tokenizer DIR] [--mb N] [--runs N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > 100 || mb <= 0) {
        fprintf(stderr, "bench_tokenizer: --runs must be 1..100 and --mb positive\n");
        return 2;
    }
    char *vp = rt_fs_join(tokdir, "vocab.json"), *mp = rt_fs_join(tokdir, "merges.txt");
    rt_bpe *t;
    double t0 = bench_now();
    if (rt_bpe_load(&t, vp, mp) != RT_OK) return fail("load");
    double load_s = bench_now() - t0;
    free(vp);
    free(mp);

    size_t base_len;
    int nfiles = 0;
    char *base = read_demo(demo, &base_len, &nfiles);
    if (!base) {
        fprintf(stderr, "bench_tokenizer: no *.txt text in %s\n", demo);
        return 1;
    }
    size_t want = (size_t)(mb * 1e6), len = 0;
    char *text = malloc(want + base_len);
    while (len < want) {
        memcpy(text + len, base, base_len);
        len += base_len;
    }
    free(base);

    double cold[100], warm[100];
    size_t ntok = 0;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    rt_bpe_encode_opts o = {1, 0, "demo", 1};
    rt_bpe_scratch *ws;
    if (rt_bpe_scratch_create(&ws) != RT_OK) return fail("scratch");
    n = 0;
    if (rt_bpe_encode(t, ws, text, len, &o, &ids, &n, &cap, NULL) != RT_OK) return fail("encode");
    for (int r = 0; r < runs; r++) {
        rt_bpe_scratch *s;
        if (rt_bpe_scratch_create(&s) != RT_OK) return fail("scratch");
        n = 0;
        double a = bench_now();
        if (rt_bpe_encode(t, s, text, len, &o, &ids, &n, &cap, NULL) != RT_OK)
            return fail("encode");
        cold[r] = len / (bench_now() - a) / 1e6;
        rt_bpe_scratch_destroy(&s);
        ntok = n;
        n = 0;
        a = bench_now();
        if (rt_bpe_encode(t, ws, text, len, &o, &ids, &n, &cap, NULL) != RT_OK)
            return fail("encode");
        warm[r] = len / (bench_now() - a) / 1e6;
    }
    rt_bpe_scratch_destroy(&ws);

    bench_json j;
    bench_begin(&j, stdout, "tokenizer", NULL, NULL);
    bj_object(&j, "config");
    bj_str(&j, "demo_dir", demo);
    bj_int(&j, "demo_files", nfiles);
    bj_str(&j, "tokenizer_dir", tokdir);
    bj_num(&j, "mb", mb);
    bj_int(&j, "bytes", (long long)len);
    bj_int(&j, "threads", 1);
    bj_int(&j, "runs", runs);
    bj_end(&j);
    bj_array(&j, "results");
    for (int w = 0; w < 2; w++) {
        bj_object(&j, NULL);
        bj_str(&j, "cache", w ? "warm" : "cold");
        bj_int(&j, "bytes", (long long)len);
        bj_stats(&j, "mb_s", w ? warm : cold, runs);
        bj_end(&j);
    }
    bj_end(&j);
    bj_int(&j, "tokens", (long long)ntok);
    bj_num(&j, "bytes_per_token", (double)len / (double)(ntok ? ntok : 1));
    bj_num(&j, "load_s", load_s);
    bj_num(&j, "cold_mb_s", bench_median(cold, runs));
    bj_num(&j, "warm_mb_s", bench_median(warm, runs));
    bj_num(&j, "warm_over_cold", bench_median(warm, runs) / bench_median(cold, runs));
    bench_finish(&j);
    free(ids);
    free(text);
    rt_bpe_destroy(&t);
    return 0;
}
