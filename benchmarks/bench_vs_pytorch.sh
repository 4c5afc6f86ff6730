#!/usr/bin/env bash
# ringtune against PyTorch DDP on the same training configuration, side by side: runs
# benchmarks/bench_train.sh and benchmarks/bench_pytorch_ddp.py with the same model, ranks and steps
# in alternating turns (ringtune, PyTorch, ringtune, PyTorch, ...) so that drift of a shared machine
# hits both, then prints one JSON document: each side's tokens/s per turn and their medians, the
# ratio of the medians (ringtune / PyTorch), and the verdict on the goal (ringtune >= 1.5x PyTorch
# DDP tokens/s on GPT-2 124M, 2 ranks x 1 thread).
# usage: bench_vs_pytorch.sh [--model 124m|small] [--ranks P] [--steps N] [--turns K]
# Environment: RINGTUNE (the ringtune binary, as bench_train.sh), PYTHON (the interpreter with torch
# and transformers for the PyTorch side; default python3). Without PyTorch the PyTorch side is
# skipped with a message and the document still holds ringtune's figures (exit status 0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
model=124m ranks=2 steps=5 turns=3
usage() {
  echo "usage: $0 [--model 124m|small] [--ranks P] [--steps N] [--turns K]" >&2
  exit 2
}
posint() { [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) [ $# -ge 2 ] || usage; model=$2; shift 2 ;;
    --ranks) [ $# -ge 2 ] || usage; posint "$2"; ranks=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; posint "$2"; steps=$2; shift 2 ;;
    --turns) [ $# -ge 2 ] || usage; posint "$2"; turns=$2; shift 2 ;;
    *) usage ;;
  esac
done
case "$model" in 124m|small) ;; *) usage ;; esac
[ "$steps" -ge 2 ] || { echo "bench_vs_pytorch: --steps needs at least 2 (median of 2..N)" >&2
                       usage; }
work=$(mktemp -d /tmp/rt_bench_vs_pytorch.XXXXXX)
trap 'rm -rf "$work"' EXIT

skipped=0
for ((k = 1; k <= turns; k++)); do
  echo "bench_vs_pytorch: turn $k/$turns: ringtune" >&2
  "$here/bench_train.sh" --model "$model" --ranks "$ranks" --steps "$steps" > "$work/rt$k.json"
  if [ $skipped -eq 0 ]; then
    echo "bench_vs_pytorch: turn $k/$turns: PyTorch DDP ($py)" >&2
    if ! command -v "$py" >/dev/null 2>&1; then
      printf '{"benchmark": "pytorch_ddp", "skipped": true, "reason": "%s not found"}\n' "$py" \
        > "$work/pt$k.json"
      echo "bench_pytorch_ddp: PyTorch not installed ($py not found); skipped" >&2
    else
      "$py" "$here/bench_pytorch_ddp.py" --model "$model" --ranks "$ranks" --threads 1 \
        --steps "$steps" > "$work/pt$k.json"
    fi
    grep -q '"skipped": true' "$work/pt$k.json" && skipped=1
  fi
done

python3 - "$here" "$work" "$model" "$ranks" "$steps" "$turns" <<'PY'
import json, os, statistics, sys
here, work, model = sys.argv[1:4]
ranks, steps, turns = map(int, sys.argv[4:7])
sys.path.insert(0, here)
import benchlib

GOAL = 1.5  # ringtune / PyTorch DDP tokens/s, GPT-2 124M, 2 ranks x 1 thread


def load(name):
    path = os.path.join(work, name)
    return json.load(open(path)) if os.path.exists(path) else None


def first(doc, *keys):
    for k in keys:
        if doc.get(k) is not None:
            return doc[k]
    return None


def phases(doc, mode):
    """Medians of the ms_* figures of one mode's result entry, where the document has them."""
    for r in doc.get("results") or []:
        if isinstance(r, dict) and r.get("mode") == mode:
            return {k: v["median"] for k, v in r.items()
                    if k.startswith("ms_") and isinstance(v, dict) and "median" in v}
    return {}


