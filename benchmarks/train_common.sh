# shellcheck shell=bash
# The setup bench_train.sh and bench_scaling.sh share (sourced, after `set -euo pipefail`): the
# model shapes, a random-weight model and the demo corpus in a work directory, the run config,
# the mpirun command line and one `ringtune train` run. Statistics of a run's metrics.jsonl come
# from benchmarks/train_metrics.py (rank 0's per-step times, steps 2..N).
#
# The caller sets TC_NAME (for messages), TC_WORK (work directory), TC_THREADS (threads per rank)
# before calling tc_prepare / tc_train. Environment: RINGTUNE, the ringtune binary (default
# build/cli/ringtune next to this source tree).

TC_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TC_RT=${RINGTUNE:-$TC_HERE/../build/cli/ringtune}
TC_METRICS="$TC_HERE/train_metrics.py"
TC_THREADS=${TC_THREADS:-1}

# tc_model MODEL: TC_SHAPE (`ringtune init` flags), TC_T (sequence length) and TC_B (default
# micro-batch) of "124m" (GPT-2 small, 124M parameters) or "small" (2 blocks of 128: seconds).
tc_model() {
  case "$1" in
    124m) TC_SHAPE=(--layers 12 --embd 768 --heads 12 --positions 1024); TC_T=256 TC_B=4 ;;
    small) TC_SHAPE=(--layers 2 --embd 128 --heads 2 --positions 128); TC_T=64 TC_B=4 ;;
    *) echo "$TC_NAME: --model 124m or small, not '$1'" >&2; return 2 ;;
  esac
}

# tc_cores: the cores one rank each may use here (Slurm allocation: its tasks); see train_metrics.py
tc_cores() { python3 "$TC_METRICS" cores; }

# tc_prepare STEPS: TC_WORK/model (random weights, TC_SHAPE), TC_WORK/corpus.h5 (cli/demo/general.txt,
# GPT-2 tokenizer) and TC_WORK/run.yaml (STEPS steps, no dropout, one evaluation batch, no progress
# lines, TC_THREADS threads per rank). Each run sets its batch and output.dir by overrides.
tc_prepare() {
  [ -x "$TC_RT" ] || { echo "$TC_NAME: $TC_RT is not built (cmake --build build), or set RINGTUNE" >&2; return 2; }
  mkdir -p "$TC_WORK"
  "$TC_RT" init --out "$TC_WORK/model" --vocab 50257 "${TC_SHAPE[@]}" --seed 1 >/dev/null
  "$TC_RT" prep --quiet --overwrite --out "$TC_WORK/corpus.h5" --delimiter '' --val-ratio 0.05 \
      "$TC_HERE/../cli/demo/general.txt" >/dev/null
  cat > "$TC_WORK/run.yaml" <<YAML
model: {path: $TC_WORK/model, dropout: {embd: 0.0, attn: 0.0, resid: 0.0}}
data: {corpus: $TC_WORK/corpus.h5, seq_len: $TC_T}
train: {global_batch: $TC_B, micro_batch: $TC_B, max_steps: $1}
optim: {lr: 1.0e-4, warmup_steps: 1}
eval: {max_batches: 1}
dist: {threads_per_rank: $TC_THREADS}
output: {dir: $TC_WORK/out, log_every: 0}
YAML
}

# tc_mpirun P: TC_MPI, the mpirun command line for P ranks of TC_THREADS threads. One rank per core
# (--bind-to core; with several threads per rank, TC_THREADS cores each) while P x TC_THREADS fits
# TC_CORES; beyond that oversubscribed and unbound (time-shared cores: not a scaling measurement).
tc_mpirun() {
  TC_MPI=(mpirun -n "$1")
  [ "$(id -u)" -eq 0 ] && TC_MPI+=(--allow-run-as-root)
  if [ $(($1 * TC_THREADS)) -gt "${TC_CORES:-$(tc_cores)}" ]; then
    TC_MPI+=(--oversubscribe --bind-to none)
  elif [ "$TC_THREADS" -gt 1 ]; then
    TC_MPI+=(--map-by "slot:PE=$TC_THREADS" --bind-to core)
  else
    TC_MPI+=(--bind-to core)
  fi
}

# tc_train LABEL P OUT [key=value ...]: `ringtune train TC_WORK/run.yaml` on P ranks into OUT
# (output to OUT.log). Afterwards only OUT/metrics.jsonl and OUT/config.yaml are kept (the final
# checkpoint and export of a 124M run are 2 GB). On failure: the log's tail on stderr, status 1.
tc_train() {
  local label=$1 p=$2 out=$3
  shift 3
  tc_mpirun "$p"
  if ! "${TC_MPI[@]}" "$TC_RT" train "$TC_WORK/run.yaml" "output.dir=$out" "$@" >"$out.log" 2>&1; then
    echo "$TC_NAME: $label failed: ${TC_MPI[*]} $TC_RT train $TC_WORK/run.yaml output.dir=$out $*" >&2
    tail -n 20 "$out.log" >&2
    return 1
  fi
  rm -rf "$out"/step-* "$out/final" "$out/latest"
}
