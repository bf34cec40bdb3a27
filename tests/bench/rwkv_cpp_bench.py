#!/usr/bin/env python3
"""Tokens/s of rwkv.cpp (an already-built librwkv.so) through its public C API.

Our own small ctypes driver, used by tests/bench/bench_rwkv.sh to compare
rwkv.cpp with our runtime on the same model files. Nothing of rwkv.cpp is
part of this project: pass the path of a library you built yourself with
--lib or the environment variable RWKV_CPP_LIB.

Modes (each timed for about --seconds after two untimed warm-up calls on a scratch state):
  single    one state; each call rwkv_eval(ctx, token, state, state', logits)
            feeds one token, reads the state, writes the new state and all
            logits (what a decoder needs for every token).
  slots     N independent states ("N slots"); rwkv.cpp has no batch API, so
            each step calls rwkv_eval once per slot, one after the other.
            tokens/s counts every slot's token (N per step), to compare with
            a batched forward over N rows.
  sequence  rwkv_eval_sequence over --seq-len tokens of one state, logits of
            the last token only (prompt processing). Not comparable with the
            decoding modes; reported for reference with --sequence.

Token ids follow tests/bench/bench_rwkv.c: slot i at step s reads
(s * 31 + i * 7) % n_vocab.

Output: one line per measurement,
  RESULT runtime=rwkv.cpp model=LABEL mode=MODE threads=T n=N tokens_per_s=X ms_per_step=Y steps=S
and, with --check LOGITS, a CHECK line comparing the logits after the bytes
'"', 'i', 'n' (fed from the initial state) with an expected-logits file,
as rwkv.cpp's own tests do (the sum of differences).

    python3 tests/bench/rwkv_cpp_bench.py --model FILE [--label NAME]
        [--threads 1] [--seconds 2] [--slots 1,16,64] [--sequence]
        [--check EXPECTED_LOGITS.bin] [--lib librwkv.so]
"""
import argparse
import ctypes as ct
import os
import sys
import time

import numpy as np


def load_lib(path):
    lib = ct.CDLL(path)
    ctx_p = ct.c_void_p
    f32_p = ct.c_void_p   # raw addresses from numpy arrays
    lib.rwkv_init_from_file.argtypes = [ct.c_char_p, ct.c_uint32, ct.c_uint32]
    lib.rwkv_init_from_file.restype = ctx_p
    lib.rwkv_eval.argtypes = [ctx_p, ct.c_uint32, f32_p, f32_p, f32_p]
    lib.rwkv_eval.restype = ct.c_bool
    for name in ("rwkv_get_state_len", "rwkv_get_logits_len", "rwkv_get_n_vocab",
                 "rwkv_get_n_embed", "rwkv_get_n_layer"):
        getattr(lib, name).argtypes = [ctx_p]
        getattr(lib, name).restype = ct.c_size_t
    lib.rwkv_init_state.argtypes = [ctx_p, f32_p]
    lib.rwkv_init_state.restype = None
    lib.rwkv_free.argtypes = [ctx_p]
    lib.rwkv_free.restype = None
    lib.has_sequence = hasattr(lib, "rwkv_eval_sequence")
    if lib.has_sequence:
        lib.rwkv_eval_sequence.argtypes = [ctx_p, ct.c_void_p, ct.c_size_t, f32_p, f32_p, f32_p]
        lib.rwkv_eval_sequence.restype = ct.c_bool
    if hasattr(lib, "rwkv_get_system_info_string"):
        lib.rwkv_get_system_info_string.argtypes = []
        lib.rwkv_get_system_info_string.restype = ct.c_char_p
    return lib


def addr(a):
    return a.ctypes.data


class Model:
    def __init__(self, lib, path, threads):
        self.lib = lib
        self.ctx = lib.rwkv_init_from_file(path.encode(), threads, 0)
        if not self.ctx:
            raise RuntimeError("rwkv_init_from_file failed for %s" % path)
        self.state_len = lib.rwkv_get_state_len(self.ctx)
        self.n_vocab = lib.rwkv_get_n_vocab(self.ctx)
        self.logits_len = lib.rwkv_get_logits_len(self.ctx)

    def states(self, n):
        s = np.empty((n, self.state_len), dtype=np.float32)
        for i in range(n):
            self.lib.rwkv_init_state(self.ctx, addr(s[i]))
        return s

    def eval(self, token, s_in, s_out, logits):
        if not self.lib.rwkv_eval(self.ctx, token, s_in, s_out, logits):
            raise RuntimeError("rwkv_eval failed")

    def free(self):
        self.lib.rwkv_free(self.ctx)


