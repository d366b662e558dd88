"""Wire-level tests of the endpointd client commands (libendpoint) against a
scripted fake of the Inference Endpoints API and TGI/TEI (fake_hf_server.py).
Expected request shapes and response handling come from shared/API.md
(huggingface_hub's create/update bodies, wait() semantics, TGI SSE), so these
tests pin the client to the public contract, independent of our server."""
import json
import os
import subprocess
import time

import pytest

from fake_hf_server import WHOAMI, Fake, endpoint_json, sse

BIN = os.environ.get("ENDPOINTD_BIN", "../../build/endpointd")
TOKEN = "ep_test_token_123"


@pytest.fixture
def fake():
    f = Fake()
    f.route("GET", "/api/whoami-v2", body=WHOAMI)
    yield f
    f.close()


def run(fake, *args, token=TOKEN, timeout=30, stdin=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENDPOINTD_TOKEN", "HF_TOKEN", "ENDPOINTD_URL", "HF_ENDPOINT", "ENDPOINTD_HOME")}
    env["HOME"] = "/nonexistent-home"
    env["ENDPOINTD_URL"] = fake.url
    if token is not None:
        env["ENDPOINTD_TOKEN"] = token
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=timeout,
                          input=stdin)


def body(req):
    return json.loads(req[3]) if req[3] else None


