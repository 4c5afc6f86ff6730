#!/usr/bin/env python3
"""Checks on `ringtune sweep` output for tests/sweep/*.sh.

  compare REF_DIR NEW_DIR TOL   results.jsonl and results.md of two sweeps: the same trials,
                                values, statuses, rungs, steps and table order; best/last
                                metrics within TOL relative
  running-steps OUT N           exit 0 when a trial without a recorded result logged >= N steps
  records OUT                   the state file's job results, one "trial rung status steps" line each
  asha OUT ETA                  every rung kept exactly the best max(1, n // ETA) trials that
                                reached it (from the state file), and results.jsonl says so
"""
import glob
import json
import os
import sys


def results(d):
    return [json.loads(l) for l in open(os.path.join(d, "results.jsonl"))]


def table_rows(d):
    """(rank, trial, values..., steps, status) of results.md: every column but the metric
    (compared within tolerance from results.jsonl) and the wall time."""
    rows = []
    for line in open(os.path.join(d, "results.md")):
        if not line.startswith("| ") or line.startswith("| rank"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows.append(cells[:-4] + cells[-3:-1])
    return rows


def close(a, b, tol):
    if a is None or b is None:
        return a is None and b is None
    return a == b if tol == 0 else abs(a - b) <= tol * max(abs(a), abs(b), 1e-30)


def compare(ref, new, tol):
    a, b = results(ref), results(new)
    if len(a) != len(b):
        return f"{len(a)} trials vs {len(b)}"
    worst = 0.0
    for x, y in zip(a, b):
        for k in ("trial", "params", "status", "rung", "steps", "metric"):
            if x.get(k) != y.get(k):
                return f"trial {x['trial']}: {k} {x.get(k)!r} vs {y.get(k)!r}"
        for k in ("best", "last"):
            if not close(x[k], y[k], tol):
                return f"trial {x['trial']}: {k} {x[k]!r} vs {y[k]!r} (tolerance {tol})"
            if x[k] is not None and x[k] != y[k]:
                worst = max(worst, abs(x[k] - y[k]) / max(abs(x[k]), abs(y[k])))
    if table_rows(ref) != table_rows(new):
        return f"the tables differ:\n{table_rows(ref)}\n{table_rows(new)}"
    return f"{len(a)} trials and the table agree; metrics differ by at most {worst:.2e} relative"


def recorded(out):
    path = os.path.join(out, "sweep_state.jsonl")
    if not os.path.exists(path):
        return []
    lines = open(path).read().splitlines()[1:]
    return [json.loads(l) for l in lines if l.strip()]


def running_steps(out, n):
    done = {r["trial"] for r in recorded(out) if r["status"] != "interrupted"}
    for d in sorted(glob.glob(os.path.join(out, "trial-*"))):
        t = int(d.rsplit("-", 1)[1])
        m = os.path.join(d, "metrics.jsonl")
        if t in done or not os.path.exists(m):
            continue
        steps = sum(1 for l in open(m) if '"loss"' in l)
        if steps >= n:
            print(f"trial {t}: {steps} steps")
            return 0
    return 1


def asha(out, eta):
    recs = [r for r in recorded(out) if r["status"] != "interrupted"]
    res = {r["trial"]: r for r in results(out)}
    rungs = sorted({r["rung"] for r in recs})
    lines = []
    for k in rungs[:-1]:
        reached = [r for r in recs if r["rung"] == k and r["status"] == "ok"]
        ranked = sorted(reached, key=lambda r: (r["best"], r["trial"]))
        keep = max(1, len(reached) // eta)
        want = {r["trial"] for r in ranked[:keep]}
        got = {r["trial"] for r in recs if r["rung"] == k + 1}
        if want != got:
            print(f"rung {k}: expected {sorted(want)} promoted, got {sorted(got)}")
            return 1
        for r in ranked[keep:]:
            if res[r["trial"]]["status"] != "pruned" or res[r["trial"]]["rung"] != k:
                print(f"trial {r['trial']}: expected pruned at rung {k}, got {res[r['trial']]}")
                return 1
        lines.append(f"rung {k}: {len(reached)} reached, kept {sorted(want)}")
    print("; ".join(lines))
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "compare":
        msg = compare(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        print(msg)
        return 0 if msg.startswith(str(len(results(sys.argv[2])))) and "agree" in msg else 1
    if cmd == "running-steps":
        return running_steps(sys.argv[2], int(sys.argv[3]))
    if cmd == "records":
        for r in recorded(sys.argv[2]):
            print(r["trial"], r["rung"], r["status"], r["steps"])
        return 0
    if cmd == "asha":
        return asha(sys.argv[2], int(sys.argv[3]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
