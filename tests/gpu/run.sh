#!/usr/bin/env bash
# tests/gpu/run.sh - every check and measurement that needs a GPU, in one
# call on a lent GPU machine; a short table last. See tests/gpu/README.md for
# the exact device call (prepare.sh first, here; then carry [".carry"]).
#
#   1. builds for the device (sm_90 machine code only, to build fast there)
#   2. kernel parity on the GPU (build/tests/test_kernels: RWKV-4/7 step vs
#      the CPU forward at NMSE 1e-10 with fp32 state, synthetic head sizes
#      32/64/128, fp16/bf16 states, top-k, log P gather, errors) and on the
#      CPU emulation (test_kernels_cpu), and the CLI's --device test
#   3. compute-sanitizer memcheck (all kernel tests) and racecheck (the
#      RWKV-7 parity test), when the machine has it
#   4. make bench-gpu: fp16 weights with fp32 state, then bf16 weights with
#      bf16 state, at 64/512/4096 slots
#
# Exit 1 on any failed or SKIPPED test, a sanitizer error, or no GPU. Full
# logs go to $OUT (the device tool brings them back) or /tmp/rd-gpu.
set -u -o pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/rd-gpu}
mkdir -p "$OUT"
LOG=$OUT/gpu-run.log
: >"$LOG"
T0=$(date +%s)
status=0
rows=()
row() { rows+=("$(printf '%-40s %s' "$1" "$2")"); }
bad() { status=1; row "$1" "FAIL: $2"; }
say() { echo "== $* ($(( $(date +%s) - T0 )) s)" | tee -a "$LOG"; }

# a cmocka test binary: passes only when every test ran and passed
cmocka_run() { # name, log file, command...
    local name=$1 log=$2; shift 2
    timeout 300 "$@" >"$log" 2>&1
    local rc=$? n
    n=$(grep -c '^\[       OK \]' "$log")
    if [ $rc != 0 ]; then bad "$name" "exit $rc ($(grep -m1 -E 'ERROR|FAILED|error' "$log" | cut -c1-90))"
    elif grep -q '^\[  SKIPPED \]' "$log"; then bad "$name" "skipped: $(grep -m1 '^skipping' "$log" | cut -c1-90)"
    else row "$name" "ok, $n tests"; fi
}

export PATH=$PATH:/usr/local/cuda/bin:/usr/local/cuda/compute-sanitizer
say machine
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader >>"$LOG" 2>&1 \
    || bad "nvidia-smi" "no GPU answered"
nvcc --version >>"$LOG" 2>&1 || bad "nvcc" "not found"
row "device" "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"

# headers and libraries the image may lack: carried Debian packages
if [ -d .carry/deb ]; then
    deps=/tmp/rd-deps
    have() { printf '#include <stdarg.h>\n#include <stddef.h>\n#include <setjmp.h>\n#include <stdint.h>\n#include <%s>\n' \
        "$1" | cc -fsyntax-only -x c - 2>/dev/null; }
    if ! have cmocka.h || ! have zlib.h || ! have lzma.h || ! have bzlib.h; then
        for d in .carry/deb/*.deb; do dpkg -x "$d" $deps; done
        export CPATH=$deps/usr/include LIBRARY_PATH=$deps/usr/lib/x86_64-linux-gnu:$deps/lib/x86_64-linux-gnu
        export LD_LIBRARY_PATH=$LIBRARY_PATH${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
        echo "unpacked .carry/deb into $deps" >>"$LOG"
    fi
fi
export RD_SHARED_DATA=$PWD/.carry/data
[ -f "$RD_SHARED_DATA/rwkv/tiny-rwkv-7v0-834K-FP32.bin" ] || bad "test data" ".carry/data missing: run tests/gpu/prepare.sh first"

say build
NV="-gencode arch=compute_90,code=sm_90"
if make -j"${JOBS:-16}" CUDA=1 NVARCH="$NV" bin/rwkv-decode build/tests/test_kernels \
        build/tests/test_kernels_cpu build/tests/test_cli >"$OUT/build.log" 2>&1; then
    row "build (sm_90)" "ok, $(( $(date +%s) - T0 )) s"
else
    bad "build (sm_90)" "$(grep -m1 -E 'error' "$OUT/build.log" | cut -c1-90)"
fi

say kernel tests
cmocka_run "kernel parity, GPU" "$OUT/test_kernels.log" build/tests/test_kernels
grep -E '^  (head|fp16)' "$OUT/test_kernels.log" >>"$LOG"
cmocka_run "kernel parity, CPU emulation" "$OUT/test_kernels_cpu.log" build/tests/test_kernels_cpu
RD_TEST_FILTER=test_device_option cmocka_run "rwkv-decode --device" "$OUT/test_cli.log" build/tests/test_cli

say compute-sanitizer
if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
        filter='*'
        [ $tool = racecheck ] && filter=test_parity_v7
        RD_TEST_FILTER=$filter timeout 300 compute-sanitizer --tool $tool --error-exitcode 9 --report-api-errors no \
            build/tests/test_kernels >"$OUT/sanitizer-$tool.log" 2>&1
        rc=$?
        summary=$(grep -m1 'ERROR SUMMARY' "$OUT/sanitizer-$tool.log" | sed 's/^========= //')
        if [ $rc = 0 ] && ! grep -q '^\[  SKIPPED \]' "$OUT/sanitizer-$tool.log"; then row "sanitizer $tool ($filter)" "ok: $summary"
        else bad "sanitizer $tool ($filter)" "exit $rc: $summary"; fi
    done
else
    bad "compute-sanitizer" "not on this machine"
fi

say bench
for cfg in "fp16 fp32" "bf16 bf16"; do
    set -- $cfg
    if [ "$1 $2" = "fp16 fp32" ]; then timeout 240 make CUDA=1 NVARCH="$NV" bench-gpu >"$OUT/bench-$1-$2.log" 2>&1
    else timeout 240 build/bench/bench_gpu "$1" "$2" 20 >"$OUT/bench-$1-$2.log" 2>&1; fi
    rc=$?
    if grep -q skipped "$OUT/bench-$1-$2.log"; then bad "bench $1 weights, $2 state" "skipped: no CUDA device"
    elif [ $rc != 0 ]; then bad "bench $1 weights, $2 state" "exit $rc: $(tail -1 "$OUT/bench-$1-$2.log" | cut -c1-80)"
    else row "bench $1 weights, $2 state" "ran (table above)"; fi
done
row "rwkv PyPI torch forward" "not run (no wheel carried; see tests/gpu/README.md)"

{
    echo
    for f in "$OUT"/bench-*.log; do
        [ -f "$f" ] || continue
        echo "-- $(basename "$f" .log)"
        grep -E '^(device|weights|slots| +[0-9]+ )' "$f"
    done
    echo
    echo "-- rwkv-decode GPU checks, $(( $(date +%s) - T0 )) s in all (logs in $OUT)"
    printf '%s\n' "${rows[@]}"
    [ $status = 0 ] && echo "RESULT: all GPU checks passed" || echo "RESULT: FAILED (see above)"
} | tee -a "$LOG"
exit $status
