#!/usr/bin/python3
"""Write tiny random Hugging Face model repositories for tests and benchmarks.

  make_tiny_model.py --arch gpt2|llama|bert --out DIR [--seed N] [--size tiny|124m]
                     [--vocab N] [--tokenizer tokenizer.json] [--prefix] [--untied] [--qkv-bias]
  make_tiny_model.py --convert SRC_DIR --out DIR [--dtype f32|f16|bf16] [--prefix] [--shards N]

Weights come from numpy's default_rng(seed), so a given command always writes the same
bytes. --size 124m writes a GPT-2-small-shaped model (about 0.6 GB; use a temp dir); with
--arch llama a 124M-class Llama (hidden 768, 12 layers, 12 heads, MLP 2048, vocab 32000 or
--vocab; a --tokenizer with fewer tokens is padded, as Hub models often are).
--convert copies a repository (config, tokenizer files) and rewrites its weights in another
dtype, with the GPT-2 "transformer." prefix, and/or split into N shards with an index.
Needs only /usr/bin/python3 with python3-numpy.
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_np  # noqa: E402


def rnd(rng, shape, std):
    return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)


def gpt2(rng, a):
    d, L, H, V, P = (768, 12, 12, 50257, 1024) if a.size == "124m" else (32, 2, 4, a.vocab or 256, 64)
    if a.vocab:
        V = a.vocab
    cfg = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V,
           "n_embd": d, "n_layer": L, "n_head": H, "n_positions": P, "n_ctx": P, "n_inner": None,
           "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
           "bos_token_id": V - 1, "eos_token_id": V - 1, "tie_word_embeddings": True}
    std = 0.02 if a.size == "124m" else 0.2
    t = {"wte.weight": rnd(rng, (V, d), std), "wpe.weight": rnd(rng, (P, d), std),
         "ln_f.weight": 1 + rnd(rng, (d,), 0.1), "ln_f.bias": rnd(rng, (d,), 0.1)}
    mask = np.tril(np.ones((P, P), dtype=np.float32)).reshape(1, 1, P, P)
    for i in range(L):
        p = f"h.{i}."
        t[p + "ln_1.weight"] = 1 + rnd(rng, (d,), 0.1)
        t[p + "ln_1.bias"] = rnd(rng, (d,), 0.1)
        t[p + "attn.c_attn.weight"] = rnd(rng, (d, 3 * d), std)  # Conv1D: [in, out]
        t[p + "attn.c_attn.bias"] = rnd(rng, (3 * d,), 0.1)
        t[p + "attn.c_proj.weight"] = rnd(rng, (d, d), std)
        t[p + "attn.c_proj.bias"] = rnd(rng, (d,), 0.1)
        t[p + "ln_2.weight"] = 1 + rnd(rng, (d,), 0.1)
        t[p + "ln_2.bias"] = rnd(rng, (d,), 0.1)
        t[p + "mlp.c_fc.weight"] = rnd(rng, (d, 4 * d), std)
        t[p + "mlp.c_fc.bias"] = rnd(rng, (4 * d,), 0.1)
        t[p + "mlp.c_proj.weight"] = rnd(rng, (4 * d, d), std)
        t[p + "mlp.c_proj.bias"] = rnd(rng, (d,), 0.1)
        t[p + "attn.bias"] = mask  # causal-mask buffer as in the Hub's gpt2 file (ignored by loaders)
        t[p + "attn.masked_bias"] = np.array(-1e4, dtype=np.float32)
    return cfg, t


def llama(rng, a):
    if a.size == "124m":  # 124M-class Llama (TinyLlama-like widths, GPT-2-small depth): ~110M params at vocab 32000
        d, L, H, KV, F, V, P = 768, 12, 12, 12, 2048, a.vocab or 32000, 2048
    else:
        d, L, H, KV, F, V, P = 64, 2, 4, 2, 128, a.vocab or 512, 256
    std = 0.02 if a.size == "124m" else 0.15
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": V,
           "hidden_size": d, "num_hidden_layers": L, "num_attention_heads": H,
           "num_key_value_heads": KV, "head_dim": d // H, "intermediate_size": F,
           "max_position_embeddings": P, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "hidden_act": "silu", "tie_word_embeddings": not a.untied, "attention_bias": a.qkv_bias,
           "bos_token_id": 1, "eos_token_id": 2, "rope_scaling": None}
    hd = d // H
    est = 0.02 if a.size == "124m" else 0.2
    t = {"model.embed_tokens.weight": rnd(rng, (V, d), est), "model.norm.weight": 1 + rnd(rng, (d,), 0.1)}
    if a.untied:
        t["lm_head.weight"] = rnd(rng, (V, d), est)
    for i in range(L):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = 1 + rnd(rng, (d,), 0.1)
        t[p + "post_attention_layernorm.weight"] = 1 + rnd(rng, (d,), 0.1)
        for n, o in (("q", H * hd), ("k", KV * hd), ("v", KV * hd)):
            t[p + f"self_attn.{n}_proj.weight"] = rnd(rng, (o, d), std)
            if a.qkv_bias:
                t[p + f"self_attn.{n}_proj.bias"] = rnd(rng, (o,), 0.1)
        t[p + "self_attn.o_proj.weight"] = rnd(rng, (d, H * hd), std)
        t[p + "mlp.gate_proj.weight"] = rnd(rng, (F, d), std)
        t[p + "mlp.up_proj.weight"] = rnd(rng, (F, d), std)
        t[p + "mlp.down_proj.weight"] = rnd(rng, (d, F), std)
    return cfg, t


def bert(rng, a):
    d, L, H, F, V, P = 32, 2, 4, 64, a.vocab or 30522, 128
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": V, "hidden_size": d,
           "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": F,
           "max_position_embeddings": P, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
           "hidden_act": "gelu", "pad_token_id": 0}
    t = {"embeddings.word_embeddings.weight": rnd(rng, (V, d), 0.2),
         "embeddings.position_embeddings.weight": rnd(rng, (P, d), 0.2),
         "embeddings.token_type_embeddings.weight": rnd(rng, (2, d), 0.2),
         "embeddings.LayerNorm.weight": 1 + rnd(rng, (d,), 0.1),
         "embeddings.LayerNorm.bias": rnd(rng, (d,), 0.1)}
    for i in range(L):
        p = f"encoder.layer.{i}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            t[p + n + ".weight"] = rnd(rng, (d, d), 0.2)
            t[p + n + ".bias"] = rnd(rng, (d,), 0.1)
        t[p + "intermediate.dense.weight"] = rnd(rng, (F, d), 0.2)
        t[p + "intermediate.dense.bias"] = rnd(rng, (F,), 0.1)
        t[p + "output.dense.weight"] = rnd(rng, (d, F), 0.2)
        t[p + "output.dense.bias"] = rnd(rng, (d,), 0.1)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + n + ".weight"] = 1 + rnd(rng, (d,), 0.1)
            t[p + n + ".bias"] = rnd(rng, (d,), 0.1)
    return cfg, t


def tok_vocab_size(path):
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    ids = list(tj["model"]["vocab"].values()) + [x["id"] for x in tj.get("added_tokens", [])]
    return max(ids) + 1


def write_weights(out, tensors, dtype="f32", prefix=False, shards=1):
    def cast(name, arr):
        if arr.dtype != np.float32 or arr.ndim == 0 or name.endswith("attn.bias"):
            return arr
        if dtype == "f16":
            return arr.astype(np.float16)
        if dtype == "bf16":
            return ("BF16", st_np.f32_to_bf16(arr))
        return arr
    t = {("transformer." + k if prefix and not k.startswith("lm_head") else k): cast(k, v)
         for k, v in tensors.items()}
    if shards <= 1:
        st_np.save(os.path.join(out, "model.safetensors"), t)
        return
    names = sorted(t)
    wm = {}
    for s in range(shards):
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: t[n] for n in names[s::shards]}
        st_np.save(os.path.join(out, fn), part)
        wm.update({n: fn for n in part})
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": wm}, f, indent=1, sort_keys=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["gpt2", "llama", "bert"])
    ap.add_argument("--convert", help="existing repository to rewrite")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", choices=["tiny", "124m"], default="tiny")
    ap.add_argument("--vocab", type=int, default=0)
    ap.add_argument("--tokenizer", help="tokenizer.json to copy (vocab size follows it)")
    ap.add_argument("--prefix", action="store_true", help='GPT-2 names with "transformer."')
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--qkv-bias", action="store_true")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    ap.add_argument("--shards", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.convert:
        for fn in os.listdir(a.convert):
            if not fn.endswith(".safetensors") and not fn.endswith(".index.json") \
                    and os.path.isfile(os.path.join(a.convert, fn)):
                shutil.copyfile(os.path.join(a.convert, fn), os.path.join(a.out, fn))
        tensors, _ = st_np.load(os.path.join(a.convert, "model.safetensors"))
        write_weights(a.out, {k: np.array(v) for k, v in tensors.items()}, a.dtype, a.prefix, a.shards)
        return
    if not a.arch:
        ap.error("--arch or --convert is required")
    if a.tokenizer:
        a.vocab = max(a.vocab, tok_vocab_size(a.tokenizer))  # --vocab may pad beyond the tokenizer
        shutil.copyfile(a.tokenizer, os.path.join(a.out, "tokenizer.json"))
        tc = os.path.join(os.path.dirname(a.tokenizer), "tokenizer_config.json")
        if os.path.exists(tc):
            shutil.copyfile(tc, os.path.join(a.out, "tokenizer_config.json"))
    rng = np.random.default_rng(a.seed)
    cfg, t = {"gpt2": gpt2, "llama": llama, "bert": bert}[a.arch](rng, a)
    cfg["torch_dtype"] = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype]
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if a.arch != "bert":
        gen = {"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"]}
        with open(os.path.join(a.out, "generation_config.json"), "w") as f:
            json.dump(gen, f, indent=2)
    write_weights(a.out, t, a.dtype, a.prefix, a.shards)


if __name__ == "__main__":
    main()
