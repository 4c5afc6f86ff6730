#!/usr/bin/env bash
# A sweep through slurm/ringtune-sweep.sbatch on a local 2-node Slurm cluster: a 2-task job (one
# per node, a trial per task) gets SIGUSR1 in its batch shell once a trial has finished; the trap
# forwards it to the step, the running trials checkpoint, the sweep exits 75, the job is requeued
# and the restarted job runs the same command: it skips the finished trials, resumes the
# interrupted ones, and ends with the table of an uninterrupted mpirun sweep bit for bit.
# usage: sweep_preempt.sh RINGTUNE_BINARY SCRATCH_DIR   (exit 77: no Slurm cluster, skipped)
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
# shellcheck source=../sweep/common.sh
source "$(dirname "$0")/../sweep/common.sh"
sl_init slurm_sweep_preempt "$@"
sw_make_data
cat >"$S/sweep.yaml" <<YAML
base_config: run.yaml
method: random
trials: 4
seed: 11
space:
  optim.lr: {log_uniform: [1.0e-3, 3.0e-2]}
budget: {policy: fixed, steps: 16}
YAML
say "== reference: mpirun -n 2, uninterrupted"
sweep_ok 2 "$S/ref.log" "$S/sweep.yaml" --out "$S/ref"

say "== sbatch -N 2 -n 2 ringtune-sweep.sbatch, then USR1 to the batch shell"
LOG=$S/job.out
SL_TEMPLATE=ringtune-sweep.sbatch sl_sbatch "$LOG" -J rt-sweep -N 2 -n 2 --ntasks-per-node=1 -- \
    "$S/sweep.yaml" 1 "$S/job"
deadline=$((SECONDS + SL_TIMEOUT))
until [ "$(results_done "$S/job")" -ge 1 ] && python3 "$SW_TOOL" running-steps "$S/job" 3 >/dev/null; do
    [ $SECONDS -lt $deadline ] || fail "job $JOB: no finished trial and running one after $SL_TIMEOUT s"
    case "$(sl_state "$JOB")" in PENDING | CONFIGURING | RUNNING | "") ;; *) fail_log "$LOG" "job $JOB ended early" ;; esac
    sleep 0.1
done
timeout 10 scancel --batch --signal=USR1 "$JOB" || fail "scancel --batch --signal=USR1 $JOB failed"
sl_wait_done "$JOB"
[ "$(sl_state "$JOB")" = COMPLETED ] || fail_log "$LOG" "job $JOB ended $(sl_state "$JOB"), expected COMPLETED"
[ "$(sl_field "$JOB" Restarts)" = 1 ] || fail_log "$LOG" "job $JOB restarted $(sl_field "$JOB" Restarts) times, expected 1"
expect_grep 'batch shell got SIGUSR1: forwarding it to the job step' "$LOG" "trap"
expect_grep 'ringtune sweep exited 75$' "$LOG" "the first run"
expect_grep "requeue-on-preempt: checkpointed for preemption \(exit 75\): scontrol requeue $JOB" "$LOG" "requeue"
expect_grep "resuming: [0-9]+ job results read back" "$LOG" "the restarted job"
expect_grep 'ringtune sweep exited 0$' "$LOG" "the second run"
grep -q '"status": "interrupted"' "$S/job/sweep_state.jsonl" || fail "no trial was interrupted"
expect_same_results "$S/ref" "$S/job" 0
