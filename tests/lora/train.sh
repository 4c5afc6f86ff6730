#!/usr/bin/env bash
# LoRA training end to end (lora.*), on the three tasks with tiny models:
#  1. causal LM (GPT-2, adapters on c_attn, both c_proj and c_fc, bias lora_only): the losses of
#     1, 2 and 3 ranks agree within 1e-6 relative; a run checkpointed at step 4 on 2 ranks resumes
#     on 3 ranks with the uninterrupted run's losses; the checkpoints hold the adapters' bytes
#     only (a small fraction of a full fine-tune's); the report says what is reduced and stored;
#     final/ is a PEFT adapter directory plus final/merged, a GPT-2 directory whose loss under
#     `ringtune eval` is the run's "after" loss, as the adapter directory's (eval and generate load
#     it over its base); a checkpoint verifies and exports to the same
#     files; lora.adapter=final continues from it (its "before" is that "after");
#  2. classification: the score trains in full with the adapters (PEFT's SEQ_CLS), the backbone's
#     weights stay the base's in final/merged except the adapted ones;
#  3. seq2seq (T5, PEFT's default targets q and v): losses of 1 and 2 ranks agree, a 2-rank run
#     resumes on 3 ranks, generation metrics run on the merged weights;
#  4. a target module the model lacks, an adapter of another model, lora.r with partial mode:
#     refused naming the key or the file.
# Usage: train.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/../ckpt/common.sh"
ck_init lora_train "$@"
demo="$CK_HERE/../../cli/demo"
ck_make_data_gpt2
cp "$demo/tokenizers/gpt2/vocab.json" "$demo/tokenizers/gpt2/merges.txt" "$S/base/"
cat >>"$S/run.yaml" <<YAML
lora: {r: 4, alpha: 8, dropout: 0.1, target_modules: "c_attn,c_proj,c_fc", bias: lora_only}
YAML
sed -i -e 's/lr: 1.0e-3/lr: 2.0e-2/' -e 's/eval: {every_steps: 4, max_batches: 4}/eval: {every_steps: 4}/' \
    "$S/run.yaml"

# Under the sanitizers (RT_SANITIZED=1) the LM runs at 1 and 2 ranks, the export, the import and
# the refusals run; the 3-rank, resume, size, classifier and T5 sections are the Release build's.
san=${RT_SANITIZED:-0}
nps="1 2 3"
[ "$san" = 1 ] && nps="1 2"

# 1. rank counts
for np in $nps; do
    train_ok "$np" "$S/np$np.log" "$S/run.yaml" "output.dir=$S/np$np"
