"""End-to-end serving tests on the real daemon with the stand-in replica
(fixtures/replica.py) run as a "cmd:" custom-image endpoint: create -> running
with URL, gateway auth per endpoint type, pause/resume, scale-to-zero + wake,
hold deadline -> 503, idle timeout, streaming, crash -> 502 + restart, never
healthy -> failed with log lines, autoscaling up and back down, rolling update
under traffic, logs, metrics, and kill -9 + restart without orphans."""
import json
import os
import signal
import sys
import threading
import time

import pytest
import requests

from conftest import Daemon, make_user

HERE = os.path.dirname(os.path.abspath(__file__))
REPLICA = os.path.join(HERE, "fixtures", "replica.py")

FAST_ENV = {
    "ENDPOINTD_SCALE_TO_ZERO_UNIT_MS": "1000",
    "ENDPOINTD_REPLICA_START_TIMEOUT_MS": "4000",
    "ENDPOINTD_SCALE_DOWN_WINDOW_MS": "1500",
    "ENDPOINTD_AUTOSCALE_PER_REPLICA": "1",
    "ENDPOINTD_REPLICA_CONCURRENCY": "4",
    "ENDPOINTD_STOP_GRACE_MS": "2000",
}


def body(name, cmd_args="", typ="public", min_r=1, max_r=1, stz=0, repo=None):
    return {
        "name": name,
        "type": typ,
        "accountId": None,
        "provider": {"vendor": "local", "region": "local"},
        "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                    "scaling": {"minReplica": min_r, "maxReplica": max_r,
                                "scaleToZeroTimeout": stz}},
        "model": {"repository": repo or HERE, "task": "custom", "framework": "custom",
                  "image": {"custom": {"url": "cmd:%s %s --port {port} %s" % (
                      sys.executable, REPLICA, cmd_args), "healthRoute": "/health"}}},
    }


def ep_path(name):
    return "/v2/endpoint/admin/" + name


def wait_state(d, name, want, timeout=20.0):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        r = d.get(ep_path(name))
        assert r.status_code == 200, r.text
        last = r.json()
        if last["status"]["state"] == want:
            return last
        time.sleep(0.1)
    raise AssertionError("state %s, wanted %s: %s" % (last["status"]["state"], want,
                                                      json.dumps(last["status"])))


def data(d, name, sub="", method="POST", **kw):
    kw.setdefault("timeout", 30)
    headers = kw.pop("headers", {})
    return requests.request(method, d.url + "/endpoints/admin/" + name + sub, headers=headers, **kw)


@pytest.fixture(scope="module")
def d():
    dm = Daemon(env=FAST_ENV).start()
    yield dm
    dm.cleanup()


def test_create_running_and_proxy(d):
    r = d.post("/v2/endpoint/admin", json=body("echo"))
    assert r.status_code in (200, 201), r.text
    ep = wait_state(d, "echo", "running")
    assert ep["status"]["url"] == d.url + "/endpoints/admin/echo"
    assert ep["status"]["readyReplica"] == 1 and ep["status"]["targetReplica"] == 1
    g = requests.get(ep["status"]["url"], timeout=10)
    assert g.status_code == 200
    p = data(d, "echo", "/generate", json={"inputs": "hi"})
    assert p.status_code == 200
    assert p.json()["echo"] == {"inputs": "hi"} and p.json()["path"] == "/generate"
    assert p.json()["auth"] is None  # the caller's token is not forwarded
    q = data(d, "echo", "/info", method="GET", params={"a": "b"})
    assert q.status_code == 200 and q.json()["model_id"] == "stand-in"
    # unknown endpoint
    assert data(d, "nope").status_code == 404


