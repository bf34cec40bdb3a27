# tests/bench/python.sh - sourced by bench scripts: sets PY to a Python that
# imports what the bench needs.
#   bench_python NAME 'PKG ...' 'IMPORT, ...' [system]
# Uses BENCH_VENV (default build/bench-venv) when its python imports them;
# with "system", then python3 when it does; else makes the venv (with the
# system site packages) and pip-installs PKGs there, logging to
# build/bench/pip-NAME.log, and exits 1 naming that log if it fails.
bench_python() {
  local name=$1 pkgs=$2 imports=$3 venv=${BENCH_VENV:-build/bench-venv} log=build/bench/pip-$1.log
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import $imports" 2>/dev/null; then PY=$venv/bin/python; return; fi
  if [ "${4:-}" = system ] && python3 -c "import $imports" 2>/dev/null; then PY=python3; return; fi
  mkdir -p build/bench
  { [ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv"; } >"$log" 2>&1
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install -q --disable-pip-version-check $pkgs >>"$log" 2>&1 ||
    { echo "bench-$name: pip install failed ($log)" >&2; exit 1; }
  PY=$venv/bin/python
}
