#!/usr/bin/env python3
"""Builds the Chinese test set (fixed seed; re-running gives the same files).

Sentences from Debian's `fortunes-zh` (chinese, tang300, song100) are cut at
punctuation, segmented into words of the Rime dictionary (longest match),
turned into toneless pinyin with the dictionary (each word's heaviest
reading) and into simulated CTC emissions over the syllables: peaky
posteriors, 1-3 frames a syllable, 0-2 blank frames, syllable confusions
(greedy syllable error 5-15%). Every homophone of a word gives the same
emissions: only the prior or an LM can choose the characters.

Splits (disjoint sentences): train (text for the word n-gram), dev (tuning),
test (held out; report CER here).

Writes into OUT (default build/bench/zh):
  tokens.txt          <blank>, then every syllable of the dictionary
  lm.arpa             word 3-gram (make_homophones.write_arpa) on train only
  train.txt           training sentences, words separated by spaces
  {dev,test}.list     utt_id<TAB>path.npy
  {dev,test}.ref      utt_id<TAB>characters (no spaces; score CER)
  {dev,test}.words    utt_id<TAB>words separated by spaces
  npy/*.npy           log-probabilities, float32 [T, V]
  stats.txt           sizes, greedy syllable error rate
"""
import os
import random
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_homophones import greedy_per, simulate, split_args, write_arpa  # noqa: E402

FORTUNES = ["/usr/share/games/fortunes/chinese", "/usr/share/games/fortunes/tang300",
            "/usr/share/games/fortunes/song100"]
CJK = re.compile(r"^[\u4e00-\u9fff]+$")


def read_dict(path, syllables):
    best = {}  # word -> (weight, pinyin)
    body = False
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line == "...":
            body = True
            continue
        if not body or not line or line.startswith("#"):
            continue
        f = line.split("\t")
        if len(f) < 2:
            continue
        syllables.update(f[1].split())
        w = float(f[2]) if len(f) > 2 and f[2] else 1.0
        if f[0] not in best or w > best[f[0]][0]:
            best[f[0]] = (w, f[1])
    return best


def sentences():
    esc = re.compile(r"\x1b\[[0-9;]*m")
    for path in FORTUNES:
        if not os.path.exists(path):
            continue
        text = esc.sub("", open(path, encoding="utf-8", errors="replace").read())
        for piece in re.split(r"[，。！？；：、,.!?;:\s%《》「」『』（）()“”\"'—…\-]+", text):
            if CJK.match(piece) and 4 <= len(piece) <= 16:
                yield piece


def segment(s, d, maxlen=6):
    out, i = [], 0
    while i < len(s):
        for n in range(min(maxlen, len(s) - i), 0, -1):
            if s[i:i + n] in d:
                out.append(s[i:i + n])
                i += n
                break
        else:
            return None
    return out


def main():
    a = split_args("build/bench/zh")
    if not os.path.exists(FORTUNES[0]):
        sys.exit("make_zh.py: needs Debian's fortunes-zh (apt-get install fortunes-zh)")
    dict_path = os.path.join(a.shared, "lexicon/pinyin_simp.dict.yaml")
    syl = set()
    d = read_dict(dict_path, syl)
    syl = sorted(syl)
    tokens = ["<blank>"] + syl
    uid = {s: i for i, s in enumerate(tokens)}
    seen, sents = set(), []
    for s in sentences():
        if s in seen:
            continue
        seen.add(s)
        w = segment(s, d)
        if w:
            sents.append(w)
    rng = random.Random(a.seed)
    rng.shuffle(sents)
    test, dev, train = sents[:a.test], sents[a.test:a.test + a.dev], sents[a.test + a.dev:]
    os.makedirs(os.path.join(a.out, "npy"), exist_ok=True)
    with open(os.path.join(a.out, "tokens.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    with open(os.path.join(a.out, "train.txt"), "w", encoding="utf-8") as f:
        f.write("".join(" ".join(s) + "\n" for s in train))
    vocab = {w for s in train for w in s} | {"<unk>"}
    write_arpa(os.path.join(a.out, "lm.arpa"), train, vocab)
    errs = total = 0
    for name, part in (("dev", dev), ("test", test)):
        with open(os.path.join(a.out, name + ".list"), "w") as fl, \
                open(os.path.join(a.out, name + ".ref"), "w", encoding="utf-8") as fr, \
                open(os.path.join(a.out, name + ".words"), "w", encoding="utf-8") as fw:
            for i, s in enumerate(part):
                utt = "%s-%04d" % (name, i)
                ids = [uid[y] for w in s for y in d[w][1].split()]
                x = simulate(ids, len(tokens), rng, a.confuse, a.peak, first=1)
                p = os.path.join(a.out, "npy", utt + ".npy")
                np.save(p, x)
                errs += greedy_per(x, ids, first=1)[0]
                total += len(ids)
                fl.write("%s\t%s\n" % (utt, p))
                fr.write("%s\t%s\n" % (utt, "".join(s)))
                fw.write("%s\t%s\n" % (utt, " ".join(s)))
    stats = ("sentences: train %d, dev %d, test %d (fortunes-zh, seed %d)\n"
             "syllables %d, dictionary words %d\n"
             "greedy syllable error rate (dev+test): %.2f%%\n"
             % (len(train), len(dev), len(test), a.seed, len(syl), len(d), 100.0 * errs / max(total, 1)))
    open(os.path.join(a.out, "stats.txt"), "w").write(stats)
    sys.stdout.write(stats)


if __name__ == "__main__":
    main()
