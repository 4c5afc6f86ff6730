"""usage: close_metrics.py REF NEW RTOL
Every train and validation loss of REF's metrics.jsonl is in NEW (the last line of a step logged
twice) within RTOL relative, with the same sample ids; NEW has no other steps. For runs at
different rank counts, whose sums round differently."""
import json
import sys


def read(path):
    out = {}
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            kind = "loss" if "loss" in rec else "val_loss" if "val_loss" in rec else None
            if kind:
                out[(kind, rec["step"])] = rec
    return out


def main(ref_path, new_path, rtol):
    ref, new, rtol = read(ref_path), read(new_path), float(rtol)
    errors, worst = [], 0.0
    for (kind, step), want in sorted(ref.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        got = new.get((kind, step))
        if got is None:
            errors.append("step %d: no %s" % (step, kind))
            continue
        rel = abs(got[kind] - want[kind]) / max(abs(want[kind]), 1e-30)
        worst = max(worst, rel)
        if rel > rtol:
            errors.append("step %d %s: %r vs %r (rel %.3g)" % (step, kind, got[kind], want[kind], rel))
        if "samples" in want and got.get("samples") != want["samples"]:
            errors.append("step %d: samples differ" % step)
    extra = sorted(set(new) - set(ref))
    if extra:
        errors.append("steps not in the reference: %s" % extra[:10])
    if errors:
        print("metrics differ (%d problems): %s" % (len(errors), "; ".join(errors[:5])))
        return 1
    print("metrics close: %d losses within %.3g relative of the reference (worst %.3g), same samples"
          % (len(ref), rtol, worst))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