done
for np in ${nps#1 }; do
    out=$(python3 "$CK_TOOL" compare "$S/np1/metrics.jsonl" "$S/np$np/metrics.jsonl" 1e-6) ||
        fail "np$np losses or samples differ from np1: $out"
    say "np$np vs np1: $out"
done
expect_grep "^LoRA r=4 alpha=8 on 8 layers \(\+8 tensors in full\)" "$S/np2.log" "the LoRA report"
expect_grep "gradients reduced per step: [0-9.]+ MB \(full fine-tuning: [0-9.]+ MB" "$S/np2.log" \
    "the communication figure"

if [ "$san" = 0 ]; then
    # resume at another rank count
    train_ok 2 "$S/a.log" "$S/run.yaml" "output.dir=$S/res"
    expect_resume_4_to_3 "$S/res" "$S/np1/metrics.jsonl" "$S/run.yaml"

    # the checkpoints hold the adapters only: against a full fine-tune's
    train_ok 2 "$S/full.log" "$S/run.yaml" "output.dir=$S/full" lora.r=null lora.bias=none \
        train.max_steps=2 checkpoint.every_steps=0
    lb=$(du -b "$S/np2/step-00000008" | cut -f1)
    fb=$(du -b "$S/full/step-00000002" | cut -f1)
    python3 -c "import sys; sys.exit(0 if $lb * 20 < $fb else 1)" ||
        fail "a LoRA checkpoint ($lb bytes) is not far smaller than a full one ($fb bytes)"
    say "checkpoint: LoRA $lb bytes, full fine-tuning $fb bytes"
fi

# the export: PEFT's files and the merged model, which `ringtune eval` scores as the run did
for f in adapter_config.json adapter_model.safetensors merged/config.json merged/model.safetensors; do
    [ -f "$S/np1/final/$f" ] || fail "final/ lacks $f"
done
grep -q '"peft_type": "LORA"' "$S/np1/final/adapter_config.json" ||
    fail "final/adapter_config.json is not a LoRA config"
"$R" eval --model "$S/np1/final/merged" --corpus "$S/corpus.h5" --seq 16 --batch 1 \
    >"$S/eval.log" 2>&1 || fail_log "$S/eval.log" "ringtune eval of final/merged failed"
after=$(awk '$1 == "fine-tuned" {print $3}' "$S/np1.log")
expect_grep "loss $after, perplexity" "$S/eval.log" "eval's loss of final/merged (the run's after: $after)"
# the adapter directory itself loads as a model (its base from base_model_name_or_path)
"$R" eval --model "$S/np1/final" --corpus "$S/corpus.h5" --seq 16 --batch 1 >"$S/evala.log" 2>&1 ||
    fail_log "$S/evala.log" "ringtune eval of the adapter directory final/ failed"
expect_grep "loss $after, perplexity" "$S/evala.log" "eval's loss of the adapter final/"
"$R" generate --model "$S/np1/final" --ids 464,3290 --new 4 >"$S/gen.log" 2>&1 ||
    fail_log "$S/gen.log" "generate with the adapter directory failed"
"$R" generate --model "$S/np1/final/merged" --ids 464,3290 --new 4 >"$S/genm.log" 2>&1 ||
    fail_log "$S/genm.log" "generate with final/merged failed"
cmp -s "$S/gen.log" "$S/genm.log" || fail "the adapter and the merged model generate differently"

# a LoRA checkpoint verifies and exports as final/ (its manifest names the base and the config)
"$R" inspect "$S/np1/step-00000008" --verify >"$S/verify.log" 2>&1 ||
    fail_log "$S/verify.log" "inspect --verify of a LoRA checkpoint failed"
"$R" export "$S/np1/step-00000008" "$S/exported" >"$S/export.log" 2>&1 ||
    fail_log "$S/export.log" "export of a LoRA checkpoint failed"
cmp -s "$S/exported/adapter_model.safetensors" "$S/np1/final/adapter_model.safetensors" ||
    fail "the exported step-8 adapter differs from final/"
cmp -s "$S/exported/merged/model.safetensors" "$S/np1/final/merged/model.safetensors" ||
    fail "the exported step-8 merged model differs from final/merged"
say "step 8 exported: the adapter and the merged model equal final/'s bit for bit"

# continue from the adapter: its "before" is the run's "after"
train_ok 1 "$S/cont.log" "$S/run.yaml" "output.dir=$S/cont" lora.r=null "lora.adapter=$S/np1/final" \
    train.max_steps=2
before=$(awk '$1 == "base" {print $3}' "$S/cont.log")
[ "$before" = "$after" ] || fail "continuing from final/: before $before, the run's after $after"
say "lora.adapter=final/ starts from the run's after ($before)"

if [ "$san" = 0 ]; then
# 2. classification: the score trains in full
"$R" prep --tokenizer "$S/base" --out "$S/lab.h5" --format jsonl --label-field label \
    --val-ratio 0.1 --max-length 16 --quiet "$demo/packages_sections.jsonl" >"$S/prepl.log" 2>&1 ||
    fail_log "$S/prepl.log" "ringtune prep --label-field failed"
train_ok 2 "$S/cls.log" "$S/run.yaml" "output.dir=$S/cls" "data.corpus=$S/lab.h5" \
    data.task=classification lora.bias=none lora.target_modules=c_attn
expect_grep "^LoRA r=4 alpha=8 on 2 layers \(\+1 tensors in full\)" "$S/cls.log" "the score trains"
grep -q '"SEQ_CLS"' "$S/cls/final/adapter_config.json" || fail "the classifier's task_type"
expect_grep "^accuracy " "$S/cls.log" "the before/after table"

# 3. seq2seq on T5 with PEFT's default targets, generation on the merged weights
S0=$S
S="$S0/t5"
mkdir -p "$S"
ck_make_data_t5
cat >>"$S/run.yaml" <<YAML
lora: {r: 4, alpha: 16}
eval: {every_steps: 4, max_batches: 4, generate: {max_examples: 8, max_new_tokens: 6}}
YAML
sed -i '/^eval: {every_steps: 4, max_batches: 4, generate: {max_examples: 0}}$/d' "$S/run.yaml"
for np in 1 2; do
    train_ok "$np" "$S/np$np.log" "$S/run.yaml" "output.dir=$S/np$np"
done
out=$(python3 "$CK_TOOL" compare "$S/np1/metrics.jsonl" "$S/np2/metrics.jsonl" 1e-6) ||
    fail "T5 np2 losses differ from np1: $out"
say "T5 np2 vs np1: $out"
expect_grep "^LoRA r=4 alpha=16 on 6 layers" "$S/np1.log" "q and v of every attention"
train_ok 2 "$S/a.log" "$S/run.yaml" "output.dir=$S/res"
expect_resume_4_to_3 "$S/res" "$S/np1/metrics.jsonl" "$S/run.yaml"
expect_grep "over 8 validation pairs decoded greedily" "$S/np1.log" "generation with the adapters"
grep -q '"SEQ_2_SEQ_LM"' "$S/np1/final/adapter_config.json" || fail "T5's task_type"
S=$S0
fi

# 4. refusals
expect_fail() { # WHAT PATTERN overrides...
    local what=$1 pat=$2
    shift 2
    train 1 "$S/bad.log" "$S/run.yaml" "output.dir=$S/bad" "$@"
    [ "$RC" != 0 ] || fail "$what was accepted"
    expect_grep "$pat" "$S/bad.log" "$what"
}
expect_fail "an unknown target module" 'lora.target_modules: "query" is no layer of this gpt2' \
    lora.target_modules=query
expect_fail "the T5 adapter on GPT-2" 'adapter_config.json: lora.target_modules: "[a-z_0-9]*" is no layer' \
    lora.r=null "lora.adapter=$CK_HERE/../fixtures/lora_t5/adapter"
expect_fail "LoRA with partial fine-tuning" "'finetune.mode' must be full" finetune.mode=partial
say "all LoRA checks passed"
