#!/usr/bin/env python3
"""List latency benchmark: creates 1,000 endpoints through the API of a real
daemon, then times GET /v2/endpoint/{ns} (p50/p99 over 50 calls) and, as the
peer in the same run, GET /health (the HTTP floor). Target: list p99 < 10 ms.

usage: bench/bench_list.py [path/to/endpointd] [N]"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from conftest import Daemon, create_body  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def timed(d, path, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = d.get(path)
        out.append((time.perf_counter() - t) * 1000.0)
        assert r.status_code == 200
    return out


def main():
    if len(sys.argv) > 1:
        os.environ["ENDPOINTD_BIN"] = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    d = Daemon(args=["--log-level", "info"]).start()  # access log gives server-side time
    try:
        t0 = time.perf_counter()
        for i in range(n):
            r = d.post("/v2/endpoint/admin", json=create_body("bench-%04d" % i))
            assert r.status_code == 201, r.text
        create_s = time.perf_counter() - t0
        items = d.get("/v2/endpoint/admin").json()["items"]
        assert len(items) == n
        timed(d, "/v2/endpoint/admin", 5)  # warm-up
        lst = timed(d, "/v2/endpoint/admin", 50)
        health = timed(d, "/health", 50)
        print("endpoints: %d  create: %.2f ms/endpoint" % (n, create_s * 1000.0 / n))
        print("list  p50 %.2f ms  p99 %.2f ms  (%d KiB)" %
              (pct(lst, 50), pct(lst, 99), len(d.get("/v2/endpoint/admin").content) // 1024))
        log = open(os.path.join(d.home, "daemon.stderr")).read().splitlines()
        srv = [int(m.group(1)) / 1000.0 for m in
               (re.search(r'path="/v2/endpoint/admin" status=200 .*dur_us=(\d+)', l) for l in log) if m][-50:]
        print("list server-side p50 %.2f ms  p99 %.2f ms" % (pct(srv, 50), pct(srv, 99)))
        print("health p50 %.3f ms  p99 %.3f ms" % (pct(health, 50), pct(health, 99)))
        print("ratio list/health p50: %.1fx  target list p99 (server) < 10 ms: %s" %
              (pct(lst, 50) / pct(health, 50), "PASS" if pct(srv, 99) < 10 else "MISS"))
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
