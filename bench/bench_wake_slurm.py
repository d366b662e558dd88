#!/usr/bin/env python3
"""Wake-from-zero time to first byte on a Slurm pool next to the local pool,
in one daemon run: starts a throwaway single-node Slurm cluster
(tests/e2e/fixtures/slurm_cluster.py, as root), configures a `slurm` pool
"hpc" (poll_ms 200), and for each replica kind (real `endpointd runtime` on
models/stories260K, Python stand-in tests/e2e/fixtures/replica.py) and each
pool scales the endpoint to zero, waits until the old replica is gone (for
Slurm: no job left in squeue), sends one GET .../health through the gateway
and times its first response byte. The Slurm figure includes sbatch, the
controller's scheduling pass, job launch and the first passing probe.

usage: bench/bench_wake_slurm.py [--bin build/endpointd] [--reps 7]
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e", "fixtures"))
from bench_gateway import ROOT, call, pct, start_daemon  # noqa: E402
from bench_wake import wait_state  # noqa: E402
from slurm_cluster import Cluster, missing_tools  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "endpointd"))
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    if os.geteuid() != 0 or missing_tools():
        raise SystemExit("needs root and slurm-wlm + munge (missing %s)" % missing_tools())
    cl = Cluster(nodes=1).start()
    d = None
    try:
        cfg = cl.path("endpointd.json")
        json.dump({"pools": [{"name": "hpc", "type": "slurm", "partition": "main",
                              "shared_dir": cl.path("shared"), "poll_ms": 200,
                              "sizes": {"x1": {"cpus": 1, "mem": "300M"}}}]}, open(cfg, "w"))
        os.environ.update({"SLURM_CONF": cl.env["SLURM_CONF"], "ENDPOINTD_CONFIG": cfg,
                           "ENDPOINTD_STOP_GRACE_MS": "2000"})
        d, port = start_daemon(a.bin, tempfile.mkdtemp(prefix="epd-wake-slurm-"))
        model = os.path.join(ROOT, "models", "stories260K")
        stand_in = "cmd:%s %s --port {port}" % (
            sys.executable, os.path.join(ROOT, "tests/e2e/fixtures/replica.py"))
        kinds = {
            "runtime-stories260K": {"repository": model, "task": "text-generation",
                                    "framework": "pytorch", "image": {"huggingface": {}}},
            "python-stand-in": {"repository": model, "task": "custom", "framework": "custom",
                                "image": {"custom": {"url": stand_in, "healthRoute": "/health"}}},
        }
        api = http.client.HTTPConnection("127.0.0.1", port)
        results = {}
        i = 0
        for label, m in kinds.items():
            for region in ("local", "hpc"):
                name = "w%d" % i
                i += 1
                st, txt = call(api, "POST", "/v2/endpoint/admin", {
                    "name": name, "type": "public",
                    "provider": {"vendor": "local", "region": region},
                    "compute": {"accelerator": "cpu", "instanceSize": "x1", "instanceType": "cpu",
                                "scaling": {"minReplica": 0, "maxReplica": 1}},
                    "model": m})
                assert st in (200, 201, 202), txt
                wait_state(api, name, "running")
                times = []
                for _ in range(a.reps):
                    call(api, "POST", "/v2/endpoint/admin/%s/scale-to-zero" % name)
                    wait_state(api, name, "scaledToZero")
                    end = time.time() + 20
                    while region == "hpc" and cl.running("endpointd-admin-%s-" % name):
                        assert time.time() < end, "job did not end"
                        time.sleep(0.05)
                    time.sleep(0.3)  # let the old replica exit
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    t0 = time.perf_counter()
                    c.request("GET", "/endpoints/admin/%s/health" % name)
                    r = c.getresponse()
                    r.read(1)
                    times.append((time.perf_counter() - t0) * 1000.0)
                    assert r.status == 200, r.status
                    c.close()
                call(api, "DELETE", "/v2/endpoint/admin/" + name)
                results["%s on %s" % (label, region)] = times
        for label, t in results.items():
            print("%-34s wake TTFB median %5.0f ms  p90 %5.0f ms  min %5.0f  max %5.0f  (n=%d)" %
                  (label, statistics.median(t), pct(t, 0.9), min(t), max(t), len(t)))
    finally:
        if d:
            d.send_signal(signal.SIGTERM)
            d.wait(20)
        cl.stop()


if __name__ == "__main__":
    sys.exit(main())
