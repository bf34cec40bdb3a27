#!/usr/bin/env bash
# make bench-batch: what --batch buys. One thread decodes the first N test
# sentences of the homophone set (tests/bench/make_homophones.py) with an RWKV
# LM in the search, --batch B for each B of BATCHES: B utterances at once,
# their forward calls run as one batch (lmstate/rwkv/rwkv_group.h). Two models:
# the trained 2M byte-level RWKV-7 of ../shared/data, and a random RWKV-7
# shaped like the 0.1B release but with a byte vocabulary (L12 C768, fp16
# weights, 182 MB: tests/bench/make_rwkv_model.py --vocab 256, written once to
# build/bench/), whose one-row calls are dear: they stream 170 MB of weights.
# The random model's scores are noise: its rows time the machinery, not a
# recognizer. Its first utterance also pays for the look-ahead values of the
# 16k-word lexicon (one-off, about 30 s here), the same for every B.
#
# Per row: CPU seconds (user + sys), wall seconds, peak RSS, and the calls per
# batch from stderr. Every B must give the hypotheses of B = 1, byte for
# byte, or the benchmark stops.
#
# Environment: N (30 sentences), BEAM (32), BATCHES ("1 4"), MODELS (default
# both, as "name=path" words), RWKV_DECODE (the program, default
# bin/rwkv-decode), BENCH_VENV (a Python with numpy, for the random model).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/python.sh
D=${RD_SHARED_DATA:-../shared/data}
OUT=build/bench/batch
N=${N:-30}
BEAM=${BEAM:-32}
BATCHES=${BATCHES:-1 4}
PROG=${RWKV_DECODE:-bin/rwkv-decode}
BIG=build/bench/rwkv7-0.1b-bytes-random.bin
MODELS=${MODELS:-trained-2m=$D/rwkv/english-rwkv7-2m-bytes.pth random-0.1b-bytes=$BIG}
H=build/bench/homophones
mkdir -p "$OUT"
if [ ! -s "$H/test.list" ]; then
  if [ ! -d /usr/share/games/fortunes ]; then
    echo "bench-batch: needs Debian's fortunes package (apt-get install fortunes)" >&2; exit 1
  fi
  bench_python batch numpy numpy system
  "$PY" tests/bench/make_homophones.py --shared "$D" --out "$H" >/dev/null
fi
case " $MODELS " in *"=$BIG "*)
  if [ ! -s "$BIG" ]; then
    bench_python batch numpy numpy system
    "$PY" tests/bench/make_rwkv_model.py --vocab 256 --out "$BIG" >&2
  fi;;
esac
head -n "$N" "$H/test.list" > "$OUT/test.list"
echo "== bench-batch: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $N sentences, beam $BEAM, 1 thread, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-20s %6s %8s %8s %8s %12s\n' model batch cpu_s wall_s rss_MB rows/batch
first=${BATCHES%% *}
for spec in $MODELS; do
  name=${spec%%=*} model=${spec#*=}
  if [ ! -f "$model" ]; then echo "bench-batch: $model not found" >&2; exit 1; fi
  for b in $BATCHES; do
    opt=""
    [ "$b" = 1 ] || opt="--batch $b"
    # shellcheck disable=SC2086
    if ! /usr/bin/time -o "$OUT/$name-$b.time" -f '%U %S %e %M' "$PROG" --list "$OUT/test.list" \
          --tokens "$H/tokens.txt" --lexicon "$H/lexicon.txt" --beam "$BEAM" --threads 1 \
          --lm "$model" --lm-weight 0.5 $opt > "$OUT/$name-$b.hyp" 2> "$OUT/$name-$b.err"; then
      echo "bench-batch: $name --batch $b failed:" >&2; cat "$OUT/$name-$b.err" >&2; exit 1
    fi
    if ! cmp -s "$OUT/$name-$first.hyp" "$OUT/$name-$b.hyp"; then
      echo "bench-batch: $name: --batch $b gives other hypotheses than --batch $first" >&2; exit 1
    fi
    rpb=$(sed -n 's/.* batches of \([0-9.]*\) rows.*/\1/p' "$OUT/$name-$b.err")
    awk -v n="$name" -v b="$b" -v r="${rpb:--}" '{ printf "%-20s %6s %8.2f %8.2f %8.0f %12s\n", n, b, $1 + $2, $3, $4 / 1024, r }' \
      "$OUT/$name-$b.time"
  done
done
