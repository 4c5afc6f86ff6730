#!/usr/bin/env bash
# Sequence classification, ringtune against transformers' GPT2ForSequenceClassification (PyTorch,
# CPU, fp32 and bf16 autocast: benchmarks/pytorch_seqcls.py) on the same shapes, batch and cores.
# Prints one JSON document (benchmarks/benchlib.py header), "benchmark": "vs_pytorch_seqcls":
#
#   full fine-tuning  `ringtune train` with data.task classification, finetune.mode full, on P ranks
#                     x 1 thread, micro-batch 4, global batch 4P, 4 classes, sequences of exactly
#                     128 tokens, no dropout; PyTorch: pytorch_seqcls.py --mode train --threads P
#                     --batch 4P --precision both. Alternating turns (ringtune, PyTorch, ringtune,
#                     ...); per turn the medians over steps 2..N (PyTorch: 1 warm-up step, N-1 timed)
#                     of examples/s (= global batch / step seconds), tokens/s and MFU (ringtune's
#                     own figure from metrics.jsonl; PyTorch's against its torch.mm peak); overall
#                     the medians over turns and the ratios ringtune / PyTorch fp32 and ringtune /
#                     PyTorch bf16 (bf16 autocast: the best a user would run instead).
#   feature extraction  finetune.mode feature_extraction for E whole epochs, once with
#                     finetune.feature_cache=true and once =false: seconds per epoch of training
#                     steps (rank 0's ms_step summed per epoch), the cache build time (the run's
#                     "feature cache: ... computed in X s" line), uncached / cached epoch time and
#                     the first epoch's ratio with the build counted; PyTorch's features mode
#                     (the backbone forward under no_grad every epoch, then the head) as reference.
#
# The corpus: consecutive 1000-character chunks of cli/demo/general.txt as JSONL, label = chunk
# index mod 4 ("a", "b", "c", "d"), prepped with the GPT-2 tokenizer (cli/demo/tokenizers/gpt2)
# and --max-length 128: N training examples and 4 validation examples (one per class). The script
# checks prep's token counts (every example exactly 128 tokens) and the runs' tokens/s over
# examples/s (128 tokens per example: no micro-batch is padded short).
#
# usage: bench_seqcls.sh [--quick] [--model 124m|small] [--ranks P] [--steps N] [--turns K]
#                        [--examples N] [--epochs E] [--work DIR]
#   --quick     smoke sizes: --model small --steps 3 --turns 1 --examples 16 --epochs 2 (explicit
#               flags win); seconds
#   --model     124m (GPT-2 124M's shapes, random weights; default) or small (2 x 128, 2 heads)
#   --ranks     ringtune ranks x 1 thread; PyTorch threads (default 1)
#   --steps     full fine-tuning steps per ringtune turn, statistics over 2..N (default 5)
#   --turns     alternating turns of the full fine-tuning comparison (default 3)
#   --examples  training examples, a multiple of 4 x P (default 64 for 124m, 32 for small; <= 252)
#   --epochs    feature-extraction epochs, >= 2 (default 2)
#   --work      scratch directory (default a new /tmp/rt_bench_seqcls.*, removed at the end)
# Environment: RINGTUNE (the ringtune binary, default build/cli/ringtune), PYTHON (the interpreter
# with torch and transformers for the PyTorch side; default python3). Without PyTorch the PyTorch
# side is skipped with a message and the document still holds ringtune's figures (exit status 0).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TC_NAME=bench_seqcls
TC_THREADS=1
# shellcheck source=train_common.sh
source "$here/train_common.sh"
py=${PYTHON:-python3}
quick=0 model="" ranks="" steps="" turns="" examples="" epochs="" work=""
usage() {
  echo "usage: $0 [--quick] [--model 124m|small] [--ranks P] [--steps N] [--turns K]" \
       "[--examples N] [--epochs E] [--work DIR]" >&2
  exit 2
}
posint() { [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --model) [ $# -ge 2 ] || usage; model=$2; shift 2 ;;
    --ranks) [ $# -ge 2 ] || usage; posint "$2"; ranks=$2; shift 2 ;;
    --steps) [ $# -ge 2 ] || usage; posint "$2"; steps=$2; shift 2 ;;
    --turns) [ $# -ge 2 ] || usage; posint "$2"; turns=$2; shift 2 ;;
    --examples) [ $# -ge 2 ] || usage; posint "$2"; examples=$2; shift 2 ;;
    --epochs) [ $# -ge 2 ] || usage; posint "$2"; epochs=$2; shift 2 ;;
    --work) [ $# -ge 2 ] || usage; work=$2; shift 2 ;;
    *) usage ;;
  esac
done
if [ $quick -eq 1 ]; then
  : "${model:=small}" "${steps:=3}" "${turns:=1}" "${examples:=16}" "${epochs:=2}"
fi
: "${model:=124m}" "${ranks:=1}" "${steps:=5}" "${turns:=3}" "${epochs:=2}"
case "$model" in
  124m) : "${examples:=64}" ;;
  small) : "${examples:=32}" ;;
  *) usage ;;
