#!/usr/bin/python3
"""Peer side of the embeddings benchmark (bench/bench_embed.sh): the same BERT
(safetensors from tools/make_tiny_encoders.py --bert-base) written with Debian
python3-torch operators (MKL-DNN/OpenMP CPU backend), mean pooling, timed like
bench_embed.c on the same token ids; or, with --export-onnx FILE, the same module
exported with torch.onnx.export for onnxruntime-node (bench/embed/bench_ort.mjs).
Prints one JSON line per batch size, like bench_embed.c."""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import st_np  # noqa: E402


def seq_ids(n, vocab, j):
    """Same formula as bench_embed.c: [CLS] w... [SEP]."""
    return [101] + [1000 + (i * 7919 + j * 104729 + 13) % (vocab - 1000) for i in range(1, n - 1)] + [102]


class Bert(torch.nn.Module):
    def __init__(self, d, cfg):
        super().__init__()
        self.cfg = cfg
        self.w = torch.nn.ParameterDict()
        for k, v in d.items():
            self.w[k.replace(".", "__")] = torch.nn.Parameter(torch.from_numpy(v.copy()), requires_grad=False)

    def p(self, name):
        return self.w[name.replace(".", "__")]

    def lin(self, x, name):
        return torch.nn.functional.linear(x, self.p(name + ".weight"), self.p(name + ".bias"))

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.cfg["hidden_size"],), self.p(name + ".weight"), self.p(name + ".bias"),
                                              self.cfg["layer_norm_eps"])

    def forward(self, ids, mask):
        c = self.cfg
        B, S = ids.shape
        H = c["num_attention_heads"]
        dh = c["hidden_size"] // H
        pos = torch.arange(S).unsqueeze(0)
        x = (torch.nn.functional.embedding(ids, self.p("embeddings.word_embeddings.weight")) +
             torch.nn.functional.embedding(pos, self.p("embeddings.position_embeddings.weight")) +
             self.p("embeddings.token_type_embeddings.weight")[0])
        x = self.ln(x, "embeddings.LayerNorm")
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * -1e9
        for i in range(c["num_hidden_layers"]):
            p = "encoder.layer.%d." % i

            def heads(t):
                return t.view(B, S, H, dh).transpose(1, 2)
            q = heads(self.lin(x, p + "attention.self.query"))
            k = heads(self.lin(x, p + "attention.self.key"))
            v = heads(self.lin(x, p + "attention.self.value"))
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + bias, dim=-1) @ v
            a = a.transpose(1, 2).reshape(B, S, H * dh)
            x = self.ln(x + self.lin(a, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            f = torch.nn.functional.gelu(self.lin(x, p + "intermediate.dense"))
            x = self.ln(x + self.lin(f, p + "output.dense"), p + "output.LayerNorm")
        m = mask.unsqueeze(-1).to(x.dtype)
        return (x * m).sum(1) / m.sum(1)  # mean pooling


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--min-seconds", type=float, default=5.0)
    ap.add_argument("--export-onnx", metavar="FILE")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    weights, _ = st_np.load(os.path.join(a.model, "model.safetensors"))
    model = Bert(weights, cfg).eval()
    V = cfg["vocab_size"]
    if a.export_onnx:
        ids = torch.tensor([seq_ids(a.seq, V, j) for j in range(2)], dtype=torch.int64)
        torch.onnx.export(model, (ids, torch.ones_like(ids)), a.export_onnx, input_names=["input_ids", "attention_mask"],
                          output_names=["sentence_embedding"], opset_version=14,
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                        "sentence_embedding": {0: "batch"}})
        print("wrote", a.export_onnx, file=sys.stderr)
        return
    for B in a.batch or [1, 32]:
        ids = torch.tensor([seq_ids(a.seq, V, j) for j in range(B)], dtype=torch.int64)
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            out = model(ids, mask)  # warm-up
            reps, t0 = 0, time.perf_counter()
            while reps < 1 or time.perf_counter() - t0 < a.min_seconds:
                out = model(ids, mask)
                reps += 1
            s = time.perf_counter() - t0
        print(json.dumps({"engine": "torch-%s" % torch.__version__, "threads": a.threads, "batch": B, "seq": a.seq,
                          "reps": reps, "ms_per_batch": round(s * 1e3 / reps, 2),
                          "sentences_per_s": round(B * reps / s, 2),
                          "first": [round(float(x), 6) for x in out[0, :8]]}), flush=True)


if __name__ == "__main__":
    main()
