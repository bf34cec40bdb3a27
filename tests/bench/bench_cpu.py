#!/usr/bin/env python3
"""make bench-cpu: one-core CTC decoding speed and WER of rwkv-decode,
flashlight-text's LexiconDecoder and pyctcdecode, with the same 3-gram ARPA LM.

Inputs (../shared/data): two real emission files, repeated to make the set.
  w2v  emissions/librispeech-121-121726-0000.wav2vec2.npy   422 x 32 raw logits
  pyc  emissions/librispeech-pyctcdecode-sample.npy          371 x 29 log-probs
Each copy gets tiny deterministic noise (uniform +-NOISE on the logits), is
log-softmaxed in float64 and written as float32 under OUT/npy/, so every
decoder reads the very same log-probabilities. The two files have different
token sets, so each decoder decodes them as two groups (one decoder or one
rwkv-decode process per group); the table reports the totals.

Timing excludes LM / lexicon / trie loading for every decoder:
  flashlight, pyctcdecode  perf_counter around the decode loop over arrays
                           already in memory (one untimed warm-up decode first)
  rwkv-decode              (a) its own stderr summary line ("decoded N ... in S s")
                           (b) wall time of the process minus the wall time of
                               the same command on a 1-utterance list (load)
The harness pins itself (and so rwkv-decode) to one CPU; rwkv-decode gets
--threads 1.

Weights (natural-log units; see tests/bench/README.md for the mapping):
  rwkv-decode  --lm-weight W --word-score S (its ARPA scores are natural log)
  pyctcdecode  alpha = W, beta = S (it converts KenLM's log10 to natural log)
  flashlight   lm_weight = W * ln(10), word_score = S (its KenLM gives log10)

Writes OUT/bench_cpu.tsv, OUT/ref.tsv, OUT/hyp/<decoder>.b<beam>.tsv.
"""
import argparse
import contextlib
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np