def s_steps(doc, old_names):
    """Median seconds per step of each mode: from the results entries, else the older flat names."""
    out = {r["mode"]: r["s_step"]["median"] for r in doc.get("results") or []
           if isinstance(r, dict) and isinstance(r.get("s_step"), dict) and "mode" in r}
    for mode in old_names:
        if mode not in out and doc.get("s_step_" + mode) is not None:
            out[mode] = doc["s_step_" + mode]
    return out


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


rt, pt = [], []
for k in range(1, turns + 1):
    d = load("rt%d.json" % k)
    # bench_train.sh: top-level tokens_per_s and mfu, or the older *_overlap_on names
    rt.append({"turn": k, "tokens_per_s": first(d, "tokens_per_s", "tokens_per_s_overlap_on"),
               "mfu": first(d, "mfu", "mfu_overlap_on"),
               "communication_hidden_fraction": d.get("communication_hidden_fraction"),
               "s_step": s_steps(d, ("overlap_on", "overlap_off", "compute_only")),
               "ms": phases(d, "overlap_on"), "ms_overlap_off": phases(d, "overlap_off")})
    d = load("pt%d.json" % k)
    if d is not None and not d.get("skipped"):
        pt.append({"turn": k, "tokens_per_s": d.get("tokens_per_s"), "mfu": d.get("mfu"),
                   "communication_hidden_fraction": d.get("communication_hidden_fraction"),
                   "peak_gflops": d.get("peak_gflops"), "s_step": s_steps(d, ()),
                   "ms": phases(d, "ddp"),
                   "ms_overlap_off": phases(d, "ddp_overlap_off"),
                   "versions": {x: d["versions"].get(x) for x in ("torch", "transformers")}})
skip = load("pt1.json")
side_rt = {"tokens_per_s": benchlib.stats([t["tokens_per_s"] for t in rt]),
           "mfu": med(t["mfu"] for t in rt),
           "communication_hidden_fraction": med(t["communication_hidden_fraction"] for t in rt),
           "turns": rt}
if pt:
    side_pt = {"tokens_per_s": benchlib.stats([t["tokens_per_s"] for t in pt]),
               "mfu": med(t["mfu"] for t in pt),
               "communication_hidden_fraction":
                   med(t["communication_hidden_fraction"] for t in pt),
               "turns": pt}
    ratio = side_rt["tokens_per_s"]["median"] / side_pt["tokens_per_s"]["median"]
else:
    side_pt = {"skipped": True, "reason": (skip or {}).get("reason", "no result")}
    ratio = None
applies = model == "124m" and ranks == 2
goal = {"target_ratio": GOAL, "applies": applies,
        "config": "GPT-2 124M, T=256, micro-batch 4, 2 ranks x 1 thread",
        "met": (ratio >= GOAL) if (applies and ratio is not None) else None}
config = {"model": model, "ranks": ranks, "threads_per_rank": 1, "steps": steps, "turns": turns,
          "order": "alternating: ringtune, PyTorch, ringtune, PyTorch, ...",
          "statistic": "per turn: median over steps 2..N; overall: median over turns"}
results = []
for t in rt:
    p = next((x["tokens_per_s"] for x in pt if x["turn"] == t["turn"]), None)
    r = t["tokens_per_s"]
    results.append({"turn": t["turn"], "ringtune_tokens_per_s": r, "pytorch_tokens_per_s": p,
                    "ratio": round(r / p, 3) if r and p else None})
doc = benchlib.document("vs_pytorch", config, results, ringtune=side_rt, pytorch=side_pt,
                        ratio_tokens_per_s=round(ratio, 3) if ratio is not None else None,
                        goal=goal)
if pt:
    doc["versions"].update(pt[0]["versions"])
json.dump(doc, sys.stdout, indent=2)
print()
PY
