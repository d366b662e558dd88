"""End-to-end through the daemon's gateway: endpoints with task feature-extraction,
sentence-similarity and text-classification on the local folder tests/data/tiny-bert
(built-in runtime replicas), called at status.url with plain HTTP. Values against
tools/ref_bert.py goldens (numpy float64); bad inputs (empty, non-strings, 10k
inputs, over-long text) answer the right status and a message, quickly."""
import json
import os
import time

import pytest
import requests

from conftest import Daemon
from encoders_lib import DATA

BERT = os.path.abspath(os.path.join(DATA, "tiny-bert"))
G = json.load(open(os.path.join(BERT, "goldens.json")))
CASES = G["cases"]
TASKS = {"enc-fe": "feature-extraction", "enc-sim": "sentence-similarity", "enc-cls": "text-classification"}


def close(a, b, tol=1e-4):
    assert len(a) == len(b)
    assert max(abs(x - y) for x, y in zip(a, b)) < tol, (a[:4], b[:4])


def body(name, task):
    return {"name": name, "type": "protected", "accountId": None,
            "provider": {"vendor": "local", "region": "local"},
            "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                        "scaling": {"minReplica": 1, "maxReplica": 1}},
            "model": {"repository": BERT, "task": task, "framework": "pytorch",
                      "image": {"huggingface": {}}}}


def wait_running(d, name, timeout=120.0):  # generous: ASan build on a busy 2-core machine
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = d.get("/v2/endpoint/admin/" + name).json()
        if last["status"]["state"] == "running":
            return last
        assert last["status"]["state"] != "failed", json.dumps(last["status"])
        time.sleep(0.1)
    raise AssertionError("not running: %s" % json.dumps(last["status"]))


@pytest.fixture(scope="module")
def eps():
    d = Daemon(env={"ENDPOINTD_REPLICA_START_TIMEOUT_MS": "90000", "ENDPOINTD_STOP_GRACE_MS": "3000",
                    "HF_ENDPOINT": "http://127.0.0.1:9"}).start()
    try:
        for name, task in TASKS.items():
            r = d.post("/v2/endpoint/admin", json=body(name, task))
            assert r.status_code in (200, 201), r.text
        urls = {}
        for name in TASKS:
            ep = wait_running(d, name)
            assert ep["model"]["task"] == TASKS[name]
            urls[name] = ep["status"]["url"]
            assert urls[name] == d.url + "/endpoints/admin/" + name
        yield d, urls
    finally:
        assert d.cleanup() == 0, "endpointd did not exit cleanly"


def call(d, url, payload=None, path="", raw=None, timeout=30):
    h = dict(d.admin_headers)
    if raw is not None:
        h["Content-Type"] = "application/json"
        return requests.post(url + path, data=raw, headers=h, timeout=timeout)
    return requests.post(url + path, json=payload, headers=h, timeout=timeout)


def test_auth_required(eps):
    d, urls = eps
    r = requests.post(urls["enc-fe"], json={"inputs": "a"}, timeout=10)
    assert r.status_code == 401


def test_feature_extraction_at_status_url(eps):
    d, urls = eps
    u = urls["enc-fe"]
    for c in CASES:
        r = call(d, u, {"inputs": c["text"]})
        assert r.status_code == 200, r.text
        v = r.json()
        assert len(v) == 1 and len(v[0]) == 24
        close(v[0], c["st_embedding_normalized"])
    texts = [c["text"] for c in CASES]
    v = call(d, u, {"inputs": texts, "parameters": {"normalize": False}}).json()
    assert len(v) == len(texts)
    for row, c in zip(v, CASES):
        close(row, c["st_embedding"])
    # the TEI and OpenAI routes under the endpoint URL
    e = call(d, u, {"inputs": CASES[2]["text"]}, path="/embed").json()
    close(e[0], CASES[2]["st_embedding_normalized"])
    o = call(d, u, {"input": [CASES[3]["text"]], "model": "x"}, path="/v1/embeddings").json()
    close(o["data"][0]["embedding"], CASES[3]["st_embedding_normalized"])
    info = requests.get(u + "/info", headers=d.admin_headers, timeout=10).json()
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}


def test_sentence_similarity_at_status_url(eps):
    d, urls = eps
    s = G["similarity"]
    r = call(d, urls["enc-sim"], {"inputs": {"source_sentence": s["source_sentence"], "sentences": s["sentences"]}})
    assert r.status_code == 200, r.text
    close(r.json(), s["scores"])


