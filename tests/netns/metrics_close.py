#!/usr/bin/env python3
"""metrics_close.py REF NEW RTOL: every train/validation loss of REF's metrics.jsonl is in NEW
(the last line of a step counts; earlier ones of an interrupted run too) within RTOL relative,
the sample id lists are identical, and NEW has no step REF lacks. Prints the largest relative
difference and how many losses were bit-identical; exit 1 with the first problems otherwise."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ckpt"))
from ckpt_tool import read_metrics  # noqa: E402


def main(ref_path, new_path, rtol):
    ref, new = read_metrics(ref_path), read_metrics(new_path)
    errors, worst, exact, n = [], 0.0, 0, 0
    for key in sorted(ref, key=lambda k: (k[1], k[0])):
        kind, step = key
        want = ref[key][-1]
        if key not in new:
            errors.append("step %d: no %s in %s" % (step, kind, new_path))
            continue
        for got in new[key]:
            n += 1
            a, b = got[kind], want[kind]
            rel = abs(a - b) / max(abs(b), 1e-30)
            worst = max(worst, rel)
            exact += a == b
            if rel > rtol:
                errors.append("step %d %s: %r vs reference %r (rel %.3g > %g)" % (step, kind, a, b, rel, rtol))
            if "samples" in want and got.get("samples") != want["samples"]:
                errors.append("step %d samples differ: %s != %s" % (step, got.get("samples"), want["samples"]))
    extra = sorted(set(new) - set(ref))
    if extra:
        errors.append("steps not in the reference: %s" % extra[:10])
    if errors:
        print("metrics differ (%d problems), first ones:" % len(errors))
        for e in errors[:10]:
            print("  " + e)
        return 1
    print("metrics close: %d losses, largest relative difference %.3g (limit %g), %d bit-identical; "
          "sample ids identical" % (n, worst, rtol, exact))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: metrics_close.py REF_METRICS NEW_METRICS RTOL")
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
