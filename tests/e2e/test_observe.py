"""Observing one endpoint on the real daemon with the stand-in replica
(fixtures/replica.py, which prints an access line per request) as a "cmd:"
endpoint: GET .../logs with tail, since and follow=1 (new lines streamed,
stream ends on delete, follower cap, client disconnect frees a slot),
GET .../events (JSON timeline), GET .../metrics (Prometheus text of that
endpoint only, and JSON) and the /metrics names the dashboard parses."""
import datetime
import os
import re
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import Daemon, endpointd_bin
from test_serving import FAST_ENV, body, wait_state

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ")
LOGS = "/v2/endpoint/admin/%s/logs"


@pytest.fixture(scope="module")
def d():
    env = dict(FAST_ENV)
    env["ENDPOINTD_LOG_FOLLOWERS_MAX"] = "2"
    env["ENDPOINTD_LOG_FOLLOW_POLL_MS"] = "50"
    dm = Daemon(env=env).start()
    for name in ("obs", "other"):
        r = dm.post("/v2/endpoint/admin", json=body(name))
        assert r.status_code == 201, r.text
    for name in ("obs", "other"):
        wait_state(dm, name, "running")
    yield dm
    assert dm.cleanup() == 0


def hit(d, name, mark):
    r = requests.post(d.url + "/endpoints/admin/%s/%s" % (name, mark), json={}, timeout=10)
    assert r.status_code == 200, r.text


def logs(d, name="obs", **params):
    r = d.get(LOGS % name, params=params)
    assert r.status_code == 200, r.text
    return r.text


