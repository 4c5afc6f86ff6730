#!/usr/bin/env bash
# Data-parallel training step: `ringtune train` at P ranks with gradient-bucket overlap on and off,
# and the same per-rank work on 1 rank without communication (compute only). Prints JSON with the
# median step time of each, the fraction of communication hidden, tokens/s and MFU.
# usage: bench_train.sh [--model 124m|small] [--ranks P] [--steps N] [--work DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rt=${RINGTUNE:-$here/../build/cli/ringtune}
model=124m ranks=2 steps=5 work=$(mktemp -d /tmp/rt_bench_train.XXXXXX)
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "usage: $0 [--model 124m|small] [--ranks P] [--steps N] [--work DIR]" >&2; exit 2 ;;
  esac
done
case "$model" in
  124m) shape=(--layers 12 --embd 768 --heads 12 --positions 1024); T=256 B=4 ;;
  small) shape=(--layers 2 --embd 128 --heads 2 --positions 128); T=64 B=4 ;;
  *) echo "bench_train: --model 124m or small" >&2; exit 2 ;;
esac
mpi=(mpirun --oversubscribe --bind-to core)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
mkdir -p "$work"
"$rt" init --out "$work/model" --vocab 50257 "${shape[@]}" --seed 1 >/dev/null
"$rt" prep --quiet --overwrite --out "$work/corpus.h5" --delimiter '' --val-ratio 0.05 \
    "$here/../cli/demo/general.txt" >/dev/null
cat > "$work/run.yaml" <<YAML
model: {path: $work/model, dropout: {embd: 0.0, attn: 0.0, resid: 0.0}}
data: {corpus: $work/corpus.h5, seq_len: $T}
train: {global_batch: $((B * ranks)), micro_batch: $B, max_steps: $steps}
optim: {lr: 1.0e-4, warmup_steps: 1}
eval: {max_batches: 1}
dist: {threads_per_rank: 1}
output: {dir: $work/out, log_every: 0}
YAML
# median seconds per step over steps 2..N of a metrics file (tokens per step / tokens per second)
med() { python3 - "$1" "$2" <<'PY'
import json, statistics, sys
tok = float(sys.argv[2]); rows = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
print(statistics.median(tok / r["tokens_per_s"] for r in rows[1:]), statistics.median(r["mfu"] for r in rows[1:]))
PY
}
tokens=$((B * ranks * T))
"${mpi[@]}" -n "$ranks" "$rt" train "$work/run.yaml" output.dir="$work/on" dist.overlap=true >/dev/null
"${mpi[@]}" -n "$ranks" "$rt" train "$work/run.yaml" output.dir="$work/off" dist.overlap=false >/dev/null
"${mpi[@]}" -n 1 "$rt" train "$work/run.yaml" output.dir="$work/compute" train.global_batch=$B >/dev/null
read -r on mfu_on < <(med "$work/on/metrics.jsonl" "$tokens")
read -r off mfu_off < <(med "$work/off/metrics.jsonl" "$tokens")
read -r comp mfu_comp < <(med "$work/compute/metrics.jsonl" "$((B * T))")
python3 - "$model" "$ranks" "$B" "$T" "$steps" "$on" "$off" "$comp" "$mfu_on" "$mfu_comp" "$tokens" <<'PY'
import json, sys
m, P, B, T, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
on, off, comp, mfu_on, mfu_comp, tok = map(float, sys.argv[6:12])
comm = off - comp
print(json.dumps({
    "benchmark": "train_step", "model": m, "ranks": P, "threads_per_rank": 1, "micro_batch": B,
    "seq_len": T, "steps": n, "statistic": "median over steps 2..N",
    "s_step_overlap_on": round(on, 4), "s_step_overlap_off": round(off, 4),
    "s_step_compute_only": round(comp, 4),
    "communication_hidden_fraction": round((off - on) / comm, 3) if comm > 0 else None,
    "tokens_per_s_overlap_on": round(tok / on, 1), "mfu_overlap_on": round(mfu_on, 3),
    "mfu_compute_only": round(mfu_comp, 3)}, indent=2))
PY
rm -rf "$work"
