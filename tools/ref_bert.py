#!/usr/bin/python3
"""Independent BERT / RoBERTa encoder reference in plain numpy float64 (golden values for
the C encoder) plus a small BERT-uncased WordPiece tokenizer for ASCII test inputs.

Follows Hugging Face BertModel: word + position + token_type embeddings, LayerNorm, post-LN
layers x = LN(x + O(attn(x))), x = LN(x + W2 gelu_erf(W1 x)); attention only over real
tokens (a padding mask); RoBERTa positions start at pad_token_id + 1. Pooler tanh(W h[CLS]),
classifier on top; sentence-transformers pooling (mean/cls/max/lasttoken), Dense + tanh,
L2 normalize.

  ref_bert.py --data tests/data      rewrites tests/data/tiny-bert/goldens.json and
                                     tests/data/tiny-roberta/goldens.json
"""
import argparse
import json
import math
import os
import sys
import unicodedata

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_np  # noqa: E402


# ---- WordPiece (bert-base-uncased, ASCII-oriented) ----
def load_vocab(tok_json):
    tj = json.load(open(tok_json, encoding="utf-8"))
    return tj["model"]["vocab"]


def basic_split(text):
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words, cur = [], ""
    for c in text:
        if c.isspace():
            if cur:
                words.append(cur)
            cur = ""
        elif (33 <= ord(c) <= 47 or 58 <= ord(c) <= 64 or 91 <= ord(c) <= 96 or 123 <= ord(c) <= 126
              or unicodedata.category(c).startswith("P")):
            if cur:
                words.append(cur)
            words.append(c)
            cur = ""
        else:
            cur += c
    if cur:
        words.append(cur)
    return words


def wordpiece(vocab, text):
    out = []
    for w in basic_split(text):
        start, pieces = 0, []
        while start < len(w):
            end, found = len(w), None
            while end > start:
                sub = w[start:end] if start == 0 else "##" + w[start:end]
                if sub in vocab:
                    found = sub
                    break
                end -= 1
            if found is None:
                pieces = ["[UNK]"]
                break
            pieces.append(found)
            start = end
        out += [vocab[p] for p in pieces]
    return out


# ---- model ----
class Encoder:
    def __init__(self, model_dir):
        self.cfg = cfg = json.load(open(os.path.join(model_dir, "config.json")))
        raw, _ = st_np.load(os.path.join(model_dir, "model.safetensors"))
        self.t = {}
        for k, v in raw.items():
            for pre in ("bert.", "roberta."):
                if k.startswith(pre):
                    k = k[len(pre):]
            self.t[k] = np.asarray(v, dtype=np.float64)
        self.d, self.H, self.L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        self.roberta = cfg["model_type"] in ("roberta", "xlm-roberta", "camembert")
        self.pad = cfg.get("pad_token_id", 0)

    def ln(self, x, name):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.t[name + ".weight"] + self.t[name + ".bias"]

    def lin(self, x, name):
        return x @ self.t[name + ".weight"].T + self.t[name + ".bias"]

    def hidden(self, ids, types=None):
        """Last hidden states [T, d] of one sequence (no padding: the mask's effect)."""
        T = len(ids)
        types = types or [0] * T
        pos = np.arange(T) + (self.pad + 1 if self.roberta else 0)
        t = self.t
        x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][pos] \
            + t["embeddings.token_type_embeddings.weight"][types]
        x = self.ln(x, "embeddings.LayerNorm")
        hd = self.d // self.H
        erf = np.vectorize(math.erf)
        for i in range(self.L):
            p = f"encoder.layer.{i}."
            q = self.lin(x, p + "attention.self.query").reshape(T, self.H, hd).transpose(1, 0, 2)
            k = self.lin(x, p + "attention.self.key").reshape(T, self.H, hd).transpose(1, 0, 2)
            v = self.lin(x, p + "attention.self.value").reshape(T, self.H, hd).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(1, 0, 2).reshape(T, self.d)
            x = self.ln(x + self.lin(a, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = self.lin(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
            x = self.ln(x + self.lin(h, p + "output.dense"), p + "output.LayerNorm")
        return x

    def logits(self, ids, types=None):
        h = self.hidden(ids, types)
        pooled = np.tanh(self.lin(h[0], "pooler.dense"))
        return self.lin(pooled, "classifier")


def pool(h, mode):
    return {"mean": h.mean(0), "cls": h[0], "max": h.max(0), "lasttoken": h[-1]}[mode]


def r(x):
    return [float("%.9g" % v) for v in np.asarray(x).ravel()]


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def bert_goldens(data):
    mdir = os.path.join(data, "tiny-bert")
    vocab = load_vocab(os.path.join(mdir, "tokenizer.json"))
    enc = Encoder(mdir)
    dense, _ = st_np.load(os.path.join(mdir, "2_Dense", "model.safetensors"))
    dw, db = (np.asarray(dense[k], dtype=np.float64) for k in ("linear.weight", "linear.bias"))
    texts = ["Hello world!", "The quick brown fox jumps over the lazy dog.", "unaffable",
             "I love this movie, it's great.", "a", "Embeddings: tiny, random & deterministic?"]
    cases = []
    for text in texts:
        ids = [101] + wordpiece(vocab, text) + [102]
        h = enc.hidden(ids)
        st = np.tanh(dw @ h.mean(0) + db)
        z = enc.logits(ids)
        cases.append({"text": text, "ids": ids, "hidden": r(h),
                      "pooled": {m: r(pool(h, m)) for m in ("mean", "cls", "max", "lasttoken")},
                      "st_embedding": r(st), "st_embedding_normalized": r(st / np.linalg.norm(st)),
                      "logits": r(z), "softmax": r(softmax(z)), "sigmoid": r(1 / (1 + np.exp(-z)))})
    a, b = "I love this movie.", "It is great!"
    ia, ib = wordpiece(vocab, a), wordpiece(vocab, b)
    ids = [101] + ia + [102] + ib + [102]
    types = [0] * (len(ia) + 2) + [1] * (len(ib) + 1)
    z = enc.logits(ids, types)
    pair = {"a": a, "b": b, "ids": ids, "type_ids": types, "logits": r(z), "softmax": r(softmax(z))}
    src, sents = "A man is eating food.", ["A man is eating a meal.", "The girl plays guitar.", "A man eats."]

    def emb(t):
        ids = [101] + wordpiece(vocab, t) + [102]
        e = np.tanh(dw @ enc.hidden(ids).mean(0) + db)
        return e / np.linalg.norm(e)
    s = emb(src)
    sim = {"source_sentence": src, "sentences": sents, "scores": r([float(s @ emb(x)) for x in sents])}
    out = {"made_by": "tools/ref_bert.py (numpy float64)", "labels": ["NEGATIVE", "NEUTRAL", "POSITIVE"],
           "cases": cases, "pair": pair, "similarity": sim}
    with open(os.path.join(mdir, "goldens.json"), "w") as f:
        json.dump(out, f, indent=1)


def roberta_goldens(data):
    mdir = os.path.join(data, "tiny-roberta")
    enc = Encoder(mdir)
    seqs = [[0, 5, 17, 42, 2], [0, 99, 3, 2], [0] + list(range(10, 46)) + [2]]  # last: 38 = max usable
    cases = [{"ids": ids, "hidden": r(enc.hidden(ids))} for ids in seqs]
    with open(os.path.join(mdir, "goldens.json"), "w") as f:
        json.dump({"made_by": "tools/ref_bert.py (numpy float64)", "cases": cases}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    a = ap.parse_args()
    bert_goldens(a.data)
    roberta_goldens(a.data)


if __name__ == "__main__":
    main()
