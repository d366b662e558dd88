#!/usr/bin/env python3
"""Wake-from-zero time to first byte: an endpoint is scaled to zero, then one
request is sent through the gateway and held while a replica starts; we time
until the first response byte. Two replicas compared in the same run: the
real `endpointd runtime` on models/stories260K and the Python stand-in
(tests/e2e/fixtures/replica.py) as the peer. Median of --reps wakes each.

usage: bench/bench_wake.py [--bin build/endpointd] [--reps 5]
"""
import argparse
import http.client
import json
import os
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gateway import ROOT, call, start_daemon  # noqa: E402


def wait_state(api, name, want, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        st, txt = call(api, "GET", "/v2/endpoint/admin/" + name)
        if json.loads(txt)["status"]["state"] == want:
            return
        time.sleep(0.05)
    raise SystemExit("%s never reached %s" % (name, want))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "endpointd"))
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    home = tempfile.mkdtemp(prefix="epd-wake-")
    d, port = start_daemon(a.bin, home)
    model = os.path.join(ROOT, "models", "stories260K")
    stand_in = "cmd:%s %s --port {port}" % (sys.executable,
                                             os.path.join(ROOT, "tests/e2e/fixtures/replica.py"))
    cases = {
        "runtime-stories260K": {"repository": model, "task": "text-generation",
                                "framework": "pytorch", "image": {"huggingface": {}}},
        "python-stand-in": {"repository": model, "task": "custom", "framework": "custom",
                            "image": {"custom": {"url": stand_in, "healthRoute": "/health"}}},
    }
    try:
        api = http.client.HTTPConnection("127.0.0.1", port)
        results = {}
        for i, (label, m) in enumerate(cases.items()):
            name = "w%d" % i
            st, txt = call(api, "POST", "/v2/endpoint/admin", {
                "name": name, "type": "public",
                "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                            "scaling": {"minReplica": 0, "maxReplica": 1}},
                "model": m})
            assert st in (200, 201), txt
            wait_state(api, name, "running")
            times = []
            for _ in range(a.reps):
                call(api, "POST", "/v2/endpoint/admin/%s/scale-to-zero" % name)
                wait_state(api, name, "scaledToZero")
                time.sleep(0.3)  # let the old replica exit
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                t0 = time.perf_counter()
                c.request("GET", "/endpoints/admin/%s/health" % name)
                r = c.getresponse()
                r.read(1)
                times.append((time.perf_counter() - t0) * 1000.0)
                assert r.status == 200, r.status
                c.close()
            results[label] = times
        for label, times in results.items():
            print("%-22s wake TTFB median %.0f ms  min %.0f ms  max %.0f ms  (n=%d)" %
                  (label, statistics.median(times), min(times), max(times), len(times)))
        r0, r1 = (statistics.median(t) for t in results.values())
        print("ratio runtime/stand-in: %.2f" % (r0 / r1))
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(20)


if __name__ == "__main__":
    sys.exit(main())
