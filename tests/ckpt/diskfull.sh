#!/usr/bin/env bash
# A checkpoint that does not fit on the disk: output.dir is a tmpfs sized so that the first
# checkpoint (step 2) fits and the second (step 4) does not. The run must fail cleanly (exit 1)
# with a message saying the checkpoint was not saved, `latest` must still name the complete step
# 2, and a resume from a copy of the directory on a roomy disk must leave no step-*.tmp and
# finish with the losses of an uninterrupted run.
# Without permission to mount (not root), or with RT_CKPT_NO_MOUNT=1, the same is done with
# `prlimit --fsize` on the ranks (a per-file limit of half a shard, SIGXFSZ ignored so that the
# write fails with EFBIG) on a run resumed from step 2.
# The exit code and the message are checked softly: the state on disk and the resume are checked
# even when the failing run crashed, and the test fails at the end.
# usage: diskfull.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init diskfull "$@"
ck_make_data

NP=2
MNT="$S/small"
MOUNTED=0
SOFT=() # failed soft checks

unmount() {
    if [ "$MOUNTED" = 1 ]; then
        umount "$MNT" && MOUNTED=0 && say "unmounted $MNT"
    fi
}
CK_CLEANUP_HOOK=unmount

# soft MESSAGE: records a failed check and goes on.
soft() {
    printf '[%s] FAIL (reported at the end): %s\n' "$CK_NAME" "$*" >&2
    SOFT+=("$*")
}

say "== reference: 8 steps at $NP ranks with room to spare"
train_ok "$NP" "$S/ref.log" "$S/run.yaml" "output.dir=$S/ref"
ckpt_kb=$(du -sk "$S/ref/step-00000002" | cut -f1)
shard_bytes=$(stat -c %s "$S/ref/step-00000002/shard-00000-of-00002.h5")
other_kb=$(du -sk --exclude='step-*' --exclude=final "$S/ref" | cut -f1)
say "one checkpoint takes $ckpt_kb KiB (shard 0: $shard_bytes bytes); config and metrics $other_kb KiB"

out="$MNT/out"
mkdir -p "$MNT"
# room for one checkpoint, the metrics and half of a second checkpoint
size_kb=$((ckpt_kb + ckpt_kb / 2 + other_kb + 64))
mode=tmpfs
echo "not tried (RT_CKPT_NO_MOUNT=1)" >"$S/mount.err"
if [ "${RT_CKPT_NO_MOUNT:-0}" != 1 ] &&
    mount -t tmpfs -o "size=${size_kb}k" tmpfs "$MNT" 2>"$S/mount.err"; then
    MOUNTED=1
    say "mounted a ${size_kb} KiB tmpfs on $MNT"
    train "$NP" "$S/full.log" "$S/run.yaml" "output.dir=$out"
else
    mode=prlimit
    say "NOTE: mount -t tmpfs: $(tr '\n' ' ' <"$S/mount.err"); falling back to prlimit --fsize"
    # step 2 is saved without a limit (train.max_steps=2 would change the cosine schedule, so
    # the run is killed at its 2nd save instead), then the resumed run may write no file larger
    # than half a shard
    RINGTUNE_CKPT_FAULT="0:before-data:2" train "$NP" "$S/first.log" "$S/run.yaml" "output.dir=$out"
    expect_latest "$out" step-00000002
    limit=$((shard_bytes / 2))
    # on the ranks only: mpirun's own PMIx segments are larger than the limit
    # shellcheck disable=SC2016
    CK_WRAP=(bash -c 'trap "" XFSZ && exec prlimit --fsize="$RT_FSIZE" "$0" "$@"')
    export RT_FSIZE=$limit
    train "$NP" "$S/full.log" "$S/run.yaml" "output.dir=$out" --resume latest
    CK_WRAP=()
    say "resumed from step 2 under prlimit --fsize=$limit"
fi

say "== the run whose 2nd checkpoint does not fit ($mode): exit code $RC"
if [ "$RC" != 1 ]; then
    show_log "$S/full.log" 12
    soft "the run on a full disk exited $RC, expected 1 (a clean failure; log $S/full.log)"
fi
if line=$(grep -E -m1 "checkpoint .*step-00000004 not saved" "$S/full.log"); then
    say "error message: $line"
else
    soft "no 'checkpoint ...step-00000004 not saved' message in $S/full.log"
fi
if [ "$mode" = tmpfs ]; then cause="not enough space|No space left on device"; else cause="file size limit|File too large"; fi
if grep -Eq "$cause" "$S/full.log"; then
    say "the cause is named: $cause"
else
    soft "the message does not name the cause '$cause'"
fi
if grep -q "checkpoint: saved .*step-00000004" "$S/full.log"; then
    fail_log "$S/full.log" "step 4 claims to be saved"
fi
[ ! -e "$out/step-00000004" ] || fail "$out/step-00000004 exists although its save failed"
expect_latest "$out" step-00000002
if [ "$mode" = tmpfs ]; then
    say "disk after: $(df -k "$MNT" | awk 'NR == 2 {print $3 " KiB used of " $2}')"
fi
say "in $out now: $(find "$out" -mindepth 1 -maxdepth 1 -printf '%f ')"

say "== resume from a copy of $out on the big disk"
copy="$S/copy"
cp -a "$out" "$copy"
unmount
# `latest` holds a name, not a path: it resolves inside the copy
train_ok "$NP" "$S/resume.log" "$S/run.yaml" "output.dir=$copy" --resume latest
expect_grep "resumed from .*step-00000002: step 2" "$S/resume.log" "resume"
expect_no_leftovers "$copy"
expect_latest "$copy" step-00000008
expect_same_metrics "$S/ref/metrics.jsonl" "$copy/metrics.jsonl"

if [ ${#SOFT[@]} -gt 0 ]; then
    fail "${#SOFT[@]} check(s) failed: $(printf '%s; ' "${SOFT[@]}")"
fi
say "disk full: the failed save left step 2 intact and resumable"
