"""End-to-end tests of `endpointd runtime` on the real stories260K model: TGI
routes (wire key sets exactly as huggingface_hub v0.19 needs them), OpenAI
routes, tokenize/info/health/metrics, every validation error, client
disconnects, and 429 when the bounded queue is full. Golden text comes from
tests/data/stories260K-greedy.json (numpy float64 reference)."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("EP_SOURCE_DIR", os.path.join(HERE, "..", ".."))
MODEL = os.path.join(SRC, "models", "stories260K")
TESTDATA = os.environ.get("EP_TESTDATA", os.path.join(SRC, "tests", "data"))
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def endpointd_bin():
    b = os.environ.get("ENDPOINTD_BIN") or os.path.join(SRC, "build", "endpointd")
    if not os.path.exists(b):
        pytest.fail("endpointd binary not found (set ENDPOINTD_BIN): %s" % b)
    return b


class Runtime:
    def __init__(self, model=MODEL, args=()):
        self.proc = subprocess.Popen(
            [endpointd_bin(), "runtime", "--model", model, "--port", "0", "--threads", "1",
             "--parent-pid", str(os.getpid())] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert "listening on" in line, line
        self.url = line.strip().split("listening on ")[1]
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError("runtime not healthy")

    def post(self, path, body, **kw):
        return requests.post(self.url + path, json=body, timeout=60, **kw)

    def stop(self):
        self.proc.terminate()
        try:
            assert self.proc.wait(10) == 0
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture(scope="module")
def rt():
    r = Runtime(args=["--max-input-tokens", "100", "--max-total-tokens", "300"])
    yield r
    r.stop()


@pytest.fixture(scope="module")
def golden():
    with open(os.path.join(TESTDATA, "stories260K-greedy.json")) as f:
        return json.load(f)["cases"]


def sse_events(resp):
    """Raw `data:` payloads of an SSE response, in order; asserts framing."""
    out = []
    for line in resp.iter_lines(decode_unicode=True):
        if not line:
            continue
        assert line.startswith("data: "), line
        out.append(line[6:])
    return out


GREEDY = {"max_new_tokens": 64, "do_sample": False}


def test_health_info_models(rt):
    r = requests.get(rt.url + "/health")
    assert r.status_code == 200 and r.content == b""
    assert requests.get(rt.url + "/").status_code == 200
    info = requests.get(rt.url + "/info").json()
    for k in ["model_id", "model_sha", "model_dtype", "model_device_type", "model_pipeline_tag",
              "max_concurrent_requests", "max_best_of", "max_stop_sequences", "max_input_tokens",
              "max_input_length", "max_total_tokens", "waiting_served_ratio",
              "max_batch_total_tokens", "max_waiting_tokens", "validation_workers",
              "max_client_batch_size", "router", "version", "sha", "docker_label"]:
        assert k in info, k
    assert info["model_id"] == "stories260K"
    assert info["max_input_tokens"] == 100 and info["max_total_tokens"] == 300
    assert info["model_pipeline_tag"] == "text-generation"
    m = requests.get(rt.url + "/v1/models").json()
    assert m == {"object": "list", "data": [{"id": "stories260K", "object": "model", "created": 0,
                                             "owned_by": "stories260K"}]}


def test_generate_golden(rt, golden):
    for case in golden:
        if not case["prompt"]:
            continue
        r = rt.post("/generate", {"inputs": case["prompt"],
                                  "parameters": dict(GREEDY, return_full_text=True)})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert r.json() == {"generated_text": case["full_text"]}
        assert r.headers["x-generated-tokens"] == "64"
        assert r.headers["x-prompt-tokens"] == str(len(case["input_ids"]))
        assert r.headers["x-compute-type"]
        r = rt.post("/generate", {"inputs": case["prompt"], "parameters": GREEDY})
        assert r.json()["generated_text"].lstrip(" ") == case["greedy_text"]


def test_generate_details_keys(rt, golden):
    case = golden[1]
    r = rt.post("/generate", {"inputs": case["prompt"], "parameters": {
        "max_new_tokens": 5, "details": True, "decoder_input_details": True, "top_n_tokens": 2}})
    d = r.json()
    assert set(d) == {"generated_text", "details"}
    det = d["details"]
    assert set(det) == {"finish_reason", "generated_tokens", "seed", "prefill", "tokens",
                        "top_tokens"}
    assert det["finish_reason"] == "length" and det["generated_tokens"] == 5
    assert det["seed"] is None
    assert [t["id"] for t in det["tokens"]] == case["greedy_ids"][:5]
    assert [p["id"] for p in det["prefill"]] == case["input_ids"]
    assert det["prefill"][0]["logprob"] is None
    assert all(set(p) == {"id", "text", "logprob"} for p in det["prefill"])
    assert all(p["logprob"] <= 0 for p in det["prefill"][1:])
    for t, top in zip(det["tokens"], det["top_tokens"]):
        assert set(t) == {"id", "text", "logprob", "special"}
        assert len(top) == 2 and top[0]["id"] == t["id"]
        assert t["logprob"] <= 0
    # without top_n_tokens / decoder_input_details: no top_tokens key, empty prefill
    det = rt.post("/generate", {"inputs": "Hello", "parameters": {
        "max_new_tokens": 3, "details": True}}).json()["details"]
    assert set(det) == {"finish_reason", "generated_tokens", "seed", "prefill", "tokens"}
    assert det["prefill"] == []
    # no details requested: only generated_text
    assert set(rt.post("/generate", {"inputs": "Hello", "parameters": {"max_new_tokens": 2}})
               .json()) == {"generated_text"}


def test_generate_stream_keys(rt, golden):
    case = golden[2]
    r = rt.post("/generate_stream", {"inputs": case["prompt"],
                                     "parameters": {"max_new_tokens": 10, "details": True}},
                stream=True)
    assert r.headers["content-type"].startswith("text/event-stream")
    ev = [json.loads(e) for e in sse_events(r)]  # a [DONE] would fail json.loads
    assert len(ev) == 10
    for e in ev[:-1]:
        assert set(e) == {"token", "generated_text", "details"}
        assert e["generated_text"] is None and e["details"] is None
        assert set(e["token"]) == {"id", "text", "logprob", "special"}
    last = ev[-1]
    assert set(last) == {"token", "generated_text", "details"}
    assert set(last["details"]) == {"finish_reason", "generated_tokens", "seed"}
    assert last["details"]["generated_tokens"] == 10
    assert [e["token"]["id"] for e in ev] == case["greedy_ids"][:10]
    assert "".join(e["token"]["text"] for e in ev) == last["generated_text"]
    # details off -> final details null; top_n_tokens -> top_tokens on each event
    r = rt.post("/generate_stream", {"inputs": "Hello", "parameters": {
        "max_new_tokens": 3, "top_n_tokens": 2}}, stream=True)
    ev = [json.loads(e) for e in sse_events(r)]
    assert ev[-1]["details"] is None
    assert all(set(e) == {"token", "generated_text", "details", "top_tokens"} for e in ev)
    assert all(len(e["top_tokens"]) == 2 for e in ev)


def test_compat_route(rt, golden):
    case = golden[4]
    # return_full_text defaults to true on the compat route
    r = rt.post("/", {"inputs": case["prompt"], "parameters": GREEDY})
    assert r.json() == [{"generated_text": case["full_text"]}]
    # v0.19 client body (all keys, nulls)
    body = {"inputs": case["prompt"], "parameters": {
        "do_sample": False, "max_new_tokens": 20, "repetition_penalty": None,
        "return_full_text": False, "stop": [], "seed": None, "temperature": None, "top_k": None,
        "top_p": None, "truncate": None, "typical_p": None, "best_of": None, "watermark": False,
        "details": False, "decoder_input_details": False}, "stream": False}
    r = rt.post("/", body)
    out = r.json()
    assert isinstance(out, list) and set(out[0]) == {"generated_text"}
    body["stream"] = True
    r = rt.post("/", body, stream=True)
    ev = [json.loads(e) for e in sse_events(r)]
    assert len(ev) == 20 and ev[-1]["generated_text"] == out[0]["generated_text"]
    # legacy task JSON with options is accepted
    r = rt.post("/", {"inputs": "Hello", "parameters": {"max_new_tokens": 2},
                      "options": {"wait_for_model": True}})
    assert r.status_code == 200


def test_stop_sequence_and_seed(rt):
    r = rt.post("/generate", {"inputs": "Once upon a time", "parameters": {
        "max_new_tokens": 40, "stop": ["Lily"], "details": True}})
    d = r.json()
    assert d["generated_text"] == ", there was a little girl named "
    assert d["details"]["finish_reason"] == "stop_sequence"
    p = {"max_new_tokens": 20, "do_sample": True, "temperature": 1.3, "seed": 123,
         "details": True}
    a = rt.post("/generate", {"inputs": "Hello", "parameters": p}).json()
    b = rt.post("/generate", {"inputs": "Hello", "parameters": p}).json()
    assert a == b and a["details"]["seed"] == 123
    c = rt.post("/generate", {"inputs": "Hello", "parameters": dict(p, seed=124)}).json()
    assert c["details"]["tokens"] != a["details"]["tokens"]


def test_openai_completions(rt, golden):
    case = golden[3]
    r = rt.post("/v1/completions", {"prompt": case["prompt"], "max_tokens": 64, "temperature": 0})
    d = r.json()
    assert set(d) == {"object", "id", "created", "model", "system_fingerprint", "choices", "usage"}
    assert d["object"] == "text_completion" and d["model"] == "stories260K"
    assert d["choices"][0]["text"].lstrip(" ") == case["greedy_text"]
    assert d["choices"][0]["finish_reason"] == "length"
    assert d["usage"] == {"prompt_tokens": len(case["input_ids"]), "completion_tokens": 64,
                          "total_tokens": len(case["input_ids"]) + 64}
    r = rt.post("/v1/completions", {"prompt": [case["prompt"]], "max_tokens": 8,
                                    "temperature": 0, "stream": True}, stream=True)
    raw = sse_events(r)
    assert raw[-1] == "[DONE]"
    ch = [json.loads(x) for x in raw[:-1]]
    assert len(ch) == 8
    assert all(c["object"] == "text_completion" and "system_fingerprint" in c for c in ch)
    assert ch[-1]["choices"][0]["finish_reason"] == "length" and ch[-1]["usage"]
    assert "".join(c["choices"][0]["text"] for c in ch).lstrip(" ") == \
        case["greedy_text"][:len("".join(c["choices"][0]["text"] for c in ch).lstrip(" "))]
    r = rt.post("/v1/completions", {"prompt": "x", "suffix": "y"})
    assert r.status_code == 422 and r.json()["error_type"] == "suffix not supported"


def test_chat_without_template(rt):
    r = rt.post("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 422
    assert r.json()["error_type"] == "template_error" and r.json()["error"]


@pytest.fixture(scope="module")
def chat_rt():
    d = tempfile.mkdtemp(prefix="ep-chat-model-")
    m = os.path.join(d, "stories-chat")
    shutil.copytree(MODEL, m)
    p = os.path.join(m, "tokenizer_config.json")
    with open(p) as f:
        cfg = json.load(f)
    cfg["chat_template"] = CHATML
    with open(p, "w") as f:
        json.dump(cfg, f)
    r = Runtime(model=m, args=["--model-id", "acme/stories-chat"])
    yield r
    r.stop()
    shutil.rmtree(d)


def test_chat_completions(chat_rt):
    msgs = [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hello"}]
    prompt = "<|im_start|>system\nBe nice.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n" \
             "<|im_start|>assistant\n"
    # reference: the rendered prompt through /v1/completions without BOS is what
    # chat generates; compare with /tokenize ids of the rendered text
    tok = chat_rt.post("/tokenize", {"inputs": prompt}).json()
    r = chat_rt.post("/v1/chat/completions", {"model": "tgi", "messages": msgs, "max_tokens": 12,
                                              "temperature": 0})
    d = r.json()
    assert set(d) == {"object", "id", "created", "model", "system_fingerprint", "choices", "usage"}
    assert d["object"] == "chat.completion" and d["model"] == "acme/stories-chat"
    c = d["choices"][0]
    assert c["message"]["role"] == "assistant" and isinstance(c["message"]["content"], str)
    assert c["finish_reason"] == "length" and c["logprobs"] is None
    assert d["usage"]["prompt_tokens"] == len(tok) - 1  # chat encodes without the BOS
    assert d["usage"]["completion_tokens"] == 12
    r = chat_rt.post("/v1/chat/completions", {"model": "dummy", "messages": msgs,
                                              "max_tokens": 12, "temperature": 0, "stream": True,
                                              "stream_options": {"include_usage": True}},
                     stream=True)
    raw = sse_events(r)
    assert raw[-1] == "[DONE]"
    ch = [json.loads(x) for x in raw[:-1]]
    assert len(ch) == 13
    for x in ch[:12]:
        assert x["object"] == "chat.completion.chunk" and x["model"] == "dummy"
        assert set(x) == {"object", "id", "created", "model", "system_fingerprint", "choices",
                          "usage"}
        assert x["choices"][0]["delta"]["role"] == "assistant"
    assert ch[11]["choices"][0]["finish_reason"] == "length"
    assert all(x["choices"][0]["finish_reason"] is None for x in ch[:11])
    assert ch[12]["choices"] == [] and ch[12]["usage"]["completion_tokens"] == 12
    assert "".join(x["choices"][0]["delta"]["content"] for x in ch[:12]) == \
        c["message"]["content"]
    # logprobs
    d = chat_rt.post("/v1/chat/completions", {"messages": msgs, "max_tokens": 3, "temperature": 0,
                                              "logprobs": True, "top_logprobs": 2}).json()
    lp = d["choices"][0]["logprobs"]["content"]
    assert len(lp) == 3 and all(len(x["top_logprobs"]) == 2 for x in lp)
    # bad messages
    r = chat_rt.post("/v1/chat/completions", {"messages": [{"content": "x"}]})
    assert r.status_code == 422
    r = chat_rt.post("/v1/chat/completions", {"messages": []})
    assert r.status_code == 422


def test_tokenize(rt):
    r = rt.post("/tokenize", {"inputs": "Hello you"})
    toks = r.json()
    assert [t["id"] for t in toks] == [1, 346, 306, 414, 364]
    assert toks[1] == {"id": 346, "text": "He", "start": 0, "stop": 2}
    assert toks[4]["text"] == " you" and toks[4]["stop"] == 9


@pytest.mark.parametrize("body,status,needle", [
    ({"inputs": ""}, 422, "cannot be empty"),
    ({"inputs": "Hello " * 200, "parameters": {"max_new_tokens": 5}}, 422, "must be <= 100"),
    ({"inputs": "Hello", "parameters": {"max_new_tokens": 299}}, 422, "must be <= 300"),
    ({"inputs": "Hello", "parameters": {"max_new_tokens": 0}}, 422, "max_new_tokens"),
    ({"inputs": "Hello", "parameters": {"max_new_tokens": -3}}, 422, "max_new_tokens"),
    ({"inputs": "Hello", "parameters": {"temperature": -1.0}}, 422, "temperature"),
    ({"inputs": "Hello", "parameters": {"temperature": 0}}, 422, "temperature"),
    ({"inputs": "Hello", "parameters": {"top_p": 1.5}}, 422, "top_p"),
    ({"inputs": "Hello", "parameters": {"top_k": 0}}, 422, "top_k"),
    ({"inputs": "Hello", "parameters": {"typical_p": 1.0}}, 422, "typical_p"),
    ({"inputs": "Hello", "parameters": {"repetition_penalty": 0}}, 422, "repetition_penalty"),
    ({"inputs": "Hello", "parameters": {"seed": -1}}, 422, "seed"),
    ({"inputs": "Hello", "parameters": {"stop": ["a", "b", "c", "d", "e"]}}, 422, "stop"),
    ({"inputs": "Hello", "parameters": {"best_of": 2}}, 422, "best_of"),
    ({"inputs": "Hello", "parameters": {"top_n_tokens": 50}}, 422, "top_n_tokens"),
    ({"inputs": "Hello", "parameters": {"temperature": "hot"}}, 422, "temperature"),
    ({"inputs": "Hello", "parameters": {"max_new_tokens": 2.5}}, 422, "max_new_tokens"),
    ({"inputs": "Hello", "parameters": "x"}, 422, "parameters"),
    ({"inputs": 42}, 422, "inputs"),
    ({"parameters": {}}, 422, "inputs"),
    ([1, 2], 422, "object"),
])
def test_validation_errors(rt, body, status, needle):
    for path in ("/generate", "/"):
        r = rt.post(path, body)
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"].startswith("application/json")
        d = r.json()
        assert set(d) == {"error", "error_type"} and d["error_type"] == "validation"
        assert needle in d["error"], d


def test_malformed_bodies(rt):
    for raw in [b"{not json", b"", b'{"inputs": "\xff\xfe"}', b'{"inputs": "a", "inputs": "b"}']:
        r = requests.post(rt.url + "/generate", data=raw,
                          headers={"content-type": "application/json"})
        assert r.status_code == 400, raw
        assert r.json()["error_type"] == "validation"
    # stream route: validation errors arrive in-stream (as TGI)
    r = rt.post("/generate_stream", {"inputs": "Hello", "parameters": {
        "decoder_input_details": True}}, stream=True)
    assert r.status_code == 200
    ev = [json.loads(e) for e in sse_events(r)]
    assert len(ev) == 1 and ev[0]["error_type"] == "validation"
    # OpenAI routes
    assert rt.post("/v1/completions", {"prompt": "x", "temperature": -1}).status_code == 422
    assert rt.post("/v1/completions", {"prompt": 3}).status_code == 422
    assert rt.post("/v1/completions", {"prompt": "x", "n": 2}).status_code == 422
    # unknown route / method
    assert requests.get(rt.url + "/nope").status_code == 404
    assert requests.get(rt.url + "/generate").status_code == 405


def test_disconnect_mid_stream(rt):
    before = requests.get(rt.url + "/metrics").text
    for _ in range(3):
        s = socket.create_connection((rt.url.split("//")[1].split(":")[0],
                                      int(rt.url.rsplit(":", 1)[1])))
        body = json.dumps({"inputs": "Once upon a time",
                           "parameters": {"max_new_tokens": 280}}).encode()
        s.sendall(b"POST /generate_stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert b"200" in s.recv(100)
        s.close()
    r = rt.post("/generate", {"inputs": "Hello", "parameters": {"max_new_tokens": 3}})
    assert r.status_code == 200
    time.sleep(0.3)
    after = requests.get(rt.url + "/metrics").text
    assert "tgi_request_count" in before and after != before


def test_metrics(rt):
    t = requests.get(rt.url + "/metrics").text
    def val(name):
        for line in t.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(name)
    n0 = val("tgi_request_success")
    rt.post("/generate", {"inputs": "Hello", "parameters": {"max_new_tokens": 4}})
    t = requests.get(rt.url + "/metrics").text
    assert val("tgi_request_success") == n0 + 1
    for name in ["tgi_request_count", "tgi_request_duration_count",
                 "tgi_request_generated_tokens_count", "tgi_request_input_length_count",
                 "tgi_queue_size", "tgi_batch_current_size"]:
        val(name)
    assert 'tgi_request_failure{err="validation"}' in t


def test_overloaded_429():
    r = Runtime(args=["--max-concurrent-requests", "1", "--max-batch-size", "1"])
    try:
        codes = []
        lock = threading.Lock()

        def go():
            x = r.post("/generate", {"inputs": "Once upon a time",
                                     "parameters": {"max_new_tokens": 400}})
            with lock:
                codes.append((x.status_code, x.json()))

        ts = [threading.Thread(target=go) for _ in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ok = [c for c in codes if c[0] == 200]
        busy = [c for c in codes if c[0] == 429]
        assert len(ok) >= 1 and len(busy) >= 1 and len(ok) + len(busy) == 6, codes
        assert busy[0][1] == {"error": "Model is overloaded", "error_type": "overloaded"}
        assert "tgi_request_failure{err=\"overloaded\"} %d" % len(busy) in \
            requests.get(r.url + "/metrics").text
    finally:
        r.stop()


def test_health_503_while_loading_and_bad_model():
    d = tempfile.mkdtemp(prefix="ep-bad-model-")
    try:
        shutil.copy(os.path.join(MODEL, "tokenizer.json"), d)
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write("{\"model_type\": \"llama\"")  # truncated JSON
        p = subprocess.Popen([endpointd_bin(), "runtime", "--model", d, "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        url = line.strip().split("listening on ")[1]
        try:
            h = requests.get(url + "/health", timeout=2)
            assert h.status_code == 503
            assert h.json() == {"error": "unhealthy", "error_type": "healthcheck"}
        except requests.ConnectionError:
            pass  # already exited
        assert p.wait(10) == 1
        assert "cannot load model" in p.stderr.read()
    finally:
        shutil.rmtree(d)


def _ready_kernels(env_extra):
    """Starts a runtime with env_extra and returns the kernels= field of its 'runtime ready' log."""
    env = dict(os.environ, **env_extra)
    p = subprocess.Popen([endpointd_bin(), "runtime", "--model", MODEL, "--port", "0", "--threads", "1",
                          "--parent-pid", str(os.getpid())],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        timer = threading.Timer(30, p.kill)  # a runtime that never gets ready ends the read
        timer.start()
        for line in p.stderr:
            if "runtime ready" in line:
                timer.cancel()
                return line.split("kernels=")[1].split()[0].strip('"')
        raise AssertionError("no 'runtime ready' log line")
    finally:
        p.terminate()
        p.wait(10)


def test_ready_log_names_the_kernels():
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    has512 = {"avx512f", "avx512bw", "avx512vl"} <= flags
    has2 = {"avx2", "fma"} <= flags
    want = ("avx512vnni" if "avx512_vnni" in flags else "avx512") if has512 else \
        ("avx2" if has2 else "scalar")
    assert _ready_kernels({}) == want
    assert _ready_kernels({"EP_KERN": "ref"}) == "scalar"
    assert _ready_kernels({"EP_KERN": "avx2"}) == ("avx2" if has2 else "scalar")
