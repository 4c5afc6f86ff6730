#!/usr/bin/env bash
# train.precision bf16 end to end on a small GPT-2 (2 layers of 64, the real vocabulary) and a
# tiny T5:
#  1. 200 steps of GPT-2 fine-tuning in fp32 and in bf16 on 2 ranks: every logged training loss
#     of the bf16 run lies within 1% of the fp32 run's at the same step, the validation losses
#     within 0.5% (measured: 1.7e-4 and 7.6e-5; bf16 rounds each operand by up to 2^-9 = 0.2%
#     relative, and the errors average out over the products' sums), and the curves are not
#     identical (the products ran in bf16); the banner names the bf16 kernel and MFU is against
#     the bf16 GEMM peak;
#  2. a bf16 checkpoint resumes in fp32 (and an fp32 one in bf16) and ends within the same band;
#  3. LoRA adapters (GPT-2, r 4) in bf16: the same band;
#  4. a T5 seq2seq run in bf16 within 2% of fp32's losses.
# Usage: train.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/../ckpt/common.sh"
ck_init bf16_train "$@"
"$R" init --out "$S/base" --vocab 50257 --positions 64 --embd 64 --layers 2 --heads 4 \
    >"$S/init.log" 2>&1 || fail_log "$S/init.log" "ringtune init failed"
"$R" prep --out "$S/corpus.h5" --val-ratio 0.1 --delimiter '' --quiet \
    "$CK_HERE/../../cli/demo/legal-train.txt" "$CK_HERE/../../cli/demo/legal-val.txt" \
    >"$S/prep.log" 2>&1 || fail_log "$S/prep.log" "ringtune prep failed"
cat >"$S/run.yaml" <<YAML
model: {path: $S/base}
data: {corpus: $S/corpus.h5, seq_len: 32, seed: 3}
train: {global_batch: 8, micro_batch: 4, max_steps: 200, seed: 5}
optim: {lr: 2.0e-3, warmup_steps: 10, schedule: cosine, weight_decay: 0.1}
eval: {every_steps: 50, max_batches: 8}
output: {dir: $S/out, log_every: 1}
checkpoint: {every_steps: 100, keep_last: null}
dist: {threads_per_rank: 1}
YAML

# band REF RUN MAXREL_TRAIN MAXREL_VAL: compares two metrics.jsonl step by step
band() {
    python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, sys
def read(p):
    tr, va = {}, {}
    for line in open(p):
        d = json.loads(line)
        if "val_loss" in d: va[d["step"]] = d["val_loss"]
        elif "loss" in d: tr[d["step"]] = d["loss"]
    return tr, va
(rt, rv), (bt, bv) = read(sys.argv[1]), read(sys.argv[2])
mt, mv = float(sys.argv[3]), float(sys.argv[4])
common = sorted(set(rt) & set(bt))
if len(common) < 10: sys.exit("only %d common training steps" % len(common))
wt = max(abs(bt[s] - rt[s]) / abs(rt[s]) for s in common)
vs = sorted(set(rv) & set(bv))
wv = max((abs(bv[s] - rv[s]) / abs(rv[s]) for s in vs), default=0.0)
same = all(bt[s] == rt[s] for s in common)
print("%d steps: worst training-loss difference %.3g relative (band %g), %d validations: "
      "worst %.3g (band %g), final %.4f vs %.4f" % (len(common), wt, mt, len(vs), wv, mv,
      bt[common[-1]], rt[common[-1]]))
sys.exit(1 if wt > mt or wv > mv or same else 0)
PY
}

# 1. 200 steps, fp32 and bf16
train_ok 2 "$S/fp32.log" "$S/run.yaml" "output.dir=$S/fp32"
train_ok 2 "$S/bf16.log" "$S/run.yaml" "output.dir=$S/bf16" train.precision=bf16
expect_grep "bf16 products (\((ringtune's AVX512_BF16 kernel|oneDNN matmul)\) with fp32 accumulation|emulated in fp32)" \
    "$S/bf16.log" "the banner's bf16 kernel"
expect_grep "MFU against a measured bf16 GEMM peak" "$S/bf16.log" "the bf16 peak"
expect_grep "fp32 products" "$S/fp32.log" "the banner's fp32"
out=$(band "$S/fp32/metrics.jsonl" "$S/bf16/metrics.jsonl" 0.01 0.005) ||
    fail "bf16 loss curve outside the band of fp32's: $out"
say "bf16 vs fp32: $out"

# 2. resume across precisions
for pair in "bf16 fp32" "fp32 bf16"; do
    set -- $pair
    rm -rf "$S/x$1"
    mkdir -p "$S/x$1"
    cp -r "$S/$1/step-00000100" "$S/x$1/"
    cp "$S/$1/config.yaml" "$S/x$1/" 2>/dev/null || true
    train_ok 2 "$S/x$1.log" "$S/run.yaml" "output.dir=$S/x$1" "train.precision=$2" \
        "checkpoint.resume=$S/x$1/step-00000100"
    expect_grep "resum" "$S/x$1.log" "the resume of a $1 checkpoint in $2"
    out=$(band "$S/fp32/metrics.jsonl" "$S/x$1/metrics.jsonl" 0.01 0.005) ||
        fail "a $1 checkpoint resumed in $2 left the band: $out"
    say "$1 checkpoint resumed in $2: $out"
done

# 3. LoRA adapters in bf16 (their products too): 60 steps within the band of fp32's
train_ok 2 "$S/lf.log" "$S/run.yaml" "output.dir=$S/lf" train.max_steps=60 lora.r=4 lora.alpha=8 \
    checkpoint.every_steps=0
train_ok 2 "$S/lb.log" "$S/run.yaml" "output.dir=$S/lb" train.max_steps=60 lora.r=4 lora.alpha=8 \
    checkpoint.every_steps=0 train.precision=bf16
out=$(band "$S/lf/metrics.jsonl" "$S/lb/metrics.jsonl" 0.01 0.005) ||
    fail "LoRA bf16 loss curve outside the band of fp32's: $out"
say "LoRA bf16 vs fp32: $out"

# 4. T5 in bf16 (its own model, corpus and config under $S/t5)
S=$S/t5
mkdir -p "$S"
ck_make_data_t5
sed -i -e 's/max_steps: 8/max_steps: 40/' -e 's/every_steps: 2, keep_last: null/every_steps: 0/' \
    -e "s/eval: {every_steps: 4, max_batches: 4,/eval: {every_steps: 20, max_batches: 4,/" \
    "$S/run.yaml"
train_ok 2 "$S/t5f.log" "$S/run.yaml" "output.dir=$S/t5f"
train_ok 2 "$S/t5b.log" "$S/run.yaml" "output.dir=$S/t5b" train.precision=bf16
out=$(band "$S/t5f/metrics.jsonl" "$S/t5b/metrics.jsonl" 0.02 0.02) ||
    fail "T5 bf16 loss curve outside the band of fp32's: $out"
say "T5 bf16 vs fp32: $out"
say "ok"
