#!/usr/bin/env bash
# Stopping a job with a large state: a 2-rank job of a 105 M-parameter model (parameters + AdamW
# moments: 1.27 GB of shards) launched through cli/ringtune-mpirun.
#   A. SIGTERM to the launcher (what `kill` and `timeout` send) after the first step: exit 75,
#      `latest` names the signal checkpoint, `ringtune inspect --verify` passes on it.
#   B. SIGINT to the launcher (Ctrl-C): the same; then `--resume latest` continues from it and
#      finishes (exit 0).
# Plain mpirun cannot do this (Open MPI 4.1 kills the ranks ~2 s after a SIGTERM/SIGINT to
# mpirun and exits 1; see cli/ringtune-mpirun). Prints the save time and the time from the
# signal to the exit. No fixed sleeps: it waits for metrics lines and process exits.
# usage: signals_big.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init signals_big "$@"
ck_make_data
WRAP="$(dirname "$R")/ringtune-mpirun"
export RINGTUNE_MPIRUN=$CK_MPIEXEC
[ -x "$WRAP" ] || fail "$WRAP (the launcher next to the binary) is not executable"

# 1 M positions x 96 wide: the parameters sit in the position table, which a 16-token window
# barely touches, so the steps stay cheap while the state is large
"$R" init --out "$S/big" --vocab 50257 --positions 1048576 --embd 96 --layers 1 --heads 2 \
    >"$S/big-init.log" 2>&1 || fail_log "$S/big-init.log" "ringtune init (big model) failed"
say "big model: $(grep -o '[0-9]* parameters' "$S/big-init.log")"
OVR=("model.path=$S/big" train.global_batch=2 train.max_steps=100000 checkpoint.every_steps=0 checkpoint.keep_last=1
    eval.every_steps=0 eval.max_batches=1 output.log_samples=false)
LIMIT=${RT_CKPT_TIMEOUT:-240}

steps_logged() {
    local n
    n=$(grep -c '"loss"' "$1/metrics.jsonl" 2>/dev/null) || n=0
    echo "$n"
}

# launch MODE LOG OUT ARGS...: the launcher in the background (BG_PID); MODE "jc" starts it with
# job control so that SIGINT is not ignored (a non-interactive shell's background jobs ignore it)
launch() {
    local mode=$1 log=$2 out=$3
    shift 3
    if [ "$mode" = jc ]; then set -m; fi
    "$WRAP" "${CK_MPIFLAGS[@]}" -n 2 "$R" train "$S/run.yaml" "output.dir=$out" "${OVR[@]}" "$@" \
        >"$log" 2>&1 &
    BG_PID=$!
    if [ "$mode" = jc ]; then set +m; fi
    CK_BG_PIDS+=("$BG_PID")
}

# wait_steps OUT N: until N steps are logged (the run must stay alive; LIMIT seconds at most)
wait_steps() {
    local deadline=$((SECONDS + LIMIT))
    while [ "$(steps_logged "$1")" -lt "$2" ]; do
        kill -0 "$BG_PID" 2>/dev/null || fail "the run ended before logging $2 steps"
        [ $SECONDS -lt $deadline ] || fail "no $2 steps logged in $1 after $LIMIT s"
        sleep 0.2
    done
}

# wait_end: waits for the launcher (killing its tree after LIMIT s); sets RC and END_S (seconds
# since SIG_T0)
wait_end() {
    local deadline=$((SECONDS + LIMIT))
    while kill -0 "$BG_PID" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            kill_tree "$BG_PID"
            fail "the run did not end within $LIMIT s of the signal"
        fi
        sleep 0.2
    done
    RC=0
    wait "$BG_PID" || RC=$?
    END_S=$(awk -v a="$SIG_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

# stop_with SIG MODE OUT: run, signal the launcher after a step, check the committed checkpoint
stop_with() {
    local sig=$1 mode=$2 out=$3 log="$3.log" line step name bytes
    launch "$mode" "$log" "$out"
    wait_steps "$out" 1
    SIG_T0=$(date +%s.%N)
    say "$sig: $(steps_logged "$out") steps logged; kill -$sig $BG_PID (the launcher)"
    kill "-$sig" "$BG_PID"
    wait_end
    expect_rc 75 "$log" "$sig"
    expect_grep "ringtune-mpirun: SIG$sig: asking the ranks to checkpoint" "$log" "$sig"
    line=$(grep -E -m1 "received .*: checkpointing at step [0-9]+" "$log") ||
        fail_log "$log" "$sig: no 'received: checkpointing' line"
    step=$(sed -E 's/.*checkpointing at step ([0-9]+).*/\1/' <<<"$line")
    name=$(printf 'step-%08d' "$step")
    expect_latest "$out" "$name"
    expect_no_leftovers "$out"
    [ ! -e "$out/.lock" ] || fail "$sig: the run left its lock $out/.lock behind"
    "$R" inspect "$out/$name" --verify >"$out-inspect.log" 2>&1 ||
        fail_log "$out-inspect.log" "$sig: ringtune inspect --verify $out/$name failed"
    bytes=$(du -sb "$out/$name" | cut -f1)
    [ "$bytes" -ge 1000000000 ] || fail "$sig: the checkpoint holds $bytes bytes, not >= 1 GB"
    say "$sig: $name: $bytes bytes, inspect --verify passed; $(grep -o 'saved .* in [0-9.]* s' "$log" |
        sed 's/.* in /save took /'); signal to exit ${END_S} s"
    SIG_STEP=$step
}

say "== A: SIGTERM to the launcher"
stop_with TERM bg "$S/a"
rm -rf "$S/a/step-"*

say "== B: SIGINT to the launcher, then --resume latest"
stop_with INT jc "$S/b"
launch bg "$S/b-resume.log" "$S/b" --resume latest "train.max_steps=$((SIG_STEP + 1))"
SIG_T0=$(date +%s.%N)
wait_end
expect_rc 0 "$S/b-resume.log" "B resume"
expect_grep "resumed from .*$(printf 'step-%08d' "$SIG_STEP"): step $SIG_STEP" "$S/b-resume.log" "B resume"
expect_latest "$S/b" "$(printf 'step-%08d' $((SIG_STEP + 1)))"
say "signals_big: SIGTERM and SIGINT to the launcher committed >= 1 GB checkpoints; resume continued"
