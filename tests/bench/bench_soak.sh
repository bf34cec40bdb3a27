#!/usr/bin/env bash
# make bench-soak: a 10,000-line batch with ~2% faulty entries (missing files,
# truncated .npy, NaN/Inf values, wrong vocabulary size, T=0), decoded in ONE
# `rwkv-decode --list --keep-going` run with the LibriSpeech 3-gram ARPA LM and
# the 200k lexicon. Checks that every faulty line is named on stderr with the
# right reason, that the summary line and exit status count them, that stdout
# holds exactly the good ids in list order, and that every good line equals
# its decode alone (a sample decoded as one-line lists, and all of them in a
# second, shuffled, one-thread batch). See tests/bench/README.md.
#
# Environment: RWKV_DECODE (binary, default bin/rwkv-decode), SOAK_DIR (work
# folder, default build/bench/soak), SOAK_N (lines, 10000), THREADS (main
# run, 2), SOAK_SAMPLE (utterances decoded alone, 300), SOAK_FORMAT (json or
# text, json), SOAK_SEED (shuffle and sample, 1), SOAK_GEN_ARGS (more
# make_soak.py options), RD_SHARED_DATA (default ../shared/data), BENCH_VENV
# (a venv with numpy; default build/bench-venv, made when python3 lacks numpy).
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${RD_SHARED_DATA:-../shared/data}
BIN=${RWKV_DECODE:-bin/rwkv-decode}
OUT=${SOAK_DIR:-build/bench/soak}
N=${SOAK_N:-10000}
THREADS=${THREADS:-2}
SAMPLE=${SOAK_SAMPLE:-300}
FORMAT=${SOAK_FORMAT:-json}
SEED=${SOAK_SEED:-1}
LEX=$D/lexicon/librispeech-lm-vocab.lst
LM=$D/lm/librispeech-3gram-pruned.arpa
for f in "$D/emissions/librispeech-121-121726-0000.wav2vec2.npy" "$D/emissions/librispeech-pyctcdecode-sample.npy" "$LEX" "$LM"; do
  if [ ! -f "$f" ]; then echo "bench-soak: $f not found: skipped"; exit 0; fi
done
if [ ! -x "$BIN" ]; then echo "bench-soak: $BIN not built (make $BIN, or set RWKV_DECODE)" >&2; exit 2; fi
# Python with numpy: BENCH_VENV (default build/bench-venv), python3, or a venv made there
. tests/bench/python.sh
bench_python soak numpy numpy system

# shellcheck disable=SC2086
"$PY" tests/bench/make_soak.py --shared "$D" --out "$OUT" --n "$N" ${SOAK_GEN_ARGS:-}
R=$OUT/run
rm -rf "$R"
mkdir -p "$R/single"
COMMON=(--tokens "$OUT/tokens.txt" --lexicon "$LEX" --lm "$LM" --format "$FORMAT")

batch() { # NAME THREADS LIST: one batch run -> $R/NAME.{out,err,rc,wall}
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  "$BIN" --list "$3" --keep-going --threads "$2" "${COMMON[@]}" >"$R/$1.out" 2>"$R/$1.err" || rc=$?
  t1=$(date +%s.%N)
  echo "$rc" >"$R/$1.rc"
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", b - a}' >"$R/$1.wall"
}

# The second order: the whole list (faulty lines too) shuffled; and the sample
# of good lines to decode alone (list lines verbatim, in list order).
"$PY" - "$OUT" "$R" "$SEED" "$SAMPLE" <<'PY'
import random, sys
out, r, seed, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
lines = open(f"{out}/list.tsv").read().splitlines()
bad = {l.split("\t")[1] for l in open(f"{out}/truth.tsv").read().splitlines()[1:]}
rnd = random.Random(seed)
shuf = lines[:]
rnd.shuffle(shuf)
open(f"{r}/list.shuf.tsv", "w").write("".join(l + "\n" for l in shuf))
good = [i for i in range(len(lines)) if str(i) not in bad]
pick = sorted(rnd.sample(good, min(k, len(good))))
open(f"{r}/sample.tsv", "w").write("".join(lines[i] + "\n" for i in pick))
PY

echo "bench-soak: main run: $BIN --list $OUT/list.tsv --keep-going --threads $THREADS ${COMMON[*]}"
batch main "$THREADS" "$OUT/list.tsv"
echo "bench-soak: second run: the list shuffled, --threads 1"
batch shuf 1 "$R/list.shuf.tsv"
echo "bench-soak: $(wc -l <"$R/sample.tsv") good utterances decoded alone (one-line lists)"
k=0
t0=$(date +%s.%N)
while IFS= read -r line; do
  rc=0
  printf '%s\n' "$line" | "$BIN" --list - "${COMMON[@]}" >"$R/single/$k.out" 2>"$R/single/$k.err" || rc=$?
  echo "$rc" >"$R/single/$k.rc"
  k=$((k + 1))
