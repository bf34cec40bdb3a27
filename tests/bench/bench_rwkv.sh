#!/bin/sh
# tests/bench/bench_rwkv.sh - RWKV-7 tokens/s: our CPU runtime against rwkv.cpp.
#
#   make bench-rwkv                     (or run this script from the project root)
#   RWKV_CPP_LIB=/path/to/librwkv.so tests/bench/bench_rwkv.sh
#
# Environment:
#   RWKV_CPP_LIB    path of an already-built rwkv.cpp shared library; unset or
#                   missing: the rwkv.cpp rows are skipped (nothing builds it here)
#   THREADS         thread counts to run, space separated (default "1 2")
#   BENCH_SECONDS   seconds per measurement (default 2)
#   RWKV_CPP_SLOTS  N slots for rwkv.cpp (default "1,16,64"; it loops over states)
#   CC, OPT         compiler and optimization flags for our program
#                   (default: the Makefile's "-O2 -march=x86-64-v2 -g")
#
# Models: the tiny real RWKV-7 (../shared/data/rwkv/tiny-rwkv-7v0-834K-FP32.bin),
# ours only: the trained byte-level RWKV-7 of the homophone decode
# (../shared/data/rwkv/english-rwkv7-2m-bytes.pth, N = 1, 4, 16, 64; skipped
# when absent), and a random RWKV-7 shaped like the 0.1B release, written once by
# tests/bench/make_rwkv_model.py to build/bench/rwkv7-0.1b-random.bin.
# Results: one table on stdout, every row also in build/bench/bench_rwkv.tsv.
set -eu

cd "$(dirname "$0")/../.."
OUT=build/bench
mkdir -p "$OUT"
CC=${CC:-cc}
OPT=${OPT:--O2 -march=x86-64-v2 -g}
THREADS=${THREADS:-1 2}
BENCH_SECONDS=${BENCH_SECONDS:-2}
for p in ../rwkv.cpp/build/librwkv.so ../rwkvcpp/build/librwkv.so; do
    if [ -z "${RWKV_CPP_LIB:-}" ] && [ -f "$p" ]; then export RWKV_CPP_LIB=$p; fi
done
RWKV_CPP_SLOTS=${RWKV_CPP_SLOTS:-1,16,64}
TINY=../shared/data/rwkv/tiny-rwkv-7v0-834K-FP32.bin
TINY_EXPECTED=../shared/data/rwkv/expected-logits-7v0-834K.bin
BIG=$OUT/rwkv7-0.1b-random.bin
RESULTS=$OUT/bench_rwkv.results
: > "$RESULTS"

echo "== bench-rwkv: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
load1=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
    echo "   warning: the machine is busy (load $load1); timings will be noisy, run it alone"
fi

# The random 0.1B-shaped model, written once (about 380 MB, a few seconds).
if [ ! -s "$BIG" ]; then
    python3 tests/bench/make_rwkv_model.py --out "$BIG"
fi

# ---- ours: tests/bench/bench_rwkv.c, built with an explicit command ----
OURS=$OUT/bench_rwkv
SRCS="tests/bench/bench_rwkv.c lmstate/rwkv/rwkv.c lmstate/rwkv/rwkv_forward.c $(ls lmstate/weights/*.c) $(ls common/*.c)"
# Our program takes [threads] [seconds]; a third argument, a model path, is
# passed only when its usage line says it takes one.
OURS_TAKES_PATH=0
if grep -Eq 'bench_rwkv \[threads\] \[seconds[^]]*\] \[' tests/bench/bench_rwkv.c 2>/dev/null; then
    OURS_TAKES_PATH=1
fi
ours_ok=1
missing=""
for f in $SRCS; do [ -f "$f" ] || missing="$missing $f"; done
if [ -n "$missing" ]; then
    echo "== ours: SKIPPED, missing source files:$missing"
    ours_ok=0
