#!/usr/bin/env bash
# Multi-host training on emulated hosts (network namespaces, tests/netns/*): ringtune train over
# TCP between 3 "hosts" with 1 rank each, then a preemption there and a resume on 2 hosts.
#   A. 3 hosts x 1 rank: the startup line reports 3 nodes x 1 per node, and the losses and sample
#      ids equal a plain local `mpirun -n 3` run (within 1e-5 relative; the printout says how
#      many are bit-identical).
#   B. 3 hosts again, SIGUSR1 to the rank on host h3 only: exit 75 with a checkpoint in the
#      shared output.dir; `--resume latest` on 2 hosts finishes with the losses of the
#      uninterrupted local run within 1e-5 relative and exactly its sample ids.
# usage: multihost.sh RINGTUNE_BINARY SCRATCH_DIR   (root; exit 77 = skipped: no namespaces)
# Environment: RT_MPIEXEC / RT_MPIEXEC_PREFLAGS / RT_CKPT_TIMEOUT as for tests/ckpt/common.sh
# (the local reference run), RT_NETNS_PREFIX (namespace names, default rtmhPIDxSTART-: a set of
# this run's own, so two runs at once, from two clones, never touch each other's).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export RT_NETNS_PREFIX=${RT_NETNS_PREFIX:-rtmh$$x$(cut -d')' -f2- /proc/$$/stat | awk '{print $20}')-}
SKIP=77

# ---- can we make namespaces at all? (before touching anything) ------------------------------
probe=${RT_NETNS_PREFIX}probe$$
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
    echo "[multihost] SKIP: needs root, ip (iproute2) and unshare (util-linux) to emulate hosts" \
        "with network namespaces"
    exit $SKIP
fi
if ! ip netns add "$probe" 2>/dev/null; then
    echo "[multihost] SKIP: cannot create a network namespace here (ip netns add failed:" \
        "no CAP_SYS_ADMIN, or a container without netns support)"
    exit $SKIP
fi
ip netns del "$probe"
if ! unshare --uts true 2>/dev/null; then
    echo "[multihost] SKIP: cannot create a UTS namespace (unshare --uts failed)"
    exit $SKIP
fi

