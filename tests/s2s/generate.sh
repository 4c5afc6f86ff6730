#!/usr/bin/env bash
# `ringtune generate` for T5 end to end:
#  1. on the fixture models (tests/fixtures/t5_tied, t5_gated_odd) the generated ids, and the
#     beam scores within 1e-5 relative, equal transformers' generate as recorded in
#     tests/fixtures/decode/decode.json, for every greedy and beam-search case there: each
#     case's inputs as one --input JSONL batch of arrays of ids (sources of different lengths,
#     padded as transformers padded them), and inputs one at a time through --ids (the single-row
#     inputs, and every 4th case's rows);
#  2. a tiny random T5 with the real T5 tokenizer (cli/demo/tokenizers/t5): --text prints a line
#     of text and, with --print-ids, the ids; --input with the demo's English-German pairs
#     (--field en, --source-prefix) writes one JSON line per input in input order, the same for
#     --batch 2 (a partial last batch) and --batch 1;
#  3. a checkpoint of a 2-step seq2seq training (one process) generates what its Hugging Face
#     export (final/) generates.
# Usage: generate.sh RINGTUNE_BINARY SCRATCH_DIR
set -euo pipefail
R=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
S=$2
HERE=$(cd "$(dirname "$0")" && pwd)
FX=$HERE/../fixtures
DEMO=$HERE/../../cli/demo
rm -rf "$S" && mkdir -p "$S"
T0=$SECONDS
say() { printf '[s2s_generate] %s\n' "$*"; }
fail() {
    printf '[s2s_generate] FAIL: %s\n' "$*" >&2
    exit 1
}

