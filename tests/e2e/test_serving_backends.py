"""End-to-end serving with real backends: the real `endpointd runtime` on
models/stories260K (huggingface image on a local folder), a podman container
endpoint built from busybox, a Hub repository that cannot be resolved
(failed with a clear errorMessage), and Prometheus scraping the daemon's
/metrics. Container and Prometheus tests skip with a reason only when the
tool is missing or cannot run here."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
STORIES = os.path.join(ROOT, "models", "stories260K")
UL = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def wait_state(d, name, want, timeout=30.0):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        last = d.get("/v2/endpoint/admin/" + name).json()
        if last["status"]["state"] == want:
            return last
        time.sleep(0.1)
    raise AssertionError("state %s, wanted %s: %s" % (last["status"]["state"], want,
                                                      json.dumps(last["status"])))


def body(name, model, typ="public", min_r=1, max_r=1):
    return {"name": name, "type": typ, "accountId": None,
            "provider": {"vendor": "local", "region": "local"},
            "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                        "scaling": {"minReplica": min_r, "maxReplica": max_r}},
            "model": model}


@pytest.fixture(scope="module")
def d():
    dm = Daemon(env={"ENDPOINTD_REPLICA_START_TIMEOUT_MS": "60000",
                     "ENDPOINTD_STOP_GRACE_MS": "3000",
                     # no real Hub in tests: a closed local port
                     "HF_ENDPOINT": "http://127.0.0.1:9",
                     "HF_HUB_CACHE": tempfile.mkdtemp(prefix="ep-hfcache-")}).start()
    yield dm
    dm.cleanup()


def test_runtime_replica_on_stories260k(d):
    if not os.path.exists(os.path.join(STORIES, "model.safetensors")):
        pytest.fail("models/stories260K is missing")
    r = d.post("/v2/endpoint/admin", json=body("stories", {
        "repository": STORIES, "task": "text-generation", "framework": "pytorch",
        "image": {"huggingface": {}}}))
    assert r.status_code in (200, 201), r.text
    ep = wait_state(d, "stories", "running", timeout=60)
    url = ep["status"]["url"]
    assert requests.get(url + "/health", timeout=10).status_code == 200
    g = requests.post(url + "/generate", json={"inputs": "Once upon a time",
                                               "parameters": {"max_new_tokens": 8}}, timeout=60)
    assert g.status_code == 200, g.text
    assert isinstance(g.json()["generated_text"], str) and g.json()["generated_text"]
    s = requests.post(url + "/generate_stream", json={"inputs": "Once", "parameters": {
        "max_new_tokens": 5}}, stream=True, timeout=60)
    assert s.status_code == 200
    events = [l for l in s.iter_lines() if l.startswith(b"data:")]
    assert len(events) >= 2
    # the replica was started with --parent-pid of the daemon
    logs = d.get("/v2/endpoint/admin/stories/logs", params={"tail": 200}).text
    assert "r1 " in logs
    d.delete("/v2/endpoint/admin/stories")


def test_hub_repository_fails_clearly(d):
    d.post("/v2/endpoint/admin", json=body("hub", {
        "repository": "openai-community/gpt2", "task": "text-generation",
        "framework": "pytorch", "image": {"huggingface": {}}}))
    ep = wait_state(d, "hub", "failed", timeout=10)
    assert "openai-community/gpt2" in ep["status"]["errorMessage"]
    assert "cannot download" in ep["status"]["errorMessage"]
    d.delete("/v2/endpoint/admin/hub")


def _podman_ok():
    if not shutil.which("podman"):
        return "podman is not installed (apt-get install podman runc busybox-static)"
    if not os.path.exists("/bin/busybox"):
        return "busybox-static is not installed"
    return None


@pytest.fixture(scope="module")
def busybox_image():
    why = _podman_ok()
    if why:
        pytest.skip(why)
    t = tempfile.mkdtemp(prefix="epd-bb-")
    root = os.path.join(t, "rootfs")
    for sub in ("bin", "www", "tmp", "proc", "sys", "dev", "etc"):
        os.makedirs(os.path.join(root, sub))
    shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
    for a in ("sh", "ls", "cat", "env", "httpd"):
        os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "www", "index.html"), "w") as f:
        f.write("<html>hello from busybox</html>")
    with open(os.path.join(root, "www", "health"), "w") as f:
        f.write("ok\n")
    tag = "localhost/endpointd-e2e-busybox:test"
    tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
    r = subprocess.run(["podman", "import", "--change",
                        'CMD ["/bin/sh", "-c", "exec /bin/busybox httpd -f -p 127.0.0.1:$PORT -h /www"]',
                        "-", tag], stdin=tar.stdout, capture_output=True, timeout=120)
    tar.wait()
    assert r.returncode == 0, r.stderr
    try:
        run = subprocess.run(["podman", "run", "--rm"] + UL + [tag, "/bin/busybox", "true"],
                             capture_output=True, timeout=120)
    except Exception as e:  # noqa: BLE001
        run = None
        why = "podman cannot run: %s" % e
    if run is None or run.returncode != 0:
        subprocess.run(["podman", "rmi", "-f", tag], capture_output=True)
        pytest.skip(why if run is None else "podman cannot run: %s" % run.stderr.decode()[-300:])
    yield tag
    subprocess.run(["podman", "rmi", "-f", tag], capture_output=True)
    shutil.rmtree(t, ignore_errors=True)


def test_container_endpoint(d, busybox_image):
    repo = tempfile.mkdtemp(prefix="epd-repo-")
    r = d.post("/v2/endpoint/admin", json=body("bb", {
        "repository": repo, "task": "custom", "framework": "custom",
        "image": {"custom": {"url": busybox_image, "healthRoute": "/health"}}}))
    assert r.status_code in (200, 201), r.text
    ep = wait_state(d, "bb", "running", timeout=60)
    page = requests.get(ep["status"]["url"] + "/index.html", timeout=10)
    assert page.status_code == 200 and "hello from busybox" in page.text
    ps = subprocess.run(["podman", "ps", "--filter", "label=endpointd.instance", "--format",
                         "{{.Names}}"], capture_output=True, text=True).stdout.split()
    assert len(ps) == 1 and "bb" in ps[0]
    assert d.delete("/v2/endpoint/admin/bb").status_code in (200, 204)
    end = time.time() + 20
    while time.time() < end:
        ps = subprocess.run(["podman", "ps", "-a", "--filter", "label=endpointd.instance",
                             "--format", "{{.Names}}"], capture_output=True, text=True).stdout.split()
        if not ps:
            break
        time.sleep(0.3)
    assert ps == [], "container left behind: %s" % ps
    shutil.rmtree(repo, ignore_errors=True)


def test_prometheus_scrapes_metrics(d):
    prom = shutil.which("prometheus")
    if not prom:
        pytest.skip("prometheus is not installed (apt-get install --no-install-recommends prometheus)")
    t = tempfile.mkdtemp(prefix="epd-prom-")
    # some traffic first so there are request counters
    d.post("/v2/endpoint/admin", json=body("pm", {
        "repository": HERE, "task": "custom", "framework": "custom",
        "image": {"custom": {"url": "cmd:python3 %s/fixtures/replica.py --port {port}" % HERE}}}))
    url = wait_state(d, "pm", "running")["status"]["url"]
    for _ in range(3):
        assert requests.post(url, json={}, timeout=10).status_code == 200
    with socket_port() as pport:
        cfg = os.path.join(t, "prom.yml")
        with open(cfg, "w") as f:
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    "scrape_configs:\n  - job_name: endpointd\n"
                    "    static_configs: [{targets: ['127.0.0.1:%d']}]\n" % d.port)
        p = subprocess.Popen([prom, "--config.file=" + cfg, "--storage.tsdb.path=" + t + "/data",
                              "--web.listen-address=127.0.0.1:%d" % pport],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            q = 'endpointd_requests_total{endpoint="pm",code="200"}'
            val = None
            end = time.time() + 30
            while time.time() < end and val is None:
                time.sleep(1)
                try:
                    r = requests.get("http://127.0.0.1:%d/api/v1/query" % pport,
                                     params={"query": q}, timeout=5).json()
                except requests.RequestException:
                    continue
                res = r.get("data", {}).get("result", [])
                if res:
                    val = float(res[0]["value"][1])
            assert val is not None and val >= 3, "prometheus did not scrape the counter"
        finally:
            p.terminate()
            p.wait(10)
            shutil.rmtree(t, ignore_errors=True)
    d.delete("/v2/endpoint/admin/pm")


class socket_port:
    """A free loopback port (closed before use)."""

    def __enter__(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *a):
        return False
