"""Crash safety of the management plane (issue 10 part 3): kill -9 the daemon
at random points of create/update/delete storms (>= 50 times), restart it on
the same home, and check that every acknowledged change survived, nothing
unacknowledged appeared from nowhere, `PRAGMA integrity_check` says ok and no
replica process outlives its daemon. Also: a read-only home and a full disk
give clear errors instead of crashes."""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import requests

from conftest import Daemon, endpointd_bin

HERE = os.path.dirname(os.path.abspath(__file__))
REPLICA = os.path.join(HERE, "fixtures", "replica.py")
ITERATIONS = int(os.environ.get("EP_CRASH_ITERATIONS", "50"))
NAMES = ["cs0", "cs1", "cs2", "cs3"]
ENV = {"ENDPOINTD_REPLICA_START_TIMEOUT_MS": "4000", "ENDPOINTD_STOP_GRACE_MS": "1000"}


def body(name, gen, tag, min_r):
    return {
        "name": name, "type": "public", "accountId": None,
        "provider": {"vendor": "local", "region": "local"},
        "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                    "scaling": {"minReplica": min_r, "maxReplica": 1}},
        "model": {"repository": HERE, "task": "custom", "framework": "custom",
                  "env": {"GEN": str(gen)},
                  "image": {"custom": {"url": "cmd:%s %s --port {port} --tag %s" % (
                      sys.executable, REPLICA, tag), "healthRoute": "/health"}}},
    }


