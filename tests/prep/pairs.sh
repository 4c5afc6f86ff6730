#!/usr/bin/env bash
# `ringtune prep --source-field en --target-field de` end to end (kind "pairs", io/CORPUS.md) on
# tests/fixtures/pairs/input.jsonl (40 English/German messages of GNU grep, diffutils and
# coreutils), with the bundled T5 tokenizer:
#  1. with a source prefix and max lengths, on 1, 2 and 3 ranks: the files are byte-identical,
#     every pair's ids equal T5TokenizerFast's (tests/fixtures/pairs/t5_ids.json, truncation
#     included), the truncation counts are the oracle's (summary and attributes), and each pair
#     is in the split rt_prep_is_validation gives it;
#  2. without prefix and limits: the untruncated ids, no truncation counted;
#  3. several rounds (the fixture 400 times, rounds of 1 MB) on 1, 2 and 3 ranks: identical;
#  4. bad input on 3 ranks, on a line of each rank: a line without the source or target field, a
#     field that is not a string, an empty target, a line that is not JSON or not an object: exit
#     1 with "FILE:LINE: ..." naming the field, no file left; two bad lines: the earlier one;
#     --skip-bad-json skips a line without a field (counted) but not an empty target;
#  5. tokenizer directories: none, GPT-2 for pairs, T5 for a text corpus: errors naming them;
#  6. `ringtune eval` refuses a decoder-only model on a pairs corpus, and `ringtune train` a
#     pairs corpus for data.task lm, naming the file and the kind.
# Usage: pairs.sh RINGTUNE_BINARY SCRATCH_DIR with RT_CORPUS_PAIRS set to the test_corpus_pairs
# binary (its --dump reads the pairs back through the reader API); tests/ckpt/common.sh.
set -euo pipefail
. "$(dirname "$0")/../ckpt/common.sh"
ck_init prep_pairs "$@"
ROOT=$(cd "$CK_HERE/../.." && pwd)
T5=$ROOT/cli/demo/tokenizers/t5
IN=$ROOT/tests/fixtures/pairs/input.jsonl
ORACLE=$ROOT/tests/fixtures/pairs/t5_ids.json
CHECK=$ROOT/tests/prep/pairs_check.py
DUMP=${RT_CORPUS_PAIRS:?set RT_CORPUS_PAIRS to the test_corpus_pairs binary}

# prep NP DIR LOG ARGS...: `ringtune prep ARGS...` on NP ranks in DIR (created), output to LOG;
# sets RC. The same relative --out everywhere keeps the recorded command line the same.
prep() {
    local np=$1 dir=$2 log=$3
    shift 3
    mkdir -p "$dir"
    RC=0
    (cd "$dir" && timeout -k 10 "$CK_TIMEOUT" "$CK_MPIEXEC" "${CK_MPIFLAGS[@]}" -n "$np" \
        "$R" prep "$@") </dev/null >"$log" 2>&1 || RC=$?
}
prep_ok() {
    prep "$@"
    [ "$RC" = 0 ] || fail_log "$3" "ringtune prep on $1 ranks failed (exit $RC)"
}
# same FILE...: fails unless all files are byte-identical to the first.
same() {
    local f
    for f in "${@:2}"; do cmp -s "$1" "$f" || fail "$f differs from $1"; done
    say "byte-identical: $* (sha256 $(sha256sum "$1" | cut -c1-16))"
}
# check_pairs CORPUS MODE: the pairs against the oracle (pairs_check.py).
check_pairs() {
    "$DUMP" --dump "$1" >"$1.dump" 2>"$1.dump.err" || fail_log "$1.dump.err" "cannot dump $1"
    local out
    out=$(python3 "$CHECK" "$1.dump" "$ORACLE" "$2" "$T5") || fail "$out"
    say "$out"
}

fields=(--out pairs.h5 --format jsonl --source-field en --target-field de)
base=(--tokenizer "$T5" "${fields[@]}")
limits=(--source-prefix "translate English to German: " --max-source-len 16
    --max-target-len 12 --val-ratio 0.2)

# 1. prefix and limits, 1/2/3 ranks
for np in 1 2 3; do prep_ok "$np" "$S/np$np" "$S/np$np.log" "${base[@]}" "${limits[@]}" "$IN"; done
same "$S/np1/pairs.h5" "$S/np2/pairs.h5" "$S/np3/pairs.h5"
expect_grep "wrote pairs.h5: 40 pairs, [0-9]+ source tokens \(uint16\)" "$S/np1.log" "summary"
expect_grep "truncated: 3 sources \(max 16 tokens\), 10 targets \(max 12 tokens\)" "$S/np3.log" \
    "truncation counts"
check_pairs "$S/np1/pairs.h5" limited

# 2. no prefix, no limits
prep_ok 2 "$S/plain" "$S/plain.log" "${base[@]}" --val-ratio 0.3 --split-seed 7 "$IN"
expect_grep "truncated: 0 sources \(no limit\), 0 targets \(no limit\)" "$S/plain.log" \
    "no limits"
check_pairs "$S/plain/pairs.h5" plain

# 3. several rounds
big=$S/big.jsonl
for _ in $(seq 400); do grep -v '^$' "$IN"; done >"$big"
for np in 1 2 3; do
    prep_ok "$np" "$S/big$np" "$S/big$np.log" "${base[@]}" "${limits[@]}" --round-mb 1 "$big"
done
same "$S/big1/pairs.h5" "$S/big2/pairs.h5" "$S/big3/pairs.h5"
expect_grep "wrote pairs.h5: 16000 pairs" "$S/big2.log" "several rounds"
expect_grep "truncated: 1200 sources \(max 16 tokens\), 4000 targets" "$S/big3.log" \
    "several rounds: truncation counts"

