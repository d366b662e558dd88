"""Local replicas reached over their Unix-domain socket: the daemon gives each
local replica whose command asks for "{unix}" (every `endpointd runtime`
replica does) a socket under <home>/run, probes and proxies there, and
removes the file when the replica is gone; stale files of a killed daemon are
removed at start-up, live ones kept. Checked with the real runtime
(stories260K) and with the stand-in replica, which says which way a request
came ("via"): streaming, client abort, SIGKILL -> 502 + restart, kill -9 of
the daemon."""
import glob
import json
import os
import signal
import socket
import sys
import threading
import time

import requests

from conftest import Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
REPLICA = os.path.join(HERE, "fixtures", "replica.py")
MODEL = os.path.join(ROOT, "models", "stories260K")
FAST_ENV = {"ENDPOINTD_REPLICA_START_TIMEOUT_MS": "8000", "ENDPOINTD_STOP_GRACE_MS": "2000"}


def standin(name, unix=True):
    url = "cmd:%s %s --port {port}%s" % (sys.executable, REPLICA, " --unix {unix}" if unix else "")
    return {"name": name, "type": "public",
            "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                        "scaling": {"minReplica": 1, "maxReplica": 1}},
            "model": {"repository": HERE, "task": "custom", "framework": "custom",
                      "image": {"custom": {"url": url, "healthRoute": "/health"}}}}


def runtime_body(name):
    return {"name": name, "type": "public",
            "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                        "scaling": {"minReplica": 1, "maxReplica": 1}},
            "model": {"repository": MODEL, "task": "text-generation", "framework": "pytorch",
                      "image": {"huggingface": {}}}}