def replica_pids(tag):
    """PIDs of live (non-zombie) replica.py processes started with --tag tag."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().split(b"\0")
            with open("/proc/%s/stat" % p) as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        if any(a.endswith(b"replica.py") for a in cmd) and tag.encode() in cmd:
            out.append(int(p))
    return out


def wait_no_replicas(tag, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end and replica_pids(tag):
        time.sleep(0.05)
    return replica_pids(tag)


def integrity(home):
    r = subprocess.run(["sqlite3", os.path.join(home, "endpointd.db"), "PRAGMA integrity_check"],
                       capture_output=True, text=True, timeout=30)
    return r.stdout.strip() + r.stderr.strip()


def observed(d):
    """name -> GEN of every endpoint the daemon lists."""
    r = d.get("/v2/endpoint/admin", timeout=10)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    return {e["name"]: int(e["model"].get("env", {}).get("GEN", -1)) for e in items}


def test_kill9_storms_keep_acknowledged_state():
    rng = random.Random(int(os.environ.get("EP_CRASH_SEED", "1234")))
    tag = "crashsafe-%d-%d" % (os.getpid(), rng.randrange(1 << 30))
    home = tempfile.mkdtemp(prefix="epd-crash-")
    # name -> set of acceptable GENs (None = absent). Acknowledged responses
    # narrow it to one value; a request cut by the kill widens it.
    allowed = {n: {None} for n in NAMES}
    gen = 0
    acked = {"create": 0, "update": 0, "delete": 0}
    d = Daemon(home=home, env=ENV)
    try:
        for it in range(ITERATIONS):
            d.start()
            got = observed(d)
            for n in NAMES:
                assert got.get(n) in allowed[n], \
                    "iteration %d: %s is %r, acknowledged %r" % (it, n, got.get(n), allowed[n])
                allowed[n] = {got.get(n)}  # now known for sure
            killer = threading.Timer(rng.uniform(0.0, 0.25), d.proc.kill)
            killer.start()
            while d.proc.poll() is None:
                n = rng.choice(NAMES)
                gen += 1
                op = rng.choice(["create", "update", "update", "delete"])
                try:
                    if op == "create":
                        r = d.post("/v2/endpoint/admin",
                                   json=body(n, gen, tag, rng.choice([0, 0, 1])), timeout=5)
                    elif op == "update":
                        r = d.put("/v2/endpoint/admin/" + n,
                                  json={"model": {"env": {"GEN": str(gen)}}}, timeout=5)
                    else:
                        r = d.delete("/v2/endpoint/admin/" + n, timeout=5)
                except requests.RequestException:
                    allowed[n] |= {None} if op == "delete" else {gen}
                    break
                new = None if op == "delete" else gen
                if r.status_code in (200, 201, 202, 204):
                    allowed[n] = {new}
                    acked[op] += 1
                elif r.status_code >= 500:
                    pytest.fail("%s %s -> %d %s" % (op, n, r.status_code, r.text))
                # 4xx (exists / not found): state unchanged
            killer.join()
            d.kill9()
            assert integrity(home) == "ok", "iteration %d: %s" % (it, integrity(home))
            left = wait_no_replicas(tag)
            assert not left, "iteration %d: replicas outlived the daemon: %s" % (it, left)
        print("acknowledged before the kills:", acked)
        assert min(acked.values()) > 0, acked
        # Final: every endpoint intact and serving when it should be.
        d.start()
        got = observed(d)
        for n in NAMES:
            assert got.get(n) in allowed[n], (n, got.get(n), allowed[n])
        for n, g in got.items():
            r = d.get("/v2/endpoint/admin/" + n)
            assert r.status_code == 200, r.text
            assert r.json()["model"]["env"]["GEN"] == str(g)
        rc = d.cleanup()
        assert rc == 0, "endpointd did not exit cleanly"
        assert not wait_no_replicas(tag), "replicas outlived a clean stop"
        assert integrity(home) == "ok"
    finally:
        d.kill9()
        for p in replica_pids(tag):
            os.kill(p, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)


def _mount_tmpfs(path, opts):
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("this test needs root to mount a tmpfs: " + r.stderr.strip())


def test_read_only_home_fails_clearly():
    mnt = tempfile.mkdtemp(prefix="epd-ro-")
    _mount_tmpfs(mnt, "size=4m,mode=0755")
    try:
        subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
        home = mnt  # the home folder itself exists but cannot be written
        p = subprocess.run([endpointd_bin(), "serve", "--host", "127.0.0.1", "--port", "0",
                            "--home", home, "--log-level", "warn"], capture_output=True,
                           text=True, timeout=20)
        assert p.returncode > 0, "rc %d (a signal is a crash)" % p.returncode
        assert home in p.stderr, p.stderr
        assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
        sub = os.path.join(mnt, "new-home")  # and a home that cannot be created
        p = subprocess.run([endpointd_bin(), "serve", "--port", "0", "--home", sub],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode > 0 and "cannot create home" in p.stderr and sub in p.stderr, p.stderr
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def disk_full_scenario(with_status=False):
    """Fills the home's file system under a running daemon; checks 5xx JSON
    errors, health, recovery after space is freed and db integrity. Returns
    the error message of the failed write."""
    mnt = tempfile.mkdtemp(prefix="epd-full-")
    _mount_tmpfs(mnt, "size=2m")
    home = os.path.join(mnt, "home")
    os.makedirs(home)
    d = Daemon(home=home, env=ENV)
    try:
        d.start()
        assert d.post("/v2/endpoint/admin", json=body("before", 1, "diskfull", 0)).status_code \
            in (200, 201)
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:  # fill the file system to the last block
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        codes = []
        for i in range(5):  # rows grow the db until a page is needed
            b = body("full%d" % i, 2, "diskfull", 0)
            b["model"]["env"]["PAD"] = "x" * 20000
            r = d.post("/v2/endpoint/admin", json=b)
            codes.append(r.status_code)
            if r.status_code >= 500:
                assert r.status_code in (500, 503, 507), r.text
                status, msg = r.status_code, r.json()["error"]
                break
        assert any(c >= 500 for c in codes), "writes never failed on a full disk: %s" % codes
        assert d.get("/health").status_code == 200, "daemon unhealthy after disk full"
        assert "before" in observed(d)
        os.unlink(filler)
        r = d.post("/v2/endpoint/admin", json=body("after", 3, "diskfull", 0))
        assert r.status_code in (200, 201), r.text
        assert d.cleanup() == 0
        assert integrity(home) == "ok"
        return (status, msg) if with_status else msg
    finally:
        d.kill9()
        subprocess.run(["umount", mnt])
        shutil.rmtree(mnt, ignore_errors=True)


def test_disk_full_fails_writes_and_recovers():
    disk_full_scenario()


def test_disk_full_error_names_the_cause():
    """A full disk is 507 Insufficient Storage naming the cause (docs/api)."""
    status, msg = disk_full_scenario(with_status=True)
    assert status == 507, (status, msg)
    assert "no space left on device" in msg.lower(), msg
