#!/usr/bin/env bash
# A corpus that changes under a running `ringtune train` (2 ranks): with the test hook
# RINGTUNE_CORPUS_FAULT each rank truncates the corpus just before one of its token reads (as
# `truncate -s 0` or a half-written copy would). Before, HDF5 returned zeros past the end of the
# file, the zero chunks passed fletcher32 and the job trained on token 0 and exited 0.
#   - truncated to 0 bytes in step 4: exit 1, the message names the corpus and says it was
#     truncated, no final/ export, the step-2 checkpoint stays the latest and complete
#   - truncated to half: the same
# usage: corpus_changed.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init corpus_changed "$@"
ck_make_data
cp "$S/corpus.h5" "$S/corpus.orig"

NP=2
# the evaluation before training and 12-sample batches of micro_batch 1 at 2 ranks (6 token reads
# per rank per step): rank 0's read 30 is in step 4, after the step-2 checkpoint
for mode in truncate half; do
    say "== $mode the corpus at a rank's token read 30"
    cp "$S/corpus.orig" "$S/corpus.h5"
    out="$S/out-$mode"
    CK_WRAP=(env "RINGTUNE_CORPUS_FAULT=$mode:30")
    train "$NP" "$S/$mode.log" "$S/run.yaml" "output.dir=$out"
    CK_WRAP=()
    expect_rc 1 "$S/$mode.log" "corpus truncated ($mode) under the job"
    expect_grep "corpus $S/corpus.h5 was truncated from [0-9]+ to [0-9]+ bytes while this job read it" \
        "$S/$mode.log" "the message names the file and what changed"
    [ ! -e "$out/final" ] || fail_log "$S/$mode.log" "the job exported $out/final from damaged data"
    if grep -q "^step 8" "$S/$mode.log"; then fail_log "$S/$mode.log" "the job trained to the end"; fi
    expect_latest "$out" step-00000002
done
