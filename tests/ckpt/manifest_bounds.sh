#!/usr/bin/env bash
# Checksum-valid manifests with sizes a reader must not trust (tests/ckpt/ckpt_forge.c rewrites
# manifest.pb and recomputes every checksum in it). The reported fault: pieces of 1.6 M elements
# (wte of a 50257 x 64 model, one piece per tensor, piece_elems 4 Mi) passed `inspect --verify`,
# and a resume at another rank count wrote them into a 2^20-float scratch buffer (SIGSEGV; under
# ASan a heap-buffer-overflow). Now:
#   - the forged checkpoint is refused by `inspect --verify` and by a resume at 3 ranks (saved at
#     2), exit 1, with a message naming manifest.pb, piece_elems and the bound; no crash; the
#     checkpoint, `latest` and metrics.jsonl are left as they were
#   - the same checkpoint unforged resumes at 3 ranks (exit 0): the read path is reached
#   - other forged fields (total_params, overlapping shards, a shard file outside the directory,
#     a tensor beyond the buffer, a duplicate tensor, piece_elems 0) are refused by inspect with
#     the field named
# usage: manifest_bounds.sh RINGTUNE_BINARY CKPT_FORGE_BINARY SCRATCH_DIR
set -euo pipefail
FORGE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
set -- "$1" "$3"
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
ck_init manifest_bounds "$@"
[ -x "$FORGE" ] || fail "ckpt_forge binary $FORGE is not executable"
ck_make_data
"$R" init --out "$S/base64" --vocab 50257 --positions 32 --embd 64 --layers 1 --heads 2 \
    >"$S/init64.log" 2>&1 || fail_log "$S/init64.log" "ringtune init failed"
OVR=("model.path=$S/base64" train.max_steps=3 checkpoint.every_steps=2)

say "== a 2-rank run of a 50257 x 64 model: checkpoint at step 2"
train_ok 2 "$S/base.log" "$S/run.yaml" "output.dir=$S/out" "${OVR[@]}"
step="$S/out/step-00000002"
expect_complete "$step"
cp -a "$S/out" "$S/good"
rm -rf "$S/good/step-00000003"
echo step-00000002 >"$S/good/latest"

say "== forged: one piece per tensor, piece_elems 4194304 (checksums recomputed)"
cp -a "$S/good" "$S/forged"
"$FORGE" merge-pieces "$S/forged/step-00000002" 4194304 >"$S/forge.log" 2>&1 ||
    fail_log "$S/forge.log" "ckpt_forge failed"
expect_grep "params: piece \[0, [0-9]+\) of [0-9]+ elements" "$S/forge.log" "forged"
cp "$S/forged/step-00000002/manifest.pb" "$S/forged.pb"
cp "$S/forged/metrics.jsonl" "$S/forged.metrics"

RC=0
"$R" inspect "$S/forged/step-00000002" --verify >"$S/inspect.log" 2>&1 || RC=$?
expect_rc 1 "$S/inspect.log" "inspect --verify of the forged checkpoint"
expect_grep "manifest.pb: piece_elems 4194304, expected 1 to 1048576" "$S/inspect.log" \
    "inspect --verify of the forged checkpoint"

train 3 "$S/resume.log" "$S/run.yaml" "output.dir=$S/forged" "${OVR[@]}" --resume latest
expect_rc 1 "$S/resume.log" "resume of the forged checkpoint at 3 ranks"
expect_grep "manifest.pb: piece_elems 4194304, expected 1 to 1048576" "$S/resume.log" \
    "resume of the forged checkpoint at 3 ranks"
if grep -qE "AddressSanitizer|signal 11|Segmentation" "$S/resume.log"; then
    fail_log "$S/resume.log" "the forged resume crashed"
fi
expect_latest "$S/forged" step-00000002
cmp -s "$S/forged.pb" "$S/forged/step-00000002/manifest.pb" || fail "the refused resume changed the manifest"
cmp -s "$S/forged.metrics" "$S/forged/metrics.jsonl" || fail "the refused resume changed metrics.jsonl"
say "manifest, latest and metrics.jsonl unchanged by the refused resume"

say "== control: the unforged checkpoint resumes at 3 ranks"
cp -a "$S/good" "$S/control"
train_ok 3 "$S/control.log" "$S/run.yaml" "output.dir=$S/control" "${OVR[@]}" --resume latest
expect_grep "resumed from .*step-00000002: step 2, 2 shards written by 2 ranks, now 3 ranks" \
    "$S/control.log" "control"

# forged FIELD VALUE REGEX: that field forged is refused by inspect with REGEX in the message.
forged() {
    local d="$S/f-$1"
    rm -rf "$d"
    cp -a "$S/good/step-00000002" "$d"
    "$FORGE" set "$d" "$1" "$2" >"$S/forge-$1.log" 2>&1 || fail_log "$S/forge-$1.log" "ckpt_forge set $1"
    RC=0
    "$R" inspect "$d" --verify >"$S/inspect-$1.log" 2>&1 || RC=$?
    expect_rc 1 "$S/inspect-$1.log" "$1 = $2"
    expect_grep "$3" "$S/inspect-$1.log" "$1 = $2"
}
say "== other forged fields"
forged total_params 9999999999 "manifest.pb: .*expected to start at or after .* and end by total_params|shards end at"
forged shard1_lo 100 "manifest.pb: shards\[1\] .*range \[100, .*expected to start at"
forged shard0_file ../../escape.h5 "manifest.pb: shards\[0\]: file '../../escape.h5', expected a file name"
forged tensor0_offset 18446744073709551000 "manifest.pb: tensors\[0\] \(wte.weight\): elements \[18446744073709551000"
forged tensor1_name x "manifest.pb: tensor 'wte.weight' is listed twice"
forged piece_elems 0 "manifest.pb: piece_elems 0, expected 1 to 1048576"
