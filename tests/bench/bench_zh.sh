#!/usr/bin/env bash
# make bench-zh: CER on the Chinese set (tests/bench/make_zh.py: fortunes-zh,
# toneless pinyin, simulated syllable emissions) with no LM (the Rime
# dictionary's weights as unigram prior) and a word 3-gram trained on the
# training split. Weights are picked on dev; the table reports test. No RWKV
# World model is available here (none in ../shared/data), so that row is
# absent. Machine noise: decode seconds are indicative only.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
OUT=build/bench/zh
THREADS=${THREADS:-$(nproc)}
BEAM=${BEAM:-16}
H=${HOMOPHONES:-16}
LEX=$D/lexicon/pinyin_simp.dict.yaml
PY=${BENCH_VENV:+$BENCH_VENV/bin/}python3
if [ ! -f /usr/share/games/fortunes/chinese ]; then
  echo "bench-zh: needs Debian's fortunes-zh package (apt-get install fortunes-zh)" >&2; exit 1
fi
[ -f "$OUT/stats.txt" ] || $PY tests/bench/make_zh.py --shared "$D" --out "$OUT" >/dev/null
cat "$OUT/stats.txt"

decode() { # split lm lmw ws -> prints "cer seconds"
  local split=$1 lm=$2 lmw=$3 ws=$4
  local args=(--word-score "$ws")
  [ "$lm" = ngram ] && args+=(--lm "$OUT/lm.arpa" --lm-weight "$lmw")
  local t0 t1
  t0=$(date +%s.%N)
  bin/rwkv-decode --list "$OUT/$split.list" --tokens "$OUT/tokens.txt" --lexicon "$LEX" --beam "$BEAM" \
    --homophones "$H" --threads "$THREADS" --quiet "${args[@]}" > "$OUT/$split.$lm.hyp" 2>/dev/null
  t1=$(date +%s.%N)
  echo "$(bin/rwkv-wer "$OUT/$split.ref" "$OUT/$split.$lm.hyp" | awk '/^%CER/{print $2}') $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")"
}

best() { # lm "lmw ws" ... -> the pair with the lowest dev CER
  local lm=$1 b="" bc=1000; shift
  for p in "$@"; do
    read -r cer _ < <(decode dev "$lm" $p)
    if awk "BEGIN{exit !($cer < $bc)}"; then bc=$cer; b=$p; fi
  done
  echo "$b"
}

printf '\n%-8s %-12s %7s %8s\n' LM "lmw/ws" CER seconds
wn=$(best none "0.5 1" "0.5 2" "0.5 3")
read -r cer secs < <(decode test none $wn)
printf '%-8s %-12s %6s%% %8s\n' "none" "${wn// //}" "$cer" "$secs"
wl=$(best ngram "0.3 2" "0.5 2" "0.5 3" "0.8 3")
read -r cer secs < <(decode test ngram $wl)
printf '%-8s %-12s %6s%% %8s\n' "3-gram" "${wl// //}" "$cer" "$secs"
echo "rwkv: no RWKV World model is available here; not measured"
echo "$wn" > "$OUT/weights.none"
echo "$wl" > "$OUT/weights.ngram"
