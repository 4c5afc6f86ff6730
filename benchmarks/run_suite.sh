#!/usr/bin/env bash
# The benchmark suite in one command: runs each benchmark in benchmarks/ (each prints JSON), keeps
# its JSON as DIR/<step>.json and its stderr as DIR/<step>.log, writes DIR/machine.json (CPU,
# memory, kernel, package versions, git describe) and DIR/suite.json (one row per step: command,
# exit status, seconds, file), then renders PNG plots with benchmarks/plot_suite.sh (gnuplot).
# usage: run_suite.sh [--quick] [--out DIR] [--max-ranks N] [--build DIR] [--timeout S] [--no-plots]
#   --quick      smoke sizes (seconds per step): what `ctest -L bench` runs
#   --out        results directory (default results/<date>-<host>/ in the source tree)
#   --max-ranks  all-reduce at P = 2..N, checkpoint I/O at P = N (default: nproc, at least 2)
#   --build      the CMake build directory holding benchmarks/ and cli/ringtune (default build/)
#   --timeout    seconds allowed per step (default 300 quick, 7200 full)
# Exit status: 0 when every step wrote valid JSON, 1 otherwise (the remaining steps still run).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
quick=0 out="" maxr="" build="$src/build" tmo="" plots=1
usage() {
  echo "usage: $0 [--quick] [--out DIR] [--max-ranks N] [--build DIR] [--timeout S] [--no-plots]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --max-ranks) [ $# -ge 2 ] || usage; maxr=$2; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || usage; tmo=$2; shift 2 ;;
    --no-plots) plots=0; shift ;;
    -h|--help) usage ;;
    *) usage ;;
  esac
done
ncores=$(env -u OMP_NUM_THREADS nproc)  # nproc obeys OMP_NUM_THREADS
[ -n "$maxr" ] || maxr=$ncores
[ "$maxr" -ge 2 ] 2>/dev/null || maxr=2
[ -n "$tmo" ] || { [ $quick -eq 1 ] && tmo=300 || tmo=7200; }
[ -n "$out" ] || out="$src/results/$(date +%Y%m%d-%H%M%S)-$(hostname -s)"
build=$(cd "$build" 2>/dev/null && pwd) || { echo "run_suite: no build directory $build" >&2; exit 2; }
bin="$build/benchmarks"
for b in bench_step bench_gemm bench_allreduce bench_ckpt bench_reader bench_tokenizer; do
  [ -x "$bin/$b" ] || { echo "run_suite: $bin/$b not built (cmake --build $build)" >&2; exit 2; }
done
[ -x "$build/cli/ringtune" ] || { echo "run_suite: $build/cli/ringtune not built" >&2; exit 2; }
mkdir -p "$out" && out=$(cd "$out" && pwd)
work=$(mktemp -d /tmp/rt_suite.XXXXXX)
trap 'rm -rf "$work"' EXIT

mpi=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# --- machine.json ------------------------------------------------------------------------------
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
python3 - "$out/machine.json" "$quick" "$maxr" "$tmo" \
    "$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)" \
    "$ncores" "$(lscpu 2>/dev/null | sed -n 's/^CPU(s):[[:space:]]*//p' | head -1)" \
    "$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)" \
    "$(uname -r)" "$(uname -m)" "$(hostname)" \
    "$(pkgver openmpi-bin)" "$(pkgver libopenmpi-dev)" "$(pkgver libblis-dev)" \
    "$(pkgver libhdf5-openmpi-dev)" "$(pkgver gnuplot-nox)$(pkgver gnuplot-qt)$(pkgver gnuplot-x11)" \
    "$(git -C "$src" describe --always --dirty --tags 2>/dev/null || echo unknown)" \
    "$(mpirun --version 2>/dev/null | head -1)" \
    "$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)" \
    "$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)" \
    "$(sed -n 's/^CMAKE_C_FLAGS:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null)" <<'PY'
import json, sys, datetime
a = sys.argv
def num(s):
    try: return int(s)
    except ValueError: return None
json.dump({
    "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    "hostname": a[11],
    "suite": {"quick": a[2] == "1", "max_ranks": int(a[3]), "timeout_s_per_step": int(a[4])},
    "cpu": {"model": a[5], "cores_usable": num(a[6]), "cpus": num(a[7]), "arch": a[10]},
    "memory_bytes": num(a[8]) * 1024 if num(a[8]) else None,
    "kernel": a[9],
    "versions": {"openmpi-bin": a[12], "libopenmpi-dev": a[13], "libblis-dev": a[14],
                 "libhdf5-openmpi-dev": a[15], "gnuplot": a[16], "mpirun": a[18],
                 "git_describe": a[17]},
    "build": {"type": a[19], "c_compiler": a[20], "c_flags": a[21]},
}, open(a[1], "w"), indent=2)
PY