else
    echo "== ours: $CC -std=c11 $OPT -D_GNU_SOURCE -I. -pthread $SRCS -o $OURS -lm -lz -llzma -lbz2"
    # shellcheck disable=SC2086
    if ! $CC -std=c11 $OPT -D_GNU_SOURCE -I. -pthread $SRCS -o "$OURS" -lm -lz -llzma -lbz2; then
        echo "== ours: SKIPPED, tests/bench/bench_rwkv.c did not compile"
        ours_ok=0
    fi
fi

# Turns our program's lines
# "LABEL threads T  N=N  X tokens/s  (Y ms/step, S steps, U us/row, P cpu us/row)"
# into RESULT lines.
ours_results() {
    awk -v path="$1" '
    / threads [0-9]+ +N=[0-9]+ / && /tokens\/s/ {
        label = $0; sub(/ +threads [0-9]+ +N=.*/, "", label)
        model = (label ~ /tiny/) ? "tiny-7v0-834K-FP32" : (label ~ /trained-2m/) ? "english-rwkv7-2m-bytes.pth" : ((path == "1") ? "0.1b-random.bin" : "0.1b-random(in-memory)")
        match($0, / threads [0-9]+/); t = substr($0, RSTART + 9, RLENGTH - 9)
        match($0, /N=[0-9]+/); n = substr($0, RSTART + 2, RLENGTH - 2)
        match($0, /[0-9.]+ tokens\/s/); tps = substr($0, RSTART, RLENGTH - 9)
        ms = ""; if (match($0, /[0-9.]+ ms\/step/)) ms = substr($0, RSTART, RLENGTH - 8)
        st = ""; if (match($0, /[0-9]+ steps/)) st = substr($0, RSTART, RLENGTH - 6)
        us = "-"; if (match($0, /[0-9.]+ us\/row/)) us = substr($0, RSTART, RLENGTH - 7)
        cpu = "-"; if (match($0, /[0-9.]+ cpu us\/row/)) cpu = substr($0, RSTART, RLENGTH - 11)
        printf "RESULT runtime=ours model=%s mode=%s threads=%s n=%s tokens_per_s=%s ms_per_step=%s steps=%s us_per_row=%s cpu_us_per_row=%s\n",
               model, (n == 1 ? "single" : "batched"), t, n, tps, ms, st, us, cpu
    }'
}

for t in $THREADS; do
    if [ "$ours_ok" = 1 ]; then
        echo "== ours, $t thread(s)"
        if [ "$OURS_TAKES_PATH" = 1 ]; then
            "$OURS" "$t" "$BENCH_SECONDS" "$BIG" > "$OUT/ours.t$t.log" 2>&1 || ours_ok=0
        else
            "$OURS" "$t" "$BENCH_SECONDS" > "$OUT/ours.t$t.log" 2>&1 || ours_ok=0
        fi
        sed 's/^/   /' "$OUT/ours.t$t.log"
        ours_results "$OURS_TAKES_PATH" < "$OUT/ours.t$t.log" >> "$RESULTS"
        [ "$ours_ok" = 1 ] || echo "== ours: FAILED (see $OUT/ours.t$t.log)"
    fi
    if [ -z "${RWKV_CPP_LIB:-}" ] || [ ! -f "${RWKV_CPP_LIB:-}" ]; then
        continue
    fi
    echo "== rwkv.cpp ($RWKV_CPP_LIB), $t thread(s)"
    if [ -f "$TINY" ]; then
        python3 tests/bench/rwkv_cpp_bench.py --model "$TINY" --label tiny-7v0-834K-FP32 \
            --threads "$t" --seconds "$BENCH_SECONDS" --slots "$RWKV_CPP_SLOTS" \
            --check "$TINY_EXPECTED" | tee -a "$RESULTS" | sed 's/^/   /'
    fi
    python3 tests/bench/rwkv_cpp_bench.py --model "$BIG" --label 0.1b-random.bin \
        --threads "$t" --seconds "$BENCH_SECONDS" --slots "$RWKV_CPP_SLOTS" \
        | tee -a "$RESULTS" | sed 's/^/   /'
done
if [ -z "${RWKV_CPP_LIB:-}" ]; then
    echo "== rwkv.cpp: SKIPPED (RWKV_CPP_LIB is unset; set it to the path of a librwkv.so you built)"
