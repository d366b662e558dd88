"""Model resolution against a fake Hub on loopback: downloads into the HF
cache layout, resume after a dropped connection, revision pinning, offline
mode, gated repos, repos without safetensors, reuse of the cache, and reading
a cache laid out by huggingface_hub's conventions."""
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))
from fakehub import FakeHub  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("ENDPOINTD_BIN", os.path.join(ROOT, "build", "endpointd"))
MODEL = os.path.join(ROOT, "models", "stories260K")
SHA_MAIN = "a" * 40
SHA_V1 = "b" * 40


@pytest.fixture()
def hub(tmp_path):
    h = FakeHub().start()
    h.add_repo("karpathy/stories260K", MODEL, {"main": SHA_MAIN, SHA_MAIN: SHA_MAIN,
                                               "v1": SHA_V1, SHA_V1: SHA_V1})
    h.add_repo("acme/private-model", MODEL, {"main": SHA_MAIN}, private=True)
    nosafe = tmp_path / "nosafe"
    nosafe.mkdir()
    shutil.copy(os.path.join(MODEL, "config.json"), nosafe / "config.json")
    (nosafe / "pytorch_model.bin").write_bytes(b"\0" * 64)
    h.add_repo("acme/bin-only", str(nosafe), {"main": SHA_MAIN})
    yield h
    h.stop()


def run(args, tmp_path, hub=None, **env_extra):
    env = dict(os.environ)
    env["HF_HUB_CACHE"] = str(tmp_path / "cache")
    env.pop("HF_HUB_OFFLINE", None)
    env.pop("HF_TOKEN", None)
    if hub:
        env["HF_ENDPOINT"] = hub.url
    env.update(env_extra)
    return subprocess.run([BIN, "model"] + args + ["--home", str(tmp_path / "home")],
                          env=env, capture_output=True, text=True, timeout=120)


def resolve_gets(hub):
    return [e for e in hub.log if e[0] == "GET" and ("/resolve/" in e[1] or "/cdn/" in e[1])]


def test_download_into_cache_layout(hub, tmp_path):
    r = run(["pull", "karpathy/stories260K"], tmp_path, hub)
    assert r.returncode == 0, r.stderr
    snap = r.stdout.strip()
    root = tmp_path / "cache" / "models--karpathy--stories260K"
    assert snap == str(root / "snapshots" / SHA_MAIN)
    assert (root / "refs" / "main").read_text().strip() == SHA_MAIN
    link = root / "snapshots" / SHA_MAIN / "model.safetensors"
    assert link.is_symlink()
    data = open(os.path.join(MODEL, "model.safetensors"), "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    assert os.readlink(link) == "../../blobs/" + digest
    assert link.read_bytes() == data
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]:
        assert (root / "snapshots" / SHA_MAIN / f).read_bytes() == open(os.path.join(MODEL, f), "rb").read()
    # files the engine does not need are not fetched
    assert not (root / "snapshots" / SHA_MAIN / "tok512.model").exists()
    assert not list((root / "blobs").glob("*.incomplete"))


def test_second_pull_downloads_nothing(hub, tmp_path):
    assert run(["pull", "karpathy/stories260K"], tmp_path, hub).returncode == 0
    before = len(resolve_gets(hub))
    assert before > 0
    r = run(["pull", "karpathy/stories260K"], tmp_path, hub)
    assert r.returncode == 0, r.stderr
    assert len(resolve_gets(hub)) == before


def test_resume_after_dropped_connection(hub, tmp_path):
    hub.drop_once.add("model.safetensors")
    r = run(["pull", "karpathy/stories260K"], tmp_path, hub)
    assert r.returncode == 0, r.stderr
    ranges = [e for e in hub.log if e[1].startswith("/cdn/") and e[2]]
    assert ranges, "the second attempt must resume with a Range request"
    assert int(ranges[0][2][6:].split("-")[0]) > 0
    data = open(os.path.join(MODEL, "model.safetensors"), "rb").read()
    snap = tmp_path / "cache" / "models--karpathy--stories260K" / "snapshots" / SHA_MAIN
    assert (snap / "model.safetensors").read_bytes() == data


