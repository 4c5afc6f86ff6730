#!/usr/bin/env bash
# Bit-identity check of `ringtune train` across a code change (run by hand, not in CI).
#
#   tests/bitident/run.sh RINGTUNE_BINARY OUT_DIR      runs the matrix, writes OUT_DIR/results.txt
#   tests/bitident/run.sh --compare A/results.txt B/results.txt
#
# The matrix: a tiny GPT-2 (50257-token vocabulary, 16 wide, 3 blocks, dropout 0.1 everywhere)
# made by `ringtune init` (fixed seed), a corpus of the demo's legal paragraphs, 20 steps of
# global batch 12 with gradient accumulation 2 (micro_batch 6/N at N ranks), ZeRO-1 and
# overlapped bucket reductions with small buckets (several per step), an evaluation and a
# checkpoint at step 10, for each fine-tuning mode (full, partial, feature_extraction, gradual)
# at 1, 2 and 3 ranks; and two runs without ZeRO-1 (bucketed all-reduces: full fine-tuning with
# overlap, gradual unfreezing without). results.txt holds, per run, every step's loss as metrics.jsonl prints it
# (%.17g), every validation loss, and the SHA-256 of the exported final/model.safetensors.
# --compare prints one table row per run and exits 1 unless everything is identical.
set -euo pipefail

if [ "${1:-}" = --compare ]; then
    a=$2 b=$3
    rc=0
    printf '%-40s %-8s %-8s %-18s %s\n' run losses evals "params sha256 (A)" identical
    for run in $(awk '{print $1}' "$a" | sort -u); do
        la=$(grep "^$run loss " "$a" | md5sum) lb=$(grep "^$run loss " "$b" | md5sum)
        ea=$(grep "^$run val " "$a" | md5sum) eb=$(grep "^$run val " "$b" | md5sum)
        ha=$(awk -v r="$run" '$1 == r && $2 == "sha256" {print $3}' "$a")
        hb=$(awk -v r="$run" '$1 == r && $2 == "sha256" {print $3}' "$b")
        nl=$(grep -c "^$run loss " "$a" || true)
        same=yes
        [ "$la" = "$lb" ] && [ "$ea" = "$eb" ] && [ -n "$ha" ] && [ "$ha" = "$hb" ] || { same=NO; rc=1; }
        printf '%-40s %-8s %-8s %-18s %s\n' "$run" "$nl" "$(grep -c "^$run val " "$a" || true)" \
            "${ha:0:16}" "$same"
    done
    exit $rc
fi

[ $# -eq 2 ] || { echo "usage: $0 RINGTUNE_BINARY OUT_DIR | --compare A B" >&2; exit 2; }
R=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
S=$2
case "$S" in /*) ;; *) S=$PWD/$S ;; esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEMO=$HERE/../../cli/demo
rm -rf "$S" && mkdir -p "$S"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$R" init --out "$S/base" --vocab 50257 --positions 32 --embd 16 --layers 3 --heads 2 \
    --seed 11 >"$S/init.log"
"$R" prep --out "$S/corpus.h5" --val-ratio 0.1 --delimiter '' --quiet \
    "$DEMO/legal-train.txt" "$DEMO/legal-val.txt" >"$S/prep.log"
: >"$S/results.txt"
for variant in full partial feature_extraction gradual_unfreeze full+allreduce \
    gradual_unfreeze+allreduce+nooverlap; do
    mode=${variant%%+*}
    zero1=true overlap=true
    case "$variant" in *+allreduce*) zero1=false ;; esac
    case "$variant" in *+nooverlap*) overlap=false ;; esac
    for np in 1 2 3; do
        run=$variant.np$np
        cat >"$S/$run.yaml" <<YAML
model: {path: $S/base, dropout: {embd: 0.1, attn: 0.1, resid: 0.1}}
data: {corpus: $S/corpus.h5, seq_len: 16, seed: 3}
train: {global_batch: 12, micro_batch: $((6 / np)), max_steps: 20, seed: 5}
optim: {lr: 3.0e-3, warmup_steps: 2, schedule: cosine, weight_decay: 0.1}
finetune: {mode: $mode, last_n_blocks: 1, unfreeze_every: 4}
eval: {every_steps: 10, max_batches: 4}
output: {dir: $S/$run, log_every: 1}
checkpoint: {every_steps: 10}
dist: {threads_per_rank: 1, zero1: $zero1, overlap: $overlap, bucket_mb: 0.02}
YAML
        timeout -k 10 300 mpirun --allow-run-as-root --oversubscribe -np "$np" \
            "$R" train "$S/$run.yaml" >"$S/$run.log" 2>&1 ||
            { tail -20 "$S/$run.log" >&2; echo "FAIL: $run" >&2; exit 1; }
        python3 - "$S/$run/metrics.jsonl" "$run" >>"$S/results.txt" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    raw = line
    d = json.loads(line)
    # the figures as printed (%.17g), so the comparison is bit-exact
    def field(k):
        s = raw.split('"%s": ' % k, 1)[1]
        return s.split(",", 1)[0].split("}", 1)[0].strip()
    if "loss" in d:
        print(sys.argv[2], "loss", d["step"], field("loss"), field("grad_norm"))
    if "val_loss" in d:
        print(sys.argv[2], "val", d["step"], field("val_loss"))
PY
        echo "$run sha256 $(sha256sum "$S/$run/final/model.safetensors" | cut -d' ' -f1)" \
            >>"$S/results.txt"
        echo "$run: $(grep -c "^$run loss" "$S/results.txt") steps, final loss" \
            "$(grep "^$run loss" "$S/results.txt" | tail -1 | cut -d' ' -f4)"
    done
done
