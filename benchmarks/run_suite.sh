#!/usr/bin/env bash
# The benchmark suite in one command. Runs each benchmark in benchmarks/ (each prints one JSON
# document: machine, versions, config, medians and spread over repeats), keeps its JSON as
# DIR/<step>.json and its stderr as DIR/<step>.log, writes DIR/machine.json and DIR/suite.json (one
# row per step: command, exit status, seconds), renders PNG plots (benchmarks/plot_suite.sh,
# gnuplot) and writes DIR/summary.md, the performance table of the README (suite_report.py).
#
# usage: run_suite.sh [--quick] [--out DIR] [--max-ranks N] [--ranks LIST] [--only LIST]
#                     [--skip LIST] [--strong-global-batch G] [--netns] [--python PY] [--build DIR] [--timeout S] [--no-plots]
#   --quick      smoke sizes (seconds per step): what `ctest -L bench` runs
#   --out        results directory (default results/<date>-<host>/ in the source tree)
#   --max-ranks  largest rank count (default: the Slurm job's tasks, else the cores this process
#                may use; at least 2)
#   --ranks      rank counts for the all-reduce and scaling sweeps (default 1,2,4,..,max-ranks)
#   --only/--skip  comma-separated groups: gemm step tokenizer reader allreduce train pytorch
#                seqcls t5 scaling ckpt netns (default: all but netns)
#   --strong-global-batch G  the strong-scaling sweep's fixed global batch (sequences; default
#                bench_scaling.sh's: 4 x the largest P)
#   --netns      add the all-reduce across emulated hosts with TBF-shaped links (root, ip netns)
#   --python     interpreter with torch + transformers for the PyTorch side-by-sides (DDP,
#                GPT2ForSequenceClassification, T5ForConditionalGeneration; default $PYTHON or
#                python3; the comparisons are skipped with a message without torch)
#   --build      the CMake build directory holding benchmarks/ and cli/ringtune (default build/)
#   --timeout    seconds allowed per step (default 300 quick, 3600 full)
# Under Slurm (slurm/bench-suite.sbatch) mpirun uses the job's allocation.
# Exit status: 0 when every step exited 0 with valid JSON, 1 otherwise (later steps still run).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
quick=0 out="" maxr="" ranks="" build="$src/build" tmo="" plots=1 netns=0
only="" skip="" py=${PYTHON:-python3} sgb=()
usage() {
  sed -n '/^# usage:/,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --max-ranks) [ $# -ge 2 ] || usage; maxr=$2; shift 2 ;;
    --ranks) [ $# -ge 2 ] || usage; ranks=$2; shift 2 ;;
    --only) [ $# -ge 2 ] || usage; only=$2; shift 2 ;;
    --skip) [ $# -ge 2 ] || usage; skip=$2; shift 2 ;;
    --strong-global-batch) [ $# -ge 2 ] || usage; sgb=(--global-batch "$2"); shift 2 ;;
    --netns) netns=1; shift ;;
    --python) [ $# -ge 2 ] || usage; py=$2; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; tmo=$2; shift 2 ;;
    --no-plots) plots=0; shift ;;
    -h|--help) usage ;;
    *) echo "run_suite: unknown argument '$1'" >&2; usage ;;
  esac
done
groups="gemm step tokenizer reader allreduce train pytorch seqcls t5 scaling ckpt netns"
for g in ${only//,/ } ${skip//,/ }; do
  [[ " $groups " == *" $g "* ]] || { echo "run_suite: unknown group '$g' (one of: $groups)" >&2; exit 2; }
done
want() { # want GROUP: whether this run includes GROUP
  if [ -n "$only" ]; then [[ ",$only," == *",$1,"* ]] || return 1
  elif [ "$1" = netns ] && [ $netns -eq 0 ]; then return 1; fi
  [[ ",$skip," != *",$1,"* ]]
}
ncores=$(env -u OMP_NUM_THREADS nproc)  # nproc obeys OMP_NUM_THREADS
[ -n "$maxr" ] || maxr=${SLURM_NTASKS:-$ncores}  # in a Slurm job: the allocation's tasks
[[ $maxr =~ ^[0-9]+$ ]] && [ "$maxr" -ge 2 ] || maxr=2
if [ -z "$ranks" ]; then
  ranks=1
  for ((p = 2; p < maxr; p *= 2)); do ranks+=",$p"; done
  ranks+=",$maxr"
fi
[[ $ranks =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "run_suite: --ranks wants a list like 1,2,4" >&2; exit 2; }
[ -n "$tmo" ] || { [ $quick -eq 1 ] && tmo=300 || tmo=3600; }
[ -n "$out" ] || out="$src/results/$(date +%Y%m%d-%H%M%S)-$(hostname -s)"
build=$(cd "$build" 2>/dev/null && pwd) || { echo "run_suite: no build directory $build" >&2; exit 2; }
bin="$build/benchmarks"
for b in bench_gemm bench_step bench_t5_step bench_allreduce bench_ckpt bench_reader bench_tokenizer; do
  [ -x "$bin/$b" ] || { echo "run_suite: $bin/$b not built (cmake --build $build)" >&2; exit 2; }
done
[ -x "$build/cli/ringtune" ] || { echo "run_suite: $build/cli/ringtune not built" >&2; exit 2; }
mkdir -p "$out" && out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/rt_suite.XXXXXX)
trap 'rm -rf "$work"' EXIT

mpi=(mpirun --oversubscribe --bind-to core)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} RINGTUNE="$build/cli/ringtune" PYTHON="$py"
export BENCH_T5_STEP="$bin/bench_t5_step"

