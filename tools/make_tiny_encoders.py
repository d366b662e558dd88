#!/usr/bin/python3
"""Write the tiny random encoder repositories used by the encoder tests.

  make_tiny_encoders.py --out DIR [--seed N]
  make_tiny_encoders.py --bert-base DIR [--seed N]
    DIR               BERT-base-shaped BertModel for bench/bench_embed.sh (hidden 768, 12 layers,
                      12 heads, intermediate 3072, 512 positions, F32, mean pooling, ~440 MB).
    DIR/tiny-bert     BertForSequenceClassification ("bert." names, pooler, 3-label classifier)
                      + sentence-transformers layout (modules.json, 1_Pooling mean, 2_Dense tanh,
                      Normalize) + the bert-base-uncased WordPiece tokenizer; word embeddings F16.
    DIR/tiny-roberta  RobertaModel without prefix (padding_idx 1 position offset), vocab 100,
                      no tokenizer (tests feed ids).
Weights come from numpy's default_rng(seed): the same command writes the same bytes.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOKDIR = os.path.join(HERE, "..", "tests", "data", "tokenizers", "bert-base-uncased")


def rnd(rng, shape, std):
    return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float32)


def encoder_layers(rng, t, prefix, L, d, F, std=0.25):
    for i in range(L):
        p = f"{prefix}encoder.layer.{i}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            t[p + n + ".weight"] = rnd(rng, (d, d), std)
            t[p + n + ".bias"] = rnd(rng, (d,), 0.1)
        t[p + "intermediate.dense.weight"] = rnd(rng, (F, d), std)
        t[p + "intermediate.dense.bias"] = rnd(rng, (F,), 0.1)
        t[p + "output.dense.weight"] = rnd(rng, (d, F), std)
        t[p + "output.dense.bias"] = rnd(rng, (d,), 0.1)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + n + ".weight"] = 1 + rnd(rng, (d,), 0.1)
            t[p + n + ".bias"] = rnd(rng, (d,), 0.1)


def embeddings(rng, t, prefix, V, P, T, d, f16_words):
    w = rnd(rng, (V, d), 0.5)
    t[prefix + "embeddings.word_embeddings.weight"] = w.astype(np.float16) if f16_words else w
    t[prefix + "embeddings.position_embeddings.weight"] = rnd(rng, (P, d), 0.5)
    t[prefix + "embeddings.token_type_embeddings.weight"] = rnd(rng, (T, d), 0.5)
    t[prefix + "embeddings.LayerNorm.weight"] = 1 + rnd(rng, (d,), 0.1)
    t[prefix + "embeddings.LayerNorm.bias"] = rnd(rng, (d,), 0.1)


def dump(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)


def tiny_bert(rng, out):
    d, L, H, F, V, P, ND = 32, 2, 4, 64, 30522, 64, 24
    labels = ["NEGATIVE", "NEUTRAL", "POSITIVE"]
    cfg = {"architectures": ["BertForSequenceClassification"], "model_type": "bert",
           "vocab_size": V, "hidden_size": d, "num_hidden_layers": L, "num_attention_heads": H,
           "intermediate_size": F, "max_position_embeddings": P, "type_vocab_size": 2,
           "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pad_token_id": 0,
           "position_embedding_type": "absolute", "torch_dtype": "float32",
           "id2label": {str(i): l for i, l in enumerate(labels)},
           "label2id": {l: i for i, l in enumerate(labels)}}
    t = {}
    embeddings(rng, t, "bert.", V, P, 2, d, True)
    encoder_layers(rng, t, "bert.", L, d, F)
    t["bert.pooler.dense.weight"] = rnd(rng, (d, d), 0.25)
    t["bert.pooler.dense.bias"] = rnd(rng, (d,), 0.1)
    t["classifier.weight"] = rnd(rng, (len(labels), d), 0.5)
    t["classifier.bias"] = rnd(rng, (len(labels),), 0.1)
    os.makedirs(out, exist_ok=True)
    dump(os.path.join(out, "config.json"), cfg)
    st_np.save(os.path.join(out, "model.safetensors"), t)
    for fn in ("tokenizer.json", "tokenizer_config.json"):  # relative links: no 0.7 MB copy
        dst = os.path.join(out, fn)
        if os.path.lexists(dst):
            os.remove(dst)
        os.symlink(os.path.relpath(os.path.join(TOKDIR, fn), out), dst)
    dump(os.path.join(out, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
        {"idx": 3, "name": "3", "path": "3_Normalize", "type": "sentence_transformers.models.Normalize"}])
    dump(os.path.join(out, "sentence_bert_config.json"), {"max_seq_length": P, "do_lower_case": False})
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    dump(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": d, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False, "include_prompt": True})
    os.makedirs(os.path.join(out, "2_Dense"), exist_ok=True)
    dump(os.path.join(out, "2_Dense", "config.json"), {
        "in_features": d, "out_features": ND, "bias": True,
        "activation_function": "torch.nn.modules.activation.Tanh"})
    st_np.save(os.path.join(out, "2_Dense", "model.safetensors"),
               {"linear.weight": rnd(rng, (ND, d), 0.3), "linear.bias": rnd(rng, (ND,), 0.1)})


def tiny_roberta(rng, out):
    d, L, H, F, V, P = 16, 1, 2, 32, 100, 40
    cfg = {"architectures": ["RobertaModel"], "model_type": "roberta", "vocab_size": V,
           "hidden_size": d, "num_hidden_layers": L, "num_attention_heads": H,
           "intermediate_size": F, "max_position_embeddings": P, "type_vocab_size": 1,
           "layer_norm_eps": 1e-5, "hidden_act": "gelu", "pad_token_id": 1, "bos_token_id": 0,
           "eos_token_id": 2, "torch_dtype": "float32"}
    t = {}
    embeddings(rng, t, "", V, P, 1, d, False)
    encoder_layers(rng, t, "", L, d, F)
    os.makedirs(out, exist_ok=True)
    dump(os.path.join(out, "config.json"), cfg)
    st_np.save(os.path.join(out, "model.safetensors"), t)


def bert_base(rng, out):
    d, L, H, F, V, P = 768, 12, 12, 3072, 30522, 512
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": V, "hidden_size": d,
           "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": F,
           "max_position_embeddings": P, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
           "hidden_act": "gelu", "pad_token_id": 0, "position_embedding_type": "absolute",
           "torch_dtype": "float32"}
    t = {}
    embeddings(rng, t, "", V, P, 2, d, False)
    encoder_layers(rng, t, "", L, d, F, std=0.02)  # BERT's init scale
    os.makedirs(out, exist_ok=True)
    dump(os.path.join(out, "config.json"), cfg)
    st_np.save(os.path.join(out, "model.safetensors"), t)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    dump(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": d, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--bert-base", metavar="DIR")
    ap.add_argument("--seed", type=int, default=6)
    a = ap.parse_args()
    if a.bert_base:
        bert_base(np.random.default_rng(a.seed), a.bert_base)
        return
    if not a.out:
        ap.error("--out or --bert-base is required")
    tiny_bert(np.random.default_rng(a.seed), os.path.join(a.out, "tiny-bert"))
    tiny_roberta(np.random.default_rng(a.seed + 1), os.path.join(a.out, "tiny-roberta"))


if __name__ == "__main__":
    main()
