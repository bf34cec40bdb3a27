#!/usr/bin/env python3
"""Makes the RWKV reference fixtures in data/rwkv/ with the official `rwkv`
PyPI package (BlinkDL's reference implementation) and PyTorch on the CPU.

    pip install rwkv torch safetensors numpy
    python3 data/make_rwkv_fixtures.py [--vocab ../shared/data/rwkv/rwkv_vocab_v20230424.txt]

Re-runnable: the weights come from a fixed numpy seed, so every run writes the
same files. It writes:

  tiny-rwkv7-fp32.pth          a random RWKV-7 ("x070") model in BlinkDL's .pth
                               naming: 2 layers, n_embd 128, head size 64,
                               byte vocabulary (256), fp32
  tiny-rwkv7-fp32.safetensors  the same tensors as safetensors (fp32)
  tiny-rwkv7-bf16.pth          the same model rounded to bf16
  sequences.txt                token sequences, one a line (decimal ids)
  tiny-rwkv7-fp32.logits.npy   float32 [n_seqs, 256]: the package's logits
                               after feeding each sequence, one token at a
                               time, from the all-zero state (no BOS), with
                               RWKV(..., 'cpu fp32')
  tiny-rwkv7-bf16.logits.npy   the same for the bf16 file: the package widens
                               bf16 weights to fp32 and computes in fp32
  world_tokens.tsv             TRIE_TOKENIZER ids for a list of byte strings:
                               hex of the input bytes <TAB> ids (space-separated)
                               (written only when the World vocab file exists)
"""
import argparse
import os
import sys

# The package reads these at import time: RWKV-7 code path, plain PyTorch.
os.environ["RWKV_V7_ON"] = "1"
os.environ["RWKV_JIT_ON"] = "0"
os.environ["RWKV_CUDA_ON"] = "0"

import numpy as np  # noqa: E402
import torch  # noqa: E402

SEED = 20240607
N_LAYER = 2
N_EMBD = 128
HEAD_SIZE = 64
VOCAB = 256
N_FFN = 4 * N_EMBD
# LoRA widths, all different so that a transposed or swapped tensor shows.
D_DECAY, D_AAA, D_MV, D_GATE = 32, 24, 16, 48

SEQUENCES = [
    b'"in',                       # rwkv.cpp's test input
    b"\n",
    b"Hello, world!",
    b"The quick brown fox jumps over the lazy dog.",
    bytes([0, 255, 128, 7, 200, 31]),
    "héllo 世界".encode("utf-8"),
    b"abababababababababababababababababababababababab" + b"xyz" * 8,
]

WORLD_STRINGS = [
    b"",
    b"Hello world",
    b" the",
    b"The quick brown fox jumps over the lazy dog.",
    b"   leading spaces and\ttabs\nnewlines\r\n",
    b"1234567890 3.14159 -42",
    "北京是中国的首都。".encode("utf-8"),
    "日本語のテキスト、カタカナとひらがな".encode("utf-8"),
    "한국어 문장".encode("utf-8"),
    "Ünïcödé àccents — dashes … ellipsis".encode("utf-8"),
    "emoji 😀🎉👍🏽 and 🇫🇷".encode("utf-8"),
    "Здравствуй, мир".encode("utf-8"),
    "مرحبا بالعالم".encode("utf-8"),
    b"invalid utf-8: \xff\xfe\x80 end",
    b"\xe4\xb8",                  # a truncated CJK character
    b"\x00\x01\x02 control \x7f",
    b"def f(x):\n    return x ** 2  # code\n",
    b"#" * 100 + b"-" * 90,
    b" " * 300,
    "mixed ASCII和中文 text".encode("utf-8"),
]


