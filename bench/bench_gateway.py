#!/usr/bin/env python3
"""Gateway added latency: the same GET /health answered by a real
`endpointd runtime` replica (stories260K), once directly (TCP) and once
through the daemon's gateway (/endpoints/admin/b/health), interleaved on
keep-alive connections in one run. The gateway reaches that replica over its
Unix-domain socket ({unix}), as it does for every local runtime replica. A
second endpoint `t` whose replica has no socket (TCP hop, as for custom
commands) is timed in the same loop as the before/after reference. Prints
p50/p99 of each and the differences (the gateway's cost: auth by type,
lookup, balance, proxy over a pooled upstream connection). Targets: p50 < 30
us, p99 < 200 us added.

usage: bench/bench_gateway.py [--bin build/endpointd] [-n 5000] [--no-tcp]
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
    ap.add_argument("--no-tcp", action="store_true",
                    help="skip the reference endpoint reached over TCP")
    a = ap.parse_args()
    home = tempfile.mkdtemp(prefix="epd-bench-")
    d, port = start_daemon(a.bin, home)
    try:
        api = http.client.HTTPConnection("127.0.0.1", port)
        model = os.path.join(ROOT, "models", "stories260K")
        names = ["b"] if a.no_tcp else ["b", "t"]
        for name in names:
            portfile = os.path.join(home, name + ".port")
            unix = "--unix {unix}" if name == "b" else ""
            cmd = ("cmd:sh -c 'echo {port} > %s; exec %s runtime --model %s --port {port} %s "
                   "--threads 1 --log-level error'" % (portfile, a.bin, model, unix))
            st, txt = call(api, "POST", "/v2/endpoint/admin", {
                "name": name, "type": "public",
                "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                            "scaling": {"minReplica": 1, "maxReplica": 1}},
                "model": {"repository": model, "task": "text-generation", "framework": "custom",
                          "image": {"custom": {"url": cmd, "healthRoute": "/health"}}}})
            assert st in (200, 201), txt
        for name in names:
            end = time.time() + 60
            while time.time() < end:
                st, txt = call(api, "GET", "/v2/endpoint/admin/" + name)
                if json.loads(txt)["status"]["state"] == "running":
                    break
                time.sleep(0.1)
        socks = [f for f in os.listdir(os.path.join(home, "run")) if f.endswith(".sock")]
        assert len(socks) == 1 and socks[0].startswith("b."), socks
        rport = int(open(os.path.join(home, "b.port")).read())
        paths = [(http.client.HTTPConnection("127.0.0.1", rport), "/health"),
                 (http.client.HTTPConnection("127.0.0.1", port), "/endpoints/admin/b/health")]
        if not a.no_tcp:
            paths.append((http.client.HTTPConnection("127.0.0.1", port),
                          "/endpoints/admin/t/health"))
        for _ in range(300):  # warm up every path
            for conn, path in paths:
                call(conn, "GET", path)
        times = [[] for _ in paths]
        for i in range(a.n):
            for (conn, path), out in zip(paths, times):
                t0 = time.perf_counter_ns()
                st, _ = call(conn, "GET", path)
                out.append((time.perf_counter_ns() - t0) / 1000.0)
                assert st == 200
        print("requests per path: %d (interleaved, keep-alive, GET /health)" % a.n)
        # the first three lines keep the format bench/report.py parses
        d50, d99 = pct(times[0], .5), pct(times[0], .99)
        print("direct  p50 %.1f us  p99 %.1f us" % (d50, d99))
        for tag, ts in zip(("", "-tcp"), times[1:]):
            g50, g99 = pct(ts, .5), pct(ts, .99)
            print("gateway%s p50 %.1f us  p99 %.1f us  (%s)" %
                  (tag or " ", g50, g99, "Unix hop" if not tag else "TCP hop, reference"))
            print("added%s   p50 %.1f us  p99 %.1f us  (ratio gateway/direct p50 %.2f)" %
                  (tag, g50 - d50, g99 - d99, g50 / d50))
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(20)


if __name__ == "__main__":
    sys.exit(main())
