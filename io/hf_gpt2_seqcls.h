/* Hugging Face GPT2ForSequenceClassification directories: config.json (the GPT-2 fields plus
   num_labels / id2label / label2id, pad_token_id, problem_type) and model.safetensors
   ("transformer.*" body plus "score.weight" [num_labels, n_embd]); and a fresh head on a plain
   GPT-2 LM checkpoint, as GPT2ForSequenceClassification.from_pretrained(lm_dir) makes one.
   Not collective: call on one rank (or on every rank, each reading the same files). */
#pragma once
#include <stdint.h>
#include <stdio.h>
#include "gpt2.h"
#include "status.h"

typedef struct {
    int num_labels;   /* K >= 2 */
    int has_pad;      /* 0: pad_token_id null (a batch of one row only, read at its end) */
    int pad_token_id; /* as config.json says (any integer, like transformers) when has_pad */
    char **id2label;  /* [num_labels] owned names ("LABEL_<i>" unless config.json names them) */
} rt_hf_seqcls_config;

typedef struct {
    rt_gpt2 *body;   /* the backbone; its tied LM head is unused (owned). Its table ends with the
                        head's tensor "score.weight" (rt_gpt2_create_ext), so one flat arena holds
                        both (what the model interface and the optimizer see) */
    float *score;    /* (num_labels, n_embd): body->params_mem at the score's offset (borrowed) */
    int score_index; /* the score's index in body->params */
    rt_hf_seqcls_config cfg;
    int score_fresh; /* 1: the checkpoint had no score.weight, so it was initialised here */
} rt_hf_gpt2_seqcls;

/* What GPT2ForSequenceClassification.from_pretrained(dir, **kwargs) overrides. */
typedef struct {
    int num_labels;            /* 0: config.json's (id2label, num_labels, or 2) */
    const char *const *labels; /* [num_labels] names, or NULL: config.json's / LABEL_<i> */
    int set_pad;               /* 1: use pad_token_id below instead of config.json's */
    int pad_token_id;          /* with set_pad: < 0 means null */
    uint64_t seed;             /* a fresh score is N(0, initializer_range) from this seed */
    int pad_with_eos;          /* 1: a null pad id (no set_pad) becomes eos_token_id, as the usual
                                  model.config.pad_token_id = tokenizer.eos_token_id (a notice on
                                  log), so batches of several rows can be classified */
} rt_hf_seqcls_options;

/* Reads the classification fields of dir/config.json as transformers 5 does: id2label (an
   object {"0": name, ...}; keys must be 0..n-1) gives num_labels; a "num_labels" that differs
   from it wins with a warning on log and names LABEL_<i>; neither gives 2 labels; label2id is
   ignored (transformers rebuilds it). pad_token_id: an integer or null/absent. problem_type:
   null/absent or "single_label_classification"; "regression" and "multi_label_classification"
   (and num_labels 1, which transformers treats as regression) are refused naming config.json
   and the field. opt (may be NULL) overrides num_labels, the names and the pad id. log may be
   NULL. Caller frees *cfg with rt_hf_seqcls_config_free. */
rt_status rt_hf_seqcls_read_config(const char *dir, const rt_hf_seqcls_options *opt, FILE *log,
                                   rt_hf_seqcls_config *cfg);
void rt_hf_seqcls_config_free(rt_hf_seqcls_config *cfg);

/* The pad id to pool with (rt_seqcls_forward's pad_id): -1 for null; a negative id from the
   config (which transformers compares like any other and no token matches) becomes INT32_MAX. */
int rt_hf_seqcls_pool_pad(const rt_hf_seqcls_config *cfg);

/* Loads a GPT-2 with a classification head from dir: the body as rt_hf_gpt2_load (config.json's
   GPT-2 fields; an "lm_head.weight" is accepted as there), "score.weight" [num_labels, n_embd]
   from the same files. A directory without score.weight (a plain GPT-2 LM checkpoint) gets a
   fresh score N(0, initializer_range) from opt->seed and a notice on log, as transformers' "Some
   weights of GPT2ForSequenceClassification were not initialized ... newly initialized". A
   score.weight of another shape (e.g. opt->num_labels differs from the checkpoint's) is
   RT_ERR_FORMAT naming the file. Caller owns *out (rt_hf_gpt2_seqcls_destroy); NULL on
   failure. */
rt_status rt_hf_gpt2_seqcls_load(const char *dir, const rt_hf_seqcls_options *opt, FILE *log,
                                 rt_hf_gpt2_seqcls **out);
void rt_hf_gpt2_seqcls_destroy(rt_hf_gpt2_seqcls **m);

/* Writes body + score to dir so that GPT2ForSequenceClassification.from_pretrained(dir) loads
   it: config.json as rt_hf_gpt2_save plus architectures ["GPT2ForSequenceClassification"],
   num_labels, id2label, label2id, pad_token_id (null when none), problem_type
   "single_label_classification"; model.safetensors with "transformer.*" and "score.weight".
   Files are replaced atomically. m is only read. */
rt_status rt_hf_gpt2_seqcls_save(const rt_hf_gpt2_seqcls *m, const char *dir);
