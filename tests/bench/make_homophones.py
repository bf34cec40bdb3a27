#!/usr/bin/env python3
"""Builds the homophone test set (fixed seed; re-running gives the same files).

English sentences from Debian's `fortunes` package are turned into CMUdict
phone sequences and simulated CTC emissions: peaky posteriors, 1-5 frames per
phone, phone confusions tuned so that the greedy phone error rate is 5-15%.
Words sharing one pronunciation (their/there) give identical emissions, so
only a language model can choose between them.

Splits (disjoint): lm-train (text for the 3-gram LM), dev (for tuning
weights), test (held out; report WER here).

Writes into OUT (default build/bench/homophones):
  tokens.txt          <blank>, |, then the phones
  lexicon.txt         every word of the sentences plus all of its CMUdict
                      homophones, one pronunciation each (word PH O N ES)
  lm.arpa             3-gram, interpolated absolute discounting, in ARPA form,
                      trained on lm-train only
  {dev,test}.list     utt_id<TAB>path.npy
  {dev,test}.ref      utt_id<TAB>reference words
  npy/*.npy           log-probabilities, float32 [T, V]
  stats.txt           sizes, greedy phone error rate, homophone counts
"""
import argparse
import collections
import math
import os
import random
import re
import sys

import numpy as np

FORTUNE_DIR = "/usr/share/games/fortunes"
FORTUNE_SETS = ["cookie", "fortunes", "literature", "people", "platitudes", "wisdom", "work",
                "science", "education", "love", "food", "humorists", "computers", "politics",
                "men-women", "pets", "sports", "songs-poems", "miscellaneous", "definitions"]


def read_cmudict(path):
    pron = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        if not line.strip() or line.startswith(";;;"):
            continue
        parts = line.split()
        word = re.sub(r"\(\d+\)$", "", parts[0])
        if word not in pron:  # first pronunciation only
            pron[word] = tuple(parts[1:])
    return pron


def read_sentences(pron):
    sents = []
    for name in FORTUNE_SETS:
        path = os.path.join(FORTUNE_DIR, name)
        if not os.path.exists(path):
            continue
        text = open(path, encoding="utf-8", errors="replace").read()
        for entry in text.split("\n%\n"):
            entry = " ".join(entry.split())
            for s in re.split(r"(?<=[.!?])\s+", entry):
                s = s.lower()
                if re.search(r"[0-9@#$%^&*_=+<>/\\|~`\[\]{}]", s):
                    continue
                words = re.findall(r"[a-z]+(?:'[a-z]+)?", s)
                if 5 <= len(words) <= 16 and all(w in pron for w in words):
                    sents.append(tuple(words))
    # dedupe, keep order
    seen, out = set(), []
    for s in sents:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


def homophone_groups(pron):
    groups = collections.defaultdict(list)
    for w, p in pron.items():
        groups[p].append(w)
    return groups


def write_arpa(path, sents, vocab, discount=0.7):
    counts = [collections.Counter() for _ in range(3)]
    for s in sents:
        toks = ["<s>"] + list(s) + ["</s>"]
        for n in range(1, 4):
            for i in range(len(toks) - n + 1):
                g = tuple(toks[i:i + n])
                if n == 1 and g == ("<s>",):
                    continue
                counts[n - 1][g] += 1
    words = sorted(set(vocab) | {"</s>"})
    total = sum(counts[0].values())
    V = len(words)
    uni = {w: (counts[0][(w,)] + 1) / (total + V) for w in words}  # add-one over the vocabulary

    def ctx_stats(order):
        succ = collections.defaultdict(lambda: [0, 0])  # context -> [count, distinct followers]
        for g, c in counts[order - 1].items():
            st = succ[g[:-1]]
            st[0] += c
            st[1] += 1
        return succ

    s2, s3 = ctx_stats(2), ctx_stats(3)
    def p_interp(g):
        if len(g) == 1:
            return uni.get(g[0], 1e-9)
        st = (s2 if len(g) == 2 else s3).get(g[:-1])
        lower = p_interp(g[1:])
        if not st:
            return lower
        c = counts[len(g) - 1].get(g, 0)
        gamma = discount * st[1] / st[0]
        return max(c - discount, 0) / st[0] + gamma * lower

    def backoff(h):
        st = (s2 if len(h) == 1 else s3).get(h)
        return discount * st[1] / st[0] if st else 1.0

    with open(path, "w") as f:
        big = [g for g in counts[1] if all(x in uni or x == "<s>" for x in g) and g != ("<s>", "</s>")]
        tri = [g for g in counts[2] if all(x in uni or x == "<s>" for x in g)]
        f.write("\\data\\\nngram 1=%d\nngram 2=%d\nngram 3=%d\n\n\\1-grams:\n" % (V + 1, len(big), len(tri)))
        f.write("-99\t<s>\t%.6f\n" % math.log10(backoff(("<s>",))))
        for w in words:
            line = "%.6f\t%s" % (math.log10(uni[w]), w)
            if w != "</s>":
                line += "\t%.6f" % math.log10(backoff((w,)))
            f.write(line + "\n")
        f.write("\n\\2-grams:\n")
        for g in sorted(big):
            line = "%.6f\t%s" % (math.log10(p_interp(g)), " ".join(g))
            if g[-1] != "</s>":
                line += "\t%.6f" % math.log10(backoff(g))
            f.write(line + "\n")
        f.write("\n\\3-grams:\n")
        for g in sorted(tri):
            f.write("%.6f\t%s\n" % (math.log10(p_interp(g)), " ".join(g)))
        f.write("\n\\end\\\n")


