#!/usr/bin/env python3
"""Builds the embedded demo corpus in cli/demo/ (committed; not run in CI).

general.txt : prose from the Python 3.11 tutorial (Debian package python3.11-doc, PSF licence)
legal-train.txt / legal-val.txt : licence texts from /usr/share/common-licenses (verbatim copies,
              which these licences permit), the domain the demo fine-tunes on; validation holds
              out whole documents.
*.u16       : the same texts tokenized with the real GPT-2 tokenizer (Hugging Face `tokenizers`,
              vocab.json + merges.txt from shared/tokenizers/gpt2), uint16 little-endian, documents
              separated by <|endoftext|> (50256).

Run once with the oracle virtualenv:  /root/rt-oracle/bin/python tests/gen_demo_data.py
"""
import glob, os, sys
import numpy as np
from tokenizers import ByteLevelBPETokenizer

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
out = os.path.join(root, "cli", "demo")
tokdir = os.path.join(root, "..", "shared", "tokenizers", "gpt2")
tok = ByteLevelBPETokenizer(os.path.join(tokdir, "vocab.json"), os.path.join(tokdir, "merges.txt"))
EOT = 50256

def docs_general():
    base = "/usr/share/doc/python3.11/html/_sources/tutorial"
    return [open(p, encoding="utf-8").read() for p in sorted(glob.glob(base + "/*.rst.txt"))]

def docs_legal(names):
    d = "/usr/share/common-licenses"
    return [open(os.path.join(d, n), encoding="utf-8").read() for n in names]

LEGAL_TRAIN = ["GPL-3", "LGPL-2.1", "GFDL-1.3", "MPL-1.1", "Artistic", "BSD", "CC0-1.0"]
LEGAL_VAL = ["Apache-2.0", "MPL-2.0"]

def write(name, docs):
    text = "\n<|endoftext|>\n".join(docs)
    open(os.path.join(out, name + ".txt"), "w", encoding="utf-8").write(text)
    ids = []
    for d in docs:
        ids.extend(tok.encode(d).ids)
        ids.append(EOT)
    a = np.array(ids, dtype="<u2")
    a.tofile(os.path.join(out, name + ".u16"))
    print(f"{name}: {len(docs)} documents, {len(text)} chars, {len(a)} tokens")

os.makedirs(out, exist_ok=True)
assert tok.encode("Hello world").ids == [15496, 995]
write("general", docs_general())
write("legal-train", docs_legal(LEGAL_TRAIN))
write("legal-val", docs_legal(LEGAL_VAL))
