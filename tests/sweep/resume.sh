#!/usr/bin/env bash
# A sweep stopped by a signal resumes with the same command: finished trials are not run again,
# interrupted ones continue from their checkpoints, and the table equals an uninterrupted
# sweep's:
#  1. SIGTERM to ringtune-mpirun mid-sweep (2 ranks, 1 per trial): exit 75 after the running
#     trials checkpointed; the rerun's table equals the uninterrupted one's bit for bit;
#  2. SIGTERM to one rank of a 4-rank sweep of 2-rank trials: every group's running trial
#     checkpoints (the coordinator stops the others); resumed at 2 ranks of 1 per trial, the
#     table agrees within 1e-5 (trials resumed at another rank count).
# Usage: resume.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
ck_init sweep_resume "$@"
sw_make_data
STEPS=16
[ "${RT_SANITIZED:-0}" = 1 ] && STEPS=8 # 4 times slower there: shorter trials, the same checks
cat >"$S/sweep.yaml" <<YAML
base_config: run.yaml
method: random
trials: 4
seed: 11
space:
  optim.lr: {log_uniform: [1.0e-3, 3.0e-2]}
  optim.weight_decay: {choice: [0.0, 0.1]}
budget: {policy: fixed, steps: $STEPS}
YAML
sweep_ok 2 "$S/ref.log" "$S/sweep.yaml" --out "$S/ref"
say "uninterrupted sweep: $SW_SECONDS s"

# 1. SIGTERM to the launcher once two trials finished and a third one is under way
sweep_bg 2 "$S/int.log" "$S/sweep.yaml" --out "$S/int"
wait_results "$S/int" 2
wait_running_steps "$S/int" 3
kill -TERM "$BG_PID"
wait_bg
expect_rc 75 "$S/int.log" "SIGTERM to ringtune-mpirun"
python3 "$SW_TOOL" records "$S/int" >"$S/int.records"
grep -q " interrupted " "$S/int.records" || fail "no interrupted trial in $S/int/sweep_state.jsonl"
finished=$(awk '$3 == "ok" {print $1}' "$S/int.records")
interrupted=$(awk '$3 == "interrupted" {print $1}' "$S/int.records")
say "before the signal: trials $(echo $finished) finished, $(echo $interrupted) interrupted"
sweep_ok 2 "$S/int2.log" "$S/sweep.yaml" --out "$S/int"
expect_grep "resuming: [0-9]+ job results read back" "$S/int2.log" "the rerun"
for t in $finished; do
    d=$(printf '%s/int/trial-%03d' "$S" "$t")
    n=$(grep -c '^== ringtune sweep' "$d/train.log")
    [ "$n" = 1 ] || fail "finished trial $t ran $n times"
done
for t in $interrupted; do
    d=$(printf '%s/int/trial-%03d' "$S" "$t")
    grep -q "resumed from $d/step-" "$d/train.log" || fail_log "$d/train.log" "trial $t did not resume"
done
say "finished trials not run again; interrupted ones resumed from their checkpoints"
expect_same_results "$S/ref" "$S/int" 0

# 2. SIGTERM to world rank 3 alone (group 1) while both groups train
sweep_bg 4 "$S/one.log" "$S/sweep.yaml" --ranks-per-trial 2 --out "$S/one"
wait_running_steps "$S/one" 2
sleep 0.3
kill -TERM "$(pid_of_rank "$S/sweep.yaml --ranks-per-trial 2 --out $S/one" 3)"
wait_bg
expect_rc 75 "$S/one.log" "SIGTERM to rank 3"
n=$(python3 "$SW_TOOL" records "$S/one" | grep -c " interrupted " || true)
[ "$n" -ge 2 ] || fail "$n trial(s) checkpointed, expected both groups' (one.log)"
say "both groups' trials checkpointed"
sweep_ok 2 "$S/one2.log" "$S/sweep.yaml" --out "$S/one"
expect_same_results "$S/ref" "$S/one" 1e-5
