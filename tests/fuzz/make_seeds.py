#!/usr/bin/env python3
"""Writes the generated seed inputs of the fuzz targets under tests/fuzz/corpus/ (standard library
only; the outputs are committed, so this runs only when they should change):

  corpus/tokenizer/{vocab,merges}.txt|json  a 457-token GPT-2 tokenizer: the 256 byte tokens, the
                                            first 200 merges of cli/demo/tokenizers/gpt2 and
                                            <|endoftext|> (the fixed partner file of fuzz_vocab
                                            and fuzz_merges, and their seeds)
  corpus/fuzz_safetensors/*.safetensors     small files: F32, F16, BF16, I64, a 0-d and an empty
                                            tensor, __metadata__
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
GPT2 = os.path.join(HERE, "..", "..", "cli", "demo", "tokenizers", "gpt2")
OUT = os.path.join(HERE, "corpus")


def tokenizer(n_merges=200):
    with open(os.path.join(GPT2, "vocab.json"), encoding="utf-8") as f:
        full = json.load(f)
    with open(os.path.join(GPT2, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    head = [lines[0]] if lines[0].startswith("#version") else []
    merges = [l for l in lines[len(head):] if l][:n_merges]
    keep = {t: i for t, i in full.items() if i < 256 + n_merges}
    keep["<|endoftext|>"] = 256 + n_merges
    d = os.path.join(OUT, "tokenizer")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(keep, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(head + merges) + "\n")


def safetensors(name, tensors, meta):
    header, data = {}, b""
    for tname, dtype, shape, raw in tensors:
        header[tname] = {"dtype": dtype, "shape": shape,
                         "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    d = os.path.join(OUT, "fuzz_safetensors")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def main():
    tokenizer()
    f32 = struct.pack("<6f", 0.5, -1.0, 2.0, 1e-30, float("inf"), -0.0)
    f16 = struct.pack("<4H", 0x3C00, 0xC000, 0x7E00, 0x0001)
    bf16 = struct.pack("<3H", 0x3F80, 0xFF80, 0x0000)
    safetensors("mixed.safetensors",
                [("wte.weight", "F32", [2, 3], f32), ("h.0.ln_1.bias", "F16", [4], f16),
                 ("bf", "BF16", [3], bf16), ("ids", "I64", [2], struct.pack("<2q", 1, -2)),
                 ("scalar", "F32", [], struct.pack("<f", 3.0)), ("empty", "F32", [0, 5], b"")],
                {"format": "pt", "note": "seed"})
    safetensors("plain.safetensors", [("x", "F32", [1], struct.pack("<f", 1.0))], None)
    safetensors("empty.safetensors", [], {})


if __name__ == "__main__":
    main()
