#!/usr/bin/env bash
# Crash consistency of the checkpoint commit protocol (dist/checkpoint.c rt_ckpt_save): a rank is
# killed (SIGKILL, through RINGTUNE_CKPT_FAULT) at each phase of the run's 2nd save (step 4; step
# 2 was committed by the 1st). Afterwards `latest` must still name a complete checkpoint, a
# `--resume latest` run must clean the leftover step-*.tmp, finish (exit 0) with every later
# save committed, and reproduce the losses and sample ids of an uninterrupted run at the same
# rank count bit for bit.
# usage: faults.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init faults "$@"
ck_make_data

MAX_STEPS=8 # saves at steps 2, 4, 6 (periodic) and 8 (final)

# reference RANKS: an uninterrupted run, its metrics in $S/ref-RANKS/metrics.jsonl.
reference() {
    train_ok "$1" "$S/ref-$1.log" "$S/run.yaml" "output.dir=$S/ref-$1"
    expect_latest "$S/ref-$1" "$(printf 'step-%08d' "$MAX_STEPS")"
    say "reference at $1 ranks: $(grep -c '"loss"' "$S/ref-$1/metrics.jsonl") steps, saves: $(step_dirs "$S/ref-$1")"
}

# fault_case PHASE RANKS VICTIM: kills rank VICTIM of RANKS at PHASE of save 2, then checks the
# state on disk, resumes and compares with the reference at RANKS.
fault_case() {
    local phase=$1 np=$2 victim=$3
    local out="$S/$phase" log="$S/$phase.log" rlog="$S/$phase-resume.log"
    say "== $phase: rank $victim of $np killed at $phase of the 2nd save (step 4)"

    # 1. the faulted run dies
    RINGTUNE_CKPT_FAULT="$victim:$phase:2" train "$np" "$log" "$S/run.yaml" "output.dir=$out"
    [ "$RC" != 0 ] || fail_log "$log" "$phase: the run exited 0 although rank $victim was killed"
    expect_grep "RINGTUNE_CKPT_FAULT: rank $victim dies at $phase of save 2" "$log" \
        "$phase (exit $RC)"
    grep -q "saved .*step-00000002" "$log" || fail_log "$log" "$phase: step 2 was not saved first"

    # 2. what the crash left: latest still names step 2, which is complete
    expect_latest "$out" step-00000002
    if [ "$phase" = before-latest ]; then
        # the new directory was renamed into place, only `latest` was not moved yet
        [ -d "$out/step-00000004" ] || fail "$phase: step-00000004 should have been renamed into place"
        expect_complete "$out/step-00000004"
        expect_no_leftovers "$out"
    else
        [ -d "$out/step-00000004.tmp" ] ||
            fail "$phase: no step-00000004.tmp: the fault did not hit inside the save"
        [ ! -e "$out/step-00000004" ] || fail "$phase: step-00000004 exists although never committed"
        [ ! -e "$out/step-00000004.tmp/manifest.pb" ] || [ "$phase" = before-rename ] ||
            fail "$phase: the .tmp directory holds a manifest before the manifest phase"
        say "left behind: step-00000004.tmp with [$(find "$out/step-00000004.tmp" -mindepth 1 -printf '%f ')]"
    fi

    # 3. resume from latest: cleans the leftover, finishes, commits every later save
    train_ok "$np" "$rlog" "$S/run.yaml" "output.dir=$out" --resume latest
    expect_grep "resumed from .*step-00000002: step 2" "$rlog" "$phase resume"
    if [ "$phase" != before-latest ]; then
        expect_grep "removed 1 leftover" "$rlog" "$phase resume"
    fi
    expect_no_leftovers "$out"
    expect_latest "$out" "$(printf 'step-%08d' "$MAX_STEPS")"
    local s
    for s in 4 6; do expect_complete "$out/$(printf 'step-%08d' "$s")"; done
    say "saves now: $(step_dirs "$out")"

    # 4. the resumed run continues the uninterrupted one exactly
    expect_same_metrics "$S/ref-$np/metrics.jsonl" "$out/metrics.jsonl"
    rm -rf "$out" # passed: free the space (about 40 MB)
}

reference 2
reference 3
# the data phases hit every rank (a non-zero rank and rank 0); the commit phases run on rank 0
fault_case before-data 2 1
fault_case mid-data 3 2
fault_case before-agree 2 0
fault_case before-manifest 2 0
fault_case before-rename 3 0
fault_case before-latest 2 0
say "all 6 fault phases: latest stayed complete, resume finished bit-identical to the reference"
