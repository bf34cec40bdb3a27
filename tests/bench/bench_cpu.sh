#!/usr/bin/env bash
# make bench-cpu: one-core decoding speed and WER of rwkv-decode against
# flashlight-text's LexiconDecoder and pyctcdecode (3-gram ARPA LM, beams
# 10/50/500). Installs its Python needs (flashlight-text, pyctcdecode, kenlm)
# into build/bench-venv on first use (kenlm builds from source: about a minute),
# falling back to `pip install --user`. Extra arguments go to bench_cpu.py
# (see tests/bench/README.md), e.g. tests/bench/bench_cpu.sh --utts-per-beam 500:200
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${BENCH_VENV:-build/bench-venv}
PKGS=${BENCH_PIP_PKGS:-"flashlight-text==0.0.7 pyctcdecode==0.5.0 kenlm==0.3.0"}
LOG=build/bench/pip-install.log
mkdir -p build/bench

have() { "$1" -c 'import numpy, kenlm, pyctcdecode, flashlight.lib.text.decoder' 2>/dev/null; }

PY=""
if [ -x "$VENV/bin/python" ] && have "$VENV/bin/python"; then
  PY=$VENV/bin/python
elif have python3; then
  PY=python3
else
  echo "bench-cpu: installing $PKGS (log: $LOG)" >&2
  # shellcheck disable=SC2086
  if { [ -x "$VENV/bin/python" ] || python3 -m venv --system-site-packages "$VENV"; } >"$LOG" 2>&1 &&
     "$VENV/bin/python" -m pip install -q --disable-pip-version-check $PKGS >>"$LOG" 2>&1; then
    PY=$VENV/bin/python
  elif python3 -m pip install -q --user --disable-pip-version-check $PKGS >>"$LOG" 2>&1; then
    PY=python3
  else
    echo "bench-cpu: pip install failed; last lines of $LOG:" >&2
    tail -n 15 "$LOG" >&2
    exit 1
  fi
fi

# One core, no hidden thread pools.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMEXPR_NUM_THREADS=1
exec "$PY" tests/bench/bench_cpu.py "$@"