esac
tc_model "$model" || usage  # TC_SHAPE; the sequence length and micro-batch are this benchmark's
T=128 B=4 K=4 CHUNK=1000
G=$((B * ranks))
[ "$steps" -ge 2 ] || { echo "bench_seqcls: --steps needs at least 2 (statistics over steps 2..N)" >&2
                       usage; }
[ "$epochs" -ge 2 ] || { echo "bench_seqcls: --epochs needs at least 2" >&2; usage; }
[ $((examples % G)) -eq 0 ] || {
  echo "bench_seqcls: --examples $examples is not a multiple of the global batch $G (4 x P):" \
       "every step should hold $G examples" >&2; usage; }
[ "$examples" -le 252 ] || {
  echo "bench_seqcls: --examples at most 252 (cli/demo/general.txt holds 256 chunks of" \
       "$CHUNK characters, 4 go to validation)" >&2; usage; }
TC_CORES=$(tc_cores)
if [ "$ranks" -gt "$TC_CORES" ]; then
  echo "bench_seqcls: warning: $ranks ranks on $TC_CORES cores: oversubscribed, the ranks" \
       "time-share cores" >&2
fi
[ -x "$TC_RT" ] || { echo "bench_seqcls: $TC_RT is not built (cmake --build build), or set RINGTUNE" >&2
                     exit 2; }
TC_WORK=${work:-$(mktemp -d /tmp/rt_bench_seqcls.XXXXXX)}
mkdir -p "$TC_WORK"
[ -n "$work" ] || trap 'rm -rf "$TC_WORK"' EXIT
W=$TC_WORK
rm -rf "$W"/full* "$W"/fe_* "$W"/pt_*.json  # a reused --work: no rows of an earlier run

# --- model, labeled corpus, run config ----------------------------------------------------------
"$TC_RT" init --out "$W/model" --vocab 50257 "${TC_SHAPE[@]}" --seed 1 >/dev/null
# examples + 4 chunks; a validation ratio of 1 / (examples/4 + 1) sends exactly one per class
python3 - "$here/../cli/demo/general.txt" "$W/examples.jsonl" $((examples + K)) "$CHUNK" <<'PY'
import json, sys
src, dst, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with open(src, encoding="utf-8") as f:
    text = f.read()
with open(dst, "w") as o:
    for i in range(n):
        chunk = text[i * size:(i + 1) * size]
        assert len(chunk) == size, "general.txt is shorter than %d chunks" % n
        o.write(json.dumps({"text": chunk, "label": "abcd"[i % 4]}) + "\n")
PY
val_ratio=$(python3 -c "print(repr(1.0 / ($examples / $K + 1)))")
"$TC_RT" prep --quiet --overwrite --out "$W/corpus.h5" --format jsonl --text-field text \
    --label-field label --max-length "$T" --val-ratio "$val_ratio" "$W/examples.jsonl" \
    > "$W/prep.log" 2>&1 || { echo "bench_seqcls: prep failed" >&2; cat "$W/prep.log" >&2; exit 1; }
# every example exactly T tokens: T x documents tokens in both splits (prep cuts at T, so fewer
# would mean a shorter example)
python3 - "$W/prep.log" "$examples" "$K" "$T" <<'PY' || { cat "$W/prep.log" >&2; exit 1; }
import re, sys
log = open(sys.argv[1]).read()
n, k, t = map(int, sys.argv[2:5])
m = re.search(r"train: (\d+) documents, (\d+) tokens; validation: (\d+) documents, (\d+) tokens",
              log)
