#!/usr/bin/python3
"""Independent GPT-2 forward pass in plain numpy float64 (the golden-logit reference).

Follows Hugging Face GPT2LMHeadModel: wte + wpe, per block
x += c_proj(attn(ln_1(x))), x += mlp_c_proj(gelu_new(c_fc(ln_2(x)))), ln_f, logits = x @ wte^T.
Conv1D weights are [in, out] (y = x @ W + b). Names with or without "transformer.".

  ref_gpt2.py MODEL_DIR --ids 1,2,3 [--json OUT]   writes {"input_ids", "all_logits"}
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_np  # noqa: E402


def forward(model_dir, ids):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    raw, _ = st_np.load(os.path.join(model_dir, "model.safetensors"))
    t = {k[len("transformer."):] if k.startswith("transformer.") else k: np.asarray(v, dtype=np.float64)
         for k, v in raw.items()}
    d, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    hd = d // H
    T = len(ids)

    def ln(x, w, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w + b

    def gelu_new(x):
        return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))

    x = t["wte.weight"][ids] + t["wpe.weight"][np.arange(T)]
    mask = np.triu(np.full((T, T), -np.inf), k=1)
    for i in range(L):
        p = f"h.{i}."
        h = ln(x, t[p + "ln_1.weight"], t[p + "ln_1.bias"])
        qkv = h @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"]
        q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(T, H, hd).transpose(1, 0, 2) for j in range(3))
        s = q @ k.transpose(0, 2, 1) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = (s @ v).transpose(1, 0, 2).reshape(T, d)
        x = x + o @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"]
        h = ln(x, t[p + "ln_2.weight"], t[p + "ln_2.bias"])
        h = gelu_new(h @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"])
        x = x + h @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
    x = ln(x, t["ln_f.weight"], t["ln_f.bias"])
    head = t.get("lm_head.weight", t["wte.weight"])
    return x @ head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--json", help="write goldens here")
    a = ap.parse_args()
    ids = [int(s) for s in a.ids.split(",")]
    logits = forward(a.model_dir, ids)
    if a.json:
        out = {"generator": "tools/ref_gpt2.py (numpy float64)", "input_ids": ids,
               "all_logits": [[float("%.9g" % v) for v in row] for row in logits]}
        with open(a.json, "w") as f:
            json.dump(out, f)
    else:
        print("argmax per position:", [int(i) for i in logits.argmax(-1)])


if __name__ == "__main__":
    main()
