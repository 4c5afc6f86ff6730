/* T5 sequence generation (compute/t5.h): the encoder runs once per input, then the decoder
   advances one token per sequence and step over key/value caches (self-attention keys and
   values grow by one position a step; the cross-attention ones are computed once from the
   encoder output), in inference mode (no dropout, nothing kept for backward). Greedy search and
   beam search equal to Hugging Face transformers 5.25's generate (T5ForConditionalGeneration,
   do_sample False, num_return_sequences 1, no logits processors).

   Memory of a decoder made for B inputs x beams rows, Ts source tokens and Tmax steps, with
   R = B * beams rows and inner = num_heads * d_kv: self-attention caches 2 x (Ld, R, Tmax,
   inner), cross-attention caches 2 x (Ld, B, Ts, inner), one (R, Tmax, inner) buffer to reorder
   the beams, the encoder's activations for B x Ts tokens (one block's worth, reused across
   blocks) and one step's for R rows, logits (R, V). rt_t5_decoder_bytes tells the total.

   Nothing here is collective. The decoder borrows its rt_t5 (which must outlive it) and takes
   the model's configuration and weight views afresh at each call, so training or rt_t5_untie
   between calls needs nothing (a model whose shape changed is refused). It never touches the
   model's own activations or gradients (generation in the middle of training is safe). A decoder
   serves one sequence of calls at a time (not thread-safe); its kernels use OpenMP and the GEMM
   threads like the forward. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "status.h"
#include "t5.h"

typedef struct rt_t5_decoder rt_t5_decoder;

/* A decoder for up to B inputs of up to Ts source tokens, up to `beams` rows per input (1 for
   greedy search) and up to Tmax decoder steps (the most max_new_tokens it will be asked for).
   Not collective. m is borrowed; the caller owns *out (rt_t5_decoder_destroy). */
rt_status rt_t5_decoder_create(rt_t5_decoder **out, rt_t5 *m, int B, int beams, int Ts, int Tmax);
/* Frees *d (NULL or already freed: nothing) and sets it to NULL. Not collective. */
void rt_t5_decoder_destroy(rt_t5_decoder **d);
/* Bytes the decoder allocated (caches, activations, scratch). Not collective. */
size_t rt_t5_decoder_bytes(const rt_t5_decoder *d);

/* ---- the step interface (what the searches below are made of) ---------------------------- */

/* Runs the encoder over src (B, Ts) with src_mask (B, Ts; 1 = a real token, 0 = padding; NULL:
   none; copied), computes every decoder block's cross-attention keys and values, and empties
   the self-attention caches. The decoder then has B * beams rows, row r decoding input
   r / beams. Ids outside [0, V) are an error naming the position. Not collective; src and
   src_mask stay the caller's. */
rt_status rt_t5_decoder_encode(rt_t5_decoder *d, const int32_t *src, const uint8_t *src_mask, int B,
                               int Ts, int beams);
/* Feeds one token per row (tokens: rows ids, the first step's normally decoder_start_token_id)
   at the next position, appending each row's keys and values to its caches, and leaves the
   logits of that position in *logits (rows, V): borrowed, valid until the next call on d (the
   searches overwrite them in place). Not collective. */
rt_status rt_t5_decoder_step(rt_t5_decoder *d, const int32_t *tokens, const float **logits);
/* Beam search's cache reorder: row r continues from row parent[r]'s history (its cached self-
   attention keys and values), for every r at once; parent[r] must decode the same input
   (parent[r] / beams == r / beams). Not collective; parent stays the caller's. */
rt_status rt_t5_decoder_reorder(rt_t5_decoder *d, const int32_t *parent);
/* Rows (B * beams of the last encode) and positions cached so far. Not collective. */
int rt_t5_decoder_rows(const rt_t5_decoder *d);
int rt_t5_decoder_len(const rt_t5_decoder *d);

/* ---- searches ------------------------------------------------------------------------------ */