def test_create_sends_hf_body_and_resolves_namespace(fake):
    fake.route("POST", "/v2/endpoint/alice", status=201, body=endpoint_json("my-ep", "pending"))
    r = run(fake, "create", "my-ep", "--repository", "gpt2", "--task", "text-generation",
            "--min-replica", "0", "--max-replica", "2", "--scale-to-zero-timeout", "15",
            "--env", "A=1", "--secret", "S=x", "--type", "public", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "my-ep"
    (req,) = fake.find("POST", "/v2/endpoint/alice")
    assert req[2]["authorization"] == "Bearer " + TOKEN
    assert req[2]["content-type"] == "application/json"
    b = body(req)
    assert b["name"] == "my-ep" and b["type"] == "public" and b["accountId"] is None
    assert b["provider"] == {"vendor": "local", "region": "local"}
    assert b["compute"]["accelerator"] == "cpu"
    assert b["compute"]["scaling"] == {"minReplica": 0, "maxReplica": 2, "scaleToZeroTimeout": 15}
    m = b["model"]
    assert m["repository"] == "gpt2" and m["framework"] == "pytorch" and m["revision"] is None
    assert m["task"] == "text-generation" and m["image"] == {"huggingface": {}}
    assert m["env"] == {"A": "1"} and m["secrets"] == {"S": "x"}
    assert len(fake.find("GET", "/api/whoami-v2")) == 1


def test_create_custom_image_and_explicit_namespace(fake):
    fake.route("POST", "/v2/endpoint/acme", status=201, body=endpoint_json("c1", "pending"))
    r = run(fake, "create", "c1", "some/repo", "-n", "acme", "--custom-image", "ghcr.io/x/tgi:1",
            "--health-route", "/ready", "--port", "8000", "--image-env", "MODEL_ID=/repository")
    assert r.returncode == 0, r.stderr
    b = body(fake.find("POST", "/v2/endpoint/acme")[0])
    assert b["model"]["image"] == {"custom": {"url": "ghcr.io/x/tgi:1", "healthRoute": "/ready",
                                              "port": 8000, "env": {"MODEL_ID": "/repository"}}}
    assert b["model"]["repository"] == "some/repo"
    assert not fake.find("GET", "/api/whoami-v2")  # namespace given: no whoami
    assert "state:      pending" in r.stdout


def test_get_prints_fields(fake):
    fake.route("GET", "/v2/endpoint/alice/e1",
               body=endpoint_json("e1", "running", url=fake.url + "/endpoints/alice/e1"))
    r = run(fake, "get", "e1")
    assert r.returncode == 0, r.stderr
    assert "state:      running" in r.stdout
    assert "url:        %s/endpoints/alice/e1" % fake.url in r.stdout
    assert "2023-10-26T12:41:53.263Z" in r.stdout


def test_list_star_lists_own_then_orgs_and_skips_errors(fake):
    fake.route("GET", "/v2/endpoint/alice", body={"items": [endpoint_json("a1"), endpoint_json("a2")]})
    fake.route("GET", "/v2/endpoint/acme", body={"items": [endpoint_json("o1", "paused")]})
    fake.route("GET", "/v2/endpoint/secret-org", status=403, body={"error": "no access"})
    r = run(fake, "ls", "-n", "*", "--json")
    assert r.returncode == 0, r.stderr
    names = [e["name"] for e in json.loads(r.stdout)["items"]]
    assert names == ["a1", "a2", "o1"]
    r = run(fake, "ls")
    assert r.returncode == 0 and "a1" in r.stdout and "o1" not in r.stdout


def test_list_foreign_namespace_403_fails(fake):
    fake.route("GET", "/v2/endpoint/secret-org", status=403, body={"error": "no access to secret-org"})
    r = run(fake, "ls", "-n", "secret-org")
    assert r.returncode == 1
    assert "no access to secret-org" in r.stderr and "403" in r.stderr


def test_update_is_sparse(fake):
    fake.route("PUT", "/v2/endpoint/alice/e1", body=endpoint_json("e1", "updating"))
    r = run(fake, "update", "e1", "--max-replica", "3", "--instance-size", "x2")
    assert r.returncode == 0, r.stderr
    assert body(fake.find("PUT", "/v2/endpoint/alice/e1")[0]) == {
        "compute": {"instanceSize": "x2", "scaling": {"maxReplica": 3}}}


def test_pause_resume_scale_to_zero_send_empty_posts(fake):
    for action, state in (("pause", "paused"), ("resume", "pending"), ("scale-to-zero", "scaledToZero")):
        fake.route("POST", "/v2/endpoint/alice/e1/" + action, body=endpoint_json("e1", state))
        r = run(fake, action, "e1")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "e1: " + state
        (req,) = fake.find("POST", "/v2/endpoint/alice/e1/" + action)
        assert req[3] == b"" and "content-type" not in req[2]


def test_resume_already_running_falls_back_to_get(fake):
    fake.route("POST", "/v2/endpoint/alice/e1/resume", status=400,
               body={"error": "Endpoint is already running"})
    fake.route("GET", "/v2/endpoint/alice/e1", body=endpoint_json("e1", "running", url="http://x"))
    r = run(fake, "resume", "e1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "e1: running"


def test_delete_and_unknown_endpoint(fake):
    fake.route("DELETE", "/v2/endpoint/alice/e1", status=204, body=b"")
    r = run(fake, "delete", "e1")
    assert r.returncode == 0 and "e1 deleted" in r.stdout
    fake.route("GET", "/v2/endpoint/alice/nope", status=404,
               body={"error": "Endpoint 'nope' not found in namespace 'alice'"})
    r = run(fake, "get", "nope")
    assert r.returncode == 1
    assert "Endpoint 'nope' not found" in r.stderr and "404" in r.stderr


def test_bad_token_clear_message(fake):
    fake.route("GET", "/api/whoami-v2", status=401,
               body={"error": "Invalid credentials in Authorization header"})
    r = run(fake, "whoami", token="bad")
    assert r.returncode == 1
    assert "Invalid credentials in Authorization header" in r.stderr and "401" in r.stderr
    r = run(fake, "ls", token="bad")
    assert r.returncode == 1 and "Invalid credentials" in r.stderr


def test_no_token_is_local_error(fake):
    r = run(fake, "whoami", token=None)
    assert r.returncode == 1 and "no token configured" in r.stderr
    assert not fake.find("GET", "/api/whoami-v2")


def test_token_file_from_endpointd_home(fake, tmp_path):
    (tmp_path / "admin.token").write_text("file_token_1\n")
    env_home = str(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("ENDPOINTD_TOKEN", "HF_TOKEN")}
    env.update(ENDPOINTD_URL=fake.url, ENDPOINTD_HOME=env_home, HOME="/nonexistent-home")
    r = subprocess.run([BIN, "whoami"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert fake.find("GET", "/api/whoami-v2")[0][2]["authorization"] == "Bearer file_token_1"


def test_whoami_human(fake):
    r = run(fake, "whoami")
    assert r.returncode == 0, r.stderr
    assert "alice (user)" in r.stdout and "acme" in r.stdout and "role write" in r.stdout


def test_connection_refused_is_clear(fake):
    env = dict(os.environ, ENDPOINTD_URL="http://127.0.0.1:1", ENDPOINTD_TOKEN="t")
    r = subprocess.run([BIN, "get", "x", "-n", "alice"], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 1 and "cannot connect" in r.stderr


def test_wait_until_running_and_healthy(fake):
    states = iter(["initializing", "running", "running"])
    ep_url = fake.url + "/endpoints/alice/w1"
    health = iter([503, 200])

    def get(_f, _r):
        s = next(states, "running")
        return 200, {}, endpoint_json("w1", s, url=ep_url if s == "running" else None)

    fake.route("GET", "/v2/endpoint/alice/w1", get)
    fake.route("GET", "/endpoints/alice/w1/health", lambda f, r: (next(health, 200), {}, b""))
    t0 = time.time()
    r = run(fake, "wait", "w1", "--timeout", "20", "--every", "0.2")
    assert r.returncode == 0, r.stderr
    assert "w1 is running at " + ep_url in r.stdout
    assert len(fake.find("GET", "/endpoints/alice/w1/health")) == 2
    assert time.time() - t0 < 10


def test_wait_timeout_exit_3(fake):
    fake.route("GET", "/v2/endpoint/alice/w2", body=endpoint_json("w2", "pending"))
    t0 = time.time()
    r = run(fake, "wait", "w2", "--timeout", "1", "--every", "0.2")
    dt = time.time() - t0
    assert r.returncode == 3, r.stderr
    assert "timeout" in r.stderr and "pending" in r.stderr
    assert 0.9 < dt < 5


def test_wait_failed_is_distinct(fake):
    fake.route("GET", "/v2/endpoint/alice/w3", body=endpoint_json("w3", "failed", error="boom: bad weights"))
    r = run(fake, "wait", "w3", "--timeout", "5")
    assert r.returncode == 1
    assert "failed to deploy" in r.stderr and "boom: bad weights" in r.stderr
    fake.route("GET", "/v2/endpoint/alice/w4", body=endpoint_json("w4", "updateFailed"))
    r = run(fake, "wait", "w4", "--timeout", "5")
    assert r.returncode == 1 and "failed to update" in r.stderr


def test_token_and_admin_bodies(fake):
    tok = {"id": "t1", "displayName": "ci", "role": "read", "createdAt": "2026-01-01T00:00:00.000Z",
           "expiresAt": None, "token": "ep_secret"}
    fake.route("POST", "/v2/tokens", status=201, body=tok)
    r = run(fake, "token", "create", "--name", "ci", "--role", "read", "--expires", "2h")
    assert r.returncode == 0, r.stderr
    assert "ep_secret" in r.stdout
    assert body(fake.requests[-1]) == {"displayName": "ci", "role": "read", "expiresIn": 7200}
    r = run(fake, "token", "create", "--expires", "2027-01-01T00:00:00Z", "--json")
    assert json.loads(r.stdout)["token"] == "ep_secret"
    assert body(fake.requests[-1])["expiresAt"] == "2027-01-01T00:00:00Z"
    r = run(fake, "token", "create", "--expires", "soon")
    assert r.returncode == 2 and "--expires" in r.stderr
    fake.route("GET", "/v2/tokens", body={"items": [tok]})
    r = run(fake, "token", "list")
    assert r.returncode == 0 and "t1" in r.stdout and "ci" in r.stdout
    fake.route("DELETE", "/v2/tokens/t1", status=204, body=b"")
    r = run(fake, "token", "revoke", "t1")
    assert r.returncode == 0 and fake.requests[-1][:2] == ("DELETE", "/v2/tokens/t1")
    fake.route("POST", "/v2/admin/users", status=201,
               body={"user": {"name": "bob"}, "token": dict(tok, token="ep_bob")})
    r = run(fake, "user", "add", "bob", "--email", "b@x")
    assert r.returncode == 0 and "ep_bob" in r.stdout
    assert body(fake.requests[-1]) == {"name": "bob", "email": "b@x"}
    fake.route("POST", "/v2/admin/orgs", status=201, body={"name": "acme"})
    assert run(fake, "org", "add", "acme").returncode == 0
    assert body(fake.requests[-1]) == {"name": "acme"}
    fake.route("POST", "/v2/admin/orgs/acme/members", body={"ok": True})
    assert run(fake, "org", "add-member", "acme", "bob", "--role", "member").returncode == 0
    assert body(fake.requests[-1]) == {"user": "bob", "role": "member"}
    fake.route("POST", "/v2/admin/orgs", status=409, body={"error": "org acme exists"})
    r = run(fake, "org", "add", "acme")
    assert r.returncode == 1 and "org acme exists" in r.stderr


def test_usage_errors(fake):
    assert run(fake, "create", "x").returncode == 2
    assert run(fake, "get").returncode == 2
    assert run(fake, "create", "x", "r", "--min-replica", "abc").returncode == 2
    assert run(fake, "get", "x", "--bogus").returncode == 2
    assert not fake.requests


# ---- data plane ----

def test_generate_plain_array_and_object(fake):
    fake.route("POST", "/", body=[{"generated_text": " world"}])
    r = run(fake, "generate", "--url", fake.url, "Hello", "--max-new-tokens", "5", "--seed", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout == " world\n"
    b = body(fake.find("POST", "/")[0])
    assert b == {"inputs": "Hello", "parameters": {"max_new_tokens": 5, "seed": 3}, "stream": False}
    fake.route("POST", "/", body={"generated_text": "obj"})
    assert run(fake, "generate", "--url", fake.url, "Hi").stdout == "obj\n"


def test_generate_stream_tgi_sse(fake):
    events = [
        {"token": {"id": 1, "text": " Once", "logprob": -0.1, "special": False}, "generated_text": None, "details": None},
        {"token": {"id": 2, "text": " upon", "logprob": -0.2, "special": False}, "generated_text": None, "details": None},
        {"token": {"id": 0, "text": "</s>", "logprob": -0.3, "special": True}, "generated_text": " Once upon", "details": None},
    ]

    def stream(_f, _r):
        return 200, {"Content-Type": "text/event-stream"}, iter([":keepalive\n\n"] + list(sse(events, sep="data:", delay=0.01)))

    fake.route("POST", "/endpoints/alice/g", stream)
    fake.route("GET", "/v2/endpoint/alice/g", body=endpoint_json("g", url=fake.url + "/endpoints/alice/g"))
    r = run(fake, "generate", "g", "Tell", "--stream")
    assert r.returncode == 0, r.stderr
    assert r.stdout == " Once upon\n"
    assert body(fake.find("POST", "/endpoints/alice/g")[0])["stream"] is True


def test_generate_stream_error_event(fake):
    def stream(_f, _r):
        return 200, {"Content-Type": "text/event-stream"}, sse(
            [{"token": {"id": 1, "text": "a", "logprob": 0, "special": False}, "generated_text": None},
             {"error": "Request failed during generation: oom", "error_type": "generation"}])

    fake.route("POST", "/", stream)
    r = run(fake, "generate", "--url", fake.url, "x", "--stream")
    assert r.returncode == 1 and "Request failed during generation: oom" in r.stderr


def test_generate_http_error_and_not_deployed(fake):
    fake.route("POST", "/", status=422, body={"error": "Input validation error: `inputs` must not be empty",
                                              "error_type": "validation"})
    r = run(fake, "generate", "--url", fake.url, "")
    assert r.returncode == 1 and "Input validation error" in r.stderr and "422" in r.stderr
    fake.route("GET", "/v2/endpoint/alice/p", body=endpoint_json("p", "paused", url=None))
    r = run(fake, "generate", "p", "hi")
    assert r.returncode == 1 and "not deployed" in r.stderr


def test_chat_stream_until_done(fake):
    def chunk(content, finish=None):
        return {"object": "chat.completion.chunk", "id": "", "created": 1, "model": "m",
                "system_fingerprint": "x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": content},
                                                       "logprobs": None, "finish_reason": finish}], "usage": None}

    def stream(_f, _r):
        return 200, {"Content-Type": "text/event-stream"}, sse([chunk("Hel"), chunk("lo"), chunk("", "stop"), "[DONE]"])

    fake.route("POST", "/v1/chat/completions", stream)
    r = run(fake, "chat", "--url", fake.url + "/", "Hi", "--system", "be brief", "--stream", "--max-tokens", "7")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Hello\n"
    b = body(fake.find("POST", "/v1/chat/completions")[0])
    assert b["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Hi"}]
    assert b["stream"] is True and b["max_tokens"] == 7
    fake.route("POST", "/v1/chat/completions", body={
        "object": "chat.completion", "id": "", "created": 1, "model": "m", "system_fingerprint": "x",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Yo"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    r = run(fake, "chat", "--url", fake.url + "/v1", "Hi")
    assert r.returncode == 0 and r.stdout == "Yo\n"


def test_embed_and_classify(fake):
    fake.route("POST", "/", body=[[0.5, -1.25], [2.0, 0.0]])
    r = run(fake, "embed", "--url", fake.url, "a", "b")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [[0.5, -1.25], [2.0, 0.0]]
    assert body(fake.requests[-1]) == {"inputs": ["a", "b"]}
    fake.route("POST", "/", body=[[{"label": "POSITIVE", "score": 0.75}, {"label": "NEGATIVE", "score": 0.25}]])
    r = run(fake, "classify", "--url", fake.url, "great")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["POSITIVE", "0.750000", "NEGATIVE", "0.250000"]
    fake.route("POST", "/", body={"unexpected": 1})
    r = run(fake, "embed", "--url", fake.url, "a")
    assert r.returncode == 1 and "not a 2-D number array" in r.stderr


def test_example_batch_runs_concurrently(fake):
    ex = os.path.join(os.path.dirname(BIN), "example_batch")
    if not os.path.exists(ex):
        pytest.fail("example_batch not built next to endpointd")

    def slow(_f, req):
        time.sleep(0.5)
        return 200, {}, [{"generated_text": json.loads(req[3])["inputs"][-2:]}]

    fake.route("POST", "/", slow)
    env = dict(os.environ, ENDPOINTD_TOKEN=TOKEN)
    t0 = time.time()
    r = subprocess.run([ex, fake.url, "8", "4"], capture_output=True, text=True, env=env, timeout=30)
    dt = time.time() - t0
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.splitlines())
    assert lines == sorted("%d: %d:" % (i, i) for i in range(8))
    assert dt < 2.0, "8 x 0.5 s requests took %.2f s: not concurrent" % dt
