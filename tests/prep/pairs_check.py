#!/usr/bin/env python3
"""Checks a kind "pairs" corpus, as `test_corpus_pairs --dump` prints it, against the oracle ids
of tests/fixtures/pairs/t5_ids.json (tests/prep/pairs.sh). Standard library only.

    pairs_check.py DUMP ORACLE MODE T5_DIR

MODE "limited": prepped with the oracle's source prefix and max lengths (its "source" and
"target" ids and truncation counts); "plain": with neither ("source_plain", "target_full", no
truncation). Also checks that every pair index appears once, that each pair sits in the split
rt_prep_is_validation (dist/prep.h) gives it, and that tokenizer_sha256 is the sha256 of
spiece.model followed by tokenizer.json. Prints one summary line; exits 1 on the first mismatch.
"""
import hashlib
import json
import os
import sys

M64 = (1 << 64) - 1


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def is_validation(seed, d, ratio):
    h = splitmix64(splitmix64(seed) ^ d)
    return (h >> 11) * 2.0**-53 < ratio


def fail(msg):
    print("pairs_check: FAIL: " + msg)
    sys.exit(1)


def main():
    dump_path, oracle_path, mode, t5 = sys.argv[1:5]
    with open(oracle_path, encoding="utf-8") as f:
        oracle = json.load(f)
    with open(dump_path, encoding="utf-8") as f:
        info = json.loads(f.readline())
        pairs = [json.loads(line) for line in f]
    cases = oracle["cases"]
    limited = mode == "limited"
    st = oracle["settings"]
    want = {
        "kind": "pairs",
        "n_documents": len(cases),
        "max_source_length": st["max_source_len"] if limited else 0,
        "max_target_length": st["max_target_len"] if limited else 0,
        "n_truncated_source": oracle["n_truncated_source"] if limited else 0,
        "n_truncated_target": oracle["n_truncated_target"] if limited else 0,
        "eos_id": 1,
        "vocab_size": 32100,
    }
    for k, v in want.items():
        if info[k] != v:
            fail(f"{k} is {info[k]!r}, expected {v!r}")
    sha = hashlib.sha256()
    for name in ("spiece.model", "tokenizer.json"):
        with open(os.path.join(t5, name), "rb") as f:
            sha.update(f.read())
    if info["tokenizer_sha256"] != sha.hexdigest():
        fail(f"tokenizer_sha256 {info['tokenizer_sha256']} is not sha256(spiece.model + tokenizer.json)")
    seen = set()
    n_val = 0
    for p in pairs:
        d = p["doc_index"]
        if d in seen or not 0 <= d < len(cases):
            fail(f"pair index {d} repeated or out of range")
        seen.add(d)
        c = cases[d]
        src, tgt = (c["source"], c["target"]) if limited else (c["source_plain"], c["target_full"])
        if p["source"] != src:
            fail(f"input line {c['line']} (pair {d}): source {p['source']}, oracle {src}")
        if p["target"] != tgt:
            fail(f"input line {c['line']} (pair {d}): target {p['target']}, oracle {tgt}")
        val = is_validation(info["split_seed"], d, info["validation_ratio"])
        if (p["split"] == "validation") != val:
            fail(f"pair {d} is in {p['split']}, rt_prep_is_validation says {'validation' if val else 'train'}")
        n_val += val
    if len(seen) != len(cases):
        fail(f"{len(seen)} pairs in the corpus, {len(cases)} in the oracle")
    print(f"pairs_check: {mode}: {len(pairs)} pairs ({n_val} validation) equal T5TokenizerFast's ids; "
          f"truncated {info['n_truncated_source']} sources, {info['n_truncated_target']} targets")


if __name__ == "__main__":
    main()