if not m:
    sys.exit("bench_seqcls: no split counts in prep's output")
nt, tt, nv, tv = map(int, m.groups())
if (nt, nv) != (n, k) or tt != n * t or tv != k * t:
    sys.exit("bench_seqcls: prep made %d train examples (%d tokens) and %d validation (%d tokens); "
             "expected %d and %d of exactly %d tokens each" % (nt, tt, nv, tv, n, k, t))
PY
cat > "$W/run.yaml" <<YAML
model: {path: $W/model, dropout: {embd: 0.0, attn: 0.0, resid: 0.0}}
data: {corpus: $W/corpus.h5, task: classification, seq_len: $T}
train: {global_batch: $G, micro_batch: $B, max_steps: $steps}
optim: {lr: 1.0e-4, warmup_steps: 1, beta1: 0.9, beta2: 0.95, eps: 1.0e-8, weight_decay: 0.1, clip_norm: 1.0}
finetune: {mode: full}
eval: {max_batches: 1}
dist: {threads_per_rank: $TC_THREADS}
output: {dir: $W/out, log_every: 0}
YAML

# timed NAME CMD...: runs CMD, its wall-clock seconds into W/NAME.wall
timed() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 3))" "$t0" "$t1" \
    > "$W/$name.wall"
}

# pytorch NAME ARGS...: pytorch_seqcls.py under $py into W/NAME.json, or a skipped document
skipped=0
pytorch() {
  local name=$1
  shift
  [ $skipped -eq 0 ] || return 0
  if ! command -v "$py" >/dev/null 2>&1; then
    printf '{"benchmark": "pytorch_seqcls", "skipped": true, "reason": "%s not found"}\n' "$py" \
      > "$W/$name.json"
    echo "pytorch_seqcls: PyTorch not installed ($py not found); skipped" >&2
  else
    "$py" "$here/pytorch_seqcls.py" --model "$model" --threads "$ranks" --batch "$G" "$@" \
      > "$W/$name.json"
  fi
  if grep -q '"skipped": true' "$W/$name.json"; then skipped=1; fi
}

# --- full fine-tuning, alternating turns ------------------------------------------------------
for ((k = 1; k <= turns; k++)); do
  echo "bench_seqcls: turn $k/$turns: ringtune full fine-tuning ($ranks ranks)" >&2
  tc_train "full fine-tuning, turn $k" "$ranks" "$W/full$k"
  if [ $skipped -eq 0 ]; then
    echo "bench_seqcls: turn $k/$turns: PyTorch full fine-tuning ($py)" >&2
  fi
  pytorch "pt_train$k" --mode train --steps $((steps - 1)) --warmup 1 --precision both
done

# --- feature extraction: cache on, cache off, PyTorch's features mode ---------------------------
fe=(finetune.mode=feature_extraction train.max_steps=null "train.epochs=$epochs")
echo "bench_seqcls: ringtune feature extraction, feature cache on ($epochs epochs)" >&2
timed fe_cache tc_train "feature extraction, cache on" "$ranks" "$W/fe_cache" "${fe[@]}" \
    finetune.feature_cache=true
echo "bench_seqcls: ringtune feature extraction, feature cache off ($epochs epochs)" >&2
timed fe_nocache tc_train "feature extraction, cache off" "$ranks" "$W/fe_nocache" "${fe[@]}" \
    finetune.feature_cache=false
if [ $skipped -eq 0 ]; then
  echo "bench_seqcls: PyTorch features mode ($epochs epochs)" >&2
fi
pytorch pt_features --mode features --examples "$examples" --repeats "$epochs" --precision both

python3 - "$here" "$W" "$model" "$ranks" "$steps" "$turns" "$examples" "$epochs" "$G" "$T" \
    "$TC_CORES" "$py" <<'PY'
import json, os, re, statistics, sys
here, work, model = sys.argv[1:4]
ranks, steps, turns, N, epochs, G, T, cores = map(int, sys.argv[4:12])
py = sys.argv[12]
sys.path.insert(0, here)
import benchlib, train_metrics

warnings = []


def load(name):
    path = os.path.join(work, name)
    return json.load(open(path)) if os.path.exists(path) else None


def rnd(x, nd):
    return None if x is None else round(x, nd)


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def rstats(values, nd):
    return {k: round(v, nd) if isinstance(v, float) else v
            for k, v in benchlib.stats(values).items()}


