#!/usr/bin/env bash
# Classification training end to end (data.task: classification) on the demo's labeled set
# (cli/demo/packages_sections.jsonl, 4 classes) with a tiny GPT-2 that gets a fresh score:
#  1. the losses of 1, 2 and 3 ranks agree within 1e-6 relative (the loss of a global batch is the
#     mean over its examples, whatever the rank count);
#  2. a run checkpointed at step 4 on 2 ranks resumes on 3 ranks with the uninterrupted run's
#     losses (within 1e-6: the reduction order follows the rank count); SIGUSR1 to one rank
#     checkpoints and exits 75, and the resumed run is bit-identical to an uninterrupted one;
#  3. feature extraction trains the score alone (the backbone, final LayerNorm included, is the
#     base model's bit for bit in the export), and on cached features (finetune.feature_cache)
#     with the losses of running the frozen backbone every step (no dropout); class weights and
#     eval.metric;
#  4. the final/ export is a GPT2ForSequenceClassification directory that `ringtune eval` reads
#     with the accuracy the run printed.
# Usage: train.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/../ckpt/common.sh"
ck_init cls_train "$@"
demo="$CK_HERE/../../cli/demo"
"$R" init --out "$S/base" --vocab 50257 --positions 32 --embd 16 --layers 2 --heads 2 \
    >"$S/init.log" 2>&1 || fail_log "$S/init.log" "ringtune init failed"
cp "$demo/tokenizers/gpt2/vocab.json" "$demo/tokenizers/gpt2/merges.txt" "$S/base/"
"$R" prep --tokenizer "$S/base" --out "$S/lab.h5" --format jsonl --label-field label \
    --val-ratio 0.1 --max-length 24 --quiet "$demo/packages_sections.jsonl" >"$S/prep.log" 2>&1 ||
    fail_log "$S/prep.log" "ringtune prep --label-field failed"
cat >"$S/run.yaml" <<YAML
model: {path: $S/base}
data: {corpus: $S/lab.h5, task: classification, seq_len: 24, seed: 3}
train: {global_batch: 12, micro_batch: 2, max_steps: 8, seed: 5}
optim: {lr: 2.0e-3, warmup_steps: 2, schedule: cosine, weight_decay: 0.1}
eval: {every_steps: 4}
output: {dir: $S/out, log_every: 1}
checkpoint: {every_steps: 4, keep_last: null}
dist: {threads_per_rank: 1}
YAML

# 1. rank counts
for np in 1 2 3; do
    train_ok "$np" "$S/np$np.log" "$S/run.yaml" "output.dir=$S/np$np"
done
for np in 2 3; do
    out=$(python3 "$CK_TOOL" compare "$S/np1/metrics.jsonl" "$S/np$np/metrics.jsonl" 1e-6) ||
        fail "np$np losses differ from np1 by more than 1e-6: $out"
    say "np$np vs np1: $out"
done
expect_grep "^accuracy " "$S/np1.log" "the before/after table"

# 2. resume at another rank count: drop what the 2-rank run did after step 4, go on with 3
train_ok 2 "$S/a.log" "$S/run.yaml" "output.dir=$S/res"
expect_resume_4_to_3 "$S/res" "$S/np1/metrics.jsonl" "$S/run.yaml"

# 2b. preemption: SIGUSR1 to rank 1 alone checkpoints every rank at the next step boundary (exit
# 75); `--resume latest` ends with the uninterrupted run's losses and sample ids bit for bit
# (the sanitizer build leaves these 3 x 600 steps to the Release build: the signal paths are the
# LM's, which run under the sanitizers in ckpt_e2e_signals)
if [ "${RT_SANITIZED:-0}" = 1 ]; then
    say "sanitizer build: the 600-step preemption section runs in the Release build only"
else
    pre=(train.max_steps=600 checkpoint.every_steps=0 eval.every_steps=200 output.log_every=0)
    train_ok 2 "$S/pref.log" "$S/run.yaml" "output.dir=$S/pref" "${pre[@]}"
    train_bg 2 "$S/pre.log" "$S/run.yaml" "output.dir=$S/pre" "${pre[@]}"
    wait_steps "$S/pre" 20
    kill -USR1 "$(pid_of_rank "output.dir=$S/pre" 1)"
    wait_bg
    expect_rc 75 "$S/pre.log" "SIGUSR1 to rank 1"
    sig=$(latest_of "$S/pre")
    expect_complete "$S/pre/$sig"
    train_ok 2 "$S/pre2.log" "$S/run.yaml" "output.dir=$S/pre" "${pre[@]}" --resume latest
    expect_same_metrics "$S/pref/metrics.jsonl" "$S/pre/metrics.jsonl"
    say "preempted at $sig, resumed: bit-identical to the uninterrupted 600 steps"
fi

# 3. feature extraction: only score.weight moves
train_ok 2 "$S/fe.log" "$S/run.yaml" "output.dir=$S/fe" finetune.mode=feature_extraction
python3 - "$S/base/model.safetensors" "$S/fe/final/model.safetensors" <<'PY' ||
import json, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, f = load(sys.argv[1]), load(sys.argv[2])
body = [k for k in f if k != "score.weight"]
diff = [k for k in body if a.get(k) != f[k]]
if diff or "score.weight" not in f:
    print("changed:", diff[:5], "score.weight" in f)
    sys.exit(1)
print(f"[cls_train] feature extraction: {len(body)} backbone tensors bit-identical to the "
      "base model, score.weight trained")
PY
    fail "feature extraction changed the backbone"