GROUPS = [
    # name, emissions stem, word delimiter unit, reference text
    ("w2v", "librispeech-121-121726-0000.wav2vec2", "|",
     "also a popular contrivance whereby love making may be suspended but not stopped "
     "during the picnic season"),
    ("pyc", "librispeech-pyctcdecode-sample", "<space>",
     "i have a good deal of will you remember and what i have set my mind upon no doubt "
     "i shall some day achieve"),
]
FRAME_S = 0.02  # wav2vec2 frame shift: 20 ms


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", default=os.environ.get("RD_SHARED_DATA", "../shared/data"))
    p.add_argument("--out", default="build/bench")
    p.add_argument("--utts", type=int, default=1000, help="utterances in the set (half per group) [1000]")
    p.add_argument("--beams", default="10,50,500")
    p.add_argument("--utts-per-beam", default="500:200",
                   help="fewer utterances for some beams (flashlight needs ~0.2 s per utterance at beam 500) [500:200]")
    p.add_argument("--lexicon", default=None,
                   help="flashlight-format lexicon [SHARED/lexicon/librispeech-lm-vocab.lst]")
    p.add_argument("--lm", default=None, help="ARPA file [SHARED/lm/librispeech-3gram-pruned.arpa]")
    p.add_argument("--lm-weight", type=float, default=0.5, help="natural-log units [0.5]")
    p.add_argument("--word-score", type=float, default=1.0, help="[1.0]")
    p.add_argument("--beam-threshold", type=float, default=25.0, help="flashlight, rwkv-decode [25]")
    p.add_argument("--beam-size-token", type=int, default=0,
                   help="flashlight, rwkv-decode: units tried per frame, 0 = all [0]")
    p.add_argument("--pyctc-beam-prune-logp", type=float, default=-10.0, help="pyctcdecode default [-10]")
    p.add_argument("--pyctc-token-min-logp", type=float, default=-5.0, help="pyctcdecode default [-5]")
    p.add_argument("--noise", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--rwkv-decode", default="bin/rwkv-decode")
    p.add_argument("--rwkv-wer", default="bin/rwkv-wer")
    p.add_argument("--cpu", type=int, default=None, help="CPU to pin to [the last one allowed]")
    p.add_argument("--decoders", default="flashlight,pyctcdecode,rwkv-decode")
    return p.parse_args()


def log(msg):
    print(msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def stderr_to(path):
    """Sends fd 2 (KenLM's C++ progress bars) to a file for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "a") as f:
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


# ---------------------------------------------------------------- data set

def log_softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(axis=1, keepdims=True)
    return (x - np.log(np.exp(x).sum(axis=1, keepdims=True))).astype(np.float32)


def read_tokens(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def build_set(a):
    """Writes OUT/npy/<id>.npy copies, OUT/<group>.list and OUT/ref.tsv.
    Returns {group: [(utt_id, path), ...]} (absolute paths)."""
    per_group = a.utts // len(GROUPS) + (a.utts % len(GROUPS) > 0)
    npy_dir = os.path.join(a.out, "npy")
    os.makedirs(npy_dir, exist_ok=True)
    stamp_path = os.path.join(a.out, "set.json")
    stamp = {"per_group": per_group, "noise": a.noise, "seed": a.seed, "version": 1,
             "sources": {g[0]: os.path.getsize(os.path.join(a.shared, "emissions", g[1] + ".npy"))
                         for g in GROUPS}}
    fresh = False
    if os.path.exists(stamp_path):
        with open(stamp_path) as f:
            fresh = json.load(f) == stamp
    items = {}
    with open(os.path.join(a.out, "ref.tsv"), "w") as ref:
        for gi, (name, stem, _delim, text) in enumerate(GROUPS):
            src = np.load(os.path.join(a.shared, "emissions", stem + ".npy"))
            rng = np.random.default_rng(a.seed + gi)
            items[name] = []
            for i in range(per_group):
                uid = "%s-%04d" % (name, i)
                path = os.path.abspath(os.path.join(npy_dir, uid + ".npy"))
                noise = rng.uniform(-a.noise, a.noise, size=src.shape)
                if not fresh:
                    np.save(path, log_softmax(src + noise))
                items[name].append((uid, path))
                ref.write("%s\t%s\n" % (uid, text))
    if not fresh:
        with open(stamp_path, "w") as f:
            json.dump(stamp, f)
    return items


def load_arrays(items):
    return {g: [np.load(p) for _, p in lst] for g, lst in items.items()}


# ---------------------------------------------------------------- WER

def edit_distance(r, h):
    prev = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        cur = [i] + [0] * len(h)
        for j in range(1, len(h) + 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
        prev = cur
    return prev[-1]


def wer(refs, hyps):
    """refs, hyps: {utt_id: text}; every ref id must be in hyps (missing = empty)."""
    errs = words = 0
    for uid, text in refs.items():
        r = text.split()
        errs += edit_distance(r, hyps.get(uid, "").split())
        words += len(r)
    return 100.0 * errs / max(words, 1)


# ---------------------------------------------------------------- decoders

class Flashlight:
    name = "flashlight"

    def __init__(self, a, lexicon_path, lm_path):
        from flashlight.lib.text.decoder import KenLM
        from flashlight.lib.text.dictionary import create_word_dict, load_words
        self.a = a
        self.lexicon = load_words(lexicon_path)
        self.word_dict = create_word_dict(self.lexicon)
        self.lm = KenLM(lm_path, self.word_dict)
        self.unk = self.word_dict.get_index("<unk>")
        self.tries = {}

    def prepare(self, group, tokens, delim):
        from flashlight.lib.text.decoder import SmearingMode, Trie
        tid = {t: i for i, t in enumerate(tokens)}
        sil = tid[delim]
        trie = Trie(len(tokens), sil)
        start = self.lm.start(False)
        for word, spellings in self.lexicon.items():
            w = self.word_dict.get_index(word)
            _, score = self.lm.score(start, w)
            for sp in spellings:
                if all(c in tid or c == "|" for c in sp):
                    trie.insert([sil if c == "|" else tid[c] for c in sp], w, score)
        trie.smear(SmearingMode.MAX)
        self.tries[group] = (trie, sil, tid["<blank>"], len(tokens))

    def decoder(self, group, beam):
        from flashlight.lib.text.decoder import CriterionType, LexiconDecoder, LexiconDecoderOptions
        trie, sil, blank, n_tok = self.tries[group]
        a = self.a
        opts = LexiconDecoderOptions(
            beam_size=beam, beam_size_token=a.beam_size_token or n_tok,
            beam_threshold=a.beam_threshold, lm_weight=a.lm_weight * math.log(10.0),
            word_score=a.word_score, unk_score=-math.inf, sil_score=0.0, log_add=False,
            criterion_type=CriterionType.CTC)
        dec = LexiconDecoder(opts, trie, self.lm, sil, blank, self.unk, [], False)
        wd = self.word_dict

        def run(em):
            r = dec.decode(em.ctypes.data, em.shape[0], em.shape[1])
            return " ".join(wd.get_entry(w) for w in r[0].words if w >= 0)
        return run


class PyCTC:
    name = "pyctcdecode"

    def __init__(self, a, lexicon_path, lm_path):
        import logging
        logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
        self.a, self.lm_path = a, lm_path
        with open(lexicon_path, encoding="utf-8") as f:
            self.unigrams = [line.split(None, 1)[0] for line in f if line.strip()]
        self.decoders = {}

    def prepare(self, group, tokens, delim):
        from pyctcdecode import build_ctcdecoder
        # Same columns, pyctcdecode's names: blank "", delimiter " ", <unk> its UNK;
        # the other specials keep their names (never part of a known word).
        sub = {"<blank>": "", delim: " ", "<unk>": "\u2047"}
        labels = [sub.get(t, t) for t in tokens]
        a = self.a
        self.decoders[group] = build_ctcdecoder(labels, self.lm_path, unigrams=self.unigrams,
                                                alpha=a.lm_weight, beta=a.word_score)

    def decoder(self, group, beam):
        dec, a = self.decoders[group], self.a

        def run(em):
            return dec.decode(em, beam_width=beam, beam_prune_logp=a.pyctc_beam_prune_logp,
                              token_min_logp=a.pyctc_token_min_logp)
        return run


def time_python(dec, group, beam, arrays):
    run = dec.decoder(group, beam)
    run(arrays[0])  # warm-up: first-touch of LM pages, allocator
    hyps = []
    t0 = time.perf_counter()
    for em in arrays:
        hyps.append(run(em))
    return time.perf_counter() - t0, hyps


SUMMARY_RE = re.compile(r"decoded (\d+) utterances? \((\d+) failed\), (\d+) frames in ([0-9.]+) s")


def run_rwkv(a, group, beam, items, tokens_path, lexicon, lm, tag, pruning=None):
    """Runs rwkv-decode on items; returns (wall_s, summary_s or None, {id: text}).
    pruning: None (the flashlight settings) or (beam_threshold, token_min_logp)."""
    lst = os.path.join(a.out, "lists", "%s.%s.list" % (group, tag))
    os.makedirs(os.path.dirname(lst), exist_ok=True)
    with open(lst, "w") as f:
        for uid, path in items:
            f.write("%s\t%s\n" % (uid, path))
    bt = a.beam_threshold if pruning is None else pruning[0]
    cmd = [a.rwkv_decode, "--list", lst, "--tokens", tokens_path, "--lexicon", lexicon, "--lm", lm,
           "--beam", str(beam), "--beam-threshold", repr(bt),
           "--beam-size-token", str(a.beam_size_token), "--lm-weight", repr(a.lm_weight),
           "--word-score", repr(a.word_score), "--threads", "1"]
    if pruning is not None:
        cmd += ["--token-min-logp", repr(pruning[1])]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("rwkv-decode exited %d: %s\n  command: %s"
                           % (p.returncode, p.stderr.strip()[-800:], " ".join(cmd)))
    hyps = {}
    for line in p.stdout.splitlines():
        uid, _, text = line.partition("\t")
        hyps[uid] = " ".join(text.split())
    m = None
    for m in SUMMARY_RE.finditer(p.stderr):
        pass
    return wall, (float(m.group(4)) if m else None), hyps


# ---------------------------------------------------------------- main

def pin_cpu(cpu):
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity)"
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[-1] if cpu is None else cpu
    os.sched_setaffinity(0, {cpu})
    return "pinned to CPU %d (of %d allowed)" % (cpu, len(allowed))


def run_rwkv_rows(a, rows, name, pruning, beam, sub, tokens, refs, frames):
    """Times rwkv-decode on every group of sub; appends its rows."""
    try:
        wall = load = summ = 0.0
        summ_ok = True
        hyps = {}
        tag = "b%d%s" % (beam, "" if pruning is None else ".pyc")
        for g, lst in sub.items():
            tp = tokens[g][0]
            w1, _, _ = run_rwkv(a, g, beam, lst[:1], tp, a.lexicon, a.lm, tag + ".one", pruning)
            wn, sn, h = run_rwkv(a, g, beam, lst, tp, a.lexicon, a.lm, tag, pruning)
            # wall(n) - wall(1) decodes n-1 utterances: scale to n.
            per = (wn - w1) / max(len(lst) - 1, 1)
            wall += per * len(lst)
            load += w1 - per
            summ_ok = summ_ok and sn is not None
            summ += sn or 0.0
            hyps.update(h)
        e = wer(refs, hyps)
        how = "" if pruning is None else ", --beam-threshold %g --token-min-logp %g" % pruning
        if summ_ok:
            rows.append(dict(decoder=name, beam=beam, utts=len(refs), frames=frames,
                             seconds=summ, wer=e, hyps=hyps, note="own summary line" + how))
        rows.append(dict(decoder=name + "(wall)" if pruning is None else name + "(w)", beam=beam,
                         utts=len(refs), frames=frames, seconds=wall, wer=e, hyps=hyps,
                         note="wall - 1-utt run (load ~%.2f s)%s" % (load, how)))
        log("bench-cpu: %-12s beam %4d: %5d utts in %7.2f s (summary %s), load ~%.2f s, WER %.2f%%"
            % (name, beam, len(refs), wall, "%.2f s" % summ if summ_ok else "absent", load, e))
    except (RuntimeError, OSError) as ex:
        log("bench-cpu: %s beam %d failed: %s" % (name, beam, ex))


def main():
    a = parse_args()
    a.lexicon = a.lexicon or os.path.join(a.shared, "lexicon", "librispeech-lm-vocab.lst")
    a.lm = a.lm or os.path.join(a.shared, "lm", "librispeech-3gram-pruned.arpa")
    beams = [int(b) for b in a.beams.split(",") if b]
    n_for = {b: a.utts for b in beams}
    for kv in filter(None, a.utts_per_beam.split(",")):
        b, n = kv.split(":")
        n_for[int(b)] = int(n)
    wanted = set(a.decoders.split(","))
    for path in (a.lexicon, a.lm):
        if not os.path.exists(path):
            log("bench-cpu: %s not found (set RD_SHARED_DATA or --shared)" % path)
            return 1
    os.makedirs(os.path.join(a.out, "hyp"), exist_ok=True)
    log("bench-cpu: " + pin_cpu(a.cpu))

    t0 = time.perf_counter()
    items = build_set(a)
    arrays = load_arrays(items)
    tokens = {}
    for name, stem, delim, _ in GROUPS:
        tokens[name] = (os.path.join(a.shared, "emissions", stem + ".tokens.txt"), delim)
    refs_all = {}
    with open(os.path.join(a.out, "ref.tsv")) as f:
        for line in f:
            uid, text = line.rstrip("\n").split("\t")
            refs_all[uid] = text
    frames_per = {g: arrays[g][0].shape[0] for g in arrays}
    log("bench-cpu: %d utterances (%s) in %.1f s"
        % (sum(len(v) for v in items.values()),
           ", ".join("%s: %d x %s" % (g, len(items[g]), arrays[g][0].shape) for g in items),
           time.perf_counter() - t0))

    decoders = []
    load_log = os.path.join(a.out, "load.log")
    open(load_log, "w").close()
    for cls in (Flashlight, PyCTC):
        if cls.name not in wanted:
            continue
        t0 = time.perf_counter()
        try:
            with stderr_to(load_log):
                d = cls(a, a.lexicon, a.lm)
                for g, (tp, delim) in tokens.items():
                    d.prepare(g, read_tokens(tp), delim)
        except ImportError as e:
            log("bench-cpu: %s skipped: %s (run tests/bench/bench_cpu.sh to install it)" % (cls.name, e))
            continue
        log("bench-cpu: %s loaded LM + lexicon in %.1f s (not timed)" % (cls.name, time.perf_counter() - t0))
        decoders.append(d)

    have_rwkv = "rwkv-decode" in wanted and os.access(a.rwkv_decode, os.X_OK)
    if "rwkv-decode" in wanted and not have_rwkv:
        log("bench-cpu: rwkv-decode skipped: %s not found or not executable (build it with `make`)"
            % a.rwkv_decode)

    rows = []  # dicts: decoder, beam, utts, frames, seconds, wer, note
    for beam in beams:
        n = n_for[beam]
        sub = {g: lst[:n // len(GROUPS) + (n % len(GROUPS) > 0)] for g, lst in items.items()}
        refs = {uid: refs_all[uid] for lst in sub.values() for uid, _ in lst}
        frames = sum(len(lst) * frames_per[g] for g, lst in sub.items())
        for d in decoders:
            secs, hyps = 0.0, {}
            for g, lst in sub.items():
                s, h = time_python(d, g, beam, arrays[g][:len(lst)])
                secs += s
                hyps.update((uid, " ".join(t.split())) for (uid, _), t in zip(lst, h))
            rows.append(dict(decoder=d.name, beam=beam, utts=len(refs), frames=frames, seconds=secs,
                             wer=wer(refs, hyps), hyps=hyps))
            log("bench-cpu: %-12s beam %4d: %5d utts in %7.2f s, WER %.2f%%"
                % (d.name, beam, len(refs), secs, rows[-1]["wer"]))
        if have_rwkv:
            pyc = (-a.pyctc_beam_prune_logp, a.pyctc_token_min_logp)
            for name, pruning in (("rwkv-decode", None), ("rwkv-decode(pyctc pruning)", pyc)):
                run_rwkv_rows(a, rows, name, pruning, beam, sub, tokens, refs, frames)
        write_hyps(a, beam, rows, refs)

    report(a, rows, beams)
    return 0


def write_hyps(a, beam, rows, refs):
    ref_path = os.path.join(a.out, "hyp", "ref.b%d.tsv" % beam)
    with open(ref_path, "w") as f:
        for uid, text in refs.items():
            f.write("%s\t%s\n" % (uid, text))
    for r in rows:
        if r["beam"] != beam or "hyps" not in r:
            continue
        stem = r["decoder"].replace("(pyctc pruning)", ".pyctc-pruning").split("(")[0]
        path = os.path.join(a.out, "hyp", "%s.b%d.tsv" % (stem, beam))
        with open(path, "w") as f:
            for uid in refs:
                f.write("%s\t%s\n" % (uid, r["hyps"].get(uid, "")))
        r["hyp_path"] = path
        del r["hyps"]
        if r["decoder"] == "rwkv-decode(wall)" and os.access(a.rwkv_wer, os.X_OK):
            p = subprocess.run([a.rwkv_wer, ref_path, path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            log("bench-cpu: rwkv-wer %s (cross-check): %s" % (os.path.basename(path), " | ".join(p.stdout.strip().splitlines()[:1])))


def report(a, rows, beams):
    base = {}
    for r in rows:
        r["fps"] = r["frames"] / r["seconds"] if r["seconds"] > 0 else float("inf")
        r["xrt"] = r["fps"] * FRAME_S
        base[(r["decoder"], r["beam"])] = r["fps"]
    cols = ["decoder", "beam", "utts", "frames", "seconds", "frames/s", "x_realtime", "WER%",
            "vs_flashlight", "vs_pyctcdecode", "note"]
    lines = []
    for r in rows:
        def ratio(other):
            b = base.get((other, r["beam"]))
            return "%.2f" % (r["fps"] / b) if b else "-"
        lines.append([r["decoder"], str(r["beam"]), str(r["utts"]), str(r["frames"]), "%.3f" % r["seconds"],
                      "%.0f" % r["fps"], "%.0f" % r["xrt"], "%.2f" % r["wer"], ratio("flashlight"),
                      ratio("pyctcdecode"), r.get("note", "")])
    tsv = os.path.join(a.out, "bench_cpu.tsv")
    with open(tsv, "w") as f:
        f.write("\t".join(cols) + "\n")
        for ln in lines:
            f.write("\t".join(ln) + "\n")
    widths = [max(len(c), *(len(ln[i]) for ln in lines)) if lines else len(c) for i, c in enumerate(cols)]
    print("\nCPU decoding, one core; LM %s, lexicon %s" % (os.path.basename(a.lm), os.path.basename(a.lexicon)))
    print("lm weight %g (natural log; flashlight %.4f on log10), word score %g, beam threshold %g, "
          "beam size token %s; pyctcdecode alpha %g beta %g beam_prune_logp %g token_min_logp %g"
          % (a.lm_weight, a.lm_weight * math.log(10.0), a.word_score, a.beam_threshold,
             a.beam_size_token or "all", a.lm_weight, a.word_score, a.pyctc_beam_prune_logp,
             a.pyctc_token_min_logp))
    print("x_realtime: audio seconds per decode second (20 ms frames); vs_X: frames/s ratio to X at the same beam\n")
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    for ln in lines:
        print("  ".join(v.ljust(w) for v, w in zip(ln, widths)).rstrip())
    print("\nwritten: %s" % tsv)


if __name__ == "__main__":
    sys.exit(main())
