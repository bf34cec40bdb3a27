#!/usr/bin/env python3
"""Train an interpolated modified Kneser-Ney n-gram model and write it as ARPA.

The estimate is KenLM lmplz's (Heafield et al. 2013, Chen & Goodman 1998):
- the highest order uses raw counts; lower orders use adjusted counts, the number
  of distinct words seen to the left (n-grams starting with <s> keep raw counts);
- discounts D1, D2, D3+ per order from that order's counts-of-counts t1..t4:
  Y = t1/(t1+2 t2), D1 = 1-2Y t2/t1, D2 = 2-3Y t3/t2, D3+ = 3-4Y t4/t3;
- p(w|h) = (a(hw) - D(a(hw))) / a(h.) + gamma(h) p(w|h'),
  gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / a(h.);
  unigrams interpolate with the uniform distribution over the vocabulary
  (every word, </s> and <unk>; <s> is never predicted and gets -99).
No pruning. ARPA backoff weights are gamma(h); an unseen hw backs off exactly as
the interpolation does, so the file's probabilities equal the estimate.

Counting is vectorized with numpy: an n-gram is (index of its (n-1)-gram prefix,
last word), one int64, so every order is one np.unique.

  train_kn.py --order 4 --text lm-train.txt --out 4gram.arpa [--check]

--check loads the ARPA file with PyPI kenlm and verifies (a) that kenlm's
probabilities equal the estimate computed straight from the counts for sampled
n-grams, seen and backed-off, and (b) that p(.|h) sums to 1 over the vocabulary
for a few contexts. Exit status 1 if a check fails.
"""
import argparse
import math
import sys
import time

import numpy as np