# 3'. the feature cache: the score trained on cached features (computed once, no dropout) has the
# losses of the score trained through the frozen backbone at every step without dropout
nodrop="model.dropout.embd=0 model.dropout.attn=0 model.dropout.resid=0"
train_ok 2 "$S/fc.log" "$S/run.yaml" "output.dir=$S/fc" finetune.mode=feature_extraction $nodrop
train_ok 2 "$S/nc.log" "$S/run.yaml" "output.dir=$S/nc" finetune.mode=feature_extraction $nodrop \
    finetune.feature_cache=false
expect_grep "^feature cache: [0-9]+ train \+ [0-9]+ validation examples x 16 floats" "$S/fc.log" "the cache"
if grep -q "^feature cache:" "$S/nc.log"; then fail "finetune.feature_cache=false built a cache"; fi
out=$(python3 "$CK_TOOL" compare "$S/nc/metrics.jsonl" "$S/fc/metrics.jsonl" 1e-5) ||
    fail "cached features train differently from the backbone run every step: $out"
say "feature cache vs the backbone every step (no dropout): $out"

# 3a. class weights: weighted runs on 1 and 2 ranks agree (the normaliser is the weight sum of
# the global batch) and differ from the unweighted one; "balanced" on the demo's balanced set is 1
# for every class; a list of the wrong length is refused naming the key
for np in 1 2; do
    train_ok "$np" "$S/cw$np.log" "$S/run.yaml" "output.dir=$S/cw$np" train.class_weights=1,2,0.5,3
done
expect_grep "^class weights: games 1 graphics 2 science 0.5 sound 3" "$S/cw1.log" "the weights"
out=$(python3 "$CK_TOOL" compare "$S/cw1/metrics.jsonl" "$S/cw2/metrics.jsonl" 1e-6) ||
    fail "class-weighted np2 differs from np1: $out"
say "class weights 1,2,0.5,3, np2 vs np1: $out"
if python3 "$CK_TOOL" compare "$S/np1/metrics.jsonl" "$S/cw1/metrics.jsonl" 1e-3 >/dev/null; then
    fail "the class-weighted losses equal the unweighted ones"
fi
train_ok 1 "$S/cwb.log" "$S/run.yaml" "output.dir=$S/cwb" train.class_weights=balanced train.max_steps=2
expect_grep "^class weights: games 1 graphics 1 science 1 sound 1$" "$S/cwb.log" "balanced (equal classes)"
train 2 "$S/cwbad.log" "$S/run.yaml" "output.dir=$S/cwbad" train.class_weights=1,2
expect_rc 1 "$S/cwbad.log" "train.class_weights with 2 of 4 weights"
expect_grep "train.class_weights '1,2': expected \"balanced\" or 4 comma-separated numbers" \
    "$S/cwbad.log" "the refusal"

# 3b. eval.metric f1_macro (higher is better): the weights kept are those of the best macro F1
# among the evaluations (the base model's included), so the final table shows that best F1
train_ok 2 "$S/f1.log" "$S/run.yaml" "output.dir=$S/f1" eval.metric=f1_macro eval.every_steps=2 \
    eval.early_stopping.patience=2 train.max_steps=12 optim.lr=5e-3
python3 - "$S/f1/metrics.jsonl" "$S/f1.log" <<'PY' || fail_log "$S/f1.log" "eval.metric f1_macro did not keep the best F1"
import json, re, sys
evals = [json.loads(l) for l in open(sys.argv[1]) if '"val_f1_macro"' in l]
log = open(sys.argv[2]).read()
before = float(re.search(r"validation before: loss [0-9.]+, accuracy [0-9.]+, f1_macro ([0-9.]+)", log).group(1))
after = float(re.search(r"^f1_macro +[0-9.]+ +([0-9.]+)$", log, re.M).group(1))
best = max([before] + [e["val_f1_macro"] for e in evals])
print(f"[cls_train] eval.metric f1_macro: before {before:.4f}, evaluations "
      f"{[round(e['val_f1_macro'], 4) for e in evals]}, table after {after:.4f}, best {best:.4f}")
sys.exit(0 if abs(after - best) < 1e-4 else 1)
PY

# 4. the export evaluates to the accuracy the run printed
acc=$(awk '$1 == "accuracy" {print $3}' "$S/np1.log" | tail -1)
"$R" eval --model "$S/np1/final" --corpus "$S/lab.h5" >"$S/eval.log" 2>&1 ||
    fail_log "$S/eval.log" "ringtune eval of the export failed"
expect_grep "^accuracy +$acc" "$S/eval.log" "eval of final/ (accuracy $acc as in the run)"
# 5. a classifier's checkpoint verifies and exports as a GPT2ForSequenceClassification directory
"$R" inspect "$S/np1/step-00000008" --verify >"$S/verify.log" 2>&1 ||
    fail_log "$S/verify.log" "inspect --verify of a classification checkpoint failed"
"$R" export "$S/np1/step-00000008" "$S/exported" >"$S/export.log" 2>&1 ||
    fail_log "$S/export.log" "export of a classification checkpoint failed"
grep -q GPT2ForSequenceClassification "$S/exported/config.json" ||
    fail "the export's config.json is not a GPT2ForSequenceClassification"
"$R" eval --model "$S/exported" --corpus "$S/lab.h5" >"$S/eval2.log" 2>&1 ||
    fail_log "$S/eval2.log" "ringtune eval of the exported checkpoint failed"
expect_grep "^accuracy +$acc" "$S/eval2.log" "eval of the exported step-8 checkpoint (accuracy $acc)"
say "passed in $((SECONDS - CK_T0)) s"
