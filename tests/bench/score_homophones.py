#!/usr/bin/env python3
"""Scores a decode of the homophone set: WER, and the share of reference
words that have homophones in the lexicon (their/there) which the hypothesis
got right, over the word alignment (a deleted such word counts as wrong).

usage: score_homophones.py REF HYP LEXICON   (prints: wer hom_correct hom_total)"""
import collections
import sys

from hotwords import read_ref


def read(path):
    return {utt: text.split() for utt, text in read_ref(path).items()}


def align(r, h):
    n, m = len(r), len(h)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (r[i - 1] != h[j - 1]))
    # backtrace: reference index -> hypothesis word (None if deleted)
    i, j, pairs = n, m, {}
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i][j] == d[i - 1][j - 1] + (r[i - 1] != h[j - 1]):
            pairs[i - 1] = h[j - 1]
            i, j = i - 1, j - 1
        elif i > 0 and d[i][j] == d[i - 1][j] + 1:
            pairs[i - 1] = None
            i -= 1
        else:
            j -= 1
    return d[n][m], pairs


def main():
    ref, hyp = read(sys.argv[1]), read(sys.argv[2])
    pron = {}
    groups = collections.Counter()
    for line in open(sys.argv[3], encoding="utf-8"):
        w, _, p = line.rstrip("\n").partition("\t")
        pron[w] = p
        groups[p] += 1
    errs = words = hc = ht = 0
    for utt, r in ref.items():
        h = hyp.get(utt, [])
        e, pairs = align(r, h)
        errs += e
        words += len(r)
        for i, w in enumerate(r):
            if groups[pron.get(w, "")] > 1:
                ht += 1
                hc += pairs.get(i) == w
    print("%.2f %d %d" % (100.0 * errs / max(words, 1), hc, ht))


if __name__ == "__main__":
    main()
