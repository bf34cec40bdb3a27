#!/usr/bin/env python3
"""Writes the data set of the soak benchmark (tests/bench/bench_soak.sh).

N list lines (default 10,000), each its own utterance id. About 2% of them
(--bad-frac) are faulty, of five kinds in equal numbers, at random positions
(plus the first line, the last line and a run of three adjacent lines):

  missing    the path does not exist (one of them in a folder that does not exist)
  truncated  a valid .npy cut in the middle of its data; one cut in the middle
             of the header, one cut right after the header, one cut inside
             the 6-byte magic string
  nonfinite  NaN or +Inf among the values (log-probabilities, or raw logits
             for one; one NaN in the very last value of the last frame)
  vocab      V != the number of tokens (29, 31 or 33 units instead of 32)
  empty      T = 0: shape (0, 32); one a 0-byte file

Every good utterance is one of the two real LibriSpeech emissions of
../shared/data/emissions in the 32-unit wav2vec2 token set (the pyctcdecode
sample's 29 columns are moved to the same units; the 3 units it lacks get
log-probability -30) plus seeded Gaussian noise whose sigma is drawn per
utterance from [--sigma-min, --sigma-max] (so that some decodes differ),
log-softmaxed in float64 and stored as float32 log-probabilities.

About a fifth of the lines are Kaldi style ('utt_id path', the id then
differs from the file name); the others 'utt_id<TAB>path'. Paths are absolute.

Files written under --out:
  list.tsv     the list to decode
  truth.tsv    utt_id, line (0-based), kind, variant, path: the faulty lines
  good.tsv     utt_id, line, base (w2v|pyc), sigma, frames: the good lines
  tokens.txt   the 32 units (a copy of the wav2vec2 tokens file)
  npy/         the .npy files (--distinct K: only K distinct good files,
               referenced in turn by the good lines; 0 = one file per line)
  meta.json    the parameters; when they match a complete earlier run
               nothing is rewritten (--force rewrites)
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

import numpy as np

W2V = "librispeech-121-121726-0000.wav2vec2"
PYC = "librispeech-pyctcdecode-sample"
KINDS = ["missing", "truncated", "nonfinite", "vocab", "empty"]
# Per kind: variants used once each (edge cases), then the ones cycled through.
SPECIAL = {
    "missing": ["absent-dir"],
    "truncated": ["mid-header", "header-only", "mid-magic"],
    "nonfinite": ["nan-last-value", "inf-raw-logits"],
    "vocab": [],
    "empty": ["zero-byte-file"],
}
CYCLE = {
    "missing": ["absent"],
    "truncated": ["mid-data"],
    "nonfinite": ["nan", "inf"],
    "vocab": ["V=29", "V=31", "V=33"],
    "empty": ["T=0"],
}


def read_tokens(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.rstrip("\n")]


def log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def npy_bytes(a):
    """The exact bytes np.save writes for a."""
    import io
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def header_len(buf):
    major = buf[6]
    if major == 1:
        return 10 + int.from_bytes(buf[8:10], "little")
    return 12 + int.from_bytes(buf[8:12], "little")


def plan_bad(n, n_bad, rng):
    """Positions of the faulty lines and their (kind, variant)."""
    n_bad = max(0, min(n_bad, n))
    forced = []
    if n_bad >= 1:
        forced.append(0)
    if n_bad >= 2 and n > 1:
        forced.append(n - 1)
    if n_bad >= 5 and n > 10:
        k = int(rng.integers(1, n - 4))
        forced += [k, k + 1, k + 2]
    forced = list(dict.fromkeys(forced))
    rest = np.setdiff1d(np.arange(n), np.array(forced, dtype=int))
    extra = rng.choice(rest, size=n_bad - len(forced), replace=False).tolist() if n_bad > len(forced) else []
    pos = forced + [int(p) for p in extra]
    # kinds in equal numbers (the first n_bad % 5 kinds get one more), shuffled over the positions
    kinds = [KINDS[i % len(KINDS)] for i in range(n_bad)]
    rng.shuffle(kinds)
    plan = {}
    used = {k: 0 for k in KINDS}
    for p, kind in zip(pos, kinds):
        j = used[kind]
        used[kind] += 1
        sp = SPECIAL[kind]
        variant = sp[j] if j < len(sp) else CYCLE[kind][(j - len(sp)) % len(CYCLE[kind])]
        plan[p] = (kind, variant)
    return plan


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default="../shared/data", help="reference data folder [%(default)s]")
    ap.add_argument("--out", default="build/bench/soak", help="output folder [%(default)s]")
    ap.add_argument("--n", type=int, default=10000, help="list lines [%(default)s]")
    ap.add_argument("--bad-frac", type=float, default=0.02, help="share of faulty lines [%(default)s]")
    ap.add_argument("--kaldi-frac", type=float, default=0.2, help="share of 'utt_id path' lines [%(default)s]")
    ap.add_argument("--sigma-min", type=float, default=0.2, help="noise sigma, low end [%(default)s]")
    ap.add_argument("--sigma-max", type=float, default=4.0, help="noise sigma, high end [%(default)s]")
    ap.add_argument("--distinct", type=int, default=0,
                    help="distinct good .npy files, referenced in turn; 0 = one per line [%(default)s]")
    ap.add_argument("--seed", type=int, default=20240611, help="random seed [%(default)s]")
    ap.add_argument("--force", action="store_true", help="rewrite even if an identical set exists")
    args = ap.parse_args()

    em = os.path.join(args.shared, "emissions")
    src = {name: os.path.join(em, name + ".npy") for name in (W2V, PYC)}
    for p in list(src.values()) + [os.path.join(em, W2V + ".tokens.txt"), os.path.join(em, PYC + ".tokens.txt")]:
        if not os.path.isfile(p):
            sys.exit(f"make_soak: {p} not found")
    out = os.path.abspath(args.out)
    with open(__file__, "rb") as f:
        me = hashlib.sha256(f.read()).hexdigest()[:16]
    meta = {k: getattr(args, k) for k in ("n", "bad_frac", "kaldi_frac", "sigma_min", "sigma_max", "distinct", "seed")}
    meta.update(shared=os.path.abspath(args.shared), out=out, script=me)
    meta_path = os.path.join(out, "meta.json")
    if not args.force and os.path.isfile(meta_path):
        try:
            with open(meta_path) as f:
                old = json.load(f)
            if old.get("complete") and {k: old.get(k) for k in meta} == meta:
                print(f"make_soak: {out}: up to date ({old['n']} lines, {old['n_bad']} faulty)")
                return
        except (OSError, ValueError):
            pass

    rng = np.random.default_rng(args.seed)
    wt = read_tokens(os.path.join(em, W2V + ".tokens.txt"))
    pt = read_tokens(os.path.join(em, PYC + ".tokens.txt"))
    V = len(wt)
    w2v_raw = np.load(src[W2V]).astype(np.float64)
    pyc_lp = np.load(src[PYC]).astype(np.float64)
    # the pyctcdecode sample in the wav2vec2 units
    rename = {"<space>": "|"}
    pyc = np.full((pyc_lp.shape[0], V), -30.0)
    for j, t in enumerate(pt):
        pyc[:, wt.index(rename.get(t, t))] = pyc_lp[:, j]
    bases = {"w2v": log_softmax(w2v_raw), "pyc": log_softmax(pyc)}

    if os.path.isdir(os.path.join(out, "npy")):
        shutil.rmtree(os.path.join(out, "npy"))
    os.makedirs(os.path.join(out, "npy"), exist_ok=True)
    if os.path.exists(meta_path):
        os.remove(meta_path)
    shutil.copyfile(os.path.join(em, W2V + ".tokens.txt"), os.path.join(out, "tokens.txt"))

    n = args.n
    n_bad = int(round(n * args.bad_frac))
    plan = plan_bad(n, n_bad, rng)
    kaldi = rng.random(n) < args.kaldi_frac

    def noisy(base, sigma):
        b = bases[base]
        return log_softmax(b + rng.normal(0.0, sigma, b.shape)).astype(np.float32)

    lines, truth, good = [], [], []
    distinct = {}  # slot -> (path, base, sigma, frames)
    n_good = 0
    for i in range(n):
        uid = f"soak-{i:05d}"
        fname = f"{uid}.npy"
        if kaldi[i]:
            uid = f"spk{i % 37:02d}-utt{i:05d}"  # differs from the file name
            fname = f"k{i:05d}.npy"
        path = os.path.join(out, "npy", fname)
        if i in plan:
            kind, variant = plan[i]
            base = "w2v" if rng.random() < 0.5 else "pyc"
            sigma = float(rng.uniform(args.sigma_min, args.sigma_max))
            if kind == "missing":
                if variant == "absent-dir":
                    path = os.path.join(out, "npy", "no-such-folder", fname)
                # nothing written
            elif kind == "truncated":
                buf = npy_bytes(noisy(base, sigma))
                h = header_len(buf)
                if variant == "mid-header":
                    cut = int(rng.integers(12, h - 1))
                elif variant == "header-only":
                    cut = h
                elif variant == "mid-magic":
                    cut = 4
                else:  # somewhere inside the data, not always on a value boundary
                    cut = int(rng.integers(h + 1, len(buf) - 1))
                with open(path, "wb") as f:
                    f.write(buf[:cut])
                variant += f" ({cut} of {len(buf)} bytes)"
            elif kind == "nonfinite":
                x = noisy(base, sigma)
                if variant == "inf-raw-logits":
                    x = (w2v_raw + rng.normal(0.0, sigma, w2v_raw.shape)).astype(np.float32)
                T = x.shape[0]
                if variant == "nan-last-value":
                    t, v = T - 1, V - 1
                else:
                    t, v = int(rng.integers(0, T)), int(rng.integers(0, V))
                x[t, v] = np.inf if variant.startswith("inf") else np.nan
                np.save(path, x)
                variant += f" (frame {t}, unit {v})"
            elif kind == "vocab":
                x = noisy(base, sigma)
                W = int(variant.split("=")[1])
                if W == 29:
                    x = pyc_lp.astype(np.float32)  # the sample in its own 29 units
                elif W < V:
                    x = np.ascontiguousarray(x[:, :W])
                else:
                    x = np.concatenate([x, np.full((x.shape[0], W - V), -30.0, np.float32)], axis=1)
                np.save(path, x)
            elif kind == "empty":
                if variant == "zero-byte-file":
                    open(path, "wb").close()
                else:
                    np.save(path, np.zeros((0, V), np.float32))
            truth.append((uid, i, kind, variant, path))
        else:
            slot = n_good % args.distinct if args.distinct > 0 else n_good
            n_good += 1
            if slot in distinct:
                path, base, sigma, T = distinct[slot]
            else:
                base = "w2v" if rng.random() < 0.5 else "pyc"
                sigma = float(rng.uniform(args.sigma_min, args.sigma_max))
                x = noisy(base, sigma)
                np.save(path, x)
                T = x.shape[0]
                distinct[slot] = (path, base, sigma, T)
            good.append((uid, i, base, sigma, T, path))
        lines.append(f"{uid} {path}" if kaldi[i] else f"{uid}\t{path}")

    for uid, i, kind, variant, path in truth:
        if kind == "missing" and os.path.exists(path):
            sys.exit(f"make_soak: {path} should not exist")
    with open(os.path.join(out, "list.tsv"), "w") as f:
        f.write("".join(line + "\n" for line in lines))
    with open(os.path.join(out, "truth.tsv"), "w") as f:
        f.write("utt_id\tline\tkind\tvariant\tpath\n")
        f.write("".join(f"{u}\t{i}\t{k}\t{v}\t{p}\n" for u, i, k, v, p in truth))
    with open(os.path.join(out, "good.tsv"), "w") as f:
        f.write("utt_id\tline\tbase\tsigma\tframes\n")
        f.write("".join(f"{u}\t{i}\t{b}\t{s:.4f}\t{T}\n" for u, i, b, s, T, _ in good))
    meta.update(complete=True, n_bad=len(truth), n_good=len(good), files=len(os.listdir(os.path.join(out, "npy"))))
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    counts = {k: sum(1 for t in truth if t[2] == k) for k in KINDS}
    print(f"make_soak: {out}: {n} lines, {len(good)} good, {len(truth)} faulty "
          + ", ".join(f"{k} {c}" for k, c in counts.items()) + f"; {int(kaldi.sum())} Kaldi-style lines")


if __name__ == "__main__":
    main()
