/* Generation (compute/t5_decode.h, rt_gpt2_kv in compute/gpt2.h) against transformers 5.25's
   generate (tests/fixtures/gen_decode_fixtures.py -> tests/fixtures/decode/decode.json) on the
   two T5 fixture models (tests/fixtures/t5_tied, t5_gated_odd):
   - each incremental decoder step's logits against a full rt_t5_forward_hidden + head over the
     same prefix (1e-5 x the largest |logit|, at least 1e-5), also with beam rows whose caches
     were reordered, and against transformers' greedy logits (1e-4, as test_t5_golden);
   - greedy search and every beam-search configuration of the fixture: sequences exactly,
     sequence scores within 1e-5 relative (batches of inputs of different source lengths,
     max_new_tokens 1 and 2, eos ids that end hypotheses early);
   - GPT-2's cached steps against the full forward (1e-5 likewise) and rt_gpt2_generate against the
     uncached loop it replaced (greedy and top-k, with and without the sliding window);
   - argument errors.
   Prints the max differences seen and the time of a step against a full recompute. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gemm.h"
#include "gpt2.h"
#include "hf_gpt2.h"
#include "rng.h"
#include "safetensors.h"
#include "t5_decode.h"

static const char *MODELS[] = {"t5_tied", "t5_gated_odd"};
static json_t *g_dec; /* decode.json */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int jint(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    ck_assert_msg(json_is_integer(v), "json: %s", k);
    return (int)json_integer_value(v);
}
static double jnum(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    ck_assert_msg(json_is_number(v), "json: %s", k);
    return json_number_value(v);
}

static json_t *decode_json(void) {
    if (!g_dec) {
        char path[1024];
        snprintf(path, sizeof path, "%s/decode/decode.json", RT_FIXTURES);
        json_error_t je;
        g_dec = json_load_file(path, 0, &je);
        ck_assert_msg(g_dec, "%s: %s", path, je.text);
    }
    return g_dec;
}

/* The fixture's model: config from golden.json, weights from hf/model.safetensors by the
   table's names (as test_t5_golden.c loads them). */
static rt_t5 *load_t5(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/golden.json", RT_FIXTURES, name);
    json_error_t je;
    json_t *meta = json_load_file(path, 0, &je);
    ck_assert_msg(meta, "%s: %s", path, je.text);
    json_t *md = json_object_get(meta, "model");
    rt_t5_config c;
    rt_t5_config_default(&c);
    c.vocab_size = jint(md, "vocab_size");
    c.d_model = jint(md, "d_model");
    c.d_kv = jint(md, "d_kv");
    c.num_heads = jint(md, "num_heads");
    c.d_ff = jint(md, "d_ff");
    c.num_layers = jint(md, "num_layers");
    c.num_decoder_layers = jint(md, "num_decoder_layers");
    c.relative_attention_num_buckets = jint(md, "relative_attention_num_buckets");
    c.relative_attention_max_distance = jint(md, "relative_attention_max_distance");
    c.dropout_rate = (float)jnum(md, "dropout_rate");
    c.layer_norm_epsilon = (float)jnum(md, "layer_norm_epsilon");
    c.ff = strcmp(json_string_value(json_object_get(md, "feed_forward_proj")), "gated-gelu") == 0
               ? RT_T5_FF_GATED_GELU
               : RT_T5_FF_RELU;
    c.tie_word_embeddings = json_is_true(json_object_get(md, "tie_word_embeddings"));
    c.scale_decoder_outputs = json_is_true(json_object_get(md, "scale_decoder_outputs"));
    c.pad_token_id = jint(md, "pad_token_id");
    c.eos_token_id = jint(md, "eos_token_id");
    c.decoder_start_token_id = jint(md, "decoder_start_token_id");
    json_decref(meta);
    rt_t5 *t = NULL;
    ck_assert_msg(rt_t5_create(&t, &c) == RT_OK, "%s", rt_error_message());
    snprintf(path, sizeof path, "%s/%s/hf/model.safetensors", RT_FIXTURES, name);
    rt_st_file *w = NULL;
    ck_assert_msg(rt_st_open(&w, path) == RT_OK, "%s", rt_error_message());
    rt_tensor_table *tab = rt_t5_table(t);
    for (int i = 0; i < tab->n; i++)
        ck_assert_msg(rt_st_read_f32(w, tab->t[i].name, rt_t5_params(t) + tab->t[i].offset,
                                     tab->t[i].numel) == RT_OK,
                      "%s", rt_error_message());
    rt_st_close(&w);
    return t;
}

