/* The architectures ringtune can build, import, export and checkpoint, keyed by Hugging Face's
   `model_type` (config.json) which is also the manifest's architecture name. Each entry is the
   io half of a model: the Hugging Face importer/exporter and the manifest codec; the compute
   half is the model's rt_model_ops (compute/model.h). dist/ goes through these functions and
   never names an architecture. Not collective: call on one rank or on every rank alike. */
#pragma once
#include <stdio.h>
#include "checkpoint.pb-c.h"
#include "hf_gpt2_seqcls.h"
#include "model.h"
#include "status.h"

#define RT_MANIFEST_MAX_LABEL_NAMES 1024 /* more labels are stored without names */

/* Storage for a model's description in a manifest being built (what rt_model_to_manifest points
   the manifest at; lives as long as the manifest). */
typedef struct {
    Ringtune__ModelConfig legacy; /* Manifest.model: the first format's flat fields */
    Ringtune__ModelDesc desc;     /* Manifest.model_desc */
    Ringtune__Gpt2Config gpt2;
    Ringtune__T5Config t5;
    Ringtune__LmHead lm;
    Ringtune__SeqClsHead seqcls;
    char *label_names[RT_MANIFEST_MAX_LABEL_NAMES]; /* borrowed from the head */
    Ringtune__LoraDesc lora;                        /* a LoRA handle's (its config borrowed) */
} rt_manifest_model;

/* A task head's io half: its name in manifests and its compute operations. */
typedef struct {
    const char *kind; /* "lm", "seqcls" */
    const rt_head_ops *ops;
    /* Sets store->desc's task_head oneof. */
    void (*to_manifest)(const rt_model *m, rt_manifest_model *store);
    /* RT_OK when the manifest's head fields are valid (RT_ERR_FORMAT naming dir and the field). */
    rt_status (*check_manifest)(const char *dir, const Ringtune__Manifest *man);
    /* Appends the head's own tensors to a table, sized from the manifest (arg); NULL: none. */
    int (*extend)(void *man, rt_tensor_table *tab);
    /* Makes the head the model's, configured from the manifest. */
    rt_status (*attach)(rt_model *m, const Ringtune__Manifest *man);
} rt_head_codec;

typedef struct {
    const char *model_type; /* "gpt2", "t5" */
    /* What save_pretrained puts before a backbone tensor's name ("transformer." for GPT-2; ""),
       and the names of the table that stand at the top without it (a task head's, an untied
       LM head's), NULL-terminated. PEFT's adapter files name tensors the same way. */
    const char *hf_prefix;
    const char *const *hf_top_level;
    /* A model with weights from a Hugging Face directory. */
    rt_status (*load_hf)(const char *dir, rt_model **out);
    /* A zeroed model of the architecture a Hugging Face directory's config.json describes. */
    rt_status (*config_hf)(const char *dir, rt_model **out);
    rt_status (*save_hf)(const rt_model *m, const char *dir);
    /* Warnings about a config that loads but looks wrong (token ids outside the vocabulary). */
    void (*warn_hf)(const char *model_path, const rt_model *m, FILE *log);
    /* The manifest's model description (store->legacy and store->desc's arch oneof), and back
       (a zeroed model with the LM head; rt_model_from_manifest sets the manifest's head). */
    void (*to_manifest)(const rt_model *m, rt_manifest_model *store);
    rt_status (*from_manifest)(const char *dir, const Ringtune__Manifest *man,
                               const rt_head_codec *head, rt_model **out);
    /* A model with a sequence-classification head (rt_head_seqcls) from a Hugging Face
       directory, as <Arch>ForSequenceClassification.from_pretrained(dir, **opt) (a directory
       without a score gets a fresh one, with a notice on log). NULL: not supported. */
    rt_status (*load_hf_seqcls)(const char *dir, const rt_hf_seqcls_options *opt, FILE *log,
                                rt_model **out);
    /* RT_OK when the manifest's model is m's architecture exactly (the fields that shape the
       tensors); else RT_ERR_ARG naming dir, the field and both values. */
    rt_status (*check_manifest)(const char *dir, const Ringtune__Manifest *man, const rt_model *m,
                                const char *model_path);
} rt_model_codec;