def wait_state(d, name, want, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        st = d.get("/v2/endpoint/admin/" + name).json()["status"]
        if st["state"] == want:
            return st
        time.sleep(0.1)
    raise AssertionError("%s: state %s, wanted %s" % (name, st["state"], want))


def socks(d, name=""):
    return sorted(glob.glob(os.path.join(d.home, "run", name + "*.sock")))


def wait_for(cond, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def connected(path):
    """Open connections to the socket at path (from /proc/net/unix: the
    accepted sockets carry the listener's path, state 03 = connected)."""
    n = 0
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if len(parts) >= 8 and parts[7] == path and parts[5] == "03":
                n += 1
    return n


def gw(d, name, sub="", method="POST", **kw):
    kw.setdefault("timeout", 30)
    return requests.request(method, d.url + "/endpoints/admin/" + name + sub, **kw)


def test_runtime_replica_over_unix_socket():
    d = Daemon(env=FAST_ENV).start()
    try:
        r = d.post("/v2/endpoint/admin", json=runtime_body("rt"))
        assert r.status_code in (200, 201), r.text
        st = wait_state(d, "rt", "running", 60)
        assert st["url"] == d.url + "/endpoints/admin/rt"  # the public URL is unchanged
        files = socks(d, "rt.")
        assert len(files) == 1, files
        path = files[0]
        assert len(path) < 108 and (os.stat(path).st_mode & 0o777) == 0o600
        s = requests.Session()
        assert s.get(st["url"] + "/health", timeout=10).status_code == 200
        # the gateway's pooled upstream connection is on the socket
        assert wait_for(lambda: connected(path) >= 1), "no connection on " + path
        # SSE through the Unix hop, event by event
        r = s.post(st["url"] + "/generate_stream", timeout=60, stream=True,
                   json={"inputs": "Once upon a time", "parameters": {"max_new_tokens": 8}})
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        events = [json.loads(l[5:]) for l in r.iter_lines() if l.startswith(b"data:")]
        assert events and events[-1].get("generated_text") is not None, events
        g = s.post(st["url"] + "/generate", timeout=60,
                   json={"inputs": "Once upon a time", "parameters": {"max_new_tokens": 4}})
        assert g.status_code == 200 and g.json()["generated_text"]
        assert d.delete("/v2/endpoint/admin/rt").status_code == 200
        assert wait_for(lambda: not os.path.exists(path)), "socket left after delete"
    finally:
        assert d.cleanup() == 0


def test_standin_over_unix_stream_abort_kill():
    d = Daemon(env=FAST_ENV).start()
    try:
        assert d.post("/v2/endpoint/admin", json=standin("u")).status_code in (200, 201)
        assert d.post("/v2/endpoint/admin", json=standin("t", unix=False)).status_code in (200,
                                                                                         201)
        wait_state(d, "u", "running")
        wait_state(d, "t", "running")
        assert socks(d, "t.") == []  # no {unix} in the command: TCP, as before
        first = socks(d, "u.")
        assert len(first) == 1, first
        p = gw(d, "u", "/generate", json={"inputs": "hi"})
        assert p.status_code == 200 and p.json()["via"] == "unix", p.text
        assert gw(d, "t", "/generate", json={}).json()["via"] == "tcp"
        # SSE / chunked: each event arrives when the replica writes it
        t0 = time.time()
        r = gw(d, "u", "/generate_stream", json={"n": 4, "interval": 0.3}, stream=True)
        assert r.status_code == 200
        arrivals = [time.time() - t0 for l in r.iter_lines() if l.startswith(b"data:")]
        assert len(arrivals) == 4
        assert arrivals[0] < 0.6 and arrivals[-1] - arrivals[0] > 0.6, arrivals
        # a client that goes away mid-stream cancels the upstream request
        s = socket.create_connection(("127.0.0.1", d.port))
        body = json.dumps({"n": 40, "interval": 0.05}).encode()
        s.sendall(b"POST /endpoints/admin/u/generate_stream HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                  + body)
        assert b"200" in s.recv(200)
        s.close()

        def aborted():
            t = d.get("/v2/endpoint/admin/u/logs", params={"tail": 200}).text
            return "stream aborted by client" in t
        assert wait_for(aborted, 10), "upstream stream not cancelled"
        # SIGKILL mid-request: 502 JSON, restart on a new socket, old file gone
        pid = gw(d, "u", json={}).json()["pid"]
        result = {}
        th = threading.Thread(target=lambda: result.update(
            r=gw(d, "u", "/slow", json={"seconds": 5})))
        th.start()
        time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
        th.join(15)
        assert result["r"].status_code == 502, result["r"].text
        assert "error" in result["r"].json()

        def restarted():
            q = gw(d, "u", json={})
            return q.status_code == 200 and q.json()["pid"] != pid and q.json()
        q = wait_for(restarted, 20)
        assert q and q["via"] == "unix", q
        assert not os.path.exists(first[0]), "socket of the killed replica left behind"
        assert len(socks(d, "u.")) == 1 and socks(d, "u.") != first
        assert d.stop() == 0
        assert socks(d) == [], "replica sockets left after the daemon stopped"
    finally:
        assert d.cleanup() == 0


def test_stale_sockets_of_killed_daemon_removed():
    home = None
    d = Daemon(env=FAST_ENV).start()
    live = None
    try:
        home = d.home
        assert d.post("/v2/endpoint/admin", json=standin("k")).status_code in (200, 201)
        wait_state(d, "k", "running")
        old = socks(d, "k.")
        assert len(old) == 1
        pid = gw(d, "k", json={}).json()["pid"]
        d.kill9()  # the replica dies with it (PDEATHSIG); its socket file stays
        assert wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                        open("/proc/%d/stat" % pid).read().split()[2] == "Z", 5)
        assert os.path.exists(old[0]), "expected the killed replica's socket to be left"
        # a stale socket of some other name, and a live one that must be kept
        stale = os.path.join(home, "run", "other.1.1.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(stale)
        s.close()
        live_path = os.path.join(home, "run", "live.1.1.sock")
        live = socket.socket(socket.AF_UNIX)
        live.bind(live_path)
        live.listen(1)
        d.start()
        assert not os.path.exists(old[0]) and not os.path.exists(stale)
        assert os.path.exists(live_path), "a socket somebody listens on was removed"
        wait_state(d, "k", "running")
        new = socks(d, "k.")
        assert len(new) == 1 and new != old
        q = gw(d, "k", json={})
        assert q.status_code == 200 and q.json()["via"] == "unix"
    finally:
        if live:
            live.close()
        assert d.cleanup() == 0
