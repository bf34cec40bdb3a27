#!/usr/bin/env bash
# make bench-homophones: no LM / n-grams / RWKV in the search / RWKV rescoring /
# 4-gram + RWKV on the homophone set; weights picked on the dev split, the table
# on the test split (tests/bench/bench_homophones.py says what each row is and
# which environment variables size it: BEAM, DEV_N, TEST_N, NBEST, JOBS).
# Environment: BENCH_VENV (a venv with numpy and kenlm; made in build/bench/venv
# if unset).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
OUT=build/bench/homophones
if [ ! -d /usr/share/games/fortunes ]; then
  echo "bench-homophones: needs Debian's fortunes package (apt-get install fortunes)" >&2; exit 1
fi
VENV=${BENCH_VENV:-build/bench/venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy kenlm
fi
PY=$VENV/bin/python
"$PY" tests/bench/make_homophones.py --shared "$D" --out "$OUT" >/dev/null
cat "$OUT/stats.txt"
mkdir -p build/lm
for n in 3 4; do
  f=build/lm/lm-train-${n}gram.arpa
  [ -s "$f" ] || "$PY" tests/bench/train_kn.py --text "$D/text/lm-train.txt" --order $n --out "$f"
done
"$PY" tests/bench/bench_homophones.py