def bench_slots(m, n, seconds):
    """n states, one rwkv_eval per state per step; returns (tokens/s, s/step, steps)."""
    st = m.states(n)
    logits = np.empty((n, m.logits_len), dtype=np.float32)
    sa = [addr(st[i]) for i in range(n)]
    la = [addr(logits[i]) for i in range(n)]
    V = m.n_vocab
    ev = m.lib.rwkv_eval
    ctx = m.ctx

    def step(s):
        for i in range(n):
            if not ev(ctx, (s * 31 + i * 7) % V, sa[i], sa[i], la[i]):
                raise RuntimeError("rwkv_eval failed")

    scratch = m.states(1)     # warm-up: two untimed calls build the graph
    for s in range(2):
        m.eval(s, addr(scratch[0]), addr(scratch[0]), la[0])
    steps = 0
    t0 = time.perf_counter()
    while True:
        step(steps + 2)
        steps += 1
        t = time.perf_counter() - t0
        if t >= seconds and steps >= 2:
            break
    return n * steps / t, t / steps, steps


def bench_sequence(m, seq_len, seconds):
    st = m.states(1)
    logits = np.empty(m.logits_len, dtype=np.float32)
    toks = (np.arange(seq_len, dtype=np.uint32) * 31) % m.n_vocab
    f = m.lib.rwkv_eval_sequence

    def call():
        if not f(m.ctx, addr(toks), seq_len, addr(st[0]), addr(st[0]), addr(logits)):
            raise RuntimeError("rwkv_eval_sequence failed")

    call()
    call()
    calls = 0
    t0 = time.perf_counter()
    while True:
        call()
        calls += 1
        t = time.perf_counter() - t0
        if t >= seconds and calls >= 2:
            break
    return seq_len * calls / t, t / calls, calls


def check(m, expected_path):
    exp = np.fromfile(expected_path, dtype="<f4")
    st = m.states(1)
    logits = np.empty(m.logits_len, dtype=np.float32)
    for b in b'"in':
        m.eval(b, addr(st[0]), addr(st[0]), addr(logits))
    if exp.size != logits.size:
        return "CHECK model=%s expected=%s result=size-mismatch (%d vs %d)" % (
            m.label, expected_path, exp.size, logits.size)
    diff = float(np.sum(logits.astype(np.float64) - exp))
    maxabs = float(np.max(np.abs(logits - exp)))
    return "CHECK runtime=rwkv.cpp model=%s sum_diff=%.6g max_abs_diff=%.6g" % (m.label, diff, maxabs)


def main():
    ap = argparse.ArgumentParser(description="tokens/s of rwkv.cpp through ctypes")
    ap.add_argument("--lib", default=os.environ.get("RWKV_CPP_LIB", ""))
    ap.add_argument("--model", required=True)
    ap.add_argument("--label", default="")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--slots", default="1,16,64", help="comma-separated N; 1 is the single-state mode")
    ap.add_argument("--sequence", action="store_true", help="also time rwkv_eval_sequence")
    ap.add_argument("--seq-len", type=int, default=16)
    ap.add_argument("--check", default="", help="expected-logits file (256 floats after '\"in')")
    a = ap.parse_args()
    if not a.lib or not os.path.isfile(a.lib):
        print("SKIP rwkv.cpp: RWKV_CPP_LIB (or --lib) is %s" %
              ("unset" if not a.lib else "not a file: " + a.lib))
        return 0
    lib = load_lib(a.lib)
    label = a.label or os.path.basename(a.model)
    m = Model(lib, a.model, a.threads)
    m.label = label
    if hasattr(lib, "rwkv_get_system_info_string"):
        print("# rwkv.cpp system info: %s" % lib.rwkv_get_system_info_string().decode().strip())
    print("# rwkv.cpp %s: n_vocab %d, n_embed %d, n_layer %d, state %d floats, threads %d" % (
        label, m.n_vocab, lib.rwkv_get_n_embed(m.ctx), lib.rwkv_get_n_layer(m.ctx),
        m.state_len, a.threads))
    if a.check:
        print(check(m, a.check))
    for n in (int(x) for x in a.slots.split(",") if x):
        tps, sps, steps = bench_slots(m, n, a.seconds)
        print("RESULT runtime=rwkv.cpp model=%s mode=%s threads=%d n=%d tokens_per_s=%.1f "
              "ms_per_step=%.3f steps=%d" % (label, "single" if n == 1 else "slots", a.threads,
                                             n, tps, 1e3 * sps, steps))
        sys.stdout.flush()
    if a.sequence and lib.has_sequence:
        tps, spc, calls = bench_sequence(m, a.seq_len, a.seconds)
        print("RESULT runtime=rwkv.cpp model=%s mode=sequence%d threads=%d n=1 tokens_per_s=%.1f "
              "ms_per_step=%.3f steps=%d" % (label, a.seq_len, a.threads, tps, 1e3 * spc, calls))
    m.free()
    return 0


if __name__ == "__main__":
    sys.exit(main())