/* One fixture input: src (B, Ts), mask (B, Ts). */
typedef struct {
    int B, Ts;
    int32_t *src;
    uint8_t *mask;
} input;

static input get_input(const char *model, const char *name) {
    json_t *in =
        json_object_get(json_object_get(json_object_get(decode_json(), "inputs"), model), name);
    ck_assert_msg(in, "decode.json: inputs.%s.%s", model, name);
    json_t *ids = json_object_get(in, "src_ids"), *mk = json_object_get(in, "src_mask");
    input r;
    r.B = (int)json_array_size(ids);
    r.Ts = (int)json_array_size(json_array_get(ids, 0));
    r.src = malloc(sizeof(int32_t) * r.B * r.Ts);
    r.mask = malloc((size_t)r.B * r.Ts);
    for (int b = 0; b < r.B; b++)
        for (int j = 0; j < r.Ts; j++) {
            r.src[b * r.Ts + j] =
                (int32_t)json_integer_value(json_array_get(json_array_get(ids, b), j));
            r.mask[b * r.Ts + j] =
                (uint8_t)json_integer_value(json_array_get(json_array_get(mk, b), j));
        }
    return r;
}

static void free_input(input *r) {
    free(r->src);
    free(r->mask);
}

/* The full forward's logits at position t of each row of dec (B, t + 1): hidden . head^T. */
static void full_logits(rt_t5 *t5, const input *in, const int32_t *dec, int t, float *out) {
    const rt_t5_config *c = rt_t5_cfg(t5);
    const float *hidden;
    ck_assert_msg(rt_t5_forward_hidden(t5, in->src, in->mask, in->Ts, dec, t + 1, in->B, NULL,
                                       &hidden) == RT_OK,
                  "%s", rt_error_message());
    const float *head = rt_t5_weights(t5)->lm_head;
    for (int b = 0; b < in->B; b++)
        rt_gemm(0, 1, 1, c->vocab_size, c->d_model, 1.0f,
                hidden + ((size_t)b * (t + 1) + t) * c->d_model, c->d_model, head, c->d_model, 0.0f,
                out + (size_t)b * c->vocab_size, c->vocab_size);
}

static double max_abs(const float *a, const float *b, size_t n, double *ref) {
    double d = 0.0, r = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, isnan(a[i]) ? INFINITY : fabs((double)a[i] - b[i]));
        r = fmax(r, fabs((double)b[i]));
    }
    if (ref) *ref = r;
    return d;
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[best]) best = j;
    return best;
}

/* Greedy decoding of the golden input step by step: every step's logits against the full
   forward over the same prefix and (row 0) against transformers' logits; and the time of a
   step against a full recompute. */
