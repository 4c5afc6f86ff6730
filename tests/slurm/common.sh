# shellcheck shell=bash
# Shared helpers of the Slurm end-to-end tests (sourced by tests/slurm/*.sh), on top of the
# checkpoint tests' helpers (tests/ckpt/common.sh: tiny model and corpus, mpirun references,
# metrics comparison). Every script is run as: SCRIPT RINGTUNE_BINARY SCRATCH_DIR. It starts a
# throw-away 2-node Slurm cluster (slurm/local-cluster-up.sh) in a fresh directory under /tmp,
# and stops it (by pid, slurm/local-cluster-down.sh) on exit. When the cluster cannot start
# here (not root, Slurm or munge not installed, daemons failing) the script exits 77, which
# ctest reports as skipped, after saying why. Every srun/sbatch/squeue wait is bounded.
#
# Environment: RT_MPIEXEC, RT_MPIEXEC_PREFLAGS, RT_CKPT_TIMEOUT as for tests/ckpt/common.sh;
#   RT_SLURM_TIMEOUT   seconds one Slurm job may take before the test gives up (120)

SL_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SL_SLURM=$(cd "$SL_HERE/../../slurm" && pwd)
# shellcheck source=../ckpt/common.sh
source "$SL_HERE/../ckpt/common.sh"
SL_SKIP=77
SL_DIR=""

sl_down() {
    [ -n "$SL_DIR" ] || return 0
    [ -d "$S" ] || mkdir -p "$S"
    "$SL_SLURM/local-cluster-down.sh" "$SL_DIR" >"$S/cluster-down.log" 2>&1 || true
    say "$(tail -1 "$S/cluster-down.log")"
    # the cluster's own logs stay in the scratch folder
    cp -r "$SL_DIR/log" "$S/cluster-log" 2>/dev/null || true
    rm -rf "$SL_DIR"
    SL_DIR=""
}

skip() {
    trap - EXIT
    sl_down
    printf '[%s] SKIP: %s\n' "$CK_NAME" "$*"
    exit "$SL_SKIP"
}

# sl_reap_stale: stops the clusters of earlier runs that died without stopping theirs (a test
# killed by ctest's timeout leaves slurmctld, slurmd and munged running): those whose owner file
# names a process that no longer exists.
sl_reap_stale() {
    local d owner
    for d in /tmp/rt-slurm.*; do
        [ -f "$d/owner" ] || continue
        owner=$(cat "$d/owner")
        [ -n "$owner" ] && [ "$(proc_start "${owner%% *}")" = "$owner" ] && continue
        "$SL_SLURM/local-cluster-down.sh" "$d" >/dev/null 2>&1 || true
        rm -rf "$d"
        say "stopped the cluster a dead run left in $d"
    done
}

