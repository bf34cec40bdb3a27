#!/usr/bin/env python3
"""Writes a random but valid ARPA n-gram model of about a given size.

    python3 tests/bench/gen_arpa.py --size-mb 100 --order 4 --seed 1 -o /tmp/x.arpa
        [--vocab N] [--quiet]

Valid the way KenLM wants it: every n-gram's context (its first n-1 words)
and suffix (its last n-1 words) are (n-1)-grams of the file; <s>, </s> and
<unk> are 1-grams; log10 probabilities are <= 0; every order but the highest
has backoffs (5% of those lines omit theirs, meaning 0); <s> is only ever
first and </s> only last. The file ends within one line of --size-mb
(MB = 10^6 bytes). The same arguments write the same bytes.

How: the vocabulary is random lowercase words (2-12 letters). A random
corpus is walked from a sparse first-order Markov chain (each word has 64
successors drawn with Zipf-like weights and picks among them with
Zipf-like weights; a sentence starts after <s> and ends with </s> with
probability 1/12 a word, after 40 words at most), all sentences at once with
numpy. The model's n-grams are the distinct n-grams of that corpus, so every
context and suffix is there by construction; every vocabulary word is a
1-gram, seen or not. The corpus grows (or, when far past, is cut) until the
file would pass the size by at most 5%, then the highest order (which no
other n-gram needs) loses random n-grams to fit. An n-gram of order n is the
exact int64 key (row of its first n-1 words) * vocabulary + last word, so
the distinct ones are np.unique of keys.

Text is written without a per-line Python loop: a line is a row of tokens
(a probability with its tab, words with their separator, a backoff with its
newline) from one byte dictionary, and the bytes are gathered with numpy in
chunks. Probabilities and backoffs are 6-decimal numbers from a table of
65536 random values each.
"""
import argparse
import sys
import time

import numpy as np

N_VALUES = 1 << 16
CHUNK_LINES = 1 << 19
SUCCESSORS = 64
MAX_WORDS = 40
UNK, BOS, EOS = 0, 1, 2


def log(args, msg):
    if not args.quiet:
        print(f"gen_arpa: {msg}", file=sys.stderr, flush=True)


def make_vocab(rng, v):
    """v words as bytes: <unk>, <s>, </s>, then unique random ones."""
    seen = set()
    out = [b"<unk>", b"<s>", b"</s>"]
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    while len(out) < v:
        n = (v - len(out)) * 2 + 16
        lens = rng.integers(2, 13, size=n)
        chars = letters[rng.integers(0, 26, size=(n, 12))]
        for i in range(n):
            w = chars[i, : lens[i]].tobytes()
            if w not in seen:
                seen.add(w)
                out.append(w)
                if len(out) == v:
                    break
    return out


class Dictionary:
    """One byte buffer of every token; a line is a row of token ids."""

    def __init__(self, rng, vocab, specials):
        probs = [b"%.6f\t" % x for x in -rng.uniform(0.01, 6.9, N_VALUES)]
        backs = [b"\t%.6f\n" % x for x in -rng.uniform(0.01, 2.0, N_VALUES)]
        pieces = probs + [w + b" " for w in vocab] + list(vocab) + backs + [b"\n"] + specials
        self.word_sp0 = N_VALUES
        self.word0 = N_VALUES + len(vocab)
        self.back0 = N_VALUES + 2 * len(vocab)
        self.newline = self.back0 + N_VALUES
        self.special0 = self.newline + 1
        self.lens = np.array([len(p) for p in pieces], dtype=np.int64)
        self.starts = np.cumsum(self.lens) - self.lens
        self.data = np.frombuffer(b"".join(pieces), dtype=np.uint8)

    def rows(self, rng, words, backoff):
        """Token rows for the n-grams words (k x n word ids)."""
        k, n = words.shape
        t = np.empty((k, n + 2), dtype=np.int64)
        t[:, 0] = rng.integers(0, N_VALUES, size=k)
        t[:, 1:n] = self.word_sp0 + words[:, : n - 1]
        t[:, n] = self.word0 + words[:, n - 1]
        if backoff:
            t[:, n + 1] = self.back0 + rng.integers(0, N_VALUES, size=k)
            t[rng.random(k) < 0.05, n + 1] = self.newline
        else:
            t[:, n + 1] = self.newline
        return t

    def line_bytes(self, rows):
        return self.lens[rows].sum(axis=1)

    def render(self, rows):
        """The bytes of token rows, in order."""
        tok = rows.ravel()
        lens = self.lens[tok]
        out_start = np.cumsum(lens) - lens
        idx = np.repeat(self.starts[tok] - out_start, lens) + np.arange(int(lens.sum()), dtype=np.int64)
        return self.data[idx].tobytes()


def markov_chain(rng, v):
    """succ[w, k]: 64 successors of each word (never <unk> or <s>; </s> is
    chosen apart), the Zipf-like weights of the first word of a sentence and
    those of the rank k."""
    weights = 1.0 / (np.arange(v, dtype=np.float64) + 10.0)
    rng.shuffle(weights)
    weights[[UNK, BOS, EOS]] = 0
    weights /= weights.sum()
    succ = rng.choice(v, size=(v, SUCCESSORS), p=weights).astype(np.int32)
    rank = 1.0 / (np.arange(SUCCESSORS) + 1.0)
    return succ, weights, rank / rank.sum()


