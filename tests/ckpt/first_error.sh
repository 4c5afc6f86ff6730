#!/usr/bin/env bash
# The first error is the one reported: a corpus read that fails on one rank (injected through
# RINGTUNE_TRAIN_FAULT) while the others have gradient reductions in flight (dist.overlap: true)
# must be reported as that read error, not as the ring operations abandoned on the way out
# ("ring: handle destroyed with an operation in flight"); with overlap off too.
# usage: first_error.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init first_error "$@"
ck_make_data

export RINGTUNE_TRAIN_FAULT=1:3 # rank 1's first read of step 3
CK_MPIFLAGS+=(-x RINGTUNE_TRAIN_FAULT)
for overlap in true false; do
    log=$S/overlap-$overlap.log
    train 3 "$log" "$S/run.yaml" "output.dir=$S/out-$overlap" "dist.overlap=$overlap"
    expect_rc 1 "$log" "read failure on rank 1, overlap $overlap"
    expect_grep "^ringtune train: rank 1: .*corpus.h5: cannot read the training windows of step 3" \
        "$log" "overlap $overlap"
    if grep -n "handle destroyed\|ring:" "$log"; then
        fail_log "$log" "overlap $overlap: a ring cleanup message in the output"
    fi
    expect_latest "$S/out-$overlap" step-00000002
done
