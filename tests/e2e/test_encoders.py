"""End-to-end: `endpointd runtime` on the tiny BERT (tests/data/tiny-bert) with
--task feature-extraction / sentence-similarity / text-classification. Every
TEI route's shape, values against tools/ref_bert.py goldens (numpy float64),
error statuses, concurrency == sequential."""
import base64
import concurrent.futures
import json
import math
import os
import shutil
import struct
import tempfile

import pytest

from encoders_lib import DATA, Runtime

BERT = os.path.join(DATA, "tiny-bert")
G = json.load(open(os.path.join(BERT, "goldens.json")))
CASES = G["cases"]
TOL = 1e-4


def close(a, b, tol=TOL):
    assert len(a) == len(b)
    assert max(abs(x - y) for x, y in zip(a, b)) < tol, (a[:4], b[:4])


@pytest.fixture(scope="module")
def fe():
    r = Runtime(BERT, "feature-extraction").start()
    yield r
    assert r.stop() == 0


@pytest.fixture(scope="module")
def cls():
    r = Runtime(BERT, "text-classification").start()
    yield r
    assert r.stop() == 0


def test_health_info_metrics(fe):
    assert fe.get("/health").status_code == 200
    assert fe.get("/").status_code == 200
    info = fe.get("/info").json()
    assert info["model_id"] == "tiny-bert"
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_input_length"] == 64
    for k in ("model_sha", "model_dtype", "max_concurrent_requests", "max_batch_tokens",
              "max_client_batch_size", "auto_truncate", "version"):
        assert k in info
    fe.post("/embed", {"inputs": "a"})
    m = fe.get("/metrics")
    assert m.status_code == 200 and "tgi_request_count" in m.text


def test_embed_single_is_2d_and_matches_reference(fe):
    for c in CASES:
        r = fe.post("/embed", {"inputs": c["text"]})
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
        v = r.json()
        assert len(v) == 1 and len(v[0]) == 24
        close(v[0], c["st_embedding_normalized"])
        assert int(r.headers["x-compute-tokens"]) == len(c["ids"])


def test_embed_batch_normalize_dimensions(fe):
    texts = [c["text"] for c in CASES]
    v = fe.post("/embed", {"inputs": texts}).json()
    assert len(v) == len(texts)
    for row, c in zip(v, CASES):
        close(row, c["st_embedding_normalized"])
    raw = fe.post("/embed", {"inputs": texts[:2], "normalize": False}).json()
    for row, c in zip(raw, CASES):
        close(row, c["st_embedding"])
    d8 = fe.post("/embed", {"inputs": texts[0], "dimensions": 8}).json()[0]
    assert len(d8) == 8
    ref = CASES[0]["st_embedding"][:8]
    n = math.sqrt(sum(x * x for x in ref))
    close(d8, [x / n for x in ref])
    # token ids as input (no special tokens added)
    ids = fe.post("/embed", {"inputs": CASES[0]["ids"]}).json()
    close(ids[0], CASES[0]["st_embedding_normalized"])


def test_embed_all(fe):
    c = CASES[0]
    v = fe.post("/embed_all", {"inputs": c["text"]}).json()
    assert len(v) == 1 and len(v[0]) == len(c["ids"]) and len(v[0][0]) == 32
    close([x for row in v[0] for x in row], c["hidden"])


def test_root_feature_extraction_params_at_root(fe):
    c = CASES[1]
    v = fe.post("/", {"inputs": c["text"], "normalize": True, "truncate": True}).json()
    assert len(v) == 1
    close(v[0], c["st_embedding_normalized"])
    v = fe.post("/", {"inputs": [c["text"]], "parameters": {"normalize": False}}).json()
    close(v[0], c["st_embedding"])


