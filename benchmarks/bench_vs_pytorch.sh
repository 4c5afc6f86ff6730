#!/usr/bin/env bash
# ringtune against PyTorch on the same training configuration, side by side, fp32 and bf16. Each of
# K turns runs, one after the other (so that drift of a shared machine hits every side):
#   ringtune fp32         bench_train.sh, P ranks x 1 thread, train.precision=fp32 (overlap on; by
#                         default also overlap off, for the fraction of communication hidden)
#   ringtune bf16         bench_train.sh, P ranks x 1 thread, train.precision=bf16, overlap on
#   PyTorch DDP fp32      bench_pytorch_ddp.py --modes ddp, P ranks x 1 thread
#   PyTorch single fp32   bench_pytorch_ddp.py --modes single: one process, P threads on the same
#                         cores, the global batch (P x micro-batch) in one forward, no DDP
#   PyTorch single bf16   the same under torch.autocast("cpu", dtype=torch.bfloat16) (forward and
#                         loss; backward outside it)
# then prints one JSON document: each side's tokens/s per turn and their medians, MFU medians (bf16
# sides against a bf16 peak measured with the same kernel: ringtune's bf16 GEMM, a bf16 torch.mm;
# fp32 sides against sgemm / an fp32 torch.mm), the ratios of the medians and the goals: ringtune
# bf16 >= 1.5x PyTorch bf16 autocast tokens/s (the headline) and ringtune fp32 >= 1.5x PyTorch DDP
# fp32, both on GPT-2 124M, 2 ranks x 1 thread against PyTorch one process x 2 threads / DDP 2 x 1.
# usage: bench_vs_pytorch.sh [--model 124m|small] [--ranks P] [--steps N] [--turns K]
#                            [--ringtune-modes on|on,off|on,off,compute]
#   --ringtune-modes  bench_train.sh --modes of the ringtune fp32 side (default on,off: overlap off
#                     gives communication_hidden_fraction; `on` alone makes a turn cheaper). The
#                     bf16 side runs overlap on only.
# Environment: RINGTUNE (the ringtune binary, as bench_train.sh), PYTHON (the interpreter with torch
# and transformers for the PyTorch sides; default python3). Without PyTorch the PyTorch sides are
# skipped with a message and the document still holds ringtune's figures (exit status 0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
model=124m ranks=2 steps=5 turns=3 rt_modes=on,off
usage() {
  echo "usage: $0 [--model 124m|small] [--ranks P] [--steps N] [--turns K]" \
       "[--ringtune-modes on|on,off|on,off,compute]" >&2
  exit 2
}
posint() { [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage; }
while [ $# -gt 0 ]; do
  case "$1" in
    --model) [ $# -ge 2 ] || usage; model=$2; shift 2 ;;
    --ranks) [ $# -ge 2 ] || usage; posint "$2"; ranks=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; posint "$2"; steps=$2; shift 2 ;;
    --turns) [ $# -ge 2 ] || usage; posint "$2"; turns=$2; shift 2 ;;
    --ringtune-modes) [ $# -ge 2 ] || usage; rt_modes=$2; shift 2 ;;
    *) usage ;;
  esac
done
case "$model" in 124m|small) ;; *) usage ;; esac
case ",$rt_modes," in *,on,*) ;; *) echo "bench_vs_pytorch: --ringtune-modes must include on" >&2
                                    usage ;; esac
[ "$steps" -ge 2 ] || { echo "bench_vs_pytorch: --steps needs at least 2 (median of 2..N)" >&2
                       usage; }
work=$(mktemp -d /tmp/rt_bench_vs_pytorch.XXXXXX)
trap 'rm -rf "$work"' EXIT

# pytorch_side NAME LABEL ARGS...: one bench_pytorch_ddp.py run into $work/NAME$k.json; sets
# skipped=1 where PyTorch is not there (the later PyTorch runs are then not tried)
pytorch_side() {
  local name=$1 label=$2
  shift 2
  [ $skipped -eq 0 ] || return 0
  echo "bench_vs_pytorch: turn $k/$turns: $label ($py)" >&2
  if ! command -v "$py" >/dev/null 2>&1; then
    printf '{"benchmark": "pytorch_ddp", "skipped": true, "reason": "%s not found"}\n' "$py" \
      > "$work/$name$k.json"
    echo "bench_pytorch_ddp: PyTorch not installed ($py not found); skipped" >&2
  else
    "$py" "$here/bench_pytorch_ddp.py" --model "$model" --ranks "$ranks" --threads 1 \
      --steps "$steps" "$@" > "$work/$name$k.json"
  fi
  if grep -q '"skipped": true' "$work/$name$k.json"; then
    skipped=1
    cp "$work/$name$k.json" "$work/skip.json"
  fi
}