def ratio(a, b, nd=3):
    return round(a / b, nd) if a is not None and b else None


def check_mfu(what, rows):
    high = [r["mfu"] for r in rows if r.get("mfu") is not None and r["mfu"] > 1.0]
    if high:
        warnings.append("%s: ringtune's metrics.jsonl reports MFU above 1 (%s)"
                        % (what, ", ".join("%g" % x for x in high)))


# ---- full fine-tuning --------------------------------------------------------------------------
rt_turns, pt_turns = [], []
for k in range(1, turns + 1):
    path = "%s/full%d/metrics.jsonl" % (work, k)
    rows = train_metrics.train_rows(path)
    check_mfu("full fine-tuning turn %d" % k, rows)
    s = train_metrics.step_stats(path)
    use = rows[1:]
    # examples/s = examples per step (the global batch) / step seconds; the file's own
    # examples_per_s, and tokens/s x step seconds / global batch: the tokens per example (the
    # padded micro-batch's T)
    eps = [G / (r["ms_step"] / 1e3) for r in use]
    tpe = [r["tokens_per_s"] * r["ms_step"] / 1e3 / G for r in use]
    t = {"turn": k, "examples_per_s": rstats(eps, 3), "s_step": s["s_step"],
         "tokens_per_s": s["tokens_per_s"], "mfu": s["mfu"],
         "metrics_examples_per_s": rstats([r["examples_per_s"] for r in use
                                           if r.get("examples_per_s") is not None], 3),
         "tokens_per_example": rnd(med(tpe), 1), "peak_gflops": s["peak_gflops"],
         "steps_measured": s["steps_measured"]}
    for ph in ("ms_forward", "ms_backward", "ms_comm_wait", "ms_optimizer"):
        t[ph] = s[ph]["median"]
    if t["tokens_per_example"] is not None and abs(t["tokens_per_example"] - T) > 0.5:
        warnings.append("full fine-tuning turn %d: %.1f tokens per example (tokens/s x s_step / global batch), not %d"
                        % (k, t["tokens_per_example"], T))
    rt_turns.append(t)
    d = load("pt_train%d.json" % k)
    if d is not None and not d.get("skipped"):
        e = {"turn": k}
        for r in d.get("results") or []:
            if r.get("mode") == "train":
                e[r["precision"]] = {"examples_per_s": r["examples_per_s"]["median"],
                                     "tokens_per_s": r["tokens_per_s"]["median"],
                                     "mfu": r["mfu"]["median"], "s_step": r["s_step"]["median"],
                                     "ms_forward": r["ms_forward"]["median"],
                                     "ms_backward": r["ms_backward"]["median"],
                                     "ms_optimizer": r["ms_optimizer"]["median"]}
        e["peak_gflops"] = d["config"].get("peak_gflops")
        e["versions"] = {x: d["versions"].get(x) for x in ("torch", "transformers")}
        pt_turns.append(e)

side_rt = {"examples_per_s": benchlib.stats([t["examples_per_s"]["median"] for t in rt_turns]),
           "tokens_per_s": med(t["tokens_per_s"]["median"] for t in rt_turns),
           "mfu": med(t["mfu"]["median"] for t in rt_turns),
           "tokens_per_example": med(t["tokens_per_example"] for t in rt_turns),
           "turns": rt_turns}
skip = load("pt_train1.json") or {}
if pt_turns:
    side_pt = {}
    for p in ("fp32", "bf16"):
        v = [t[p] for t in pt_turns if p in t]
        side_pt[p] = {"examples_per_s": benchlib.stats([x["examples_per_s"] for x in v]),
                      "tokens_per_s": med(x["tokens_per_s"] for x in v),
                      "mfu": med(x["mfu"] for x in v)}
    side_pt["turns"] = pt_turns
else:
    side_pt = {"skipped": True, "reason": skip.get("reason", "no result")}


def pt_med(p, key="examples_per_s"):
    if side_pt.get("skipped") or p not in side_pt:
        return None
    x = side_pt[p][key]
    return x["median"] if isinstance(x, dict) else x


