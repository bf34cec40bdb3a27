#!/usr/bin/env python3
"""make bench-homophones: which LM picks the right homophone (their/there)?

On the homophone set (tests/bench/make_homophones.py: fortunes sentences as
CMUdict phones, simulated CTC emissions, dev/test splits), rows:
  no LM; the fortunes-split 3-gram of make_homophones.py (in-domain, old row);
  the same-text 3-gram and 4-gram (text/lm-train.txt, tests/bench/train_kn.py);
  the trained RWKV-7 (english-rwkv7-2m-bytes.pth) in the search with fp32 and
  fp16 state; the 4-gram's 50-best rescored by the RWKV (--rescore); 4-gram +
  RWKV in the search (--lm A --lm B --lm-weight a,b); the rwkv.cpp tiny TEST
  model (untrained: shows the machinery, not what an RWKV LM buys).
Weights are picked on the dev split only (small grids below; RWKV grids on the
first DEV_N dev sentences), then each row decodes the first TEST_N test
sentences once. Per row: WER, share of homophone positions right, CPU seconds
per sentence (user+sys of the process, LM loading excluded: (cpu(N) - cpu(1)) /
(N - 1)), load+1-sentence CPU seconds, and peak RSS (/usr/bin/time %M). Every
decode is one process with --threads 1; JOBS rows run at once.
A row whose option this build lacks is printed as "not available".

Environment: BEAM (32), DEV_N (100), TEST_N (200), NBEST (50), JOBS (1),
RWKV_MODEL, TINY_MODEL, RWKV_DECODE (bin/rwkv-decode); ROWS=a,b,... reruns only
those rows (none 3gram-fortunes 3gram 4gram rwkv tiny rwkv-fp16 rescore
4gram+rwkv) and takes the others from the last run's build/bench/homophones/runs/*.json.
"""
import concurrent.futures as cf
import os
import subprocess
import sys
import time

D = os.environ.get("RD_SHARED_DATA", "../shared/data")
H = "build/bench/homophones"
OUT = "build/bench/homophones/runs"
BEAM = int(os.environ.get("BEAM", "32"))
DEV_N = int(os.environ.get("DEV_N", "100"))
TEST_N = int(os.environ.get("TEST_N", "200"))
NBEST = int(os.environ.get("NBEST", "50"))
JOBS = int(os.environ.get("JOBS", "1"))
PROG = os.environ.get("RWKV_DECODE", "bin/rwkv-decode")
RWKV = os.environ.get("RWKV_MODEL", f"{D}/rwkv/english-rwkv7-2m-bytes.pth")
TINY = os.environ.get("TINY_MODEL", f"{D}/rwkv/tiny-rwkv-7v0-834K-FP32.bin")
ARPA3 = "build/lm/lm-train-3gram.arpa"
ARPA4 = "build/lm/lm-train-4gram.arpa"
PY = sys.executable

HELP = subprocess.run([PROG, "--help"], capture_output=True, text=True).stdout
HAS = {
    "rescore": "--rescore" in HELP,
    "two_lm": "give it twice" in HELP,
    "state_dtype": "--state-dtype" in HELP,
}


def sublist(split, n):
    path = f"{OUT}/{split}.{n}.list"
    if not os.path.exists(path):
        lines = open(f"{H}/{split}.list").read().splitlines()[:n]
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
    return path


