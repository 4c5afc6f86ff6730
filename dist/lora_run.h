/* A run's LoRA adapters (lora.* keys, dist/config.h): the spec the keys or a PEFT adapter's
   config describe, the model handle over the base (compute/model_lora.h), the adapter written
   at the end (PEFT's files, plus the merged model) and the figures that say what LoRA saves.
   Not collective unless said: every rank builds the same handle from the same inputs. */
#pragma once
#include <stdio.h>
#include "config.h"
#include "model.h"
#include "peft.h"
#include "status.h"

typedef struct {
    int on;            /* lora.r or lora.adapter set */
    rt_peft_config pc; /* the keys' values (or the adapter's config), owning the strings */
    rt_lora_spec sp;   /* over pc */
} rt_lora_run;

/* Whether cfg asks for adapters. */
int rt_lora_run_enabled(const rt_run_config *cfg);
/* Replaces *m (its ownership moves into the handle) by a LoRA handle: fresh adapters from
   cfg->lora (initialised from train.seed), or lora.adapter's config and tensors. A classifier
   trains its head in full unless lora.modules_to_save says otherwise (PEFT's SEQ_CLS). Errors
   name the key or the file. lr is the caller's (rt_lora_run_free). */
rt_status rt_lora_run_setup(rt_lora_run *lr, const rt_run_config *cfg, rt_model **m);
void rt_lora_run_free(rt_lora_run *lr);
/* Prints what the adapters train and move against full fine-tuning of the same model over P
   ranks (ZeRO-1 sharding when zero1): parameters, gradient bytes reduced per step, AdamW state
   per rank. */
void rt_lora_run_report(const rt_lora_run *lr, const rt_model *m, int P, int zero1, FILE *out);
/* Writes dir/adapter_config.json + dir/adapter_model.safetensors (what PeftModel.from_pretrained
   loads onto model.path), then merges the adapters into the base (*m becomes the merged base
   model) and writes it as a Hugging Face directory dir/merged (transformers loads it alone).
   The caller copies the tokenizer. Local. */
rt_status rt_lora_run_export(rt_model **m, const char *dir);
