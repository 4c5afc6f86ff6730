"""Step statistics of `ringtune train` runs, shared by bench_train.sh and bench_scaling.sh (through
benchmarks/train_common.sh). Standard library only, next to benchlib.py.

    python3 benchmarks/train_metrics.py stats METRICS.jsonl   # JSON: s_step, tokens_per_s, ...
    python3 benchmarks/train_metrics.py cores                 # cores one rank each may use

As a module: step_stats(path), cores_usable(), run_dist(out_dir), run_section(out_dir, section).

metrics.jsonl train lines (dist/train.c) carry, besides loss and lr: tokens_per_s and mfu of the
step, and rank 0's own phase times ms_step, ms_forward, ms_backward, ms_sync (waiting for the
slowest rank after backward), ms_comm_wait (ms_allgather is
the ZeRO-1 part of it), ms_optimizer, and peak_gflops (the MFU denominator, dist/peak.h: measured by all ranks
at once at startup, raised by a step that ran faster).
Step 1 (cold caches, first allocations) is left out: statistics are over steps 2..N.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

PHASES = ("ms_forward", "ms_backward", "ms_sync", "ms_comm_wait", "ms_allgather", "ms_optimizer")
STATISTIC = "benchlib.stats (median, min, max, quartiles) over steps 2..N of rank 0's metrics"


def train_rows(path):
    """The train lines of a metrics file, in step order (a file holds one run)."""
    with open(path) as f:
        rows = [json.loads(line) for line in f if '"loss"' in line]
    return sorted(rows, key=lambda r: r["step"])


def step_stats(path):
    """{"steps_measured", "s_step", "tokens_per_s", "mfu", "ms_forward", ..., "peak_gflops"}."""
    rows = train_rows(path)
    if len(rows) < 2:
        raise SystemExit("%s: %d train steps logged, need at least 2 (statistics over steps 2..N)"
                         % (path, len(rows)))
    missing = [k for k in ("ms_step",) + PHASES + ("peak_gflops",) if k not in rows[0]]
    if missing:
        raise SystemExit("%s: no %s: a ringtune binary older than the per-step phase timings?"
                         % (path, ", ".join(missing)))
    use = rows[1:]
    out = {"steps_measured": len(use),
           "s_step": _stats([r["ms_step"] / 1e3 for r in use], 6),
           "tokens_per_s": _stats([r["tokens_per_s"] for r in use], 1),
           "mfu": _stats([r["mfu"] for r in use], 4)}
    for k in PHASES:
        out[k] = _stats([r[k] for r in use], 3)
    out["peak_gflops"] = rows[0]["peak_gflops"]
    return out


def _stats(values, digits):
    """benchlib.stats, rounded to the digits the metrics file has."""
    return {k: round(v, digits) if isinstance(v, float) else v
            for k, v in benchlib.stats(values).items()}


def run_dist(out_dir):
    """The dist section of a run's effective config (OUT/config.yaml, canonical YAML that ringtune
    writes): {"bucket_mb": 25.0, "overlap": True, "zero1": True, "threads_per_rank": 1}."""
    return run_section(out_dir, "dist")


def run_section(out_dir, section):
    """One top-level section of a run's effective config (OUT/config.yaml) as a flat dict of its
    scalar keys: run_section(d, "train")["precision"] is "fp32" or "bf16"."""
    out, inside = {}, False
    with open(os.path.join(out_dir, "config.yaml")) as f:
        for line in f:
            if not line.startswith(" "):
                inside = line.strip() == section + ":"
                continue
            if inside and ":" in line:
                k, v = (x.strip() for x in line.split(":", 1))
                out[k] = {"true": True, "false": False}.get(v, v)
                try:
                    out[k] = float(v) if "." in v else int(v)
                except ValueError:
                    pass
    return out


def _read_int(path):
    with open(path) as f:
        return int(f.read().strip())


def cores_usable():
    """Cores this job may put one rank on. Inside a Slurm allocation: its tasks (times
    SLURM_CPUS_PER_TASK), over all its nodes, which is what mpirun launches on there. Otherwise
    the physical cores among the CPUs this process may run on (hyperthread siblings count once,
    as Open MPI counts slots)."""
    n = os.environ.get("SLURM_NTASKS") or os.environ.get("SLURM_NPROCS")
    if n and n.isdigit() and int(n) > 0:
        per = os.environ.get("SLURM_CPUS_PER_TASK", "1")
        return int(n) * (int(per) if per.isdigit() and int(per) > 0 else 1)
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return os.cpu_count() or 1
    cores = set()
    for c in cpus:
        topo = "/sys/devices/system/cpu/cpu%d/topology/" % c
        try:
            cores.add((_read_int(topo + "physical_package_id"), _read_int(topo + "core_id")))
        except (OSError, ValueError):
            cores.add(("cpu", c))
    return max(1, len(cores))


def main(argv):
    if len(argv) == 3 and argv[1] == "stats":
        json.dump(step_stats(argv[2]), sys.stdout)
        print()
        return 0
    if len(argv) == 2 and argv[1] == "cores":
        print(cores_usable())
        return 0
    print("usage: train_metrics.py stats METRICS.jsonl | cores", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