# 4. bad input on 3 ranks: line 2 (rank 0), 31 (rank 1) or 60 (rank 2) of 61
bad_at() { # LINE TEXT: the fixture's first 60 pairs (the 40, then 20 again) with TEXT at LINE
    local at=$1 text=$2 i=0 line
    while IFS= read -r line; do
        i=$((i + 1))
        [ "$i" = "$at" ] && printf '%s\n' "$text"
        printf '%s\n' "$line"
    done < <(grep -v '^$' "$IN"; grep -v '^$' "$IN" | head -20)
}
n=0
while IFS='|' read -r text want; do
    at=$(((n % 3 == 0) ? 2 : (n % 3 == 1) ? 31 : 60))
    n=$((n + 1))
    bad_at "$at" "$text" >"$S/bad.jsonl"
    prep 3 "$S/bad" "$S/bad$n.log" "${base[@]}" --quiet "$S/bad.jsonl"
    expect_rc 1 "$S/bad$n.log" "bad line $at ($text)"
    expect_grep "ringtune prep: $S/bad.jsonl:$at: $want" "$S/bad$n.log" "the message"
    if compgen -G "$S/bad/pairs.h5*" >/dev/null; then fail "a file was left: $(ls "$S/bad")"; fi
done <<'CASES'
{"en": "Invalid range end"}|no target field "de" in the JSON object
{"de": "Ungültiges Bereichsende"}|no source field "en" in the JSON object
{"en": 3, "de": "drei"}|source field "en" is a number, expected a string
{"en": "three", "de": ["drei"]}|target field "de" is an array, expected a string
{"en": "three", "de": null}|target field "de" is null, expected a string
{"en": "three", "de": ""}|target field "de" is empty \(or only whitespace\): every pair needs a target
{"en": "three", "de": " \t "}|target field "de" is empty \(or only whitespace\)
{"en": "three", "de": "drei"|malformed JSON: .*column
["three", "drei"]|expected a JSON object, got an array
CASES
{ bad_at 45 '{"de": "x"}' | sed '20s/.*/not json/'; } >"$S/bad.jsonl"
prep 3 "$S/bad" "$S/two.log" "${base[@]}" --quiet "$S/bad.jsonl"
expect_rc 1 "$S/two.log" "two bad lines"
expect_grep "bad.jsonl:20: malformed JSON" "$S/two.log" "the earlier one reported"
bad_at 31 '{"en": "three"}' >"$S/bad.jsonl"
prep 3 "$S/skip" "$S/skip.log" "${base[@]}" --skip-bad-json "$S/bad.jsonl"
expect_rc 0 "$S/skip.log" "--skip-bad-json"
expect_grep "60 pairs.*" "$S/skip.log" "the other 60 pairs"
expect_grep "1 malformed JSON lines" "$S/skip.log" "the skipped line counted"
bad_at 60 '{"en": "three", "de": ""}' >"$S/bad.jsonl"
prep 3 "$S/skip2" "$S/skip2.log" "${base[@]}" --skip-bad-json "$S/bad.jsonl"
expect_rc 1 "$S/skip2.log" "--skip-bad-json with an empty target"
expect_grep "bad.jsonl:60: target field \"de\" is empty" "$S/skip2.log" "not skipped"

# 5. tokenizer directories
mkdir -p "$S/notok"
prep 2 "$S/tok" "$S/tok1.log" --tokenizer "$S/notok" "${fields[@]}" "$IN"
expect_rc 1 "$S/tok1.log" "no tokenizer"
expect_grep "tokenizer directory $S/notok holds no tokenizer: expected vocab.json \+ merges.txt" \
    "$S/tok1.log" "the directory named"
gpt2=$ROOT/cli/demo/tokenizers/gpt2
prep 1 "$S/tok" "$S/tok2.log" --tokenizer "$gpt2" "${fields[@]}" "$IN"
expect_rc 1 "$S/tok2.log" "GPT-2 tokenizer for pairs"
expect_grep "$gpt2 holds a BPE tokenizer .* needs a SentencePiece one" "$S/tok2.log" "refused"
prep 1 "$S/tok" "$S/tok3.log" --tokenizer "$T5" --out text.h5 --format jsonl --text-field en "$IN"
expect_rc 1 "$S/tok3.log" "T5 tokenizer for a text corpus"
expect_grep "$T5 holds a SentencePiece tokenizer .* for pairs only" "$S/tok3.log" "refused"

# 6. a GPT-2 cannot evaluate pairs, and an LM run refuses a pairs corpus
RC=0
"$R" eval --model "$ROOT/tests/fixtures/gpt2_tiny/hf" --corpus "$S/np1/pairs.h5" \
    >"$S/eval.log" 2>&1 || RC=$?
expect_rc 1 "$S/eval.log" "eval of GPT-2 on a pairs corpus"
expect_grep "gpt2_tiny/hf is a decoder-only model \(\"gpt2\"\): a pairs corpus needs an encoder-decoder" \
    "$S/eval.log" "eval"
train 1 "$S/train.log" "$ROOT/tests/configs/minimal.yaml" \
    "model.path=$ROOT/tests/fixtures/gpt2_tiny/hf" "data.corpus=$S/np1/pairs.h5" \
    data.seq_len=16 "output.dir=$S/train"
expect_rc 1 "$S/train.log" "train on a pairs corpus"
expect_grep "$S/np1/pairs.h5: corpus kind is \"pairs\", expected \"text\" for data.task lm \(set data.task: seq2seq" \
    "$S/train.log" "train"
