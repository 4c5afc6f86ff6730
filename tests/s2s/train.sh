#!/usr/bin/env bash
# Sequence-to-sequence training end to end (data.task: seq2seq) on the demo's English-German
# pairs (cli/demo/pairs_en_de.jsonl, the first 600) with a tiny random T5:
#  1. the losses of 1, 2 and 3 ranks agree within 1e-6 relative and every step's sample ids are
#     the same (the length-grouped order depends on the seed and the global batch, not on P);
#  2. a run checkpointed at step 4 on 2 ranks resumes on 3 ranks with the uninterrupted run's
#     losses and samples; SIGUSR1 to one rank checkpoints and exits 75, and the resumed run is
#     bit-identical to an uninterrupted one;
#  3. the length grouping pads less than the plain order (tokens per step);
#  4. final/ is a T5ForConditionalGeneration directory with the tokenizer; a checkpoint verifies
#     and exports; partial fine-tuning trains the top decoder blocks only; the table has the
#     generation metrics, and label-word targets the text-to-text classification figures;
#  5. a decoder-only model or a text corpus with data.task seq2seq (and T5 with data.task lm) is
#     refused naming what was expected.
# Usage: train.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/../ckpt/common.sh"
ck_init s2s_train "$@"
demo="$CK_HERE/../../cli/demo"
"$R" init --arch t5 --out "$S/base" --vocab 32128 --embd 16 --d-kv 4 --d-ff 32 --layers 2 \
    --heads 2 >"$S/init.log" 2>&1 || fail_log "$S/init.log" "ringtune init --arch t5 failed"
cp "$demo/tokenizers/t5/spiece.model" "$demo/tokenizers/t5/tokenizer.json" "$S/base/"
head -n 600 "$demo/pairs_en_de.jsonl" >"$S/pairs.jsonl"
head -n 50 "$demo/general.txt" >"$S/text.txt"
"$R" prep --tokenizer "$S/base" --out "$S/pairs.h5" --format jsonl --source-field en \
    --target-field de --source-prefix "translate English to German: " --max-source-len 32 \
    --max-target-len 32 --val-ratio 0.1 --quiet "$S/pairs.jsonl" >"$S/prep.log" 2>&1 ||
    fail_log "$S/prep.log" "ringtune prep --source-field failed"
"$R" prep --tokenizer "$CK_HERE/../../cli/demo/tokenizers/gpt2" --out "$S/text.h5" --quiet \
    "$S/text.txt" >"$S/prept.log" 2>&1 || fail_log "$S/prept.log" "ringtune prep (text) failed"
cat >"$S/run.yaml" <<YAML
model: {path: $S/base}
data: {corpus: $S/pairs.h5, task: seq2seq, seed: 3, length_pool: 4}
train: {global_batch: 12, micro_batch: 2, max_steps: 8, seed: 5}
optim: {lr: 3.0e-3, warmup_steps: 2, schedule: cosine, weight_decay: 0.1}
eval: {every_steps: 4, generate: {max_examples: 16, max_new_tokens: 8}}
output: {dir: $S/out, log_every: 1, log_samples: true}
checkpoint: {every_steps: 4, keep_last: null}
dist: {threads_per_rank: 1}
YAML

# 1. rank counts (compare checks the sample ids of every step too)
for np in 1 2 3; do
    train_ok "$np" "$S/np$np.log" "$S/run.yaml" "output.dir=$S/np$np"
done
for np in 2 3; do
    out=$(python3 "$CK_TOOL" compare "$S/np1/metrics.jsonl" "$S/np$np/metrics.jsonl" 1e-6) ||
        fail "np$np losses or samples differ from np1: $out"
    say "np$np vs np1: $out"
done
expect_grep "^fine-tuned \(after\)" "$S/np1.log" "the before/after table"

# 2. resume at another rank count: drop what the 2-rank run did after step 4, go on with 3
train_ok 2 "$S/a.log" "$S/run.yaml" "output.dir=$S/res"
expect_resume_4_to_3 "$S/res" "$S/np1/metrics.jsonl" "$S/run.yaml"

# 2b. preemption: SIGUSR1 to rank 1 checkpoints every rank (exit 75); the resumed run ends with
# the uninterrupted run's losses and sample ids bit for bit
if [ "${RT_SANITIZED:-0}" = 1 ]; then
    say "sanitizer build: the 300-step preemption section runs in the Release build only"
else
    pre=(train.max_steps=300 checkpoint.every_steps=0 eval.every_steps=100 output.log_every=0)
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
    say "preempted at $sig, resumed: bit-identical to the uninterrupted 300 steps"
fi

# 3. grouping by length pads less: the padded tokens of the steps with pools of 4 global
# batches against the plain order (tokens_per_s x ms_step over the steps)
train_ok 1 "$S/nogroup.log" "$S/run.yaml" "output.dir=$S/nogroup" data.length_pool=1
python3 - "$S/np1/metrics.jsonl" "$S/nogroup/metrics.jsonl" <<'PY' ||
import json, sys
def tokens(p):
    return sum(l["tokens_per_s"] * l["ms_step"] / 1e3 for l in map(json.loads, open(p))
               if "tokens_per_s" in l)
g, n = tokens(sys.argv[1]), tokens(sys.argv[2])
print(f"[s2s_train] padded tokens of 8 steps: grouped {g:.0f}, plain order {n:.0f}")
sys.exit(0 if g < 0.9 * n else 1)
PY
    fail "length grouping did not pad less than the plain order"

