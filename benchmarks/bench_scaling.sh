#!/usr/bin/env bash
# Scaling of `ringtune train` (overlap on, the trainer's defaults) from 1 to N ranks, one rank per
# core; prints one JSON document (benchmarks/benchlib.py header).
#   weak:   the per-rank micro-batch B is fixed, global batch B x P (no accumulation);
#           efficiency(P) = tokens_per_s(P) / (P x tokens_per_s(1)) = s_step(1) / s_step(P)
#   strong: the global batch G is fixed; each rank runs G/P sequences per step, in one micro-batch
#           of G/P where that is at most B, else in micro-batches of the largest divisor of G/P
#           that is (gradient accumulation); a P that does not divide G is skipped (noted);
#           efficiency(P) = s_step(1) / (P x s_step(P))
# speedup(P) = tokens_per_s(P) / tokens_per_s(1) in both. Per P: step time, tokens/s, MFU and rank
# 0's phase times (forward, backward, communication wait, optimizer), median and spread over steps
# 2..N. Goal: weak-scaling efficiency >= 0.95 at every measured P > 1 (a verdict in the JSON; the
# exit status is 0 whenever every run worked).
# usage: bench_scaling.sh [--mode weak|strong|both] [--ranks LIST] [--model small|124m] [--steps N]
#                         [--micro-batch B] [--global-batch G] [--threads T] [--work DIR]
#                         [--oversubscribe]
#   --ranks           comma-separated rank counts (default 1, 2, 4, ... up to the usable cores,
#                     plus the core count itself); P=1, the baseline, is always run
#   --micro-batch     B, sequences per rank per forward/backward (default 4)
#   --global-batch    G of strong scaling (default B x the largest P)
#   --threads         threads per rank (dist.threads_per_rank; default 1); P x T must fit the cores
#   --oversubscribe   allow P x T beyond the usable cores (ranks then time-share cores: the timings
#                     say nothing about scaling); refused otherwise
#   --work            scratch directory (default a new /tmp/rt_bench_scaling.*, removed at the end)
# Usable cores: inside a Slurm allocation its tasks over all nodes (mpirun launches across them),
# else the physical cores this process may run on. Environment: RINGTUNE (the ringtune binary).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TC_NAME=bench_scaling
# shellcheck source=train_common.sh
source "$here/train_common.sh"
mode=both ranks="" model=124m steps=5 mb="" gb="" work="" over=0
usage() {
  echo "usage: $0 [--mode weak|strong|both] [--ranks LIST] [--model small|124m] [--steps N]" \
       "[--micro-batch B] [--global-batch G] [--threads T] [--work DIR] [--oversubscribe]" >&2
  exit 2
}
posint() { [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage; }
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) [ $# -ge 2 ] || usage; mode=$2; shift 2 ;;
    --ranks) [ $# -ge 2 ] || usage; [[ "$2" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || usage
             ranks=$2; shift 2 ;;
    --model) [ $# -ge 2 ] || usage; model=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; posint "$2"; steps=$2; shift 2 ;;
    --micro-batch) [ $# -ge 2 ] || usage; posint "$2"; mb=$2; shift 2 ;;
    --global-batch) [ $# -ge 2 ] || usage; posint "$2"; gb=$2; shift 2 ;;
    --threads) [ $# -ge 2 ] || usage; posint "$2"; TC_THREADS=$2; shift 2 ;;
    --work) [ $# -ge 2 ] || usage; work=$2; shift 2 ;;
    --oversubscribe) over=1; shift ;;
    *) usage ;;
  esac
done
case "$mode" in weak|strong|both) ;; *) usage ;; esac
tc_model "$model" || usage
[ "$steps" -ge 2 ] || { echo "bench_scaling: --steps needs at least 2 (statistics over steps 2..N)" >&2; exit 2; }
B=${mb:-$TC_B}
TC_CORES=$(tc_cores)
maxfit=$((TC_CORES / TC_THREADS))
if [ -z "$ranks" ]; then
  [ "$maxfit" -ge 1 ] || { echo "bench_scaling: $TC_THREADS threads per rank do not fit $TC_CORES cores" >&2; exit 2; }
  ranks=1
  for ((p = 2; p <= maxfit; p *= 2)); do ranks+=",$p"; done
  case ",$ranks," in *",$maxfit,"*) ;; *) ranks+=",$maxfit" ;; esac
fi
# the list sorted, without repeats, P=1 (the baseline) first
ranks=$(tr , '\n' <<<"1,$ranks" | sort -n -u | paste -sd, -)
IFS=, read -r -a plist <<<"$ranks"
maxp=${plist[-1]}
if [ $over -eq 0 ] && [ $((maxp * TC_THREADS)) -gt "$TC_CORES" ]; then
  echo "bench_scaling: P=$maxp ranks x $TC_THREADS threads needs $((maxp * TC_THREADS)) cores, $TC_CORES" \
       "usable here: with more ranks than cores they time-share cores and the timings measure that," \
       "not scaling. Use --ranks up to $maxfit, or --oversubscribe to run anyway." >&2
  exit 2
