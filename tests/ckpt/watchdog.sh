#!/usr/bin/env bash
# The collective-wait watchdog (io/watchdog.h, dist.timeout_s): a rank that is stopped (SIGSTOP;
# in real life a hung file system or node) must not leave the others waiting forever. With
# dist.timeout_s 10 the job must end within the timeout plus a bounded margin, with exit code 69
# and a line naming the step, the operation and the peers waited for; the last committed
# checkpoint must stay intact and `--resume latest` must finish.
#   1. a healthy 3-rank run with the default timeout: the reference (exit 0)
#   2. rank 1 stops itself inside the 2nd save (step 4, through RINGTUNE_CKPT_FAULT ...:stop):
#      the others wait in the save's status agreement; latest stays step 2; the resumed run
#      reproduces the reference's losses and sample ids bit for bit
#   3. rank 2 is stopped from outside (kill -STOP) in the middle of training, after the first
#      checkpoint: the others wait in a gradient reduction or the step's agreement; resume works
# usage: watchdog.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init watchdog "$@"
ck_make_data

WD=10     # dist.timeout_s of the stopped runs
MARGIN=30 # the job must end within WD + MARGIN seconds of the stop (load on 2 shared cores)
EXIT_TIMEOUT=69

# wait_end PID T_STOP WHAT: waits for the background run PID, sets RC, and fails unless it ended
# within WD + MARGIN seconds of T_STOP (epoch seconds, with fractions).
wait_end() {
    local pid=$1 t_stop=$2 what=$3 waited
    RC=0
    wait "$pid" || RC=$?
    waited=$(awk -v a="$t_stop" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    awk -v w="$waited" -v lim=$((WD + MARGIN)) 'BEGIN { exit !(w <= lim) }' ||
        fail "$what: the job ended ${waited} s after the stop, more than $WD + $MARGIN s"
    say "$what: the job ended ${waited} s after the stop (dist.timeout_s $WD, bound $((WD + MARGIN)) s)"
}

# no_stopped_left PID: the stopped rank did not outlive its job.
no_stopped_left() {
    local i
    for i in $(seq 1 50); do
        kill -0 "$1" 2>/dev/null || { say "the stopped rank (pid $1) is gone"; return 0; }
        sleep 0.2
    done
    kill -CONT "$1" 2>/dev/null || true
    fail "the stopped rank (pid $1) outlived its job"
}

# 1. the reference
train_ok 3 "$S/ref.log" "$S/run.yaml" "output.dir=$S/ref"
expect_latest "$S/ref" step-00000008

# 2. a rank stopped inside a save
out=$S/save
say "== rank 1 of 3 stops at before-data of the 2nd save (step 4)"
export RINGTUNE_CKPT_FAULT=1:before-data:2:stop
train_bg 3 "$S/save.log" "$S/run.yaml" "output.dir=$out" "dist.timeout_s=$WD"
unset RINGTUNE_CKPT_FAULT
pid=$BG_PID
for _ in $(seq 1 600); do
    grep -q "RINGTUNE_CKPT_FAULT: rank 1 stops" "$S/save.log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
t_stop=$(date +%s.%N)
grep -q "RINGTUNE_CKPT_FAULT: rank 1 stops" "$S/save.log" ||
    fail_log "$S/save.log" "rank 1 did not stop in the 2nd save"
victim=$(rank_pids "output.dir=$out" | sed -n 's/^1://p')
wait_end "$pid" "$t_stop" "stopped in a save"
expect_rc $EXIT_TIMEOUT "$S/save.log" "stopped in a save"
expect_grep "rank [02]: dist.timeout_s $WD s expired \(no progress for [0-9]+ s\) at step 4 \(checkpoint save\) in .*waiting for the other 2 ranks.*rank 1 \(host [^,]+, pid [0-9]+\)" \
    "$S/save.log" "stopped in a save"
[ -z "$victim" ] || no_stopped_left "$victim"
expect_latest "$out" step-00000002
[ -d "$out/step-00000004.tmp" ] && [ ! -e "$out/step-00000004" ] ||
    fail "the interrupted save should have left step-00000004.tmp only"
train_ok 3 "$S/save-resume.log" "$S/run.yaml" "output.dir=$out" --resume latest
expect_grep "resumed from .*step-00000002: step 2" "$S/save-resume.log" "resume after the stop"
expect_grep "removed 1 leftover" "$S/save-resume.log" "resume after the stop" # step-00000004.tmp
expect_no_leftovers "$out"
expect_latest "$out" step-00000008
expect_same_metrics "$S/ref/metrics.jsonl" "$out/metrics.jsonl"

# 3. a rank stopped from outside while training
out=$S/train
say "== rank 2 of 3 stopped by SIGSTOP while training, after the first checkpoint"
train_bg 3 "$S/train.log" "$S/run.yaml" "output.dir=$out" "dist.timeout_s=$WD" \
    train.max_steps=100000 checkpoint.every_steps=3 checkpoint.keep_last=2 eval.every_steps=0 \
    output.log_every=100
pid=$BG_PID
for _ in $(seq 1 600); do
    [ -f "$out/latest" ] && break
    kill -0 "$pid" 2>/dev/null || fail_log "$S/train.log" "the run ended before its first checkpoint"
    sleep 0.1
done
[ -f "$out/latest" ] || fail_log "$S/train.log" "no checkpoint after 60 s"
victim=$(rank_pids "output.dir=$out" | sed -n 's/^2://p')
[ -n "$victim" ] || fail "cannot find rank 2's pid"
kill -STOP "$victim"
t_stop=$(date +%s.%N)
say "stopped rank 2 (pid $victim); latest = $(tr -d '\n' <"$out/latest")"
wait_end "$pid" "$t_stop" "stopped while training"
expect_rc $EXIT_TIMEOUT "$S/train.log" "stopped while training"
expect_grep "rank [01]: dist.timeout_s $WD s expired \(no progress for [0-9]+ s\) at step [0-9]+ \((training|checkpoint save)\) in .*waiting .*rank 2 \(host [^,]+, pid $victim\)" \
    "$S/train.log" "stopped while training"
no_stopped_left "$victim"
last=$(latest_of "$out")
expect_complete "$out/$last"
steps=$((10#${last#step-} + 2))
train_ok 3 "$S/train-resume.log" "$S/run.yaml" "output.dir=$out" --resume latest \
    "train.max_steps=$steps" checkpoint.every_steps=3 checkpoint.keep_last=2 eval.every_steps=0
expect_grep "resumed from .*$last" "$S/train-resume.log" "resume after the stop"
expect_latest "$out" "$(printf 'step-%08d' "$steps")"
say "a stopped rank ended the job with exit $EXIT_TIMEOUT within the bound twice; latest stayed complete; resume finished"