def make_weights(rng):
    """BlinkDL RWKV-7 tensor names and shapes, with magnitudes like a trained
    model: unit-scale embeddings, ~1/sqrt(C) projections, decay logits w0 in
    the usual range (so per-channel decay spans roughly 0.55 to 1)."""
    C, H, N = N_EMBD, N_EMBD // HEAD_SIZE, HEAD_SIZE

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def uniform(shape, lo, hi):
        return rng.uniform(lo, hi, shape).astype(np.float32)

    def vec(x):
        return x.reshape(1, 1, C)

    w = {"emb.weight": normal((VOCAB, C), 1.0)}
    for i in range(N_LAYER):
        b = f"blocks.{i}."
        if i == 0:
            w[b + "ln0.weight"] = 1.0 + normal((C,), 0.1)
            w[b + "ln0.bias"] = normal((C,), 0.1)
        w[b + "ln1.weight"] = 1.0 + normal((C,), 0.1)
        w[b + "ln1.bias"] = normal((C,), 0.1)
        w[b + "ln2.weight"] = 1.0 + normal((C,), 0.1)
        w[b + "ln2.bias"] = normal((C,), 0.1)
        a = b + "att."
        for name in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"):
            w[a + name] = vec(uniform((C,), 0.0, 1.0))
        ramp = np.arange(C, dtype=np.float64) / (C - 1)
        decay = -7.0 + 5.0 * ramp ** 0.9 + 0.5
        w[a + "w0"] = vec((decay + rng.standard_normal(C) * 0.5).astype(np.float32))
        w[a + "w1"] = normal((C, D_DECAY), 0.1)
        w[a + "w2"] = normal((D_DECAY, C), 0.1)
        w[a + "a0"] = vec(normal((C,), 0.5))
        w[a + "a1"] = normal((C, D_AAA), 0.1)
        w[a + "a2"] = normal((D_AAA, C), 0.1)
        if i > 0:  # layer 0 has no value residual (v_first is its own v)
            w[a + "v0"] = vec(1.0 + normal((C,), 0.3))
            w[a + "v1"] = normal((C, D_MV), 0.1)
            w[a + "v2"] = normal((D_MV, C), 0.1)
        w[a + "g1"] = normal((C, D_GATE), 0.1)
        w[a + "g2"] = normal((D_GATE, C), 0.1)
        w[a + "k_k"] = vec(0.85 + normal((C,), 0.1))
        w[a + "k_a"] = vec(1.0 + normal((C,), 0.1))
        w[a + "r_k"] = normal((H, N), 0.1)
        for name in ("receptance", "key", "value", "output"):
            w[a + name + ".weight"] = normal((C, C), 1.0 / np.sqrt(C))
        w[a + "ln_x.weight"] = 1.0 + normal((C,), 0.1)
        w[a + "ln_x.bias"] = normal((C,), 0.1)
        f = b + "ffn."
        w[f + "x_k"] = vec(uniform((C,), 0.0, 1.0))
        w[f + "key.weight"] = normal((N_FFN, C), 1.0 / np.sqrt(C))
        w[f + "value.weight"] = normal((C, N_FFN), 0.5 / np.sqrt(N_FFN))
    w["ln_out.weight"] = 1.0 + normal((C,), 0.1)
    w["ln_out.bias"] = normal((C,), 0.1)
    w["head.weight"] = normal((VOCAB, C), 3.0 / np.sqrt(C))
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in w.items()}


def run_package(pth_path, sequences):
    """Logits of the rwkv package after each sequence, token by token from
    the all-zero state."""
    from rwkv.model import RWKV

    model = RWKV(pth_path[: -len(".pth")], "cpu fp32")
    rows = []
    for seq in sequences:
        state = None
        for tok in seq:
            out, state = model.forward([tok], state)
        rows.append(out.float().numpy())
    return np.stack(rows).astype(np.float32)


def write_world_tokens(vocab, path):
    from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

    tok = TRIE_TOKENIZER(vocab)
    with open(path, "w", encoding="ascii") as f:
        f.write("# input bytes (hex)\ttoken ids from rwkv.rwkv_tokenizer.TRIE_TOKENIZER"
                " (rwkv_vocab_v20230424)\n")
        for s in WORLD_STRINGS:
            ids = tok.encodeBytes(s)
            assert tok.decodeBytes(ids) == s
            f.write(s.hex() + "\t" + " ".join(str(i) for i in ids) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "rwkv"))
    ap.add_argument("--vocab", default=os.path.join(
        here, "..", "..", "shared", "data", "rwkv", "rwkv_vocab_v20230424.txt"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)

    weights = make_weights(np.random.default_rng(SEED))
    fp32 = os.path.join(args.out, "tiny-rwkv7-fp32.pth")
    bf16 = os.path.join(args.out, "tiny-rwkv7-bf16.pth")
    torch.save(weights, fp32)
    torch.save({k: v.to(torch.bfloat16) for k, v in weights.items()}, bf16)
    from safetensors.torch import save_file
    save_file(weights, os.path.join(args.out, "tiny-rwkv7-fp32.safetensors"))

    seqs = [list(s) for s in SEQUENCES]
    with open(os.path.join(args.out, "sequences.txt"), "w", encoding="ascii") as f:
        for s in seqs:
            f.write(" ".join(str(t) for t in s) + "\n")
    for path in (fp32, bf16):
        logits = run_package(path, seqs)
        np.save(path[: -len(".pth")] + ".logits.npy", logits)
        print(f"{os.path.basename(path)}: logits {logits.shape}, "
              f"range [{logits.min():.3f}, {logits.max():.3f}], std {logits.std():.3f}")

    if os.path.exists(args.vocab):
        write_world_tokens(args.vocab, os.path.join(args.out, "world_tokens.tsv"))
    else:
        print(f"{args.vocab} not found: world_tokens.tsv not written", file=sys.stderr)


if __name__ == "__main__":
    main()