done <"$R/sample.tsv"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", b - a}' >"$R/single.wall"

"$PY" - "$OUT" "$R" "$FORMAT" "$THREADS" <<'PY' | tee "$R/report.txt"
import json, os, re, subprocess, sys

out, r, fmt, threads = sys.argv[1:5]
PROG = "rwkv-decode: "
REASONS = [  # reason -> what its message says
    ("missing", r"cannot open|No such file"),
    ("truncated", r"bytes of data after the header|expected a header of|magic string|format version|"
                  r"header length|cut off|truncat|end of file"),
    ("nonfinite", r"value is (nan|inf)\b"),
    ("vocab", r"has \d+ units a frame but .* lists \d+"),
    ("empty", r"no frames \(T = 0\)"),
]
KINDS = [k for k, _ in REASONS]
SUMMARY = re.compile(r"^decoded (\d+) utterances? \((\d+) failed\), (\d+) frames in ([0-9.]+) s")
INFO = re.compile(r"^LM ")


def classify(msg):
    for k, rx in REASONS:
        if re.search(rx, msg):
            return k
    return "other"


def tsv(path):
    rows = open(path).read().splitlines()
    head = rows[0].split("\t")
    return [dict(zip(head, x.split("\t"))) for x in rows[1:]]


def parse_list(path):
    items = []
    for l in open(path).read().splitlines():
        uid, p = l.split("\t", 1) if "\t" in l else l.split(None, 1)
        items.append((uid, p))
    return items


truth = {t["utt_id"]: t for t in tsv(f"{out}/truth.tsv")}
good = {g["utt_id"]: g for g in tsv(f"{out}/good.tsv")}
items = parse_list(f"{out}/list.tsv")
n, n_bad, n_good = len(items), len(truth), len(good)
good_frames = sum(int(g["frames"]) for g in good.values())
by_path = {t["path"]: t for t in truth.values()}
good_paths = {p: uid for uid, p in items if uid in good}
order = {uid: i for i, (uid, _) in enumerate(items)}


def out_id(line):
    return json.loads(line)["utt"] if fmt == "json" else line.split("\t", 1)[0]


