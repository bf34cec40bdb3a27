#!/usr/bin/env python3
"""Hotword benchmark helper (make bench-hotwords).

pick:  rare words of the test references (in no training or dev sentence,
       once in the test set, in the lexicon) become the hotwords; as many
       distractors are drawn from lexicon words that never occur in the test
       references (half of them homophones of reference words, the hard
       case). Fixed seed. Writes hot.txt (hotwords and distractors, one a
       line) and hot.words / distractor.words.
score: recall of the hotwords (occurrences in the references found at the
       same utterance in the hypotheses) and false insertions of the
       distractors (they never occur in the references, so every one in a
       hypothesis is false); prints "recall_pct found total false_insertions".
many:  N phrases of 1-3 lexicon words (for decode-time measurements).
Text: lines 'utt_id<TAB>text'; CJK text (no spaces) is compared by
substring, other text by whole words.
"""
import argparse
import collections
import random
import sys


def read_ref(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line:
            continue
        k, _, t = line.partition("\t")
        out[k] = t
    return out


def lexicon_words(path, rime):
    words, units = [], collections.defaultdict(list)
    body = not rime
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if rime and line == "...":
            body = True
            continue
        if not body or not line or line.startswith("#"):
            continue
        f = line.split("\t") if rime else line.split()
        if len(f) < 2:
            continue
        w = f[0]
        pron = f[1] if rime else " ".join(f[1:])
        if w not in units:
            words.append(w)
        units[pron].append(w)
    homo = {}
    for p, ws in units.items():
        for w in ws:
            homo.setdefault(w, set()).update(x for x in ws if x != w)
    return words, homo


def is_cjk(s):
    return any("\u3400" <= c <= "\u9fff" for c in s)


def count(text, w):
    if is_cjk(w):
        return text.replace(" ", "").count(w)
    return text.split().count(w)


def pick(a):
    rng = random.Random(a.seed)
    test = read_ref(a.test)
    seen = collections.Counter()
    for path in a.train:
        for line in open(path, encoding="utf-8"):
            t = line.rstrip("\n").partition("\t")[2] if "\t" in line else line
            if a.cjk:
                seen.update(t.split())
            else:
                seen.update(t.split())
    words, homo = lexicon_words(a.lexicon, a.rime)
    lex = set(words)
    tc = collections.Counter()
    for t in test.values():
        tc.update(t.split())
    cand = sorted(w for w, c in tc.items() if c == 1 and seen[w] == 0 and w in lex and len(w) >= a.min_len)
    rng.shuffle(cand)
    hot = cand[: a.n]
    alltext = " ".join(test.values())
    h_dis = sorted({x for w in tc for x in homo.get(w, ()) if count(alltext, x) == 0 and x in lex})
    rng.shuffle(h_dis)
    dis = h_dis[: len(hot) // 2]
    pool = [w for w in words if count(alltext, w) == 0 and w not in dis and len(w) >= a.min_len]
    rng.shuffle(pool)
    dis += pool[: len(hot) - len(dis)]
    with open(a.out + "/hot.words", "w", encoding="utf-8") as f:
        f.write("\n".join(hot) + "\n")
    with open(a.out + "/distractor.words", "w", encoding="utf-8") as f:
        f.write("\n".join(dis) + "\n")
    with open(a.out + "/hot.txt", "w", encoding="utf-8") as f:
        f.write("# hotwords (rare words of the test references) and distractors (never in them)\n")
        f.write("\n".join(hot + dis) + "\n")
    print(len(hot), len(dis))


def score(a):
    ref, hyp = read_ref(a.ref), read_ref(a.hyp)
    hot = [w for w in open(a.hot, encoding="utf-8").read().split("\n") if w]
    dis = [w for w in open(a.distractors, encoding="utf-8").read().split("\n") if w]
    found = total = false = 0
    for k, r in ref.items():
        h = hyp.get(k, "")
        for w in hot:
            n = count(r, w)
            total += n
            found += min(n, count(h, w))
        for w in dis:
            false += count(h, w)
    print("%.1f %d %d %d" % (100.0 * found / max(total, 1), found, total, false))


def many(a):
    rng = random.Random(a.seed)
    words, _ = lexicon_words(a.lexicon, a.rime)
    out = []
    for _ in range(a.n):
        k = rng.choice((1, 2, 3))
        out.append(" ".join(rng.choice(words) for _ in range(k)))
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pick")
    p.add_argument("--test", required=True)
    p.add_argument("--train", nargs="+", required=True)
    p.add_argument("--lexicon", required=True)
    p.add_argument("--rime", action="store_true")
    p.add_argument("--cjk", action="store_true")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--min-len", type=int, default=5)
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--out", required=True)
    s = sub.add_parser("score")
    s.add_argument("ref")
    s.add_argument("hyp")
    s.add_argument("hot")
    s.add_argument("distractors")
    m = sub.add_parser("many")
    m.add_argument("--lexicon", required=True)
    m.add_argument("--rime", action="store_true")
    m.add_argument("--n", type=int, required=True)
    m.add_argument("--seed", type=int, default=14)
    a = ap.parse_args()
    {"pick": pick, "score": score, "many": many}[a.cmd](a)


if __name__ == "__main__":
    main()
