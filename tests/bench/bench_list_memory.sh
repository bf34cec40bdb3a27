#!/usr/bin/env bash
# make bench-listmem: what a long --list costs in memory (issue 17 item 6).
# Decodes LISTMEM_N (200,000) list lines, each a 2-frame text matrix of 32
# units (the utterances cost nothing; the list is what is measured), and a
# 1-line list, with --threads 1 and 4, and prints each run's peak resident
# set (ru_maxrss of the child) and the cost per line:
#   (peak(N lines) - peak(1 line)) / (N - 1).
# Environment: RWKV_DECODE (binary, default bin/rwkv-decode; give an older
# build to compare), LISTMEM_N, LISTMEM_THREADS (default "1 4"), LISTMEM_DIR
# (default build/bench/listmem).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${RWKV_DECODE:-bin/rwkv-decode}
N=${LISTMEM_N:-200000}
OUT=${LISTMEM_DIR:-build/bench/listmem}
if [ ! -x "$BIN" ]; then echo "bench-listmem: $BIN not built" >&2; exit 2; fi
mkdir -p "$OUT"
python3 - "$OUT" "$N" <<'PY'
import sys
out, n = sys.argv[1], int(sys.argv[2])
units = ["<blank>"] + [chr(ord("a") + i) for i in range(26)] + ["'", "|", "x1", "x2", "x3"]
open(f"{out}/tokens.txt", "w").write("".join(u + "\n" for u in units))
row = " ".join("-0.1" if i == 1 else "-9" for i in range(32))
open(f"{out}/tiny.txt", "w").write(row + "\n" + row + "\n")
with open(f"{out}/list.tsv", "w") as f:
    for i in range(n):
        f.write(f"utt{i:07d}\t{out}/tiny.txt\n")
open(f"{out}/one.tsv", "w").write(f"utt0000000\t{out}/tiny.txt\n")
PY
peak() { # LIST THREADS -> "peak_kib lines_out seconds"
  python3 - "$BIN" "$1" "$2" "$OUT/tokens.txt" <<'PY'
import resource, subprocess, sys, time
b, lst, th, tok = sys.argv[1:]
t0 = time.time()
p = subprocess.run([b, "--list", lst, "--tokens", tok, "--threads", th, "--quiet"],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
el = time.time() - t0
if p.returncode != 0:
    sys.exit(f"bench-listmem: {b} exited {p.returncode}: {p.stderr.decode()[-500:]}")
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.stdout.count(b"\n"), f"{el:.1f}")
PY
}
echo "bench-listmem: $BIN, $N list lines of a 2-frame utterance (machine shared and noisy: RSS is exact, seconds are not)"
printf '%-8s %12s %12s %10s %14s %8s\n' threads "peak 1 line" "peak N lines" "lines out" "bytes a line" seconds
for th in ${LISTMEM_THREADS:-1 4}; do
  read -r p1 _ _ < <(peak "$OUT/one.tsv" "$th")
  read -r pn lines sec < <(peak "$OUT/list.tsv" "$th")
  [ "$lines" = "$N" ] || { echo "bench-listmem: $lines lines out of $N" >&2; exit 1; }
  printf '%-8s %9s KiB %9s KiB %10s %14s %8s\n' "$th" "$p1" "$pn" "$lines" \
    "$(( (pn - p1) * 1024 / (N - 1) ))" "$sec"
done