def check_run(name, list_path):
    """Checks (a) (b) (c) of one batch run; returns (results, stats)."""
    run_items = parse_list(list_path)
    rc = int(open(f"{r}/{name}.rc").read())
    wall = float(open(f"{r}/{name}.wall").read())
    err = open(f"{r}/{name}.err", "rb").read().decode("utf-8", "backslashreplace").splitlines()
    summary, fails, info, stray = None, [], [], []
    for l in err:
        if not l.startswith(PROG):
            stray.append(l)
            continue
        m = l[len(PROG):]
        if SUMMARY.match(m):
            summary = SUMMARY.match(m)
        elif INFO.match(m):
            info.append(m)
        else:
            fails.append(m)
    res, st = {}, {"rc": rc, "wall": wall, "stray": stray}
    # (a) exit status and summary counts
    a_ok = rc == 1 and summary is not None
    if summary:
        st.update(decoded=int(summary[1]), failed=int(summary[2]), frames=int(summary[3]), secs=float(summary[4]))
        a_ok = a_ok and (st["decoded"], st["failed"], st["frames"]) == (n_good, n_bad, good_frames)
    res["a"] = (a_ok, f"exit {rc} (want 1); summary "
                + (f"decoded {st['decoded']} failed {st['failed']} frames {st['frames']}" if summary else "MISSING")
                + f" (want {n_good} / {n_bad} / {good_frames})")
    # (b) every faulty line named once, with its reason, in list order; nothing else named
    named, reason_of, by_id_name, problems, seq = {}, {}, 0, [], []
    for m in fails:
        # the message names the path first, or "id: path: ..." when it lacks the id (Kaldi-style lines)
        path = next((p for p in by_path if m.startswith(p + ":") or f": {p}:" in m), None)
        if path is None:
            g = next((uid for p, uid in good_paths.items() if p + ":" in m), None)
            problems.append(f"{'GOOD utterance ' + g if g else 'unattributed'}: {m}")
            continue
        t = by_path[path]
        named[t["utt_id"]] = named.get(t["utt_id"], 0) + 1
        reason_of[t["utt_id"]] = (classify(m), m)
        seq.append(t["utt_id"])
        by_id_name += re.search(r"(^|[^\w-])" + re.escape(t["utt_id"]) + r"([^\w-]|$)", m) is not None
    for uid, t in truth.items():
        if named.get(uid, 0) != 1:
            problems.append(f"{uid} ({t['kind']}: {t['variant']}) named {named.get(uid, 0)} times")
        elif reason_of[uid][0] != t["kind"]:
            problems.append(f"{uid} ({t['kind']}: {t['variant']}) reason '{reason_of[uid][0]}': {reason_of[uid][1]}")
    want_seq = [uid for uid, _ in run_items if uid in truth]
    if seq != want_seq and not problems:
        problems.append("failure messages are not in list order")
    for l in stray:
        problems.append(f"stray stderr line: {l[:160]}")
    res["b"] = (not problems, f"{len(named)}/{n_bad} faulty named, "
                f"{sum(1 for u in truth if u in reason_of and reason_of[u][0] == truth[u]['kind'])} with the right reason"
                f", {len(problems)} problem(s)")
    st["problems"] = problems
    st["by_id_name"] = by_id_name
    st["reasons"] = {k: sum(1 for u in reason_of if reason_of[u][0] == k) for k in KINDS + ["other"]}
    st["kind_named"] = {k: sum(1 for u, t in truth.items() if t["kind"] == k and named.get(u, 0) >= 1) for k in KINDS}
    st["kind_ok"] = {k: sum(1 for u, t in truth.items() if t["kind"] == k and u in reason_of
                            and named[u] == 1 and reason_of[u][0] == k) for k in KINDS}
    # (c) stdout: exactly the good ids, in this run's list order, each line whole
    # (JSON: --keep-going also writes {"utt":...,"error":...} for each faulty line, in list order)
    ids, err_ids, good_lines, bad_lines = [], [], [], 0
    with open(f"{r}/{name}.out") as f:
        lines = f.read().splitlines()
    for l in lines:
        try:
            if fmt == "json" and "error" in json.loads(l):
                err_ids.append(json.loads(l)["utt"])
                continue
            ids.append(out_id(l))
            good_lines.append(l)
        except (ValueError, KeyError):
            bad_lines += 1
    want = [uid for uid, _ in run_items if uid in good]
    want_err = [uid for uid, _ in run_items if uid in truth] if fmt == "json" else []
    first = next((i for i, (x, y) in enumerate(zip(ids, want)) if x != y), None)
    c_ok = ids == want and err_ids == want_err and bad_lines == 0
    res["c"] = (c_ok, f"{len(ids)} lines (want {len(want)}), {len(set(ids))} distinct ids, {bad_lines} unparsable, "
                f"{len(err_ids)} error lines (want {len(want_err)})"
                + ("" if c_ok else f"; first difference at output line {first if first is not None else min(len(ids), len(want))}"))
    st["lines"] = good_lines
    return res, st


main_res, main = check_run("main", f"{out}/list.tsv")
shuf_res, shuf = check_run("shuf", f"{r}/list.shuf.tsv")


def diff(a_lines, b_lines, a_name, b_name):
    with open(f"{r}/{a_name}", "w") as f:
        f.write("".join(l + "\n" for l in a_lines))
    with open(f"{r}/{b_name}", "w") as f:
        f.write("".join(l + "\n" for l in b_lines))
    p = subprocess.run(["diff", f"{r}/{a_name}", f"{r}/{b_name}"], capture_output=True, text=True)
    return p.returncode == 0, p.stdout


# (d1) the sample decoded alone (one-line lists) against the main run
main_by_id = {out_id(l): l for l in main["lines"] if l.strip()}
sample = parse_list(f"{r}/sample.tsv")
single_lines, single_bad = [], []
for k, (uid, _) in enumerate(sample):
    rc = int(open(f"{r}/single/{k}.rc").read())
    o = open(f"{r}/single/{k}.out").read().splitlines()
    if rc != 0 or len(o) != 1:
        single_bad.append(f"{uid}: exit {rc}, {len(o)} lines")
    single_lines += o
d1_ok, d1 = diff([main_by_id.get(uid, f"<{uid} missing from the main run>") for uid, _ in sample], single_lines,
                 "sample.batch.out", "sample.single.out")
d1_ok = d1_ok and not single_bad
# (d2) the shuffled one-thread run, put back in list order, against the main run (all good lines)
shuf_sorted = sorted((l for l in shuf["lines"] if l.strip()), key=lambda l: order.get(out_id(l), -1))
d2_ok, d2 = diff(main["lines"], shuf_sorted, "main.out.copy", "shuf.sorted.out")
os.remove(f"{r}/main.out.copy")

