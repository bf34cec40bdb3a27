#!/usr/bin/env python3
"""Writes a random RWKV-7 ("x070") model in the rwkv.cpp .bin format.

The default is shaped like the RWKV-7 0.1B release (12 layers, width 768,
head size 64, vocabulary 65536, FFN 3072, LoRA ranks decay 64 / a 64 /
value 32 / gate 128) so that our runtime and rwkv.cpp can be timed on the
identical file: tests/bench/bench_rwkv.sh writes it once to
build/bench/rwkv7-0.1b-random.bin.

Layout: the tensor names, order, number of dimensions and data types are
those of ../shared/data/rwkv/tiny-rwkv-7v0-*.bin (the real rwkv.cpp layout).
Header: 32-bit little-endian words magic 0x67676d66, file version 101,
n_vocab, n_embed, n_layer, data type (0 FP32, 1 FP16). Each tensor: n_dims,
name length, data type, dims (ggml order: the fastest-varying dimension
first), the name, then the data. Matrices are FP16 with --dtype fp16 (the
default, like the released FP16 files); vectors are always FP32.

Values are random with a fixed seed (numpy PCG64) and magnitudes like a
trained model's, so nothing overflows: matrices uniform in
+-1/sqrt(fan_in), layer-norm weights near 1 and biases near 0, token-shift
mixes in [0, 1], decay offsets w0 in [-6, -1], and so on.

    python3 tests/bench/make_rwkv_model.py [--out PATH] [--seed N]
        [--layers 12] [--embd 768] [--vocab 65536] [--ffn 3072] [--head 64]
        [--dtype fp16|fp32]
"""
import argparse
import os
import struct
import sys

import numpy as np

MAGIC = 0x67676D66
FILE_VERSION = 101


class Writer:
    def __init__(self, f, rng, fp16):
        self.f = f
        self.rng = rng
        self.fp16 = fp16
        self.count = 0

    def tensor(self, name, dims, lo, hi, matrix):
        """dims in ggml order (fastest first); uniform values in [lo, hi)."""
        dt = 1 if (matrix and self.fp16) else 0
        n = int(np.prod(dims))
        data = self.rng.uniform(lo, hi, size=n).astype(np.float32)
        if dt == 1:
            data = data.astype(np.float16)
        name_b = name.encode()
        self.f.write(struct.pack("<3i", len(dims), len(name_b), dt))
        self.f.write(struct.pack("<%di" % len(dims), *dims))
        self.f.write(name_b)
        self.f.write(data.astype("<f2" if dt == 1 else "<f4").tobytes())
        self.count += 1

    def vec(self, name, n, lo, hi, ndim=3):
        """A per-channel vector: (n,) or (n, 1, 1) as in the real files."""
        self.tensor(name, [n] + [1] * (ndim - 1), lo, hi, False)

    def mat(self, name, n_in, n_out):
        """A matrix applied as y = W x: ggml dims (n_in, n_out)."""
        a = 1.0 / np.sqrt(n_in)
        self.tensor(name, [n_in, n_out], -a, a, True)


def write_layer(w, l, a):
    C, F, H = a.embd, a.ffn, a.embd // a.head
    p = "blocks.%d." % l
    w.vec(p + "ln1.weight", C, 0.9, 1.1, 1)
    w.vec(p + "ln1.bias", C, -0.05, 0.05, 1)
    w.vec(p + "ln2.weight", C, 0.9, 1.1, 1)
    w.vec(p + "ln2.bias", C, -0.05, 0.05, 1)
    if l == 0:
        w.vec(p + "ln0.weight", C, 0.9, 1.1, 1)
        w.vec(p + "ln0.bias", C, -0.05, 0.05, 1)
    w.tensor(p + "att.x_rwkvag", [C, 1, 6], 0.0, 1.0, False)
    # LoRAs: x -> (rank) -> C, then the offset vector (v has none in layer 0).
    loras = [("w", a.lora_decay, -6.0, -1.0), ("a", a.lora_a, -0.5, 0.5),
             ("v", a.lora_value, 0.5, 1.5), ("g", a.lora_gate, None, None)]
    for key, rank, lo, hi in loras:
        if key == "v" and l == 0:
            continue
        w.mat(p + "att.%s1" % key, C, rank)
        w.mat(p + "att.%s2" % key, rank, C)
        if lo is not None:
            w.vec(p + "att.%s0" % key, C, lo, hi)
    w.vec(p + "att.k_k", C, 0.7, 1.0)
    w.vec(p + "att.k_a", C, 0.8, 1.2)
    w.tensor(p + "att.r_k", [a.head, H], -0.1, 0.1, False)
    for m in ("receptance", "key", "value", "output"):
        w.mat(p + "att.%s.weight" % m, C, C)
    w.vec(p + "att.ln_x.weight", C, 0.9, 1.1, 1)
    w.vec(p + "att.ln_x.bias", C, -0.05, 0.05, 1)
    w.vec(p + "ffn.x_k", C, 0.0, 1.0)
    w.mat(p + "ffn.key.weight", C, F)
    w.mat(p + "ffn.value.weight", F, C)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="build/bench/rwkv7-0.1b-random.bin")
    ap.add_argument("--seed", type=int, default=20250223)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=65536)
    ap.add_argument("--ffn", type=int, default=0, help="default 4 * embd")
    ap.add_argument("--head", type=int, default=64)
    ap.add_argument("--lora-decay", type=int, default=64)
    ap.add_argument("--lora-a", type=int, default=64)
    ap.add_argument("--lora-value", type=int, default=32)
    ap.add_argument("--lora-gate", type=int, default=128)
    ap.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16")
    a = ap.parse_args()
    a.ffn = a.ffn or 4 * a.embd
    if a.embd % a.head:
        sys.exit("make_rwkv_model.py: --embd %d is not a multiple of --head %d" % (a.embd, a.head))
    fp16 = a.dtype == "fp16"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<6i", MAGIC, FILE_VERSION, a.vocab, a.embd, a.layers, 1 if fp16 else 0))
        w = Writer(f, np.random.default_rng(a.seed), fp16)
        w.mat("emb.weight", a.embd, a.vocab)   # ggml (C, V), like the real files
        for l in range(a.layers):
            write_layer(w, l, a)
        w.vec("ln_out.weight", a.embd, 0.9, 1.1, 1)
        w.vec("ln_out.bias", a.embd, -0.05, 0.05, 1)
        w.mat("head.weight", a.embd, a.vocab)
    os.replace(tmp, a.out)
    print("make_rwkv_model.py: wrote %s (%d tensors, %.1f MB, L=%d C=%d head=%d V=%d FFN=%d %s, seed %d)"
          % (a.out, w.count, os.path.getsize(a.out) / 1e6, a.layers, a.embd, a.head, a.vocab,
             a.ffn, a.dtype, a.seed))


if __name__ == "__main__":
    main()
