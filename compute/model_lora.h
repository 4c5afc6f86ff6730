/* A model with low-rank adapters (compute/lora.h) behind the model interface: a handle whose
   tensor table and arenas are the adapters' own, so that everything working on a model's flat
   buffers (gradient buckets, the ring reduction, ZeRO-1 shards, AdamW state, checkpoints) sees
   only the trained bytes, while forward, backward and the head run on the frozen base model
   inside it. The base's own arenas hold the base weights once and it keeps no gradients.

   Ownership: the handle owns the base model and the adapters. Not collective. */
#pragma once
#include "lora.h"
#include "model.h"

/* Which layers get adapters and what else trains, as PEFT's LoraConfig says it. */
typedef struct {
    rt_lora_params prm;
    const char *const *targets; /* target_modules: a layer matches when its module name equals
                                   one or ends with "." + one (PEFT's rule); "all-linear": all */
    int n_targets;
    const int *layers; /* layers_to_transform (NULL: every layer): PEFT's layer index, the first
                          "<name>.<digits>." of the module name */
    int n_layers;
    rt_lora_bias bias;
    const char *const *save; /* modules_to_save: a tensor "<module>.<x>" trains in full when
                                <module> ends with one of them (PEFT's rule) */
    int n_save;
    /* When set, replaces the target list: whether the layer of that module name is adapted (a
       regular expression target_modules, matched by io/) */
    int (*match)(void *arg, const char *module);
    void *match_arg;
} rt_lora_spec;

/* Wraps base (its ownership moves into *out, also on failure) with fresh adapters from spec,
   initialised from seed (rt_lora_init). Errors name the key: a target module the architecture
   does not have, r < 1, nothing to train. */
rt_status rt_model_lora_create(rt_model *base, const rt_lora_spec *spec, uint64_t seed,
                               rt_model **out);
/* The adapters and the base model of a LoRA handle (NULL for any other model). */
rt_lora *rt_model_lora(const rt_model *m);
rt_model *rt_model_lora_base(const rt_model *m);
/* The base model of a LoRA handle, m itself for any other: what an architecture's own code
   (its importer, exporter, manifest codec) works on. */
const rt_model *rt_model_unwrapped(const rt_model *m);
/* The adapters' description in their file format (io/: PEFT's adapter_config.json), kept with the
   handle for checkpoints and exports: set copies text (NULL clears), get returns it or NULL. */
rt_status rt_model_lora_set_config(rt_model *m, const char *text);
const char *rt_model_lora_config(const rt_model *m);
/* Writes the merged weights W + scale B A of every adapted layer and the saved tensors' values
   into the base model's own arena (the handle then stops adapting: it becomes the merged base
   model, which the caller takes from *base; the handle is destroyed). */
rt_status rt_model_lora_merge(rt_model **m, rt_model **base);