def wait_log(d, needle, name="obs", timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if needle in logs(d, name):
            return
        time.sleep(0.05)
    raise AssertionError("%r not in the logs of %s" % (needle, name))


def test_tail_and_timestamps(d):
    for i in range(6):
        hit(d, "obs", "tail-mark-%d" % i)
    wait_log(d, "tail-mark-5")
    full = logs(d)
    lines = full.splitlines()
    assert lines and all(ISO.match(x) for x in lines), [x for x in lines if not ISO.match(x)][:3]
    # events and replica lines merged in time order
    stamps = [x[:24] for x in lines]
    assert stamps == sorted(stamps)
    assert any("[created]" in x for x in lines) and any(" r1 " in x for x in lines)
    t = logs(d, tail=3).splitlines()
    assert len(t) == 3 and "tail-mark-5" in t[-1] and "tail-mark-3" in t[0], t
    assert len(logs(d, tail=1).splitlines()) == 1
    assert d.get(LOGS % "obs", params={"tail": "-1"}).status_code == 400
    assert d.get(LOGS % "obs", params={"tail": "x"}).status_code == 400


def test_since(d):
    hit(d, "obs", "before-mark")
    wait_log(d, "before-mark")
    time.sleep(0.05)
    cut = datetime.datetime.now(datetime.timezone.utc)
    time.sleep(0.05)
    hit(d, "obs", "after-mark")
    wait_log(d, "after-mark")
    iso = cut.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (cut.microsecond // 1000)
    got = logs(d, since=iso)
    assert "after-mark" in got and "before-mark" not in got, got
    assert all(x[:24] >= iso for x in got.splitlines())
    # seconds ago
    assert "before-mark" in logs(d, since="3600")
    time.sleep(1.2)
    assert logs(d, since="1") == ""
    assert "after-mark" in logs(d, since="1m")
    for bad in ("yesterday", "2026-13-99T00:00:00Z", "-5", "5x"):
        r = d.get(LOGS % "obs", params={"since": bad})
        assert r.status_code == 400, (bad, r.text)


class Follower:
    """A follow stream on a raw socket (so close() really closes it at once),
    read on a thread; .text is the de-chunked body so far."""

    def __init__(self, d, name, **params):
        params["follow"] = "1"
        q = "&".join("%s=%s" % kv for kv in params.items())
        self.sock = socket.create_connection(("127.0.0.1", d.port), timeout=15)
        self.sock.sendall(("GET %s?%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                           % (LOGS % name, q, d.admin_token)).encode())
        raw = b""
        while b"\r\n\r\n" not in raw:
            got = self.sock.recv(65536)
            assert got, "connection closed before the response head"
            raw += got
        head, self.rest = raw.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        self.text = ""
        self.ended = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buf = self.rest
        chunked = self.headers.get("transfer-encoding") == "chunked"
        try:
            while True:
                if chunked:
                    while b"\r\n" in buf:
                        size_s, after = buf.split(b"\r\n", 1)
                        size = int(size_s, 16)
                        if len(after) < size + 2:
                            break
                        if size == 0:
                            self.ended.set()
                            return
                        self.text += after[:size].decode()
                        buf = after[size + 2:]
                else:
                    self.text += buf.decode()
                    buf = b""
                    if len(self.text) >= int(self.headers.get("content-length", "-1")) >= 0:
                        break
                got = self.sock.recv(65536)
                if not got:
                    break
                buf += got
        except OSError:
            pass
        self.ended.set()

    def wait_for(self, needle, timeout=10.0):
        end = time.time() + timeout
        while time.time() < end and needle not in self.text:
            time.sleep(0.02)
        assert needle in self.text, self.text[-2000:]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def test_follow_streams_new_lines_and_ends_on_delete(d):
    r = d.post("/v2/endpoint/admin", json=body("fol"))
    assert r.status_code == 201
    wait_state(d, "fol", "running")
    hit(d, "fol", "old-mark")
    wait_log(d, "old-mark", "fol")
    f = Follower(d, "fol", tail=1)
    assert f.status == 200 and f.headers["content-type"].startswith("text/plain")
    assert f.headers.get("transfer-encoding") == "chunked"
    f.wait_for("old-mark")  # the tail comes first
    t0 = time.time()
    hit(d, "fol", "live-mark-1")
    f.wait_for("live-mark-1")
    assert time.time() - t0 < 3.0
    hit(d, "fol", "live-mark-2")
    f.wait_for("live-mark-2")
    assert f.text.count("live-mark-1") == 1  # each line once
    assert not f.ended.is_set()
    assert d.delete("/v2/endpoint/admin/fol").status_code == 200
    assert f.ended.wait(10), "stream did not end after delete"


def test_follow_cap_and_disconnect(d):
    a = Follower(d, "obs", tail=1)
    b = Follower(d, "obs", tail=1)
    assert a.status == 200 and b.status == 200
    c = Follower(d, "obs", tail=1)
    assert c.status == 429
    c.ended.wait(5)
    assert "too many" in c.text
    # another endpoint has its own cap
    o = Follower(d, "other", tail=1)
    assert o.status == 200
    c.close()
    a.close()
    t0 = time.time()
    while True:  # the daemon notices the disconnect and frees the slot
        c = Follower(d, "obs", tail=1)
        if c.status == 200 or time.time() > t0 + 10:
            break
        c.close()
        time.sleep(0.05)
    assert c.status == 200
    assert time.time() - t0 < 1.0  # noticed at once, not at the next log line
    hit(d, "obs", "cap-mark")
    b.wait_for("cap-mark")
    c.wait_for("cap-mark")
    for x in (b, c, o):
        x.close()


def test_events(d):
    r = d.get("/v2/endpoint/admin/obs/events")
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items[0]["kind"] == "created"
    assert any(e["kind"] == "state" and "running" in e["message"] for e in items), items
    for e in items:
        assert set(e) == {"ts", "kind", "message"} and ISO.match(e["ts"] + " ")
    assert [e["ts"] for e in items] == sorted(e["ts"] for e in items)
    assert d.post("/v2/endpoint/admin/obs/pause").status_code == 200
    last = d.get("/v2/endpoint/admin/obs/events", params={"limit": 1}).json()["items"]
    assert len(last) == 1 and last[0]["kind"] == "paused"
    assert d.post("/v2/endpoint/admin/obs/resume").status_code == 200
    wait_state(d, "obs", "running")
    since = d.get("/v2/endpoint/admin/obs/events", params={"since": last[0]["ts"]}).json()["items"]
    assert since[0]["kind"] == "paused" and any(e["kind"] == "resumed" for e in since)
    assert d.get("/v2/endpoint/admin/nope/events").status_code == 404
    assert d.get("/v2/endpoint/admin/obs/events", token="bad").status_code == 401


def sample(text, name, **labels):
    lbl = ",".join('%s="%s"' % kv for kv in labels.items())
    m = re.search(r"^%s\{%s\} (\S+)$" % (re.escape(name), re.escape(lbl)), text, re.M)
    return float(m.group(1)) if m else None


def test_endpoint_metrics(d):
    def count(text):
        return sample(text, "endpointd_requests_total", namespace="admin", endpoint="other",
                      code="200") or 0
    before = count(d.get("/v2/endpoint/admin/other/metrics").text)
    for i in range(3):
        hit(d, "other", "m%d" % i)
    r = d.get("/v2/endpoint/admin/other/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert count(r.text) == before + 3
    # only this endpoint's samples
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            assert 'namespace="admin",endpoint="other"' in line, line
    assert sample(r.text, "endpointd_replicas_ready", namespace="admin", endpoint="other") == 1
    assert sample(r.text, "endpointd_in_flight", namespace="admin", endpoint="other") == 0
    j = d.get("/v2/endpoint/admin/other/metrics", params={"format": "json"}).json()
    assert j["namespace"] == "admin" and j["name"] == "other"
    assert j["requests"]["byCode"]["200"] == before + 3 == j["requests"]["total"]
    assert j["latencySeconds"]["count"] == before + 3
    assert 0 < j["latencySeconds"]["p50"] <= j["latencySeconds"]["p99"]
    assert j["replicas"] == {"ready": 1, "target": 1}
    j2 = d.get("/v2/endpoint/admin/other/metrics", headers={"Accept": "application/json"})
    assert j2.headers["Content-Type"].startswith("application/json")
    assert d.get("/v2/endpoint/admin/other/metrics", params={"format": "xml"}).status_code == 400
    assert d.get("/v2/endpoint/admin/nope/metrics").status_code == 404


def test_daemon_metrics_names_match_dashboard(d):
    text = requests.get(d.url + "/metrics", timeout=10).text
    lbl = dict(namespace="admin", endpoint="obs")
    for name in ("endpointd_queue_depth", "endpointd_in_flight", "endpointd_replicas_ready",
                 "endpointd_replicas_target", "endpointd_wakes_total",
                 "endpointd_wake_duration_seconds_sum", "endpointd_wake_duration_seconds_count"):
        assert sample(text, name, **lbl) is not None, name
    assert "# TYPE endpointd_wake_duration_seconds summary" in text
    assert re.search(r'^endpointd_request_duration_seconds_bucket\{namespace="admin",'
                     r'endpoint="obs",le="\+Inf"\} \d+$', text, re.M)


def test_cli_logs_follow(d):
    r = d.post("/v2/endpoint/admin", json=body("clifol"))
    assert r.status_code == 201
    wait_state(d, "clifol", "running")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env.update({"ENDPOINTD_URL": d.url, "ENDPOINTD_TOKEN": d.admin_token})
    p = subprocess.Popen([endpointd_bin(), "logs", "clifol", "--namespace", "admin", "--follow"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out = []
        threading.Thread(target=lambda: out.extend(iter(p.stdout.readline, b"")),
                         daemon=True).start()
        end = time.time() + 10
        while time.time() < end and not any(b"[created]" in x for x in out):
            time.sleep(0.05)
        hit(d, "clifol", "cli-live-mark")
        while time.time() < end and not any(b"cli-live-mark" in x for x in out):
            time.sleep(0.05)
        assert any(b"cli-live-mark" in x for x in out), out[-5:]
        assert p.poll() is None  # still following
        assert d.delete("/v2/endpoint/admin/clifol").status_code == 200
        assert p.wait(10) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
