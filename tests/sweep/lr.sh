#!/usr/bin/env bash
# A grid over the learning rate on a toy where the answer is clear finds it, and failing trials
# are recorded while the sweep goes on. The tiny GPT-2 starts at the uniform loss (ln 50257 =
# 10.82); Adam without clipping and with eps 1e-30 moves every weight by about lr per step, so
#   lr 1e-8 cannot improve the loss, lr 0.1 is the sane one and wins, lr 1.0 makes it worse;
#   with beta2 0 (the second moment of the last gradient alone) lr >= 0.1 diverges to a
#   non-finite loss (the trial fails at step 4, naming it), and lr -0.1 is not a valid run
#   config (the trial fails before it runs, naming optim.lr).
# The best trial's best.yaml, trained from scratch, reproduces its loss.
# Usage: lr.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
ck_init sweep_lr "$@"
sw_make_data
cat >"$S/sweep.yaml" <<YAML
base_config: run.yaml
base: {optim: {eps: 1.0e-30, clip_norm: 0.0}}
method: grid
space:
  optim.lr: [-0.1, 1.0e-8, 0.1, 1.0]
  optim.beta2: [0.999, 0.0]
budget: {policy: fixed, steps: 6}
YAML
sweep_ok 2 "$S/sweep.log" "$S/sweep.yaml" --out "$S/out"
say "8 trials on 2 ranks: $SW_SECONDS s"
sed -n '/^| rank/,/^$/p' "$S/sweep.log"
python3 - "$S/out" <<'PY' || fail "the results are not the expected ones"
import json, re, sys
out = sys.argv[1]
res = {r["trial"]: r for r in map(json.loads, open(f"{out}/results.jsonl"))}
def before(t):
    log = open(f"{out}/trial-{t:03d}/train.log").read()
    return float(re.search(r"validation before: loss ([0-9.]+)", log).group(1))
# trials: (lr, beta2) = 0 (-0.1, .999) 1 (-0.1, 0) 2 (1e-8, .999) 3 (1e-8, 0) 4 (0.1, .999)
# 5 (0.1, 0) 6 (1.0, .999) 7 (1.0, 0)
ok = [t for t, r in res.items() if r["status"] == "done"]
best = min(ok, key=lambda t: res[t]["best"])
checks = [
    (best == 4, f"the best trial is {best}, expected 4 (lr 0.1, beta2 0.999)"),
    (all(res[t]["status"] == "failed" and "invalid value for 'optim.lr'" in res[t]["error"]
         for t in (0, 1)), "lr -0.1 fails naming optim.lr"),
    (all(res[t]["status"] == "failed" and "are not finite" in res[t]["error"] for t in (5, 7)),
     "lr 0.1 and 1.0 with beta2 0 fail on a non-finite loss"),
    (abs(res[2]["best"] - before(2)) < 1e-4, f"lr 1e-8 keeps the loss {before(2)}: {res[2]['best']}"),
    (res[6]["best"] > before(6), f"lr 1.0 makes the loss worse than {before(6)}: {res[6]['best']}"),
    (res[4]["best"] < before(4) - 1.0, f"lr 0.1 improves the loss by > 1: {res[4]['best']}"),
]
for good, what in checks:
    print(("ok: " if good else "FAILED: ") + what)
sys.exit(0 if all(g for g, _ in checks) else 1)
PY
grep -Eq '^  lr: 0\.1$' "$S/out/best.yaml" && grep -Eq '^  beta2: 0\.999$' "$S/out/best.yaml" ||
    fail "$S/out/best.yaml does not hold lr 0.1 and beta2 0.999"
# best.yaml is a fresh run of the best trial: the same loss (it ran on one rank, so does this)
train_ok 1 "$S/best.log" "$S/out/best.yaml"
python3 - "$S/out" <<'PY' || fail "best.yaml does not reproduce the best trial"
import json, sys
out = sys.argv[1]
res = {r["trial"]: r for r in map(json.loads, open(f"{out}/results.jsonl"))}
vals = [json.loads(l)["val_loss"] for l in open(f"{out}/best/metrics.jsonl") if "val_loss" in l]
print(f"best.yaml from scratch: val_loss {vals[-1]!r}, the trial's {res[4]['best']!r}")
sys.exit(0 if vals[-1] == res[4]["best"] else 1)
PY
say "best.yaml reproduces trial 4's val_loss bit for bit"
