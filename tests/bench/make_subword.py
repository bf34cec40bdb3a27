#!/usr/bin/env python3
"""Builds the subword (SentencePiece) benchmark set; fixed seed, re-running
gives the same files.

A SentencePiece BPE model (--vocab pieces, identity normalization) is trained
on the first --train sentences of ../shared/data/text/lm-train.txt; the test
sentences are the first --test of lm-val.txt with 3 to 20 words. Their piece
sequences become simulated CTC emissions (make_homophones.simulate: each
piece peaks 1-3 frames, then 0-2 blank frames; a frame is confused with
another piece with probability --confuse).

Writes into OUT (default build/bench/subword):
  sp.model, tokens.txt   the model; <blank>, then its pieces (<unk> is id 1)
  train.txt              the training sentences (for the word 3-gram)
  words.txt              training words seen at least twice (the lexicon's words)
  lexicon.txt            those words spelled in pieces (lexicon/spell_lexicon.py)
  test.list, test.ref    utt_id<TAB>path.npy, utt_id<TAB>text
  npy/*.npy              log-probabilities, float32 [T, V]
  stats.txt              sizes, greedy piece error rate
"""
import argparse
import collections
import io
import itertools
import os
import random
import subprocess
import sys

import numpy as np
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_homophones import greedy_per, simulate  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default="../shared/data")
    ap.add_argument("--out", default="build/bench/subword")
    ap.add_argument("--train", type=int, default=100000)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--vocab", type=int, default=500)
    ap.add_argument("--confuse", type=float, default=0.1)
    ap.add_argument("--peak", type=float, default=0.6)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "npy"), exist_ok=True)
    with open(os.path.join(a.shared, "text", "lm-train.txt"), encoding="utf-8") as f:
        train = [line.strip() for line in itertools.islice(f, a.train)]
    with open(os.path.join(a.shared, "text", "lm-val.txt"), encoding="utf-8") as f:
        test = [s for s in (line.strip() for line in f) if 3 <= len(s.split()) <= 20][:a.test]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(train), model_writer=buf, model_type="bpe",
                                   vocab_size=a.vocab, character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=0,
                                   num_threads=1, normalization_rule_name="identity", minloglevel=2)
    model = os.path.join(a.out, "sp.model")
    with open(model, "wb") as f:
        f.write(buf.getvalue())
    sp = spm.SentencePieceProcessor(model_file=model)
    tokens = ["<blank>"] + [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    with open(os.path.join(a.out, "tokens.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))
    with open(os.path.join(a.out, "train.txt"), "w", encoding="utf-8") as f:
        f.write("".join(s + "\n" for s in train))
    counts = collections.Counter(w for s in train for w in s.split())
    with open(os.path.join(a.out, "words.txt"), "w", encoding="utf-8") as f:
        f.write("".join(w + "\n" for w, c in sorted(counts.items()) if c >= 2))
    with open(os.path.join(a.out, "lexicon.txt"), "w", encoding="utf-8") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "lexicon", "spell_lexicon.py"), "--model", model,
                        "--tokens", os.path.join(a.out, "tokens.txt"), os.path.join(a.out, "words.txt")],
                       check=True, stdout=f)
    uid = {t: i for i, t in enumerate(tokens)}
    rng = random.Random(a.seed)
    errs = total = 0
    with open(os.path.join(a.out, "test.list"), "w") as fl, \
            open(os.path.join(a.out, "test.ref"), "w", encoding="utf-8") as fr:
        for i, s in enumerate(test):
            utt = "sw-%04d" % i
            ids = [uid[p] for p in sp.encode_as_pieces(s)]
            x = simulate(ids, len(tokens), rng, a.confuse, a.peak, first=2)
            path = os.path.join(a.out, "npy", utt + ".npy")
            np.save(path, x)
            e, n = greedy_per(x, ids, first=2)
            errs += e
            total += n
            fl.write("%s\t%s\n" % (utt, path))
            fr.write("%s\t%s\n" % (utt, s))
    stats = ("subword set: %d BPE pieces (SentencePiece, trained on %d sentences), %d test sentences, "
             "%d lexicon words\ngreedy piece error rate: %.2f%% (confuse %.2f, peak %.2f, seed %d)\n"
             % (a.vocab, len(train), len(test), sum(1 for c in counts.values() if c >= 2), 100.0 * errs / total,
                a.confuse, a.peak, a.seed))
    with open(os.path.join(a.out, "stats.txt"), "w") as f:
        f.write(stats)
    sys.stdout.write(stats)


if __name__ == "__main__":
    main()
