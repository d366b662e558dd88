#!/usr/bin/python3
"""Convert a Hugging Face repository (Llama family or GPT-2, safetensors) to GGUF v3.

  st_to_gguf.py REPO_DIR OUT.gguf [--dtype f32|f16|bf16|q8_0]

Used by bench/run.sh so llama.cpp can run exactly the weights our engine runs. Writes the
tokenizer metadata llama.cpp needs: "llama" vocab (tokens, scores, types) from a
SentencePiece .model file or tokenizer.json, or "gpt2" vocab (tokens, merges). Llama q/k
rows are permuted from the HF rotate-half order to llama.cpp's interleaved RoPE order.
F16 and BF16 round to nearest even (as our engine's --dtype f16|bf16 does on load).
Needs only /usr/bin/python3 with python3-numpy.
"""
import argparse
import glob
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_np  # noqa: E402

GGUF_MAGIC = b"GGUF"
ALIGN = 32
# gguf metadata value types
T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9
# ggml tensor types (ggml.h enum ggml_type) and llama_ftype values for general.file_type
G_F32, G_F16, G_Q8_0, G_BF16 = 0, 1, 8, 30
FILE_TYPE = {"f32": 0, "f16": 1, "q8_0": 7, "bf16": 32}


# ---- writing -----------------------------------------------------------------------------

def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _scalar(t, v):
    fmt = {T_U32: "<I", T_I32: "<i", T_F32: "<f", T_BOOL: "<?"}[t]
    return struct.pack(fmt, v)


def _value(t, v):
    if t == T_STR:
        return _str(v)
    if t == T_ARR:
        et, items = v
        head = struct.pack("<IQ", et, len(items))
        if et == T_STR:
            return head + b"".join(_str(x) for x in items)
        dt = {T_I32: "<i4", T_U32: "<u4", T_F32: "<f4"}[et]
        return head + np.asarray(items, dtype=dt).tobytes()
    return _scalar(t, v)


def q8_0(x):
    """ggml Q8_0 blocks along rows: per 32 values one f16 scale then 32 int8."""
    rows = x.reshape(-1, 32).astype(np.float32)
    amax = np.abs(rows).max(axis=1)
    d = amax / 127.0
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0).astype(np.float32)
    q = np.clip(np.trunc(rows * inv[:, None] + np.copysign(0.5, rows)), -127, 127).astype(np.int8)
    out = np.empty((rows.shape[0], 34), dtype=np.uint8)
    out[:, :2] = d.astype(np.float16).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def encode_tensor(arr, dtype):
    """-> (ggml type, bytes). 1-D tensors stay F32, like llama.cpp's converter."""
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.ndim >= 2 and dtype == "q8_0" and arr.shape[-1] % 32 == 0:
        return G_Q8_0, q8_0(arr)
    if arr.ndim >= 2 and dtype in ("f16", "q8_0"):
        return G_F16, arr.astype(np.float16).tobytes()
    if arr.ndim >= 2 and dtype == "bf16":
        return G_BF16, st_np.f32_to_bf16(arr).tobytes()
    return G_F32, arr.tobytes()


def write_gguf(path, kv, tensors, dtype):
    """kv: list of (key, type, value); tensors: list of (name, numpy array or callable)."""
    enc = []
    for name, get in tensors:
        arr = get() if callable(get) else get
        gt, data = encode_tensor(arr, dtype)
        enc.append((name, arr.shape, gt, data))
    with open(path, "wb") as f:
        f.write(GGUF_MAGIC + struct.pack("<IQQ", 3, len(enc), len(kv)))
        for key, t, v in kv:
            f.write(_str(key) + struct.pack("<I", t) + _value(t, v))
        off = 0
        for name, shape, gt, data in enc:
            dims = list(reversed(shape))  # ggml ne[0] is the innermost (row) dimension
            f.write(_str(name) + struct.pack("<I", len(dims)))
            f.write(struct.pack("<%dQ" % len(dims), *dims) + struct.pack("<IQ", gt, off))
            off += (len(data) + ALIGN - 1) // ALIGN * ALIGN
        f.write(b"\0" * (-f.tell() % ALIGN))
        for _, _, _, data in enc:
            f.write(data)
            f.write(b"\0" * (-len(data) % ALIGN))


