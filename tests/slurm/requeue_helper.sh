#!/usr/bin/env bash
# slurm/requeue-on-preempt.sh without a cluster (RINGTUNE_REQUEUE_CMD stands in for scontrol):
# 0 -> done, no requeue; 75 -> requeue JOB; 75 at the restart limit, without a job id or with a
# refused requeue -> 75, no requeue; other codes -> that code, no requeue.
set -u
H=$(cd "$(dirname "$0")/../../slurm" && pwd)/requeue-on-preempt.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
# check WANT_RC WANT_REQUEUED(0/1) RC [VAR=value ...]
check() {
    local want=$1 wantq=$2 rc=$3 got
    shift 3
    rm -f "$T/requeued"
    env -u SLURM_JOB_ID -u SLURM_RESTART_COUNT "$@" RINGTUNE_REQUEUE_CMD="${CMD:-$T/fake}" \
        "$H" "$rc" 2>"$T/err"
    got=$?
    local q=0
    [ -f "$T/requeued" ] && q=1
    if [ "$got" = "$want" ] && [ "$q" = "$wantq" ]; then
        echo "ok: exit $rc $* -> $got, requeued=$q: $(cat "$T/err")"
    else
        echo "FAIL: exit $rc $* -> $got (want $want), requeued=$q (want $wantq): $(cat "$T/err")"
        fails=1
    fi
}
printf '#!/bin/sh\necho "$1" >%s/requeued\n' "$T" >"$T/fake"
printf '#!/bin/sh\nexit 1\n' >"$T/refuse"
chmod +x "$T/fake" "$T/refuse"
check 0 0 0 SLURM_JOB_ID=7
check 0 1 75 SLURM_JOB_ID=7
check 0 1 75 SLURM_JOB_ID=7 SLURM_RESTART_COUNT=3
check 75 0 75 SLURM_JOB_ID=7 SLURM_RESTART_COUNT=3 RINGTUNE_MAX_REQUEUES=3
check 75 0 75
CMD=$T/refuse check 75 0 75 SLURM_JOB_ID=7
check 1 0 1 SLURM_JOB_ID=7
check 137 0 137 SLURM_JOB_ID=7
exit $fails
