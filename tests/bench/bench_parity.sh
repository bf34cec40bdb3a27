#!/usr/bin/env bash
# make bench-parity: rwkv-decode against flashlight-text on random emissions
# (tests/bench/bench_parity.py says how). Uses BENCH_VENV (default
# build/bench-venv) or installs flashlight-text, kenlm and numpy there.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/python.sh
bench_python parity "flashlight-text==0.0.7 numpy" "numpy, flashlight.lib.text.decoder"
exec "$PY" tests/bench/bench_parity.py "$@"