# sl_init NAME "$@": ck_init, then starts the cluster (2 nodes x 4 CPUs) and exports SLURM_CONF
# and the Open MPI settings emulated nodes on one host need.
sl_init() {
    ck_init "$@"
    CK_CLEANUP_HOOK=sl_down
    SL_TIMEOUT=${RT_SLURM_TIMEOUT:-120}
    PATH=$PATH:/usr/sbin:/sbin
    local c
    for c in srun sbatch squeue scancel scontrol slurmctld slurmd munged; do
        command -v "$c" >/dev/null || skip "$c is not installed (Debian: apt-get install slurm-wlm munge; setup.sh installs them)"
    done
    [ "$(id -u)" = 0 ] || skip "a local Slurm cluster needs root (slurmd)"
    sl_reap_stale
    SL_DIR=$(mktemp -d /tmp/rt-slurm.XXXXXX)
    proc_start "$$" >"$SL_DIR/owner"
    # a port range nobody listens on (other clusters may run on this machine)
    local port rc=1
    for _ in 1 2 3; do
        port=$((20000 + RANDOM % 30000))
        if command -v ss >/dev/null && ss -ltn | awk '{print $4}' | grep -qE ":($port|$((port + 1))|$((port + 2)))\$"; then
            continue
        fi
        rc=0
        NODES=2 CPUS=4 BASEPORT=$port "$SL_SLURM/local-cluster-up.sh" "$SL_DIR" >"$S/cluster-up.log" 2>&1 || rc=$?
        [ "$rc" = 0 ] && break
        # the port may have been taken meanwhile: stop what started and try another one
        "$SL_SLURM/local-cluster-down.sh" "$SL_DIR" >/dev/null 2>&1 || true
        [ "$rc" = 3 ] && break
    done
    if [ "$rc" != 0 ]; then
        cat "$S/cluster-up.log"
        tail -n 5 "$SL_DIR"/log/*.log 2>/dev/null || true
        skip "the local Slurm cluster did not start here (local-cluster-up.sh exit $rc)"
    fi
    say "$(tail -1 "$S/cluster-up.log")"
    export SLURM_CONF=$SL_DIR/etc/slurm.conf
    # emulated nodes share the host's shared memory: ranks on different ones talk over TCP
    export OMPI_MCA_btl=self,tcp
    # ...and no inherited settings of a surrounding job
    unset SLURM_JOB_ID SLURM_JOBID SLURM_RESTART_COUNT
}

# sl_state JOB: the job's state (PENDING, RUNNING, COMPLETED, FAILED, ...), empty when unknown.
sl_state() {
    timeout 10 scontrol show job -o "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'
}

# sl_field JOB KEY: one KEY=value field of `scontrol show job`.
sl_field() {
    timeout 10 scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

# sl_wait_done JOB: waits (at most SL_TIMEOUT s) until JOB has left the queue for good (its state
# is COMPLETED, FAILED, CANCELLED, ...; a requeued job passes through REQUEUED and PENDING).
sl_wait_done() {
    local deadline=$((SECONDS + SL_TIMEOUT)) st
    while :; do
        st=$(sl_state "$1")
        case "$st" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED) break ;; esac
        [ $SECONDS -lt $deadline ] || {
            timeout 10 scancel "$1" 2>/dev/null || true
            fail "job $1 still $st after ${SL_TIMEOUT}s (cancelled)"
        }
        sleep 0.3
    done
    say "job $1: $st, exit code $(sl_field "$1" ExitCode), restarts $(sl_field "$1" Restarts)"
}

# sl_wait_steps JOB OUT N: waits until OUT/metrics.jsonl holds N train steps (fails when the job
# ends first or SL_TIMEOUT s pass).
sl_wait_steps() {
    local deadline=$((SECONDS + SL_TIMEOUT)) n st
    while :; do
        n=$(grep -c '"loss"' "$2/metrics.jsonl" 2>/dev/null) || n=0
        [ "$n" -ge "$3" ] && break
        st=$(sl_state "$1")
        case "$st" in PENDING | CONFIGURING | RUNNING | "") ;; *) fail "job $1 is $st before logging $3 steps" ;; esac
        [ $SECONDS -lt $deadline ] || fail "job $1: no $3 steps logged in $2 after $SL_TIMEOUT s (state $st)"
        sleep 0.05
    done
}

# sl_sbatch OUTFILE ARGS...: submits slurm/ringtune.sbatch (or slurm/$SL_TEMPLATE: sbatch
# options, then the script's arguments after a lone --); sets JOB.
sl_sbatch() {
    local out=$1
    shift
    local opts=() a
    while [ $# -gt 0 ]; do
        a=$1
        shift
        [ "$a" = -- ] && break
        opts+=("$a")
    done
    local template=${SL_TEMPLATE:-ringtune.sbatch}
    JOB=$(RINGTUNE=$R timeout 20 sbatch --parsable -o "$out" "${opts[@]}" \
        "$SL_SLURM/$template" "$@") || fail "sbatch failed: $JOB"
    JOB=${JOB%%;*}
    say "submitted job $JOB: sbatch ${opts[*]} $template $*"
}

# steps_logged OUT: how many train steps OUT/metrics.jsonl holds.
steps_logged() {
    local n
    n=$(grep -c '"loss"' "$1/metrics.jsonl" 2>/dev/null) || n=0
    echo "$n"
}
