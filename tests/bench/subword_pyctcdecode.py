#!/usr/bin/env python3
"""pyctcdecode on the subword set (make_subword.py), for bench_subword.sh:
lexicon-free with the same ARPA file, its defaults otherwise (unk_score_offset
-10, token_min_logp -5, beam_prune_logp -10), beam 32.

    subword_pyctcdecode.py OUT ALPHA BETA > hyp.tsv   (prints seconds on stderr)
"""
import os
import sys
import time

import numpy as np
from pyctcdecode import build_ctcdecoder


def main():
    out, alpha, beta = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    with open(os.path.join(out, "tokens.txt"), encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    labels = ["" if t == "<blank>" else t for t in tokens]  # pyctcdecode's blank is ""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    os.dup2(devnull, 2)  # kenlm's loading progress bar
    dec = build_ctcdecoder(labels, kenlm_model_path=os.path.join(out, "lm.arpa"), alpha=alpha, beta=beta)
    os.dup2(saved, 2)
    t0 = time.time()
    with open(os.path.join(out, "test.list")) as f:
        for line in f:
            utt, path = line.split()
            sys.stdout.write("%s\t%s\n" % (utt, dec.decode(np.load(path), beam_width=32)))
    sys.stderr.write("%.1f\n" % (time.time() - t0))


if __name__ == "__main__":
    main()
