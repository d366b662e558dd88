"""The endpointd client commands and both C examples (examples/batch.c,
examples/manage.c) against the real daemon serving the demo model
(models/stories260K, huggingface image -> `endpointd runtime` replica) through
the gateway URL in status.url: generate (plain and streamed, checked against
the independent greedy reference tests/data/stories260K-greedy.json), chat
(422: the model has no chat template), wait, logs (incl. --follow), wake from
scale-to-zero, and the error paths of every subcommand (unknown endpoint,
wait timeout, bad token, usage errors)."""
import json
import os
import select
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, Daemon, endpointd_bin

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MODEL = os.path.join(ROOT, "models", "stories260K")
TESTDATA = os.environ.get("EP_TESTDATA", os.path.join(ROOT, "tests", "data"))
BAD_TOKEN = "epd_not_a_real_token_at_all"
NAME = "gw"


def greedy_case(prompt):
    with open(os.path.join(TESTDATA, "stories260K-greedy.json")) as f:
        for c in json.load(f)["cases"]:
            if c["prompt"] == prompt:
                return c
    raise KeyError(prompt)


def clean_env(url, token):
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENDPOINTD_TOKEN", "HF_TOKEN", "ENDPOINTD_HOME", "HF_ENDPOINT")}
    env["HOME"] = "/nonexistent-home"
    env["ENDPOINTD_URL"] = url
    if token is not None:
        env["ENDPOINTD_TOKEN"] = token
    return env


def cli(d, *args, token=ADMIN_TOKEN, timeout=90):
    return subprocess.run([endpointd_bin(), *args], capture_output=True, text=True,
                          env=clean_env(d.url, token), timeout=timeout)


def example(name):
    p = os.path.join(os.path.dirname(endpointd_bin()), name)
    if not os.path.exists(p):
        pytest.fail("%s not built next to endpointd (cmake --build <dir> --target %s)" % (name, name))
    return p


@pytest.fixture(scope="module")
def d():
    if not os.path.exists(os.path.join(MODEL, "model.safetensors")):
        pytest.fail("models/stories260K is missing")
    dm = Daemon(env={"ENDPOINTD_REPLICA_START_TIMEOUT_MS": "60000",
                     "ENDPOINTD_STOP_GRACE_MS": "3000",
                     "HF_ENDPOINT": "http://127.0.0.1:9"}).start()
    yield dm
    assert dm.cleanup() == 0, "endpointd did not exit cleanly"


@pytest.fixture(scope="module")
def ep(d):
    """A running protected endpoint on the demo model, created and waited for by the CLI."""
    r = cli(d, "create", NAME, "--repository", MODEL, "--task", "text-generation",
            "--min-replica", "1", "--max-replica", "1", "--wait")
    assert r.returncode == 0, r.stderr
    r = cli(d, "wait", NAME, "--timeout", "60", "--every", "0.2")
    assert r.returncode == 0, r.stderr
    url = d.url + "/endpoints/admin/" + NAME
    assert r.stdout.strip() == "%s is running at %s" % (NAME, url)
    got = d.get("/v2/endpoint/admin/" + NAME).json()
    assert got["status"]["state"] == "running" and got["status"]["url"] == url
    yield url
    cli(d, "delete", NAME)


def test_generate_through_gateway_matches_reference(d, ep):
    case = greedy_case("Once upon a time")
    r = cli(d, "generate", NAME, "Once upon a time", "--max-new-tokens", "20")
    assert r.returncode == 0, r.stderr
    out = r.stdout.rstrip("\n")
    # POST {url} (TGI compat route) returns prompt + continuation
    assert out.startswith("Once upon a time, there was a little girl named Lily.")
    assert case["full_text"].startswith(out) and len(out) > 60
    # streamed, all 64 reference tokens: exactly the reference greedy text
    r = cli(d, "generate", NAME, "Once upon a time", "--max-new-tokens", "64", "--stream")
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip("\n") == case["greedy_text"]
    # --url with the gateway URL is the same endpoint
    r = cli(d, "generate", "--url", ep, "Lily and Tom went to the", "--max-new-tokens", "64",
            "--stream")
    assert r.returncode == 0, r.stderr
    # the reference decoder (Strip) drops one leading space; a stream keeps the token's own
    streamed = r.stdout.rstrip("\n")
    assert streamed.startswith(" ")
    assert streamed[1:] == greedy_case("Lily and Tom went to the")["greedy_text"]


