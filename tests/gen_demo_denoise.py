#!/usr/bin/env python3
"""Builds the demo's denoising pretraining set cli/demo/denoise_en.jsonl (committed; not run in
CI): T5's span-corruption objective over English text, for the small T5 base the demo trains from
scratch. Documented, with the counts of the committed run, in cli/demo/pairs_en_de.README.

denoise_en.jsonl  one JSON object a line, {"source": ..., "target": ...} (UTF-8, not
                  ASCII-escaped). source is an English sentence with about 15% of its words
                  replaced by sentinel spans, written <extra_id_0>, <extra_id_1>, ... as T5 writes
                  them; target is "<extra_id_0> span0 <extra_id_1> span1 ... <extra_id_k>", the
                  dropped spans in order, ended by the next sentinel (T5's convention).

Text: cli/demo/general.txt (the Python tutorial, reStructuredText source; see gen_demo_data.py)
and the English side of cli/demo/pairs_en_de.jsonl (gen_demo_pairs.py), both already shipped.
From the tutorial, paragraphs that are reST structure are skipped (headings and their underlines,
".." directives/comments/targets, indented blocks: code, directive bodies; ">>>" sessions), a
bullet or enumerator is removed from list items, inline markup is reduced to its text
(:role:`text <target>`, :role:`~a.b` -> b, ``literal``, `link <url>`_, *emphasis*, **strong**;
footnote references [#]_ and escaped spaces "\\ " removed; "::" as reST renders it), and the
paragraph is split into sentences after ".", "!" or "?" followed by a space and a capital, a
digit or an opening bracket/quote. Each sentence and each English text of the pairs is a unit;
units of 8..40 words (whitespace-separated) are kept, deduplicated (first kept: tutorial order,
then pairs order).

Corruption is done on words, not tokens (the tokenizer comes later, in `ringtune prep`): for a
unit of n words, round(0.15 n) words (at least 1) are noise, in max(1, round(noise / 3)) spans
(mean span length 3); the noise words are split into that many spans of random positive lengths,
and the other words into the gaps between them, as T5's random_spans_noise_mask does, except that
the first and last gap may be empty: T5 (without random_roll) starts on kept text and ends on a
noise span, harmless over its 512-token packed windows but on single sentences it would always
hide the last word. Every unit is corrupted COPIES times with different spans (dynamic masking; a
draw equal to an earlier one of the unit is drawn again), so a unit's COPIES examples are
consecutive lines; units are in a shuffled order. A validation split should hold out whole groups
of COPIES lines (e.g. the file's last lines, split on a multiple of COPIES), or the same sentence,
masked differently, lands on both sides. One random.Random(SEED) draws everything; rerunning gives
a byte-identical file.

Run once (after gen_demo_pairs.py):  python3 tests/gen_demo_denoise.py
"""
import hashlib, json, os, random, re

here = os.path.dirname(os.path.abspath(__file__))
demo = os.path.join(os.path.dirname(here), "cli", "demo")
out = os.path.join(demo, "denoise_en.jsonl")
SEED = 1234
COPIES = 6
MIN_WORDS, MAX_WORDS = 8, 40
NOISE_DENSITY, MEAN_SPAN = 0.15, 3.0

UNDERLINE = re.compile(r'^([=\-*~^"#+`\'.:_])\1{2,}\s*$')
BULLET = re.compile(r"(\*|-|\+|#\.|\d+\.)\s+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")


def role(m):
    text = m.group(2)
    return text.split(".")[-1] if m.group(1) == "~" else text