# --- machine.json: the common header the benchmarks also carry, plus the suite's settings ------
python3 - "$here" "$out/machine.json" "$quick" "$maxr" "$ranks" "$tmo" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
import benchlib
doc = {"machine": benchlib.machine(), "versions": benchlib.versions(),
       "suite": {"quick": sys.argv[3] == "1", "max_ranks": int(sys.argv[4]),
                 "ranks": [int(p) for p in sys.argv[5].split(",")],
                 "timeout_s_per_step": int(sys.argv[6])}}
json.dump(doc, open(sys.argv[2], "w"), indent=2)
PY

# --- steps -------------------------------------------------------------------------------------
rows="$work/rows.jsonl"; : > "$rows"
fails=0
# step NAME CMD...: stdout -> DIR/NAME.json, stderr -> DIR/NAME.log, row -> suite.json
step() {
  local name=$1; shift
  local t0 t1 rc valid note=""
  printf 'run_suite: %-24s ' "$name" >&2
  t0=$(date +%s.%N)
  timeout --kill-after=10 "$tmo" "$@" > "$out/$name.json" 2> "$out/$name.log"
  rc=$?
  t1=$(date +%s.%N)
  valid=false
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out/$name.json" 2>/dev/null && valid=true
  [ $rc -eq 0 ] && [ $valid = true ] || fails=$((fails + 1))
  python3 - "$name" "$rc" "$t0" "$t1" "$valid" "$@" >> "$rows" <<'PY'
import json, sys
a = sys.argv
print(json.dumps({"step": a[1], "exit_status": int(a[2]), "timed_out": a[2] in ("124", "137"),
                  "seconds": round(float(a[4]) - float(a[3]), 2), "valid_json": a[5] == "true",
                  "file": a[1] + ".json", "log": a[1] + ".log", "command": a[6:]}))
PY
  case $rc in 124|137) note=" (timed out after ${tmo}s)" ;; esac
  [ $valid = true ] || note="$note (no valid JSON; see $name.log)"
  printf 'exit %d, %.1f s%s\n' "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$note" >&2
}

if [ $quick -eq 1 ]; then
  model=small steps=2 reps=(--repeats 2)
else
  model=124m steps=5 reps=()
fi
want gemm && step gemm "$bin/bench_gemm" --model "$model" --arch both "${reps[@]}"
if want step; then
  if [ $quick -eq 1 ]; then step step "$bin/bench_step" --steps 1 --config small
  else step step "$bin/bench_step" --steps 3 --config all; fi
fi
if want tokenizer; then
  if [ $quick -eq 1 ]; then step tokenizer "$bin/bench_tokenizer" --mb 1 --runs 1
  else step tokenizer "$bin/bench_tokenizer"; fi
fi
if want reader; then
  if [ $quick -eq 1 ]; then step reader "$bin/bench_reader" --tokens 1048576 --samples 500 --seq 256
  else step reader "$bin/bench_reader"; fi
