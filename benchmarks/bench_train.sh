#!/usr/bin/env bash
# Data-parallel training step: `ringtune train` at P ranks with gradient-bucket overlap on and off,
# and the same per-rank work on 1 rank without communication (compute only). Prints one JSON
# document (benchmarks/benchlib.py header): per mode the step time, tokens/s, MFU and rank 0's
# phase times (forward, backward, communication wait, optimizer) as median and spread over steps
# 2..N; at the top the overlap-on tokens/s and MFU medians, the GEMM peak MFU is measured against
# (sgemm in fp32, the bf16 kernel's in bf16), the fraction of communication hidden: 1 - (time
# blocked on communication after backward with overlap) / (the same without overlap), the goal
# verdict (>= 80% hidden) on it, and as a cross-check (off - on) / (off - compute only) of the
# median step times, with and without each mode's optimizer phase (with ZeRO-1 a rank of the
# P-rank runs updates a 1/P shard, the compute-only rank everything).
# usage: bench_train.sh [--model 124m|small] [--ranks P] [--steps N] [--threads T]
#                       [--precision fp32|bf16] [--modes on,off,compute] [--work DIR]
#   --threads    threads per rank (dist.threads_per_rank; default 1)
#   --precision  train.precision of every run (default fp32; bf16: bf16-rounded GEMM operands,
#                fp32 accumulation, MFU against the bf16 kernel's measured peak)
#   --modes      which runs, comma-separated, in this order: on (overlap on), off (overlap off),
#                compute (compute only); default all three. The hidden fractions need on and off
#                (the step-time cross-checks also compute); without them they are null.
#   --work       scratch directory (default a new /tmp/rt_bench_train.*, removed at the end)
# Environment: RINGTUNE, the ringtune binary (default build/cli/ringtune).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TC_NAME=bench_train
# shellcheck source=train_common.sh
source "$here/train_common.sh"
model=124m ranks=2 steps=5 work="" precision=fp32 modes=on,off,compute
usage() {
  echo "usage: $0 [--model 124m|small] [--ranks P] [--steps N] [--threads T]" \
       "[--precision fp32|bf16] [--modes on,off,compute] [--work DIR]" >&2
  exit 2
}
posint() { [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) [ $# -ge 2 ] || usage; model=$2; shift 2 ;;
    --ranks) [ $# -ge 2 ] || usage; posint "$2"; ranks=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; posint "$2"; steps=$2; shift 2 ;;
    --threads) [ $# -ge 2 ] || usage; posint "$2"; TC_THREADS=$2; shift 2 ;;
    --precision) [ $# -ge 2 ] || usage; precision=$2; shift 2 ;;
    --modes) [ $# -ge 2 ] || usage; modes=$2; shift 2 ;;
    --work) [ $# -ge 2 ] || usage; work=$2; shift 2 ;;
    *) usage ;;
  esac
done
tc_model "$model" || usage
case "$precision" in fp32|bf16) ;; *) echo "bench_train: --precision fp32 or bf16" >&2; usage ;; esac
run_on=0 run_off=0 run_compute=0
IFS=, read -r -a mode_list <<< "$modes"
[ ${#mode_list[@]} -gt 0 ] || usage
for m in "${mode_list[@]}"; do
  case "$m" in
    on) run_on=1 ;;
    off) run_off=1 ;;
    compute) run_compute=1 ;;
    *) echo "bench_train: --modes takes on, off, compute (comma-separated), not '$m'" >&2; usage ;;
  esac
done
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
prec="train.precision=$precision"
[ $run_on -eq 0 ] || tc_train "overlap on" "$ranks" "$TC_WORK/on" "train.global_batch=$G" \
    dist.overlap=true "$prec"
[ $run_off -eq 0 ] || tc_train "overlap off" "$ranks" "$TC_WORK/off" "train.global_batch=$G" \
    dist.overlap=false "$prec"
[ $run_compute -eq 0 ] || tc_train "compute only" 1 "$TC_WORK/compute" "train.global_batch=$B" "$prec"