START_TEST(test_step_vs_full) {
    const char *name = MODELS[_i];
    rt_t5 *t5 = load_t5(name);
    const rt_t5_config *c = rt_t5_cfg(t5);
    int V = c->vocab_size;
    input in = get_input(name, "golden");
    json_t *sl = json_object_get(json_object_get(decode_json(), "step_logits"), name);
    json_t *hf = json_object_get(sl, "logits");
    int steps = (int)json_array_size(hf);
    ck_assert_int_eq(steps, 12);
    ck_assert(rt_t5_alloc_acts(t5, in.B, in.Ts, steps) == RT_OK);
    rt_t5_decoder *d = NULL;
    ck_assert_msg(rt_t5_decoder_create(&d, t5, in.B, 1, in.Ts, steps) == RT_OK, "%s",
                  rt_error_message());
    double t0 = now();
    ck_assert(rt_t5_decoder_encode(d, in.src, in.mask, in.B, in.Ts, 1) == RT_OK);
    double t_enc = now() - t0, t_step = 0.0, t_full = 0.0;
    int32_t *hist = malloc(sizeof(int32_t) * in.B * (steps + 1)),
            *dec = malloc(sizeof(int32_t) * in.B * steps);
    float *ref = malloc(sizeof(float) * in.B * V), *row0 = malloc(sizeof(float) * V);
    for (int b = 0; b < in.B; b++) hist[b * (steps + 1)] = c->decoder_start_token_id;
    double worst = 0.0, worst_hf = 0.0, big = 0.0;
    for (int t = 0; t < steps; t++) {
        int32_t tok[8];
        for (int b = 0; b < in.B; b++) tok[b] = hist[b * (steps + 1) + t];
        const float *lg;
        t0 = now();
        ck_assert(rt_t5_decoder_step(d, tok, &lg) == RT_OK);
        t_step += now() - t0;
        ck_assert_int_eq(rt_t5_decoder_len(d), t + 1);
        for (int b = 0; b < in.B; b++)
            memcpy(dec + b * (t + 1), hist + b * (steps + 1), sizeof(int32_t) * (t + 1));
        t0 = now();
        full_logits(t5, &in, dec, t, ref);
        t_full += now() - t0;
        double rm, dd = max_abs(lg, ref, (size_t)in.B * V, &rm);
        ck_assert_msg(dd <= 1e-5 * fmax(1.0, rm), "%s step %d: |step - full| %g (max |logit| %g)",
                      name, t, dd, rm);
        worst = fmax(worst, dd);
        big = fmax(big, rm);
        json_t *hr = json_array_get(hf, t);
        ck_assert_int_eq((int)json_array_size(hr), V);
        for (int v = 0; v < V; v++) row0[v] = (float)json_number_value(json_array_get(hr, v));
        double hm, dh = max_abs(lg, row0, V, &hm);
        ck_assert_msg(dh <= 1e-4 * fmax(1.0, hm), "%s step %d: |step - transformers| %g", name, t,
                      dh);
        worst_hf = fmax(worst_hf, dh);
        for (int b = 0; b < in.B; b++)
            hist[b * (steps + 1) + t + 1] = argmax(lg + (size_t)b * V, V);
    }
    printf("%s: %d incremental steps x %d rows: max |step - full forward| %.3g (max |logit| %.3g), "
           "row 0 max |step - transformers| %.3g\n",
           name, steps, in.B, worst, big, worst_hf);
    printf("%s: encoder %.3f ms; %d steps %.3f ms/step incremental vs %.3f ms/step full recompute "
           "(x%.1f)\n",
           name, t_enc * 1e3, steps, t_step * 1e3 / steps, t_full * 1e3 / steps, t_full / t_step);
    rt_t5_decoder_destroy(&d);
    ck_assert_ptr_null(d);
    free(hist);
    free(dec);
    free(ref);
    free(row0);
    free_input(&in);
    rt_t5_destroy(&t5);
}
END_TEST

/* Beam rows: each input decodes 3 rows with their own tokens, then the rows' caches are
   reordered (parents from the same input, one row duplicated); every step's logits against the
   full forward over each row's reconstructed history. */