skipped=0
for ((k = 1; k <= turns; k++)); do
  echo "bench_vs_pytorch: turn $k/$turns: ringtune fp32" >&2
  "$here/bench_train.sh" --model "$model" --ranks "$ranks" --steps "$steps" --precision fp32 \
    --modes "$rt_modes" > "$work/rt$k.json"
  echo "bench_vs_pytorch: turn $k/$turns: ringtune bf16" >&2
  "$here/bench_train.sh" --model "$model" --ranks "$ranks" --steps "$steps" --precision bf16 \
    --modes on > "$work/rt16_$k.json"
  pytorch_side pt "PyTorch DDP fp32" --modes ddp --precision fp32
  pytorch_side pts32_ "PyTorch one process fp32" --modes single --precision fp32
  pytorch_side pts16_ "PyTorch one process bf16 autocast" --modes single --precision bf16
done

python3 - "$here" "$work" "$model" "$ranks" "$steps" "$turns" "$rt_modes" <<'PY'
import json, os, statistics, sys
here, work, model = sys.argv[1:4]
ranks, steps, turns = map(int, sys.argv[4:7])
rt_modes = sys.argv[7]
sys.path.insert(0, here)
import benchlib

GOAL = 1.5  # ringtune / PyTorch tokens/s, GPT-2 124M, 2 ranks x 1 thread (bf16 and fp32 goals)
MODELS = {"124m": (256, 4), "small": (64, 4)}  # T, micro-batch (train_common.sh tc_model)


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


def rt_turn(k, d):
    # bench_train.sh: top-level tokens_per_s and mfu, or the older *_overlap_on names
    return {"turn": k, "tokens_per_s": first(d, "tokens_per_s", "tokens_per_s_overlap_on"),
            "mfu": first(d, "mfu", "mfu_overlap_on"), "peak_gflops": d.get("peak_gflops"),
            "precision": d.get("precision", "fp32"),
            "communication_hidden_fraction": d.get("communication_hidden_fraction"),
            "s_step": s_steps(d, ("overlap_on", "overlap_off", "compute_only")),
            "ms": phases(d, "overlap_on"), "ms_overlap_off": phases(d, "overlap_off")}


def pt_turn(k, d, mode):
    return {"turn": k, "tokens_per_s": d.get("tokens_per_s"), "mfu": d.get("mfu"),
            "peak_gflops": d.get("peak_gflops"), "precision": d.get("precision", "fp32"),
            "s_step": s_steps(d, ()), "ms": phases(d, mode),
            "versions": {x: d["versions"].get(x) for x in ("torch", "transformers")}}


sides = {"ringtune": [], "ringtune_bf16": [], "pytorch": [], "pytorch_single_fp32": [],
         "pytorch_single_bf16": []}
for k in range(1, turns + 1):
    sides["ringtune"].append(rt_turn(k, load("rt%d.json" % k)))
    sides["ringtune_bf16"].append(rt_turn(k, load("rt16_%d.json" % k)))
    for side, name, mode in (("pytorch", "pt%d.json", "ddp"),
                             ("pytorch_single_fp32", "pts32_%d.json", "single"),
                             ("pytorch_single_bf16", "pts16_%d.json", "single")):
        d = load(name % k)
        if d is not None and not d.get("skipped"):
            sides[side].append(pt_turn(k, d, mode))
skip = load("skip.json")


def summary(turn_list, hidden=False):
    if not turn_list:
        return {"skipped": True, "reason": (skip or {}).get("reason", "no result")}
    s = {"tokens_per_s": benchlib.stats([t["tokens_per_s"] for t in turn_list]),
         "mfu": med(t["mfu"] for t in turn_list),
         "peak_gflops": med(t["peak_gflops"] for t in turn_list),
         "precision": turn_list[0]["precision"]}
    if hidden:
        s["communication_hidden_fraction"] = med(t["communication_hidden_fraction"]
                                                 for t in turn_list)
    s["turns"] = turn_list
    return s


out = {side: summary(t, hidden=(side == "ringtune")) for side, t in sides.items()}


def tps(side):
    return None if out[side].get("skipped") else out[side]["tokens_per_s"]["median"]


def ratio(a, b):
    x, y = tps(a), tps(b)
    return round(x / y, 3) if x and y else None


ratios = {"ringtune_bf16_over_pytorch_single_bf16_autocast":
              ratio("ringtune_bf16", "pytorch_single_bf16"),
          "ringtune_fp32_over_pytorch_ddp_fp32": ratio("ringtune", "pytorch"),
          "ringtune_fp32_over_pytorch_single_fp32": ratio("ringtune", "pytorch_single_fp32"),
          "ringtune_bf16_over_ringtune_fp32": ratio("ringtune_bf16", "ringtune"),
          "pytorch_single_bf16_over_pytorch_single_fp32":
              ratio("pytorch_single_bf16", "pytorch_single_fp32")}