# ---- reading the repository ------------------------------------------------------------

def load_weights(repo):
    files = sorted(glob.glob(os.path.join(repo, "*.safetensors")))
    if not files:
        raise SystemExit(f"st_to_gguf: no .safetensors files in {repo}")
    out = {}
    for fn in files:
        t, _ = st_np.load(fn)
        out.update(t)
    return out


def read_json(repo, name):
    p = os.path.join(repo, name)
    if not os.path.exists(p):
        return {}
    with open(p, encoding="utf-8") as f:
        return json.load(f)


def sentencepiece_pieces(path):
    """Minimal protobuf reader for a SentencePiece ModelProto: [(piece, score, type)]."""
    buf = open(path, "rb").read()

    def varint(b, i):
        v = s = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return v, i

    def fields(b):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            fno, wt = key >> 3, key & 7
            if wt == 0:
                v, i = varint(b, i)
            elif wt == 1:
                v, i = b[i:i + 8], i + 8
            elif wt == 2:
                n, i = varint(b, i)
                v, i = b[i:i + n], i + n
            elif wt == 5:
                v, i = b[i:i + 4], i + 4
            else:
                raise SystemExit(f"st_to_gguf: bad protobuf wire type {wt} in {path}")
            yield fno, v

    pieces = []
    for fno, v in fields(buf):
        if fno != 1:
            continue
        piece, score, typ = "", 0.0, 1
        for f2, v2 in fields(v):
            if f2 == 1:
                piece = v2.decode("utf-8")
            elif f2 == 2:
                score = struct.unpack("<f", v2)[0]
            elif f2 == 3:
                typ = v2
        pieces.append((piece, score, typ))
    return pieces


def tokenizer_json_vocab(tj):
    vocab = dict(tj["model"]["vocab"])
    special = set()
    for a in tj.get("added_tokens", []):
        vocab[a["content"]] = a["id"]
        if a.get("special"):
            special.add(a["id"])
    n = max(vocab.values()) + 1
    toks = [f"[PAD{i}]" for i in range(n)]
    for s, i in vocab.items():
        toks[i] = s
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"].get("merges", [])]
    return toks, special, merges


def llama_vocab(repo, cfg, n_vocab):
    models = sorted(glob.glob(os.path.join(repo, "*.model")))
    if models:
        pieces = sentencepiece_pieces(models[0])
    else:
        tj = read_json(repo, "tokenizer.json")
        if not tj:
            raise SystemExit("st_to_gguf: no tokenizer.model or tokenizer.json")
        toks, special, merges = tokenizer_json_vocab(tj)
        rank = {}
        for r, m in enumerate(merges):
            a, b = m.split(" ", 1)
            rank.setdefault(a + b, r)
        pieces = []
        for i, s in enumerate(toks):
            typ = 3 if i in special else 6 if (len(s) == 6 and s.startswith("<0x")) else 1
            pieces.append((s, -float(rank.get(s, 0)), typ))
    while len(pieces) < n_vocab:
        pieces.append((f"[PAD{len(pieces)}]", -1e9, 5))
    gen = read_json(repo, "generation_config.json")
    tc = read_json(repo, "tokenizer_config.json")
    kv = [("tokenizer.ggml.model", T_STR, "llama"),
          ("tokenizer.ggml.tokens", T_ARR, (T_STR, [p[0] for p in pieces])),
          ("tokenizer.ggml.scores", T_ARR, (T_F32, [p[1] for p in pieces])),
          ("tokenizer.ggml.token_type", T_ARR, (T_I32, [p[2] for p in pieces]))]
    kv += special_ids(cfg, gen, pieces)
    kv.append(("tokenizer.ggml.add_bos_token", T_BOOL, bool(tc.get("add_bos_token", True))))
    kv.append(("tokenizer.ggml.add_eos_token", T_BOOL, bool(tc.get("add_eos_token", False))))
    return kv


