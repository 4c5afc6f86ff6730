#!/usr/bin/env bash
# cli/ringtune-mpirun against a stand-in mpirun (RINGTUNE_MPIRUN) that records the signals it
# gets and exits when told (file `go`, code FAKE_RC):
#   A. SIGTERM to the launcher: mpirun gets SIGUSR1 (once: a second SIGTERM is absorbed), runs in
#      a session of its own, and the launcher returns mpirun's exit code 75.
#   B. SIGINT to the launcher: SIGUSR1; a second SIGINT: SIGTERM to mpirun, launcher exit 130.
#   C. `timeout` in front, SIGTERM to timeout (which also signals its process group): mpirun
#      gets SIGUSR1 only; exit 75. D. No signal: mpirun's exit code (3) is returned.
# Synchronised on files, never on sleeps. usage: launcher.sh RINGTUNE_MPIRUN SCRATCH_DIR
set -euo pipefail
L=$1
S=$2
rm -rf "$S"
mkdir -p "$S"
say() { printf '[launcher] %s\n' "$*"; }
fail() {
    printf '[launcher] FAIL: %s\n' "$*" >&2
    for f in "$S"/*/log "$S"/*/sig; do [ -e "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done
    exit 1
}
cat >"$S/fake-mpirun" <<'FAKE'
#!/usr/bin/env bash
D=$FAKE_DIR
trap 'echo USR1 >>"$D/sig"' USR1
trap 'echo TERM >>"$D/sig"; exit 1' TERM
trap 'echo INT >>"$D/sig"' INT
echo "$*" >"$D/args"
echo $$ >"$D/pid.tmp" && mv "$D/pid.tmp" "$D/pid"
while [ ! -e "$D/go" ]; do sleep 0.05 & wait $! || true; done
exit "${FAKE_RC:-75}"
FAKE
chmod +x "$S/fake-mpirun"
export RINGTUNE_MPIRUN=$S/fake-mpirun

# until FILE PATTERN: waits (60 s at most) until FILE holds a line matching PATTERN
until_has() {
    local deadline=$((SECONDS + 60))
    until grep -q -- "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $deadline ] || fail "no '$2' in $1 after 60 s"
        sleep 0.05
    done
}
# start NAME [jc] [PREFIX...]: the launcher on the fake (BG), in dir $S/NAME (D)
start() {
    D=$S/$1
    mkdir -p "$D"
    export FAKE_DIR=$D
    local jc=$2
    shift 2
    if [ "$jc" = jc ]; then set -m; fi
    "$@" "$L" -n 2 ringtune train run.yaml >"$D/log" 2>&1 &
    BG=$!
    if [ "$jc" = jc ]; then set +m; fi
    until [ -e "$D/pid" ]; do kill -0 "$BG" 2>/dev/null || fail "$1: the launcher ended early"; sleep 0.05; done
    [ "$(cat "$D/args")" = "-n 2 ringtune train run.yaml" ] || fail "$1: mpirun got '$(cat "$D/args")'"
}
finish() {
    RC=0
    wait "$BG" || RC=$?
    [ "$RC" = "$1" ] || fail "$2: exit code $RC, expected $1"
    say "$2: exit code $RC; mpirun got: $(tr '\n' ' ' <"$D/sig" 2>/dev/null)"
}

say "== A: SIGTERM twice"
start a nojc
mp=$(cat "$D/pid")
[ "$(ps -o sid= -p "$mp" | tr -d ' ')" = "$mp" ] || fail "A: mpirun $mp is not in a session of its own"
kill -TERM "$BG"
until_has "$D/sig" USR1
kill -TERM "$BG"
until_has "$D/log" "SIGTERM again: absorbed"
touch "$D/go"
finish 75 A
[ "$(cat "$D/sig")" = USR1 ] || fail "A: mpirun got '$(cat "$D/sig")', expected one USR1"

say "== B: SIGINT twice"
start b jc
kill -INT "$BG"
until_has "$D/sig" USR1
kill -INT "$BG"
until_has "$D/sig" TERM
finish 130 B
grep -q "stopped by a second SIGINT" "$D/log" || fail "B: no 'stopped by a second SIGINT' line"

say "== C: timeout in front, SIGTERM to timeout"
start c nojc timeout 300
kill -TERM "$BG"
until_has "$D/sig" USR1
touch "$D/go"
finish 75 C
[ "$(cat "$D/sig")" = USR1 ] || fail "C: mpirun got '$(cat "$D/sig")', expected one USR1"

say "== D: no signal, mpirun exits 3"
FAKE_RC=3 start d nojc
touch "$D/go"
finish 3 D
say "PASS"