# shellcheck source=../ckpt/common.sh
source "$HERE/../ckpt/common.sh"
ck_init multihost "$@"
ns_down() { "$HERE/netns-down.sh"; }
CK_CLEANUP_HOOK=ns_down
# the sets that runs killed before their cleanup (e.g. by ctest's timeout) left: those of default
# prefixes whose owner process no longer exists, with the processes still inside them
for p in $(ip netns list | sed -n 's/^\(rtmh[0-9]*x[0-9]*-\)\(h[0-9]*\|sw\)\( .*\)\{0,1\}$/\1/p' | sort -u); do
    o=${p#rtmh}
    o=${o%-}
    [ "$(proc_start "${o%x*}")" = "${o%x*} ${o#*x}" ] && continue
    RT_NETNS_PREFIX=$p "$HERE/netns-down.sh"
    say "removed the namespaces ${p}* of a dead run"
done
"$HERE/netns-down.sh" # leftovers of this prefix (a prefix given in RT_NETNS_PREFIX)
"$HERE/netns-up.sh" 3 >"$S/netns-up.log" 2>&1 || fail_log "$S/netns-up.log" "netns-up.sh 3 failed"
say "$(cat "$S/netns-up.log")"
ck_make_data

MAX_STEPS=30
OVR=("train.max_steps=$MAX_STEPS" checkpoint.every_steps=0 eval.every_steps=10)
RTOL=1e-5

# ns_cmd HOSTS: the command line (array NS_CMD) of `ringtune train` on HOSTS hosts x 1 rank.
ns_cmd() {
    NS_CMD=(timeout -k 10 "$CK_TIMEOUT" "$HERE/run-ns-mpi.sh" "$1" 1 -x OMP_NUM_THREADS "$R" train)
}
ns_train_ok() {
    local hosts=$1 log=$2
    shift 2
    ns_cmd "$hosts"
    RC=0
    "${NS_CMD[@]}" "$@" >"$log" 2>&1 || RC=$?
    [ "$RC" = 0 ] || fail_log "$log" "ringtune train on $hosts hosts exited $RC, expected 0"
}
close_to_ref() {
    local out
    out=$(python3 "$CK_TOOL" compare "$S/ref/metrics.jsonl" "$1" "$RTOL") ||
        fail "$1 differs from the local reference: $out"
    say "$2: $out"
}

# ---- reference: plain local mpirun -n 3 -------------------------------------------------------
t=$SECONDS
train_ok 3 "$S/ref.log" "$S/run.yaml" "output.dir=$S/ref" "${OVR[@]}"
expect_grep "3 ranks \(1 nodes x 3 per node\)" "$S/ref.log" "local reference"
say "local reference: $MAX_STEPS steps in $((SECONDS - t)) s"

# ---- A. 3 hosts x 1 rank --------------------------------------------------------------------
t=$SECONDS
ns_train_ok 3 "$S/mh3.log" "$S/run.yaml" "output.dir=$S/mh3" "${OVR[@]}"
expect_grep "3 ranks \(3 nodes x 1 per node\)" "$S/mh3.log" "3 hosts"
say "3 hosts: $MAX_STEPS steps in $((SECONDS - t)) s"
close_to_ref "$S/mh3/metrics.jsonl" "3 hosts vs local"
if python3 "$CK_TOOL" compare "$S/ref/metrics.jsonl" "$S/mh3/metrics.jsonl" >/dev/null; then
    say "3 hosts vs local: bit-identical"
fi

# ---- B. preempted on 3 hosts, resumed on 2 ----------------------------------------------------
steps_logged() {
    local n
    n=$(grep -c '"loss"' "$1/metrics.jsonl" 2>/dev/null) || n=0
    echo "$n"
}
OUT=$S/mhsig
ns_cmd 3
"${NS_CMD[@]}" "$S/run.yaml" "output.dir=$OUT" "${OVR[@]}" >"$S/mhsig.log" 2>&1 &
BG_PID=$!
CK_BG_PIDS+=("$BG_PID")
deadline=$((SECONDS + CK_TIMEOUT))
while [ "$(steps_logged "$OUT")" -lt 3 ]; do
    kill -0 "$BG_PID" 2>/dev/null || fail_log "$S/mhsig.log" "the 3-host run ended before 3 steps"
    [ $SECONDS -lt $deadline ] || fail "no 3 steps logged in $OUT after ${CK_TIMEOUT} s"
    sleep 0.05
done
# the rank on host h3: rank 2 (by slot), its process runs in namespace ${RT_NETNS_PREFIX}h3
pid=$(rank_pids "output.dir=$OUT" | sed -n 's/^2://p')
[ -n "$pid" ] || fail "no ringtune process of rank 2 found"
ns_of=$(ip netns identify "$pid" 2>/dev/null || true)
[ "$ns_of" = "${RT_NETNS_PREFIX}h3" ] || fail "rank 2 (pid $pid) runs in namespace '$ns_of', not ${RT_NETNS_PREFIX}h3"
kill -USR1 "$pid"
say "SIGUSR1 to rank 2 (pid $pid, namespace $ns_of, host h3) after $(steps_logged "$OUT") steps"
RC=0
wait "$BG_PID" || RC=$?
expect_rc 75 "$S/mhsig.log" "3 hosts, SIGUSR1"
line=$(grep -E -m1 "received .*: checkpointing at step [0-9]+" "$S/mhsig.log") ||
    fail_log "$S/mhsig.log" "no 'checkpointing at step' line"
SIG_STEP=$(sed -E 's/.*checkpointing at step ([0-9]+).*/\1/' <<<"$line")
say "$line"
[ "$SIG_STEP" -lt "$MAX_STEPS" ] || fail "checkpointed at step $SIG_STEP, not before the end"
expect_latest "$OUT" "$(printf 'step-%08d' "$SIG_STEP")"
t=$SECONDS
ns_train_ok 2 "$S/mhsig-resume.log" "$S/run.yaml" "output.dir=$OUT" "${OVR[@]}" --resume latest
expect_grep "2 ranks \(2 nodes x 1 per node\)" "$S/mhsig-resume.log" "resume on 2 hosts"
expect_grep "resumed from .*$(printf 'step-%08d' "$SIG_STEP"): step $SIG_STEP" "$S/mhsig-resume.log" \
    "resume on 2 hosts"
say "resume on 2 hosts: $((MAX_STEPS - SIG_STEP)) steps in $((SECONDS - t)) s"
expect_latest "$OUT" "$(printf 'step-%08d' "$MAX_STEPS")"
close_to_ref "$OUT/metrics.jsonl" "3 hosts preempted + 2 hosts resumed vs local uninterrupted"