def special_ids(cfg, gen, pieces):
    kv = []
    for key, name in (("bos_token_id", "bos"), ("eos_token_id", "eos")):
        v = gen.get(key, cfg.get(key))
        if isinstance(v, list):
            v = v[0] if v else None
        if isinstance(v, int) and 0 <= v < len(pieces):
            kv.append((f"tokenizer.ggml.{name}_token_id", T_U32, v))
    for i, p in enumerate(pieces):
        if p[2] == 2:
            kv.append(("tokenizer.ggml.unknown_token_id", T_U32, i))
            break
    return kv


def gpt2_vocab(repo, cfg, n_vocab):
    tj = read_json(repo, "tokenizer.json")
    if not tj:
        raise SystemExit("st_to_gguf: GPT-2 conversion needs tokenizer.json")
    toks, special, merges = tokenizer_json_vocab(tj)
    types = [3 if i in special else 1 for i in range(len(toks))]
    while len(toks) < n_vocab:
        toks.append(f"[PAD{len(toks)}]")
        types.append(5)
    pieces = [(t, 0.0, ty) for t, ty in zip(toks, types)]
    kv = [("tokenizer.ggml.model", T_STR, "gpt2"), ("tokenizer.ggml.pre", T_STR, "gpt-2"),
          ("tokenizer.ggml.tokens", T_ARR, (T_STR, toks)),
          ("tokenizer.ggml.token_type", T_ARR, (T_I32, types)),
          ("tokenizer.ggml.merges", T_ARR, (T_STR, merges))]
    kv += special_ids(cfg, read_json(repo, "generation_config.json"), pieces)
    kv.append(("tokenizer.ggml.add_bos_token", T_BOOL, False))
    return kv


# ---- architectures -----------------------------------------------------------------------

