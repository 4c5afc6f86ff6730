#!/usr/bin/env bash
# One run per output.dir (io/runlock.h) through `ringtune train`:
#   A. a lock held by a live process on this host (this script's shell) refuses the run (exit 1)
#      with a message naming the host, the pid and the start time, before anything in output.dir
#      is touched (a leftover step-N.tmp stays, no metrics file is written); `--resume latest`
#      is refused the same way.
#   B. a lock from another host with a fresh heartbeat is refused too.
#   C. a lock whose pid is dead is taken over with a warning; the run finishes and removes it.
# usage: runlock.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init runlock "$@"
ck_make_data
OUT=$S/out
HOST=$(hostname)
BOOT=$(cat /proc/sys/kernel/random/boot_id)

# write_lock HOST PID PID_START BOOT: a lock file as that holder writes it (heartbeat: now)
write_lock() {
    mkdir -p "$OUT"
    printf 'ringtune run lock\nhost: %s\npid: %s\npid_start: %s\nboot_id: %s\nstarted: %s\n' \
        "$1" "$2" "$3" "$4" "2026-01-02T03:04:05Z" >"$OUT/.lock"
}

say "== A: a lock held by this shell (pid $$ on $HOST)"
mkdir -p "$OUT/step-00000002.tmp"
write_lock "$HOST" $$ "$(cut -d' ' -f22 /proc/$$/stat)" "$BOOT"
train 1 "$S/a.log" "$S/run.yaml" "output.dir=$OUT"
expect_rc 1 "$S/a.log" A
expect_grep "output.dir $OUT: in use by another run: host $HOST, pid $$, started 2026-01-02T03:04:05Z" "$S/a.log" A
[ -d "$OUT/step-00000002.tmp" ] || fail "A: the refused run removed the other run's step-00000002.tmp"
[ ! -e "$OUT/metrics.jsonl" ] || fail "A: the refused run wrote $OUT/metrics.jsonl"
grep -q "pid: $$" "$OUT/.lock" || fail "A: the refused run changed the holder's lock"
say "A: the leftover, the lock and the absent metrics are as the holder left them"
train 1 "$S/a-resume.log" "$S/run.yaml" "output.dir=$OUT" --resume latest
expect_rc 1 "$S/a-resume.log" "A --resume latest"
expect_grep "in use by another run: host $HOST, pid $$" "$S/a-resume.log" "A --resume latest"

say "== B: another host's lock with a fresh heartbeat"
write_lock node-elsewhere-17 4242 1 some-boot
train 1 "$S/b.log" "$S/run.yaml" "output.dir=$OUT"
expect_rc 1 "$S/b.log" B
expect_grep "in use by another run: host node-elsewhere-17, pid 4242" "$S/b.log" B

say "== C: a lock of a dead pid on this host"
sh -c 'exit 0' &
dead=$!
wait "$dead"
write_lock "$HOST" "$dead" 1 "$BOOT"
train 1 "$S/c.log" "$S/run.yaml" "output.dir=$OUT" train.max_steps=2
expect_rc 0 "$S/c.log" C
expect_grep "warning: output.dir $OUT: took over the run lock .*pid $dead is not running" "$S/c.log" C
[ ! -e "$OUT/.lock" ] || fail "C: the finished run left $OUT/.lock"
[ ! -e "$OUT/step-00000002.tmp" ] || fail "C: the leftover of the dead run was not cleaned"
say "C: the lock is gone after the run, the dead run's leftover was cleaned"
