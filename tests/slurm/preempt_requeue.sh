#!/usr/bin/env bash
# Preemption through slurm/ringtune.sbatch on a local 2-node Slurm cluster: a 2-task job (one
# per node) gets SIGUSR1 in its batch shell (`scancel --batch --signal=USR1`, as
# `--signal=B:USR1@120` sends it before the time limit); the trap forwards it to the step,
# ringtune checkpoints and exits 75, requeue-on-preempt.sh requeues the job, the restarted job
# (SLURM_RESTART_COUNT=1) resumes from `latest` with --resume auto and finishes with the losses,
# evaluations and sample ids of an uninterrupted run bit for bit; the output file holds both
# runs (--open-mode=append). Then `scontrol requeue` of a second job: SIGTERM, checkpoint, one
# restart, the same bit-identical end.
# RT_CKPT_MODEL=t5: the same on a tiny T5 trained on pairs (data.task seq2seq;
# tests/ckpt/common.sh ck_make_data_t5) instead of the tiny GPT-2.
# usage: preempt_requeue.sh RINGTUNE_BINARY SCRATCH_DIR   (exit 77: no Slurm cluster, skipped)
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
CK_MODEL=${RT_CKPT_MODEL:-gpt2}
if [ "$CK_MODEL" = gpt2 ]; then sl_init slurm_preempt "$@"; else sl_init "slurm_preempt_$CK_MODEL" "$@"; fi
ck_make_data

MAX_STEPS=40
OVR=("train.max_steps=$MAX_STEPS" checkpoint.every_steps=0 eval.every_steps=10)

say "== reference: mpirun -n 2, $MAX_STEPS steps uninterrupted"
train_ok 2 "$S/ref.log" "$S/run.yaml" "output.dir=$S/ref" "${OVR[@]}"

say "== sbatch -N 2 -n 2 ringtune.sbatch, then USR1 to the batch shell"
OUT=$S/job
LOG=$S/job.out
sl_sbatch "$LOG" -J rt-preempt -N 2 -n 2 --ntasks-per-node=1 -- \
    "$S/run.yaml" "output.dir=$OUT" "${OVR[@]}"
T0=$SECONDS
sl_wait_steps "$JOB" "$OUT" 3
say "$(steps_logged "$OUT") steps logged after $((SECONDS - T0)) s: scancel --batch --signal=USR1 $JOB"
timeout 10 scancel --batch --signal=USR1 "$JOB" || fail "scancel --batch --signal=USR1 $JOB failed"
sl_wait_done "$JOB"
say "job finished $((SECONDS - T0)) s after submission (includes Slurm's requeue delay)"

[ "$(sl_state "$JOB")" = COMPLETED ] || fail_log "$LOG" "job $JOB ended $(sl_state "$JOB"), expected COMPLETED"
[ "$(sl_field "$JOB" Restarts)" = 1 ] || fail_log "$LOG" "job $JOB restarted $(sl_field "$JOB" Restarts) times, expected 1"
[ "$(sl_field "$JOB" ExitCode)" = 0:0 ] || fail_log "$LOG" "job $JOB exit code $(sl_field "$JOB" ExitCode), expected 0:0"
expect_grep 'batch shell got SIGUSR1: forwarding it to the job step' "$LOG" "trap"
line=$(grep -E -m1 "received .*: checkpointing at step [0-9]+" "$LOG") ||
    fail_log "$LOG" "no 'signal received: checkpointing' line"
SIG_STEP=$(sed -E 's/.*checkpointing at step ([0-9]+).*/\1/' <<<"$line")
say "first run: $line"
[ "$SIG_STEP" -lt "$MAX_STEPS" ] || fail "checkpointed at step $SIG_STEP, not before the end"
STEP_NAME=$(printf 'step-%08d' "$SIG_STEP")
expect_grep "saved .*$STEP_NAME \(signal" "$LOG" "signal checkpoint"
expect_grep 'ringtune train exited 75$' "$LOG" "first run"
expect_grep "requeue-on-preempt: checkpointed for preemption \(exit 75\): scontrol requeue $JOB" "$LOG" "requeue"
expect_grep "^ringtune train: slurm job $JOB, restart 1, " "$LOG" "restarted job"
expect_grep "resumed from .*$STEP_NAME: step $SIG_STEP" "$LOG" "resume"
expect_grep 'requeue-on-preempt: ringtune finished \(exit 0\): not requeued' "$LOG" "second run"
n=$(grep -c '^ringtune train: slurm job' "$LOG" || true)
[ "$n" = 2 ] || fail_log "$LOG" "$n runs in $LOG, expected 2 (append mode keeps both)"
expect_latest "$OUT" "$(printf 'step-%08d' "$MAX_STEPS")"
expect_same_metrics "$S/ref/metrics.jsonl" "$OUT/metrics.jsonl"

say "== scontrol requeue (SIGTERM to the job) on a second job"
OUT2=$S/job2
LOG2=$S/job2.out
sl_sbatch "$LOG2" -J rt-requeue -N 2 -n 2 --ntasks-per-node=1 -- \
    "$S/run.yaml" "output.dir=$OUT2" "${OVR[@]}"
T0=$SECONDS
sl_wait_steps "$JOB" "$OUT2" 3
say "$(steps_logged "$OUT2") steps logged: scontrol requeue $JOB"
timeout 10 scontrol requeue "$JOB" || fail "scontrol requeue $JOB failed"
sl_wait_done "$JOB"
say "job finished $((SECONDS - T0)) s after submission"
[ "$(sl_state "$JOB")" = COMPLETED ] || fail_log "$LOG2" "job $JOB ended $(sl_state "$JOB"), expected COMPLETED"
[ "$(sl_field "$JOB" Restarts)" = 1 ] || fail_log "$LOG2" "job $JOB restarted $(sl_field "$JOB" Restarts) times, expected 1"
line=$(grep -E -m1 "received .*: checkpointing at step [0-9]+" "$LOG2") ||
    fail_log "$LOG2" "no 'signal received: checkpointing' line after SIGTERM"
SIG_STEP=$(sed -E 's/.*checkpointing at step ([0-9]+).*/\1/' <<<"$line")
say "first run: $line"
expect_grep "resumed from .*$(printf 'step-%08d' "$SIG_STEP"): step $SIG_STEP" "$LOG2" "resume"
expect_same_metrics "$S/ref/metrics.jsonl" "$OUT2/metrics.jsonl"
