#!/usr/bin/env bash
# Stops the cluster slurm/local-cluster-up.sh started from DIR: cancels its jobs, shuts down
# slurmctld and the slurmd daemons, then its private munged. Processes are ended only by the
# pids recorded under DIR/run (and leftover slurmstepd whose files are under DIR); nothing else
# on the machine is touched. Idempotent.
# usage: slurm/local-cluster-down.sh [DIR]   (DIR or $RT_SLURM_DIR, default /tmp/ringtune-slurm)
D=${1:-${RT_SLURM_DIR:-/tmp/ringtune-slurm}}
case "$D" in /*) ;; *) D=$PWD/$D ;; esac
export SLURM_CONF=$D/etc/slurm.conf
PATH=$PATH:/usr/sbin:/sbin
t0=$(date +%s%N)

# alive PID: the process exists, is not a zombie, and is one of this cluster's daemons (its
# command line names a file under DIR): a pid file that outlived its daemon (a crashed run) may
# name an unrelated process once pids wrap around
alive() {
    [ -n "$1" ] && [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null &&
        tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$D/"
}
# wait_gone PIDS...: up to 10 s
wait_gone() {
    local any p
    for _ in $(seq 100); do
        any=0
        for p in "$@"; do alive "$p" && any=1; done
        [ "$any" = 0 ] && return 0
        sleep 0.1
    done
    return 1
}

pids=()
for f in "$D"/run/slurm*.pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
if [ ${#pids[@]} -gt 0 ] && [ -f "$SLURM_CONF" ]; then
    jobs=$(timeout 5 squeue -h -o %i 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        # shellcheck disable=SC2086
        timeout 5 scancel --full --quiet $jobs 2>/dev/null || true
        for _ in $(seq 100); do
            [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    timeout 5 scontrol shutdown 2>/dev/null || true
    if ! wait_gone "${pids[@]}"; then
        for p in "${pids[@]}"; do
            alive "$p" && { echo "local-cluster-down: pid $p still alive, SIGKILL" >&2; kill -9 "$p"; }
        done
    fi
fi
# a slurmstepd whose step hung survives the shutdown (and ignores SIGTERM): find ours by their
# working directory or open files under DIR
for p in $(ps -eo pid=,comm= | awk '$2=="slurmstepd"{print $1}'); do
    if readlink "/proc/$p/cwd" "/proc/$p"/fd/* 2>/dev/null | grep -q "^$D/"; then
        echo "local-cluster-down: killing leftover slurmstepd $p" >&2
        kill -9 "$p" 2>/dev/null
    fi
done
if [ -f "$D/run/munged.pid" ]; then
    mp=$(cat "$D/run/munged.pid")
    alive "$mp" && kill "$mp"
    wait_gone "$mp" || kill -9 "$mp" 2>/dev/null
fi
rm -f "$D"/run/*.pid
printf 'local-cluster-down: %s stopped in %d ms\n' "$D" $((($(date +%s%N) - t0) / 1000000))
