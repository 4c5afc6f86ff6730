#!/usr/bin/env bash
# `ringtune train --resume` through the CLI: what may and may not change on resume, and the
# empty-directory cases of `latest` and `auto`.
#   - data.seq_len changed: refused (exit 1), the message names data.seq_len; nothing changes
#   - optim.lr changed (resuming a step-N directory by path): runs (exit 0) with a warning naming
#     optim.lr, and the new rate is the one used
#   - --resume latest where output.dir is missing or empty: exit 1, the message names `latest`
#   - --resume auto where output.dir is empty: trains fresh (exit 0), bit-identical to a plain run
#   - --resume auto where a checkpoint exists: resumes from it
#   - --resume DIR that does not exist: exit 1, the message names DIR
# usage: resume_errors.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init resume_errors "$@"
ck_make_data

NP=2
OVR=(train.max_steps=4) # saves step 2 (periodic) and step 4 (final)
out="$S/out"

# field STEP KEY FILE: KEY of the last train line of STEP in metrics FILE.
field() {
    python3 -c 'import json,sys
v=[json.loads(l)[sys.argv[2]] for l in open(sys.argv[3]) if "\"loss\"" in l and json.loads(l)["step"]==int(sys.argv[1])]
print(repr(v[-1]) if v else "none")' "$@"
}

say "== a 4-step run at $NP ranks: checkpoints at steps 2 and 4"
train_ok "$NP" "$S/base.log" "$S/run.yaml" "output.dir=$out" "${OVR[@]}"
expect_latest "$out" step-00000004
expect_complete "$out/step-00000002"
cp "$out/metrics.jsonl" "$S/metrics.before"

say "== resume with data.seq_len changed (16 -> 8): refused"
train "$NP" "$S/seq_len.log" "$S/run.yaml" "output.dir=$out" "${OVR[@]}" data.seq_len=8 \
    --resume latest
expect_rc 1 "$S/seq_len.log" "data.seq_len changed"
expect_grep "data\.seq_len" "$S/seq_len.log" "data.seq_len changed"
if grep -q "^step " "$S/seq_len.log"; then fail_log "$S/seq_len.log" "the refused resume trained"; fi
expect_latest "$out" step-00000004
cmp -s "$out/metrics.jsonl" "$S/metrics.before" || fail "the refused resume changed metrics.jsonl"
say "latest and metrics.jsonl unchanged by the refused resume"
if grep -q "seq_len: 8" "$out/config.yaml"; then
    say "note: $out/config.yaml now holds the refused configuration (data.seq_len 8)"
fi

say "== resume step-00000002 by path with optim.lr changed (1e-3 -> 2e-3): a warning"
cp -a "$out" "$S/lr"
train "$NP" "$S/lr.log" "$S/run.yaml" "output.dir=$S/lr" "${OVR[@]}" optim.lr=2.0e-3 \
    --resume "$S/lr/step-00000002"
expect_rc 0 "$S/lr.log" "optim.lr changed"
expect_grep "warning: .*optim\.lr" "$S/lr.log" "optim.lr changed"
expect_grep "resumed from .*step-00000002: step 2" "$S/lr.log" "optim.lr changed"
lr_old=$(field 3 lr "$S/metrics.before")
lr_new=$(field 3 lr "$S/lr/metrics.jsonl")
loss_old=$(field 3 loss "$S/metrics.before")
loss_new=$(field 3 loss "$S/lr/metrics.jsonl")
say "step 3: lr $lr_old -> $lr_new; loss $loss_old -> $loss_new (the weights of step 2 are the same)"
python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); sys.exit(0 if abs(b-2*a)<=1e-6*a else 1)" \
    "$lr_old" "$lr_new" || fail "step 3's learning rate $lr_new is not twice $lr_old"
[ "$loss_old" = "$loss_new" ] || fail "step 3's loss changed ($loss_old -> $loss_new): step 2 did not load"
expect_latest "$S/lr" step-00000004
rm -rf "$S/lr"

say "== --resume latest where output.dir does not exist, then where it is empty"
train "$NP" "$S/latest-missing.log" "$S/run.yaml" "output.dir=$S/none" "${OVR[@]}" --resume latest
expect_rc 1 "$S/latest-missing.log" "latest, no output.dir"
expect_grep "latest.*does not exist" "$S/latest-missing.log" "latest, no output.dir"
mkdir -p "$S/empty"
train "$NP" "$S/latest-empty.log" "$S/run.yaml" "output.dir=$S/empty" "${OVR[@]}" --resume latest
expect_rc 1 "$S/latest-empty.log" "latest, empty output.dir"
expect_grep "latest.*does not exist" "$S/latest-empty.log" "latest, empty output.dir"
if compgen -G "$S/empty/step-*" >/dev/null; then fail "the refused run left $(ls "$S/empty")"; fi

say "== --resume auto where output.dir is empty: a fresh run"
rmdir "$S/empty" 2>/dev/null || rm -rf "$S/empty"
mkdir -p "$S/auto"
train "$NP" "$S/auto.log" "$S/run.yaml" "output.dir=$S/auto" "${OVR[@]}" --resume auto
expect_rc 0 "$S/auto.log" "auto, empty output.dir"
if grep -q "resumed from" "$S/auto.log"; then fail_log "$S/auto.log" "auto resumed in an empty dir"; fi
expect_grep "validation before: loss" "$S/auto.log" "auto, empty output.dir (fresh)"
expect_latest "$S/auto" step-00000004
expect_same_metrics "$S/metrics.before" "$S/auto/metrics.jsonl"

say "== --resume auto where a checkpoint exists: resumes"
train "$NP" "$S/auto2.log" "$S/run.yaml" "output.dir=$S/auto" train.max_steps=6 --resume auto
expect_rc 0 "$S/auto2.log" "auto, with a checkpoint"
expect_grep "resumed from .*step-00000004: step 4" "$S/auto2.log" "auto, with a checkpoint"
expect_latest "$S/auto" step-00000006

say "== --resume of a directory that does not exist"
train "$NP" "$S/nodir.log" "$S/run.yaml" "output.dir=$out" "${OVR[@]}" --resume "$S/no/step-00000002"
expect_rc 1 "$S/nodir.log" "missing checkpoint directory"
expect_grep "$S/no/step-00000002" "$S/nodir.log" "missing checkpoint directory"
say "resume errors: all cases behave"
