#!/usr/bin/env bash
# Crash consistency of the checkpoint commit protocol (dist/checkpoint.c rt_ckpt_save): a rank is
# killed (SIGKILL, through RINGTUNE_CKPT_FAULT) at each phase of the run's 2nd save (step 4; step
# 2 was committed by the 1st). Afterwards `latest` must still name a complete checkpoint, a
# `--resume latest` run must clean the leftover step-*.tmp, finish (exit 0) with every later
# save committed, and reproduce the losses and sample ids of an uninterrupted run at the same
# rank count bit for bit.
# Then damaged checkpoints: the newest checkpoint (`latest`, step 4 of a run cut back to it) with
# a truncated shard, a flipped byte in a shard's data, a truncated manifest or a flipped byte in
# the manifest is refused by `--resume latest` at 2 ranks (exit 1, no rank left waiting) with a
# message naming the file and what is wrong; nothing in output.dir changes (the damaged files
# are neither removed nor repaired, the step-2 checkpoint, `latest` and metrics.jsonl stay as
# they were); restored, the checkpoint resumes to the reference's end bit for bit.
# RT_CKPT_MODEL=t5 runs all of it on a tiny T5 and a pairs corpus (common.sh ck_make_data_t5)
# instead of the tiny GPT-2.
# usage: faults.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
CK_MODEL=${RT_CKPT_MODEL:-gpt2}
if [ "$CK_MODEL" = gpt2 ]; then ck_init faults "$@"; else ck_init "faults_$CK_MODEL" "$@"; fi
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

# flip_byte FILE: inverts the byte in the middle of FILE.
flip_byte() {
    python3 - "$1" <<'PY'
import os, sys
p = sys.argv[1]
off = os.path.getsize(p) // 2
with open(p, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0xFF]))
PY
}

# tree_sums DIR: every file under DIR with its sha256 (a listing to compare before and after).
tree_sums() {
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

# damaged_case WHAT FILE REGEX: damages FILE (a path under step-00000004 of $S/dmg) as WHAT says
# (truncate: to half its size; flip: a byte in the middle), then `--resume latest` at 2 ranks
# must exit 1 with a message matching REGEX, change nothing in $S/dmg, and leave step 2
# complete; FILE is restored afterwards.
damaged_case() {
    local what=$1 rel=$2 re=$3 log="$S/dmg-$1-${2%%.*}.log"
    local f="$S/dmg/step-00000004/$rel"
    say "== damaged checkpoint: $what $rel of latest (step 4)"
    cp -a "$f" "$S/dmg.orig"
    case "$what" in
    truncate) truncate -s $(($(stat -c %s "$f") / 2)) "$f" ;;
    flip) flip_byte "$f" ;;
    esac
    tree_sums "$S/dmg" >"$S/dmg.before"
    train 2 "$log" "$S/run.yaml" "output.dir=$S/dmg" --resume latest
    expect_rc 1 "$log" "resume from a checkpoint with $what $rel"
    expect_grep "$re" "$log" "$what $rel"
    tree_sums "$S/dmg" >"$S/dmg.after"
    diff "$S/dmg.before" "$S/dmg.after" >&2 ||
        fail_log "$log" "the refused resume changed $S/dmg (diff above)"
    [ "$(latest_of "$S/dmg")" = step-00000004 ] || fail "latest moved"
    expect_complete "$S/dmg/step-00000002"
    say "nothing in $S/dmg changed; step 2 complete"
    mv "$S/dmg.orig" "$f"
}

reference 2
reference 3

# damaged checkpoints: the 2-rank reference cut back to step 4 (as a run stopped after its 2nd
# save would have left it), in its own output.dir (a copy: the resume warns that the checkpoint's
# run had another output.dir)
cp -a "$S/ref-2" "$S/dmg"
rm -rf "$S/dmg/step-00000006" "$S/dmg/step-00000008" "$S/dmg/final"
echo step-00000004 >"$S/dmg/latest"
python3 - "$S/dmg/metrics.jsonl" <<'PY'
import json, sys
p = sys.argv[1]
keep = [l for l in open(p) if json.loads(l)["step"] <= 4]
open(p, "w").writelines(keep)
PY
step4="$S/dmg/step-00000004"
damaged_case truncate shard-00001-of-00002.h5 \
    "rank 1: $step4/shard-00001-of-00002.h5: checkpoint shard is [0-9]+ bytes, the manifest says [0-9]+ \(truncated"
damaged_case flip shard-00000-of-00002.h5 \
    "rank 0: $step4/shard-00000-of-00002.h5: .*checksum mismatch|rank 0: $step4/shard-00000-of-00002.h5: .*corrupt"
damaged_case truncate manifest.pb "$step4/manifest.pb: not a ringtune checkpoint manifest"
damaged_case flip manifest.pb "$step4/manifest.pb: manifest checksum mismatch"
train_ok 2 "$S/dmg-resume.log" "$S/run.yaml" "output.dir=$S/dmg" --resume latest
expect_grep "resumed from .*step-00000004: step 4" "$S/dmg-resume.log" "the restored checkpoint"
expect_same_metrics "$S/ref-2/metrics.jsonl" "$S/dmg/metrics.jsonl"
rm -rf "$S/dmg"

# the data phases hit every rank (a non-zero rank and rank 0); the commit phases run on rank 0
fault_case before-data 2 1
fault_case mid-data 3 2
fault_case before-agree 2 0
fault_case before-manifest 2 0
fault_case before-rename 3 0
fault_case before-latest 2 0
say "$CK_MODEL: 4 damaged checkpoints refused naming the file, nothing changed; all 6 fault phases: latest stayed complete, resume finished bit-identical to the reference"
