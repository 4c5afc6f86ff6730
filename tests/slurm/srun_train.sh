#!/usr/bin/env bash
# `srun --mpi=pmix ringtune train` on a local 2-node Slurm cluster (one rank per emulated node,
# Open MPI over TCP) gives the losses, evaluations and sample ids of `mpirun -n 2` bit for bit,
# and rank 0 names the Slurm job, its restart count and nodes.
# usage: srun_train.sh RINGTUNE_BINARY SCRATCH_DIR   (exit 77: no Slurm cluster here, skipped)
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
sl_init slurm_srun "$@"
ck_make_data

say "== reference: mpirun -n 2"
train_ok 2 "$S/ref.log" "$S/run.yaml" "output.dir=$S/ref"

say "== srun -N 2 -n 2 --mpi=pmix"
RC=0
timeout -k 10 "$SL_TIMEOUT" srun -I30 -J rt-srun -N 2 -n 2 --ntasks-per-node=1 --mpi=pmix \
    "$R" train "$S/run.yaml" "output.dir=$S/srun" >"$S/srun.log" 2>&1 || RC=$?
expect_rc 0 "$S/srun.log" "srun ringtune train"
expect_grep '^ringtune train: slurm job [0-9]+, restart 0, nodes: c\[1-2\]$' "$S/srun.log" "slurm line"
n=$(grep -c '^ringtune train: slurm job' "$S/srun.log" || true)
[ "$n" = 1 ] || fail "the slurm line was printed $n times, expected once (rank 0)"
expect_same_metrics "$S/ref/metrics.jsonl" "$S/srun/metrics.jsonl"
expect_latest "$S/srun" "$(latest_of "$S/ref")"
