#!/usr/bin/env bash
# make bench-lm-bpc: trains the same-text n-gram baselines (3-gram and 4-gram,
# interpolated modified Kneser-Ney, tests/bench/train_kn.py, checked against
# PyPI kenlm) on ../shared/data/text/lm-train.txt into build/lm/, then prints
# bits per character on text/lm-val.txt of each n-gram, the trained RWKV-7
# (english-rwkv7-2m-bytes.pth) and the rwkv.cpp tiny test model
# (tests/bench/lm_bpc.py says how characters are counted).
# Environment: BENCH_VENV (a venv with numpy and kenlm; made in build/bench/venv
# if unset), RETRAIN=1 to retrain existing ARPA files.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
OUT=build/lm
VENV=${BENCH_VENV:-build/bench/venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy kenlm
fi
PY=$VENV/bin/python
mkdir -p "$OUT"
echo "== bench-lm-bpc: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in 3 4; do
  f=$OUT/lm-train-${n}gram.arpa
  if [ "${RETRAIN:-0}" = 1 ] || [ ! -s "$f" ]; then
    t0=$(date +%s)
    "$PY" tests/bench/train_kn.py --text "$D/text/lm-train.txt" --order $n --out "$f" --check
    echo "$n-gram: trained and checked in $(( $(date +%s) - t0 )) s, $(du -m "$f" | cut -f1) MB"
  fi
done
"$PY" tests/bench/lm_bpc.py --text "$D/text/lm-val.txt" \
  --arpa "3-gram KN (same text)=$OUT/lm-train-3gram.arpa" \
  --arpa "4-gram KN (same text)=$OUT/lm-train-4gram.arpa" \
  --rwkv "RWKV-7 2.1M (trained)=$D/rwkv/english-rwkv7-2m-bytes.pth" \
  --rwkv "tiny-rwkv-7v0-834K (TEST model)=$D/rwkv/tiny-rwkv-7v0-834K-FP32.bin"