def corpus(rng, chain, sentences):
    """sentences x (MAX_WORDS + 2) word ids: <s>, words, </s>, then -1."""
    succ, first, rank = chain
    m = np.full((sentences, MAX_WORDS + 2), -1, dtype=np.int32)
    m[:, 0] = BOS
    cur = rng.choice(len(first), size=sentences, p=first).astype(np.int32)
    alive = np.ones(sentences, dtype=bool)
    for j in range(1, MAX_WORDS + 1):
        m[alive, j] = cur[alive]
        stop = alive & (rng.random(sentences) < 1.0 / 12)
        m[stop, j + 1] = EOS
        alive &= ~stop
        cur = succ[cur, rng.choice(SUCCESSORS, size=sentences, p=rank)]
    m[alive, MAX_WORDS + 1] = EOS
    return m


def ngrams(m, v, order):
    """The distinct n-grams of the corpus m for orders 2..order, each a word
    matrix sorted by key."""
    out = []
    ids = m.astype(np.int64)  # ids[:, j]: row of the (n-1)-gram starting at column j
    words = np.arange(v, dtype=np.int64)[:, None]
    for n in range(2, order + 1):
        cols = m.shape[1] - n + 1
        last = m[:, n - 1 : n - 1 + cols]
        valid = last >= 0
        keys = ids[:, :cols] * v + last
        uniq = np.unique(keys[valid])
        words = np.concatenate([words[uniq // v], (uniq % v)[:, None]], axis=1)
        out.append(words)
        ids = np.where(valid, np.searchsorted(uniq, keys), 0)
    return out


def header(counts):
    return ("\\data\\\n" + "".join(f"ngram {n}={c}\n" for n, c in enumerate(counts, 1))).encode()


def unigram_rows(rng, d, v):
    rows = d.rows(rng, np.arange(v, dtype=np.int64)[:, None], backoff=True)
    rows[BOS, 0] = d.special0      # "-99\t"
    rows[UNK, 0] = d.special0 + 1  # "-6.000000\t"
    rows[[UNK, EOS], 2] = d.newline
    return rows


def generate(args, rng, d, v, room):
    """Token rows of orders 2..order whose lines take at most room bytes."""
    t0 = time.time()
    chain = markov_chain(rng, v)
    sentences = max(100, int(room / (27.0 * (args.order - 1) * 12)))
    m = np.empty((0, MAX_WORDS + 2), dtype=np.int32)
    while True:
        m = np.concatenate([m, corpus(rng, chain, sentences - len(m))])
        grams = ngrams(m, v, args.order)
        rows = [d.rows(rng, g, backoff=g.shape[1] < args.order) for g in grams]
        lbytes = [d.line_bytes(r) for r in rows]
        total = sum(int(b.sum()) for b in lbytes)
        log(args, f"{len(m)} sentences: n-grams {[len(g) for g in grams]}, {total} bytes ({time.time() - t0:.1f} s)")
        if total > 1.05 * room and len(m) > 100:  # far past: fewer sentences, not a gutted highest order
            m = m[: max(100, int(len(m) * 1.02 * room / total))]
            sentences = len(m)
            continue
        if total >= room:
            break
        sentences = int(len(m) * min(4.0, 1.1 * room / max(total, 1))) + 1
    lower = total - int(lbytes[-1].sum())
    if lower > room:
        log(args, "warning: the orders below the highest alone pass the size")
    keep = rng.permutation(len(rows[-1]))
    fits = np.cumsum(lbytes[-1][keep]) <= room - lower
    rows[-1] = rows[-1][np.sort(keep[fits])]
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=float, required=True, help="target size, MB = 10^6 bytes")
    ap.add_argument("--order", type=int, default=4, choices=[3, 4, 5])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=0, help="1-grams (default 2000 * size_mb^0.75, at least 1000)")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    rng = np.random.default_rng(args.seed)
    target = int(args.size_mb * 1e6)
    v = args.vocab or int(min(2_000_000, max(1000, 2000 * args.size_mb**0.75)))
    vocab = make_vocab(rng, v)
    d = Dictionary(rng, vocab, [b"-99\t", b"-6.000000\t"])
    uni = unigram_rows(rng, d, v)
    frame = len(header([10**9] * args.order)) + sum(len(b"\n\\%d-grams:\n" % n) for n in range(1, args.order + 1))
    room = target - int(d.line_bytes(uni).sum()) - frame - len(b"\n\\end\\\n")
    rows = [uni] + generate(args, rng, d, v, room)

    counts = [len(r) for r in rows]
    with open(args.out, "wb") as f:
        f.write(header(counts))
        for n, r in enumerate(rows, 1):
            f.write(b"\n\\%d-grams:\n" % n)
            for i in range(0, len(r), CHUNK_LINES):
                f.write(d.render(r[i : i + CHUNK_LINES]))
        f.write(b"\n\\end\\\n")
        size = f.tell()
    log(args, f"wrote {args.out}: {size} bytes, counts {counts} ({time.time() - t0:.1f} s)")


if __name__ == "__main__":
    main()