def decode(tag, split, n, args):
    """-> dict(wer, hc, ht, cpu, wall, rss_mb)"""
    lst = sublist(split, n)
    hyp = f"{OUT}/{tag}.{split}.{n}.hyp"
    cmd = ["/usr/bin/time", "-f", "%U %S %e %M", PROG, "--list", lst, "--tokens", f"{H}/tokens.txt",
           "--lexicon", f"{H}/lexicon.txt", "--beam", str(BEAM), "--threads", "1", "--quiet"] + args
    with open(hyp, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr[-500:]}")
    if "--nbest" in args:  # 'id<TAB>rank<TAB>score<TAB>text' lines: keep rank 1
        best = [l.split("\t") for l in open(hyp, encoding="utf-8")]
        with open(hyp, "w", encoding="utf-8") as f:
            f.writelines(f"{x[0]}\t{x[3] if len(x) > 3 else ''}" for x in best if x[1] == "1")
    u, s, e, m = r.stderr.strip().splitlines()[-1].split()
    # score against the reference lines of the sentences decoded
    ids = {l.split("\t")[0] for l in open(lst) if l.strip()}
    ref = f"{OUT}/{split}.{n}.ref"
    if not os.path.exists(ref):
        with open(ref, "w") as f:
            f.writelines(l for l in open(f"{H}/{split}.ref") if l.split("\t")[0] in ids)
    sc = subprocess.run([PY, "tests/bench/score_homophones.py", ref, hyp, f"{H}/lexicon.txt"],
                        capture_output=True, text=True, check=True).stdout.split()
    return dict(wer=float(sc[0]), hc=int(sc[1]), ht=int(sc[2]), cpu=float(u) + float(s),
                wall=float(e), rss_mb=int(m) / 1024)


def tune(tag, grid, n):
    """grid: list of (label, args); best dev WER on the first n dev sentences."""
    best = None
    for label, args in grid:
        r = decode(f"{tag}.tune", "dev", n, args)
        log(f"{tag}: dev[{n}] {label}: WER {r['wer']:.2f}")
        if best is None or r["wer"] < best[2]:
            best = (label, args, r["wer"])
    return best


def test_row(tag, label, args, dev_wer):
    full = decode(tag, "test", TEST_N, args)
    one = decode(tag + ".one", "test", 1, args)
    full["per_sent"] = (full["cpu"] - one["cpu"]) / max(TEST_N - 1, 1)
    full["load"] = one["cpu"]
    full["weights"] = label
    full["dev_wer"] = dev_wer
    return full


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def lmw_ws(path, lmws, wss):
    return [(f"{a}/{b}", ["--lm", path, "--lm-weight", str(a), "--word-score", str(b)]) for a in lmws for b in wss]


def ngram_row(tag, path):
    label, args, dw = tune(tag, lmw_ws(path, [0.25, 0.5, 1, 2], [0, 1, 2]), 100)
    return test_row(tag, label, args, dw), args


def rwkv_row(tag, path, lmws, wss):
    label, args, dw = tune(tag, lmw_ws(path, lmws, wss), DEV_N)
    return test_row(tag, label, args, dw), args


import json

ONLY = set(filter(None, os.environ.get("ROWS", "").split(",")))


def cached(ex, key, fn, *a):
    """Run fn(*a) in ex unless ROWS excludes key and the last run saved it."""
    path = f"{OUT}/row.{key}.json"
    if ONLY and key not in ONLY and os.path.exists(path):
        f = cf.Future()
        f.set_result(json.load(open(path)))
        return f

    def run():
        r = fn(*a)
        with open(path, "w") as out:
            json.dump(r, out)
        return r
    return ex.submit(run)


