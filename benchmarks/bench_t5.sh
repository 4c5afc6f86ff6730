#!/usr/bin/env bash
# T5 training step, ringtune against transformers' T5ForConditionalGeneration (PyTorch, CPU, fp32
# and bf16 autocast) on the same shapes, batch, lengths, dropout, optimizer and cores: runs
# benchmarks/bench_t5_step (ringtune's model interface) and benchmarks/pytorch_t5.py --precision
# fp32 and --precision bf16 in alternating rounds (ringtune, PyTorch fp32, PyTorch bf16, ringtune,
# ...) so that drift of a shared machine hits all three, then prints one JSON document (the
# benchmarks/benchlib.py header), "benchmark": "vs_pytorch_t5":
#
#   per round and side: the medians over the timed steps of tokens/s (source + target tokens:
#   B x (Ts + Tt) / step seconds), target tokens/s (B x Tt / step seconds), ms per step, forward,
#   backward and optimizer, GFLOPS and MFU (ringtune against the BLIS sgemm peak it measured,
#   PyTorch against a torch.mm peak of the same dtype); overall the medians over rounds and the
#   ratios ringtune / PyTorch fp32 and ringtune / PyTorch bf16 of the tokens/s medians (the
#   per-round ratios too). Both sides count the same FLOPs per step (checked) and the same
#   parameters (checked).
#
# Each side runs pinned to the first --threads usable cores (ringtune under taskset where it is
# installed; the Python script pins itself) with that many threads.
#
# usage: bench_t5.sh [--quick] [--model small|tiny] [--gated] [--batch B] [--src-len Ts]
#                    [--tgt-len Tt] [--steps N] [--warmup N] [--rounds K] [--threads N]
#                    [--dropout P] [--work DIR]
#   --quick    smoke sizes: --model tiny --batch 2 --src-len 32 --tgt-len 16 --steps 2 --warmup 1
#              --rounds 1 (explicit flags win); seconds
#   --model    small (t5-small's shapes, random weights; default) or tiny (2 + 2 blocks of 64)
#   --gated    T5 v1.1 / flan-t5-small's shapes instead (d_ff 1024, 6 heads, 8 + 8 blocks,
#              gated-gelu, untied head)
#   --batch, --src-len, --tgt-len  B (default 4), source tokens Ts (256), target tokens Tt (64)
#   --steps    timed steps per side and round (default 5), after --warmup untimed ones (2)
#   --rounds   alternating rounds (default 3)
#   --threads  cores = threads per side (default 1)
#   --dropout  the dropout rate at every site, both sides (default 0.1, t5-small's)
#   --work     scratch directory (default a new /tmp/rt_bench_t5.*, removed at the end)
# Environment: BENCH_T5_STEP (the bench_t5_step binary, default build/benchmarks/bench_t5_step
# next to this source tree), PYTHON (the interpreter with torch and transformers for the PyTorch
# side; default python3). Without PyTorch the PyTorch side is skipped with a message and the
# document still holds ringtune's figures. Exit status 0, or 1 when a side failed or refused an
# MFU above 1 (the document is still printed, with that side's figures missing or null).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${BENCH_T5_STEP:-$here/../build/benchmarks/bench_t5_step}
py=${PYTHON:-python3}
quick=0 model="" gated=0 B="" Ts="" Tt="" steps="" warmup="" rounds="" threads="" dropout=""
work=""
usage() {
  echo "usage: $0 [--quick] [--model small|tiny] [--gated] [--batch B] [--src-len Ts]" \
       "[--tgt-len Tt] [--steps N] [--warmup N] [--rounds K] [--threads N] [--dropout P]" \
       "[--work DIR]" >&2
  exit 2
}
posint() { [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --gated) gated=1; shift ;;
    --model) [ $# -ge 2 ] || usage; model=$2; shift 2 ;;
    --batch) [ $# -ge 2 ] || usage; posint "$2"; B=$2; shift 2 ;;
    --src-len) [ $# -ge 2 ] || usage; posint "$2"; Ts=$2; shift 2 ;;
    --tgt-len) [ $# -ge 2 ] || usage; posint "$2"; Tt=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; posint "$2"; steps=$2; shift 2 ;;
    --warmup) [ $# -ge 2 ] || usage; [[ "$2" =~ ^[0-9]+$ ]] || usage; warmup=$2; shift 2 ;;
    --rounds) [ $# -ge 2 ] || usage; posint "$2"; rounds=$2; shift 2 ;;
    --threads) [ $# -ge 2 ] || usage; posint "$2"; threads=$2; shift 2 ;;
    --dropout) [ $# -ge 2 ] || usage; [[ "$2" =~ ^0(\.[0-9]+)?$ ]] || usage; dropout=$2; shift 2 ;;
    --work) [ $# -ge 2 ] || usage; work=$2; shift 2 ;;
    *) usage ;;
  esac