START_TEST(test_reorder_vs_full) {
    const char *name = MODELS[_i];
    rt_t5 *t5 = load_t5(name);
    const rt_t5_config *c = rt_t5_cfg(t5);
    int V = c->vocab_size, nb = 3, steps = 7;
    input in = get_input(name, "mixed");
    int R = in.B * nb;
    /* the full forward sees each row as its own input: sources repeated per beam */
    input rep = {R, in.Ts, malloc(sizeof(int32_t) * R * in.Ts), malloc((size_t)R * in.Ts)};
    for (int r = 0; r < R; r++) {
        memcpy(rep.src + r * in.Ts, in.src + (r / nb) * in.Ts, sizeof(int32_t) * in.Ts);
        memcpy(rep.mask + r * in.Ts, in.mask + (r / nb) * in.Ts, (size_t)in.Ts);
    }
    ck_assert(rt_t5_alloc_acts(t5, R, in.Ts, steps) == RT_OK);
    rt_t5_decoder *d = NULL;
    ck_assert(rt_t5_decoder_create(&d, t5, in.B, nb, in.Ts, steps) == RT_OK);
    ck_assert(rt_t5_decoder_encode(d, in.src, in.mask, in.B, in.Ts, nb) == RT_OK);
    ck_assert_int_eq(rt_t5_decoder_rows(d), R);
    int32_t *hist = calloc((size_t)R * steps, sizeof(int32_t)),
            *nh = calloc((size_t)R * steps, sizeof(int32_t));
    int32_t *dec = malloc(sizeof(int32_t) * R * steps), tok[32], parent[32];
    float *ref = malloc(sizeof(float) * R * V);
    double worst = 0.0;
    for (int t = 0; t < steps; t++) {
        for (int r = 0; r < R; r++) tok[r] = hist[r * steps + t] = t ? (r * 37 + t * 11) % V : 0;
        const float *lg;
        ck_assert(rt_t5_decoder_step(d, tok, &lg) == RT_OK);
        for (int r = 0; r < R; r++)
            memcpy(dec + r * (t + 1), hist + r * steps, sizeof(int32_t) * (t + 1));
        full_logits(t5, &rep, dec, t, ref);
        double rm, dd = max_abs(lg, ref, (size_t)R * V, &rm);
        ck_assert_msg(dd <= 1e-5 * fmax(1.0, rm), "%s step %d: |step - full| %g", name, t, dd);
        worst = fmax(worst, dd);
        /* row b*nb + j continues from row b*nb + (j + t) % nb, j = 2 from j = 0 */
        for (int r = 0; r < R; r++) {
            int b = r / nb, j = r % nb;
            parent[r] = b * nb + (j == 2 ? 0 : (j + t) % nb);
        }
        ck_assert(rt_t5_decoder_reorder(d, parent) == RT_OK);
        for (int r = 0; r < R; r++)
            memcpy(nh + r * steps, hist + parent[r] * steps, sizeof(int32_t) * steps);
        memcpy(hist, nh, sizeof(int32_t) * R * steps);
    }
    printf("%s: %d beam rows reordered each step, %d steps: max |step - full forward| %.3g\n", name,
           R, steps, worst);
    rt_t5_decoder_destroy(&d);
    free(hist);
    free(nh);
    free(dec);
    free(ref);
    free_input(&rep);
    free_input(&in);
    rt_t5_destroy(&t5);
}
END_TEST

static int case_early(json_t *cs) {
    json_t *e = json_object_get(cs, "early_stopping");
    if (json_is_string(e)) {
        ck_assert_str_eq(json_string_value(e), "never");
        return RT_EARLY_STOP_NEVER;
    }
    return json_is_true(e) ? RT_EARLY_STOP_TRUE : RT_EARLY_STOP_FALSE;
}