elif [ ! -f "$RWKV_CPP_LIB" ]; then
    echo "== rwkv.cpp: SKIPPED (RWKV_CPP_LIB=$RWKV_CPP_LIB is not a file)"
fi

# ---- the table ----
python3 - "$RESULTS" "$OUT/bench_rwkv.tsv" "$OURS_TAKES_PATH" <<'EOF'
import sys
rows = []
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))
if not rows:
    print("bench-rwkv: no results")
    sys.exit(1)
def base(model):          # tiny / 2m / 0.1b, whatever file or in-memory copy
    return "tiny" if model.startswith("tiny") else "2m" if model.startswith("english") else "0.1b"
def tps(r):
    return float(r["tokens_per_s"])
def find(runtime, model, threads, n):
    for r in rows:
        if (r["runtime"] == runtime and base(r["model"]) == model and r["threads"] == threads
                and int(r["n"]) == n and r["mode"] in ("single", "slots", "batched")):
            return r
    return None
hdr = ["runtime", "model", "mode", "threads", "N", "tokens/s", "ms/step", "us/row", "cpu us/row", "x rwkv.cpp single",
       "x own N=1"]
out = []
for r in rows:
    m, t, n = base(r["model"]), r["threads"], int(r["n"])
    cpp1 = find("rwkv.cpp", m, t, 1)
    own1 = find(r["runtime"], m, t, 1)
    vs_cpp = "%.2f" % (tps(r) / tps(cpp1)) if cpp1 and r["mode"] in ("single", "slots", "batched") else "-"
    vs_own = "%.2f" % (tps(r) / tps(own1)) if own1 and r["mode"] in ("single", "slots", "batched") else "-"
    out.append([r["runtime"], r["model"], r["mode"], t, str(n), "%.1f" % tps(r),
                r.get("ms_per_step", ""), r.get("us_per_row", "-"), r.get("cpu_us_per_row", "-"), vs_cpp, vs_own])
out.sort(key=lambda x: ({"tiny": 0, "2m": 1, "0.1b": 2}[base(x[1])], int(x[3]), x[0] != "ours", int(x[4])))
w = [max(len(h), *(len(o[i]) for o in out)) for i, h in enumerate(hdr)]
fmt = "  ".join("%%-%ds" % x if i < 3 else "%%%ds" % x for i, x in enumerate(w))
print()
print("RWKV-7 tokens/s (tokens/s counts every slot's token; 'x own N=1' divides by the same runtime's N=1 on the same model and threads)")
print(fmt % tuple(hdr))
print(fmt % tuple("-" * x for x in w))
for o in out:
    print(fmt % tuple(o))
with open(sys.argv[2], "w") as f:
    f.write("\t".join(hdr) + "\n")
    for o in out:
        f.write("\t".join(o) + "\n")
print()
print("Goals: ours single >= 1.5x rwkv.cpp single; ours N=64 >= 10x ours N=1 (per-token throughput)")
for m in ("tiny", "0.1b"):
    for t in sorted({r["threads"] for r in rows}, key=int):
        o1, c1, o64 = find("ours", m, t, 1), find("rwkv.cpp", m, t, 1), find("ours", m, t, 64)
        if o1 and c1:
            x = tps(o1) / tps(c1)
            print("  %-4s threads %s: ours single / rwkv.cpp single = %6.2fx  %s"
                  % (m, t, x, "MET" if x >= 1.5 else "NOT MET"))
        if o1 and o64:
            x = tps(o64) / tps(o1)
            print("  %-4s threads %s: ours N=64 / ours N=1         = %6.2fx  %s"
                  % (m, t, x, "MET" if x >= 10 else "NOT MET"))
if sys.argv[3] != "1" and any(r["runtime"] == "ours" and base(r["model"]) == "0.1b" for r in rows):
    print("  note: our 0.1b rows use bench_rwkv.c's own in-memory random model (same shapes and"
          " FP16 matrices, other random values), not build/bench/rwkv7-0.1b-random.bin")
print("rows: " + sys.argv[2])
EOF
