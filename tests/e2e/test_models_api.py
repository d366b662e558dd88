"""Models on disk through the daemon: GET /v2/model lists the HF cache and the
model store with sizes and the endpoints using each model; DELETE
/v2/model/{repo} is admin-only, 409 while an endpoint uses the model, 404
when it is not on disk; `endpointd model rm` asks a reachable daemon
(ENDPOINTD_URL) and refuses a model in use. Sizes are the bytes this test
wrote, not anything the daemon reports."""
import os
import subprocess
import sys

import pytest

from conftest import ADMIN_TOKEN, Daemon, endpointd_bin, make_user

HERE = os.path.dirname(os.path.abspath(__file__))
REPLICA = os.path.join(HERE, "fixtures", "replica.py")
COMMIT = "a" * 40


def write_cache_model(cache, org, name, files):
    """huggingface_hub layout: blobs, snapshot symlinks, refs/main."""
    root = os.path.join(cache, "models--%s--%s" % (org, name))
    os.makedirs(os.path.join(root, "blobs"))
    os.makedirs(os.path.join(root, "refs"))
    snap = os.path.join(root, "snapshots", COMMIT)
    os.makedirs(snap)
    total = 0
    for i, (fname, data) in enumerate(sorted(files.items())):
        etag = "%040x" % (i + 1)
        with open(os.path.join(root, "blobs", etag), "wb") as f:
            f.write(data)
        os.symlink("../../blobs/" + etag, os.path.join(snap, fname))
        total += len(data)
    with open(os.path.join(root, "refs", "main"), "w") as f:
        f.write(COMMIT)
    return root, total


def write_store_model(home, repo, files):
    d = os.path.join(home, "models", repo)
    os.makedirs(d)
    total = 0
    for fname, data in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)
        total += len(data)
    return d, total


def custom_body(name, repo):
    return {
        "name": name, "type": "public", "accountId": None,
        "provider": {"vendor": "local", "region": "local"},
        "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                    "scaling": {"minReplica": 0, "maxReplica": 1, "scaleToZeroTimeout": 0}},
        "model": {"repository": repo, "task": "custom", "framework": "custom",
                  "image": {"custom": {"url": "cmd:%s %s --port {port}" % (sys.executable, REPLICA),
                                       "healthRoute": "/health"}}},
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    cache = str(base / "cache")
    home = str(base / "home")
    os.makedirs(cache)
    os.makedirs(home)
    cfg = b'{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}'
    sizes = {}
    _, sizes["org/tiny"] = write_cache_model(cache, "org", "tiny",
                                             {"config.json": cfg, "model.safetensors": b"x" * 5000})
    _, sizes["org/other"] = write_cache_model(cache, "org", "other",
                                              {"config.json": cfg, "model.safetensors": b"y" * 1234})
    store_dir, sizes["acme/story"] = write_store_model(home, "acme/story",
                                                       {"config.json": cfg, "w.bin": b"z" * 777})
    d = Daemon(home=home, env={"HF_HUB_CACHE": cache, "HF_HUB_OFFLINE": "1"}).start()
    yield {"d": d, "cache": cache, "home": home, "sizes": sizes, "store_dir": store_dir}
    assert d.cleanup() == 0


def items(d, **kw):
    r = d.get("/v2/model", **kw)
    assert r.status_code == 200, r.text
    return {(m["repository"], m["source"]): m for m in r.json()["items"]}


def test_list_sizes_and_sources(env):
    got = items(env["d"])
    assert set(got) == {("org/tiny", "cache"), ("org/other", "cache"), ("acme/story", "store")}
    for (repo, _), m in got.items():
        assert m["bytes"] == env["sizes"][repo], m
        assert m["usedBy"] == [] and m["inUse"] is False
    assert got[("org/tiny", "cache")]["revision"] == COMMIT
    assert got[("acme/story", "store")]["revision"] is None
    assert got[("acme/story", "store")]["path"] == env["store_dir"]
    assert env["d"].get("/v2/model", token="nope").status_code == 401


def test_used_by_and_delete_rules(env):
    d = env["d"]
    r = d.post("/v2/endpoint/admin", json=custom_body("uses-tiny", "org/tiny"))
    assert r.status_code == 201, r.text
    r = d.post("/v2/endpoint/admin", json=custom_body("uses-story", env["store_dir"]))
    assert r.status_code == 201, r.text
    got = items(d)
    assert got[("org/tiny", "cache")]["usedBy"] == ["admin/uses-tiny"]
    assert got[("acme/story", "store")]["usedBy"] == ["admin/uses-story"]
    assert got[("org/other", "cache")]["usedBy"] == []

    # another user sees that the model is in use, not whose endpoint it is
    bob = make_user(d, "bob")
    as_bob = items(d, token=bob)
    assert as_bob[("org/tiny", "cache")]["usedBy"] == []
    assert as_bob[("org/tiny", "cache")]["inUse"] is True
    # only administrators remove models
    assert d.delete("/v2/model/org/other", token=bob).status_code == 403

    r = d.delete("/v2/model/org/tiny")
    assert r.status_code == 409, r.text
    assert "admin/uses-tiny" in r.json()["error"]
    assert os.path.isdir(os.path.join(env["cache"], "models--org--tiny"))
    r = d.delete("/v2/model/acme/story")
    assert r.status_code == 409 and "admin/uses-story" in r.json()["error"]

    r = d.delete("/v2/model/org/other")
    assert r.status_code == 200, r.text
    assert not os.path.exists(os.path.join(env["cache"], "models--org--other"))
    assert d.delete("/v2/model/org/other").status_code == 404
    assert d.delete("/v2/model/..%2Fetc").status_code in (400, 404)

    # once the endpoint is gone the model can go
    assert d.delete("/v2/endpoint/admin/uses-tiny").status_code == 200
    assert items(d)[("org/tiny", "cache")]["usedBy"] == []
    assert d.delete("/v2/model/org/tiny").status_code == 200
    assert ("org/tiny", "cache") not in items(d)


def run_cli(env, args, url):
    e = dict(os.environ)
    e.update({"HF_HUB_CACHE": env["cache"], "ENDPOINTD_TOKEN": ADMIN_TOKEN})
    if url:
        e["ENDPOINTD_URL"] = url
    else:
        e.pop("ENDPOINTD_URL", None)
    return subprocess.run([endpointd_bin(), "model"] + args + ["--home", env["home"]],
                          env=e, capture_output=True, text=True, timeout=30)


def test_cli_rm_asks_the_daemon(env):
    d = env["d"]
    r = run_cli(env, ["rm", "acme/story"], d.url)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "admin/uses-story" in r.stderr and os.path.isdir(env["store_dir"])
    # daemon not reachable: works offline as before
    write_store_model(env["home"], "acme/spare", {"config.json": b"{}"})
    r = run_cli(env, ["rm", "acme/spare"], "http://127.0.0.1:9")
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(os.path.join(env["home"], "models", "acme", "spare"))
    # reachable and not in use: removed
    assert d.delete("/v2/endpoint/admin/uses-story").status_code == 200
    r = run_cli(env, ["rm", "acme/story"], d.url)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(env["store_dir"])