def test_text_classification_at_status_url(eps):
    d, urls = eps
    labels = G["labels"]
    for c in CASES:
        v = call(d, urls["enc-cls"], {"inputs": c["text"]}).json()
        assert len(v) == 1 and len(v[0]) == 3
        exp = sorted(((labels[i], p) for i, p in enumerate(c["softmax"])), key=lambda x: -x[1])
        assert [x["label"] for x in v[0]] == [l for l, _ in exp]
        close([x["score"] for x in v[0]], [p for _, p in exp])
    v = call(d, urls["enc-cls"], {"inputs": CASES[1]["text"], "parameters": {"top_k": 1}}).json()
    assert len(v[0]) == 1 and v[0][0]["label"] == "POSITIVE"


def err(r, status, etype, *words):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    j = r.json()
    assert j["error_type"] == etype and isinstance(j["error"], str), j
    for w in words:
        assert w in j["error"], (w, j["error"])
    return j["error"]


def test_bad_inputs_feature_extraction(eps):
    d, urls = eps
    u = urls["enc-fe"]
    err(call(d, u, {"inputs": []}), 400, "Empty", "cannot be empty")
    for bad in ([1.5], [None], [True], [{"a": 1}], ["ok", 3], ["ok", None], [["x"]], 7, None, {"a": "b"}):
        err(call(d, u, {"inputs": bad}), 422, "Validation", "inputs")
    err(call(d, u, raw="{not json"), 400, "Validation")
    long = " ".join(["word"] * 100)
    err(call(d, u, {"inputs": long}), 422, "Validation", "less than 65 tokens", "Given: 102")
    err(call(d, u, {"inputs": [CASES[0]["text"], long], "truncate": False}), 422, "Validation", "65 tokens")
    ok = call(d, u, {"inputs": long, "truncate": True})
    assert ok.status_code == 200 and len(ok.json()[0]) == 24


def test_ten_thousand_inputs_answer_quickly(eps):
    d, urls = eps
    short = ["sentence number %d" % i for i in range(10000)]
    t0 = time.time()
    m = err(call(d, urls["enc-fe"], {"inputs": short}), 422, "Validation", "10000", "32")
    assert "batch size" in m
    # the same with long texts: ~10 MB of body, still a quick answer (413 or 422)
    big = ["word " * 200] * 10000
    r = call(d, urls["enc-fe"], {"inputs": big}, timeout=60)
    assert r.status_code in (413, 422), r.text[:200]
    assert r.json().get("error")
    # 10k token ids as one input names the token limit
    err(call(d, urls["enc-fe"], {"inputs": list(range(1000, 11000))}), 422, "Validation",
        "less than 65 tokens", "Given: 10000")
    # sentence-similarity and classification enforce the same bound
    s = {"inputs": {"source_sentence": "a", "sentences": short}}
    err(call(d, urls["enc-sim"], s), 422, "Validation", "`sentences` batch size 10000", "32")
    err(call(d, urls["enc-cls"], {"inputs": short}), 422, "Validation", "batch size", "32")
    assert time.time() - t0 < 30, time.time() - t0
    # and the endpoints still answer afterwards
    v = call(d, urls["enc-fe"], {"inputs": CASES[0]["text"]}).json()
    close(v[0], CASES[0]["st_embedding_normalized"])


def test_bad_inputs_similarity_and_classification(eps):
    d, urls = eps
    err(call(d, urls["enc-sim"], {"inputs": {"source_sentence": "a", "sentences": []}}), 400, "Empty")
    err(call(d, urls["enc-sim"], {"inputs": {"source_sentence": "a", "sentences": [1, 2]}}), 422, "Validation")
    err(call(d, urls["enc-sim"], {"inputs": {"source_sentence": 5, "sentences": ["a"]}}), 422, "Validation")
    err(call(d, urls["enc-sim"], {"inputs": {"source_sentence": "a"}}), 422, "Validation", "sentences")
    err(call(d, urls["enc-cls"], {"inputs": []}), 400, "Empty")
    err(call(d, urls["enc-cls"], {"inputs": [3.5]}), 422, "Validation", "inputs")
    err(call(d, urls["enc-cls"], {"inputs": "word " * 100}), 422, "Validation", "less than 65 tokens")
    err(call(d, urls["enc-cls"], {"inputs": "x", "parameters": {"top_k": 0}}), 422, "Validation")
