#!/usr/bin/env bash
# Data-parallel training step: `ringtune train` at P ranks with gradient-bucket overlap on and off,
# and the same per-rank work on 1 rank without communication (compute only). Prints one JSON
# document (benchmarks/benchlib.py header): per mode the step time, tokens/s, MFU and rank 0's
# phase times (forward, backward, communication wait, optimizer) as median and spread over steps
# 2..N; at the top the overlap-on tokens/s and MFU medians, the sgemm peak MFU is measured
# against, the fraction of communication hidden: 1 - (time blocked on communication after backward
# with overlap) / (the same without overlap), the goal verdict (>= 80% hidden) on it, and as a
# cross-check (off - on) / (off - compute only) of the median step times, with and without each
# mode's optimizer phase (with ZeRO-1 a rank of the P-rank runs updates a 1/P shard, the
# compute-only rank everything).
# usage: bench_train.sh [--model 124m|small] [--ranks P] [--steps N] [--threads T] [--work DIR]
#   --threads  threads per rank (dist.threads_per_rank; default 1)
#   --work     scratch directory (default a new /tmp/rt_bench_train.*, removed at the end)
# Environment: RINGTUNE, the ringtune binary (default build/cli/ringtune).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TC_NAME=bench_train
# shellcheck source=train_common.sh
source "$here/train_common.sh"
model=124m ranks=2 steps=5 work=""
usage() {
  echo "usage: $0 [--model 124m|small] [--ranks P] [--steps N] [--threads T] [--work DIR]" >&2
  exit 2
}
posint() { [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) [ $# -ge 2 ] || usage; model=$2; shift 2 ;;
    --ranks) [ $# -ge 2 ] || usage; posint "$2"; ranks=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; posint "$2"; steps=$2; shift 2 ;;
    --threads) [ $# -ge 2 ] || usage; posint "$2"; TC_THREADS=$2; shift 2 ;;
    --work) [ $# -ge 2 ] || usage; work=$2; shift 2 ;;
    *) usage ;;
  esac
done
tc_model "$model" || usage
[ "$steps" -ge 2 ] || { echo "bench_train: --steps needs at least 2 (statistics over steps 2..N)" >&2; exit 2; }
TC_WORK=${work:-$(mktemp -d /tmp/rt_bench_train.XXXXXX)}
TC_CORES=$(tc_cores)
B=$TC_B T=$TC_T
if [ $((ranks * TC_THREADS)) -gt "$TC_CORES" ]; then
  echo "bench_train: warning: $ranks ranks x $TC_THREADS threads on $TC_CORES cores: oversubscribed," \
       "the ranks time-share cores" >&2
fi
tc_prepare "$steps"
G=$((B * ranks))
tc_train "overlap on" "$ranks" "$TC_WORK/on" "train.global_batch=$G" dist.overlap=true
tc_train "overlap off" "$ranks" "$TC_WORK/off" "train.global_batch=$G" dist.overlap=false
tc_train "compute only" 1 "$TC_WORK/compute" "train.global_batch=$B"

python3 - "$here" "$TC_WORK" "$model" "$ranks" "$TC_THREADS" "$B" "$T" "$steps" "$TC_CORES" <<'PY'
import json, sys
here, work, model = sys.argv[1:4]
P, threads, B, T, steps, cores = map(int, sys.argv[4:10])
sys.path.insert(0, here)
import benchlib, train_metrics

GOAL = 0.8  # fraction of the communication time hidden behind backward
runs = [("overlap_on", P, "on"), ("overlap_off", P, "off"), ("compute_only", 1, "compute")]
results = []
for mode, ranks, d in runs:
    s = train_metrics.step_stats("%s/%s/metrics.jsonl" % (work, d))
    results.append({"mode": mode, "ranks": ranks, "global_batch": B * ranks, **s})


def hidden_fraction(on, off, comp):
    """(off - on) / (off - compute only): None where off - compute only (the communication
    overlap could hide) is not positive, e.g. lost in noise."""
    return round((off - on) / (off - comp), 3) if off - comp > 0 else None


on, off, comp = (r["s_step"]["median"] for r in results)
hidden = hidden_fraction(on, off, comp)
# ZeRO-1 ranks run AdamW on a 1/P shard, compute only on all of it: without the optimizer phase
# the three step times differ by communication alone
hidden_ex_opt = hidden_fraction(*(r["s_step"]["median"] - r["ms_optimizer"]["median"] / 1e3
                                  for r in results))
# Direct: the time rank 0 is blocked on communication after backward, with overlap (what is left
# exposed) against without (all of it exposed), in the same run. Less noisy than the step-time
# formulas, whose difference of two ~equal step times is of the order of the machine's noise.
w_on, w_off = (r["ms_comm_wait"]["median"] for r in results[:2])
hidden_direct = round(1.0 - w_on / w_off, 3) if w_off > 0 else None
config = {"model": model, "ranks": P, "threads_per_rank": threads, "micro_batch": B,
          "seq_len": T, "global_batch": B * P, "steps": steps, "cores_usable": cores,
          "oversubscribed": P * threads > cores,
          "dist": {k: v for k, v in train_metrics.run_dist(work + "/on").items() if k != "overlap"},
          "modes": {"overlap_on": "P ranks, bucket reductions during backward",
                    "overlap_off": "P ranks, all reductions after backward",
                    "compute_only": "1 rank, the same per-rank micro-batch, no communication"},
          "statistic": train_metrics.STATISTIC}
doc = benchlib.document(
    "train_step", config, results,
    tokens_per_s=results[0]["tokens_per_s"]["median"], mfu=results[0]["mfu"]["median"],
    peak_gflops=results[0]["peak_gflops"],
    communication_hidden_fraction=hidden_direct,
    communication_hidden_fraction_step_time=hidden_ex_opt,
    communication_hidden_fraction_step_time_with_optimizer=hidden,
    goals={"communication_hidden_fraction": {
        "target": ">= %g" % GOAL, "value": hidden_direct,
        "met": None if hidden_direct is None else hidden_direct >= GOAL,
        "formula": "1 - ms_comm_wait(overlap_on) / ms_comm_wait(overlap_off), medians of rank "
                   "0's time blocked on communication after backward and after the status "
                   "agreement that absorbs load imbalance (ms_sync): gradient reductions, ZeRO-1 "
                   "parameter all-gather, loss all-reduce",
        "cross_check": "communication_hidden_fraction_step_time: (s_step overlap_off - "
                       "overlap_on) / (overlap_off - compute_only) of the medians, each less its "
                       "median ms_optimizer (ZeRO-1: compute only runs P times a rank's AdamW "
                       "work); ..._with_optimizer: the same of the whole step times"}})
json.dump(doc, sys.stdout, indent=2)
print()
PY
[ -n "$work" ] || rm -rf "$TC_WORK"
