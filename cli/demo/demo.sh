#!/usr/bin/env bash
# The embedded end-to-end demo, with the commands a user runs:
#   ringtune init  -> a small random GPT-2 (Hugging Face format)
#   ringtune prep  -> HDF5 corpora from the shipped texts (general English, legal text)
#   mpirun -n 2 ringtune train pretrain.yaml -> the base model a user would bring
#   mpirun -n 2 ringtune train finetune.yaml -> fine-tuning on the domain, before/after table
#   mpirun -n 2 ringtune train classify.yaml -> a classifier on labeled text, three times (feature
#                                               extraction, full, LoRA), and the seed's metric table
#   mpirun -n 2 ringtune sweep sweep.yaml   -> a learning-rate x LoRA-rank grid of classifiers
#   ringtune init --arch t5, ringtune prep (pairs) -> a small random T5, denoising and
#                                                     translation corpora
#   mpirun -n 2 ringtune train t5_pretrain.yaml  -> the T5 base model (span corruption on English)
#   mpirun -n 2 ringtune train t5_translate.yaml -> English -> German fine-tuning, before/after table
# usage: demo.sh [--out DIR] [--ranks N] [--quick]   (--quick: a few steps, for tests)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=out/demo ranks=2 quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "usage: $0 [--out DIR] [--ranks N] [--quick]" >&2; exit 2 ;;
  esac
