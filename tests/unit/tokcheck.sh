#!/usr/bin/env bash
# tokcheck.sh RINGTUNE GPT2_TOKENIZER_DIR WORKDIR: a corpus made with the GPT-2 tokenizer is
# accepted by eval/train when the model directory carries the same vocab.json + merges.txt,
# refused (naming the corpus, the files and both hashes, and the prep fix) when it carries other
# ones, and accepted with a note when it carries none. An export copies the tokenizer files. A
# config.json eos_token_id outside the vocabulary trains with one warning.
set -u
rt=$1 tok=$2 w=$3
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fail() { echo "tokcheck: FAIL: $*" >&2; exit 1; }
rm -rf "$w" && mkdir -p "$w/text" || exit 1
for i in $(seq 1 40); do
  printf 'Document %d: the quick brown fox jumps over the lazy dog, again and again.\n' "$i" \
    > "$w/text/doc$i.txt"
done
"$rt" prep --quiet --tokenizer "$tok" --out "$w/c.h5" "$w/text" >/dev/null || fail "prep"
"$rt" init --out "$w/same" --vocab 50257 --positions 16 --embd 8 --layers 1 --heads 1 \
  >/dev/null || fail "init"
cp -r "$w/same" "$w/none" && cp -r "$w/same" "$w/other" || exit 1
cp "$tok/vocab.json" "$tok/merges.txt" "$w/same/" || exit 1
cp "$tok/vocab.json" "$w/other/" && head -n 1000 "$tok/merges.txt" > "$w/other/merges.txt"
printf '{"tokenizer_class": "GPT2Tokenizer"}\n' > "$w/same/tokenizer_config.json"

out=$("$rt" eval --model "$w/same" --corpus "$w/c.h5" --seq 8 --batch 2 2>&1) ||
  fail "eval with the same tokenizer: $out"
echo "$out"
out=$("$rt" eval --model "$w/none" --corpus "$w/c.h5" --seq 8 --batch 2 2>&1) ||
  fail "eval without tokenizer files: $out"
echo "$out"
echo "$out" | grep -q "note: $w/none has no tokenizer files (vocab.json + merges.txt, or spiece.model)" || fail "no note: $out"
out=$("$rt" eval --model "$w/other" --corpus "$w/c.h5" --seq 8 --batch 2 2>&1)
rc=$?
echo "$out"
[ $rc -eq 1 ] || fail "eval with another tokenizer exited $rc"
sha_c=$(cat "$tok/vocab.json" "$tok/merges.txt" | sha256sum | cut -c1-64)
sha_o=$(cat "$w/other/vocab.json" "$w/other/merges.txt" | sha256sum | cut -c1-64)
want="$w/c.h5: the corpus was tokenized with another tokenizer than the model's: it records tokenizer sha256 $sha_c, but $w/other/vocab.json + $w/other/merges.txt have sha256 $sha_o; re-run \`ringtune prep --tokenizer $w/other ...\`"
echo "$out" | grep -qF -- "$want" || fail "message lacks: $want"

# train: the same check at startup (one process), and the export carries the tokenizer
cat > "$w/run.yaml" <<YAML
model:
  path: MODEL
data:
  corpus: $w/c.h5
  seq_len: 8
train:
  micro_batch: 2
  global_batch: 2
  max_steps: 2
eval:
  every_steps: 0
  max_batches: 1
checkpoint:
  every_steps: 0
output:
  dir: OUT
YAML
sed "s|MODEL|$w/other|; s|OUT|$w/run-other|" "$w/run.yaml" > "$w/run-other.yaml"
out=$("$rt" train "$w/run-other.yaml" 2>&1)
rc=$?
echo "$out"
[ $rc -ne 0 ] || fail "train with another tokenizer succeeded"
echo "$out" | grep -qF -- "$want" || fail "train message lacks: $want"
sed "s|MODEL|$w/same|; s|OUT|$w/run-same|" "$w/run.yaml" > "$w/run-same.yaml"
# an eos_token_id outside the vocabulary (as transformers saves for small ones) trains, warned
sed -i 's|"eos_token_id": 50256|"eos_token_id": 99999|' "$w/same/config.json"
grep -q '"eos_token_id": 99999' "$w/same/config.json" || fail "could not edit config.json"
out=$("$rt" train "$w/run-same.yaml" 2>&1) || fail "train with the same tokenizer: $out"
echo "$out"
echo "$out" | grep -qF "warning: $w/same/config.json: eos_token_id 99999 is outside the vocabulary [0, 50257)" ||
  fail "train did not warn about eos_token_id"
for f in vocab.json merges.txt tokenizer_config.json; do
  cmp -s "$w/same/$f" "$w/run-same/final/$f" || fail "export lacks $f"
done
echo "tokcheck: ok"
