#!/usr/bin/env bash
# Preemption: SIGUSR1 (or SIGTERM) to any one rank makes every rank checkpoint at the next step
# boundary and exit 75 (dist/train.c: the signal count rides on the step's all-reduce).
#   A. SIGUSR1 to rank 1 only (not rank 0, not mpirun): exit 75, `latest` names the signal
#      checkpoint, and `--resume latest` finishes with the losses and sample ids of an
#      uninterrupted run bit for bit.
#   B. SIGUSR1 to mpirun (which forwards it), then SIGTERM twice to rank 0 while the checkpoint
#      is being written: the extra signals are absorbed, exit 75, and `latest` resumes to the
#      same bit-identical end.
#   C. SIGINT to rank 0 only: exit 75, `latest` names the signal checkpoint, the lock released.
# usage: signals.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init signals "$@"
ck_make_data

NP=2
MAX_STEPS=40
# long enough to be interrupted; checkpoints only on signals and at the end
OVR=("train.max_steps=$MAX_STEPS" checkpoint.every_steps=0 eval.every_steps=10)

# check_signal_checkpoint OUT LOG WHAT: the run stopped with a signal checkpoint at step N < max,
# `latest` names it, metrics end at N; sets SIG_STEP.
check_signal_checkpoint() {
    local out=$1 log=$2 what=$3 line
    expect_rc 75 "$log" "$what"
    line=$(grep -E -m1 "received .*: checkpointing at step [0-9]+" "$log") ||
        fail_log "$log" "$what: no 'signal received: checkpointing' line"
    SIG_STEP=$(sed -E 's/.*checkpointing at step ([0-9]+).*/\1/' <<<"$line")
    say "$what: $line"
    [ "$SIG_STEP" -lt "$MAX_STEPS" ] || fail "$what: checkpointed at step $SIG_STEP, not before the end"
    expect_grep "saved .*$(printf 'step-%08d' "$SIG_STEP") \(signal" "$log" "$what"
    expect_latest "$out" "$(printf 'step-%08d' "$SIG_STEP")"
    expect_no_leftovers "$out"
    local last
    last=$(steps_logged "$out")
    [ "$last" = "$SIG_STEP" ] || fail "$what: metrics hold $last steps, the checkpoint is at $SIG_STEP"
    [ ! -e "$out/final" ] || fail "$what: the interrupted run exported $out/final"
}

# resume_to_end OUT WHAT: --resume latest finishes (exit 0) and equals the reference.
resume_to_end() {
    local out=$1 log="$1-resume.log"
    train_ok "$NP" "$log" "$S/run.yaml" "output.dir=$out" "${OVR[@]}" --resume latest
    expect_grep "resumed from .*$(printf 'step-%08d' "$SIG_STEP"): step $SIG_STEP" "$log" "$2 resume"
    expect_latest "$out" "$(printf 'step-%08d' "$MAX_STEPS")"
    expect_same_metrics "$S/ref/metrics.jsonl" "$out/metrics.jsonl"
}

say "== reference: $MAX_STEPS steps at $NP ranks, uninterrupted"
train_ok "$NP" "$S/ref.log" "$S/run.yaml" "output.dir=$S/ref" "${OVR[@]}"
say "reference: $(steps_logged "$S/ref") steps, saves: $(step_dirs "$S/ref")"

say "== A: SIGUSR1 to rank 1 only"
train_bg "$NP" "$S/a.log" "$S/run.yaml" "output.dir=$S/a" "${OVR[@]}"
wait_steps "$S/a" 3
pid=$(pid_of_rank "output.dir=$S/a " 1)
say "A: $(steps_logged "$S/a") steps logged; kill -USR1 $pid (rank 1)"
kill -USR1 "$pid"
wait_bg
check_signal_checkpoint "$S/a" "$S/a.log" A
resume_to_end "$S/a" A

say "== B: SIGUSR1 to mpirun, then SIGTERM twice to rank 0 during the save"
train_bg "$NP" "$S/b.log" "$S/run.yaml" "output.dir=$S/b" "${OVR[@]}"
wait_steps "$S/b" 3
rank0=$(pid_of_rank "output.dir=$S/b " 0)
mpirun_pid=$(pgrep -P "$BG_PID" | head -1)
[ -n "$mpirun_pid" ] || fail "B: mpirun (child of $BG_PID) not found"
say "B: $(steps_logged "$S/b") steps logged; kill -USR1 $mpirun_pid (mpirun)"
kill -USR1 "$mpirun_pid"
# busy-wait (builtins only) for the save's step-N.tmp directory, then SIGTERM twice
deadline=$((SECONDS + 20))
during=0
while kill -0 "$rank0" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    if compgen -G "$S/b/step-*.tmp" >/dev/null; then
        during=1
        break
    fi
done
kill -TERM "$rank0" 2>/dev/null || true
kill -TERM "$rank0" 2>/dev/null || true
if [ "$during" = 1 ]; then
    say "B: sent SIGTERM twice to rank 0 ($rank0) while $(compgen -G "$S/b/step-*.tmp" || echo 'the .tmp') existed"
else
    say "B: note: the save was not caught in progress; SIGTERM twice sent after it"
fi
wait_bg
if [ "$during" = 1 ] || [ "$RC" = 75 ]; then
    check_signal_checkpoint "$S/b" "$S/b.log" B
else
    # the SIGTERMs came after the run restored the default handlers: the run may have died of
    # them, but the committed checkpoint must be intact
    say "B: exit code $RC (SIGTERM after the save)"
    line=$(grep -E -m1 "received .*: checkpointing at step [0-9]+" "$S/b.log") ||
        fail_log "$S/b.log" "B: no 'signal received: checkpointing' line"
    SIG_STEP=$(sed -E 's/.*checkpointing at step ([0-9]+).*/\1/' <<<"$line")
    expect_latest "$S/b" "$(printf 'step-%08d' "$SIG_STEP")"
fi
grep -q "SIGUSR1 received" "$S/b.log" || fail_log "$S/b.log" "B: the first signal seen was not SIGUSR1 (10)"
resume_to_end "$S/b" B
say "== C: SIGINT to rank 0 only (Ctrl-C to a rank, e.g. of a run without mpirun)"
train_bg "$NP" "$S/c.log" "$S/run.yaml" "output.dir=$S/c" "${OVR[@]}"
wait_steps "$S/c" 3
pid=$(pid_of_rank "output.dir=$S/c " 0)
say "C: $(steps_logged "$S/c") steps logged; kill -INT $pid (rank 0)"
kill -INT "$pid"
wait_bg
check_signal_checkpoint "$S/c" "$S/c.log" C
grep -q "SIGINT received on rank 0" "$S/c.log" || fail_log "$S/c.log" "C: no 'SIGINT received on rank 0'"
[ ! -e "$S/c/.lock" ] || fail "C: the run left its lock $S/c/.lock"
# (resuming it is the same path as A and B: not repeated, to keep this test's time down)
say "signals: checkpoints at steps taken by signal resumed bit-identically"