/* Every case of decode.json for one model: sequences exactly, scores within 1e-5 relative. */
START_TEST(test_generate_cases) {
    const char *name = MODELS[_i];
    rt_t5 *t5 = load_t5(name);
    rt_t5_decoder *d = NULL;
    ck_assert(rt_t5_decoder_create(&d, t5, 4, 4, 14, 12) == RT_OK);
    json_t *cases = json_object_get(decode_json(), "cases");
    int n_greedy = 0, n_beam = 0;
    double worst = 0.0, t_beam = 0.0, t_greedy = 0.0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *cs = json_array_get(cases, i);
        if (strcmp(json_string_value(json_object_get(cs, "model")), name)) continue;
        const char *inp = json_string_value(json_object_get(cs, "input")),
                   *mode = json_string_value(json_object_get(cs, "mode"));
        input in = get_input(name, inp);
        int max_new = jint(cs, "max_new_tokens"), eos = jint(cs, "eos_token_id"), W = 1 + max_new;
        int32_t *out = malloc(sizeof(int32_t) * in.B * W);
        int lengths[8];
        float scores[8];
        int beam = strcmp(mode, "beam") == 0;
        char what[160];
        double t0 = now();
        if (beam) {
            rt_t5_beam_opts o;
            rt_t5_beam_opts_default(&o, rt_t5_cfg(t5));
            o.num_beams = jint(cs, "num_beams");
            o.length_penalty = jnum(cs, "length_penalty");
            o.early_stopping = case_early(cs);
            o.max_new_tokens = max_new;
            o.eos_id = eos;
            snprintf(what, sizeof what,
                     "%s case %zu (%s, beam %d, lp %g, early %d, max %d, eos %d)", name, i, inp,
                     o.num_beams, o.length_penalty, o.early_stopping, max_new, eos);
            ck_assert_msg(rt_t5_generate_beam(d, in.src, in.mask, in.B, in.Ts, &o, out, lengths,
                                              scores) == RT_OK,
                          "%s: %s", what, rt_error_message());
            t_beam += now() - t0;
            n_beam++;
        } else {
            snprintf(what, sizeof what, "%s case %zu (%s, greedy, max %d, eos %d)", name, i, inp,
                     max_new, eos);
            ck_assert_msg(rt_t5_generate_greedy(d, in.src, in.mask, in.B, in.Ts, max_new, eos, out,
                                                lengths) == RT_OK,
                          "%s: %s", what, rt_error_message());
            t_greedy += now() - t0;
            n_greedy++;
        }
        json_t *seqs = json_object_get(cs, "sequences");
        ck_assert_int_eq((int)json_array_size(seqs), in.B);
        int hfw = (int)json_array_size(json_array_get(seqs, 0)), maxlen = 0;
        for (int b = 0; b < in.B; b++) {
            maxlen = lengths[b] > maxlen ? lengths[b] : maxlen;
            for (int j = 0; j < hfw; j++) {
                int want = (int)json_integer_value(json_array_get(json_array_get(seqs, b), j));
                ck_assert_msg(out[b * W + j] == want, "%s row %d position %d: %d, transformers %d",
                              what, b, j, out[b * W + j], want);
            }
        }
        ck_assert_msg(1 + maxlen == hfw, "%s: longest %d generated, transformers' width %d", what,
                      maxlen, hfw);
        if (beam) {
            json_t *sc = json_object_get(cs, "sequences_scores");
            for (int b = 0; b < in.B; b++) {
                double want = json_number_value(json_array_get(sc, b));
                double rel = fabs(scores[b] - want) / fmax(fabs(want), 1e-30);
                ck_assert_msg(rel <= 1e-5, "%s row %d: score %.9g, transformers %.9g", what, b,
                              scores[b], want);
                worst = fmax(worst, rel);
            }
        }
        free(out);
        free_input(&in);
    }
    ck_assert(n_greedy > 0 && n_beam > 0);
    printf("%s: %d greedy and %d beam-search cases equal to transformers' sequences; scores max "
           "rel |diff| %.3g; %.2f ms per greedy, %.2f ms per beam search\n",
           name, n_greedy, n_beam, worst, t_greedy * 1e3 / n_greedy, t_beam * 1e3 / n_beam);
    rt_t5_decoder_destroy(&d);
    rt_t5_destroy(&t5);
}
END_TEST

