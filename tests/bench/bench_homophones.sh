#!/usr/bin/env bash
# make bench-homophones: WER of no LM / 3-gram ARPA / RWKV for H = 1, 4, 16 on
# the homophone set (tests/bench/make_homophones.py), decode time, and the
# share of homophone positions chosen correctly. LM weights are picked on the
# dev split; the table reports the held-out test split.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
OUT=build/bench/homophones
THREADS=${THREADS:-$(nproc)}
BEAM=${BEAM:-16}
RWKV=${RWKV_MODEL:-$D/rwkv/tiny-rwkv-7v0-834K-FP32.bin}
if [ ! -d /usr/share/games/fortunes ]; then
  echo "bench-homophones: needs Debian's fortunes package (apt-get install fortunes)" >&2; exit 1
fi
python3 tests/bench/make_homophones.py --shared "$D" --out "$OUT" >/dev/null
cat "$OUT/stats.txt"

decode() { # split lm H lmw ws -> prints "wer hom_correct hom_total seconds"
  local split=$1 lm=$2 h=$3 lmw=$4 ws=$5 args=()
  case $lm in
    none) ;;
    arpa) args=(--lm "$OUT/lm.arpa" --lm-weight "$lmw" --word-score "$ws") ;;
    rwkv) args=(--lm "$RWKV" --lm-weight "$lmw" --word-score "$ws") ;;
  esac
  local t0 t1
  t0=$(date +%s.%N)
  bin/rwkv-decode --list "$OUT/$split.list" --tokens "$OUT/tokens.txt" --lexicon "$OUT/lexicon.txt" \
    --beam "$BEAM" --homophones "$h" --threads "$THREADS" --quiet "${args[@]}" > "$OUT/$split.$lm.$h.hyp"
  t1=$(date +%s.%N)
  echo "$(python3 tests/bench/score_homophones.py "$OUT/$split.ref" "$OUT/$split.$lm.$h.hyp" "$OUT/lexicon.txt") $(awk "BEGIN{printf \"%.2f\", $t1 - $t0}")"
}

tune() { # lm -> "lmw ws" best on dev with H=16
  local lm=$1 best="" bw=1000
  for lmw in 0.1 0.25 0.5 1 2; do for ws in 0 1 2; do
    read -r wer _ _ _ < <(decode dev "$lm" 16 "$lmw" "$ws")
    if awk "BEGIN{exit !($wer < $bw)}"; then bw=$wer; best="$lmw $ws"; fi
  done; done
  echo "$best"
}

printf '\n%-6s %-4s %-10s %8s %10s %9s\n' LM H weights WER homophone seconds
for lm in none arpa rwkv; do
  w="0 0"
  if [ "$lm" != none ]; then
    if [ "$lm" = rwkv ] && [ ! -f "$RWKV" ]; then echo "rwkv: $RWKV not found, skipped"; continue; fi
    w=$(tune "$lm")
  fi
  for h in 1 4 16; do
    read -r wer hc ht secs < <(decode test "$lm" "$h" $w)
    printf '%-6s %-4s %-10s %7s%% %9s %9s\n' "$lm" "$h" "${w// //}" "$wer" \
      "$(awk "BEGIN{printf \"%.1f%%\", 100*$hc/$ht}")" "$secs"
  done
done
