/* `ringtune init`: a freshly initialised model (Hugging Face's initialisation, a fixed seed)
   written as a Hugging Face directory: GPT-2 (--arch gpt2, the default) or T5 (--arch t5). */
#include <stdio.h>
#include <string.h>
#include "cli_opts.h"
#include "gpt2.h"
#include "hf_gpt2.h"
#include "hf_t5.h"
#include "t5.h"

static int init_gpt2(int argc, char **argv, const char *out, long seed) {
    rt_gpt2_config c;
    rt_gpt2_config_default(&c);
    long v, p, e, l, h;
    if (!rt_cli_num_l(argc, argv, "--vocab", c.vocab_size, 1, 1 << 24, &v) ||
        !rt_cli_num_l(argc, argv, "--positions", c.n_positions, 1, 1 << 20, &p) ||
        !rt_cli_num_l(argc, argv, "--embd", c.n_embd, 1, 1 << 16, &e) ||
        !rt_cli_num_l(argc, argv, "--layers", c.n_layer, 1, 1024, &l) ||
        !rt_cli_num_l(argc, argv, "--heads", c.n_head, 1, 1024, &h))
        return 2;
    c.vocab_size = (int)v;
    c.n_positions = (int)p;
    c.n_embd = (int)e;
    c.n_inner = 4 * (int)e;
    c.n_layer = (int)l;
    c.n_head = (int)h;
    if (c.eos_token_id >= c.vocab_size) c.eos_token_id = c.bos_token_id = c.vocab_size - 1;
    rt_gpt2 *m;
    if (rt_gpt2_create(&m, &c) != RT_OK) return rt_cli_fail("init");
    rt_gpt2_init_weights(m, (uint64_t)seed);
    rt_status st = rt_hf_gpt2_save(m, out);
    printf("initialised GPT-2 (%zu parameters) -> %s\n", rt_gpt2_num_params(m), out);
    rt_gpt2_destroy(&m);
    return st == RT_OK ? 0 : rt_cli_fail(out);
}

static int init_t5(int argc, char **argv, const char *out, long seed) {
    rt_t5_config c;
    rt_t5_config_default(&c);
    long v, d, kv, ff, l, dl, h;
    const char *proj = rt_cli_opt(argc, argv, "--ff");
    if (!rt_cli_num_l(argc, argv, "--vocab", c.vocab_size, 1, 1 << 24, &v) ||
        !rt_cli_num_l(argc, argv, "--embd", c.d_model, 1, 1 << 16, &d) ||
        !rt_cli_num_l(argc, argv, "--d-kv", c.d_kv, 1, 1 << 12, &kv) ||
        !rt_cli_num_l(argc, argv, "--d-ff", c.d_ff, 1, 1 << 18, &ff) ||
        !rt_cli_num_l(argc, argv, "--layers", c.num_layers, 1, 1024, &l) ||
        !rt_cli_num_l(argc, argv, "--decoder-layers", l, 1, 1024, &dl) ||
        !rt_cli_num_l(argc, argv, "--heads", c.num_heads, 1, 1024, &h))
        return 2;
    if (proj && strcmp(proj, "relu") && strcmp(proj, "gated-gelu")) {
        fprintf(stderr, "ringtune init: --ff '%s': expected relu (T5 v1.0) or gated-gelu (v1.1)\n",
                proj);
        return 2;
    }
    c.vocab_size = (int)v;
    c.d_model = (int)d;
    c.d_kv = (int)kv;
    c.d_ff = (int)ff;
    c.num_layers = (int)l;
    c.num_decoder_layers = (int)dl;
    c.num_heads = (int)h;
    if (proj && !strcmp(proj, "gated-gelu")) { /* v1.1: gated, untied, no rescale */
        c.ff = RT_T5_FF_GATED_GELU;
        c.tie_word_embeddings = c.scale_decoder_outputs = 0;
    }
    rt_t5 *m;
    if (rt_t5_create(&m, &c) != RT_OK) return rt_cli_fail("init");
    rt_t5_init_weights(m, (uint64_t)seed);
    rt_status st = rt_hf_t5_save(m, out);
    size_t n = 0;
    const rt_tensor_table *t = rt_t5_table(m);
    for (int i = 0; i < t->n; i++) n += t->t[i].numel;
    printf("initialised T5 (%zu parameters) -> %s\n", n, out);
    rt_t5_destroy(&m);
    return st == RT_OK ? 0 : rt_cli_fail(out);
}

int rt_cmd_init(int argc, char **argv) {
    static const char *const allowed[] = {
        "--out",  "--arch", "--vocab", "--positions",      "--embd", "--layers", "--heads",
        "--seed", "--d-kv", "--d-ff",  "--decoder-layers", "--ff",   NULL};
    if (!rt_cli_check_opts(argc, argv, allowed)) return 2;
    const char *out = rt_cli_opt(argc, argv, "--out"), *arch = rt_cli_opt(argc, argv, "--arch");
    if (!out) {
        fprintf(stderr, "ringtune init: --out DIR is required\n");
        return 2;
    }
    long seed;
    if (!rt_cli_num_l(argc, argv, "--seed", 1234, 0, 1L << 62, &seed)) return 2;
    if (!arch || !strcmp(arch, "gpt2")) {
        if (rt_cli_opt(argc, argv, "--d-kv") || rt_cli_opt(argc, argv, "--d-ff") ||
            rt_cli_opt(argc, argv, "--decoder-layers") || rt_cli_opt(argc, argv, "--ff")) {
            fprintf(stderr, "ringtune init: --d-kv, --d-ff, --decoder-layers and --ff are T5's "
                            "(--arch t5)\n");
            return 2;
        }
        return init_gpt2(argc, argv, out, seed);
    }
    if (!strcmp(arch, "t5")) {
        if (rt_cli_opt(argc, argv, "--positions")) {
            fprintf(stderr,
                    "ringtune init: --positions is GPT-2's (T5's positions are relative)\n");
            return 2;
        }
        return init_t5(argc, argv, out, seed);
    }
    fprintf(stderr, "ringtune init: --arch '%s': expected gpt2 or t5\n", arch);
    return 2;
}
