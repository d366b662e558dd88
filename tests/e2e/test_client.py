"""The endpointd client commands (libendpoint) against the real daemon
(conftest.py's `daemon` fixture) and a real `endpointd runtime` replica:
endpoint lifecycle, wait timeout, whoami, tokens, users/orgs, error paths,
and the data plane (generate / stream / batch example) checked against the
independent greedy reference in tests/data/stories260K-greedy.json."""
import json
import os
import socket
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_TOKEN, endpointd_bin

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MODEL = os.path.join(ROOT, "models", "stories260K")
TESTDATA = os.environ.get("EP_TESTDATA", os.path.join(ROOT, "tests", "data"))


def cli(daemon, *args, token=ADMIN_TOKEN, timeout=60, url=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("ENDPOINTD_TOKEN", "HF_TOKEN", "ENDPOINTD_HOME", "HF_ENDPOINT")}
    env["HOME"] = "/nonexistent-home"
    env["ENDPOINTD_URL"] = url or daemon.url
    if token is not None:
        env["ENDPOINTD_TOKEN"] = token
    return subprocess.run([endpointd_bin(), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def jcli(daemon, *args, **kw):
    r = cli(daemon, *args, "--json", **kw)
    assert r.returncode == 0, (args, r.stderr)
    return json.loads(r.stdout)


def test_whoami(daemon):
    w = jcli(daemon, "whoami")
    assert w["type"] == "user" and w["name"] == "admin"
    assert w["auth"]["accessToken"]["role"] == "write"
    r = cli(daemon, "whoami")
    assert r.returncode == 0 and r.stdout.startswith("admin (user)")


def test_lifecycle(daemon):
    e = jcli(daemon, "create", "cli-life", "--repository", MODEL, "--task", "text-generation",
             "--min-replica", "0", "--max-replica", "2", "--scale-to-zero-timeout", "15",
             "--env", "A=1", "--type", "public")
    assert e["name"] == "cli-life" and e["type"] == "public"
    assert e["compute"]["scaling"]["maxReplica"] == 2
    assert e["compute"]["scaling"]["scaleToZeroTimeout"] == 15
    assert e["model"]["env"] == {"A": "1"}
    # the API agrees with what the CLI reported
    api = daemon.get("/v2/endpoint/admin/cli-life").json()
    assert api["model"]["repository"] == MODEL and api["model"]["task"] == "text-generation"
    g = jcli(daemon, "get", "cli-life")
    assert g["name"] == "cli-life"
    r = cli(daemon, "get", "cli-life")
    assert r.returncode == 0 and "repository: " + MODEL in r.stdout
    names = [x["name"] for x in jcli(daemon, "ls")["items"]]
    assert "cli-life" in names
    names = [x["name"] for x in jcli(daemon, "ls", "-n", "*")["items"]]
    assert "cli-life" in names
    u = jcli(daemon, "update", "cli-life", "--max-replica", "3")
    assert u["compute"]["scaling"]["maxReplica"] == 3
    assert u["compute"]["scaling"]["minReplica"] == 0  # sparse update kept the rest
    assert u["model"]["env"] == {"A": "1"}
    p = jcli(daemon, "pause", "cli-life")
    assert p["status"]["state"] == "paused" and p["status"]["url"] is None
    assert daemon.get("/v2/endpoint/admin/cli-life").json()["status"]["state"] == "paused"
    r = cli(daemon, "resume", "cli-life")
    assert r.returncode == 0, r.stderr
    assert daemon.get("/v2/endpoint/admin/cli-life").json()["status"]["state"] != "paused"
    r = cli(daemon, "resume", "cli-life")  # idempotent / running_ok
    assert r.returncode == 0, r.stderr
    s = jcli(daemon, "scale-to-zero", "cli-life")
    assert s["status"]["state"] == "scaledToZero"
    r = cli(daemon, "logs", "cli-life")
    assert r.returncode == 0 and "created" in r.stdout
    r = cli(daemon, "delete", "cli-life")
    assert r.returncode == 0 and "cli-life deleted" in r.stdout
    assert daemon.get("/v2/endpoint/admin/cli-life").status_code == 404


def test_wait_timeout(daemon):
    # A paused endpoint never becomes ready: wait must give up at the deadline with exit 3.
    jcli(daemon, "create", "cli-wait", "--repository", MODEL)
    jcli(daemon, "pause", "cli-wait")
    t0 = time.time()
    r = cli(daemon, "wait", "cli-wait", "--timeout", "1.5", "--every", "0.3")
    dt = time.time() - t0
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "timeout while waiting for endpoint cli-wait" in r.stderr
    assert 1.4 < dt < 6
    cli(daemon, "delete", "cli-wait")


def test_errors(daemon):
    r = cli(daemon, "get", "no-such-endpoint")
    assert r.returncode == 1
    assert "404" in r.stderr and "no-such-endpoint" in r.stderr
    r = cli(daemon, "ls", token="epd_not_a_real_token")
    assert r.returncode == 1
    assert "Invalid credentials" in r.stderr and "401" in r.stderr
    r = cli(daemon, "whoami", token="epd_not_a_real_token")
    assert r.returncode == 1 and "Invalid credentials in Authorization header" in r.stderr
    r = cli(daemon, "create", "Bad_Name!", "--repository", MODEL)
    assert r.returncode == 1 and "400" in r.stderr
    jcli(daemon, "create", "cli-dup", "--repository", MODEL)
    r = cli(daemon, "create", "cli-dup", "--repository", MODEL)
    assert r.returncode == 1 and "409" in r.stderr
    cli(daemon, "delete", "cli-dup")
    r = cli(daemon, "ls", url="http://127.0.0.1:1")
    assert r.returncode == 1 and "cannot connect" in r.stderr


def test_tokens_users_orgs(daemon):
    t = jcli(daemon, "token", "create", "--name", "cli-read", "--role", "read", "--expires", "1h")
    assert t["role"] == "read" and t["displayName"] == "cli-read" and t["token"]
    assert t["expiresAt"] is not None
    ids = [x["id"] for x in jcli(daemon, "token", "list")["items"]]
    assert t["id"] in ids
    # the new token works for reads and is refused for writes
    w = jcli(daemon, "whoami", token=t["token"])
    assert w["name"] == "admin" and w["auth"]["accessToken"]["role"] == "read"
    r = cli(daemon, "create", "cli-ro", "--repository", MODEL, token=t["token"])
    assert r.returncode == 1 and "403" in r.stderr
    r = cli(daemon, "token", "revoke", str(t["id"]))
    assert r.returncode == 0, r.stderr
    r = cli(daemon, "whoami", token=t["token"])
    assert r.returncode == 1 and "401" in r.stderr

    u = jcli(daemon, "user", "add", "cli-bob")
    bob = u["token"]["token"]
    assert jcli(daemon, "whoami", token=bob)["name"] == "cli-bob"
    r = cli(daemon, "org", "add", "cli-acme")
    assert r.returncode == 0, r.stderr
    r = cli(daemon, "org", "add-member", "cli-acme", "cli-bob", "--role", "member")
    assert r.returncode == 0, r.stderr
    w = jcli(daemon, "whoami", token=bob)
    assert "cli-acme" in [o["name"] for o in w["orgs"]]
    # bob can create in the org, and "ls -n *" shows own + org endpoints
    jcli(daemon, "create", "org-ep", "--repository", MODEL, "-n", "cli-acme", token=bob)
    names = [x["name"] for x in jcli(daemon, "ls", "-n", "*", token=bob)["items"]]
    assert names == ["org-ep"]
    r = cli(daemon, "ls", "-n", "admin", token=bob)
    assert r.returncode == 1 and "403" in r.stderr
    r = cli(daemon, "user", "add", "cli-eve", token=bob)  # not an admin
    assert r.returncode == 1 and "403" in r.stderr
    cli(daemon, "delete", "org-ep", "-n", "cli-acme", token=bob)


# ---- data plane, on a real runtime replica ----

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture(scope="module")
def runtime():
    port = free_port()
    proc = subprocess.Popen([endpointd_bin(), "runtime", "--model", MODEL, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            pytest.fail("runtime exited with %s" % proc.returncode)
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("runtime did not become healthy")
    yield url
    proc.terminate()
    proc.wait(10)


def greedy_case(prompt):
    with open(os.path.join(TESTDATA, "stories260K-greedy.json")) as f:
        for c in json.load(f)["cases"]:
            if c["prompt"] == prompt:
                return c
    raise KeyError(prompt)


def test_generate_matches_reference(daemon, runtime):
    case = greedy_case("Once upon a time")
    # compat route "/": TGI returns prompt + continuation for text-generation models
    r = cli(daemon, "generate", "--url", runtime, "Once upon a time", "--max-new-tokens", "20")
    assert r.returncode == 0, r.stderr
    out = r.stdout.rstrip("\n")
    assert out.startswith("Once upon a time, there was a little girl named Lily.")
    assert case["full_text"].startswith(out)
    r = cli(daemon, "generate", "--url", runtime, "Once upon a time", "--max-new-tokens", "20",
            "--stream")
    assert r.returncode == 0, r.stderr
    streamed = r.stdout.rstrip("\n")
    assert len(streamed) > 20 and case["greedy_text"].startswith(streamed)


def test_generate_errors(daemon, runtime):
    r = cli(daemon, "generate", "--url", runtime, "")
    assert r.returncode == 1 and "422" in r.stderr
    r = cli(daemon, "generate", "--url", "http://127.0.0.1:1", "x")
    assert r.returncode == 1 and "cannot connect" in r.stderr


def test_batch_example_concurrent(daemon, runtime):
    ex = os.path.join(os.path.dirname(endpointd_bin()), "example_batch")
    if not os.path.exists(ex):
        pytest.fail("example_batch not built next to endpointd")
    r = subprocess.run([ex, runtime, "6", "8"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sorted(int(x.split(":")[0]) for x in lines) == list(range(6))
    for x in lines:
        i = int(x.split(":")[0])
        assert ("Once upon a time, story %d:" % i) in x  # full text echoes each own prompt
