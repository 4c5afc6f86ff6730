#!/usr/bin/env bash
# Starts a throw-away Slurm cluster on this machine: a private munged, slurmctld and one slurmd
# per emulated node, everything (config, keys, state, logs, pid files) under one directory.
# Needs root (slurmd does) but no systemd and no cgroups; Debian packages slurm-wlm and munge.
#
# usage: slurm/local-cluster-up.sh [DIR]
#   DIR (or $RT_SLURM_DIR)   the cluster's directory (default /tmp/ringtune-slurm); its
#                            etc/ state/ spool/ log/ run/ tmp/ munge/ are wiped at start
#   NODES=2                  emulated nodes c1..cN (all on this host, 127.0.0.1)
#   CPUS=8                   CPUs advertised per node (may exceed the real cores)
#   MEM=4000                 RealMemory per node in MB
#   BASEPORT=17000           slurmctld port; slurmd of node n listens on BASEPORT+n
# Afterwards: export SLURM_CONF=DIR/etc/slurm.conf, then sinfo/srun/sbatch use this cluster.
# Stop it with slurm/local-cluster-down.sh DIR (ends only the processes started here, by pid).
# Exit codes: 0 up, 1 failed to start (logs in DIR/log), 3 cannot run here (not root, no slurm).
set -euo pipefail
D=${1:-${RT_SLURM_DIR:-/tmp/ringtune-slurm}}
case "$D" in /*) ;; *) D=$PWD/$D ;; esac
NODES=${NODES:-2}
CPUS=${CPUS:-8}
MEM=${MEM:-4000}
BASEPORT=${BASEPORT:-17000}
t0=$(date +%s%N)

say() { printf 'local-cluster-up: %s\n' "$*" >&2; }
for c in munged mungekey slurmctld slurmd sinfo; do
    command -v "$c" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
    command -v "$c" >/dev/null 2>&1 || { say "$c not found (apt-get install slurm-wlm munge)"; exit 3; }
done
[ "$(id -u)" = 0 ] || { say "needs root (slurmd runs jobs as their users)"; exit 3; }
if [ -e "$D/run/slurmctld.pid" ] && kill -0 "$(cat "$D/run/slurmctld.pid")" 2>/dev/null; then
    say "a cluster is already running from $D (stop it with local-cluster-down.sh $D)"
    exit 1
fi

rm -rf "${D:?}/etc" "$D/state" "$D/spool" "$D/log" "$D/run" "$D/tmp" "$D/munge"
mkdir -p "$D/etc" "$D/state" "$D/log" "$D/run"
chmod 0755 "$D"
for n in $(seq 1 "$NODES"); do mkdir -p "$D/spool/c$n" "$D/tmp/c$n"; done

# 1. a private munged (own key, socket and pid file), so a host munged is neither needed nor
#    touched. munged insists on private key/state directories.
M=$D/munge
mkdir -p "$M"
chmod 0700 "$M"
mungekey -c -k "$M/munge.key" >/dev/null 2>&1 ||
    dd if=/dev/urandom of="$M/munge.key" bs=1024 count=1 status=none
chmod 0400 "$M/munge.key"
munged --force --socket="$M/munge.socket" --key-file="$M/munge.key" --pid-file="$M/munged.pid" \
    --log-file="$D/log/munged.log" --seed-file="$M/munged.seed" ||
    { say "munged failed to start (log: $D/log/munged.log)"; exit 1; }
for _ in $(seq 50); do munge -S "$M/munge.socket" -n >/dev/null 2>&1 && break; sleep 0.1; done
munge -S "$M/munge.socket" -n | unmunge -S "$M/munge.socket" >/dev/null ||
    { say "munged does not answer on $M/munge.socket"; exit 1; }
cp "$M/munged.pid" "$D/run/munged.pid"

# 2. configuration
if [ "$NODES" -eq 1 ]; then
    NODELIST=c1 PORTS=$((BASEPORT + 1))
else
    NODELIST="c[1-$NODES]" PORTS="[$((BASEPORT + 1))-$((BASEPORT + NODES))]"
fi
HOST=$(hostname -s)
cat >"$D/etc/slurm.conf" <<CONF
# written by ringtune slurm/local-cluster-up.sh: $NODES emulated node(s) on $HOST
ClusterName=ringtune
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a short credential lifetime makes a requeued job start again after ~12 s instead of ~5 min
AuthInfo=socket=$M/munge.socket,cred_expire=10
SlurmctldPort=$BASEPORT
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/%n
# one TmpFS per node: the pmix plugin creates spmix_appdir_<uid>_<job>.<step> there, and a
# shared directory makes the second node's step fail (File exists)
TmpFS=$D/tmp/%n
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd-%n.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
ReturnToService=2
# advertise CPUS per node even on a smaller machine
SlurmdParameters=config_overrides
KillWait=5
MinJobAge=300
InactiveLimit=0
Waittime=0
NodeName=$NODELIST NodeHostname=$HOST NodeAddr=127.0.0.1 Port=$PORTS CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$D/etc/slurm.conf

# 3. daemons (they daemonize and write their pid files under run/)
slurmctld -f "$SLURM_CONF" || { say "slurmctld failed (log: $D/log/slurmctld.log)"; exit 1; }
for n in $(seq 1 "$NODES"); do
    slurmd -f "$SLURM_CONF" -N "c$n" || { say "slurmd c$n failed (log: $D/log/slurmd-c$n.log)"; exit 1; }
done

# 4. wait (at most 30 s) until every node is idle
nidle=0
for _ in $(seq 300); do
    nidle=$(sinfo -h -N -t idle -o %N 2>/dev/null | wc -l)
    [ "$nidle" -ge "$NODES" ] && break
    sleep 0.1
done
if [ "$nidle" -lt "$NODES" ]; then
    say "only $nidle/$NODES nodes idle after 30 s (logs in $D/log)"
    sinfo -N >&2 || true
    exit 1
fi
printf 'local-cluster-up: %d node(s) x %d CPUs up in %d ms; export SLURM_CONF=%s\n' \
    "$NODES" "$CPUS" $((($(date +%s%N) - t0) / 1000000)) "$SLURM_CONF"
