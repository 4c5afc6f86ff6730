#!/usr/bin/env python3
"""Writes tests/fuzz/corpus/fuzz_spm_model/tiny.model, the seed of fuzz_spm_model: a small
SentencePiece unigram model (about 100 pieces) trained by PyPI sentencepiece on a few lines of
cli/demo/general.txt, with a custom normalization rule table of a few NFKC-like rules (fi
ligature, circled digits, A + combining ring, tab/newline/ideographic space to space), so its
precompiled charsmap (Darts trie + replacement strings) is a few hundred bytes instead of T5's
237 KB. Runs in the fixture venv (tests/fixtures/README.md); the output is committed:

    /root/rt-oracle/bin/python tests/fuzz/make_spm_seed.py
"""
import io
import os
import tempfile

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RULES = [("FB01", "66 69"), ("FB02", "66 6C"), ("2460", "31"), ("2461", "32"), ("41 30A", "C5"),
         ("61 301", "E1"), ("9", "20"), ("A", "20"), ("3000", "20"), ("FF21", "41")]


def main():
    with open(os.path.join(ROOT, "cli/demo/general.txt"), encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if line.strip()][:300]
    with tempfile.TemporaryDirectory() as d:
        tsv = os.path.join(d, "rules.tsv")
        with open(tsv, "w") as f:
            for src, dst in RULES:
                f.write("%s\t%s\n" % (src, dst))
        out = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=out,
                                       vocab_size=100, model_type="unigram",
                                       normalization_rule_tsv=tsv, pad_id=0, eos_id=1, unk_id=2,
                                       bos_id=-1, hard_vocab_limit=False, minloglevel=2)
    path = os.path.join(HERE, "corpus", "fuzz_spm_model", "tiny.model")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(out.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=out.getvalue())
    print("%s: %d bytes, %d pieces, %r -> %s" % (path, len(out.getvalue()), sp.get_piece_size(),
                                                 "ﬁ\tA\u030a ①", sp.encode("ﬁ\tA\u030a ①")))


if __name__ == "__main__":
    main()