def log(msg):
    print(f"[train_kn {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def read_text(path):
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    ids, sid = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            words = line.split()
            ids.append(1)
            for w in words:
                i = vocab.get(w)
                if i is None:
                    i = vocab[w] = len(vocab)
                ids.append(i)
            ids.append(2)
            sid.extend([n] * (len(words) + 2))
    words = [None] * len(vocab)
    for w, i in vocab.items():
        words[i] = w
    return np.array(ids, dtype=np.int64), np.array(sid, dtype=np.int64), words


class Order:
    """The distinct n-grams of one order, sorted by (prefix index, last word)."""


def count(tok, sid, order, V):
    """Per order: keys (sorted), raw counts, a representative position, prefix
    and suffix indices into the order below."""
    T = len(tok)
    orders = []
    pos_idx = None  # per position: index of the (n-1)-gram starting there (or -1)
    for n in range(1, order + 1):
        m = T - n + 1
        valid = sid[:m] == sid[n - 1:n - 1 + m]
        # no n-gram ends at <s> except the unigram <s>, and none goes past </s>:
        # both are implied by staying inside one sentence.
        if n == 1:
            key = tok.copy()
        else:
            key = np.where(valid, pos_idx[:m] * V + tok[n - 1:n - 1 + m], -1)
        kv = key[valid]
        uniq, first, inv, cnt = np.unique(kv, return_index=True, return_inverse=True, return_counts=True)
        o = Order()
        o.n = n
        o.keys = uniq
        o.raw = cnt.astype(np.int64)
        vpos = np.nonzero(valid)[0]
        o.pos = vpos[first]
        o.last = uniq % V if n > 1 else uniq
        o.prefix = uniq // V if n > 1 else None
        if n > 1:
            o.suffix = pos_idx[o.pos + 1]
            assert (o.suffix >= 0).all()
        else:
            o.suffix = None
        new_idx = np.full(T, -1, dtype=np.int64)
        new_idx[vpos] = inv.reshape(-1)
        pos_idx = new_idx
        orders.append(o)
        log(f"order {n}: {len(uniq)} n-grams")
    return orders


def discounts(a):
    t = [int(np.count_nonzero(a == k)) for k in (1, 2, 3, 4)]
    if min(t) == 0:
        raise SystemExit(f"train_kn: count of counts {t} has a zero; text too small for modified KN")
    y = t[0] / (t[0] + 2 * t[1])
    d = (1 - 2 * y * t[1] / t[0], 2 - 3 * y * t[2] / t[1], 3 - 4 * y * t[3] / t[2])
    for x in d:
        if not 0 < x < 4:
            raise SystemExit(f"train_kn: discount {x} out of range (counts of counts {t})")
    return d


def estimate(orders, tok):
    N = len(orders)
    # adjusted counts
    for i, o in enumerate(orders):
        if i == N - 1:
            o.adj = o.raw.copy()
        else:
            up = orders[i + 1]
            o.adj = np.bincount(up.suffix, minlength=len(o.keys)).astype(np.int64)
            starts_bos = tok[o.pos] == 1
            o.adj[starts_bos] = o.raw[starts_bos]
    # discounts per order, from the n-grams that can be predicted (not the unigram <s>)
    for o in orders:
        sel = o.adj[o.last != 1] if o.n == 1 else o.adj
        o.D = discounts(sel)
        log(f"order {o.n}: D1 {o.D[0]:.4f} D2 {o.D[1]:.4f} D3+ {o.D[2]:.4f}")

    def disc(o):
        a = o.adj
        D1, D2, D3 = o.D
        return np.where(a == 1, D1, np.where(a == 2, D2, D3)) * (a > 0)

    # unigrams
    u = orders[0]
    pred = u.last != 1
    vocab_n = int(np.count_nonzero(pred)) + (0 if (u.last == 0).any() else 1)  # + <unk> if unseen
    a = np.where(pred, u.adj, 0).astype(np.float64)
    total = a.sum()
    d = np.where(pred, disc(u), 0.0)
    gamma0 = d.sum() / total
    u.prob = np.where(pred, (a - d) / total + gamma0 / vocab_n, 0.0)
    u.unk_prob = gamma0 / vocab_n
    u.gamma0 = gamma0
    u.vocab_n = vocab_n
    for i in range(1, N):
        o, lo = orders[i], orders[i - 1]
        a = o.adj.astype(np.float64)
        d = disc(o)
        ctx_total = np.bincount(o.prefix, weights=a, minlength=len(lo.keys))
        ctx_disc = np.bincount(o.prefix, weights=d, minlength=len(lo.keys))
        with np.errstate(invalid="ignore", divide="ignore"):
            lo.gamma = np.where(ctx_total > 0, ctx_disc / ctx_total, 0.0)
        o.prob = (a - d) / ctx_total[o.prefix] + lo.gamma[o.prefix] * lo.prob[o.suffix]
    orders[-1].gamma = None
    return orders


def ngram_words(o, orders, words):
    """Word-id columns for each n-gram of order o (shape [count, n])."""
    cols = []
    idx = np.arange(len(o.keys))
    cur = o
    k = o.n - 1
    res = np.empty((len(o.keys), o.n), dtype=np.int64)
    while True:
        res[:, k] = cur.last[idx]
        if cur.n == 1:
            break
        idx = cur.prefix[idx]
        cur = orders[cur.n - 2]
        k -= 1
    return res


def write_arpa(orders, words, path):
    N = len(orders)
    u = orders[0]
    has_unk = (u.last == 0).any()
    wa = np.array(words, dtype=object)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for o in orders:
            extra = 0 if (o.n > 1 or has_unk) else 1
            f.write(f"ngram {o.n}={len(o.keys) + extra}\n")
        for o in orders:
            f.write(f"\n\\{o.n}-grams:\n")
            if o.n == 1 and not has_unk:
                f.write(f"{math.log10(u.unk_prob):.7g}\t<unk>\t0\n")
            cols = ngram_words(o, orders, words)
            text = wa[cols[:, 0]]
            for j in range(1, o.n):
                text = text + " " + wa[cols[:, j]]
            with np.errstate(divide="ignore"):
                lp = np.log10(o.prob)
            lp = np.where(o.prob > 0, lp, -99.0)
            lps = [f"{x:.7g}" for x in lp.tolist()]
            if o.n < N:
                with np.errstate(divide="ignore"):
                    bo = np.where(o.gamma > 0, np.log10(np.where(o.gamma > 0, o.gamma, 1)), 0.0)
                bos = [f"{x:.7g}" for x in bo.tolist()]
                has_ext = np.bincount(orders[o.n].prefix, minlength=len(o.keys)) > 0
                lines = [f"{p}\t{t}\t{b}\n" if e else f"{p}\t{t}\n"
                         for p, t, b, e in zip(lps, text.tolist(), bos, has_ext.tolist())]
            else:
                lines = [f"{p}\t{t}\n" for p, t in zip(lps, text.tolist())]
            f.writelines(lines)
            log(f"wrote {len(lines)} {o.n}-grams")
        f.write("\n\\end\\\n")


class Direct:
    """p(w|h) straight from the counts, by the recursion, for checking."""

    def __init__(self, orders, words):
        self.o = orders
        self.V = len(words)
        self.id = {w: i for i, w in enumerate(words)}

    def index(self, ids):
        """Index of the n-gram ids (a tuple) in its order, or -1."""
        o = self.o[0]
        j = np.searchsorted(o.keys, ids[0])
        if j >= len(o.keys) or o.keys[j] != ids[0]:
            return -1
        for n in range(1, len(ids)):
            o = self.o[n]
            key = j * self.V + ids[n]
            j = np.searchsorted(o.keys, key)
            if j >= len(o.keys) or o.keys[j] != key:
                return -1
        return int(j)

    def prob(self, hist, w):
        """p(w | hist) with the interpolated recursion over adjusted counts."""
        if not hist:
            j = self.index((w,))
            u = self.o[0]
            if j < 0:
                return u.gamma0 / u.vocab_n
            a = float(u.adj[j])
            D = u.D[0] if a == 1 else u.D[1] if a == 2 else u.D[2]
            total = float(u.adj[u.last != 1].sum())
            return (a - D) / total + u.gamma0 / u.vocab_n
        lower = self.prob(hist[1:], w)
        hj = self.index(tuple(hist))
        if hj < 0:
            return lower
        o = self.o[len(hist)]
        sel = o.prefix == hj
        a_all = o.adj[sel].astype(np.float64)
        if len(a_all) == 0:
            return lower
        D1, D2, D3 = o.D
        total = a_all.sum()
        gamma = (D1 * (a_all == 1).sum() + D2 * (a_all == 2).sum() + D3 * (a_all >= 3).sum()) / total
        j = self.index(tuple(hist) + (w,))
        if j < 0:
            return gamma * lower
        a = float(o.adj[j])
        D = D1 if a == 1 else D2 if a == 2 else D3
        return (a - D) / total + gamma * lower


def check(orders, words, tok, path, seed=1):
    import kenlm
    N = len(orders)
    log("check: loading with kenlm")
    m = kenlm.Model(path)
    direct = Direct(orders, words)
    rng = np.random.default_rng(seed)
    ok = True
    # (a) sampled positions of the training text: full-order n-grams that were seen,
    # and the same histories with a random word (mostly backed off)
    nsent = 0
    worst = 0.0
    starts = np.nonzero(tok == 1)[0]
    for s in rng.choice(len(starts) - 1, 20, replace=False):
        ids = tok[starts[s]:starts[s + 1]].tolist()  # <s> ... </s>
        sent = [words[i] for i in ids[1:-1]]
        ref = list(m.full_scores(" ".join(sent), bos=True, eos=True))
        for k in range(1, len(ids)):
            hist = ids[max(0, k - N + 1):k]
            p = direct.prob(hist, ids[k])
            worst = max(worst, abs(math.log10(p) - ref[k - 1][0]))
        # the same histories with a random vocabulary word
        st = kenlm.State()
        m.BeginSentenceWrite(st)
        for k in range(1, len(ids) - 1):
            w = int(rng.integers(3, len(words)))
            out = kenlm.State()
            lp = m.BaseScore(st, words[w], out)
            hist = ids[max(0, k - N + 1):k]
            worst = max(worst, abs(math.log10(direct.prob(hist, w)) - lp))
            nxt = kenlm.State()
            m.BaseScore(st, words[ids[k]], nxt)
            st = nxt
        nsent += 1
    print(f"check (a): kenlm vs direct estimate, {nsent} sentences, worst |log10 diff| = {worst:.2e}")
    if worst > 2e-5:
        print("check (a): FAILED", file=sys.stderr)
        ok = False
    # (b) sums over the vocabulary for a few contexts
    vocab = [w for w in words if w != "<s>"]
    if "<unk>" not in vocab:
        vocab.append("<unk>")
    contexts = [[], ["the"], ["of", "the"], ["and", "the", "lord"], ["to", "be", "or"], ["zzqx"]]
    for ctx in contexts:
        st = kenlm.State()
        m.BeginSentenceWrite(st)
        for w in ctx:
            o = kenlm.State()
            m.BaseScore(st, w, o)
            st = o
        out = kenlm.State()
        tot = sum(10.0 ** m.BaseScore(st, w, out) for w in vocab)
        print(f"check (b): sum p(w | <s> {' '.join(ctx)}) over {len(vocab)} words = {tot:.6f}")
        if abs(tot - 1) > 1e-4:
            print("check (b): FAILED", file=sys.stderr)
            ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", required=True)
    ap.add_argument("--order", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.order < 2:
        ap.error("--order must be at least 2")
    t0 = time.time()
    tok, sid, words = read_text(args.text)
    log(f"read {len(tok)} tokens, {len(words)} types")
    orders = count(tok, sid, args.order, len(words))
    estimate(orders, tok)
    write_arpa(orders, words, args.out)
    log(f"{args.out} done in {time.time() - t0:.1f} s")
    if args.check and not check(orders, words, tok, args.out):
        sys.exit(1)


if __name__ == "__main__":
    main()