fi
G=${gb:-$((B * maxp))}
TC_WORK=${work:-$(mktemp -d /tmp/rt_bench_scaling.XXXXXX)}
[ -n "$work" ] || trap 'rm -rf "$TC_WORK"' EXIT
tc_prepare "$steps"

# largest divisor of $1 that is at most $2
divisor_upto() { local d=$2; while [ $(($1 % d)) -ne 0 ]; do d=$((d - 1)); done; echo "$d"; }
runs="$TC_WORK/runs.txt"; : > "$runs"  # mode P global micro accum dir|skip-note
for m in weak strong; do
  [ "$mode" = both ] || [ "$mode" = "$m" ] || continue
  for p in "${plist[@]}"; do
    if [ $m = weak ]; then
      g=$((B * p)) u=$B
    else
      if [ $((G % p)) -ne 0 ]; then
        echo "$m $p $G 0 0 -global batch $G does not divide over $p ranks: skipped" >> "$runs"
        echo "bench_scaling: strong P=$p skipped (global batch $G does not divide over $p ranks)" >&2
        continue
      fi
      g=$G u=$(divisor_upto $((G / p)) "$B")
    fi
    a=$((g / (p * u)))
    echo "bench_scaling: $m P=$p: global batch $g = $p x $a x $u, $steps steps" >&2
    tc_train "$m P=$p" "$p" "$TC_WORK/${m}_p$p" "train.global_batch=$g" "train.micro_batch=$u"
    echo "$m $p $g $u $a ${m}_p$p" >> "$runs"
  done
done

python3 - "$here" "$TC_WORK" "$model" "$mode" "$ranks" "$TC_THREADS" "$B" "$G" "$TC_T" "$steps" \
    "$TC_CORES" "$over" <<'PY'
import json, sys
here, work, model, mode, ranks = sys.argv[1:6]
threads, B, G, T, steps, cores, over = map(int, sys.argv[6:13])
sys.path.insert(0, here)
import benchlib, train_metrics

GOAL = 0.95  # weak-scaling efficiency at every measured P
results, notes, eff, dist = [], [], {"weak": {}, "strong": {}}, None
base = {}
for line in open(work + "/runs.txt"):
    m, p, g, u, a, rest = line.rstrip("\n").split(" ", 5)
    p, g, u, a = int(p), int(g), int(u), int(a)
    if rest.startswith("-"):
        notes.append("%s P=%d: %s" % (m, p, rest[1:]))
        results.append({"mode": m, "ranks": p, "global_batch": g, "skipped": rest[1:]})
        continue
    s = train_metrics.step_stats("%s/%s/metrics.jsonl" % (work, rest))
    dist = dist or train_metrics.run_dist("%s/%s" % (work, rest))
    t, tps = s["s_step"]["median"], s["tokens_per_s"]["median"]
    if p == 1:
        base[m] = (t, tps)
    t1, tps1 = base[m]
    e = t1 / t if m == "weak" else t1 / (p * t)
    eff[m][p] = round(e, 4)
    results.append({"mode": m, "ranks": p, "global_batch": g, "micro_batch": u, "grad_accum": a,
                    "tokens_per_step": g * T, "oversubscribed": p * threads > cores,
                    "efficiency": round(e, 4),
                    "speedup": round(tps / tps1, 4), **s})
summary = {}
for m in ("weak", "strong"):
    if mode in (m, "both"):
        e = {p: v for p, v in eff[m].items() if p > 1}
        worst = min(e, key=e.get) if e else None
        summary[m] = {"efficiency": {str(p): v for p, v in eff[m].items()},
                      "min_efficiency": e[worst] if e else None,
                      "min_efficiency_ranks": worst}
weak = summary.get("weak")
goal = {"target": ">= %g at every measured P > 1" % GOAL,
        "value": weak["min_efficiency"] if weak else None,
        "ranks": weak["min_efficiency_ranks"] if weak else None,
        "met": (weak["min_efficiency"] >= GOAL) if weak and weak["min_efficiency"] is not None
        else None}
if weak is None:
    notes.append("weak scaling not run: no verdict on the weak-scaling goal")
elif weak["min_efficiency"] is None:
    notes.append("only P=1 measured: no verdict on the weak-scaling goal")
config = {"model": model, "modes": ["weak", "strong"] if mode == "both" else [mode],
          "ranks": [int(x) for x in ranks.split(",")], "threads_per_rank": threads,
          "micro_batch": B, "strong_global_batch": G if mode != "weak" else None, "seq_len": T,
          "steps": steps, "cores_usable": cores, "oversubscribe": bool(over),
          "binding": "mpirun --bind-to core, one rank per core (unbound when oversubscribed)",
          "dist": {k: v for k, v in (dist or {}).items()},
          "efficiency": {"weak": "s_step(1) / s_step(P) = tokens_per_s(P) / (P tokens_per_s(1))",
                         "strong": "s_step(1) / (P s_step(P))",
                         "speedup": "tokens_per_s(P) / tokens_per_s(1)",
                         "from": "medians"},
          "statistic": train_metrics.STATISTIC}
doc = benchlib.document("scaling", config, results, **summary, notes=notes,
                        goals={"weak_scaling_efficiency": goal})
json.dump(doc, sys.stdout, indent=2)
print()
PY
