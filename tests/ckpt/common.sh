# shellcheck shell=bash
# Shared helpers of the checkpoint end-to-end tests (sourced by tests/ckpt/*.sh).
# Every script is run as: SCRIPT RINGTUNE_BINARY SCRATCH_DIR. It makes its own tiny model and
# corpus in SCRATCH_DIR (emptied first), runs `ringtune train` under mpirun (always bounded by
# `timeout`), prints what it checks with the numbers it saw, and exits non-zero with a
# "FAIL: ..." line on the first failed assertion. Scratch files stay for inspection (after a
# pass only the logs and metrics).
#
# Environment (set by tests/unit/ckpt_e2e.cmake; defaults for running a script by hand):
#   RT_MPIEXEC           mpirun
#   RT_MPIEXEC_PREFLAGS  flags before the program (;- or space-separated); --oversubscribe is
#                        always added (the tests run up to 3 ranks on 2 cores)
#   RT_CKPT_TIMEOUT      seconds one mpirun may take before it is killed (60)
#   RT_CKPT_MODEL        gpt2 (default) or t5: the model and corpus of the scripts that take it
#                        (they set CK_MODEL from it; see ck_make_data)

CK_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CK_TOOL="$CK_HERE/ckpt_tool.py"
CK_BG_PIDS=()

# ---- reporting ------------------------------------------------------------------------------

say() { printf '[%s] %s\n' "$CK_NAME" "$*"; }

fail() {
    printf '[%s] FAIL: %s\n' "$CK_NAME" "$*" >&2
    exit 1
}

# Prints the last lines of a log (context for a failure).
show_log() {
    local log=$1 n=${2:-25}
    printf -- '---- last %d lines of %s ----\n' "$n" "$log" >&2
    tail -n "$n" "$log" >&2 || true
    printf -- '---- end of %s ----\n' "$log" >&2
}

# fail_log LOG MESSAGE: fails after showing the log.
fail_log() {
    show_log "$1"
    fail "$2"
}

# ---- setup ----------------------------------------------------------------------------------

