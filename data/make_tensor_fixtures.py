#!/usr/bin/env python3
"""Makes the tiny tensor-file fixtures for tests/test_tensor_file.c in
data/tensors/ and seeds for tests/fuzz/corpus/fuzz_tensor_file/.

    pip install torch safetensors numpy
    python3 data/make_tensor_fixtures.py

Re-runnable; the values are fixed (torch.save adds a random serialization id,
so .pth bytes differ between runs, their tensors do not). It writes:

  tiny.safetensors   a f32 [2, 3], b f16 [4], c bf16 [2, 2], d f64 [3],
                     e i64 [2], f i32 [2], g u8 [3], s f32 [] (a scalar),
                     with __metadata__
  tiny.pth           torch.save of an OrderedDict: a f32 [2, 3], b f16 [4],
                     c bf16 [2, 2], row a[1] (a view: storage offset 3),
                     p an nn.Parameter f32 [2], and "step": 7 (not a tensor)
  nested.pth         torch.save({"epoch": 3, "state_dict": {"w": f32 [2]}})
  transposed.pth     {"t": a transposed f32 [3, 2] view}: not contiguous
  deflated.pth       tiny.pth re-zipped with DEFLATE entries
  tiny.bin           an rwkv.cpp file: emb.weight f32 [4, 2] (ggml dims 2, 4),
                     head.weight f16 [4, 2], ln.weight f32 [2]

The expected values are written out in the C test: the fixtures hold values
exactly representable in each dtype.
"""
import collections
import os
import struct
import sys
import zipfile

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "data", "tensors")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus", "fuzz_tensor_file")

A = [[0.0, 1.0, -2.0], [0.5, 3.25, -1e-3]]
B_F16 = [1.0, -2.5, 2.0 ** -14, 65504.0]
B_F16_SUB = 2.0 ** -24
C_BF16 = [[1.0, -3.0], [0.0078125, 2.0 ** 100]]


def tensors():
    a = torch.tensor(A, dtype=torch.float32)
    b = torch.tensor(B_F16[:3] + [B_F16_SUB], dtype=torch.float16)
    c = torch.tensor(C_BF16, dtype=torch.bfloat16)
    return a, b, c


def write_safetensors(path):
    a, b, c = tensors()
    save_file({
        "a": a, "b": b, "c": c,
        "d": torch.tensor([1.0, -0.1, 1e300], dtype=torch.float64),
        "e": torch.tensor([-5, 1 << 40], dtype=torch.int64),
        "f": torch.tensor([-7, 123456], dtype=torch.int32),
        "g": torch.tensor([0, 17, 255], dtype=torch.uint8),
        "s": torch.tensor(2.5, dtype=torch.float32),
    }, path, metadata={"format": "pt", "note": "tiny \u00e9"})


def write_pth(path):
    a, b, c = tensors()
    sd = collections.OrderedDict()
    sd["a"] = a
    sd["b"] = b
    sd["c"] = c
    sd["row"] = a[1]
    sd["p"] = torch.nn.Parameter(torch.tensor([4.0, -4.0]))
    sd["step"] = 7
    torch.save(sd, path)


def write_bin(path):
    out = [struct.pack("<6i", 0x67676D66, 101, 4, 2, 1, 1)]

    def tensor(name, dtype, dims, values):
        key = name.encode()
        out.append(struct.pack("<3i", len(dims), len(key), dtype))
        out.append(struct.pack("<%di" % len(dims), *dims))  # ggml: innermost first
        out.append(key)
        out.append(struct.pack("<%d%s" % (len(values), "f" if dtype == 0 else "e"), *values))

    tensor("emb.weight", 0, [2, 4], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -7.5])
    tensor("head.weight", 1, [2, 4], [0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 0.25, 1024.0])
    tensor("ln.weight", 0, [2], [1.0, 1.0])
    with open(path, "wb") as f:
        f.write(b"".join(out))


def rezip_deflated(src, dst):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))


def write_corpus(paths):
    """Valid fixtures and a few broken copies as fuzz seeds."""
    os.makedirs(CORPUS, exist_ok=True)
    for name, p in paths.items():
        data = open(p, "rb").read()
        seeds = {"valid_" + name: data, "bad_trunc_" + name: data[: len(data) * 2 // 3]}
        if name.endswith(".safetensors"):
            seeds["bad_json_" + name] = data[:8] + data[8:].replace(b'"shape"', b'"shape":', 1)
        if name.endswith(".pth"):
            seeds["bad_pkl_" + name] = data.replace(b"FloatStorage", b"FloatStoragx")
        if name.endswith(".bin"):
            seeds["bad_type_" + name] = data[:24 + 8] + struct.pack("<i", 9) + data[24 + 12:]
        if name in ("transposed.pth", "deflated.pth"):
            seeds = {"bad_" + name: data}
        for seed, blob in seeds.items():
            with open(os.path.join(CORPUS, seed), "wb") as f:
                f.write(blob)


def main():
    os.makedirs(OUT, exist_ok=True)
    p = lambda n: os.path.join(OUT, n)
    write_safetensors(p("tiny.safetensors"))
    write_pth(p("tiny.pth"))
    torch.save({"epoch": 3, "state_dict": {"w": torch.tensor([1.0, 2.0])}}, p("nested.pth"))
    torch.save({"t": torch.arange(6, dtype=torch.float32).reshape(2, 3).t()}, p("transposed.pth"))
    rezip_deflated(p("tiny.pth"), p("deflated.pth"))
    write_bin(p("tiny.bin"))
    write_corpus({n: p(n) for n in ["tiny.safetensors", "tiny.pth", "nested.pth", "tiny.bin",
                                       "transposed.pth", "deflated.pth"]})
    for n in sorted(os.listdir(OUT)):
        print("%-20s %6d bytes" % (n, os.path.getsize(p(n))), file=sys.stderr)


if __name__ == "__main__":
    main()