rt_eps = side_rt["examples_per_s"]["median"]
full = {"examples_per_s": {"ringtune": rnd(rt_eps, 3), "pytorch_fp32": rnd(pt_med("fp32"), 3),
                           "pytorch_bf16": rnd(pt_med("bf16"), 3)},
        "mfu": {"ringtune": side_rt["mfu"], "pytorch_fp32": pt_med("fp32", "mfu"),
                "pytorch_bf16": pt_med("bf16", "mfu")},
        "ratio_vs_pytorch_fp32": ratio(rt_eps, pt_med("fp32")),
        "ratio_vs_pytorch_bf16": ratio(rt_eps, pt_med("bf16"))}
results = []
for t in rt_turns:
    p = next((x for x in pt_turns if x["turn"] == t["turn"]), {})
    r = t["examples_per_s"]["median"]
    f32 = (p.get("fp32") or {}).get("examples_per_s")
    b16 = (p.get("bf16") or {}).get("examples_per_s")
    results.append({"part": "full_finetune", "turn": t["turn"], "ringtune_examples_per_s": r,
                    "pytorch_fp32_examples_per_s": f32, "pytorch_bf16_examples_per_s": b16,
                    "ratio_vs_pytorch_fp32": ratio(r, f32),
                    "ratio_vs_pytorch_bf16": ratio(r, b16)})

# ---- feature extraction ------------------------------------------------------------------------
CACHE_RE = re.compile(r"feature cache: (\d+) train \+ (\d+) validation examples x (\d+) floats"
                      r".*? computed in ([0-9.]+) s")


