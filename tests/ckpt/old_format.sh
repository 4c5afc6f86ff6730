#!/usr/bin/env bash
# A checkpoint written before the model interface (tests/fixtures/ckpt_v_old, made by
# tests/fixtures/gen_ckpt_v_old.sh) still inspects, verifies, exports and resumes, bit for bit:
# resuming it at 1 rank for two more steps gives the losses, validation losses and exported
# weights that the old build gave.
#
#   tests/ckpt/old_format.sh RINGTUNE SCRATCH [FIXTURE_DIR]
#   tests/ckpt/old_format.sh --write RINGTUNE SCRATCH FIXTURE_DIR    (the generator's mode)
set -euo pipefail
write=0
if [ "${1:-}" = --write ]; then write=1; shift; fi
R=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
S=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FX=${3:-$HERE/../fixtures/ckpt_v_old}
FX=$(cd "$FX" && pwd)
say() { printf '[old_format] %s\n' "$*"; }
fail() { printf '[old_format] FAIL: %s\n' "$*" >&2; exit 1; }
rm -rf "$S" && mkdir -p "$S"
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cp -r "$FX/step-00000004" "$S/ckpt"
cp "$HERE/../fixtures/corpus/v0.h5" "$S/corpus.h5"
if [ $write = 0 ]; then
    "$R" inspect "$S/ckpt" --verify >"$S/inspect.log" 2>&1 || { cat "$S/inspect.log"; fail "inspect --verify"; }
    grep -q "2 layers, 2 heads, n_embd 8, n_inner 32, vocab 1001, n_positions 16, tied head" \
        "$S/inspect.log" || { cat "$S/inspect.log"; fail "inspect does not describe the model"; }
    grep -q "task head lm (first manifest format: no model_desc)" "$S/inspect.log" ||
        { cat "$S/inspect.log"; fail "inspect does not name the task head"; }
    say "inspect --verify: $(grep -m1 '^model' "$S/inspect.log")"
    "$R" export "$S/ckpt" "$S/exported" >"$S/export.log" 2>&1 || { cat "$S/export.log"; fail export; }
    say "export: $(tail -1 "$S/export.log")"
fi
cat >"$S/run.yaml" <<YAML
model: {path: $S/ckpt}
data: {corpus: $S/corpus.h5, seq_len: 4, seed: 1}
train: {global_batch: 2, micro_batch: 1, max_steps: 6, seed: 2}
optim: {lr: 1.0e-2, warmup_steps: 1}
eval: {every_steps: 2}
output: {dir: $S/out, log_every: 1}
checkpoint: {every_steps: 2, keep_last: 1}
dist: {threads_per_rank: 1}
YAML
rc=0
${RT_MPIEXEC:-mpirun} --allow-run-as-root --oversubscribe -np 1 "$R" train "$S/run.yaml" \
    --resume "$S/ckpt" >"$S/train.log" 2>&1 || rc=$?
[ $rc = 0 ] || { tail -20 "$S/train.log"; fail "resume exited $rc"; }
# the figures without the timings (ms_*, tokens_per_s, mfu, peak_gflops vary run to run)
python3 - "$S/out/metrics.jsonl" >"$S/got.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    keep = [k for k in ("step", "loss", "lr", "grad_norm", "val_loss") if k in d]
    # the raw text of each figure (%.17g): compared as text, bit for bit
    parts = []
    for k in keep:
        s = line.split('"%s": ' % k, 1)[1]
        parts.append("%s=%s" % (k, s.split(",", 1)[0].split("}", 1)[0].strip()))
    print(" ".join(parts))
PY
sha=$(sha256sum "$S/out/final/model.safetensors" | cut -d' ' -f1)
if [ $write = 1 ]; then
    cp "$S/got.jsonl" "$FX/expected.txt"
    echo "$sha" >"$FX/expected.sha256"
    say "wrote $FX/expected.txt ($(wc -l <"$FX/expected.txt") lines) and expected.sha256"
    exit 0
fi
say "resumed steps 5-6: $(tr '\n' ';' <"$S/got.jsonl")"
if [ "${RT_BITEXACT:-1}" = 1 ]; then
    # a Release build computes what the Release build of the old code computed, bit for bit
    diff "$FX/expected.txt" "$S/got.jsonl" >"$S/diff.txt" ||
        { cat "$S/diff.txt"; fail "resumed metrics differ from the old build's"; }
    [ "$sha" = "$(cat "$FX/expected.sha256")" ] ||
        fail "exported weights sha256 $sha, the old build gave $(cat "$FX/expected.sha256")"
    say "metrics and exported weights (sha256 $sha) identical to the old build's"
else
    # another build type (Debug, sanitizers) rounds differently: the same figures within 1e-5
    python3 - "$FX/expected.txt" "$S/got.jsonl" <<'PY2' || fail "resumed metrics differ from the old build's"
import sys
a = [l.split() for l in open(sys.argv[1])]
b = [l.split() for l in open(sys.argv[2])]
assert len(a) == len(b), "%d lines, expected %d" % (len(b), len(a))
worst = 0.0
for la, lb in zip(a, b):
    for fa, fb in zip(la, lb):
        ka, va = fa.split("="); kb, vb = fb.split("=")
        assert ka == kb, (ka, kb)
        d = abs(float(va) - float(vb)) / max(abs(float(va)), 1e-30)
        worst = max(worst, d)
print("[old_format] largest relative difference to the old Release build: %.3g" % worst)
sys.exit(0 if worst < 1e-5 else 1)
PY2
fi
# the checkpoint the resumed run wrote is in the new format: it describes the architecture and
# the head in model_desc
"$R" inspect "$S/out/step-00000006" >"$S/inspect_new.log" 2>&1 || { cat "$S/inspect_new.log"; fail "inspect of the new checkpoint"; }
grep -qx "  task head lm" "$S/inspect_new.log" || { cat "$S/inspect_new.log"; fail "the new checkpoint lacks model_desc's head"; }
say "the resumed run's checkpoint names its head in model_desc: $(grep -x '  task head lm' "$S/inspect_new.log")"
say PASS
