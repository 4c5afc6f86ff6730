#!/usr/bin/env python3
"""Builds the demo's labeled text set cli/demo/packages_sections.jsonl (committed; not run in CI),
for sequence-classification fine-tuning (GPT2ForSequenceClassification) with before/after
metrics.

packages_sections.jsonl  one JSON object a line, {"text": ..., "label": ...}: the one-line
                         description ("Description:" short line) of a Debian package, labeled
                         with its archive Section, one of games, graphics, science, sound.
                         Package descriptions are part of Debian's archive metadata (the apt
                         package lists), written by each package's maintainers.

Made from the apt package lists of this machine (/var/lib/apt/lists/*_Packages*, any
compression apt reads; `apt-get update` first if there are none). The committed file was made
from Debian 12 "bookworm" main, amd64: bookworm 12.15 (oldstable) dated Sat, 11 Jul 2026
10:16:37 UTC, bookworm-updates dated Tue, 01 Dec 2026 02:13:34 UTC and bookworm-security dated
Tue, 01 Dec 2026 01:33:13 UTC (each InRelease's "Date:"); the script prints the release and
date of the lists it reads. That run: 463 games, 588 graphics, 1464 science, 698 sound
candidates; 1400 lines, 104148 bytes; --check: validation accuracy 0.839 (280 examples).

Rules: only packages whose Section is exactly one of the four (main archive; contrib/non-free
prefixes not taken); descriptions that name their section or an obvious form of it (GIVEAWAYS
below: "game", "graphic", "scien", "sound") are dropped, as are transitional/dummy packages and
descriptions under 3 words; deduplicated on the lowercased text with a trailing "(...)" removed
(so "X (data files)" and "X (documentation)" do not put near-copies of one text on both sides of
a split); then PER_CLASS per class drawn with random.Random(SEED) from the name-sorted candidates,
and the whole list shuffled with the same generator. Deterministic for the same lists.

Run once:  python3 tests/gen_demo_labeled.py
           python3 tests/gen_demo_labeled.py --check   # + scikit-learn bag-of-words baseline
--check (needs scikit-learn, e.g. /root/rt-oracle/bin/python) fits a logistic regression on
word counts over a seeded 80/20 split of the written file and prints its validation accuracy:
the task should be clearly above chance (0.25) but not trivial.
"""
import glob, json, os, random, re, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(os.path.dirname(here), "cli", "demo", "packages_sections.jsonl")
LISTS = "/var/lib/apt/lists"
SECTIONS = ["games", "graphics", "science", "sound"]
GIVEAWAYS = {"games": ["game"], "graphics": ["graphic"], "science": ["scien"],
             "sound": ["sound"]}
DROP = re.compile(r"transitional|dummy package", re.I)
PER_CLASS = 350
SEED = 13


def read_list(path):
    """A Packages file's text, decompressed by apt itself (lz4, xz, gz or plain)."""
    return subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", path], check=True,
                          stdout=subprocess.PIPE).stdout.decode("utf-8", "replace")


def stanzas(text):
    """(Package, Section, short Description) of every stanza that has all three."""
    for block in text.split("\n\n"):
        f = {}
        for line in block.split("\n"):
            m = re.match(r"(Package|Section|Description): (.*)", line)
            if m:
                f[m.group(1)] = m.group(2).strip()
        if len(f) == 3:
            yield f["Package"], f["Section"], f["Description"]


def releases():
    """Suite, version, codename and date of each InRelease file the lists came with."""
    out = []
    for p in sorted(glob.glob(os.path.join(LISTS, "*InRelease"))):
        head = open(p, encoding="utf-8", errors="replace").read(4000)
        f = dict(re.findall(r"^(Suite|Version|Codename|Date): (.*)$", head, re.M))
        kv = ", ".join("%s %s" % x for x in sorted(f.items()))
        out.append("%s: %s" % (os.path.basename(p), kv))
    return out


def candidates():
    paths = sorted(glob.glob(os.path.join(LISTS, "*_Packages*")))
    if not paths:
        sys.exit("gen_demo_labeled: no package lists in %s: run apt-get update first" % LISTS)
    by_section = {s: {} for s in SECTIONS}
    for p in paths:
        for pkg, section, desc in stanzas(read_list(p)):
            low = desc.lower()
            if section not in by_section or len(desc.split()) < 3 or DROP.search(desc):
                continue
            if any(g in low for g in GIVEAWAYS[section]):
                continue
            key = re.sub(r"\s*\([^()]*\)\s*$", "", low)
            by_section[section].setdefault(pkg, (key, desc))
    seen, out = set(), {s: [] for s in SECTIONS}
    for s in SECTIONS:  # name order; a text (key) kept once over all sections
        for pkg in sorted(by_section[s]):
            key, desc = by_section[s][pkg]
            if key not in seen:
                seen.add(key)
                out[s].append(desc)
    return out


def build():
    for r in releases():
        print("lists: " + r)
    cands = candidates()
    rng = random.Random(SEED)
    rows = []
    for s in SECTIONS:
        if len(cands[s]) < PER_CLASS:
            sys.exit("gen_demo_labeled: only %d %s descriptions" % (len(cands[s]), s))
        rows += [{"text": t, "label": s} for t in rng.sample(cands[s], PER_CLASS)]
        print("%s: %d candidates, %d taken" % (s, len(cands[s]), PER_CLASS))
    rng.shuffle(rows)
    with open(out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print("%s: %d lines, %d bytes" % (out, len(rows), os.path.getsize(out)))


def check():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    rows = [json.loads(l) for l in open(out, encoding="utf-8")]
    x, y = [r["text"] for r in rows], [r["label"] for r in rows]
    xt, xv, yt, yv = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    vec = CountVectorizer()
    clf = LogisticRegression(max_iter=2000).fit(vec.fit_transform(xt), yt)
    acc = clf.score(vec.transform(xv), yv)
    print("bag-of-words logistic regression, 80/20 split: validation accuracy %.3f (%d examples, "
          "chance %.2f)" % (acc, len(xv), 1.0 / len(SECTIONS)))


if __name__ == "__main__":
    build()
    if "--check" in sys.argv[1:]:
        check()