def test_stream_passes_chunks_through(d):
    t0 = time.time()
    r = data(d, "echo", "/generate_stream", json={"n": 4, "interval": 0.3}, stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    arrivals = []
    for line in r.iter_lines():
        if line.startswith(b"data:"):
            arrivals.append(time.time() - t0)
    assert len(arrivals) == 4
    # the first event arrives long before the last one was produced: not buffered
    assert arrivals[0] < 0.6 and arrivals[-1] - arrivals[0] > 0.6, arrivals


def test_security_types(d):
    other = make_user(d, "bob")
    for typ in ("protected", "private"):
        d.post("/v2/endpoint/admin", json=body("sec-" + typ, typ=typ))
    for typ in ("protected", "private"):
        wait_state(d, "sec-" + typ, "running")
        name = "sec-" + typ
        assert data(d, name).status_code == 401
        assert data(d, name, headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = data(d, name, headers=d.admin_headers, json={"x": 1})
        assert ok.status_code == 200, ok.text
        as_bob = data(d, name, headers={"Authorization": "Bearer " + other}, json={})
        assert as_bob.status_code == (200 if typ == "protected" else 403), as_bob.text
        if as_bob.status_code == 403:
            assert "error" in as_bob.json()
    for typ in ("protected", "private"):
        d.delete(ep_path("sec-" + typ))


def test_pause_resume(d):
    assert d.post(ep_path("echo") + "/pause").status_code == 200
    wait_state(d, "echo", "paused")
    t0 = time.time()
    r = data(d, "echo", json={"inputs": "x"})
    assert r.status_code == 400
    assert r.json() == {"error": "Bad Request: Invalid state: endpoint is paused; resume it first"}
    assert time.time() - t0 < 1.0
    assert d.post(ep_path("echo") + "/resume").status_code == 200
    ep = wait_state(d, "echo", "running")
    assert ep["status"]["url"]
    assert data(d, "echo", json={}).status_code == 200


def test_scale_to_zero_and_wake(d):
    assert d.post(ep_path("echo") + "/scale-to-zero").status_code == 200
    ep = wait_state(d, "echo", "scaledToZero")
    assert ep["status"]["url"] == d.url + "/endpoints/admin/echo"
    time.sleep(0.5)
    t0 = time.time()
    r = data(d, "echo", json={"inputs": "wake"})
    assert r.status_code == 200, r.text
    assert r.json()["echo"] == {"inputs": "wake"}
    assert time.time() - t0 < 15
    wait_state(d, "echo", "running")


def test_scale_up_timeout_503(d):
    d.post("/v2/endpoint/admin", json=body("slowstart", "--ready-after 3"))
    wait_state(d, "slowstart", "running", timeout=30)
    d.post(ep_path("slowstart") + "/scale-to-zero")
    wait_state(d, "slowstart", "scaledToZero")
    time.sleep(0.3)
    t0 = time.time()
    r = data(d, "slowstart", json={}, headers={"X-Scale-Up-Timeout": "0.5"})
    assert r.status_code == 503, r.text
    assert r.headers.get("Retry-After")
    assert "error" in r.json()
    assert 0.4 < time.time() - t0 < 3.0
    # a patient request is held until the replica is ready
    r2 = data(d, "slowstart", json={"p": 1}, headers={"X-Wait-For-Model": "true"})
    assert r2.status_code == 200
    d.delete(ep_path("slowstart"))


def test_idle_timeout_scales_to_zero(d):
    # scaleToZeroTimeout = 1 "minute" = 1000 ms here (ENDPOINTD_SCALE_TO_ZERO_UNIT_MS)
    d.post("/v2/endpoint/admin", json=body("idle", min_r=0, max_r=1, stz=1))
    wait_state(d, "idle", "running")
    wait_state(d, "idle", "scaledToZero", timeout=10)
    r = data(d, "idle", json={"again": True})
    assert r.status_code == 200
    d.delete(ep_path("idle"))


def test_crash_gives_502_and_restarts(d):
    ep = wait_state(d, "echo", "running")
    pid = data(d, "echo", json={}).json()["pid"]
    result = {}

    def slow():
        result["r"] = data(d, "echo", "/slow", json={"seconds": 5})
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    t.join(10)
    r = result["r"]
    assert r.status_code == 502
    assert r.headers["Content-Type"].startswith("application/json")
    assert "error" in r.json()
    # restarted with a new process
    end = time.time() + 20
    while time.time() < end:
        q = data(d, "echo", json={})
        if q.status_code == 200 and q.json()["pid"] != pid:
            break
        time.sleep(0.2)
    assert q.status_code == 200 and q.json()["pid"] != pid
    assert ep["status"]["url"]


def test_never_healthy_fails_with_log_lines(d):
    d.post("/v2/endpoint/admin", json=body("sick", "--never-ready"))
    ep = wait_state(d, "sick", "failed", timeout=30)
    msg = ep["status"]["errorMessage"]
    assert "did not become healthy" in msg
    assert '"GET /health HTTP/1.1" 503' in msg  # lines the replica printed
    assert ep["status"]["url"] is None
    r = data(d, "sick", json={})
    assert r.status_code == 503
    d.delete(ep_path("sick"))


def test_logs_and_metrics(d):
    r = d.get(ep_path("echo") + "/logs", params={"tail": 500})
    assert r.status_code == 200
    assert "stand-in replica pid=" in r.text
    m = requests.get(d.url + "/metrics", timeout=10).text
    assert 'endpointd_requests_total{namespace="admin",endpoint="echo",code="200"}' in m
    assert 'endpointd_replicas_ready{namespace="admin",endpoint="echo"} 1' in m
    assert "endpointd_request_duration_seconds_bucket" in m
    assert "endpointd_wakes_total" in m


def test_autoscale_up_and_drain_down(d):
    d.post("/v2/endpoint/admin", json=body("auto", min_r=1, max_r=3))
    wait_state(d, "auto", "running")
    results = []

    def one():
        results.append(data(d, "auto", "/slow", json={"seconds": 3}).status_code)
    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    seen = 0
    end = time.time() + 10
    while time.time() < end and seen < 2:
        seen = max(seen, d.get(ep_path("auto")).json()["status"]["readyReplica"])
        time.sleep(0.1)
    for t in threads:
        t.join(20)
    assert results == [200] * 6
    assert seen >= 2
    # back down to minReplica after the stabilisation window
    end = time.time() + 15
    st = None
    while time.time() < end:
        st = d.get(ep_path("auto")).json()["status"]
        if st["readyReplica"] == 1 and st["targetReplica"] == 1:
            break
        time.sleep(0.2)
    assert st["readyReplica"] == 1 and st["targetReplica"] == 1, st
    d.delete(ep_path("auto"))


def test_update_under_traffic_loses_nothing(d):
    d.post("/v2/endpoint/admin", json=body("roll", "--tag v1"))
    wait_state(d, "roll", "running")
    stop = threading.Event()
    codes, tags = [], set()

    def load():
        while not stop.is_set():
            r = data(d, "roll", json={})
            codes.append(r.status_code)
            if r.status_code == 200:
                tags.add(r.json()["tag"])
    t = threading.Thread(target=load)
    t.start()
    time.sleep(0.5)
    new = body("roll", "--tag v2 --ready-after 1")
    r = d.put(ep_path("roll"), json={"model": new["model"]})
    assert r.status_code == 200, r.text
    end = time.time() + 20
    while time.time() < end and "v2" not in tags:
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    t.join(10)
    assert "v2" in tags and "v1" in tags
    assert set(codes) == {200}, [c for c in codes if c != 200]
    wait_state(d, "roll", "running")
    d.delete(ep_path("roll"))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie not yet reaped by init counts as gone
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_kill9_restart_no_orphans():
    dm = Daemon(env=FAST_ENV).start()
    try:
        dm.post("/v2/endpoint/admin", json=body("k1"))
        dm.post("/v2/endpoint/admin", json=body("k2"))
        wait_state(dm, "k1", "running")
        wait_state(dm, "k2", "running")
        pids = [data(dm, n, json={}).json()["pid"] for n in ("k1", "k2")]
        dm.kill9()
        end = time.time() + 5
        while time.time() < end and any(_alive(p) for p in pids):
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "replicas outlived the daemon"
        dm.start()
        for n in ("k1", "k2"):
            wait_state(dm, n, "running")
            assert data(dm, n, json={}).status_code == 200
    finally:
        dm.cleanup()
