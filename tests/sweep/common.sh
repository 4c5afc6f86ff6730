# shellcheck shell=bash
# Shared helpers of the `ringtune sweep` end-to-end tests (sourced by tests/sweep/*.sh), on top of
# tests/ckpt/common.sh (ck_init, say, fail, the mpirun command line, background runs): a tiny
# GPT-2, a corpus and a base run config; running sweeps; comparing their results.
# Every script is run as: SCRIPT RINGTUNE_BINARY SCRATCH_DIR.
. "$(dirname "${BASH_SOURCE[0]}")/../ckpt/common.sh"
SW_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SW_TOOL="$SW_HERE/sweep_tool.py"

# sw_make_data: ck_make_data_gpt2's tiny GPT-2 (2 blocks of 16, the 50257-token vocabulary) and
# corpus of the demo's legal paragraphs, and $S/run.yaml: 12-sample global batches of 16 tokens,
# a cosine schedule without warmup, one evaluation at the end of each run (4 batches), one
# checkpoint kept, one thread per rank. The sweep files set each trial's steps and output.
sw_make_data() {
    ck_make_data_gpt2 >/dev/null
    cat >"$S/run.yaml" <<YAML
model: {path: $S/base}
data: {corpus: $S/corpus.h5, seq_len: 16, seed: 3}
train: {global_batch: 12, micro_batch: 1, max_steps: 8, seed: 5}
optim: {lr: 1.0e-3, warmup_steps: 0, schedule: cosine}
eval: {every_steps: 0, max_batches: 4}
output: {dir: $S/not-used, log_every: 1}
checkpoint: {keep_last: 1}
dist: {threads_per_rank: 1}
YAML
    say "made model $S/base, corpus $S/corpus.h5, base run config $S/run.yaml"
}

# sweep_cmd NP: the command line of `ringtune sweep` on NP ranks (array SW_CMD), bounded by
# timeout; with SW_WRAPPED=1 through cli/ringtune-mpirun (signals become checkpoints). One rank
# runs without mpirun (MPI's singleton start: mpirun -n 1 takes 2 s more here), as
# `ringtune train` alone does.
sweep_cmd() {
    local launcher=$CK_MPIEXEC
    [ "${SW_WRAPPED:-0}" = 1 ] && launcher="$(dirname "$R")/ringtune-mpirun"
    if [ "$1" = 1 ]; then
        SW_CMD=(timeout -k 10 "$CK_TIMEOUT" "$R" sweep)
    else
        SW_CMD=(timeout -k 10 "$CK_TIMEOUT" "$launcher" "${CK_MPIFLAGS[@]}" -n "$1" "$R" sweep)
    fi
}

# sweep NP LOG ARGS...: runs `ringtune sweep ARGS...` on NP ranks, output to LOG; sets RC and
# SW_SECONDS (wall time).
sweep() {
    local np=$1 log=$2 t0=$SECONDS
    shift 2
    sweep_cmd "$np"
    RC=0
    "${SW_CMD[@]}" "$@" >"$log" 2>&1 || RC=$?
    SW_SECONDS=$((SECONDS - t0))
    return 0
}

# sweep_ok NP LOG ARGS...: as sweep, and fails unless it exits 0.
sweep_ok() {
    local log=$2
    sweep "$@"
    [ "$RC" = 0 ] || fail_log "$log" "ringtune sweep exited $RC, expected 0 (log $log)"
}

# sweep_bg NP LOG ARGS...: starts the sweep in the background through cli/ringtune-mpirun;
# BG_PID is its timeout's (which passes a SIGTERM on).
sweep_bg() {
    local np=$1 log=$2
    shift 2
    SW_WRAPPED=1 sweep_cmd "$np"
    "${SW_CMD[@]}" "$@" >"$log" 2>&1 &
    BG_PID=$!
    CK_BG_PIDS+=("$BG_PID")
}

# results_done OUT: the job results OUT/sweep_state.jsonl holds.
results_done() {
    local n=0
    [ -f "$1/sweep_state.jsonl" ] && n=$(($(wc -l <"$1/sweep_state.jsonl") - 1))
    echo "$((n < 0 ? 0 : n))"
}

# wait_results OUT N: waits until N job results are recorded (fails if the sweep ends first).
wait_results() {
    local deadline=$((SECONDS + CK_TIMEOUT))
    while [ "$(results_done "$1")" -lt "$2" ]; do
        kill -0 "$BG_PID" 2>/dev/null || fail "the sweep ended before $2 results"
        [ $SECONDS -lt $deadline ] || fail "no $2 results in $1 after $CK_TIMEOUT s"
        sleep 0.05
    done
}

# wait_running_steps OUT N: waits until a trial without a recorded result has logged N steps.
wait_running_steps() {
    local deadline=$((SECONDS + CK_TIMEOUT))
    until python3 "$SW_TOOL" running-steps "$1" "$2" >/dev/null; do
        kill -0 "$BG_PID" 2>/dev/null || fail "the sweep ended before a trial logged $2 steps"
        [ $SECONDS -lt $deadline ] || fail "no running trial logged $2 steps after $CK_TIMEOUT s"
        sleep 0.05
    done
}

# expect_same_results REF NEW TOL: the same trials, values, statuses, rungs and steps, and the
# metrics within TOL relative (0: identical); wall times are not compared.
expect_same_results() {
    local out
    out=$(python3 "$SW_TOOL" compare "$1" "$2" "$3") || fail "$2 differs from $1: $out"
    say "$2 vs $1: $out"
}