texts = {}
for l in main["lines"]:
    t = json.loads(l)["nbest"][0]["text"] if fmt == "json" else l.split("\t", 1)[1]
    texts[t] = texts.get(t, 0) + 1
single_wall = float(open(f"{r}/single.wall").read())

P = lambda ok: "PASS" if ok else "FAIL"
print()
print(f"soak: {n} lines ({n_good} good, {n_bad} faulty), format {fmt}; good utterances read as "
      f"{len(texts)} distinct texts (most common {max(texts.values()) if texts else 0}x)")
print(f"\nfailed by reason (main run, --threads {threads}): faulty lines of each kind, how many stderr named,")
print("how many once with the reason of their kind, and how many stderr messages gave that reason")
print(f"{'kind':<10} {'in list':>7} {'named':>6} {'right reason':>12} {'messages':>8}")
for k in KINDS:
    want = sum(1 for t in truth.values() if t["kind"] == k)
    print(f"{k:<10} {want:>7} {main['kind_named'][k]:>6} {main['kind_ok'][k]:>12} {main['reasons'][k]:>8}")
if main["reasons"]["other"]:
    print(f"{'other':<10} {'':>7} {'':>6} {'':>12} {main['reasons']['other']:>8}")
print(f"{'total':<10} {n_bad:>7} {sum(main['kind_named'].values()):>6} {sum(main['kind_ok'].values()):>12} "
      f"{sum(main['reasons'].values()):>8}")

print(f"\n{'run':<26} {'lines':>6} {'decoded':>7} {'failed':>6} {'exit':>4} {'seconds':>8} {'utt/s':>7} {'decode s':>8}")
for name, s, nl in (("main (--threads " + threads + ")", main, n), ("shuffled (--threads 1)", shuf, n)):
    print(f"{name:<26} {nl:>6} {s.get('decoded', '?'):>7} {s.get('failed', '?'):>6} {s['rc']:>4} {s['wall']:>8.2f} "
          f"{nl / s['wall']:>7.0f} {s.get('secs', float('nan')):>8.2f}")
print(f"{'alone (one process each)':<26} {len(sample):>6} {len(single_lines):>7} {len(single_bad):>6} {'':>4} "
      f"{single_wall:>8.2f} {len(sample) / single_wall if single_wall else 0:>7.1f}")
print("(seconds: wall time of the process, loading the lexicon and LM included; decode s: its summary line)")

checks = [
    ("a", "exit status 1, summary counts (main)", *main_res["a"]),
    ("a'", "exit status 1, summary counts (shuffled)", *shuf_res["a"]),
    ("b", "faulty named once, right reason, in order (main)", *main_res["b"]),
    ("b'", "faulty named once, right reason, in order (shuffled)", *shuf_res["b"]),
    ("c", "stdout = good ids in list order (main)", *main_res["c"]),
    ("c'", "stdout = good ids in shuffled order (shuffled)", *shuf_res["c"]),
    ("d1", f"{len(sample)} good decoded alone == main run lines", d1_ok,
     "diff empty (identical)" if d1_ok else f"diff {len(d1.splitlines())} lines, {len(single_bad)} failed alone"),
    ("d2", "shuffled --threads 1, re-sorted == main run (all good)", d2_ok,
     "diff empty (identical)" if d2_ok else f"diff {len(d2.splitlines())} lines"),
]
print(f"\n{'check':<4} {'what':<54} {'result':<6} detail")
for c, what, ok, detail in checks:
    print(f"{c:<4} {what:<54} {P(ok):<6} {detail}")
print(f"note: failure messages naming the utt id itself: {main['by_id_name']}/{n_bad} "
      "(they name the file path; Kaldi-style lines have ids that differ from the file name)")

for name, s in (("main", main), ("shuffled", shuf)):
    if s["problems"]:
        print(f"\n{name} run, stderr problems ({len(s['problems'])}):")
        for p in s["problems"][:20]:
            print("  " + p)
for label, ok, text in (("d1: diff sample.batch.out sample.single.out", d1_ok, d1),
                        ("d2: diff main.out shuf.sorted.out", d2_ok, d2)):
    print(f"\n{label}: " + ("empty (identical)" if ok else ""))
    if not ok:
        print("\n".join(text.splitlines()[:40]))
        for b in single_bad[:10] if label.startswith("d1") else []:
            print("  alone: " + b)
print(f"\nfiles: {r}/ (main.out/.err, shuf.out/.err, sample.*.out, report.txt)")
sys.exit(0 if all(ok for _, _, ok, _ in checks) else 1)
PY