def permute_rope(w, n_head):
    """HF rotate-half row order -> interleaved pairs (as llama.cpp's converter does)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def convert_llama(repo, cfg, w):
    d, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or d // H
    V = cfg["vocab_size"]
    kv = [("general.architecture", T_STR, "llama"),
          ("llama.context_length", T_U32, cfg.get("max_position_embeddings", 2048)),
          ("llama.embedding_length", T_U32, d), ("llama.block_count", T_U32, L),
          ("llama.feed_forward_length", T_U32, cfg["intermediate_size"]),
          ("llama.attention.head_count", T_U32, H), ("llama.attention.head_count_kv", T_U32, KV),
          ("llama.rope.dimension_count", T_U32, hd),
          ("llama.rope.freq_base", T_F32, float(cfg.get("rope_theta", 10000.0))),
          ("llama.attention.layer_norm_rms_epsilon", T_F32, float(cfg.get("rms_norm_eps", 1e-6))),
          ("llama.vocab_size", T_U32, V)]
    if hd * H != d:
        kv += [("llama.attention.key_length", T_U32, hd), ("llama.attention.value_length", T_U32, hd)]
    kv += llama_vocab(repo, cfg, V)
    g = lambda n: np.asarray(w[n], dtype=np.float32)  # noqa: E731
    t = [("token_embd.weight", lambda: g("model.embed_tokens.weight")),
         ("output_norm.weight", lambda: g("model.norm.weight"))]
    if "lm_head.weight" in w and not cfg.get("tie_word_embeddings", False):
        t.append(("output.weight", lambda: g("lm_head.weight")))
    for i in range(L):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        t += [(b + "attn_norm.weight", lambda p=p: g(p + "input_layernorm.weight")),
              (b + "attn_q.weight", lambda p=p: permute_rope(g(p + "self_attn.q_proj.weight"), H)),
              (b + "attn_k.weight", lambda p=p: permute_rope(g(p + "self_attn.k_proj.weight"), KV)),
              (b + "attn_v.weight", lambda p=p: g(p + "self_attn.v_proj.weight")),
              (b + "attn_output.weight", lambda p=p: g(p + "self_attn.o_proj.weight")),
              (b + "ffn_norm.weight", lambda p=p: g(p + "post_attention_layernorm.weight")),
              (b + "ffn_gate.weight", lambda p=p: g(p + "mlp.gate_proj.weight")),
              (b + "ffn_up.weight", lambda p=p: g(p + "mlp.up_proj.weight")),
              (b + "ffn_down.weight", lambda p=p: g(p + "mlp.down_proj.weight"))]
        for n in ("q", "k", "v"):
            if p + f"self_attn.{n}_proj.bias" in w:
                heads = H if n == "q" else KV
                f = (lambda p=p, n=n, h=heads: permute_rope(g(p + f"self_attn.{n}_proj.bias"), h)) \
                    if n != "v" else (lambda p=p: g(p + "self_attn.v_proj.bias"))
                t.append((b + f"attn_{n}.bias", f))
    return kv, t


def convert_gpt2(repo, cfg, w):
    w = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in w.items()}
    d, L, H = cfg["n_embd"], cfg["n_layer"], cfg["n_head"]
    V = cfg["vocab_size"]
    kv = [("general.architecture", T_STR, "gpt2"),
          ("gpt2.context_length", T_U32, cfg.get("n_positions", cfg.get("n_ctx", 1024))),
          ("gpt2.embedding_length", T_U32, d), ("gpt2.block_count", T_U32, L),
          ("gpt2.feed_forward_length", T_U32, cfg.get("n_inner") or 4 * d),
          ("gpt2.attention.head_count", T_U32, H),
          ("gpt2.attention.layer_norm_epsilon", T_F32, float(cfg.get("layer_norm_epsilon", 1e-5)))]
    kv += gpt2_vocab(repo, cfg, V)
    g = lambda n: np.asarray(w[n], dtype=np.float32)  # noqa: E731
    gT = lambda n: np.ascontiguousarray(g(n).T)  # Conv1D [in, out] -> [out, in]  # noqa: E731
    t = [("token_embd.weight", lambda: g("wte.weight")),
         ("position_embd.weight", lambda: g("wpe.weight")),
         ("output_norm.weight", lambda: g("ln_f.weight")),
         ("output_norm.bias", lambda: g("ln_f.bias"))]
    if "lm_head.weight" in w and not cfg.get("tie_word_embeddings", True):
        t.append(("output.weight", lambda: g("lm_head.weight")))
    names = (("ln_1", "attn_norm"), ("attn.c_attn", "attn_qkv"), ("attn.c_proj", "attn_output"),
             ("ln_2", "ffn_norm"), ("mlp.c_fc", "ffn_up"), ("mlp.c_proj", "ffn_down"))
    for i in range(L):
        for hf, gg in names:
            src, dst = f"h.{i}.{hf}", f"blk.{i}.{gg}"
            if hf.startswith("ln_"):
                t.append((dst + ".weight", lambda s=src: g(s + ".weight")))
            else:
                t.append((dst + ".weight", lambda s=src: gT(s + ".weight")))
            t.append((dst + ".bias", lambda s=src: g(s + ".bias")))
    return kv, t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("out")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16", "q8_0"], default="f32")
    a = ap.parse_args()
    cfg = read_json(a.repo, "config.json")
    if not cfg:
        raise SystemExit(f"st_to_gguf: {a.repo}/config.json missing")
    arch = cfg.get("model_type")
    conv = {"llama": convert_llama, "gpt2": convert_gpt2}.get(arch)
    if conv is None:
        raise SystemExit(f"st_to_gguf: unsupported model_type {arch!r} (llama, gpt2)")
    w = load_weights(a.repo)
    kv, tensors = conv(a.repo, cfg, w)
    name = os.path.basename(os.path.normpath(a.repo))
    kv = [("general.name", T_STR, name), ("general.alignment", T_U32, ALIGN),
          ("general.file_type", T_U32, FILE_TYPE[a.dtype])] + kv
    kv.sort(key=lambda x: x[0] != "general.architecture")  # architecture first, as llama.cpp writes it
    try:
        write_gguf(a.out, kv, tensors, a.dtype)
    except KeyError as e:
        raise SystemExit(f"st_to_gguf: missing tensor {e} in {a.repo}")


if __name__ == "__main__":
    main()
