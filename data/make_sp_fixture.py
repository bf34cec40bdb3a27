#!/usr/bin/env python3
"""Writes data/subword/: a tiny SentencePiece fixture for the subword tests
(tests/test_subword.c, tests/test_cli.c).

    pip install sentencepiece numpy
    python3 data/make_sp_fixture.py [--shared ../shared/data]

Trains a SentencePiece BPE model (100 pieces, identity normalization) on the
first 20,000 sentences of ../shared/data/text/lm-train.txt and writes:
  sp.model        the SentencePiece model (lexicon/spell_lexicon.py reads it)
  tokens.txt      its pieces, ids 0..99, then <blank> (id 100), NeMo's layout
  lexicon.txt     the 60 commonest words of that text and the sentences'
                  words, spelled in pieces by lexicon/spell_lexicon.py
  lm.arpa         a unigram ARPA over the lexicon's words (counts in that
                  text, add-one), so a sentence's LM score is a plain sum
  NAME.npy        emissions [T, 101] (log-probabilities) of each sentence's
                  pieces: each piece 1-2 frames, a blank after some (always
                  between two equal pieces), 8 nats above gaussian noise
  NAME.words.txt  'word first_frame last_frame' of each word of the sentence
Re-runnable: the output depends only on the input text and the seed.
"""
import argparse
import collections
import io
import itertools
import os
import subprocess
import sys

import numpy as np
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "subword")
SENTENCES = {"cat": "the cat sat on the mat", "zebra": "a quick zebra jumps over the lazy dog"}


def train(lines):
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, model_type="bpe",
                                   vocab_size=100, character_coverage=1.0, bos_id=-1, eos_id=-1, unk_id=0,
                                   num_threads=1, normalization_rule_name="identity", minloglevel=2)
    return buf.getvalue()


def emissions(pieces, ids, rng, V, blank):
    """Frames of the piece sequence; returns log-probs [T, V] and each piece's (first, last) frame."""
    path, spans = [blank, blank], []
    for k, p in enumerate(pieces):
        first = len(path)
        path += [ids[p]] * int(rng.integers(1, 3))
        spans.append((first, len(path) - 1))
        if rng.random() < 0.5 or (k + 1 < len(pieces) and pieces[k + 1] == p):
            path.append(blank)
    path += [blank, blank]
    x = rng.normal(0.0, 1.0, size=(len(path), V))
    x[np.arange(len(path)), path] += 8.0
    x -= x.max(axis=1, keepdims=True)
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    return x.astype(np.float32), spans


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared", "data"))
    args = ap.parse_args()
    with open(os.path.join(args.shared, "text", "lm-train.txt"), encoding="utf-8") as f:
        lines = [line.strip() for line in itertools.islice(f, 20000)]
    os.makedirs(OUT, exist_ok=True)
    model = train(lines)
    with open(os.path.join(OUT, "sp.model"), "wb") as f:
        f.write(model)
    sp = spm.SentencePieceProcessor(model_proto=model)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    with open(os.path.join(OUT, "tokens.txt"), "w", encoding="utf-8") as f:
        f.write("".join(p + "\n" for p in pieces + ["<blank>"]))

    counts = collections.Counter(w for line in lines for w in line.split())
    words = [w for w, _ in counts.most_common(60)]
    for s in SENTENCES.values():
        words += [w for w in s.split() if w not in words]
    with open(os.path.join(OUT, "words.tmp"), "w", encoding="utf-8") as f:
        f.write("".join(w + "\n" for w in words))
    spelled = subprocess.run([sys.executable, os.path.join(HERE, "..", "lexicon", "spell_lexicon.py"), "--model",
                              os.path.join(OUT, "sp.model"), "--tokens", os.path.join(OUT, "tokens.txt"),
                              os.path.join(OUT, "words.tmp")], check=True, capture_output=True, text=True).stdout
    os.remove(os.path.join(OUT, "words.tmp"))
    with open(os.path.join(OUT, "lexicon.txt"), "w", encoding="utf-8") as f:
        f.write(spelled)

    total = sum(counts[w] + 1 for w in words) + len(lines) + 1
    with open(os.path.join(OUT, "lm.arpa"), "w", encoding="utf-8") as f:
        f.write("\\data\\\nngram 1=%d\n\n\\1-grams:\n" % (len(words) + 3))
        f.write("%.6f\t</s>\n-99\t<s>\n%.6f\t<unk>\n" % (np.log10((len(lines) + 1) / total), np.log10(1 / total)))
        for w in words:
            f.write("%.6f\t%s\n" % (np.log10((counts[w] + 1) / total), w))
        f.write("\n\\end\\\n")

    rng = np.random.default_rng(13)
    ids = {p: i for i, p in enumerate(pieces)}
    for name, sentence in SENTENCES.items():
        seq = sp.encode_as_pieces(sentence)
        x, spans = emissions(seq, ids, rng, len(pieces) + 1, len(pieces))
        np.save(os.path.join(OUT, name + ".npy"), x)
        rows, k = [], 0
        for w in sentence.split():
            n = len(sp.encode_as_pieces(w))  # a word's pieces are the same inside the sentence
            rows.append("%s %d %d\n" % (w, spans[k][0], spans[k + n - 1][1]))
            k += n
        assert k == len(seq), "a word's pieces differ inside the sentence"
        with open(os.path.join(OUT, name + ".words.txt"), "w", encoding="utf-8") as f:
            f.write("".join(rows))
        print("%s: %d frames, pieces %s" % (name, x.shape[0], " ".join(seq)))


if __name__ == "__main__":
    main()
