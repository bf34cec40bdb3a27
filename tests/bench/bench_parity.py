#!/usr/bin/env python3
"""make bench-parity: rwkv-decode against flashlight-text's LexiconDecoder on
random emissions (issue 17). Two LMs: KenLM's test 3-gram kenlm-toy1.arpa
(words a, b, c) and its test 5-gram kenlm-test.arpa (its alphabetic words,
spelled letter by letter). For each LM, CASES utterances: a random word
sequence, rendered as CTC emissions (1-3 frames a unit, blanks, noise, 20% of
frames with a wrong unit on top). Both decoders: the same lexicon and ARPA,
log-add, unk forbidden, beam 500, threshold 1000, every unit each frame;
flashlight's lm_weight = W * ln 10 (its KenLM gives log10), word score equal.

The end of an utterance: rwkv-decode finishes a lexicon word that the
emissions end inside of (no delimiter after it), flashlight's LexiconDecoder,
whose spellings end with the delimiter, only a word the delimiter closed. So
flashlight decodes the emissions with one more frame on which only the
delimiter is possible (log-probability 0): every path of ours is then one path
of flashlight's with the same score, and the comparison measures the scoring,
not this convention. Without that frame flashlight cannot read a word whose
last unit is on the last frame (the noise puts one there in 3 of the 150
cases); those cases are counted apart ("as given").

Counts: same best transcript, n-best lists of rwkv-decode holding one text
twice, the score differences of the best hypotheses, and the same best
transcript against flashlight on the emissions as given."""
import json, math, os, subprocess, sys, tempfile
import numpy as np

CASES = int(os.environ.get("CASES", "75"))
SHARED = os.environ.get("SHARED", "../shared/data")
BIN = os.environ.get("RWKV_DECODE", "bin/rwkv-decode")
W, S, BEAM = 0.8, 0.5, 500


def vocab(arpa):
    words, on = [], False
    for line in open(arpa):
        if line.startswith("\\1-grams"):
            on = True
            continue
        if on and line.startswith("\\"):
            break
        f = line.split()
        if on and len(f) >= 2 and f[1].isalpha() and f[1].islower():
            words.append(f[1])
    return words


def emissions(rng, units, seq):
    """Peaky random CTC log-probabilities for the unit sequence seq."""
    V = len(units)
    frames = []
    prev = None
    for u in seq:
        if u == prev or rng.random() < 0.5:
            frames.append(0)  # a blank between repeats, sometimes elsewhere
        frames += [u] * int(rng.integers(1, 4))
        prev = u
    frames.append(0)
    x = rng.normal(0, 1.0, (len(frames), V)).astype(np.float32)
    for t, u in enumerate(frames):
        x[t, u] += 6.0
        if rng.random() < 0.2:
            x[t, int(rng.integers(0, V))] += 5.5
    x -= np.log(np.exp(x).sum(1, keepdims=True))
    return x