applies = model == "124m" and ranks == 2


def goal(value, config):
    return {"target_ratio": GOAL, "applies": applies, "value": value, "config": config,
            "met": (value >= GOAL) if (applies and value is not None) else None}


goals = {"bf16_vs_pytorch_bf16_autocast": goal(
             ratios["ringtune_bf16_over_pytorch_single_bf16_autocast"],
             "GPT-2 124M, T=256, global batch 8: ringtune bf16 2 ranks x 1 thread (micro-batch 4) "
             "/ PyTorch one process x 2 threads, batch 8, torch.autocast bf16"),
         "fp32_vs_pytorch_ddp": goal(
             ratios["ringtune_fp32_over_pytorch_ddp_fp32"],
             "GPT-2 124M, T=256, micro-batch 4, 2 ranks x 1 thread, fp32, against PyTorch DDP")}
T, B = MODELS[model]
config = {"model": model, "ranks": ranks, "threads_per_rank": 1, "pytorch_single_threads": ranks,
          "micro_batch": B, "global_batch": B * ranks, "seq_len": T, "steps": steps,
          "turns": turns, "ringtune_fp32_modes": rt_modes.split(","),
          "ringtune_bf16_modes": ["on"],
          "sides": {"ringtune": "ringtune train, P ranks x 1 thread, fp32 (bench_train.sh "
                                "--precision fp32; MFU against the measured sgemm peak)",
                    "ringtune_bf16": "ringtune train, P ranks x 1 thread, train.precision=bf16, "
                                     "overlap on (MFU against the measured bf16 GEMM peak)",
                    "pytorch": "PyTorch DDP (gloo), P ranks x 1 thread, fp32 (mode ddp; MFU "
                               "against an fp32 torch.mm peak, 1 thread)",
                    "pytorch_single_fp32": "PyTorch, one process x P threads, batch P x "
                                           "micro-batch, fp32 (mode single; MFU against an fp32 "
                                           "torch.mm peak, P threads)",
                    "pytorch_single_bf16": "the same under torch.autocast('cpu', "
                                           "dtype=torch.bfloat16), backward outside it (MFU "
                                           "against a bf16 torch.mm peak, P threads)"},
          "order": "per turn: ringtune fp32, ringtune bf16, PyTorch DDP fp32, PyTorch single "
                   "fp32, PyTorch single bf16",
          "statistic": "per turn: median over steps 2..N; overall: median over turns"}


def turn_tps(side, k):
    return next((t["tokens_per_s"] for t in sides[side] if t["turn"] == k), None)


def r(a, b):
    return round(a / b, 3) if a and b else None


results = []
for k in range(1, turns + 1):
    v = {side: turn_tps(side, k) for side in sides}
    results.append({"turn": k, "ringtune_tokens_per_s": v["ringtune"],
                    "pytorch_tokens_per_s": v["pytorch"],
                    "ratio": r(v["ringtune"], v["pytorch"]),
                    "ringtune_bf16_tokens_per_s": v["ringtune_bf16"],
                    "pytorch_single_fp32_tokens_per_s": v["pytorch_single_fp32"],
                    "pytorch_single_bf16_tokens_per_s": v["pytorch_single_bf16"],
                    "ratio_bf16_vs_pytorch_bf16_autocast":
                        r(v["ringtune_bf16"], v["pytorch_single_bf16"]),
                    "ratio_fp32_vs_pytorch_single_fp32":
                        r(v["ringtune"], v["pytorch_single_fp32"]),
                    "ratio_ringtune_bf16_vs_fp32": r(v["ringtune_bf16"], v["ringtune"])})
doc = benchlib.document(
    "vs_pytorch", config, results, **out,
    tokens_per_s={side: tps(side) for side in sides},
    mfu={side: out[side].get("mfu") for side in sides},
    peak_gflops={side: out[side].get("peak_gflops") for side in sides},
    ratios=ratios,
    ratio_vs_pytorch_bf16=ratios["ringtune_bf16_over_pytorch_single_bf16_autocast"],
    # ringtune fp32 / PyTorch DDP fp32, and its goal: the fields older readers know
    ratio_tokens_per_s=ratios["ringtune_fp32_over_pytorch_ddp_fp32"],
    goals=goals, goal=goals["fp32_vs_pytorch_ddp"])
for side in ("pytorch", "pytorch_single_fp32", "pytorch_single_bf16"):
    if sides[side]:
        doc["versions"].update(sides[side][0]["versions"])
        break
json.dump(doc, sys.stdout, indent=2)
print()
PY