def simulate(phone_ids, V, rng, confuse, peak, first=2):
    """Frames for a unit sequence (ids >= 1; 0 is blank): each unit peaks for
    1-3 frames then 0-2 blank frames; a confused frame peaks on another unit.
    Units from `first` on are confusable (1 is the word delimiter here)."""
    frames = []
    for k, u in enumerate(phone_ids):
        if k and phone_ids[k - 1] == u:
            frames.append(0)  # CTC needs a blank between repeats
        for _ in range(rng.randint(1, 3)):
            frames.append(u)
        for _ in range(rng.randint(0, 2)):
            frames.append(0)
    T = len(frames)
    x = np.full((T, V), 1e-4, dtype=np.float64)
    for t, u in enumerate(frames):
        shown = u
        if u >= first and rng.random() < confuse:
            shown = rng.randint(first, V - 1)
        p = peak + (1 - peak) * rng.random() * 0.5
        x[t, shown] = p
        # spread the rest over blank, the true unit and two random units
        rest = 1 - p
        for alt, share in ((0, 0.4), (u, 0.3), (rng.randint(1, V - 1), 0.15), (rng.randint(1, V - 1), 0.15)):
            x[t, alt] += rest * share
    x /= x.sum(axis=1, keepdims=True)
    return np.log(x).astype(np.float32)


def greedy_per(logp, ref_units, first=2):
    """Edit distance of the greedy unit sequence (units from `first` on) to
    the reference's, and the reference length."""
    best = logp.argmax(axis=1)
    out, prev = [], -1
    for u in best:
        if u != prev and u >= first:
            out.append(int(u))
        prev = u
    ref = [u for u in ref_units if u >= first]
    d = list(range(len(out) + 1))
    for i, r in enumerate(ref, 1):
        nd = [i] + [0] * len(out)
        for j, h in enumerate(out, 1):
            nd[j] = min(d[j] + 1, nd[j - 1] + 1, d[j - 1] + (r != h))
        d = nd
    return d[-1], len(ref)


def split_args(out, **parser):
    """The options of a simulated test/dev set (make_homophones.py,
    make_zh.py), parsed: the shared data, the output folder (default out),
    the split sizes and the emissions' confusion, peak and seed. parser:
    argparse.ArgumentParser's keywords."""
    ap = argparse.ArgumentParser(**parser)
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--out", default=out)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--dev", type=int, default=100)
    ap.add_argument("--confuse", type=float, default=0.05)
    ap.add_argument("--peak", type=float, default=0.7)
    ap.add_argument("--seed", type=int, default=1234)
    return ap.parse_args()


def main():
    a = split_args("build/bench/homophones", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pron = read_cmudict(os.path.join(a.shared, "lexicon/cmudict-en-us.dict"))
    sents = read_sentences(pron)
    if len(sents) < a.test + a.dev + 100:
        sys.exit("make_homophones: only %d usable sentences (is the fortunes package installed?)" % len(sents))
    rng = random.Random(a.seed)
    rng.shuffle(sents)
    test, dev, train = sents[:a.test], sents[a.test:a.test + a.dev], sents[a.test + a.dev:]
    groups = homophone_groups(pron)
    used = {w for s in sents for w in s}
    vocab = set()
    for w in used:
        vocab.update(groups[pron[w]])
    os.makedirs(os.path.join(a.out, "npy"), exist_ok=True)
    phones = sorted({p for w in vocab for p in pron[w]})
    units = ["<blank>", "|"] + phones
    uid = {u: i for i, u in enumerate(units)}
    with open(os.path.join(a.out, "tokens.txt"), "w") as f:
        f.write("\n".join(units) + "\n")
    with open(os.path.join(a.out, "lexicon.txt"), "w") as f:
        for w in sorted(vocab):
            f.write("%s\t%s\n" % (w, " ".join(pron[w])))
    write_arpa(os.path.join(a.out, "lm.arpa"), train, vocab)
    with open(os.path.join(a.out, "lm-train.txt"), "w") as f:  # in-domain context (bench_state.sh)
        f.write("".join(" ".join(s) + "\n" for s in train))
    errs = tot = 0
    hom_positions = 0
    for name, part in (("dev", dev), ("test", test)):
        with open(os.path.join(a.out, name + ".list"), "w") as fl, open(os.path.join(a.out, name + ".ref"), "w") as fr:
            for i, s in enumerate(part):
                utt = "%s-%04d" % (name, i)
                ids = []
                for k, w in enumerate(s):
                    if k:
                        ids.append(1)
                    ids.extend(uid[p] for p in pron[w])
                x = simulate(ids, len(units), rng, a.confuse, a.peak)
                path = os.path.join(a.out, "npy", utt + ".npy")
                np.save(path, x)
                fl.write("%s\t%s\n" % (utt, path))
                fr.write("%s\t%s\n" % (utt, " ".join(s)))
                e, n = greedy_per(x, ids)
                errs += e
                tot += n
                if name == "test":
                    hom_positions += sum(1 for w in s if len(groups[pron[w]]) > 1)
    per = 100.0 * errs / tot
    ngroups = sum(1 for p, ws in groups.items() if len(ws) > 1 and any(w in vocab for w in ws))
    stats = ("sentences: lm-train %d, dev %d, test %d\nlexicon words %d, phones %d, homophone groups %d\n"
             "test words at homophone positions: %d\ngreedy phone error rate (dev+test): %.2f%%\n"
             % (len(train), len(dev), len(test), len(vocab), len(phones), ngroups, hom_positions, per))
    open(os.path.join(a.out, "stats.txt"), "w").write(stats)
    sys.stdout.write(stats)


if __name__ == "__main__":
    main()