# --- steps -------------------------------------------------------------------------------------
rows="$work/rows.jsonl"; : > "$rows"
fails=0
# step NAME CMD...: stdout -> DIR/NAME.json, stderr -> DIR/NAME.log, row -> suite.json
step() {
  local name=$1; shift
  local t0 t1 rc valid
  printf 'run_suite: %-22s ' "$name" >&2
  t0=$(date +%s.%N)
  timeout --kill-after=10 "$tmo" "$@" > "$out/$name.json" 2> "$out/$name.log"
  rc=$?
  t1=$(date +%s.%N)
  if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out/$name.json" 2>/dev/null; then
    valid=true
  else
    valid=false
  fi
  [ $rc -eq 0 ] && [ $valid = true ] || fails=$((fails + 1))
  python3 - "$name" "$rc" "$t0" "$t1" "$valid" "$@" >> "$rows" <<'PY'
import json, sys
a = sys.argv
print(json.dumps({"step": a[1], "exit_status": int(a[2]), "timed_out": a[2] in ("124", "137"),
                  "seconds": round(float(a[4]) - float(a[3]), 2), "valid_json": a[5] == "true",
                  "file": a[1] + ".json", "log": a[1] + ".log", "command": a[6:]}))
PY
  local note=""
  case $rc in 124|137) note=" (timed out after ${tmo}s)" ;; esac
  [ $valid = true ] || note="$note (no valid JSON; see $name.log)"
  printf 'exit %d, %.1f s%s\n' "$rc" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$note" >&2
}

if [ $quick -eq 1 ]; then
  step step "$bin/bench_step" --steps 1 --config small
  step gemm "$bin/bench_gemm" --model small --repeats 2
  step tokenizer "$bin/bench_tokenizer" --mb 1 --runs 1
  step reader "$bin/bench_reader" --tokens 1048576 --samples 500 --seq 256
  for ((p = 2; p <= maxr; p++)); do
    step "allreduce_p$p" "${mpi[@]}" -n "$p" "$bin/bench_allreduce" --max-bytes 1048576 --repeats 2
  done
  step train_small_p2 env RINGTUNE="$build/cli/ringtune" "$here/bench_train.sh" --model small \
      --steps 3 --ranks 2 --work "$work/train"
  step "ckpt_p$maxr" "${mpi[@]}" -n "$maxr" "$bin/bench_ckpt" --model small --repeats 2 --settle 0 \
      --dir "$work/ckpt"
else
  step step "$bin/bench_step" --steps 3 --config all
  step gemm "$bin/bench_gemm"
  step tokenizer "$bin/bench_tokenizer"
  step reader "$bin/bench_reader"
  for ((p = 2; p <= maxr; p++)); do
    step "allreduce_p$p" "${mpi[@]}" -n "$p" "$bin/bench_allreduce"
  done
  step train_small_p2 env RINGTUNE="$build/cli/ringtune" "$here/bench_train.sh" --model small \
      --steps 5 --ranks 2 --work "$work/train_small"
  step train_124m_p2 env RINGTUNE="$build/cli/ringtune" "$here/bench_train.sh" --model 124m \
      --steps 5 --ranks 2 --work "$work/train_124m"
  step "ckpt_p$maxr" "${mpi[@]}" -n "$maxr" "$bin/bench_ckpt" --model 124m --dir "$work/ckpt"
fi

python3 - "$rows" "$out/suite.json" "$quick" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
json.dump({"quick": sys.argv[3] == "1", "machine": "machine.json", "steps": rows},
          open(sys.argv[2], "w"), indent=2)
PY

# --- plots -------------------------------------------------------------------------------------
if [ $plots -eq 1 ]; then
  "$here/plot_suite.sh" "$out" || echo "run_suite: plotting failed" >&2
fi

# --- summary -----------------------------------------------------------------------------------
python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
def load(n):
    try: return json.load(open(os.path.join(d, n)))
    except (OSError, ValueError): return None
suite = load("suite.json")
print(f"results in {d}")
for r in suite["steps"]:
    j = load(r["file"]) if r["valid_json"] else None
    s = "FAILED" if r["exit_status"] or not r["valid_json"] else "ok"
    line = f"  {r['step']:<20} {s:<6} {r['seconds']:8.1f} s"
    try:
        b = j.get("benchmark") if j else None
        if b == "step":
            line += f"  sgemm peak {j['sgemm_peak_gflops']} GFLOPS"
        elif b == "gemm":
            line += "  " + ", ".join(
                f"{a} ({j['blis_arch'][a]}): peak {j['peak_gflops'][a]:.1f} GFLOPS, "
                f"step GEMMs {100 * j['gemm_efficiency'][a]:.0f}% of it" for a in j["blis_arch"])
        elif b == "allreduce":
            big = j["results"][-1]
            line += (f"  P={j['config']['ranks']} {big['bytes']} B: ring "
                     f"{big['ring_busbw_GBps']['median']:.2f} / "
                     f"MPI {big['mpi_busbw_GBps']['median']:.2f} GB/s busbw")
        elif b == "ckpt":
            t = {r["name"]: r["seconds"]["median"] for r in j["results"]}
            line += f"  save {t['save']:.3f} s vs raw {t['raw_write_fsync']:.3f} s"
    except (KeyError, IndexError, TypeError):
        pass
    print(line)
pngs = sorted(f for f in os.listdir(d) if f.endswith(".png"))
print("  plots: " + (", ".join(pngs) if pngs else "none"))
PY
[ $fails -eq 0 ] || { echo "run_suite: $fails step(s) failed" >&2; exit 1; }
