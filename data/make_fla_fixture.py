#!/usr/bin/env python3
"""Writes data/rwkv/tiny-rwkv7-fla.safetensors: the tensors of
tiny-rwkv7-fp32.safetensors (BlinkDL names) under the Hugging Face "fla"
(flash-linear-attention RWKV7ForCausalLM) names and layouts, so that a test
can check that both files give the same logits.

    pip install safetensors numpy
    python3 data/make_fla_fixture.py

fla conventions applied here:
  blocks.L.ln0/ln1/ln2         -> model.layers.L.pre_norm / attn_norm / ffn_norm
  att.receptance/key/value/output.weight -> attn.{r,k,v,o}_proj.weight
  att.w1 [C,D], att.w2 [D,C]   -> attn.w_lora.lora.0.weight [D,C] and
                                  lora.2.weight [C,D] (nn.Linear: transposed)
  att.w0 [1,1,C]               -> attn.w_lora.lora.2.bias [C]
  (likewise a, v, g; g_lora has no bias, layer 0 has no v_lora)
  att.ln_x                     -> attn.g_norm
  att.x_r ... [1,1,C], k_k, k_a, r_k -> attn.x_r ... (same shapes)
  ffn.*                        -> ffn.*
  emb / ln_out / head          -> model.embeddings / model.norm / lm_head
Re-runnable: the output depends only on the input file.
"""
import os
import re

import numpy as np
from safetensors.numpy import load_file, save_file

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rwkv")
GLOBAL = {"emb.weight": "model.embeddings.weight", "ln_out.weight": "model.norm.weight",
          "ln_out.bias": "model.norm.bias", "head.weight": "lm_head.weight"}
LAYER = [("ln0.", "pre_norm."), ("ln1.", "attn_norm."), ("ln2.", "ffn_norm."),
         ("att.receptance.weight", "attn.r_proj.weight"), ("att.key.weight", "attn.k_proj.weight"),
         ("att.value.weight", "attn.v_proj.weight"), ("att.output.weight", "attn.o_proj.weight"),
         ("att.ln_x.", "attn.g_norm."), ("att.", "attn."), ("ffn.", "ffn.")]
LORA = re.compile(r"att\.([wavg])([012])$")


def rename(name, t):
    if name in GLOBAL:
        return GLOBAL[name], t
    m = re.match(r"blocks\.(\d+)\.(.*)$", name)
    layer, rest = m.group(1), m.group(2)
    lo = LORA.match(rest)
    if lo:
        which, part = lo.group(1), lo.group(2)
        base = "model.layers.%s.attn.%s_lora.lora." % (layer, which)
        if part == "0":
            return base + "2.bias", t.reshape(-1)
        return base + ("0.weight" if part == "1" else "2.weight"), np.ascontiguousarray(t.T)
    for old, new in LAYER:
        if rest.startswith(old):
            return "model.layers.%s.%s%s" % (layer, new, rest[len(old):]), t
    raise SystemExit("no fla name for " + name)


def main():
    src = load_file(os.path.join(HERE, "tiny-rwkv7-fp32.safetensors"))
    out = dict(rename(k, v) for k, v in sorted(src.items()))
    save_file(out, os.path.join(HERE, "tiny-rwkv7-fla.safetensors"))
    print("wrote %d tensors" % len(out))


if __name__ == "__main__":
    main()
