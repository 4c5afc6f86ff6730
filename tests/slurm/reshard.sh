#!/usr/bin/env bash
# A preempted job continues at another size, through slurm/ringtune.sbatch on a local 2-node
# Slurm cluster: a 3-task job (2 nodes) gets SIGUSR1 in its job step (`scancel --signal=USR1`),
# checkpoints and exits 75; with RINGTUNE_MAX_REQUEUES=0 it is not requeued and ends FAILED with
# exit code 75. A 2-task job on the same output directory (--resume auto) resumes the 3-shard
# checkpoint and finishes: the same samples as an uninterrupted 2-rank run, losses within 1e-8.
# usage: reshard.sh RINGTUNE_BINARY SCRATCH_DIR   (exit 77: no Slurm cluster here, skipped)
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
sl_init slurm_reshard "$@"
ck_make_data

MAX_STEPS=40
OVR=("train.max_steps=$MAX_STEPS" checkpoint.every_steps=0 eval.every_steps=10)
OUT=$S/job

say "== reference: mpirun -n 2, $MAX_STEPS steps uninterrupted"
train_ok 2 "$S/ref.log" "$S/run.yaml" "output.dir=$S/ref" "${OVR[@]}"

say "== job 1: 3 tasks on 2 nodes, then USR1 to its step; not requeued"
RINGTUNE_MAX_REQUEUES=0 sl_sbatch "$S/job1.out" -J rt-reshard3 -N 2 -n 3 -- \
    "$S/run.yaml" "output.dir=$OUT" "${OVR[@]}"
J1=$JOB
sl_wait_steps "$J1" "$OUT" 3
say "$(steps_logged "$OUT") steps logged: scancel --signal=USR1 $J1"
timeout 10 scancel --signal=USR1 "$J1" || fail "scancel --signal=USR1 $J1 failed"
sl_wait_done "$J1"
[ "$(sl_state "$J1")" = FAILED ] || fail_log "$S/job1.out" "job $J1 ended $(sl_state "$J1"), expected FAILED"
[ "$(sl_field "$J1" ExitCode)" = 75:0 ] || fail_log "$S/job1.out" "job $J1 exit code $(sl_field "$J1" ExitCode), expected 75:0"
[ "$(sl_field "$J1" Restarts)" = 0 ] || fail_log "$S/job1.out" "job $J1 was requeued"
expect_grep 'ringtune train: 3 ranks' "$S/job1.out" "job 1"
line=$(grep -E -m1 "received .*: checkpointing at step [0-9]+" "$S/job1.out") ||
    fail_log "$S/job1.out" "no 'signal received: checkpointing' line"
SIG_STEP=$(sed -E 's/.*checkpointing at step ([0-9]+).*/\1/' <<<"$line")
say "job 1: $line"
[ "$SIG_STEP" -lt "$MAX_STEPS" ] || fail "checkpointed at step $SIG_STEP, not before the end"
STEP_NAME=$(printf 'step-%08d' "$SIG_STEP")
expect_latest "$OUT" "$STEP_NAME"
expect_grep 'limit 0\): not requeued' "$S/job1.out" "job 1 requeue decision"

say "== job 2: 2 tasks resume it"
sl_sbatch "$S/job2.out" -J rt-reshard2 -N 2 -n 2 --ntasks-per-node=1 -- \
    "$S/run.yaml" "output.dir=$OUT" "${OVR[@]}"
J2=$JOB
sl_wait_done "$J2"
[ "$(sl_state "$J2")" = COMPLETED ] || fail_log "$S/job2.out" "job $J2 ended $(sl_state "$J2"), expected COMPLETED"
expect_grep "resumed from .*$STEP_NAME: step $SIG_STEP, 3 shards written by 3 ranks, now 2 ranks" \
    "$S/job2.out" "job 2"
expect_latest "$OUT" "$(printf 'step-%08d' "$MAX_STEPS")"
out=$(python3 "$SL_HERE/close_metrics.py" "$S/ref/metrics.jsonl" "$OUT/metrics.jsonl" 1e-8) ||
    fail "$out"
say "$out"