def test_chat_without_template_is_422(d, ep):
    for extra in ([], ["--stream"]):
        r = cli(d, "chat", NAME, "Hello", "--system", "Be brief", *extra)
        assert r.returncode == 1, (extra, r.stdout)
        assert "422" in r.stderr and "template" in r.stderr.lower(), r.stderr


def test_embed_classify_on_generation_endpoint_fail_cleanly(d, ep):
    r = cli(d, "embed", NAME, "a", "b")
    assert r.returncode == 1 and "422" in r.stderr, r.stderr
    r = cli(d, "classify", NAME, "x")
    assert r.returncode == 1 and r.stderr.startswith("endpointd: classify:"), r.stderr


def test_logs_show_replica_lines(d, ep):
    r = cli(d, "logs", NAME)
    assert r.returncode == 0, r.stderr
    assert "endpoint created" in r.stdout
    replica = [ln for ln in r.stdout.splitlines() if " r1 " in ln]
    assert any("runtime listening" in ln for ln in replica), r.stdout[-2000:]
    # --follow prints the existing lines, then keeps the stream open
    p = subprocess.Popen([endpointd_bin(), "logs", NAME, "--follow"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=clean_env(d.url, ADMIN_TOKEN))
    try:
        buf, end = b"", time.time() + 15
        while b"runtime listening" not in buf and time.time() < end:
            ready, _, _ = select.select([p.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf += chunk
        assert b"runtime listening" in buf, (buf[-2000:], p.poll())
        assert p.poll() is None, "logs --follow must keep running"
    finally:
        p.terminate()
        p.wait(10)


def test_scale_to_zero_then_generate_wakes(d, ep):
    r = cli(d, "scale-to-zero", NAME, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"]["state"] == "scaledToZero"
    r = cli(d, "generate", NAME, "Once upon a time", "--max-new-tokens", "8", "--stream")
    assert r.returncode == 0, r.stderr
    assert greedy_case("Once upon a time")["greedy_text"].startswith(r.stdout.rstrip("\n"))
    r = cli(d, "wait", NAME, "--timeout", "30", "--every", "0.2")
    assert r.returncode == 0, r.stderr


def test_batch_example_through_gateway(d, ep):
    env = clean_env(d.url, ADMIN_TOKEN)
    r = subprocess.run([example("example_batch"), ep, "6", "12"], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sorted(int(x.split(":")[0]) for x in lines) == list(range(6))
    for x in lines:
        i, text = x.split(": ", 1)
        prompt = "Once upon a time, story %s:" % i
        assert text.startswith(prompt) and len(text) > len(prompt), x
    assert "6 requests, 0 failed" in r.stderr
    # the gateway refuses a bad token for a protected endpoint: every request fails
    r = subprocess.run([example("example_batch"), ep, "3", "4"], capture_output=True,
                       text=True, timeout=60, env=clean_env(d.url, BAD_TOKEN))
    assert r.returncode == 1 and "HTTP 401" in r.stderr and "3 failed" in r.stderr, r.stderr


def test_manage_example_lifecycle(d):
    name = "gw-manage"
    env = clean_env(d.url, ADMIN_TOKEN)
    r = subprocess.run([example("example_manage"), name, MODEL, "Once upon a time", "16"],
                       capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("created admin/%s: " % name)
    assert "running at %s/endpoints/admin/%s" % (d.url, name) in lines
    gen = [ln for ln in lines if ln.startswith("generated: ")][0][len("generated: "):]
    assert len(gen) > 20 and greedy_case("Once upon a time")["greedy_text"].startswith(gen)
    assert "streamed 16 tokens" in lines
    assert "paused: paused" in lines and "resumed: running" in lines
    assert lines[-1] == "deleted admin/%s" % name
    assert d.get("/v2/endpoint/admin/" + name).status_code == 404
    # error path: an invalid name is refused by the server, nothing is left behind
    r = subprocess.run([example("example_manage"), "Bad_Name", MODEL], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 1 and r.stderr.startswith("create: ") and "HTTP 400" in r.stderr
    r = subprocess.run([example("example_manage")], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "usage:" in r.stderr


@pytest.mark.parametrize("args", [
    ["get", "nope"], ["wait", "nope", "--timeout", "2"], ["pause", "nope"], ["resume", "nope"],
    ["scale-to-zero", "nope"], ["update", "nope", "--max-replica", "2"], ["delete", "nope"],
    ["logs", "nope"], ["logs", "nope", "--follow"], ["generate", "nope", "x"],
    ["chat", "nope", "x"], ["embed", "nope", "x"], ["classify", "nope", "x"]])
def test_unknown_endpoint(d, args):
    r = cli(d, *args, timeout=30)
    assert r.returncode == 1, (args, r.returncode, r.stderr)
    assert r.stderr.startswith("endpointd: %s: " % args[0]), r.stderr
    assert "endpoint 'nope' not found in namespace 'admin'" in r.stderr and "404" in r.stderr


def test_wait_timeout_on_paused_endpoint(d, ep):
    r = cli(d, "create", "gw-paused", "--repository", MODEL, "--min-replica", "1")
    assert r.returncode == 0, r.stderr
    assert cli(d, "pause", "gw-paused").returncode == 0
    t0 = time.time()
    r = cli(d, "wait", "gw-paused", "--timeout", "1", "--every", "0.2")
    assert r.returncode == 3 and "timeout while waiting for endpoint gw-paused" in r.stderr
    assert 0.9 < time.time() - t0 < 6
    # generate on a paused endpoint: it has no URL
    r = cli(d, "generate", "gw-paused", "x")
    assert r.returncode == 1 and "gw-paused" in r.stderr, r.stderr
    assert cli(d, "delete", "gw-paused").returncode == 0


@pytest.mark.parametrize("args", [
    ["whoami"], ["ls"], ["get", NAME], ["wait", NAME, "--timeout", "2"], ["logs", NAME],
    ["pause", NAME], ["delete", NAME], ["generate", NAME, "x"], ["token", "list"]])
def test_bad_token(d, ep, args):
    r = cli(d, *args, token=BAD_TOKEN, timeout=30)
    assert r.returncode == 1, (args, r.stderr)
    assert "401" in r.stderr and "Invalid credentials" in r.stderr, r.stderr
    # nothing happened to the endpoint
    assert d.get("/v2/endpoint/admin/" + NAME).json()["status"]["state"] in (
        "running", "scaledToZero")


def test_bad_token_on_gateway_data_plane(d, ep):
    r = cli(d, "generate", "--url", ep, "x", token=BAD_TOKEN)
    assert r.returncode == 1 and "401" in r.stderr, r.stderr
    r = cli(d, "generate", "--url", ep, "x", token=None)
    assert r.returncode == 1 and "401" in r.stderr, r.stderr
    assert requests.post(ep + "/generate", json={"inputs": "x"}, timeout=10).status_code == 401


@pytest.mark.parametrize("args", [
    ["get"], ["wait"], ["create", "x"], ["generate"], ["logs"], ["get", NAME, "--bogus"],
    ["wait", NAME, "--timeout", "abc"], ["frobnicate"]])
def test_usage_errors(d, args):
    r = cli(d, *args, timeout=30)
    assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
    assert r.stderr, args