START_TEST(test_errors) {
    rt_t5 *t5 = load_t5("t5_tied");
    rt_t5_decoder *d = NULL;
    ck_assert(rt_t5_decoder_create(&d, t5, 0, 1, 4, 4) == RT_ERR_ARG);
    ck_assert_ptr_null(d);
    ck_assert(rt_t5_decoder_create(&d, t5, 2, 2, 4, 3) == RT_OK);
    int32_t src[8] = {5, 6, 7, 1, 9, 1, 0, 0}, tok[4] = {0, 0, 0, 0}, par[4] = {0, 0, 2, 2};
    uint8_t mask[8] = {1, 1, 1, 1, 1, 1, 0, 0};
    const float *lg;
    ck_assert(rt_t5_decoder_step(d, tok, &lg) == RT_ERR_ARG);             /* before an encode */
    ck_assert(rt_t5_decoder_encode(d, src, mask, 2, 5, 2) == RT_ERR_ARG); /* Ts 5 > 4 */
    ck_assert(rt_t5_decoder_encode(d, src, mask, 2, 4, 3) == RT_ERR_ARG); /* 6 rows > 4 */
    src[2] = 257;
    ck_assert(rt_t5_decoder_encode(d, src, mask, 2, 4, 2) == RT_ERR_ARG);
    ck_assert_msg(strstr(rt_error_message(), "position 2"), "%s", rt_error_message());
    src[2] = 7;
    ck_assert(rt_t5_decoder_encode(d, src, mask, 2, 4, 2) == RT_OK);
    tok[1] = -1;
    ck_assert(rt_t5_decoder_step(d, tok, &lg) == RT_ERR_ARG);
    tok[1] = 0;
    for (int s = 0; s < 3; s++) ck_assert(rt_t5_decoder_step(d, tok, &lg) == RT_OK);
    ck_assert(rt_t5_decoder_step(d, tok, &lg) == RT_ERR_ARG); /* the caches hold 3 */
    ck_assert(rt_t5_decoder_reorder(d, par) == RT_OK);
    par[1] = 2; /* row 1 (input 0) from row 2 (input 1) */
    ck_assert(rt_t5_decoder_reorder(d, par) == RT_ERR_ARG);
    int32_t out[2 * 5];
    int len[2];
    float sc[2];
    ck_assert(rt_t5_generate_greedy(d, src, mask, 2, 4, 4, 1, out, len) == RT_ERR_ARG); /* 4 > 3 */
    rt_t5_beam_opts o;
    rt_t5_beam_opts_default(&o, rt_t5_cfg(t5));
    ck_assert(o.num_beams == 4 && o.length_penalty == 1.0 && o.eos_id == 1);
    o.max_new_tokens = 3;
    ck_assert(rt_t5_generate_beam(d, src, mask, 2, 4, &o, out, len, sc) == RT_ERR_ARG); /* 8 rows */
    o.num_beams = 1;
    ck_assert(rt_t5_generate_beam(d, src, mask, 2, 4, &o, out, len, sc) == RT_ERR_ARG);
    o.num_beams = 2;
    ck_assert(rt_t5_generate_beam(d, src, mask, 2, 4, &o, out, len, sc) == RT_OK);
    printf("decoder of 2 inputs x 2 beams, 4 source tokens, 3 steps (t5_tied): %zu bytes\n",
           rt_t5_decoder_bytes(d));
    rt_t5_decoder_destroy(&d);
    rt_t5_decoder_destroy(&d);
    rt_t5_destroy(&t5);
}
END_TEST

/* ---- GPT-2 ---------------------------------------------------------------------------------- */

static const char *GPT2[] = {"gpt2_tiny", "gpt2_odd"};

static rt_gpt2 *load_gpt2(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/hf", RT_FIXTURES, name);
    rt_gpt2 *m = NULL;
    ck_assert_msg(rt_hf_gpt2_load(path, &m) == RT_OK, "%s", rt_error_message());
    return m;
}

/* The generation loop rt_gpt2_generate had before its caches: a full forward over the window
   for every new token. */
