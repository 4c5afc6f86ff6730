/* PEFT's LoRA adapter files (adapter_config.json + adapter_model.safetensors, as
   peft.PeftModel.save_pretrained writes them and from_pretrained reads them): the config as a
   compute/model_lora.h spec, the adapter tensors into and out of a LoRA model handle, and the
   tensor names PEFT uses ("base_model.model." + the Hugging Face name; "<module>.base_layer.bias"
   for the bias of an adapted layer). Not collective: each function acts on the calling
   process's files and memory. */
#pragma once
#include "model_lora.h"
#include "status.h"

typedef struct {
    rt_lora_params prm;
    char **targets; /* target_modules as a list (owned), or NULL with target_regex */
    int n_targets;
    char *target_regex; /* target_modules as a string: re.fullmatch on the full module name */
    int *layers;        /* layers_to_transform (owned), NULL: every layer */
    int n_layers;
    rt_lora_bias bias;
    char **save; /* modules_to_save (owned) */
    int n_save;
    char *task_type;          /* "CAUSAL_LM", "SEQ_CLS", "SEQ_2_SEQ_LM", ... (owned, may be NULL) */
    char *base_model;         /* base_model_name_or_path (owned, may be NULL) */
    void *re;                 /* the compiled target_regex (owned) */
    const rt_model *re_model; /* whose module names the regex matches (rt_peft_spec) */
} rt_peft_config;

/* Reads dir/adapter_config.json. Refuses, naming the file and the key: another peft_type, DoRA,
   rank_pattern / alpha_pattern / layers_pattern / layer_replication it does not implement, and
   values of the wrong type or range. *c is the caller's (rt_peft_config_free). */
rt_status rt_peft_read_config(const char *dir, rt_peft_config *c);
/* The same from the text of an adapter_config.json (name stands for the file in messages). */
rt_status rt_peft_parse_config(const char *text, const char *name, rt_peft_config *c);
void rt_peft_config_free(rt_peft_config *c);
/* A spec over c's storage (valid while c is); the regex, when there is one, is matched on the
   full Hugging Face module names of m's architecture. */
void rt_peft_spec(rt_peft_config *c, const rt_model *m, rt_lora_spec *sp);

/* Reads dir/adapter_model.safetensors into the adapters of m (a LoRA handle): every tensor of
   m's set must be there with its shape; a tensor of the file that m's set does not hold (another
   base model, another config) is an error naming it. */
rt_status rt_peft_load_adapter(const char *dir, rt_model *m);
/* Writes m's adapters as dir/adapter_config.json and dir/adapter_model.safetensors (dir must
   exist). task_type and base_model (may be NULL) go into the config. */
rt_status rt_peft_save_adapter(const char *dir, const rt_model *m, const rt_lora_spec *sp,
                               const char *task_type, const char *base_model);
/* The adapter_config.json text of m's adapters (malloc'd, the caller frees; NULL when out of
   memory). */
char *rt_peft_config_text(const rt_model *m, const rt_lora_spec *sp, const char *task_type,
                          const char *base_model);
/* rt_peft_save_adapter with the config's text given (config: adapter_config.json's content). */
rt_status rt_peft_save_adapter_text(const char *dir, const rt_model *m, const char *config);
/* What a LoRA model exports to dir (created when missing): the adapter as PEFT's files, with the
   config kept on the handle (rt_model_lora_config), then the base with the adapters merged
   (*m becomes that merged model) as a Hugging Face directory dir/merged. */
rt_status rt_peft_export(rt_model **m, const char *dir);
/* PEFT's name of tensor i of m's adapter table into buf. */
const char *rt_peft_tensor_name(const rt_model *m, int i, char *buf, size_t cap);
