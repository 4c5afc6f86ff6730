#!/usr/bin/env bash
# Budget policies on a learning-rate grid:
#  1. successive halving (ASHA's rungs at 2, 4, 8 steps, eta 2): at each rung exactly the best
#     half of the trials that reached it go on (checked against the results each rung
#     recorded), the rest are pruned there; a promoted trial continues from its own checkpoint,
#     on the schedule of the whole budget, so the winner's 8 steps equal a fresh 8-step run of
#     best.yaml bit for bit;
#  2. early stopping per trial (the trainer's, eval.early_stopping): lr 1.0 makes the first
#     evaluation worse and stops there; lr 0.03 runs its 12 steps.
# Usage: asha.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
ck_init sweep_asha "$@"
sw_make_data
cat >"$S/asha.yaml" <<YAML
base_config: run.yaml
method: grid
space:
  optim.lr: [1.0e-8, 1.0e-3, 1.0e-2, 3.0e-2, 0.1, 0.2]
budget: {policy: asha, min_steps: 2, max_steps: 8, eta: 2}
YAML
sweep_ok 2 "$S/asha.log" "$S/asha.yaml" --out "$S/asha"
say "6 trials, 3 rungs, on 2 ranks: $SW_SECONDS s"
sed -n '/^| rank/,/^$/p' "$S/asha.log"
out=$(python3 "$SW_TOOL" asha "$S/asha" 2) || fail "the prunings: $out"
say "successive halving: $out"
best=$(python3 -c "import json; r=[json.loads(l) for l in open('$S/asha/results.jsonl')]; \
print([x['trial'] for x in r if x['status'] == 'done'][0])")
[ "$best" = 4 ] || fail "the trial that ran the whole budget is $best, expected 4 (lr 0.1)"
d="$S/asha/trial-004"
for step in 2 4; do
    expect_grep "resumed from $d/step-0000000$step: step $step" "$d/train.log" \
        "trial 4 promoted past step $step"
done
train_ok 1 "$S/best.log" "$S/asha/best.yaml"
python3 - "$d/metrics.jsonl" "$S/asha/best/metrics.jsonl" <<'PY' || fail "the promoted trial differs from a fresh run"
import json, sys
def losses(p):
    return {d["step"]: d["loss"] for d in map(json.loads, open(p)) if "loss" in d}
a, b = losses(sys.argv[1]), losses(sys.argv[2])
print(f"trial 4 across its rungs: losses {[a[k] for k in sorted(a)][-2:]}, fresh run {[b[k] for k in sorted(b)][-2:]}")
sys.exit(0 if a == b and len(a) == 8 else 1)
PY
say "trial 4's 8 steps across 3 rungs equal a fresh 8-step run bit for bit"

cat >"$S/es.yaml" <<YAML
base_config: run.yaml
base: {eval: {every_steps: 2}}
method: grid
space:
  optim.lr: [0.03, 1.0]
budget: {policy: early_stopping, patience: 1, steps: 12}
YAML
sweep_ok 2 "$S/es.log" "$S/es.yaml" --out "$S/es"
sed -n '/^| rank/,/^$/p' "$S/es.log"
python3 - "$S/es" <<'PY' || fail "early stopping"
import json, sys
r = {x["trial"]: x for x in map(json.loads, open(f"{sys.argv[1]}/results.jsonl"))}
print(f"lr 0.03: {r[0]['status']} at step {r[0]['steps']}; lr 1.0: {r[1]['status']} at step {r[1]['steps']}")
sys.exit(0 if (r[0]["status"], r[0]["steps"], r[1]["status"], r[1]["steps"]) ==
         ("done", 12, "stopped_early", 2) else 1)
PY
expect_grep "early stopping at step 2" "$S/es/trial-001/train.log" "lr 1.0"