done
rt=${RINGTUNE:-$here/../../build/cli/ringtune}
mpi=(mpirun -n "$ranks" --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
psteps=() fsteps=() csteps=() tpsteps=() ttsteps=()
[ "$quick" = 1 ] && psteps=(train.max_steps=4 optim.warmup_steps=1 output.log_every=1) \
                 && fsteps=(train.max_steps=4 optim.warmup_steps=1 eval.every_steps=2 output.log_every=1) \
                 && csteps=(train.max_steps=4 eval.every_steps=2 output.log_every=1) \
                 && tpsteps=(train.max_steps=4 optim.warmup_steps=1 eval.every_steps=2 output.log_every=1) \
                 && ttsteps=(train.max_steps=4 optim.warmup_steps=1 eval.every_steps=2 output.log_every=1
                             eval.generate.max_examples=8)
mkdir -p "$out"

"$rt" init --out "$out/init" --vocab 50257 --positions 128 --embd 128 --layers 4 --heads 4 --seed 1234
"$rt" prep --quiet --overwrite --out "$out/general.h5" --delimiter '' --val-ratio 0.1 "$here/general.txt"
"$rt" prep --quiet --overwrite --out "$out/legal-train.h5" --delimiter '<|endoftext|>' --val-ratio 0 "$here/legal-train.txt"
"$rt" prep --quiet --overwrite --out "$out/legal-val.h5" --delimiter '<|endoftext|>' --val-ratio 1 "$here/legal-val.txt"
"$rt" prep --quiet --overwrite --out "$out/packages.h5" --format jsonl --label-field label --val-ratio 0.2 \
    --max-length 64 "$here/packages_sections.jsonl"

echo; echo "== pretraining the base model on general English ($ranks ranks) =="
"${mpi[@]}" "$rt" train "$here/pretrain.yaml" model.path="$out/init" data.corpus="$out/general.h5" \
    output.dir="$out/pretrain" "${psteps[@]}"

echo; echo "== fine-tuning on legal text ($ranks ranks) =="
"${mpi[@]}" "$rt" train "$here/finetune.yaml" model.path="$out/pretrain/final" \
    data.corpus="$out/legal-train.h5" data.val_corpus="$out/legal-val.h5" \
    output.dir="$out/finetune" "${fsteps[@]}"

echo; echo "== general English after fine-tuning (what the domain cost) =="
"$rt" eval --model "$out/pretrain/final" --corpus "$out/general.h5" --seq 64
"$rt" eval --model "$out/finetune/final" --corpus "$out/general.h5" --seq 64

echo; echo "== classifying package descriptions (4 classes): feature extraction, full fine-tuning, LoRA =="
for mode in feature_extraction full; do
  lr=3.0e-4; [ "$mode" = feature_extraction ] && lr=1.0e-2   # the score alone learns faster
  "${mpi[@]}" "$rt" train "$here/classify.yaml" model.path="$out/pretrain/final" \
      data.corpus="$out/packages.h5" output.dir="$out/cls-$mode" finetune.mode=$mode optim.lr=$lr \
      "${csteps[@]}"
done
# LoRA (r 8 on every linear layer of the blocks, the score in full as PEFT's SEQ_CLS): final/ is
# a PEFT adapter for the base model, final/merged a classifier transformers loads alone
"${mpi[@]}" "$rt" train "$here/classify.yaml" model.path="$out/pretrain/final" \
    data.corpus="$out/packages.h5" output.dir="$out/cls-lora" optim.lr=2.0e-3 lora.r=8 \
    lora.alpha=16 lora.target_modules=c_attn,c_proj,c_fc "${csteps[@]}"
echo; echo "== a learning-rate x LoRA-rank grid for the classifier: ringtune sweep ($ranks ranks, one trial each) =="
# sweep.yaml's base_config and paths, for this output directory
sed -e "s#^base_config: classify.yaml#base_config: $here/classify.yaml#" \
    -e "s#^base:#base:\n  model.path: $out/pretrain/final\n  data.corpus: $out/packages.h5#" \
    "$here/sweep.yaml" >"$out/sweep.yaml"
[ "$quick" = 1 ] && sed -i 's/^budget: {policy: fixed, steps: 140}/budget: {policy: fixed, steps: 4}/' \
    "$out/sweep.yaml"
"${mpi[@]}" "$rt" sweep "$out/sweep.yaml" --out "$out/sweep"
cat "$out/sweep/results.md"

echo; echo "== the seed's table: the base model (a fresh score) and the three classifiers =="
"$rt" eval --corpus "$out/packages.h5" --before "$out/pretrain/final" --seed 3 \
    --model "$out/cls-feature_extraction/final" --label features --model "$out/cls-full/final" \
    --label full --model "$out/cls-lora/final/merged" --label lora --json "$out/classify-eval.json"

# T5: a small random T5 with the bundled tokenizer (copied in, so training and export carry it)
echo; echo "== T5: a small random T5, its denoising and translation corpora =="
"$rt" init --arch t5 --out "$out/t5-init" --vocab 32128 --embd 128 --d-kv 32 --d-ff 512 --layers 2 \
    --heads 4 --ff relu --seed 1234
cp "$here/tokenizers/t5/spiece.model" "$here/tokenizers/t5/tokenizer.json" "$out/t5-init/"
# The denoising set holds each sentence 6 times (masked differently) on consecutive lines, and
# prep's --val-ratio splits per line: hold out the last 100 sentences (600 lines) as a file.
n=$(wc -l <"$here/denoise_en.jsonl")
[ $((n % 6)) -eq 0 ] || { echo "$0: denoise_en.jsonl: $n lines, not groups of 6" >&2; exit 1; }
head -n $((n - 600)) "$here/denoise_en.jsonl" >"$out/denoise-train.jsonl"
tail -n 600 "$here/denoise_en.jsonl" >"$out/denoise-val.jsonl"
dn=(--tokenizer "$out/t5-init" --format jsonl --source-field source --target-field target
    --allow-special --max-source-len 64 --max-target-len 16)
for split in train:0 val:1; do
  "$rt" prep --quiet --overwrite "${dn[@]}" --val-ratio "${split#*:}" \
      --out "$out/denoise-${split%:*}.h5" "$out/denoise-${split%:*}.jsonl"
done
"$rt" prep --quiet --overwrite --tokenizer "$out/t5-init" --format jsonl --source-field en \
    --target-field de --source-prefix "translate English to German: " --max-source-len 32 \
    --max-target-len 32 --val-ratio 0.05 --out "$out/pairs.h5" "$here/pairs_en_de.jsonl"

echo; echo "== T5: pretraining the base model with span corruption on English ($ranks ranks) =="
"${mpi[@]}" "$rt" train "$here/t5_pretrain.yaml" model.path="$out/t5-init" \
    data.corpus="$out/denoise-train.h5" data.val_corpus="$out/denoise-val.h5" \
    output.dir="$out/t5-pretrain" "${tpsteps[@]}"

echo; echo "== T5: fine-tuning on English -> German translation ($ranks ranks) =="
"${mpi[@]}" "$rt" train "$here/t5_translate.yaml" model.path="$out/t5-pretrain/final" \
    data.corpus="$out/pairs.h5" output.dir="$out/t5-translate" "${ttsteps[@]}"