def test_openai_embeddings(fe):
    texts = [CASES[0]["text"], CASES[2]["text"]]
    for path in ("/v1/embeddings", "/embeddings"):
        o = fe.post(path, {"input": texts, "model": "my-model"}).json()
        assert o["object"] == "list" and o["model"] == "my-model"
        assert [d["index"] for d in o["data"]] == [0, 1]
        assert all(d["object"] == "embedding" for d in o["data"])
        close(o["data"][0]["embedding"], CASES[0]["st_embedding_normalized"])
        assert o["usage"] == {"prompt_tokens": len(CASES[0]["ids"]) + len(CASES[2]["ids"]),
                              "total_tokens": len(CASES[0]["ids"]) + len(CASES[2]["ids"])}
    o = fe.post("/v1/embeddings", {"input": texts[1], "encoding_format": "base64"}).json()
    b = base64.b64decode(o["data"][0]["embedding"])
    close(list(struct.unpack("<24f", b)), CASES[2]["st_embedding_normalized"])
    e = fe.post("/v1/embeddings", {"input": texts[0], "encoding_format": "hex"})
    assert e.status_code == 422 and "message" in e.json()


def test_tokenize_decode(fe):
    c = CASES[0]
    t = fe.post("/tokenize", {"inputs": c["text"]}).json()
    assert [x["id"] for x in t[0]] == c["ids"]
    assert t[0][0] == {"id": 101, "text": "[CLS]", "special": True, "start": None, "stop": None}
    assert t[0][1] == {"id": 7592, "text": "Hello", "special": False, "start": 0, "stop": 5}
    t2 = fe.post("/tokenize", {"inputs": ["a", "b"], "add_special_tokens": False}).json()
    assert [[x["id"] for x in r] for r in t2] == [[1037], [1038]]
    assert fe.post("/decode", {"ids": c["ids"]}).json() == ["hello world!"]
    assert fe.post("/decode", {"ids": [c["ids"]], "skip_special_tokens": False}).json() == \
        ["[CLS] hello world! [SEP]"]


def test_similarity_route(fe):
    s = G["similarity"]
    body = {"inputs": {"source_sentence": s["source_sentence"], "sentences": s["sentences"]}}
    close(fe.post("/similarity", body).json(), s["scores"])
    close(fe.post("/", body).json(), s["scores"])


def test_errors(fe):
    def err(r, status, etype):
        assert r.status_code == status, r.text
        j = r.json()
        assert j["error_type"] == etype and isinstance(j["error"], str) and j["error"]
        assert r.headers["Content-Type"].startswith("application/json")
    err(fe.post("/embed", {"inputs": []}), 400, "Empty")
    err(fe.post("/embed", {"input": "x"}), 422, "Validation")
    err(fe.post("/embed", raw="{bad json"), 400, "Validation")
    err(fe.post("/embed", raw="[1,2]"), 422, "Validation")
    err(fe.post("/embed", {"inputs": 5}), 422, "Validation")
    err(fe.post("/embed", {"inputs": [5.5]}), 422, "Validation")
    err(fe.post("/embed", {"inputs": "a", "normalize": "yes"}), 422, "Validation")
    err(fe.post("/embed", {"inputs": "a", "dimensions": 1000}), 422, "Validation")
    err(fe.post("/embed", {"inputs": [999999]}), 422, "Validation")
    err(fe.post("/embed", {"inputs": ["a"] * 33}), 422, "Validation")
    long = " ".join(["word"] * 100)
    err(fe.post("/embed", {"inputs": long}), 422, "Validation")
    err(fe.post("/embed", {"inputs": long, "truncate": False}), 422, "Validation")
    ok = fe.post("/embed", {"inputs": long, "truncate": True})
    assert ok.status_code == 200 and int(ok.headers["x-compute-tokens"]) == 64
    err(fe.post("/similarity", {"inputs": {"source_sentence": "a", "sentences": []}}), 400, "Empty")
    err(fe.post("/similarity", {"inputs": "a"}), 422, "Validation")
    err(fe.post("/rerank", {"query": "a", "texts": ["b"]}), 422, "Validation")  # 3 labels: not a re-ranker
    err(fe.post("/decode", {"ids": [-1]}), 422, "Validation")
    assert fe.get("/nope").status_code == 404


def test_concurrent_equals_sequential(fe):
    texts = [c["text"] for c in CASES] * 4
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        res = list(ex.map(lambda t: fe.post("/embed", {"inputs": t}).json()[0], texts))
    for t, v in zip(texts, res):
        c = next(c for c in CASES if c["text"] == t)
        close(v, c["st_embedding_normalized"])