fi
if want allreduce; then
  for p in ${ranks//,/ }; do
    [ "$p" -ge 2 ] || continue
    if [ $quick -eq 1 ]; then
      step "allreduce_p$p" "${mpi[@]}" -n "$p" "$bin/bench_allreduce" --max-bytes 1048576 --repeats 2
    else step "allreduce_p$p" "${mpi[@]}" -n "$p" "$bin/bench_allreduce"; fi
  done
fi
# The training step at 2 ranks x 1 thread: the small config alone (train), then the small config
# and GPT-2 124M side by side with PyTorch (pytorch: bench_vs_pytorch.sh runs bench_train.sh in fp32
# and bf16, PyTorch DDP fp32 and PyTorch one process in fp32 and bf16 autocast in alternating turns).
want train && step train_small_p2 "$here/bench_train.sh" --model small --ranks 2 \
    --steps $((steps + 2)) --work "$work/train_small"
if want pytorch; then
  if [ $quick -eq 1 ]; then
    step vs_pytorch_small_p2 "$here/bench_vs_pytorch.sh" --model small --ranks 2 --steps 2 --turns 1
  else
    step vs_pytorch_small_p2 "$here/bench_vs_pytorch.sh" --model small --ranks 2 --steps 8 --turns 3
    step vs_pytorch_124m_p2 "$here/bench_vs_pytorch.sh" --model 124m --ranks 2 --steps "$steps" \
        --turns 3
  fi
fi
# Sequence classification against transformers' GPT2ForSequenceClassification (fp32 and bf16
# autocast) at 1 rank x 1 thread: full fine-tuning examples/s in alternating turns, and feature
# extraction's epoch time with and without the feature cache (bench_seqcls.sh).
if want seqcls; then
  if [ $quick -eq 1 ]; then
    step seqcls_small_p1 "$here/bench_seqcls.sh" --quick --work "$work/seqcls"
  else
    step seqcls_124m_p1 "$here/bench_seqcls.sh" --model 124m --ranks 1 --steps "$steps" \
        --turns 3 --examples 64 --epochs 2 --work "$work/seqcls"
  fi
fi
# A T5 training step (t5-small's shapes, B 4, 256 source + 64 target tokens, 1 thread) against
# transformers' T5ForConditionalGeneration in fp32 and bf16 autocast, alternating rounds
# (bench_t5.sh; --quick: tiny shapes, one round).
if want t5; then
  if [ $quick -eq 1 ]; then
    step t5_step_tiny "$here/bench_t5.sh" --quick --work "$work/t5"
  else
    step t5_step_small "$here/bench_t5.sh" --model small --batch 4 --src-len 256 --tgt-len 64 \
        --steps "$steps" --warmup 2 --rounds 3 --threads 1 --work "$work/t5"
  fi
fi
if want scaling; then
  sa=(--ranks "$ranks")
  [ $quick -eq 1 ] && sa=(--ranks 1,2 --oversubscribe)  # smoke: runs even where 2 ranks share a core
  step scaling "$here/bench_scaling.sh" --mode both --model "$model" "${sa[@]}" "${sgb[@]}" \
      --steps $((steps - 1 > 2 ? steps - 1 : 2)) --work "$work/scaling"
fi
if want ckpt; then
  cp=$((maxr < 4 ? maxr : 4))
  if [ $quick -eq 1 ]; then
    step "ckpt_p$cp" "${mpi[@]}" -n "$cp" "$bin/bench_ckpt" --model small --repeats 2 --settle 0 \
        --dir "$work/ckpt"
  else step "ckpt_p$cp" "${mpi[@]}" -n "$cp" "$bin/bench_ckpt" --model 124m --dir "$work/ckpt"; fi
fi
if want netns; then
  # Emulated hosts (network namespaces) with unshaped and 1 Gbit/s TBF-shaped links:
  # tests/netns/bench.sh writes one JSON per point; suite_report.py merges them.
  if [ "$(id -u)" -ne 0 ] || ! ip netns list >/dev/null 2>&1; then
    echo "run_suite: netns needs root and ip netns; skipped" >&2
  else
    step netns_allreduce env BENCH_HOSTS="2 3" BENCH_PER=1 REPEATS=$((quick ? 2 : 5)) \
        bash -c '"$1" "$2" "$3" off 1gbit >&2 && python3 "$4" --merge-netns "$3"' _ \
        "$src/tests/netns/bench.sh" "$bin/bench_allreduce" "$out/netns" "$here/suite_report.py"
  fi
fi

python3 - "$rows" "$out/suite.json" "$quick" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
json.dump({"quick": sys.argv[3] == "1", "machine": "machine.json", "steps": rows},
          open(sys.argv[2], "w"), indent=2)
PY

# --- plots, table, summary ---------------------------------------------------------------------
if [ $plots -eq 1 ]; then
  "$here/plot_suite.sh" "$out" || { echo "run_suite: plotting failed" >&2; fails=$((fails + 1)); }
fi
python3 "$here/suite_report.py" "$out" --markdown "$out/summary.md" ||
  { echo "run_suite: report failed" >&2; fails=$((fails + 1)); }
[ $fails -eq 0 ] || { echo "run_suite: $fails step(s) failed" >&2; exit 1; }
