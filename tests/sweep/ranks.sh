#!/usr/bin/env bash
# The same small sweep (a random search of 4 trials over the learning rate and weight decay,
# successive halving at 2, 4 and 8 steps) at 1, 2 and 4 ranks with 1 or 2 ranks per trial gives
# the same trials, the same prunings and the same table, the metrics within 1e-5 relative (a
# trial's results do not depend on the group that ran it; 2-rank trials sum in another order).
# Usage: ranks.sh RINGTUNE_BINARY SCRATCH_DIR (tests/ckpt/common.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
ck_init sweep_ranks "$@"
sw_make_data
cat >"$S/sweep.yaml" <<YAML
base_config: run.yaml
method: random
trials: 4
seed: 5
space:
  optim.lr: {log_uniform: [3.0e-3, 3.0e-2]}
  optim.weight_decay: {choice: [0.0, 0.1]}
metric: val_loss
budget: {policy: asha, min_steps: 2, max_steps: 8, eta: 2}
YAML
shapes=(1:1 2:1 2:2 4:1 4:2)
# the sanitizer build runs the shapes with the most threads and messages (each sweep there takes
# about 4 times as long); the Release build checks every shape
[ "${RT_SANITIZED:-0}" = 1 ] && shapes=(1:1 4:1 4:2)
for pk in "${shapes[@]}"; do
    np=${pk%:*} k=${pk#*:}
    sweep_ok "$np" "$S/np$np-k$k.log" "$S/sweep.yaml" --ranks-per-trial "$k" --out "$S/np$np-k$k"
    say "np $np, $k rank(s) per trial: $SW_SECONDS s"
done
sed -n '/^| rank/,/^$/p' "$S/np1-k1.log"
out=$(python3 "$SW_TOOL" asha "$S/np1-k1" 2) || fail "the prunings: $out"
say "successive halving: $out"
for pk in "${shapes[@]:1}"; do
    np=${pk%:*} k=${pk#*:}
    tol=0
    [ "$k" = 1 ] || tol=1e-5
    expect_same_results "$S/np1-k1" "$S/np$np-k$k" "$tol"
done
