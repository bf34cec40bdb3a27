#!/usr/bin/env bash
# make bench-hotwords: phrase boosting (--hotwords) on the English homophone
# set (tests/bench/make_homophones.py) and the Chinese set
# (tests/bench/make_zh.py). Hotwords: 20 rare words of the test references
# (once in test, never in training or dev text); distractors: 20 lexicon
# words that never occur in the references (half of them homophones of
# reference words). For --hotword-weight 0, 1, 2, 5, 10: recall of the
# hotwords, false insertions of distractors, WER (English) or CER (Chinese).
# Then decode time of the English test split with 0, 100 and 10,000 hotword
# phrases (1-3 lexicon words each; one thread, best of 3 runs). Seconds on a
# shared noisy machine are indicative only.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
OUT=build/bench/hotwords
THREADS=${THREADS:-$(nproc)}
BEAM=${BEAM:-16}
PY=${BENCH_VENV:+$BENCH_VENV/bin/}python3
EN=build/bench/homophones
ZH=build/bench/zh
ZLEX=$D/lexicon/pinyin_simp.dict.yaml
mkdir -p "$OUT/en" "$OUT/zh"
[ -f "$EN/stats.txt" ] || $PY tests/bench/make_homophones.py --shared "$D" --out "$EN" >/dev/null
[ -f "$ZH/stats.txt" ] || $PY tests/bench/make_zh.py --shared "$D" --out "$ZH" >/dev/null
$PY tests/bench/hotwords.py pick --test "$EN/test.ref" --train "$EN/lm-train.txt" "$EN/dev.ref" \
  --lexicon "$EN/lexicon.txt" --out "$OUT/en" >/dev/null
$PY tests/bench/hotwords.py pick --test "$ZH/test.words" --train "$ZH/train.txt" "$ZH/dev.words" \
  --lexicon "$ZLEX" --rime --cjk --min-len 2 --out "$OUT/zh" >/dev/null

en_decode() { # lm weight -> hyp file
  local lm=$1 w=$2 args=()
  [ "$lm" = arpa ] && args=(--lm "$EN/lm.arpa" --lm-weight 0.5 --word-score 1)
  bin/rwkv-decode --list "$EN/test.list" --tokens "$EN/tokens.txt" --lexicon "$EN/lexicon.txt" --beam "$BEAM" \
    --threads "$THREADS" --quiet --hotwords "$OUT/en/hot.txt" --hotword-weight "$w" "${args[@]}" \
    > "$OUT/en/test.$lm.$w.hyp"
  echo "$OUT/en/test.$lm.$w.hyp"
}
zh_decode() { # lm weight -> hyp file
  local lm=$1 w=$2 pair
  pair=$(cat "$ZH/weights.$lm" 2>/dev/null || echo "0.5 2")
  local args=(--word-score "${pair#* }")
  [ "$lm" = ngram ] && args+=(--lm "$ZH/lm.arpa" --lm-weight "${pair% *}")
  bin/rwkv-decode --list "$ZH/test.list" --tokens "$ZH/tokens.txt" --lexicon "$ZLEX" --beam "$BEAM" \
    --homophones 16 --threads "$THREADS" --quiet --hotwords "$OUT/zh/hot.txt" --hotword-weight "$w" \
    "${args[@]}" > "$OUT/zh/test.$lm.$w.hyp" 2>/dev/null
  echo "$OUT/zh/test.$lm.$w.hyp"
}

printf '\n%-8s %-8s %6s %14s %9s %7s\n' set LM weight recall false_ins "WER/CER"
for set in en zh; do
  for lm in none $([ $set = en ] && echo arpa || echo ngram); do
    for w in 0 1 2 5 10; do
      if [ $set = en ]; then hyp=$(en_decode $lm $w); ref=$EN/test.ref; rate=WER
      else hyp=$(zh_decode $lm $w); ref=$ZH/test.ref; rate=CER; fi
      read -r rec found total fi < <($PY tests/bench/hotwords.py score "$ref" "$hyp" "$OUT/$set/hot.words" \
        "$OUT/$set/distractor.words")
      er=$(bin/rwkv-wer "$ref" "$hyp" | awk -v r="%$rate" '$1 == r {print $2}')
      printf '%-8s %-8s %6s %14s %9s %6s%%\n' "$set" "$lm" "$w" "$rec% ($found/$total)" "$fi" "$er"
    done
  done
done

printf '\ndecode time, English test split (%s utterances), ARPA 3-gram, 1 thread, best of 3:\n' \
  "$(wc -l < "$EN/test.list")"
for n in 0 100 10000; do
  $PY tests/bench/hotwords.py many --lexicon "$EN/lexicon.txt" --n "$n" > "$OUT/many.$n.txt"
  best=""
  for r in 1 2 3; do
    t0=$(date +%s.%N)
    bin/rwkv-decode --list "$EN/test.list" --tokens "$EN/tokens.txt" --lexicon "$EN/lexicon.txt" --beam "$BEAM" \
      --threads 1 --quiet --lm "$EN/lm.arpa" --lm-weight 0.5 --word-score 1 \
      $([ "$n" -gt 0 ] && echo --hotwords "$OUT/many.$n.txt") > /dev/null
    t1=$(date +%s.%N)
    s=$(awk "BEGIN{printf \"%.3f\", $t1 - $t0}")
    if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; fi
  done
  [ "$n" = 0 ] && base=$best
  printf '%6s hotwords: %7ss (%+.1f%% over 0)\n' "$n" "$best" "$(awk "BEGIN{print 100*($best/$base-1)}")"
done
