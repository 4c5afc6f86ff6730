#!/usr/bin/env bash
# The requeue decision of a Slurm batch script, from the exit code of `ringtune train` (or of the
# srun that ran it):
#   0   finished                          -> exit 0, no requeue
#   75  checkpointed after SIGUSR1/SIGTERM -> `scontrol requeue $SLURM_JOB_ID`; with --resume auto
#       (preempted)                          the requeued job continues from output.dir/latest
#   any other                             -> failed: no requeue, exit with that code
# usage (in a batch script):  srun ... ringtune train run.yaml --resume auto; \
#                             exec requeue-on-preempt.sh $?
# Environment:
#   RINGTUNE_MAX_REQUEUES   give up (exit 75) once SLURM_RESTART_COUNT reaches it (default 50)
#   RINGTUNE_REQUEUE_CMD    the command run with the job id (default: scontrol requeue)
# Exit status: 0 finished or requeued (Slurm then restarts the job), 75 when the requeue was
# refused or the limit reached, else the run's code.
set -u
rc=${1:?usage: requeue-on-preempt.sh EXIT_CODE}
job=${SLURM_JOB_ID:-}
restarts=${SLURM_RESTART_COUNT:-0}
max=${RINGTUNE_MAX_REQUEUES:-50}
say() { printf 'requeue-on-preempt: %s\n' "$*" >&2; }
case "$rc" in
0)
    say "ringtune finished (exit 0): not requeued"
    exit 0
    ;;
75)
    if [ -z "$job" ]; then
        say "checkpointed for preemption (exit 75), but SLURM_JOB_ID is not set: cannot requeue"
        exit 75
    fi
    if [ "$restarts" -ge "$max" ]; then
        say "checkpointed (exit 75); job $job already restarted $restarts times (limit $max): not requeued"
        exit 75
    fi
    read -r -a cmd <<<"${RINGTUNE_REQUEUE_CMD:-scontrol requeue}"
    say "checkpointed for preemption (exit 75): ${cmd[*]} $job (restart $((restarts + 1)))"
    if "${cmd[@]}" "$job"; then exit 0; fi
    say "'${cmd[*]} $job' failed (is the job requeueable? sbatch --requeue): not requeued"
    exit 75
    ;;
*)
    say "ringtune failed (exit $rc): not requeued"
    exit "$rc"
    ;;
esac