# 4. the export, a checkpoint, partial fine-tuning
grep -q '"T5ForConditionalGeneration"' "$S/np1/final/config.json" ||
    fail "final/config.json is not a T5ForConditionalGeneration"
[ -f "$S/np1/final/spiece.model" ] || fail "final/ lacks the tokenizer (spiece.model)"
"$R" inspect "$S/np1/step-00000008" --verify >"$S/verify.log" 2>&1 ||
    fail_log "$S/verify.log" "inspect --verify of a T5 checkpoint failed"
"$R" export "$S/np1/step-00000008" "$S/exported" >"$S/export.log" 2>&1 ||
    fail_log "$S/export.log" "export of a T5 checkpoint failed"
cmp -s "$S/exported/model.safetensors" "$S/np1/final/model.safetensors" ||
    fail "the exported step-8 checkpoint differs from final/"
# `ringtune eval` on the pairs gives the run's "after" loss and chrF (the tokenizer is passed: a
# checkpoint's export holds the weights only)
"$R" eval --model "$S/exported" --corpus "$S/pairs.h5" --max-examples 16 --max-new-tokens 8 \
    --tokenizer "$S/base" >"$S/eval.log" 2>&1 || fail_log "$S/eval.log" "ringtune eval on pairs failed"
after=$(awk '$1 == "fine-tuned" {print $3, $6}' "$S/np1.log")
expect_grep "loss ${after% *}, perplexity" "$S/eval.log" "eval's loss (the run's after: ${after% *})"
expect_grep "chrF ${after#* }," "$S/eval.log" "eval's chrF (the run's after: ${after#* })"
train_ok 2 "$S/part.log" "$S/run.yaml" "output.dir=$S/part" finetune.mode=partial \
    finetune.last_n_blocks=1 train.max_steps=3
python3 - "$S/base/model.safetensors" "$S/part/final/model.safetensors" <<'PY' ||
import json, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
a, f = load(sys.argv[1]), load(sys.argv[2])
moved = sorted(k for k in f if a[k] != f[k])
want = all(k.startswith("decoder.block.1.") or k == "decoder.final_layer_norm.weight" for k in moved)
print(f"[s2s_train] partial (last 1 block): {len(moved)} tensors moved, all in the top decoder "
      f"block or the final norm: {want}")
sys.exit(0 if moved and want else 1)
PY
    fail "partial fine-tuning moved tensors outside the top decoder block"

# 4b. the table's generation metrics (greedy decoding of the validation pairs) and text-to-text
# classification: package descriptions -> their section word (4 labels)
expect_grep "^validation +loss +perplexity +BLEU +chrF +ROUGE-L +exact" "$S/np1.log" "the metric columns"
expect_grep "over 16 validation pairs decoded greedily" "$S/np1.log" "the decoded pairs"
"$R" prep --tokenizer "$S/base" --out "$S/cls.h5" --format jsonl --source-field text \
    --target-field label --source-prefix "section: " --max-source-len 24 --val-ratio 0.1 --quiet \
    "$demo/packages_sections.jsonl" >"$S/prepc.log" 2>&1 ||
    fail_log "$S/prepc.log" "ringtune prep of the text-to-text classification pairs failed"
train_ok 2 "$S/t2t.log" "$S/run.yaml" "output.dir=$S/t2t" "data.corpus=$S/cls.h5" train.max_steps=3 \
    eval.generate.max_examples=24
expect_grep "^text-to-text classification over 4 label words: accuracy [0-9.]+ -> [0-9.]+, f1_macro" \
    "$S/t2t.log" "the classification figures"

# 5. refusals
# a model directory whose tokenizer is not the corpus's (spiece.model without tokenizer.json has
# another identity): eval and train name both
mkdir -p "$S/othertok" && cp "$S/exported/"*.json "$S/exported/model.safetensors" "$S/othertok/"
cp "$demo/tokenizers/t5/spiece.model" "$S/othertok/"
RC=0
"$R" eval --model "$S/othertok" --corpus "$S/pairs.h5" --max-examples 0 >"$S/tok.log" 2>&1 || RC=$?
expect_rc 1 "$S/tok.log" "eval with another tokenizer"
expect_grep "the corpus was tokenized with another tokenizer than the model's: .* but .*/othertok/spiece.model have sha256" \
    "$S/tok.log" "the refusal"
train 1 "$S/gpt2.log" "$S/run.yaml" "output.dir=$S/gpt2" "model.path=$CK_HERE/../fixtures/gpt2_tiny/hf"
expect_rc 1 "$S/gpt2.log" "a GPT-2 with data.task seq2seq"
expect_grep "data.task seq2seq needs an encoder-decoder model; " "$S/gpt2.log" "the refusal"
train 1 "$S/lm.log" "$S/run.yaml" "output.dir=$S/lm" data.task=lm
expect_rc 1 "$S/lm.log" "T5 with data.task lm"
expect_grep "is an encoder-decoder model \(\"t5\"\): it trains on source-target pairs with data.task seq2seq" \
    "$S/lm.log" "the refusal"
train 1 "$S/text.log" "$S/run.yaml" "output.dir=$S/text" "data.corpus=$S/text.h5"
expect_rc 1 "$S/text.log" "a text corpus with data.task seq2seq"
expect_grep "corpus kind is \"text\", expected \"pairs\" for data.task seq2seq" "$S/text.log" \
    "the refusal"
say "passed in $((SECONDS - CK_T0)) s"