/* The name save_pretrained gives tensor `name` of m's table (rt_model_codec.hf_prefix), in buf. */
const char *rt_model_hf_name(const rt_model *m, const char *name, char *buf, size_t cap);

/* The entry for model_type, or NULL (an architecture this build does not know). */
const rt_model_codec *rt_model_registry_find(const char *model_type);
/* The entry for m's architecture (never NULL for a model this build made). */
const rt_model_codec *rt_model_codec_of(const rt_model *m);

/* dir/config.json's model_type into buf ("" when the field is absent). */
rt_status rt_hf_model_type(const char *dir, char *buf, size_t cap);
/* RT_OK when dir/config.json's model_type is an architecture this build knows (else the error
   rt_model_load_hf gives), without building anything. */
rt_status rt_hf_check_model_type(const char *dir);
/* A model with weights from a Hugging Face directory, by its model_type (absent: "gpt2", as the
   GPT-2 importer always accepted). An unknown model_type is RT_ERR_ARG naming it. *out owned. */
rt_status rt_model_load_hf(const char *dir, rt_model **out);
/* A model with a sequence-classification head from a Hugging Face directory (its model_type's
   entry); opt may be NULL (config.json's labels and pad id). *out owned. */
rt_status rt_model_load_hf_seqcls(const char *dir, const rt_hf_seqcls_options *opt, FILE *log,
                                  rt_model **out);
/* RT_OK when m has a classification head of K labels named names (K 0: any head of >= 2
   labels); else RT_ERR_ARG naming path and what differs. */
rt_status rt_model_check_classifier(const rt_model *m, const char *path, int K,
                                    const char *const *names);
/* What a trainer or an evaluator loads for a labeled corpus of K classes named names (K 0: the
   directory's own): from_pretrained(dir, num_labels=K, id2label=names) (the names only when the
   directory names no classes or another number of them), a fresh score N(0,
   initializer_range) from seed where dir has none, and a directory without a pad id pads with
   eos (rt_hf_seqcls_options.pad_with_eos). Label names that differ from the corpus's are
   refused (rt_model_check_classifier). *out owned. */
rt_status rt_model_load_hf_classifier(const char *dir, int K, const char *const *names,
                                      uint64_t seed, FILE *log, rt_model **out);
/* A zeroed model of dir/config.json's architecture (no weights read). */
rt_status rt_model_config_hf(const char *dir, rt_model **out);
rt_status rt_model_save_hf(const rt_model *m, const char *dir);
void rt_model_warn_hf(const char *model_path, const rt_model *m, FILE *log);

/* The head entry for kind ("lm"), or NULL. */
const rt_head_codec *rt_head_registry_find(const char *kind);

/* Fills store with m's description (architecture and head) and points man->model and
   man->model_desc at it. */
void rt_model_to_manifest(const rt_model *m, rt_manifest_model *store, Ringtune__Manifest *man);
/* The architecture a manifest names ("gpt2" for manifests that name none), and its task head
   ("lm" for manifests of the first format). */
const char *rt_manifest_arch(const Ringtune__Manifest *man);
const char *rt_manifest_head(const Ringtune__Manifest *man);
/* A zeroed model of the manifest's architecture and head after the checks of rt_ckpt_model_for;
   an architecture or a head this build does not know is RT_ERR_FORMAT naming it. */
rt_status rt_model_from_manifest(const char *dir, const Ringtune__Manifest *man, rt_model **out);
/* The parameters of checkpoint dir (every shard, checksums verified) in a new model. */
rt_status rt_model_load_ckpt(const char *dir, rt_model **out);
