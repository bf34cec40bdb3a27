#!/usr/bin/env bash
# make bench-lm-cost: what an RWKV LM costs in the search and as an n-best
# rescorer, against the n-gram decode, on the homophone set
# (tests/bench/make_homophones.py: CMUdict phones, simulated emissions).
# One thread, one process per row, the same sentences for every row; CPU
# seconds (user + sys) of the whole process, LM loading included, so that a
# busy machine inflates every row alike (the ratios are what to read).
#
# Environment: N (sentences of the test split, default 100), BEAM (32),
# NBEST (50, rescoring), RWKV_MODEL (default the trained 2M byte-level
# RWKV-7 of ../shared/data), RWKV_DECODE (the program, default bin/rwkv-decode).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
OUT=build/bench/lm_cost
N=${N:-100}
BEAM=${BEAM:-32}
NBEST=${NBEST:-50}
RWKV=${RWKV_MODEL:-$D/rwkv/english-rwkv7-2m-bytes.pth}
PROG=${RWKV_DECODE:-bin/rwkv-decode}
PY=${BENCH_VENV:+$BENCH_VENV/bin/}python3
if [ ! -d /usr/share/games/fortunes ]; then
  echo "bench-lm-cost: needs Debian's fortunes package (apt-get install fortunes)" >&2; exit 1
fi
if [ ! -f "$RWKV" ]; then echo "bench-lm-cost: $RWKV not found" >&2; exit 1; fi
H=build/bench/homophones
[ -s "$H/test.list" ] || "$PY" tests/bench/make_homophones.py --shared "$D" --out "$H" >/dev/null
mkdir -p "$OUT"
head -n "$N" "$H/test.list" > "$OUT/test.list"
echo "== bench-lm-cost: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $N sentences, beam $BEAM, 1 thread, load $(cut -d' ' -f1-3 /proc/loadavg)"

run() { # name args... -> "name cpu_seconds"; a failed decode stops the benchmark
  local name=$1; shift
  local t
  if ! /usr/bin/time -o "$OUT/$name.time" -f '%U %S' "$PROG" --list "$OUT/test.list" --tokens "$H/tokens.txt" \
          --lexicon "$H/lexicon.txt" --beam "$BEAM" --threads 1 --quiet "$@" > "$OUT/$name.hyp" 2> "$OUT/$name.err"; then
    echo "bench-lm-cost: row $name failed:" >&2; cat "$OUT/$name.err" >&2; exit 1
  fi
  t=$(tail -1 "$OUT/$name.time")
  awk -v n="$name" -v t="$t" 'BEGIN { split(t, a, " "); printf "%s %.2f\n", n, a[1] + a[2] }'
}

{
  run ngram --lm "$H/lm.arpa" --lm-weight 0.5
  run rwkv --lm "$RWKV" --lm-weight 0.5
  run ngram+rescore --lm "$H/lm.arpa" --lm-weight 0.5 --nbest "$NBEST" --rescore "$RWKV" --rescore-weight 0.5
  run ngram+rwkv --lm "$H/lm.arpa" --lm "$RWKV" --lm-weight 0.5,0.5
} > "$OUT/times.txt"
base=$(awk '$1 == "ngram" { print $2 }' "$OUT/times.txt")
printf '%-16s %10s %12s %10s\n' row cpu_s s/sentence x_ngram
awk -v b="$base" -v n="$N" '{ printf "%-16s %10.2f %12.4f %10.1f\n", $1, $2, $2 / n, (b > 0 ? $2 / b : 0) }' "$OUT/times.txt"