/* Greedy search as transformers' generate(num_beams=1, do_sample=False): decoder_start_token_id
   first, then the argmax of each step's logits (the lowest id among equal maxima); a row stops at
   eos_id (eos included; after it the row is padded with pad_token_id, as transformers pads
   finished rows); the search stops when every row has stopped or after max_new_tokens steps.
   eos_id < 0: no eos (every row runs max_new_tokens steps).
   out (B, 1 + max_new_tokens), caller's: row b = decoder_start, the generated ids, then
   pad_token_id up to the end. lengths (B), caller's: generated ids of each row (eos included,
   decoder_start not). transformers returns the first 1 + max(lengths) columns of out.
   d must have capacity B x 1 beam x Ts x max_new_tokens steps. Not collective. */
rt_status rt_t5_generate_greedy(rt_t5_decoder *d, const int32_t *src, const uint8_t *src_mask,
                                int B, int Ts, int max_new_tokens, int eos_id, int32_t *out,
                                int *lengths);

typedef enum {
    RT_EARLY_STOP_FALSE = 0, /* early_stopping=False: stop once the best running beam, scored at
                                its current length, cannot beat the worst kept hypothesis */
    RT_EARLY_STOP_TRUE = 1,  /* early_stopping=True: stop once num_beams hypotheses are kept */
    RT_EARLY_STOP_NEVER = 2  /* early_stopping="never": as false, but with length_penalty > 0 the
                                running beam is scored at max_new_tokens (the canonical rule) */
} rt_early_stop;

typedef struct {
    int num_beams;                /* >= 2 (transformers' num_beams 1 is greedy search) */
    double length_penalty;        /* a hypothesis scores sum(log-probs) / length^length_penalty
                                     (a double: transformers raises lengths to a Python float) */
    rt_early_stop early_stopping; /* see rt_early_stop */
    int max_new_tokens;           /* >= 1 */
    int eos_id;                   /* < 0: none */
} rt_t5_beam_opts;

/* transformers' GenerationConfig defaults where they exist (length_penalty 1.0, early_stopping
   False), num_beams 4, max_new_tokens 20, eos_id = the model's eos_token_id. Not collective. */
void rt_t5_beam_opts_default(rt_t5_beam_opts *o, const rt_t5_config *cfg);

/* Beam search as transformers 5.25's generate(num_beams=N, do_sample=False,
   num_return_sequences=1) (_beam_search), rule for rule:
   - each step, the log-softmax of every beam's logits plus the beam's running score (float32);
     beams other than the first start at -1e9, so the first step expands one beam;
   - the top 2 * num_beams (beam, token) candidates of each input over num_beams * V, by score
     (equal scores: the lower beam * V + token first);
   - a candidate is done when its token is eos or it reaches max_new_tokens; the best num_beams
     candidates that are not done (a done one scores -1e9 more) are the next running beams, and
     the caches are reordered to their parents;
   - done candidates among the first num_beams of the 2 * num_beams may join the kept hypotheses
     (num_beams per input, initially empty at -1e9), scored sum_logprobs / L^length_penalty with
     L its generated tokens (eos included, decoder_start not); not when the input has num_beams
     finished hypotheses already and early_stopping is true, nor once its search is over; the
     best num_beams of kept and new stay (kept ones first on ties);
   - an input's search is over once the best running score divided by L'^length_penalty is no
     better than the worst kept hypothesis (while fewer than num_beams are finished, never), L' =
     the running beams' current length (max_new_tokens instead for early_stopping never with
     length_penalty > 0); the whole search stops when every input's is over, or with
     early_stopping true when every input has num_beams finished hypotheses, or when every
     candidate is done (max_new_tokens);
   - the result of each input is its best kept hypothesis and its score.
   Each step runs the decoder on B * num_beams rows (d: capacity B x num_beams x Ts x
   max_new_tokens steps).
   out (B, 1 + max_new_tokens), caller's: decoder_start, the hypothesis, then transformers' fill
   value up to the end: `pad_token_id or eos_token_id` (Python's or: eos when pad is 0, as for
   T5), -1 without eos. lengths (B): the hypothesis' generated ids (eos included); scores (B):
   its score (transformers' sequences_scores). transformers returns the first 1 + max(lengths)
   columns of out. Not collective. */
rt_status rt_t5_generate_beam(rt_t5_decoder *d, const int32_t *src, const uint8_t *src_mask, int B,
                              int Ts, const rt_t5_beam_opts *o, int32_t *out, int *lengths,
                              float *scores);
