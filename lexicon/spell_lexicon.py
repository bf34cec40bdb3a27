#!/usr/bin/env python3
"""Spells a word list in SentencePiece pieces: a lexicon for rwkv-decode's
--lexicon with a subword (SentencePiece/BPE) acoustic model.

    pip install sentencepiece
    python3 lexicon/spell_lexicon.py --model tokenizer.model words.txt > lexicon.txt
    rwkv-decode --tokens tokens.txt --lexicon lexicon.txt --lm lm.arpa utt.npy

words.txt: one word a line (a lexicon or vocabulary: only the first field of
each line is read; blank lines and repeats are skipped; '-' reads stdin).
Each output line is 'word<TAB>piece piece ...' as the model encodes the word
at the start of a sentence ('cat' -> '▁ca t'), the form the acoustic model
emits. With --tokens, words needing a piece that the tokens file lacks are
left out and counted on stderr (rwkv-decode would skip them too).
--nbest K adds up to K-1 other segmentations per word (SentencePiece's
n-best encodings), as alternate pronunciations.
"""
import argparse
import sys


def read_units(path):
    """The unit names of a tokens file (one a line, or 'unit id' lines)."""
    with open(path, encoding="utf-8-sig") as f:
        return {line.split()[0] for line in f if line.strip()}


def read_words(path):
    f = sys.stdin if path == "-" else open(path, encoding="utf-8-sig")
    seen, words = set(), []
    with f:
        for line in f:
            fields = line.split()
            if fields and fields[0] not in seen:
                seen.add(fields[0])
                words.append(fields[0])
    return words


def spell(sp, word, nbest):
    """The word's piece sequences, the model's own first."""
    first = sp.encode_as_pieces(word)
    out = [first]
    if nbest > 1:
        for pieces in sp.nbest_encode_as_pieces(word, nbest):
            if pieces not in out:
                out.append(pieces)
    return out[:max(nbest, 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="SentencePiece .model file")
    ap.add_argument("--tokens", help="the acoustic model's tokens file: drop words using other pieces")
    ap.add_argument("--nbest", type=int, default=1, help="segmentations per word (default 1)")
    ap.add_argument("words", help="word list (first field of each line), '-' for stdin")
    args = ap.parse_args()
    import sentencepiece as spm  # tools only: the C program never uses it

    sp = spm.SentencePieceProcessor(model_file=args.model)
    units = read_units(args.tokens) if args.tokens else None
    kept = dropped = 0
    first_missing = None
    for word in read_words(args.words):
        for pieces in spell(sp, word, args.nbest):
            missing = [p for p in pieces if units is not None and p not in units]
            if missing:
                dropped += 1
                first_missing = first_missing or (word, missing[0])
                continue
            sys.stdout.write("%s\t%s\n" % (word, " ".join(pieces)))
            kept += 1
    if dropped:
        sys.stderr.write("spell_lexicon: %d of %d spellings left out: pieces not in %s (first: '%s' needs '%s')\n"
                         % (dropped, kept + dropped, args.tokens, first_missing[0], first_missing[1]))
    return 0 if kept else 1


if __name__ == "__main__":
    sys.exit(main())
