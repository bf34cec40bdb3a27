#!/usr/bin/env bash
# make bench-parity: rwkv-decode against flashlight-text on random emissions
# (tests/bench/bench_parity.py says how). Uses BENCH_VENV (default
# build/bench-venv) or installs flashlight-text, kenlm and numpy there.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${BENCH_VENV:-build/bench-venv}
PKGS="flashlight-text==0.0.7 numpy"
have() { "$1" -c 'import numpy, flashlight.lib.text.decoder' 2>/dev/null; }
if ! { [ -x "$VENV/bin/python" ] && have "$VENV/bin/python"; }; then
  mkdir -p build/bench
  { [ -x "$VENV/bin/python" ] || python3 -m venv --system-site-packages "$VENV"; } >build/bench/pip-parity.log 2>&1
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check $PKGS >>build/bench/pip-parity.log 2>&1 ||
    { echo "bench-parity: pip install failed (build/bench/pip-parity.log)" >&2; exit 1; }
fi
exec "$VENV/bin/python" tests/bench/bench_parity.py "$@"
