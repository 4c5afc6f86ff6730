#!/usr/bin/env python3
"""Helpers for the checkpoint end-to-end tests (tests/ckpt/*.sh); standard library only.

  ckpt_tool.py manifest STEP_DIR
      Decodes STEP_DIR/manifest.pb (the ManifestFile envelope of proto/checkpoint.proto, read
      with a minimal protobuf wire-format parser) and checks that the checkpoint is complete:
      the magic, format version 1, the shards tile [0, total_params) in rank order, and every
      shard file listed exists with the recorded file_bytes. Prints
      "step=N reason=R world_size=P shards=P total_params=T" (exit 0) or the problem (exit 1).

  ckpt_tool.py compare REF.jsonl NEW.jsonl [RTOL]
      (RTOL given: losses within RTOL relative instead of bit-identical)
      Compares two metrics.jsonl files: the train lines ("loss") and validation lines
      ("val_loss") of every step in REF must appear in NEW with bit-identical values (the files
      print %.17g, which round-trips a double exactly) and, where REF logs them, the same
      "samples". NEW holds one line per step and evaluation: a resumed run drops the lines
      the interrupted run wrote after its checkpoint before it appends (a repeat is an error).
      NEW must not hold steps REF lacks. Prints a summary (exit 0) or the first differences
      (exit 1).
"""
import json
import os
import sys


# ---- protobuf wire format -------------------------------------------------------------------

def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def fields(buf):
    """{field number: [values]}: ints for varint/fixed, bytes for length-delimited."""
    out, i = {}, 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(buf, i)
        elif wire == 1:
            v, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            v, i = bytes(buf[i:i + n]), i + n
        elif wire == 5:
            v, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        out.setdefault(num, []).append(v)
    return out


def one(f, num, default=0):
    return f.get(num, [default])[-1]


def check_manifest(step_dir):
    path = os.path.join(step_dir, "manifest.pb")
    if not os.path.isfile(path):
        return "%s does not exist" % path
    with open(path, "rb") as fh:
        env = fields(fh.read())
    if one(env, 1, b"") != b"ringtune-checkpoint":
        return "%s: bad magic %r" % (path, one(env, 1, b""))
    if one(env, 2) != 1:
        return "%s: format_version %d" % (path, one(env, 2))
    man = fields(one(env, 3, b""))
    total, world = one(man, 9), one(man, 6)
    shards = [fields(s) for s in man.get(13, [])]
    if len(shards) != world or world < 1:
        return "%s: %d shards listed, world_size %d" % (path, len(shards), world)
    edge = 0
    for r, sh in enumerate(shards):
        name = one(sh, 1, b"").decode()
        if one(sh, 2) != r or one(sh, 3) != edge or one(sh, 4) < edge:
            return "%s: shard %d (%s) does not continue the tiling at %d" % (path, r, name, edge)
        edge = one(sh, 4)
        want = "shard-%05d-of-%05d.h5" % (r, world)
        if name != want:
            return "%s: shard %d is named %s, expected %s" % (path, r, name, want)
        f = os.path.join(step_dir, name)
        if not os.path.isfile(f):
            return "%s: shard file %s is missing" % (path, f)
        if os.path.getsize(f) != one(sh, 5):
            return "%s: %s holds %d bytes, the manifest says %d" % (
                path, f, os.path.getsize(f), one(sh, 5))
        if not sh.get(6):
            return "%s: shard %s lists no datasets" % (path, name)
    if edge != total:
        return "%s: shards end at %d of %d parameters" % (path, edge, total)
    print("step=%d reason=%s world_size=%d shards=%d total_params=%d" % (
        one(man, 5), one(man, 4, b"").decode(), world, len(shards), total))
    return None


# ---- metrics --------------------------------------------------------------------------------

def read_metrics(path):
    """{("loss"|"val_loss", step): [records in file order]}"""
    out = {}
    with open(path) as fh:
        for ln, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise SystemExit("%s:%d: not JSON (%s): %s" % (path, ln, e, line[:120]))
            kind = "loss" if "loss" in rec else "val_loss" if "val_loss" in rec else None
            if kind:
                out.setdefault((kind, rec["step"]), []).append(rec)
    return out


def compare(ref_path, new_path, rtol=0.0):
    """rtol 0: every loss bit-identical; else within rtol relative. Sample ids always exact."""
    ref, new = read_metrics(ref_path), read_metrics(new_path)
    errors, worst, exact, n = [], 0.0, 0, 0
    for key in sorted(ref, key=lambda k: (k[1], k[0])):
        kind, step = key
        want = ref[key][-1]
        if key not in new:
            errors.append("step %d: no %s line in %s" % (step, kind, new_path))
            continue
        for i, got in enumerate(new[key]):
            which = "last" if i == len(new[key]) - 1 else "earlier (#%d)" % (i + 1)
            a, b = got[kind], want[kind]
            rel = abs(a - b) / max(abs(b), 1e-30)
            n += 1
            worst = max(worst, rel)
            exact += a == b
            if (a != b) if rtol == 0 else (rel > rtol):
                errors.append("step %d %s: %r (%s line) != reference %r (diff %.3g, rel %.3g)" % (
                    step, kind, a, which, b, a - b, rel))
            if "samples" in want and got.get("samples") != want["samples"]:
                errors.append("step %d samples (%s line): %s != reference %s" % (
                    step, which, got.get("samples"), want["samples"]))
    repeats = sorted(k for k, v in new.items() if len(v) > 1)
    if repeats:
        errors.append("lines repeated in %s (a resume must drop the superseded ones): %s" % (
            new_path, ["%s %d x%d" % (k, s, len(new[(k, s)])) for k, s in repeats[:10]]))
    extra = sorted(set(new) - set(ref))
    if extra:
        errors.append("steps not in the reference: %s" % extra[:10])
    if errors:
        print("metrics differ (%d problems), first ones:" % len(errors))
        for e in errors[:10]:
            print("  " + e)
        return 1
    if rtol > 0:
        print("metrics close: %d losses, largest relative difference %.3g (limit %g), %d "
              "bit-identical; sample ids identical" % (n, worst, rtol, exact))
        return 0
    steps = sorted(s for k, s in ref if k == "loss")
    last = ref[("loss", steps[-1])][-1]["loss"] if steps else float("nan")
    print("metrics equal: %d train steps (%d-%d) and %d evals bit-identical, each logged once; "
          "last loss %.17g" % (
              len(steps), steps[0] if steps else 0, steps[-1] if steps else 0,
              sum(1 for k, _ in ref if k == "val_loss"), last))
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "manifest":
        err = check_manifest(argv[2])
        if err:
            print("incomplete checkpoint: " + err)
            return 1
        return 0
    if len(argv) in (4, 5) and argv[1] == "compare":
        return compare(argv[2], argv[3], float(argv[4]) if len(argv) == 5 else 0.0)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
