#!/usr/bin/env bash
# make bench-subword: WER on a SentencePiece (BPE) set, tests/bench/make_subword.py:
# a 500-piece model trained on ../shared/data/text/lm-train.txt, 200 sentences of
# lm-val.txt as simulated CTC emissions over the pieces, a word 3-gram (train_kn.py)
# on the same training text. rwkv-decode lexicon-free and with a lexicon spelled
# in pieces (lexicon/spell_lexicon.py), against pyctcdecode (lexicon-free, the same
# ARPA) over one grid of LM weight / word score, beam 32 and pyctcdecode's pruning
# (--token-min-logp -5 --beam-threshold 10), one thread each. Seconds are wall
# time on a shared machine: indicative only. Uses BENCH_VENV (default
# build/bench-venv) or installs sentencepiece, numpy, kenlm, pyctcdecode there.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
OUT=build/bench/subword
. tests/bench/python.sh
bench_python subword "sentencepiece numpy kenlm pyctcdecode" "sentencepiece, numpy, kenlm, pyctcdecode"
[ -f "$OUT/stats.txt" ] || $PY tests/bench/make_subword.py --shared "$D" --out "$OUT" >/dev/null
[ -f "$OUT/lm.arpa" ] || $PY tests/bench/train_kn.py --order 3 --text "$OUT/train.txt" --out "$OUT/lm.arpa" 2>/dev/null
cat "$OUT/stats.txt"

wer() { bin/rwkv-wer "$OUT/test.ref" "$1" | awk '/^%WER/{print $2}'; }
ours() { # name lmw ws args... -> "wer seconds"
  local name=$1 lmw=$2 ws=$3; shift 3
  local t0 t1
  t0=$(date +%s.%N)
  bin/rwkv-decode --list "$OUT/test.list" --tokens "$OUT/tokens.txt" --lm "$OUT/lm.arpa" --lm-weight "$lmw" \
    --word-score "$ws" --beam 32 --token-min-logp -5 --beam-threshold 10 --quiet "$@" > "$OUT/$name.hyp" 2>/dev/null
  t1=$(date +%s.%N)
  echo "$(wer "$OUT/$name.hyp") $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")"
}

bin/rwkv-decode --list "$OUT/test.list" --tokens "$OUT/tokens.txt" --beam 32 --quiet > "$OUT/nolm.hyp" 2>/dev/null
printf '\nno LM, lexicon-free: WER %s%%\n' "$(wer "$OUT/nolm.hyp")"
printf '\n%-12s %-26s %-26s %-26s\n' "lmw/ws" "rwkv-decode lexicon-free" "rwkv-decode pieces lexicon" "pyctcdecode lexicon-free"
printf '%-12s %-26s %-26s %-26s\n' "" "WER%  seconds" "WER%  seconds" "WER%  seconds"
for p in "0.3 0" "0.5 0" "0.5 1" "0.5 2" "0.8 2"; do
  read -r lmw ws <<<"$p"
  read -r fw fs < <(ours free "$lmw" "$ws" --unk-score -10)
  read -r lw ls < <(ours lex "$lmw" "$ws" --lexicon "$OUT/lexicon.txt")
  ps=$($PY tests/bench/subword_pyctcdecode.py "$OUT" "$lmw" "$ws" 2>&1 > "$OUT/pyctc.hyp" | tail -1)
  printf '%-12s %-26s %-26s %-26s\n' "$lmw/$ws" "$fw  $fs" "$lw  $ls" "$(wer "$OUT/pyctc.hyp")  $ps"
done
