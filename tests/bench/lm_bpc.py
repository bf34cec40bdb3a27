#!/usr/bin/env python3
"""Bits per character of ARPA n-gram models (via PyPI kenlm) and RWKV models
(via bin/rwkv-lm --model) on one text, one sentence a line (" word word ...").

Characters: the line's bytes as the RWKV model sees them, i.e. the line
including its leading space and its final newline (the "\\n" end token that
rwkv-lm scores); the line's leading "\\n" start token is context, not scored.
That is len(line) + 1 for a line without its newline = the file's byte count.
A word the n-gram has not seen costs only p(<unk>), which flatters the n-gram
(the RWKV pays for its spelling), so a second column scores every model on
just the lines whose words all are in the first ARPA model's vocabulary.
Every model is divided by this same count. An n-gram's log-probability of a
line is the sum of its words' log-probabilities with </s> included (kenlm
score(line, bos=True, eos=True)).

  lm_bpc.py --text lm-val.txt --arpa NAME=FILE ... --rwkv NAME=FILE ... [--rwkv-lm bin/rwkv-lm]
"""
import argparse
import math
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True)
    ap.add_argument("--arpa", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--rwkv", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--rwkv-lm", default="bin/rwkv-lm")
    args = ap.parse_args()
    lines = [l.rstrip("\n") for l in open(args.text, encoding="utf-8")]
    chars = sum(len(l.encode("utf-8")) + 1 for l in lines)
    words = sum(len(l.split()) + 1 for l in lines)
    print(f"text {args.text}: {len(lines)} lines, {words} words with </s>, {chars} characters")
    rows = []
    known = [True] * len(lines)
    if args.arpa:
        import kenlm
        m0 = kenlm.Model(args.arpa[0].split("=", 1)[1])
        known = [all(w in m0 for w in l.split()) for l in lines]
        del m0
    kchars = sum(len(l.encode("utf-8")) + 1 for l, k in zip(lines, known) if k)
    print(f"lines without an n-gram OOV word: {sum(known)}, {kchars} characters")
    print(f"{'model':<34} {'bits/char':>9} {'bits/word':>9} {'bpc no-OOV lines':>16} {'seconds':>8}")
    for spec in args.arpa:
        name, path = spec.split("=", 1)
        import kenlm
        t0 = time.time()
        m = kenlm.Model(path)
        per = [-m.score(l, bos=True, eos=True) * math.log2(10) for l in lines]
        rows.append((name, sum(per), sum(b for b, k in zip(per, known) if k), time.time() - t0))
    for spec in args.rwkv:
        name, path = spec.split("=", 1)
        t0 = time.time()
        out = subprocess.run([args.rwkv_lm, "--model", path, "--no-tokens"], input="\n".join(lines) + "\n",
                             capture_output=True, text=True, check=True).stdout
        total = [l for l in out.splitlines() if l.startswith("total\t")]
        if len(total) != 1:
            sys.exit(f"lm_bpc: no total line from {args.rwkv_lm} for {path}")
        _, lnp, ntok, _ = total[0].split("\t")
        if int(ntok) != chars:
            sys.exit(f"lm_bpc: rwkv-lm scored {ntok} tokens, expected {chars} characters")
        per = [-float(l.split("\t")[1]) / math.log(2) for l in out.splitlines() if l.startswith("line\t")]
        if len(per) != len(lines):
            sys.exit(f"lm_bpc: {len(per)} line scores from {args.rwkv_lm}, expected {len(lines)}")
        rows.append((name, -float(lnp) / math.log(2), sum(b for b, k in zip(per, known) if k), time.time() - t0))
    for name, bits, kbits, secs in rows:
        print(f"{name:<34} {bits / chars:9.3f} {bits / words:9.2f} {kbits / kchars:16.3f} {secs:8.1f}")


if __name__ == "__main__":
    main()