def test_sentence_similarity_task():
    r = Runtime(BERT, "sentence-similarity").start()
    try:
        s = G["similarity"]
        v = r.post("/", {"inputs": {"source_sentence": s["source_sentence"], "sentences": s["sentences"]}})
        assert v.status_code == 200
        close(v.json(), s["scores"])
    finally:
        assert r.stop() == 0


def test_classification_root(cls):
    labels = G["labels"]
    for c in CASES:
        v = cls.post("/", {"inputs": c["text"]}).json()
        assert isinstance(v, list) and len(v) == 1 and len(v[0]) == 3
        assert [list(x.keys()) for x in v[0]] == [["label", "score"]] * 3
        exp = sorted(((labels[i], p) for i, p in enumerate(c["softmax"])), key=lambda x: -x[1])
        assert [x["label"] for x in v[0]] == [l for l, _ in exp]
        close([x["score"] for x in v[0]], [p for _, p in exp])
    c = CASES[1]
    v = cls.post("/", {"inputs": c["text"], "parameters": {"top_k": 1}}).json()
    assert len(v[0]) == 1 and v[0][0]["label"] == "POSITIVE"
    v = cls.post("/", {"inputs": c["text"], "parameters": {"function_to_apply": "sigmoid"}}).json()
    close(sorted(x["score"] for x in v[0]), sorted(c["sigmoid"]))
    v = cls.post("/", {"inputs": [CASES[0]["text"], CASES[1]["text"]]}).json()
    assert len(v) == 2 and all(len(x) == 3 for x in v)
    assert cls.post("/", {"inputs": "x", "parameters": {"top_k": 0}}).status_code == 422


def test_predict_shapes(cls):
    c = CASES[3]
    v = cls.post("/predict", {"inputs": c["text"]}).json()
    assert [list(x.keys()) for x in v] == [["score", "label"]] * 3  # flat for one input
    close(sorted(x["score"] for x in v), sorted(c["softmax"]))
    raw = cls.post("/predict", {"inputs": c["text"], "raw_scores": True}).json()
    close(sorted(x["score"] for x in raw), sorted(c["logits"]))
    p = G["pair"]
    v = cls.post("/predict", {"inputs": [p["a"], p["b"]]}).json()
    assert isinstance(v[0], dict)
    close(sorted(x["score"] for x in v), sorted(p["softmax"]))
    v = cls.post("/predict", {"inputs": [[CASES[0]["text"]], [p["a"], p["b"]]]}).json()
    assert len(v) == 2
    close(sorted(x["score"] for x in v[0]), sorted(CASES[0]["softmax"]))
    close(sorted(x["score"] for x in v[1]), sorted(p["softmax"]))
    info = cls.get("/info").json()
    assert info["model_type"] == {"classifier": {"id2label": {"0": "NEGATIVE", "1": "NEUTRAL", "2": "POSITIVE"},
                                                 "label2id": {"NEGATIVE": 0, "NEUTRAL": 1, "POSITIVE": 2}}}


def test_multi_label_problem_type_uses_sigmoid():
    d = tempfile.mkdtemp(prefix="epd-enc-")
    try:
        for f in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
            os.symlink(os.path.realpath(os.path.join(BERT, f)), os.path.join(d, f))
        cfg = json.load(open(os.path.join(BERT, "config.json")))
        cfg["problem_type"] = "multi_label_classification"
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
        r = Runtime(d, "text-classification").start()
        try:
            c = CASES[0]
            v = r.post("/", {"inputs": c["text"]}).json()
            close(sorted(x["score"] for x in v[0]), sorted(c["sigmoid"]))
            # no modules.json: plain BERT, CLS pooling, no Dense
            e = r.post("/embed", {"inputs": c["text"], "normalize": False}).json()
            close(e[0], c["pooled"]["cls"])
        finally:
            assert r.stop() == 0
    finally:
        shutil.rmtree(d)


def test_bad_model_or_task_fails_clearly():
    r = Runtime(os.path.join(DATA, "tiny-roberta"), "text-classification").start(wait_ready=False)
    assert r.proc.wait(90) == 1
    assert "cannot load model" in r.proc.stderr.read()
    r = Runtime(os.path.join(DATA, "tiny-gpt2"), "feature-extraction").start(wait_ready=False)
    assert r.proc.wait(90) == 1
