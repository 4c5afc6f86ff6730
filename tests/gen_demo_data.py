#!/usr/bin/env python3
"""Builds the embedded demo corpus in cli/demo/ (committed; not run in CI). ringtune tokenizes
it itself (`ringtune prep`, run by `ringtune demo`).

general.txt     prose from the Python 3.11 tutorial (Debian package python3.11-doc, PSF licence);
                paragraphs are separated by blank lines, and the demo treats each as a document
                so that a 10% validation split holds whole paragraphs.
legal-train.txt licence texts from /usr/share/common-licenses (verbatim copies, which these
legal-val.txt   licences permit), the domain the demo fine-tunes on; documents (whole licences)
                are separated by a line "<|endoftext|>"; validation holds out whole licences.

Run once:  python3 tests/gen_demo_data.py
"""
import glob, os, re

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(os.path.dirname(here), "cli", "demo")

def general():
    base = "/usr/share/doc/python3.11/html/_sources/tutorial"
    paras = []
    for p in sorted(glob.glob(base + "/*.rst.txt")):
        text = open(p, encoding="utf-8").read()
        paras += [q.strip("\n") for q in re.split(r"\n\s*\n", text) if q.strip()]
    return "\n\n".join(paras) + "\n"

def legal(names):
    d = "/usr/share/common-licenses"
    return "\n<|endoftext|>\n".join(open(os.path.join(d, n), encoding="utf-8").read() for n in names)

os.makedirs(out, exist_ok=True)
files = {
    "general.txt": general(),
    "legal-train.txt": legal(["GPL-3", "LGPL-2.1", "GFDL-1.3", "MPL-1.1", "Artistic", "BSD", "CC0-1.0"]),
    "legal-val.txt": legal(["Apache-2.0", "MPL-2.0"]),
}
for name, text in files.items():
    open(os.path.join(out, name), "w", encoding="utf-8").write(text)
    print(f"{name}: {len(text)} characters")