def main():
    os.makedirs(OUT, exist_ok=True)
    t0 = time.time()
    rows = {}
    ex = cf.ThreadPoolExecutor(JOBS)
    # phase 1: each LM alone
    futs = {
        "none": cached(ex, "none", lambda: (test_row("none", "-", [], None), [])),
        "3gram-fortunes": cached(ex, "3gram-fortunes", ngram_row, "3gram-fortunes", f"{H}/lm.arpa"),
        "3gram": cached(ex, "3gram", ngram_row, "3gram", ARPA3),
        "4gram": cached(ex, "4gram", ngram_row, "4gram", ARPA4),
        "rwkv": cached(ex, "rwkv", rwkv_row, "rwkv", RWKV, [0.25, 0.5, 1], [0, 1]),
        "tiny": cached(ex, "tiny", rwkv_row, "tiny", TINY, [0.1, 0.25, 0.5], [0]),
    }
    res = {k: f.result() for k, f in futs.items()}
    for k, (row, _) in res.items():
        rows[k] = row
    a4 = res["4gram"][1]   # --lm ARPA4 --lm-weight a --word-score s
    ar = res["rwkv"][1]
    wa, sa, wr, sr = float(a4[3]), float(a4[5]), float(ar[3]), float(ar[5])
    # phase 2: with the tuned weights
    futs = {}
    if HAS["state_dtype"]:
        futs["rwkv-fp16"] = cached(ex, "rwkv-fp16", test_row, "rwkv-fp16", rows["rwkv"]["weights"],
                                      ar + ["--state-dtype", "fp16"], None)
    if HAS["rescore"]:
        def rescore():
            # the first pass's weights are tuned with the rescoring's: added
            # on top of the 4-gram's own best weights, the RWKV only raises
            # the total LM weight (that grid never beat the 4-gram on dev)
            grid = [(f"{fa:g}/{fs:g}+r{w}/{b}",
                     ["--lm", ARPA4, "--lm-weight", f"{fa:g}", "--word-score", f"{fs:g}", "--nbest", str(NBEST),
                      "--rescore", RWKV, "--rescore-weight", str(w), "--rescore-word-score", str(b)])
                    for fa in (wa, wa / 2) for fs in sorted({sa, sa / 2}) for w in (0.125, 0.25, 0.5) for b in (0, 1)]
            label, args, dw = tune("rescore", grid, 100)
            return test_row("rescore", label, args, dw)
        futs["rescore"] = cached(ex, "rescore", rescore)
    if HAS["two_lm"]:
        def two():
            grid = []
            for x, y in ((wa, wr / 2), (wa / 2, wr / 2), (wa / 2, wr)):
                grid.append((f"{x:g},{y:g}/{sr}", ["--lm", ARPA4, "--lm", RWKV, "--lm-weight", f"{x:g},{y:g}",
                                                   "--word-score", str(sr)]))
            label, args, dw = tune("4gram+rwkv", grid, DEV_N)
            return test_row("4gram+rwkv", label, args, dw)
        futs["4gram+rwkv"] = cached(ex, "4gram+rwkv", two)
    for k, f in futs.items():
        rows[k] = f.result()

    names = [
        ("none", "no LM"),
        ("3gram-fortunes", "3-gram, fortunes split (in-domain)"),
        ("3gram", "3-gram KN, same text"),
        ("4gram", "4-gram KN, same text"),
        ("rwkv", "RWKV-7 2.1M in search, fp32 state"),
        ("rwkv-fp16", "RWKV-7 2.1M in search, fp16 state"),
        ("rescore", f"4-gram + RWKV rescoring {NBEST}-best"),
        ("4gram+rwkv", "4-gram + RWKV in search"),
        ("tiny", "tiny-rwkv-7v0-834K (TEST model)"),
    ]
    print(f"\n== bench-homophones: {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, beam {BEAM}, "
          f"test {TEST_N} sentences, RWKV tuned on dev[{DEV_N}], n-grams on dev[100], 1 thread per decode, "
          f"{JOBS} rows at once, load {open('/proc/loadavg').read().split()[0]}")
    print(f"| row | weights (lm/word[,rescore]) | dev WER | test WER | homophones right | CPU s/sentence | load+1 s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for k, name in names:
        r = rows.get(k)
        if r is None:
            print(f"| {name} | not available in this build | | | | | | |")
            continue
        dw = "-" if r["dev_wer"] is None else f"{r['dev_wer']:.2f}%"
        print(f"| {name} | {r['weights']} | {dw} | {r['wer']:.2f}% | {100 * r['hc'] / r['ht']:.1f}% | "
              f"{r['per_sent']:.4f} | {r['load']:.2f} | {r['rss_mb']:.0f} |")
    b = rows["4gram"]["per_sent"]
    if b > 0:
        for k in ("rwkv", "rwkv-fp16", "rescore", "4gram+rwkv"):
            if k in rows:
                print(f"time ratio {k} / 4-gram (per sentence, load excluded): {rows[k]['per_sent'] / b:.1f}x")
    w4 = rows["4gram"]["wer"]
    for k in ("rwkv", "4gram+rwkv", "rescore"):
        if k in rows:
            print(f"WER change {k} vs 4-gram: {100 * (rows[k]['wer'] - w4) / w4:+.1f}% relative")
    print(f"bench wall time {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
