#!/usr/bin/python3
"""Writes the small tokenizers fuzz_tok_encode loads (tests/fuzz/data/): the
first N vocabulary entries of tests/data's gpt2 and bert-base-uncased
tokenizer.json, with the merges that stay inside that vocabulary. Loading the
full files takes tens of seconds under ASan; the cut keeps every byte/char
token, so the models still cover any input."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "data", "tokenizers")


def cut(name, keep):
    tj = json.load(open(os.path.join(SRC, name, "tokenizer.json"), encoding="utf-8"))
    model = tj["model"]
    vocab = {k: v for k, v in model["vocab"].items() if v < keep}
    model["vocab"] = vocab
    if "merges" in model:
        merges = []
        for m in model["merges"]:
            a, b = m.split(" ") if isinstance(m, str) else m
            if a in vocab and b in vocab and a + b in vocab:
                merges.append(m)
        model["merges"] = merges
    tj["added_tokens"] = [t for t in tj.get("added_tokens", []) if t["id"] < keep or t["special"]]
    out = os.path.join(HERE, "data", name + "-small.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
    print(out, len(vocab), "tokens")


cut("gpt2", 1500)
cut("bert-base-uncased", 2500)