def inline(s):
    """reST inline markup reduced to the text a reader sees."""
    s = re.sub(r":[\w:.+-]+:`([^`<]*?)\s*<[^`>]*>`", r"\1", s)  # :role:`text <target>`
    s = re.sub(r":[\w:.+-]+:`([~!]?)([^`]*)`", role, s)  # :role:`text`, :role:`~a.b`
    s = re.sub(r"``([^`]*)``", r"\1", s)  # ``literal``
    s = re.sub(r"`([^`<]*?)\s*<[^`>]*>`__?", r"\1", s)  # `text <url>`_
    s = re.sub(r"`([^`]*)`_{0,2}", r"\1", s)  # `text`_, `text`
    s = re.sub(r"\*\*([^*]+)\*\*", r"\1", s)  # **strong**
    s = re.sub(r"(?<!\w)\*([^*\s][^*]*)\*(?!\w)", r"\1", s)  # *emphasis*
    s = re.sub(r"\s*\[(#\w*|\d+)\]_", "", s)  # footnote references
    s = s.replace("\\ ", "")  # escaped space (reST "2**\\ N")
    s = re.sub(r"\s+::(?=\s|$)", "", s)  # "text ::" -> "text"
    s = re.sub(r"::(?=\s|$)", ":", s)  # "text::" -> "text:"
    return s


def tutorial_sentences(path):
    text = open(path, encoding="utf-8").read()
    for para in re.split(r"\n\s*\n", text):
        lines = para.strip("\n").split("\n")
        first = lines[0]
        if not first.strip() or first[:1].isspace() or first.startswith(("..", ">>>")):
            continue
        if any(UNDERLINE.match(line) for line in lines):
            continue
        m = BULLET.match(first)
        if m:
            lines[0] = first[m.end():]
        elif any(line[:1].isspace() for line in lines[1:]):
            continue  # a definition list or other indented structure
        yield from SENTENCE_END.split(inline(" ".join(line.strip() for line in lines)))


def segments(rng, items, parts):
    """items split into parts positive lengths, uniformly over the ways to do so."""
    cuts = sorted(rng.sample(range(1, items), parts - 1))
    return [b - a for a, b in zip([0] + cuts, cuts + [items])]


def corrupt(rng, words):
    """(source, target) of T5 span corruption over a list of words."""
    n = len(words)
    noise = min(max(int(round(n * NOISE_DENSITY)), 1), n - 1)
    spans = max(int(round(noise / MEAN_SPAN)), 1)
    noise_len = segments(rng, noise, spans)
    # kept words into spans + 1 gaps, the inner ones non-empty: segment 2 more, take 1 off the ends
    gap = segments(rng, n - noise + 2, spans + 1)
    gap[0] -= 1
    gap[-1] -= 1
    src, tgt, i = [], [], 0
    for k in range(spans):
        src += words[i:i + gap[k]]
        i += gap[k]
        src.append("<extra_id_%d>" % k)
        tgt += ["<extra_id_%d>" % k] + words[i:i + noise_len[k]]
        i += noise_len[k]
    src += words[i:]
    tgt.append("<extra_id_%d>" % spans)
    assert i + gap[-1] == n
    return " ".join(src), " ".join(tgt)


def build():
    tut = list(tutorial_sentences(os.path.join(demo, "general.txt")))
    pairs = [json.loads(line)["en"] for line in open(os.path.join(demo, "pairs_en_de.jsonl"),
                                                      encoding="utf-8")]
    units, seen, counts = [], set(), {}
    for name, texts in (("general.txt", tut), ("pairs_en_de.jsonl", pairs)):
        kept = 0
        for t in texts:
            words = t.split()
            key = " ".join(words)
            if MIN_WORDS <= len(words) <= MAX_WORDS and key not in seen:
                seen.add(key)
                units.append(words)
                kept += 1
        counts[name] = (len(texts), kept)
    rng = random.Random(SEED)
    rng.shuffle(units)
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        for words in units:
            made = []
            while len(made) < COPIES:  # distinct corruptions (a unit of 8 words has 8 or more)
                ex = corrupt(rng, words)
                if ex not in made:
                    made.append(ex)
            for src, tgt in made:
                f.write(json.dumps({"source": src, "target": tgt}, ensure_ascii=False) + "\n")
    for name, (n, kept) in counts.items():
        print("%s: %d sentences/texts, %d of %d..%d words kept (after dedup)"
              % (name, n, kept, MIN_WORDS, MAX_WORDS))
    print("written: %d units x %d = %d examples, %d bytes, sha256 %s" % (
        len(units), COPIES, len(units) * COPIES, os.path.getsize(out),
        hashlib.sha256(open(out, "rb").read()).hexdigest()))


if __name__ == "__main__":
    build()