def test_revision_pinning(hub, tmp_path):
    r = run(["pull", "karpathy/stories260K", "--revision", "v1"], tmp_path, hub)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("/snapshots/" + SHA_V1)
    root = tmp_path / "cache" / "models--karpathy--stories260K"
    assert (root / "refs" / "v1").read_text().strip() == SHA_V1
    r = run(["pull", "karpathy/stories260K", "--revision", "nope"], tmp_path, hub)
    assert r.returncode != 0
    assert "not found" in r.stderr


def test_offline_never_touches_network(hub, tmp_path):
    r = run(["pull", "karpathy/stories260K"], tmp_path, hub, HF_HUB_OFFLINE="1")
    assert r.returncode != 0
    assert "HF_HUB_OFFLINE" in r.stderr
    assert hub.log == []
    assert run(["pull", "karpathy/stories260K"], tmp_path, hub).returncode == 0
    n = len(hub.log)
    r = run(["pull", "karpathy/stories260K"], tmp_path, hub, HF_HUB_OFFLINE="1")
    assert r.returncode == 0, r.stderr
    assert len(hub.log) == n


def test_gated_repo_needs_token(hub, tmp_path):
    r = run(["pull", "acme/private-model"], tmp_path, hub)
    assert r.returncode != 0
    assert "gated or private" in r.stderr and "401" in r.stderr
    assert hub.token not in r.stderr
    r = run(["pull", "acme/private-model"], tmp_path, hub, HF_TOKEN=hub.token)
    assert r.returncode == 0, r.stderr
    assert hub.token not in r.stderr + r.stdout


def test_repo_without_safetensors(hub, tmp_path):
    r = run(["pull", "acme/bin-only"], tmp_path, hub)
    assert r.returncode != 0
    assert "no safetensors" in r.stderr and "pytorch_model.bin" in r.stderr


def test_unreachable_hub_is_clear(tmp_path):
    r = run(["pull", "karpathy/stories260K"], tmp_path, None, HF_ENDPOINT="http://127.0.0.1:9")
    assert r.returncode != 0
    assert "cannot reach the hub" in r.stderr


def test_reads_cache_written_by_huggingface_hub_conventions(tmp_path):
    # Build the layout huggingface_hub writes: blobs named by etag, relative
    # symlinks from snapshots, refs/main holding the commit.
    root = tmp_path / "cache" / "models--org--tiny"
    (root / "blobs").mkdir(parents=True)
    (root / "refs").mkdir()
    commit = "c" * 40
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in ["config.json", "model.safetensors", "tokenizer.json"]:
        data = open(os.path.join(MODEL, f), "rb").read()
        etag = hashlib.sha256(data).hexdigest() if f.endswith(".safetensors") else hashlib.sha1(data).hexdigest()
        (root / "blobs" / etag).write_bytes(data)
        os.symlink("../../blobs/" + etag, snap / f)
    (root / "refs" / "main").write_text(commit)
    r = run(["pull", "org/tiny"], tmp_path, None, HF_HUB_OFFLINE="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(snap)
    r = run(["ls"], tmp_path, None)
    assert "org/tiny" in r.stdout and commit in r.stdout
    r = run(["rm", "org/tiny"], tmp_path, None)
    assert r.returncode == 0
    assert not root.exists()
    r = run(["rm", "org/tiny"], tmp_path, None)
    assert r.returncode != 0 and "not on disk" in r.stderr


def test_model_store_and_local_folder(tmp_path):
    store = tmp_path / "home" / "models" / "acme" / "story"
    shutil.copytree(MODEL, store)
    r = run(["pull", "acme/story"], tmp_path, None, HF_HUB_OFFLINE="1")
    assert r.returncode == 0 and r.stdout.strip() == str(store)
    r = run(["pull", MODEL], tmp_path, None, HF_HUB_OFFLINE="1")
    assert r.returncode == 0 and r.stdout.strip() == MODEL
    r = run(["pull", "../../etc"], tmp_path, None, HF_HUB_OFFLINE="1")
    assert r.returncode != 0