python3 - "$here" "$TC_WORK" "$model" "$ranks" "$TC_THREADS" "$B" "$T" "$steps" "$TC_CORES" \
    "$precision" "$run_on$run_off$run_compute" <<'PY'
import json, sys
here, work, model = sys.argv[1:4]
P, threads, B, T, steps, cores = map(int, sys.argv[4:10])
precision, ran = sys.argv[10], sys.argv[11]
sys.path.insert(0, here)
import benchlib, train_metrics

GOAL = 0.8  # fraction of the communication time hidden behind backward
runs = [r for r, flag in zip([("overlap_on", P, "on"), ("overlap_off", P, "off"),
                              ("compute_only", 1, "compute")], ran) if flag == "1"]
results, by_mode = [], {}
for mode, ranks, d in runs:
    s = train_metrics.step_stats("%s/%s/metrics.jsonl" % (work, d))
    effective = train_metrics.run_section("%s/%s" % (work, d), "train").get("precision")
    if effective != precision:
        raise SystemExit("bench_train: %s ran with train.precision %s, not %s"
                         % (mode, effective, precision))
    results.append({"mode": mode, "ranks": ranks, "global_batch": B * ranks,
                    "precision": precision, **s})
    by_mode[mode] = results[-1]


def hidden_fraction(on, off, comp):
    """(off - on) / (off - compute only): None where off - compute only (the communication
    overlap could hide) is not positive, e.g. lost in noise."""
    return round((off - on) / (off - comp), 3) if off - comp > 0 else None


three = all(m in by_mode for m in ("overlap_on", "overlap_off", "compute_only"))
hidden = hidden_ex_opt = hidden_direct = None
if three:
    on, off, comp = (by_mode[m]["s_step"]["median"]
                     for m in ("overlap_on", "overlap_off", "compute_only"))
    hidden = hidden_fraction(on, off, comp)
    # ZeRO-1 ranks run AdamW on a 1/P shard, compute only on all of it: without the optimizer
    # phase the three step times differ by communication alone
    hidden_ex_opt = hidden_fraction(*(by_mode[m]["s_step"]["median"]
                                      - by_mode[m]["ms_optimizer"]["median"] / 1e3
                                      for m in ("overlap_on", "overlap_off", "compute_only")))
if "overlap_on" in by_mode and "overlap_off" in by_mode:
    # Direct: the time rank 0 is blocked on communication after backward, with overlap (what is
    # left exposed) against without (all of it exposed), in the same run. Less noisy than the
    # step-time formulas, whose difference of two ~equal step times is of the order of the
    # machine's noise.
    w_on, w_off = (by_mode[m]["ms_comm_wait"]["median"] for m in ("overlap_on", "overlap_off"))
    hidden_direct = round(1.0 - w_on / w_off, 3) if w_off > 0 else None
# the summary figures: overlap on's, else the first mode run
top = by_mode.get("overlap_on", results[0])
mode_words = {"overlap_on": "P ranks, bucket reductions during backward",
              "overlap_off": "P ranks, all reductions after backward",
              "compute_only": "1 rank, the same per-rank micro-batch, no communication"}
config = {"model": model, "ranks": P, "threads_per_rank": threads, "micro_batch": B,
          "seq_len": T, "global_batch": B * P, "steps": steps, "cores_usable": cores,
          "oversubscribed": P * threads > cores,
          "precision": precision,
          "peak": ("bf16 GEMM kernel (bf16 operands, fp32 accumulation) measured at startup"
                   if precision == "bf16" else "sgemm measured at startup") +
                  " by all ranks at once (metrics.jsonl peak_gflops, dist/peak.h)",
          "dist": {k: v for k, v in train_metrics.run_dist(
              "%s/%s" % (work, runs[0][2])).items() if k != "overlap"},
          "modes": {m: mode_words[m] for m, _, _ in runs},
          "statistic": train_metrics.STATISTIC}
doc = benchlib.document(
    "train_step", config, results,
    tokens_per_s=top["tokens_per_s"]["median"], mfu=top["mfu"]["median"],
    peak_gflops=top["peak_gflops"], precision=precision,
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