def fe_run(d, cached):
    rows = train_metrics.train_rows("%s/%s/metrics.jsonl" % (work, d))
    check_mfu("feature extraction (%s)" % d, rows)
    per = {}
    for r in rows:  # a step whose epoch counter ends in (e-1, e] belongs to epoch e
        e = max(1, int(-(-(r["epoch"] - 1e-6) // 1)))
        per.setdefault(e, []).append(r)
    s_epoch = [sum(r["ms_step"] for r in per[e]) / 1e3 for e in sorted(per)]
    out = {"feature_cache": cached, "epochs": len(per), "steps": len(rows),
           "steps_per_epoch": [len(per[e]) for e in sorted(per)],
           "s_epoch_each": [round(x, 6) for x in s_epoch],
           "s_epoch": rstats(s_epoch, 6),
           "examples_per_s_epoch": rstats([N / x for x in s_epoch if x > 0], 1),
           "s_steps_total": round(sum(s_epoch), 6),
           "s_run_wall": float(open("%s/%s.wall" % (work, d)).read()),
           "mfu_steps_2_n": rnd(med(r["mfu"] for r in rows[1:]), 4),
           "losses": [r["loss"] for r in rows]}
    if len(per) != epochs or any(len(v) != N // G for v in per.values()):
        warnings.append("%s: %d epochs of %s steps in metrics.jsonl, expected %d of %d"
                        % (d, len(per), out["steps_per_epoch"], epochs, N // G))
    log = open("%s/%s.log" % (work, d)).read()
    m = CACHE_RE.search(log)
    if cached:
        if m:
            out["cache_build_s"] = float(m.group(4))
            out["cache_examples"] = {"train": int(m.group(1)), "validation": int(m.group(2))}
            out["cache_floats_per_example"] = int(m.group(3))
        else:
            out["cache_build_s"] = None
            warnings.append("%s: no 'feature cache: ... computed in X s' line in the log" % d)
        out["cache_build_in_metrics_jsonl"] = any(
            "cache" in line for line in open("%s/%s/metrics.jsonl" % (work, d)))
    elif m:
        warnings.append("%s: feature_cache=false, yet the log reports a feature cache" % d)
    return out


fc, nc = fe_run("fe_cache", True), fe_run("fe_nocache", False)
# dropout is 0, so both runs see the same features: their losses should agree
diff = max((abs(a - b) for a, b in zip(fc["losses"], nc["losses"])), default=None)
loss_check = {"steps_compared": min(len(fc["losses"]), len(nc["losses"])),
              "max_abs_loss_difference": diff}
for r in (fc, nc):
    del r["losses"]
cb = fc.get("cache_build_s")
first_cached = fc["s_epoch_each"][0] + cb if cb is not None else None
feat = {"s_epoch_cached": fc["s_epoch"]["median"], "s_epoch_uncached": nc["s_epoch"]["median"],
        "cache_build_s": cb,
        "ratio_epoch_uncached_over_cached": ratio(nc["s_epoch"]["median"],
                                                  fc["s_epoch"]["median"], 1),
        "s_first_epoch_cached_with_build": rnd(first_cached, 6),
        "s_first_epoch_uncached": nc["s_epoch_each"][0],
        "ratio_first_epoch_uncached_over_cached_with_build": ratio(nc["s_epoch_each"][0],
                                                                   first_cached),
        "s_all_epochs_cached_with_build": rnd(fc["s_steps_total"] + cb, 6) if cb is not None
        else None,
        "s_all_epochs_uncached": nc["s_steps_total"],
        "loss_check_cached_vs_uncached": loss_check}
results.append({"part": "feature_extraction", "side": "ringtune", **fc})
results.append({"part": "feature_extraction", "side": "ringtune", **nc})
d = load("pt_features.json")
pt_feat = {}
if d is not None and not d.get("skipped"):
    for r in d.get("results") or []:
        if r.get("mode") == "features":
            p = r["precision"]
            pt_feat[p] = {"s_epoch": r["s_epoch"]["median"], "s_extract": r["s_extract"]["median"],
                          "s_head": r["s_head"]["median"],
                          "examples_per_s": r["examples_per_s"]["median"],
                          "mfu": r["mfu"]["median"]}
            results.append({"part": "feature_extraction", "side": "pytorch", "precision": p,
                            "examples": r["examples"], "batch": r["batch"],
                            "s_epoch": r["s_epoch"], "s_extract": r["s_extract"],
                            "s_head": r["s_head"], "examples_per_s": r["examples_per_s"],
                            "mfu": r["mfu"]})
    for p, v in pt_feat.items():
        # PyTorch's features mode runs the backbone every epoch, as ringtune without the cache;
        # over all E epochs against ringtune's cache (its build counted once)
        v["ratio_epoch_pytorch_over_ringtune_uncached"] = ratio(v["s_epoch"],
                                                                nc["s_epoch"]["median"])
        tot = feat["s_all_epochs_cached_with_build"]
        v["ratio_all_epochs_pytorch_over_ringtune_cached_with_build"] = ratio(
            epochs * v["s_epoch"], tot)
    feat["pytorch"] = pt_feat
else:
    feat["pytorch"] = {"skipped": True,
                       "reason": (d or {}).get("reason", skip.get("reason", "no result"))}

config = {"model": model, "ranks": ranks, "threads_per_rank": 1, "micro_batch": G // ranks,
          "global_batch": G, "seq_len": T, "num_labels": 4, "dropout": 0.0, "steps": steps,
          "turns": turns, "train_examples": N, "validation_examples": 4, "epochs": epochs,
          "cores_usable": cores, "oversubscribed": ranks > cores, "python": py,
          "corpus": "cli/demo/general.txt in consecutive 1000-character chunks, label = index "
                    "mod 4 (a, b, c, d); ringtune prep --format jsonl --label-field label "
                    "--max-length 128 (GPT-2 tokenizer); every example exactly 128 tokens "
                    "(checked on prep's token counts)",
          "optim": "AdamW lr 1e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1, clip 1.0 (both "
                   "sides)",
          "order": "full fine-tuning in alternating turns: ringtune, PyTorch (fp32, bf16), "
                   "ringtune, ...; then feature extraction: cache on, cache off, PyTorch",
          "statistic": "full fine-tuning: per turn the median over steps 2..N of rank 0's "
                       "metrics.jsonl (PyTorch: N-1 timed steps after 1 warm-up), overall the "
                       "median over turns; feature extraction: seconds per epoch = rank 0's "
                       "ms_step summed over the epoch's steps, median over epochs",
          "examples_per_s": "global batch / step seconds",
          "mfu": "ringtune: the mfu of its metrics.jsonl (model FLOPs over the sgemm peak it "
                 "measured); PyTorch: pytorch_seqcls.py's, over its torch.mm peak"}
doc = benchlib.document("vs_pytorch_seqcls", config, results, ringtune=side_rt,
                        pytorch=side_pt, full_finetune=full, feature_extraction=feat,
                        warnings=warnings)
if pt_turns:
    doc["versions"].update(pt_turns[0]["versions"])
for w in warnings:
    print("bench_seqcls: warning: " + w, file=sys.stderr)
json.dump(doc, sys.stdout, indent=2)
print()
PY
