#!/bin/sh
# tests/bench/bench_arpa.sh - loading big ARPA files: our reader against KenLM.
#
#   make bench-arpa                 (or run this script from the project root)
#   SIZES_MB="100" tests/bench/bench_arpa.sh
#
# Environment:
#   BIN        directory of our programs (default bin/; bin/rwkv-lm is used)
#   SIZES_MB   file sizes in MB = 10^6 bytes (default "100 1000")
#   ORDER      n-gram order of the files, 3..5 (default 4)
#   SEED       generator seed (default 1)
#   ARPA_DIR   where the files are written once and then reused
#              (default build/bench/arpa; about 1.1 GB for the defaults)
#
# Each file is written by tests/bench/gen_arpa.py (random but valid; named by
# size, order and seed, so a second run reuses it), read once so that both
# loaders find it in the page cache, then each program runs once as its own
# process and is measured from outside (wall time, peak RSS from wait4):
#   ours    BIN/rwkv-lm --lm FILE, scoring one sentence from stdin
#   KenLM   python3: import kenlm; kenlm.Model(FILE) (PyPI kenlm, the probing
#           structure KenLM loads ARPA text into), then the same sentence;
#           the load itself is also timed inside Python (perf_counter)
#   base    python3 -c 'import kenlm', KenLM's share of whose peak RSS is not
#           the model's: "KenLM net MB" is KenLM's peak minus it
# The table: seconds and peak MB (2^20 bytes) of each; "load x" is KenLM's
# in-Python load time over our whole process's time (above 1: we are
# faster, though our figure includes exec and the query); "mem x" is our
# peak over KenLM's net peak (the goal is at most 1.2). Rows also go to
# $ARPA_DIR/bench_arpa.tsv.
set -eu

cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
SIZES_MB=${SIZES_MB:-100 1000}
ORDER=${ORDER:-4}
SEED=${SEED:-1}
ARPA_DIR=${ARPA_DIR:-build/bench/arpa}
mkdir -p "$ARPA_DIR"
if [ ! -x "$BIN/rwkv-lm" ]; then
    echo "bench-arpa: $BIN/rwkv-lm is not built (make, or set BIN)" >&2
    exit 2
fi

echo "== bench-arpa: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
load1=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load1" 'BEGIN { exit !(l > 0.5) }'; then
    echo "   warning: the machine is busy (load $load1); timings will be noisy, run it alone"
fi

FILES=""
for mb in $SIZES_MB; do
    f="$ARPA_DIR/gen-${mb}mb-o${ORDER}-s${SEED}.arpa"
    if [ ! -s "$f" ]; then
        echo "== writing $f"
        python3 tests/bench/gen_arpa.py --size-mb "$mb" --order "$ORDER" --seed "$SEED" -o "$f.tmp"
        mv "$f.tmp" "$f"
    fi
    FILES="$FILES $f"
done

# shellcheck disable=SC2086
python3 - "$BIN/rwkv-lm" "$ARPA_DIR/bench_arpa.tsv" $FILES <<'EOF'
import os
import re
import subprocess
import sys
import time

ours_bin, tsv, files = sys.argv[1], sys.argv[2], sys.argv[3:]
SENTENCE = "the cat sat on the mat\n"
KENLM = ("import sys, time, kenlm\n"
         "t = time.perf_counter(); m = kenlm.Model(sys.argv[1]); t = time.perf_counter() - t\n"
         "print(m.score(%r)); print('load', t)\n" % SENTENCE.strip())


def run(cmd, stdin_text=""):
    """wall seconds, peak RSS MB and stdout of cmd, measured by wait4."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(stdin_text.encode())
    p.stdin.close()
    out = p.stdout.read().decode()
    err = p.stderr.read().decode()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        sys.exit("bench-arpa: %s failed (status %d):\n%s" % (" ".join(cmd), status, err[-2000:]))
    return wall, ru.ru_maxrss / 1024.0, out


def counts(path):
    c = []
    with open(path, "rb") as f:
        for line in f:
            m = re.match(rb"ngram (\d+)=(\d+)", line)
            if m:
                c.append(int(m.group(2)))
            elif c and line.strip():
                break
    return c


def warm(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


try:
    import kenlm  # noqa: F401
    have_kenlm = True
except ImportError:
    have_kenlm = False
    print("   KenLM: SKIPPED (python3 cannot import kenlm; pip install kenlm)")

base = None
if have_kenlm:
    _, base_mb, _ = run([sys.executable, "-c", "import kenlm"])
    print("   baseline: python3 -c 'import kenlm' peaks at %.1f MB" % base_mb)

rows = []
for path in files:
    c = counts(path)
    warm(path)
    ours_s, ours_mb, _ = run([ours_bin, "--lm", path], SENTENCE)
    r = dict(file=os.path.basename(path), mb=os.path.getsize(path) / 1e6, ngrams=sum(c), counts=c,
             ours_s=ours_s, ours_mb=ours_mb)
    if have_kenlm:
        warm(path)
        ken_s, ken_mb, out = run([sys.executable, "-c", KENLM, path])
        r.update(ken_s=ken_s, ken_load=float(out.split()[-1]), ken_mb=ken_mb, ken_net=ken_mb - base_mb)
    rows.append(r)

head = "%-26s %8s %10s | %8s %8s | %8s %8s %8s %8s | %6s %6s" % (
    "file", "size MB", "n-grams", "ours s", "ours MB", "KenLM s", "load s", "KenLM MB", "net MB", "load x", "mem x")
print(head)
print("-" * len(head))
with open(tsv, "w") as t:
    t.write("file\tsize_mb\tcounts\tours_s\tours_peak_mb\tkenlm_s\tkenlm_load_s\tkenlm_peak_mb\tkenlm_net_mb\tbase_mb\n")
    for r in rows:
        ken = ("%8.2f %8.2f %8.1f %8.1f | %6.2f %6.2f" % (
            r["ken_s"], r["ken_load"], r["ken_mb"], r["ken_net"], r["ken_load"] / r["ours_s"],
            r["ours_mb"] / r["ken_net"]) if have_kenlm else "%8s %8s %8s %8s | %6s %6s" % (("-",) * 6))
        print("%-26s %8.1f %10d | %8.2f %8.1f | %s" % (r["file"], r["mb"], r["ngrams"], r["ours_s"], r["ours_mb"], ken))
        t.write("\t".join(str(x) for x in [
            r["file"], "%.1f" % r["mb"], ",".join(map(str, r["counts"])), "%.3f" % r["ours_s"], "%.1f" % r["ours_mb"],
            "%.3f" % r.get("ken_s", 0), "%.3f" % r.get("ken_load", 0), "%.1f" % r.get("ken_mb", 0),
            "%.1f" % r.get("ken_net", 0), "%.1f" % (base or 0)]) + "\n")
print("(load x: KenLM's load over our whole run, >= 1 is the goal; mem x: our peak over KenLM's net, <= 1.2 is the goal)")
EOF
