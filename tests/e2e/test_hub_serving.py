"""Endpoints created from Hub repository ids: the daemon downloads the model
from a fake Hub (HF_ENDPOINT) into the HF cache, shows progress in the
endpoint's logs, serves it, reuses the cache for a second endpoint, and fails
gated repos with a clear errorMessage."""
import os
import sys
import time

import pytest
import requests

from conftest import Daemon

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))
from fakehub import FakeHub  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL = os.path.join(ROOT, "models", "stories260K")
SHA = "d" * 40


def body(name, repo):
    return {"name": name, "type": "public", "accountId": None,
            "provider": {"vendor": "local", "region": "local"},
            "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                        "scaling": {"minReplica": 1, "maxReplica": 1}},
            "model": {"repository": repo, "framework": "pytorch", "task": "text-generation",
                      "revision": None, "image": {"huggingface": {}}}}


def wait_state(d, name, want, timeout=60):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = d.get("/v2/endpoint/admin/" + name).json()
        if last["status"]["state"] == want:
            return last
        time.sleep(0.1)
    raise AssertionError("state %s, wanted %s: %s" % (last["status"]["state"], want, last["status"]))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    hub = FakeHub().start()
    hub.add_repo("karpathy/stories260K", MODEL, {"main": SHA})
    hub.add_repo("acme/gated", MODEL, {"main": SHA}, private=True)
    cache = tmp_path_factory.mktemp("hfcache")
    d = Daemon(env={"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(cache),
                    "ENDPOINTD_REPLICA_START_TIMEOUT_MS": "60000"}).start()
    yield d, hub, cache
    d.cleanup()
    hub.stop()


def test_hub_id_downloads_and_serves(env):
    d, hub, cache = env
    r = d.post("/v2/endpoint/admin", json=body("story", "karpathy/stories260K"))
    assert r.status_code in (200, 201), r.text
    ep = wait_state(d, "story", "running")
    snap = cache / "models--karpathy--stories260K" / "snapshots" / SHA
    assert (snap / "model.safetensors").is_symlink()
    g = requests.post(ep["status"]["url"] + "/generate",
                      json={"inputs": "Once upon a time", "parameters": {"max_new_tokens": 5}},
                      timeout=30)
    assert g.status_code == 200, g.text
    assert g.json()["generated_text"]
    logs = d.get("/v2/endpoint/admin/story/logs", params={"tail": 500}).text
    assert "[hub] downloaded model.safetensors" in logs


def test_second_endpoint_reuses_the_cache(env):
    d, hub, cache = env
    wait_state(d, "story", "running")
    before = [e for e in hub.log if "/resolve/" in e[1] or "/cdn/" in e[1]]
    r = d.post("/v2/endpoint/admin", json=body("story2", "karpathy/stories260K"))
    assert r.status_code in (200, 201), r.text
    wait_state(d, "story2", "running")
    after = [e for e in hub.log if "/resolve/" in e[1] or "/cdn/" in e[1]]
    assert after == before
    d.delete("/v2/endpoint/admin/story2")


def test_gated_repo_fails_clearly(env):
    d, hub, cache = env
    r = d.post("/v2/endpoint/admin", json=body("gated", "acme/gated"))
    assert r.status_code in (200, 201), r.text
    ep = wait_state(d, "gated", "failed", timeout=30)
    msg = ep["status"]["errorMessage"]
    assert "acme/gated" in msg and "gated or private" in msg
    assert ep["status"]["url"] is None
    d.delete("/v2/endpoint/admin/gated")


def test_unknown_repo_fails_clearly(env):
    d, hub, cache = env
    d.post("/v2/endpoint/admin", json=body("nope", "acme/does-not-exist"))
    ep = wait_state(d, "nope", "failed", timeout=30)
    assert "acme/does-not-exist" in ep["status"]["errorMessage"]
    d.delete("/v2/endpoint/admin/nope")