static void generate_uncached(rt_gpt2 *m, const int32_t *prompt, int n_prompt, int n_new, int top_k,
                              float temperature, uint64_t seed, int32_t *out) {
    int V = m->cfg.vocab_size,
        Tmax = m->T * m->B < m->cfg.n_positions ? m->T * m->B : m->cfg.n_positions;
    memcpy(out, prompt, (size_t)n_prompt * sizeof(int32_t));
    uint64_t key = rt_rng_key(seed, 0x6e6e, 0, 0);
    for (int i = 0; i < n_new; i++) {
        int len = n_prompt + i, start = len > Tmax ? len - Tmax : 0, T = len - start;
        ck_assert(rt_gpt2_forward(m, out + start, NULL, 1, T, NULL) == RT_OK);
        const float *row = m->logits + (size_t)(T - 1) * V;
        int next = 0;
        if (top_k <= 1 || temperature <= 0.0f) {
            next = argmax(row, V);
        } else {
            int k = top_k < V ? top_k : V, idx[256] = {0};
            if (k > 256) k = 256;
            for (int a = 0; a < k; a++) {
                int best = -1;
                for (int j = 0; j < V; j++) {
                    int taken = 0;
                    for (int b = 0; b < a && !taken; b++) taken = idx[b] == j;
                    if (!taken && (best < 0 || row[j] > row[best])) best = j;
                }
                idx[a] = best;
            }
            double p[256], s = 0.0;
            for (int a = 0; a < k; a++) s += p[a] = exp((row[idx[a]] - row[idx[0]]) / temperature);
            double u = rt_rng_uniform(key, (uint64_t)i) * s;
            next = idx[k - 1];
            for (int a = 0; a < k; a++) {
                if (u < p[a]) {
                    next = idx[a];
                    break;
                }
                u -= p[a];
            }
        }
        out[len] = next;
    }
}

/* Cached steps against the full forward of the whole sequence (causal: position t's logits are
   those of the prefix 0..t), for 2 rows from a 3-token prefill to n_positions. */
START_TEST(test_gpt2_cached_logits) {
    rt_gpt2 *m = load_gpt2(GPT2[_i]);
    int T = m->cfg.n_positions, V = m->cfg.vocab_size, B = 2, P = 3;
    ck_assert(rt_gpt2_alloc_acts(m, B, T) == RT_OK);
    int32_t *ids = malloc(sizeof(int32_t) * B * T);
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)((i * 2654435761u + 7) % (unsigned)V);
    ck_assert(rt_gpt2_forward(m, ids, NULL, B, T, NULL) == RT_OK);
    float *full = malloc(sizeof(float) * B * T * V);
    memcpy(full, m->logits, sizeof(float) * B * T * V);
    rt_gpt2_kv *kv = NULL;
    ck_assert(rt_gpt2_kv_create(&kv, m, B, T + 1) == RT_ERR_ARG);
    ck_assert(rt_gpt2_kv_create(&kv, m, B, T) == RT_OK);
    int32_t pre[2 * 3];
    for (int b = 0; b < B; b++) memcpy(pre + b * P, ids + b * T, sizeof(int32_t) * P);
    const float *lg;
    ck_assert(rt_gpt2_kv_prefill(kv, pre, B, P, &lg) == RT_OK);
    double worst = 0.0, t_step = 0.0, t_full = 0.0;
    for (int t = P - 1; t < T; t++) {
        if (t >= P) {
            int32_t tok[2] = {ids[t], ids[T + t]};
            double t0 = now();
            ck_assert(rt_gpt2_kv_step(kv, tok, &lg) == RT_OK);
            t_step += now() - t0;
            t0 = now();
            ck_assert(rt_gpt2_forward(m, ids, NULL, 1, t + 1, NULL) == RT_OK);
            t_full += now() - t0;
        }
        ck_assert_int_eq(rt_gpt2_kv_len(kv), t + 1);
        for (int b = 0; b < B; b++) {
            double rm, dd = max_abs(lg + (size_t)b * V, full + ((size_t)b * T + t) * V, V, &rm);
            ck_assert_msg(dd <= 1e-5 * fmax(1.0, rm), "%s position %d row %d: |cached - full| %g",
                          GPT2[_i], t, b, dd);
            worst = fmax(worst, dd);
        }
    }
    int32_t tok[2] = {0, 0};
    ck_assert(rt_gpt2_kv_step(kv, tok, &lg) == RT_ERR_ARG); /* full */
    printf("%s: %d cached positions x %d rows: max |cached - full forward| %.3g; %.3f ms/step "
           "cached (2 rows) vs %.3f ms full recompute (1 row)\n",
           GPT2[_i], T - P + 1, B, worst, t_step * 1e3 / (T - P), t_full * 1e3 / (T - P));
    rt_gpt2_kv_destroy(&kv);
    ck_assert_ptr_null(kv);
    free(ids);
    free(full);
    rt_gpt2_destroy(&m);
}
END_TEST