# ck_init NAME "$@": checks the arguments (RINGTUNE SCRATCH), empties the scratch directory and
# sets R (binary), S (scratch), the MPI command line and an exit trap that stops background jobs.
ck_init() {
    CK_NAME=$1
    shift
    [ $# -eq 2 ] || { echo "usage: $0 RINGTUNE_BINARY SCRATCH_DIR" >&2; exit 2; }
    R=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    [ -x "$R" ] || fail "ringtune binary $R is not executable"
    S=$2
    case "$S" in /*) ;; *) S=$PWD/$S ;; esac
    # a mount left behind by an interrupted diskfull run would make rm fail
    local m
    for m in $(findmnt -rn -o TARGET 2>/dev/null | grep -F "$S/" || true); do umount "$m" || true; done
    rm -rf "$S"
    mkdir -p "$S"
    if [ "$(id -u)" = 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
    export OMP_NUM_THREADS=1
    CK_MPIEXEC=${RT_MPIEXEC:-mpirun}
    local pre=${RT_MPIEXEC_PREFLAGS:-}
    read -r -a CK_MPIFLAGS <<<"${pre//;/ }"
    case " ${CK_MPIFLAGS[*]-} " in *" --oversubscribe "*) ;; *) CK_MPIFLAGS+=(--oversubscribe) ;; esac
    CK_TIMEOUT=${RT_CKPT_TIMEOUT:-60}
    CK_T0=$SECONDS
    trap ck_cleanup EXIT
    say "binary $R, scratch $S, mpirun: $CK_MPIEXEC ${CK_MPIFLAGS[*]}, timeout ${CK_TIMEOUT}s"
}

# proc_start PID: "PID STARTTIME" (the kernel's start time tells a pid's process from a later one
# that got the same pid); empty when PID is gone.
proc_start() {
    local st
    st=$(cut -d')' -f2- "/proc/$1/stat" 2>/dev/null) || return 0
    set -- "$1" $st
    echo "$1 ${21}"
}

# kill_tree PID: SIGKILL to PID and its descendants (timeout -> mpirun -> ranks), children first.
kill_tree() {
    local c
    for c in $(pgrep -P "$1" || true); do kill_tree "$c"; done
    kill -KILL "$1" 2>/dev/null || true
}

# Stops the background jobs this script started (by their process ids) and runs the script's
# own cleanup hook (CK_CLEANUP_HOOK, e.g. an unmount).
ck_cleanup() {
    local rc=$?
    local p
    for p in "${CK_BG_PIDS[@]-}"; do
        [ -n "$p" ] && kill -0 "$p" 2>/dev/null && kill_tree "$p"
    done
    if [ -n "${CK_CLEANUP_HOOK:-}" ]; then "$CK_CLEANUP_HOOK" || true; fi
    if [ "$rc" = 0 ]; then
        # passed: drop the checkpoints and exported models (tens of MB), keep logs and metrics
        find "$S" -xdev -mindepth 1 -type d \( -name 'step-*' -o -name final \) -prune \
            -exec rm -rf {} + 2>/dev/null || true
        say "PASS ($((SECONDS - CK_T0)) s)"
    else
        printf '[%s] failed (exit %s) after %d s; files in %s\n' "$CK_NAME" "$rc" \
            "$((SECONDS - CK_T0))" "$S" >&2
    fi
}

# ck_make_data: a tiny GPT-2 (50257-token vocabulary, 16-wide, 2 blocks: 0.8 M parameters, about
# 10 MB per checkpoint) in $S/base and a corpus of the demo's legal paragraphs in $S/corpus.h5
# (one document per paragraph, 10% validation), and the base run configuration $S/run.yaml:
# 12-sample global batches of 16 tokens, cosine schedule, an evaluation every 4 steps,
# periodic checkpoints every 2 steps, metrics with the sample ids of every step.
# A script whose checks hold for either model sets CK_MODEL=${RT_CKPT_MODEL:-gpt2} before
# calling it; CK_MODEL=t5 makes ck_make_data_t5's data instead (the same run configuration).
ck_make_data() {
    case "${CK_MODEL:-gpt2}" in
    gpt2) ck_make_data_gpt2 ;;
    t5) ck_make_data_t5 ;;
    *) fail "model '$CK_MODEL' (RT_CKPT_MODEL): expected gpt2 or t5" ;;
    esac
}

ck_make_data_gpt2() {
    local demo="$CK_HERE/../../cli/demo"
    "$R" init --out "$S/base" --vocab 50257 --positions 32 --embd 16 --layers 2 --heads 2 \
        >"$S/init.log" 2>&1 || fail_log "$S/init.log" "ringtune init failed"
    "$R" prep --out "$S/corpus.h5" --val-ratio 0.1 --delimiter '' --quiet \
        "$demo/legal-train.txt" "$demo/legal-val.txt" >"$S/prep.log" 2>&1 ||
        fail_log "$S/prep.log" "ringtune prep failed"
    cat >"$S/run.yaml" <<EOF
model: {path: $S/base}
data: {corpus: $S/corpus.h5, seq_len: 16, seed: 3}
train: {global_batch: 12, micro_batch: 1, max_steps: 8, seed: 5}
optim: {lr: 1.0e-3, warmup_steps: 2, schedule: cosine, weight_decay: 0.1}
eval: {every_steps: 4, max_batches: 4}
output: {dir: $S/out, log_every: 1, log_samples: true}
checkpoint: {every_steps: 2, keep_last: null}
dist: {threads_per_rank: 1}
EOF
    say "made model $S/base, corpus $S/corpus.h5 ($(grep -o '[0-9]* documents, [0-9]* tokens' \
        "$S/prep.log" | head -1)), config $S/run.yaml"
}

# ck_make_data_t5: a tiny random T5 (32128-token vocabulary, d_model 16, one encoder and one
# decoder block: 0.5 M parameters) with the bundled T5 tokenizer in $S/base, a pairs corpus of
# the demo's first 300 English-German pairs (cli/demo/pairs_en_de.jsonl, sources prefixed
# "translate English to German: ", both sides cut to 32 tokens, 10% validation) in
# $S/corpus.h5, and $S/run.yaml as ck_make_data_gpt2's with data.task seq2seq (pools of 4
# global batches grouped by length; evaluations compute loss and perplexity, no generation).
ck_make_data_t5() {
    local demo="$CK_HERE/../../cli/demo"
    "$R" init --arch t5 --out "$S/base" --vocab 32128 --embd 16 --d-kv 4 --d-ff 32 --layers 1 \
        --heads 2 >"$S/init.log" 2>&1 || fail_log "$S/init.log" "ringtune init --arch t5 failed"
    cp "$demo/tokenizers/t5/spiece.model" "$demo/tokenizers/t5/tokenizer.json" "$S/base/"
    head -n 300 "$demo/pairs_en_de.jsonl" >"$S/pairs.jsonl"
    "$R" prep --tokenizer "$S/base" --out "$S/corpus.h5" --format jsonl --source-field en \
        --target-field de --source-prefix "translate English to German: " --max-source-len 32 \
        --max-target-len 32 --val-ratio 0.1 --quiet "$S/pairs.jsonl" >"$S/prep.log" 2>&1 ||
        fail_log "$S/prep.log" "ringtune prep (pairs) failed"
    cat >"$S/run.yaml" <<EOF
model: {path: $S/base}
data: {corpus: $S/corpus.h5, task: seq2seq, seed: 3, length_pool: 4}
train: {global_batch: 12, micro_batch: 1, max_steps: 8, seed: 5}
optim: {lr: 1.0e-3, warmup_steps: 2, schedule: cosine, weight_decay: 0.1}
eval: {every_steps: 4, max_batches: 4, generate: {max_examples: 0}}
output: {dir: $S/out, log_every: 1, log_samples: true}
checkpoint: {every_steps: 2, keep_last: null}
dist: {threads_per_rank: 1}
EOF
    say "made T5 model $S/base, a corpus of 300 pairs $S/corpus.h5, config $S/run.yaml"
}

# ---- running --------------------------------------------------------------------------------

# mpi_cmd NP: the mpirun command line for NP ranks of `ringtune train` (in array CK_CMD); the
# environment variable RINGTUNE_CKPT_FAULT, when set, is exported to every rank; the array
# CK_WRAP, when set, is a command each rank runs ringtune through.
CK_WRAP=()
mpi_cmd() {
    CK_CMD=(timeout -k 10 "$CK_TIMEOUT" "$CK_MPIEXEC" "${CK_MPIFLAGS[@]}" -n "$1")
    if [ -n "${RINGTUNE_CKPT_FAULT:-}" ]; then CK_CMD+=(-x RINGTUNE_CKPT_FAULT); fi
    CK_CMD+=("${CK_WRAP[@]}" "$R" train)
}

# train NP LOG ARGS...: runs `ringtune train ARGS...` on NP ranks, stdout and stderr to LOG;
# sets RC (never fails by itself: the caller asserts on RC).
train() {
    local np=$1 log=$2
    shift 2
    mpi_cmd "$np"
    RC=0
    "${CK_CMD[@]}" "$@" >"$log" 2>&1 || RC=$?
    if [ "$RC" = 124 ]; then say "note: timeout stopped the run after ${CK_TIMEOUT}s ($log)"; fi
    return 0
}

# train_ok NP LOG ARGS...: as train, and fails unless the run exits 0.
train_ok() {
    local log=$2
    train "$@"
    [ "$RC" = 0 ] || fail_log "$log" "ringtune train exited $RC, expected 0 (log $log)"
}

# train_bg NP LOG ARGS...: starts the run in the background; BG_PID is the pid of its
# `timeout` (the parent of mpirun).
train_bg() {
    local np=$1 log=$2
    shift 2
    mpi_cmd "$np"
    "${CK_CMD[@]}" "$@" >"$log" 2>&1 &
    BG_PID=$!
    CK_BG_PIDS+=("$BG_PID")
}

# rank_pids PATTERN: the pids of the ringtune rank processes whose command line contains PATTERN
# (not mpirun, not timeout), as "RANK:PID" lines sorted by rank (OMPI_COMM_WORLD_RANK of each).
rank_pids() {
    local p comm rank
    for p in $(pgrep -f -- "$1" || true); do
        comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
        [ "$comm" = ringtune ] || continue
        rank=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
        [ -n "$rank" ] && echo "$rank:$p"
    done | sort -n
}

# ---- background runs and signals ----------------------------------------------------------

# steps_logged OUT: how many train steps OUT/metrics.jsonl holds.
steps_logged() {
    local n
    n=$(grep -c '"loss"' "$1/metrics.jsonl" 2>/dev/null) || n=0
    echo "$n"
}

# wait_steps OUT N: waits until N steps are logged (fails if the run ends, or after the bound of a
# whole run, CK_TIMEOUT: a fixed few seconds would fail on a loaded machine or under ASan).
wait_steps() {
    local deadline=$((SECONDS + CK_TIMEOUT))
    while [ "$(steps_logged "$1")" -lt "$2" ]; do
        kill -0 "$BG_PID" 2>/dev/null || fail "the run ended before logging $2 steps"
        [ $SECONDS -lt $deadline ] || fail "no $2 steps logged in $1 after $CK_TIMEOUT s"
        sleep 0.05
    done
}

# pid_of_rank PATTERN RANK: the pid of that rank's ringtune process.
pid_of_rank() {
    local pids pid
    pids=$(rank_pids "$1")
    pid=$(sed -n "s/^$2://p" <<<"$pids")
    [ -n "$pid" ] || fail "no ringtune process of rank $2 found (have: $(tr '\n' ' ' <<<"$pids"))"
    echo "$pid"
}

# wait_bg: waits for the background run; sets RC.
wait_bg() {
    RC=0
    wait "$BG_PID" || RC=$?
}

# ---- assertions -----------------------------------------------------------------------------

# expect_rc WANT LOG WHAT: fails unless RC is WANT.
expect_rc() {
    [ "$RC" = "$1" ] || fail_log "$2" "$3: exit code $RC, expected $1"
    say "$3: exit code $RC as expected"
}

# expect_grep REGEX LOG WHAT: fails unless LOG matches the extended REGEX; prints the match.
expect_grep() {
    local line
    line=$(grep -E -m1 -- "$1" "$2") || fail_log "$2" "$3: the output lacks /$1/"
    say "$3: found: $line"
}

# latest_of OUT: the step directory name in OUT/latest (fails when there is none).
latest_of() {
    [ -f "$1/latest" ] || fail "$1/latest does not exist"
    local name
    name=$(tr -d '\n' <"$1/latest")
    [[ "$name" =~ ^step-[0-9]{8}$ ]] || fail "$1/latest holds '$name', not a step directory name"
    echo "$name"
}

# expect_latest OUT NAME: OUT/latest names NAME and that checkpoint is complete.
expect_latest() {
    local got
    got=$(latest_of "$1")
    [ "$got" = "$2" ] || fail "$1/latest names $got, expected $2"
    expect_complete "$1/$got"
    say "latest = $got (complete)"
}

# expect_complete STEP_DIR: manifest.pb decodes, every shard it lists exists with its recorded
# size, and (when h5dump is installed) each shard opens as HDF5.
expect_complete() {
    local out f
    out=$(python3 "$CK_TOOL" manifest "$1") || fail "$1 is not a complete checkpoint: $out"
    if command -v h5dump >/dev/null; then
        for f in "$1"/shard-*.h5; do
            h5dump -H "$f" >/dev/null 2>&1 || fail "$f does not open as HDF5 (h5dump -H)"
        done
    fi
    say "  $1: $out"
}

# expect_no_leftovers OUT: no step-*.tmp / step-*.old directory in OUT.
expect_no_leftovers() {
    local left
    left=$(find "$1" -maxdepth 1 \( -name 'step-*.tmp' -o -name 'step-*.old' \) -printf '%f ')
    [ -z "$left" ] || fail "leftovers of an interrupted save in $1: $left"
    say "no step-*.tmp / step-*.old in $1"
}

# expect_same_metrics REF NEW: NEW's losses (and samples) bit-identical to REF's.
expect_same_metrics() {
    local out
    out=$(python3 "$CK_TOOL" compare "$1" "$2") || fail "$2 differs from the reference $1: $out"
    say "$out"
}

# step_dirs OUT: the committed step directory names, space-separated.
step_dirs() {
    find "$1" -maxdepth 1 -name 'step-*' ! -name '*.tmp' ! -name '*.old' -printf '%f\n' |
        sort | tr '\n' ' '
}

# expect_resume_4_to_3 DIR REF YAML [overrides...]: DIR holds a finished 2-rank run; its
# checkpoints after step 4 and final/ are dropped, its metrics cut to step 4, and the run resumed
# on 3 ranks must log the resume and end with REF's losses and samples (within 1e-6).
expect_resume_4_to_3() {
    local dir=$1 ref=$2 yaml=$3
    shift 3
    find "$dir" -maxdepth 1 -name 'step-*' ! -name step-00000004 ! -name 'step-0000000[0-3]' \
        -exec rm -rf {} +
    rm -rf "$dir/final"
    echo step-00000004 >"$dir/latest"
    python3 - "$dir/metrics.jsonl" <<'PY'
import json, sys
p = sys.argv[1]
keep = [l for l in open(p) if json.loads(l)["step"] <= 4]
open(p, "w").writelines(keep)
PY
    train_ok 3 "$dir.resume.log" "$yaml" "output.dir=$dir" "$@" --resume latest
    expect_grep "resumed from .*step-00000004: step 4, 2 shards written by 2 ranks, now 3 ranks" \
        "$dir.resume.log" "resume"
    local out
    out=$(python3 "$CK_TOOL" compare "$ref" "$dir/metrics.jsonl" 1e-6) ||
        fail "the resumed run differs from the uninterrupted one: $out"
    say "resumed on 3 ranks vs uninterrupted on 1: $out"
}