# 1. against transformers (the check and the expected ids in python3, from decode.json)
python3 - "$R" "$FX" "$S" <<'PY' || fail "generated ids differ from transformers' (above)"
import json, subprocess, sys
R, FX, S = sys.argv[1:4]
d = json.load(open(f"{FX}/decode/decode.json"))
runs = bad = 0
def run(args):
    global runs
    runs += 1
    p = subprocess.run([R, "generate", "--threads", "1"] + args, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"ringtune generate {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return p.stdout if p.returncode == 0 else None
for i, c in enumerate(d["cases"]):
    inp = d["inputs"][c["model"]][c["input"]]
    rows = [[x for x, m in zip(r, mk) if m] for r, mk in zip(inp["src_ids"], inp["src_mask"])]
    eos = c["eos_token_id"]
    args = ["--model", f"{FX}/{c['model']}/hf", "--max-new-tokens", str(c["max_new_tokens"]),
            "--eos-id", str(eos)]
    if c["mode"] == "beam":
        es = c["early_stopping"]
        es = "never" if es == "never" else ("true" if es else "false")
        args += ["--num-beams", str(c["num_beams"]), "--length-penalty",
                 repr(c["length_penalty"]), "--early-stopping", es]
    # transformers' rows: decoder_start, the generated ids, then padding after an eos
    want = []
    for s in c["sequences"]:
        g = s[1:]
        want.append(g[:g.index(eos) + 1] if eos in g else g)
    what = f"case {i} ({c['model']} {c['input']} {c['mode']} " + " ".join(args[2:]) + ")"
    with open(f"{S}/in.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps({"src": r}) + "\n")
    out = run(args + ["--input", f"{S}/in.jsonl", "--field", "src", "--batch", "8"])
    got = [json.loads(l) for l in out.splitlines()] if out is not None else []
    ok = [g["ids"] for g in got] == want and all(g["input"] == r for g, r in zip(got, rows))
    if ok and c["mode"] == "beam":
        ok = all(abs(g["score"] - w) <= 1e-5 * abs(w) for g, w in zip(got, c["sequences_scores"]))
    if not ok:
        bad += 1
        print(f"{what}: got {got}, transformers {want}")
    if len(rows) == 1 or i % 4 == 0:
        for r, w in zip(rows, want):
            out = run(args + ["--ids", ",".join(map(str, r))])
            if out is None or out.strip() != ",".join(map(str, w)):
                bad += 1
                print(f"{what}, --ids {r}: got {out!r}, transformers {w}")
print(f"[s2s_generate] {len(d['cases'])} decode.json cases, {runs} runs of ringtune generate: "
      f"{bad} differ from transformers")
sys.exit(1 if bad else 0)
PY

# 2. text in and out with the real tokenizer on a tiny random T5
"$R" init --arch t5 --out "$S/t5" --vocab 32128 --embd 16 --d-kv 4 --d-ff 32 --layers 1 \
    --heads 2 >"$S/init.log" 2>&1 || fail "ringtune init --arch t5: $(cat "$S/init.log")"
cp "$DEMO/tokenizers/t5/spiece.model" "$DEMO/tokenizers/t5/tokenizer.json" "$S/t5/"
"$R" generate --model "$S/t5" --text "translate English to German: Hello" --max-new-tokens 8 \
    --eos-id none --print-ids >"$S/text.out" 2>"$S/text.err" ||
    fail "generate --text exited $?: $(cat "$S/text.err")"
[ "$(wc -l <"$S/text.out")" = 2 ] || fail "generate --text --print-ids: not 2 lines: $(cat "$S/text.out")"
text=$(sed -n 1p "$S/text.out")
ids=$(sed -n 2p "$S/text.out")
[ -n "$text" ] || fail "generate --text printed an empty text"
[[ "$ids" =~ ^[0-9]+(,[0-9]+){7}$ ]] || fail "generate --print-ids: '$ids' is not 8 ids"
say "--text: '$text' (ids $ids)"

head -n 5 "$DEMO/pairs_en_de.jsonl" >"$S/pairs.jsonl"
gen_pairs() {
    "$R" generate --model "$S/t5" --input "$S/pairs.jsonl" --field en \
        --source-prefix "translate English to German: " --num-beams 2 --max-new-tokens 6 \
        --threads 1 "$@"
}
gen_pairs --batch 2 --out "$S/pairs-b2.jsonl" 2>"$S/pairs.err" ||
    fail "generate --input exited $?: $(cat "$S/pairs.err")"
grep -q "generate: 5 inputs -> $S/pairs-b2.jsonl" "$S/pairs.err" ||
    fail "generate --out: no summary line: $(cat "$S/pairs.err")"
gen_pairs --batch 1 >"$S/pairs-b1.jsonl" || fail "generate --input --batch 1 exited $?"
python3 - "$S/pairs.jsonl" "$S/pairs-b2.jsonl" <<'PY' || fail "generate --input: wrong lines"
import json, sys
src = [json.loads(l)["en"] for l in open(sys.argv[1])]
out = [json.loads(l) for l in open(sys.argv[2])]
assert len(out) == len(src), f"{len(out)} lines for {len(src)} inputs"
for s, o in zip(src, out):
    assert o["input"] == s, f"input order: {o['input']!r} where {s!r} was expected"
    assert isinstance(o["text"], str) and o["ids"] and all(isinstance(i, int) for i in o["ids"])
    assert isinstance(o["score"], float), o
print(f"[s2s_generate] --input: {len(out)} lines in input order, e.g. {out[0]['text']!r}")
PY
cmp -s "$S/pairs-b2.jsonl" "$S/pairs-b1.jsonl" || fail "--batch 2 and --batch 1 generate different lines"
say "--batch 2 and --batch 1: the same lines"

# 3. a checkpoint generates what its export does
head -n 40 "$DEMO/pairs_en_de.jsonl" >"$S/pairs40.jsonl"
"$R" prep --tokenizer "$S/t5" --out "$S/pairs.h5" --format jsonl --source-field en \
    --target-field de --max-source-len 16 --max-target-len 16 --val-ratio 0.2 --quiet \
    "$S/pairs40.jsonl" >"$S/prep.log" 2>&1 || fail "prep: $(cat "$S/prep.log")"
cat >"$S/run.yaml" <<YAML
model: {path: $S/t5}
data: {corpus: $S/pairs.h5, task: seq2seq, seed: 3}
train: {global_batch: 2, micro_batch: 2, max_steps: 2, seed: 5}
optim: {lr: 1.0e-2, warmup_steps: 0}
eval: {every_steps: 0}
output: {dir: $S/out, log_every: 1}
checkpoint: {every_steps: 2}
dist: {threads_per_rank: 1}
YAML
"$R" train "$S/run.yaml" >"$S/train.log" 2>&1 || fail "train: $(tail -5 "$S/train.log")"
"$R" generate --model "$S/out" --tokenizer "$S/t5" --text "stack overflow" --print-ids \
    >"$S/ckpt.out" 2>&1 || fail "generate from the checkpoint: $(cat "$S/ckpt.out")"
"$R" generate --model "$S/out/final" --text "stack overflow" --print-ids >"$S/final.out" 2>&1 ||
    fail "generate from final/: $(cat "$S/final.out")"
cmp -s "$S/ckpt.out" "$S/final.out" ||
    fail "checkpoint and export differ: $(cat "$S/ckpt.out") / $(cat "$S/final.out")"
say "checkpoint $S/out (latest) and final/: the same output ($(tail -1 "$S/ckpt.out"))"
say "PASS ($((SECONDS - T0)) s)"