def run(tag, arpa, words, rng, work):
    from flashlight.lib.text.decoder import (CriterionType, KenLM, LexiconDecoder, LexiconDecoderOptions,
                                             SmearingMode, Trie)
    from flashlight.lib.text.dictionary import create_word_dict, load_words
    letters = sorted({c for w in words for c in w})
    units = ["<blank>", "|"] + letters
    uid = {u: i for i, u in enumerate(units)}
    tok = os.path.join(work, f"{tag}.tokens.txt")
    lex = os.path.join(work, f"{tag}.lex")
    open(tok, "w").write("".join(u + "\n" for u in units))
    open(lex, "w").write("".join(f"{w}\t{' '.join(w)} |\n" for w in words))
    flex = os.path.join(work, f"{tag}.fl.lex")
    open(flex, "w").write("".join(f"{w}\t{' '.join(w)} |\n" for w in words) + "<unk>\t|\n")
    wd = create_word_dict(load_words(flex))
    lm = KenLM(arpa, wd)
    trie = Trie(len(units), uid["|"])
    start = lm.start(False)
    for w in words:
        _, sc = lm.score(start, wd.get_index(w))
        trie.insert([uid[c] for c in w] + [uid["|"]], wd.get_index(w), sc)
    trie.smear(SmearingMode.MAX)
    opts = LexiconDecoderOptions(beam_size=BEAM, beam_size_token=len(units), beam_threshold=1000.0,
                                 lm_weight=W * math.log(10.0), word_score=S, unk_score=-math.inf,
                                 sil_score=0.0, log_add=True, criterion_type=CriterionType.CTC)
    dec = LexiconDecoder(opts, trie, lm, uid["|"], uid["<blank>"], -1, [], False)
    lst, fl = [], {}
    for k in range(CASES):
        ws = [words[int(rng.integers(0, len(words)))] for _ in range(int(rng.integers(1, 5)))]
        seq = [uid[c] for c in ("|".join(ws) + "|")]  # flashlight ends words at the delimiter
        x = emissions(rng, units, seq)
        path = os.path.join(work, f"{tag}-{k:03d}.npy")
        np.save(path, x)
        lst.append(f"{tag}-{k:03d}\t{path}\n")
        xe = np.full((x.shape[0] + 1, x.shape[1]), -np.inf, np.float32)
        xe[:-1] = x
        xe[-1, uid["|"]] = 0.0  # closes a last word that ends on the last frame (see above)
        r = dec.decode(xe.ctypes.data, xe.shape[0], xe.shape[1])
        r0 = dec.decode(x.ctypes.data, x.shape[0], x.shape[1])
        text = lambda h: " ".join(wd.get_entry(i) for i in h.words if i >= 0)
        fl[f"{tag}-{k:03d}"] = (text(r[0]), r[0].score, text(r0[0]), [text(h) for h in r[:5]])
    lf = os.path.join(work, f"{tag}.list")
    open(lf, "w").write("".join(lst))
    out = subprocess.run([BIN, "--list", lf, "--tokens", tok, "--lexicon", lex, "--lm", arpa,
                          "--lm-weight", str(W), "--word-score", str(S), "--beam", str(BEAM),
                          "--beam-threshold", "1000", "--nbest", "10", "--format", "json", "--quiet"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench-parity: rwkv-decode failed: {out.stderr}")
    same = dups = same0 = same5 = 0
    diffs = []
    for line in out.stdout.splitlines():
        j = json.loads(line)
        texts = [h["text"] for h in j["nbest"]]
        dups += len(set(texts)) < len(texts)
        ftext, fscore, ftext0, ftop5 = fl[j["utt"]]
        same0 += texts[0] == ftext0
        same5 += texts[:5] == ftop5
        if texts[0] == ftext:
            same += 1
            diffs.append(j["nbest"][0]["score"] - fscore)
        else:
            print(f"  {j['utt']}: rwkv-decode '{texts[0]}' {j['nbest'][0]['score']:.4f}, "
                  f"flashlight '{ftext}' {fscore:.4f}")
    d = np.abs(np.array(diffs)) if diffs else np.zeros(1)
    return same, dups, d, same0, same5


def main():
    rng = np.random.default_rng(17)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for tag, arpa in (("3gram", f"{SHARED}/lm/kenlm-toy1.arpa"), ("5gram", f"{SHARED}/lm/kenlm-test.arpa")):
            rows.append((tag,) + run(tag, arpa, vocab(arpa), rng, work))
    print("| LM | cases | same best transcript | n-best lists with a duplicate text "
          "| |score diff| mean / max (same transcript) | same top 5 in order | same best, emissions as given |")
    print("|---|---|---|---|---|---|---|")
    for tag, same, dups, d, same0, same5 in rows:
        print(f"| {tag} | {CASES} | {same} | {dups} | {d.mean():.2e} / {d.max():.2e} | {same5} | {same0} |")
    tot = sum(r[1] for r in rows)
    d = np.concatenate([r[3] for r in rows])
    print(f"total: same best transcript on {tot} of {2 * CASES}; duplicate texts in {sum(r[2] for r in rows)} "
          f"n-best lists; |score diff| mean {d.mean():.2e}, max {d.max():.2e}; "
          f"as given (no closing frame for flashlight): {sum(r[4] for r in rows)} of {2 * CASES}")


if __name__ == "__main__":
    main()
