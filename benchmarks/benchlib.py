"""Shared pieces of the benchmark JSON (see benchmarks/README.md, "JSON format"), for the benchmarks
written in Python or shell. The C benchmarks print the same fields through bench_common.c.

    python3 benchmarks/benchlib.py machine      # prints {"machine": ..., "versions": ...}
    python3 benchmarks/benchlib.py stats 1 2 3  # prints {"median": 2, "min": 1, ...}

As a module: machine(), versions(), stats(values), document(name, config, results, **extra).
Standard library only: it runs on any Python 3.8+ (the PyTorch side-by-side script imports it too).
"""
import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import sys

SCHEMA = 1
HERE = os.path.dirname(os.path.abspath(__file__))


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _run(cmd):
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=20,
                             check=False, universal_newlines=True).stdout
        return out.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    """What the numbers were measured on."""
    cpu = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = None
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    flags = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("flags"):
            flags = line
            break
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu,
        "cpus_online": os.cpu_count(),
        "cpus_usable": usable,
        "avx512f": " avx512f" in flags,
        "memory_bytes": mem,
        "kernel": platform.release(),
        "arch": platform.machine(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "slurm_nodelist": os.environ.get("SLURM_JOB_NODELIST"),
    }


def _dpkg(pkg):
    return _run(["dpkg-query", "-W", "-f=${Version}", pkg]) or None


def versions():
    """Versions of what the numbers depend on (None where a piece is not found)."""
    src = os.path.dirname(HERE)
    mpirun = _run(["mpirun", "--version"]).splitlines()
    return {
        "ringtune": _run(["git", "-C", src, "describe", "--always", "--dirty", "--tags"]) or None,
        "blis": _dpkg("libblis4") or _dpkg("libblis-dev"),
        "openmpi": mpirun[0] if mpirun else _dpkg("openmpi-bin"),
        "hdf5": _dpkg("libhdf5-openmpi-103-1") or _dpkg("libhdf5-openmpi-dev"),
        "python": platform.python_version(),
    }


def stats(values):
    """Median and spread of repeated measurements: median, min, max, quartiles, n."""
    v = sorted(float(x) for x in values)
    if not v:
        return {"median": None, "min": None, "max": None, "p25": None, "p75": None, "n": 0}

    def q(p):  # linear interpolation between closest ranks
        k = (len(v) - 1) * p
        lo = int(k)
        hi = min(lo + 1, len(v) - 1)
        return v[lo] + (v[hi] - v[lo]) * (k - lo)

    return {"median": statistics.median(v), "min": v[0], "max": v[-1], "p25": q(0.25),
            "p75": q(0.75), "n": len(v)}


def document(name, config, results, **extra):
    """A whole benchmark result: the common header, then config, results and any summary fields."""
    doc = {"benchmark": name, "schema": SCHEMA,
           "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "machine": machine(), "versions": versions(), "config": config, "results": results}
    doc.update(extra)
    return doc


def main(argv):
    if len(argv) >= 2 and argv[1] == "machine":
        json.dump({"machine": machine(), "versions": versions()}, sys.stdout, indent=2)
        print()
        return 0
    if len(argv) >= 2 and argv[1] == "stats":
        json.dump(stats(argv[2:]), sys.stdout)
        print()
        return 0
    print("usage: benchlib.py machine | stats V...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
