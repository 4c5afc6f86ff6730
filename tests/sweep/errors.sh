#!/usr/bin/env bash
# What would fail every trial stops the sweep with a message naming the file, the key and what
# was expected, before any trial runs (no trial directory is made): an invalid base run config,
# a missing corpus, a space key that is not a run-config key, a rank count that
# --ranks-per-trial does not divide, a malformed sweep file, another sweep's out dir; a metric the trainer does not report stops it after the first trial. Usage errors exit 2;
# a sweep whose every trial fails exits 1.
# Usage: errors.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
ck_init sweep_errors "$@"
sw_make_data

# expect_error NAME RC REGEX NP ARGS...: `ringtune sweep ARGS...` on NP ranks exits RC with REGEX
# in its output, and made no trial directory.
expect_error() {
    local name=$1 want=$2 re=$3 np=$4
    shift 4
    sweep "$np" "$S/$name.log" "$@"
    expect_rc "$want" "$S/$name.log" "$name"
    expect_grep "$re" "$S/$name.log" "$name"
    if [ -d "$S/$name.out" ] && find "$S/$name.out" -maxdepth 1 -name 'trial-*' | grep -q .; then
        fail "$name: a trial ran in $S/$name.out"
    fi
}

# sweep_file NAME TEXT: $S/NAME.yaml with base_config run.yaml and TEXT
sweep_file() {
    printf 'base_config: run.yaml\n%s\n' "$2" >"$S/$1.yaml"
}

sweep_file base_bad "base: {optim: {lr: 5}}
space: {optim.weight_decay: [0.0, 0.1]}"
expect_error base_bad 1 "base_bad.yaml: the base run config .* is invalid \(.*base_bad.yaml:2, under base:\): .*'optim.lr'.*expected a number > 0 and <= 1" 1 \
    "$S/base_bad.yaml" --out "$S/base_bad.out"
[ ! -e "$S/base_bad.out" ] || fail "the invalid sweep made its out dir"

sweep_file corpus "base: {data: {corpus: $S/missing.h5}}
space: {optim.lr: [1.0e-3]}"
expect_error corpus 1 "data.corpus of the base run config: .*missing.h5" 2 "$S/corpus.yaml" \
    --out "$S/corpus.out"

sweep_file key "space:
  optim.lr: [1.0e-3]
  optim.weight_dacay: [0.1]"
expect_error key 1 "key.yaml:4: space key 'optim.weight_dacay' is not a run-config key" 1 \
    "$S/key.yaml" --out "$S/key.out"

sweep_file space_bad "method: random
trials: 2
space: {optim.lr: {log_uniform: [0.0, 1.0e-2]}}"
expect_error space_bad 1 "space_bad.yaml:4: 'optim.lr': log_uniform: low 0 must be > 0" 1 \
    "$S/space_bad.yaml" --out "$S/space_bad.out"

sweep_file ok "space: {optim.lr: [1.0e-3]}
budget: {policy: fixed, steps: 2}"
expect_error divide 1 "--ranks-per-trial 2: expected a number that divides the 3 ranks" 3 \
    "$S/ok.yaml" --ranks-per-trial 2 --out "$S/divide.out"

printf 'base_config: run.yaml\nspace: {optim.lr: [1e-3}\n' >"$S/malformed.yaml"
expect_error malformed 1 "malformed YAML in .*malformed.yaml:2" 1 "$S/malformed.yaml" \
    --out "$S/malformed.out"

expect_error usage 2 "usage: ringtune sweep SWEEP.yaml" 1
expect_error usage_k 2 "--ranks-per-trial '0': expected an integer >= 1" 1 "$S/ok.yaml" \
    --ranks-per-trial 0

# a metric no evaluation reports: the first trial shows it, the sweep stops
sweep_file metric "metric: val_bleu
direction: maximize
method: grid
space: {optim.lr: [1.0e-3, 2.0e-3, 3.0e-3]}
budget: {policy: fixed, steps: 2}"
sweep 1 "$S/metric.log" "$S/metric.yaml" --out "$S/metric.out"
expect_rc 1 "$S/metric.log" "metric"
expect_grep "the sweep's metric 'val_bleu' is in no evaluation of .* \(they report: val_loss, val_ppl\)" \
    "$S/metric.log" "metric"
n=$(find "$S/metric.out" -maxdepth 1 -name 'trial-*' | wc -l)
[ "$n" = 1 ] || fail "metric: $n trials ran, expected the first alone"

# the out dir of another sweep; then a sweep whose every trial fails
sweep_ok 1 "$S/first.log" "$S/ok.yaml" --out "$S/shared.out"
sweep_file other "space: {optim.lr: [2.0e-3]}
budget: {policy: fixed, steps: 2}"
expect_error other 1 "shared.out/sweep_state.jsonl was written by another sweep" 1 \
    "$S/other.yaml" --out "$S/shared.out"
sweep_file allfail "space: {optim.lr: [-1.0, 2.0]}"
expect_error allfail 1 "no trial finished \(2 failed, 0 pruned\)" 1 "$S/allfail.yaml" \
    --out "$S/allfail.out"

