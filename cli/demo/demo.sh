#!/usr/bin/env bash
# The embedded end-to-end demo, with the commands a user runs:
#   ringtune init  -> a small random GPT-2 (Hugging Face format)
#   ringtune prep  -> HDF5 corpora from the shipped texts (general English, legal text)
#   mpirun -n 2 ringtune train pretrain.yaml -> the base model a user would bring
#   mpirun -n 2 ringtune train finetune.yaml -> fine-tuning on the domain, before/after table
#   mpirun -n 2 ringtune train classify.yaml -> a classifier on labeled text, twice (feature
#                                               extraction, full), and the seed's metric table
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
psteps=() fsteps=() csteps=()
[ "$quick" = 1 ] && psteps=(train.max_steps=4 optim.warmup_steps=1 output.log_every=1) \
                 && fsteps=(train.max_steps=4 optim.warmup_steps=1 eval.every_steps=2 output.log_every=1) \
                 && csteps=(train.max_steps=4 eval.every_steps=2 output.log_every=1)
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

echo; echo "== classifying package descriptions (4 classes): feature extraction and full fine-tuning =="
for mode in feature_extraction full; do
  lr=3.0e-4; [ "$mode" = feature_extraction ] && lr=1.0e-2   # the score alone learns faster
  "${mpi[@]}" "$rt" train "$here/classify.yaml" model.path="$out/pretrain/final" \
      data.corpus="$out/packages.h5" output.dir="$out/cls-$mode" finetune.mode=$mode optim.lr=$lr \
      "${csteps[@]}"
done
echo; echo "== the seed's table: the base model (a fresh score) and both classifiers =="
"$rt" eval --corpus "$out/packages.h5" --before "$out/pretrain/final" --seed 3 \
    --model "$out/cls-feature_extraction/final" --label features --model "$out/cls-full/final" \
    --label full --json "$out/classify-eval.json"