done
if [ $quick -eq 1 ]; then
  : "${model:=tiny}" "${B:=2}" "${Ts:=32}" "${Tt:=16}" "${steps:=2}" "${warmup:=1}" "${rounds:=1}"
fi
: "${model:=small}" "${B:=4}" "${Ts:=256}" "${Tt:=64}" "${steps:=5}" "${warmup:=2}" "${rounds:=3}"
: "${threads:=1}" "${dropout:=0.1}"
case "$model" in small|tiny) ;; *) usage ;; esac
[ -x "$bin" ] || { echo "bench_t5: $bin is not built (cmake --build build --target bench_t5_step)," \
                        "or set BENCH_T5_STEP" >&2; exit 2; }
cores=$(python3 "$here/train_metrics.py" cores)
if [ "$threads" -gt "$cores" ]; then
  echo "bench_t5: warning: $threads threads on $cores cores: oversubscribed" >&2
fi
W=${work:-$(mktemp -d /tmp/rt_bench_t5.XXXXXX)}
mkdir -p "$W"
[ -n "$work" ] || trap 'rm -rf "$W"' EXIT
rm -f "$W"/rt*.json "$W"/pt_*.json "$W"/*.rc  # a reused --work: no rows of an earlier run

shape=(--model "$model" --batch "$B" --src-len "$Ts" --tgt-len "$Tt" --steps "$steps"
       --warmup "$warmup" --threads "$threads" --dropout "$dropout")
[ $gated -eq 0 ] || shape+=(--gated)
# ringtune on the first $threads usable CPUs, the ones pytorch_t5.py pins itself to
cpus=$(python3 -c "import os, sys; n = int(sys.argv[1]); u = sorted(os.sched_getaffinity(0));
print(','.join(map(str, u[:n])) if len(u) >= n else '')" "$threads")
pinrt=()
if [ -n "$cpus" ] && command -v taskset >/dev/null 2>&1; then pinrt=(taskset -c "$cpus"); fi

# side NAME CMD...: CMD's stdout into W/NAME.json, its exit status into W/NAME.rc
side() {
  local name=$1 rc=0
  shift
  OMP_NUM_THREADS=$threads "$@" > "$W/$name.json" || rc=$?
  echo "$rc" > "$W/$name.rc"
  [ "$rc" -eq 0 ] || echo "bench_t5: $name exited $rc" >&2
}
skipped=0
for ((k = 1; k <= rounds; k++)); do
  echo "bench_t5: round $k/$rounds: ringtune ($model$([ $gated -eq 0 ] || echo ", gated"), B $B," \
       "$Ts + $Tt tokens, $threads thread(s))" >&2
  side "rt$k" "${pinrt[@]}" "$bin" "${shape[@]}"
  echo "bench_t5: round $k/$rounds: ringtune bf16" >&2
  side "rtb$k" "${pinrt[@]}" "$bin" "${shape[@]}" --precision bf16
  for p in fp32 bf16; do
    [ $skipped -eq 0 ] || continue
    if ! command -v "$py" >/dev/null 2>&1; then
      printf '{"benchmark": "pytorch_t5", "skipped": true, "reason": "%s not found"}\n' "$py" \
        > "$W/pt_$p$k.json"
      echo 0 > "$W/pt_$p$k.rc"
      echo "pytorch_t5: PyTorch not installed ($py not found); skipped" >&2
    else
      echo "bench_t5: round $k/$rounds: PyTorch $p ($py)" >&2
      side "pt_$p$k" "$py" "$here/pytorch_t5.py" "${shape[@]}" --precision "$p"
    fi
    if grep -q '"skipped": true' "$W/pt_$p$k.json"; then skipped=1; fi
  done
done

python3 - "$here" "$W" "$model" "$gated" "$B" "$Ts" "$Tt" "$steps" "$warmup" "$rounds" \
    "$threads" "$dropout" "$cores" "$py" "${cpus:-}" "${#pinrt[@]}" <<'PY'
import json, os, statistics, sys
here, work, model = sys.argv[1:4]
gated = sys.argv[4] == "1"
B, Ts, Tt, steps, warmup, rounds, threads = map(int, sys.argv[5:12])
dropout, cores, py, cpus, pinned_rt = float(sys.argv[12]), int(sys.argv[13]), sys.argv[14], \
    sys.argv[15], sys.argv[16] != "0"
sys.path.insert(0, here)
import benchlib

warnings, failed = [], []
PHASES = ("ms_step", "ms_forward", "ms_backward", "ms_optimizer")
FIGS = ("tokens_per_s", "target_tokens_per_s", "gflops", "mfu") + PHASES


def load(name):
    path = os.path.join(work, name + ".json")
    rc = int(open(os.path.join(work, name + ".rc")).read()) if os.path.exists(
        os.path.join(work, name + ".rc")) else None
    if rc:
        failed.append("%s exited %d" % (name, rc))
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        if os.path.exists(path):
            warnings.append("%s: no valid JSON" % name)
        return None


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def ratio(a, b, nd=3):
    return round(a / b, nd) if a is not None and b else None


def medians(r):
    """The per-step medians of one result entry."""
    return {k: (r.get(k) or {}).get("median") for k in FIGS}


rt_rounds, rtb_rounds, pt_rounds = [], [], {"fp32": [], "bf16": []}
ref = {}
for k in range(1, rounds + 1):
    d = load("rtb%d" % k)
    if d and d.get("results"):
        r = d["results"][0]
        rtb_rounds.append({"round": k, **medians(r), "bf16_peak_gflops": d.get("sgemm_peak_gflops"),
                           "gemm_kernel": d.get("gemm_kernel"),
                           "loss_first_step": r.get("loss_first_step"),
                           "loss_last_step": r.get("loss_last_step")})
    d = load("rt%d" % k)
    if d and d.get("results"):
        r = d["results"][0]
        e = {"round": k, **medians(r), "sgemm_peak_gflops": d.get("sgemm_peak_gflops"),
             "loss_first_step": r.get("loss_first_step"), "loss_last_step": r.get("loss_last_step")}
        ref.setdefault("rt", (r.get("flops_per_step"), r.get("params")))
        ref.setdefault("rt_doc", d)
        rt_rounds.append(e)
    for p in ("fp32", "bf16"):
        name = "pt_%s%d" % (p, k)
        if not os.path.exists(os.path.join(work, name + ".json")):
            continue
        d = load(name)
        if not d or d.get("skipped"):
            if d:
                ref.setdefault("skip", d.get("reason"))
            continue
        for msg in d.get("refused") or []:
            warnings.append("%s: %s" % (name, msg))
        for r in d.get("results") or []:
            e = {"round": k, **medians(r), "peak_gflops": r.get("peak_gflops"),
                 "loss_first_step": r.get("loss_first_step"),
                 "loss_last_step": r.get("loss_last_step")}
            pt_rounds[r["precision"]].append(e)
            ref.setdefault("pt", (d["config"].get("flops_per_step"), d["config"].get("parameters")))
            ref.setdefault("versions", {x: d["versions"].get(x) for x in ("torch", "transformers")})
            ref.setdefault("attn", d["config"].get("attn_implementation"))

if "rt" in ref and "pt" in ref:
    (frt, prt), (fpt, ppt) = ref["rt"], ref["pt"]
    if frt is None or fpt is None or abs(frt - fpt) > 1e-9 * max(frt, fpt):
        warnings.append("FLOPs per step differ: ringtune %s, pytorch_t5.py %s" % (frt, fpt))
    if prt != ppt:
        warnings.append("parameters differ: ringtune %s, PyTorch %s" % (prt, ppt))


DIGITS = {"tokens_per_s": 2, "target_tokens_per_s": 2, "gflops": 2, "mfu": 4}


def rnd(x, nd):
    return None if x is None else round(x, nd)


def side(rows):
    if not rows:
        return None
    out = {k: rnd(med(r[k] for r in rows), DIGITS.get(k, 2)) for k in FIGS}
    out["tokens_per_s_over_rounds"] = benchlib.stats([r["tokens_per_s"] for r in rows
                                                      if r["tokens_per_s"] is not None])
    out["rounds"] = rows
    return out


side_rt = side(rt_rounds) or {"failed": True}
side_rtb = side(rtb_rounds) or {"failed": True}
side_pt = {}
for p in ("fp32", "bf16"):
    s = side(pt_rounds[p])
    if s:
        side_pt[p] = s
if not side_pt:
    side_pt = {"skipped": True, "reason": ref.get("skip", "no result")}


def fig(s, key):
    return s.get(key) if isinstance(s, dict) else None


rt_tps = fig(side_rt, "tokens_per_s")
rtb_tps = fig(side_rtb, "tokens_per_s")
summary = {"tokens_per_s": {"ringtune": rt_tps, "ringtune_bf16": rtb_tps,
                            "pytorch_fp32": fig(side_pt.get("fp32"), "tokens_per_s"),
                            "pytorch_bf16": fig(side_pt.get("bf16"), "tokens_per_s")},
           "target_tokens_per_s": {"ringtune": fig(side_rt, "target_tokens_per_s"),
                                   "pytorch_fp32": fig(side_pt.get("fp32"), "target_tokens_per_s"),
                                   "pytorch_bf16": fig(side_pt.get("bf16"),
                                                       "target_tokens_per_s")},
           "mfu": {"ringtune": fig(side_rt, "mfu"), "ringtune_bf16": fig(side_rtb, "mfu"),
                   "pytorch_fp32": fig(side_pt.get("fp32"), "mfu"),
                   "pytorch_bf16": fig(side_pt.get("bf16"), "mfu")}}
for ph in PHASES:
    summary[ph] = {"ringtune": fig(side_rt, ph), "ringtune_bf16": fig(side_rtb, ph),
                   "pytorch_fp32": fig(side_pt.get("fp32"), ph),
                   "pytorch_bf16": fig(side_pt.get("bf16"), ph)}
results = []
for r in rt_rounds:
    row = {"round": r["round"], "ringtune_tokens_per_s": r["tokens_per_s"]}
    for p in ("fp32", "bf16"):
        x = next((e for e in pt_rounds[p] if e["round"] == r["round"]), None)
        row["pytorch_%s_tokens_per_s" % p] = x["tokens_per_s"] if x else None
        row["ratio_vs_pytorch_%s" % p] = ratio(r["tokens_per_s"], x["tokens_per_s"] if x else None)
    xb = next((e for e in rtb_rounds if e["round"] == r["round"]), None)
    xp = next((e for e in pt_rounds["bf16"] if e["round"] == r["round"]), None)
    row["ringtune_bf16_tokens_per_s"] = xb["tokens_per_s"] if xb else None
    row["ratio_bf16_vs_pytorch_bf16"] = ratio(xb["tokens_per_s"] if xb else None,
                                              xp["tokens_per_s"] if xp else None)
    results.append(row)
name = {("small", False): "t5-small", ("small", True): "t5-v1_1-small-shapes",
        ("tiny", False): "tiny", ("tiny", True): "tiny-gated"}[(model, gated)]
rd = ref.get("rt_doc") or {}
config = {"model": name, "shapes": (rd.get("config") or {}).get("shapes"), "batch": B,
          "src_len": Ts, "tgt_len": Tt, "steps": steps, "warmup_steps": warmup,
          "rounds": rounds, "threads": threads, "dropout": dropout, "cores_usable": cores,
          "cpus": cpus, "ringtune_pinned": pinned_rt, "python": py,
          "flops_per_step": (ref.get("rt") or (None,))[0], "parameters": (ref.get("rt") or
                                                                         (None, None))[1],
          "pytorch_attn_implementation": ref.get("attn"),
          "order": "alternating rounds: ringtune, ringtune bf16, PyTorch fp32, PyTorch bf16, "
                   "ringtune, ...",
          "ringtune_bf16": "bench_t5_step --precision bf16: train.precision bf16 (bf16 operands, "
                           "fp32 accumulation; MFU against the bf16 kernel's measured peak)",
          "statistic": "per round: the median over the timed steps; overall: the median over "
                       "rounds; ratios: of those medians",
          "tokens_per_s": "source + target tokens per second: B * (src_len + tgt_len) / step",
          "target_tokens_per_s": "target (loss) tokens per second: B * tgt_len / step",
          "phases": "forward (encoder, decoder, LM head and loss), backward, optimizer (clip + "
                    "AdamW over every parameter); same split on both sides",
          "mfu": "model FLOPs (bench_t5_step: rt_model_flops_done, equal to pytorch_t5.py's "
                 "closed form) / step time / peak; ringtune: BLIS sgemm 2048^3, PyTorch: "
                 "torch.mm 2048^3 of the same dtype, best of repeats before and after"}
doc = benchlib.document("vs_pytorch_t5", config, results, ringtune=side_rt,
                        ringtune_bf16=side_rtb, pytorch=side_pt,
                        summary=summary,
                        ratio_vs_pytorch_fp32=ratio(rt_tps, fig(side_pt.get("fp32"),
                                                                "tokens_per_s")),
                        ratio_vs_pytorch_bf16=ratio(rt_tps, fig(side_pt.get("bf16"),
                                                                "tokens_per_s")),
                        ratio_bf16_vs_pytorch_bf16=ratio(rtb_tps, fig(side_pt.get("bf16"),
                                                                      "tokens_per_s")),
                        ratio_bf16_vs_fp32=ratio(rtb_tps, rt_tps),
                        warnings=warnings, failed=failed)
doc["versions"].update(ref.get("versions") or {})
doc["versions"]["ringtune"] = (rd.get("versions") or {}).get("ringtune",
                                                             doc["versions"]["ringtune"])
for w in warnings + failed:
    print("bench_t5: warning: " + w, file=sys.stderr)
json.dump(doc, sys.stdout, indent=2)
print()
sys.exit(1 if failed or not rt_rounds else 0)
PY
