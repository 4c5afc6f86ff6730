#!/usr/bin/env bash
# Feature extraction's cache on disk (finetune.feature_cache_max_mb: 0 puts it in HDF5 shards in
# finetune.feature_cache_dir, default <output.dir>/feature_cache):
#  1. the losses on the disk cache equal those on the in-memory cache bit for bit (the same rows),
#     one part per rank is written and no .tmp directory is left;
#  2. another run (3 ranks) with the same frozen weights, corpus and pooling reuses it (checksums
#     checked), with the same losses within 1e-6;
#  3. a changed data.seq_len, a different corpus, different frozen weights, a damaged part each
#     rebuild it, saying why; a cache directory holding a file of someone else's is not removed:
#     the run stops with an error naming it, and the file is still there;
#  4. a corpus without validation examples is refused before any feature is computed.
# Usage: feature_cache.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/../ckpt/common.sh"
ck_init cls_feature_cache "$@"
demo="$CK_HERE/../../cli/demo"
for seed in 1 2; do
    "$R" init --out "$S/base$seed" --vocab 50257 --positions 32 --embd 16 --layers 2 --heads 2 \
        --seed "$seed" >"$S/init.log" 2>&1 || fail_log "$S/init.log" "ringtune init failed"
    cp "$demo/tokenizers/gpt2/vocab.json" "$demo/tokenizers/gpt2/merges.txt" "$S/base$seed/"
done
for len in 24 20; do
    "$R" prep --tokenizer "$S/base1" --out "$S/lab$len.h5" --format jsonl --label-field label \
        --val-ratio 0.1 --max-length "$len" --quiet "$demo/packages_sections.jsonl" \
        >"$S/prep.log" 2>&1 || fail_log "$S/prep.log" "ringtune prep --label-field failed"
done
cat >"$S/run.yaml" <<YAML
model: {path: $S/base1, dropout: {embd: 0.0, attn: 0.0, resid: 0.0}}
data: {corpus: $S/lab24.h5, task: classification, seq_len: 24, seed: 3}
train: {global_batch: 12, micro_batch: 2, max_steps: 8, seed: 5}
optim: {lr: 2.0e-3, warmup_steps: 2}
eval: {every_steps: 4}
output: {dir: $S/out, log_every: 1}
checkpoint: {every_steps: 0, keep_last: null}
finetune: {mode: feature_extraction}
dist: {threads_per_rank: 1}
YAML
cache="$S/disk/feature_cache"

# 1. disk vs memory
train_ok 2 "$S/mem.log" "$S/run.yaml" "output.dir=$S/mem"
train_ok 2 "$S/disk.log" "$S/run.yaml" "output.dir=$S/disk" finetune.feature_cache_max_mb=0
expect_grep "^feature cache: [0-9]+ train \+ [0-9]+ validation examples x 16 floats \(.* on disk in $cache, computed" \
    "$S/disk.log" "the disk cache"
[ -f "$cache/part-00000-of-00002.h5" ] && [ -f "$cache/part-00001-of-00002.h5" ] ||
    fail "expected 2 parts in $cache: $(ls "$cache")"
[ ! -e "$cache.tmp" ] || fail "$cache.tmp left behind"
expect_same_metrics "$S/mem/metrics.jsonl" "$S/disk/metrics.jsonl"
say "disk cache vs memory cache: the same losses"

# 2. reuse by another run at 3 ranks
shared=("finetune.feature_cache_max_mb=0" "finetune.feature_cache_dir=$cache")
train_ok 3 "$S/re.log" "$S/run.yaml" "output.dir=$S/re" "${shared[@]}"
expect_grep "on disk in $cache, reused \(checksums checked\)" "$S/re.log" "reuse at 3 ranks"
out=$(python3 "$CK_TOOL" compare "$S/disk/metrics.jsonl" "$S/re/metrics.jsonl" 1e-6) ||
    fail "the reused cache trains differently: $out"
say "reused on 3 ranks vs built on 2: $out"

# 3. invalidation: each change rebuilds, saying what changed
rebuilt() { # LOG WHAT REASON-REGEX
    expect_grep "^feature cache $cache: rebuilt: $3" "$1" "$2 rebuilds the cache"
    expect_grep "on disk in $cache, computed" "$1" "$2: computed again"
}
train_ok 2 "$S/len.log" "$S/run.yaml" "output.dir=$S/len" "${shared[@]}" data.seq_len=16
rebuilt "$S/len.log" "data.seq_len 16" "the pooling \(head, pad id, data.seq_len or split sizes\) differs"
train_ok 2 "$S/cor.log" "$S/run.yaml" "output.dir=$S/cor" "${shared[@]}" "data.corpus=$S/lab20.h5"
rebuilt "$S/cor.log" "another corpus" "the corpus differs from the one it was computed on"
train_ok 2 "$S/mod.log" "$S/run.yaml" "output.dir=$S/mod" "${shared[@]}" "model.path=$S/base2"
rebuilt "$S/mod.log" "other weights" "the model's frozen weights differ from those it was computed with"
# damage: flip a byte in the middle of a part (the rows), keeping its size
python3 - "$cache/part-00001-of-00002.h5" <<'PY'
import os, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x40
open(p, "wb").write(b)
PY
train_ok 2 "$S/dmg.log" "$S/run.yaml" "output.dir=$S/dmg" "${shared[@]}" "model.path=$S/base2"
rebuilt "$S/dmg.log" "a damaged part" ".*part-00001-of-00002.h5: /(train|validation)/features fails its checksum"
out=$(python3 "$CK_TOOL" compare "$S/mod/metrics.jsonl" "$S/dmg/metrics.jsonl" 1e-6) ||
    fail "the rebuilt cache trains differently: $out"
say "damaged part rebuilt: the same losses as before the damage ($out)"
# someone else's file in the cache directory: not removed, the run says so
echo notes >"$cache/notes.txt"
train 2 "$S/foreign.log" "$S/run.yaml" "output.dir=$S/foreign" "${shared[@]}"
expect_rc 1 "$S/foreign.log" "a rebuild over a directory with a foreign file"
expect_grep "$cache: holds notes.txt, not a feature cache file: not removed" "$S/foreign.log" \
    "the refusal names the file"
[ -f "$cache/notes.txt" ] && [ -f "$cache/part-00000-of-00002.h5" ] ||
    fail "the foreign file or the cache was removed"
# a corpus without validation examples is refused before any feature is computed
"$R" prep --tokenizer "$S/base1" --out "$S/noval.h5" --format jsonl --label-field label \
    --val-ratio 0 --max-length 24 --quiet "$demo/packages_sections.jsonl" >"$S/prep.log" 2>&1 ||
    fail_log "$S/prep.log" "ringtune prep --val-ratio 0 failed"
train 2 "$S/noval.log" "$S/run.yaml" "output.dir=$S/noval" "data.corpus=$S/noval.h5" "${shared[@]}"
expect_rc 1 "$S/noval.log" "a classification corpus without validation examples"
expect_grep "the validation split of $S/noval.h5 holds no example: classification evaluates" \
    "$S/noval.log" "the refusal"
if grep -q "^feature cache" "$S/noval.log"; then fail "features were computed before the refusal"; fi
say "passed in $((SECONDS - CK_T0)) s"
