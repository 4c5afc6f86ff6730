#!/usr/bin/env bash
# The benchmark suite under Slurm: slurm/bench-suite.sbatch on a local 2-node cluster (one task per
# emulated node, so the suite's mpirun calls launch across both) runs benchmarks/run_suite.sh
# --quick with --max-ranks taken from the allocation (2): the groups that launch ranks across the
# allocation (allreduce, train, scaling with P = 1, 2, ckpt); the single-process groups and the
# PyTorch comparisons are the same with or without Slurm and run in bench_suite_smoke.
# Checks: the job completes with exit 0, suite.json lists every quick step with exit 0 and valid
# JSON, every step's file parses, machine.json says max_ranks 2, the train_step and scaling
# documents name the Slurm job and hold all their modes and rank counts, slurm-job.txt is there.
# usage: bench_suite.sh RINGTUNE_BINARY SCRATCH_DIR   (exit 77: no Slurm cluster here, skipped)
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
sl_init slurm_bench_suite "$@"
# the quick suite takes about a minute on 2 idle cores; allow for a loaded machine
[ "$SL_TIMEOUT" -ge 240 ] || SL_TIMEOUT=240
BUILD=$(cd "$(dirname "$R")/.." && pwd)
OUT=$S/results
LOG=$S/job.out

say "== sbatch -N 2 --ntasks-per-node=1 bench-suite.sbatch $OUT --quick --skip (single-process groups)"
JOB=$(RINGTUNE_BUILD=$BUILD timeout 20 sbatch --parsable -o "$LOG" -J rt-bench-suite -N 2 \
    --ntasks-per-node=1 -t 10 "$SL_SLURM/bench-suite.sbatch" "$OUT" --quick \
    --skip gemm,step,tokenizer,reader,pytorch,seqcls,t5) ||
    fail "sbatch failed: $JOB"
JOB=${JOB%%;*}
T0=$SECONDS
sl_wait_done "$JOB"
say "job took $((SECONDS - T0)) s from submission"
[ "$(sl_state "$JOB")" = COMPLETED ] || fail_log "$LOG" "job $JOB ended $(sl_state "$JOB"), expected COMPLETED"
[ "$(sl_field "$JOB" ExitCode)" = 0:0 ] || fail_log "$LOG" "job $JOB exit code $(sl_field "$JOB" ExitCode), expected 0:0"
expect_grep 'job [0-9]+: 2 tasks on c\[1-2\]' "$LOG" "allocation"
expect_grep 'run_suite.sh exited 0$' "$LOG" "suite"
[ -s "$OUT/slurm-job.txt" ] || fail "no $OUT/slurm-job.txt"

python3 - "$OUT" "$JOB" <<'PY' || fail_log "$LOG" "the results in $OUT are incomplete"
import json, os, sys
d, job = sys.argv[1], sys.argv[2]
errors = []
def load(name):
    try:
        with open(os.path.join(d, name)) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        errors.append("%s: %s" % (name, e))
        return None
suite = load("suite.json") or {"steps": []}
names = [s["step"] for s in suite["steps"]]
for want in ("allreduce_p2", "train_small_p2", "scaling", "ckpt_p2"):
    if want not in names:
        errors.append("suite.json lists no step %s (steps: %s)" % (want, names))
for s in suite["steps"]:
    print("  %-16s exit %d, valid JSON %s, %.1f s" % (s["step"], s["exit_status"], s["valid_json"],
                                                       s["seconds"]))
    if s["exit_status"] != 0 or not s["valid_json"]:
        errors.append("step %s: exit %d, valid JSON %s" % (s["step"], s["exit_status"], s["valid_json"]))
    load(s["file"])
m = load("machine.json")
if m and m["suite"]["max_ranks"] != 2:
    errors.append("machine.json: max_ranks %s, expected 2 (the allocation's tasks)" % m["suite"]["max_ranks"])
t = load("train_small_p2.json")
if t:
    modes = sorted(r["mode"] for r in t["results"])
    if t["benchmark"] != "train_step" or modes != ["compute_only", "overlap_off", "overlap_on"]:
        errors.append("train_small_p2.json: benchmark %s, modes %s" % (t["benchmark"], modes))
    if t["machine"]["slurm_job_id"] != job:
        errors.append("train_small_p2.json: slurm_job_id %s, expected %s" % (t["machine"]["slurm_job_id"], job))
    print("  train_small_p2: %s tokens/s, MFU %s, communication hidden %s" % (
        t["tokens_per_s"], t["mfu"], t["communication_hidden_fraction"]))
sc = load("scaling.json")
if sc:
    runs = sorted((r["mode"], r["ranks"]) for r in sc["results"] if "skipped" not in r)
    want = [("strong", 1), ("strong", 2), ("weak", 1), ("weak", 2)]
    if sc["benchmark"] != "scaling" or runs != want:
        errors.append("scaling.json: benchmark %s, runs %s, expected %s" % (sc["benchmark"], runs, want))
    if sc["machine"]["slurm_job_id"] != job or sc["config"]["cores_usable"] != 2:
        errors.append("scaling.json: slurm_job_id %s, cores_usable %s, expected %s and 2" % (
            sc["machine"]["slurm_job_id"], sc["config"]["cores_usable"], job))
    for m in ("weak", "strong"):
        print("  scaling %s: efficiency %s" % (m, sc.get(m, {}).get("efficiency")))
if errors:
    print("problems:\n  " + "\n  ".join(errors), file=sys.stderr)
    sys.exit(1)
print("suite.json: %d steps, all exit 0 with valid JSON; scaling.json complete" % len(names))
PY
