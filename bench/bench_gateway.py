#!/usr/bin/env python3
"""Gateway added latency: the same GET /health answered by a real
`endpointd runtime` replica (stories260K), once directly and once through the
daemon's gateway (/endpoints/admin/b/health), interleaved on two keep-alive
connections in one run. Prints p50/p99 of both and the difference (the
gateway's cost: auth by type, lookup, balance, proxy over a pooled upstream
connection). Targets: p50 < 30 us, p99 < 200 us added.

usage: bench/bench_gateway.py [--bin build/endpointd] [-n 5000]
"""
import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TOKEN = "epd_bench_admin_token_0123456789"


def start_daemon(binary, home):
    env = dict(os.environ, ENDPOINTD_ADMIN_TOKEN=TOKEN)
    p = subprocess.Popen([binary, "serve", "--port", "0", "--home", home, "--log-level", "error"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    for line in p.stdout:
        if line.startswith("endpointd listening on"):
            return p, int(line.rsplit(":", 1)[1])
    raise SystemExit("daemon did not start")


def call(conn, method, path, body=None, headers=None):
    h = {"Authorization": "Bearer " + TOKEN}
    h.update(headers or {})
    data = json.dumps(body).encode() if body is not None else None
    if data:
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    return r.status, r.read()


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "endpointd"))
    ap.add_argument("-n", type=int, default=5000)
    a = ap.parse_args()
    home = tempfile.mkdtemp(prefix="epd-bench-")
    portfile = os.path.join(home, "replica.port")
    d, port = start_daemon(a.bin, home)
    try:
        api = http.client.HTTPConnection("127.0.0.1", port)
        model = os.path.join(ROOT, "models", "stories260K")
        cmd = ("cmd:sh -c 'echo {port} > %s; exec %s runtime --model %s --port {port} "
               "--threads 1 --log-level error'" % (portfile, a.bin, model))
        st, txt = call(api, "POST", "/v2/endpoint/admin", {
            "name": "b", "type": "public",
            "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                        "scaling": {"minReplica": 1, "maxReplica": 1}},
            "model": {"repository": model, "task": "text-generation", "framework": "custom",
                      "image": {"custom": {"url": cmd, "healthRoute": "/health"}}}})
        assert st in (200, 201), txt
        end = time.time() + 60
        while time.time() < end:
            st, txt = call(api, "GET", "/v2/endpoint/admin/b")
            if json.loads(txt)["status"]["state"] == "running":
                break
            time.sleep(0.1)
        rport = int(open(portfile).read())
        direct = http.client.HTTPConnection("127.0.0.1", rport)
        gw = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(300):  # warm up both paths
            call(direct, "GET", "/health")
            call(gw, "GET", "/endpoints/admin/b/health")
        td, tg = [], []
        for i in range(a.n):
            for conn, path, out in ((direct, "/health", td), (gw, "/endpoints/admin/b/health", tg)):
                t0 = time.perf_counter_ns()
                st, _ = call(conn, "GET", path)
                out.append((time.perf_counter_ns() - t0) / 1000.0)
                assert st == 200
        d50, d99, g50, g99 = pct(td, .5), pct(td, .99), pct(tg, .5), pct(tg, .99)
        print("requests per path: %d (interleaved, keep-alive, GET /health)" % a.n)
        print("direct  p50 %.1f us  p99 %.1f us" % (d50, d99))
        print("gateway p50 %.1f us  p99 %.1f us" % (g50, g99))
        print("added   p50 %.1f us  p99 %.1f us  (ratio gateway/direct p50 %.2f)" %
              (g50 - d50, g99 - d99, g50 / d50))
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(20)


if __name__ == "__main__":
    sys.exit(main())