/* rt_gpt2_generate against the uncached loop: greedy and top-k, inside the context and sliding
   (the context is 16 tokens while prompt + new tokens reach 31), prompts longer than it. */
START_TEST(test_gpt2_generate) {
    rt_gpt2 *m = load_gpt2(GPT2[_i]);
    int V = m->cfg.vocab_size;
    struct {
        int T, n_prompt, n_new, top_k;
        float temp;
    } cs[] = {{0, 4, 20, 1, 1.0f},  {16, 5, 26, 1, 1.0f}, {16, 20, 6, 1, 1.0f}, {0, 3, 12, 5, 0.8f},
              {16, 2, 29, 8, 1.3f}, {16, 1, 1, 1, 1.0f},  {16, 3, 0, 1, 1.0f}};
    int n_ids = 0;
    for (size_t k = 0; k < sizeof cs / sizeof *cs; k++) {
        int T = cs[k].T ? cs[k].T : m->cfg.n_positions;
        ck_assert(T <= m->cfg.n_positions);
        ck_assert(rt_gpt2_alloc_acts(m, 1, T) == RT_OK);
        int np = cs[k].n_prompt, nn = cs[k].n_new;
        int32_t prompt[32], a[64], b[64];
        for (int i = 0; i < np; i++) prompt[i] = (int32_t)((i * 7919 + 13 + k) % (unsigned)V);
        ck_assert(rt_gpt2_generate(m, prompt, np, nn, cs[k].top_k, cs[k].temp, 42 + k, a) == RT_OK);
        generate_uncached(m, prompt, np, nn, cs[k].top_k, cs[k].temp, 42 + k, b);
        for (int i = 0; i < np + nn; i++)
            ck_assert_msg(a[i] == b[i], "%s case %zu: id %d: cached %d, uncached %d", GPT2[_i], k,
                          i, a[i], b[i]);
        n_ids += nn;
    }
    int32_t p0 = 0, o[4];
    ck_assert(rt_gpt2_generate(m, &p0, 0, 2, 1, 1.0f, 1, o) == RT_ERR_ARG);
    p0 = V; /* outside the vocabulary: the prefill's forward says so */
    ck_assert(rt_gpt2_generate(m, &p0, 1, 2, 1, 1.0f, 1, o) == RT_ERR_ARG);
    printf("%s: rt_gpt2_generate (cached) equal to the uncached loop: %zu cases, %d new ids\n",
           GPT2[_i], sizeof cs / sizeof *cs, n_ids);
    rt_gpt2_destroy(&m);
}
END_TEST

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    rt_gemm_setup(2);
    Suite *s = suite_create("t5_decode");
    TCase *tc = tcase_create("decode");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_step_vs_full, 0, 2);
    tcase_add_loop_test(tc, test_reorder_vs_full, 0, 2);
    tcase_add_loop_test(tc, test_generate_cases, 0, 2);
    tcase_add_test(tc, test_errors);
    tcase_add_loop_test(tc, test_gpt2_cached_logits, 0, 2);
    tcase_add_loop_test(tc, test_gpt2_generate, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    json_decref(g_dec);
    return failed ? 1 : 0;
}
