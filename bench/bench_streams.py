#!/usr/bin/python3
"""Aggregate decode throughput through the HTTP runtime (issue 9): starts
`endpointd runtime --model DIR --port P --threads N --dtype D`, then for each level S
sends S concurrent POST /generate_stream requests (greedy, max_new_tokens M, a
different prompt per stream) and notes when each token event arrives. Two rates per
level:
  aggregate_tps  all generated tokens / wall time of the level (prompts included:
                 S streams prefill S prompts);
  decode_tps     tokens that arrive while all S streams are decoding (after the last
                 stream's first token, before the first stream's last token) / that
                 window: the steady-state decode rate of S concurrent streams.
The levels run in rounds (1,2,4,8, 1,2,4,8, ...) so that each level's ratio to one
stream can be taken within a round: this machine's memory bandwidth, which bounds a
single stream, drifts by tens of percent between minutes. One warm-up request first.
Prints one JSON line per level and round.

usage: bench/bench_streams.py --bin build/endpointd --model DIR [--threads 1] [--dtype f32]
                              [--streams 1,2,4,8] [--tokens 64] [--rounds 1] [--label L]
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import threading
import time

PROMPTS = ["Once upon a time", "The little dog", "Lily and Ben went", "One day a girl",
           "There was a big tree", "Tom liked to play", "The sun was hot", "A cat sat on"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(port, body, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", "/generate", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status != 200:
        raise RuntimeError("generate: HTTP %d %s" % (r.status, data[:200]))
    return json.loads(data)


def stream(port, body, timeout=600):
    """POST /generate_stream; returns the arrival time of each token event."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", "/generate_stream", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError("generate_stream: HTTP %d %s" % (r.status, r.read()[:200]))
    times = []
    for line in r:  # one "data: {...}" line per token, blank lines between
        if line.startswith(b"data:"):
            times.append(time.perf_counter())
            if b'"error"' in line:  # parsed only then: the client shares the 2 cores with the server
                ev = json.loads(line[5:])
                if "error" in ev:
                    raise RuntimeError("generate_stream: " + str(ev["error"]))
    c.close()
    return times


def wait_health(port, proc, limit=120):
    t_end = time.time() + limit
    while time.time() < t_end:
        if proc.poll() is not None:
            raise SystemExit("bench_streams: runtime exited with %d" % proc.returncode)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("bench_streams: runtime not healthy after %d s" % limit)


def run_level(port, streams, tokens):
    out = [None] * streams
    errs = []

    def one(i):
        try:
            body = {"inputs": PROMPTS[i % len(PROMPTS)] + (" %d" % i if i >= len(PROMPTS) else ""),
                    "parameters": {"max_new_tokens": tokens, "do_sample": False}}
            out[i] = stream(port, body)
        except Exception as e:  # noqa: BLE001 - reported below
            errs.append(str(e))
    ts = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    if errs:
        raise SystemExit("bench_streams: " + errs[0])
    if any(len(t) < 2 for t in out):
        raise SystemExit("bench_streams: a stream returned fewer than 2 tokens")
    # all streams decoding: from the last first token to the first last token
    w0, w1 = max(t[0] for t in out), min(t[-1] for t in out)
    n_win = sum(1 for t in out for x in t if w0 < x <= w1)
    decode = n_win / (w1 - w0) if w1 > w0 and n_win else None
    return sum(len(t) for t in out), wall, decode, n_win


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="f32")
    ap.add_argument("--streams", default="1,2,4,8")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    port = free_port()
    levels = [int(x) for x in a.streams.split(",")]
    cmd = [a.bin, "runtime", "--model", a.model, "--port", str(port), "--threads", str(a.threads),
           "--dtype", a.dtype, "--max-batch-size", str(max(levels)), "--log-level", "error"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_health(port, proc)
        post(port, {"inputs": "Hello", "parameters": {"max_new_tokens": 4}})
        for rnd in range(a.rounds):
            for s in levels:
                n, wall, decode, n_win = run_level(port, s, a.tokens)
                print(json.dumps({"engine": "endpointd-http", "label": a.label, "dtype": a.dtype,
                                  "threads": a.threads, "streams": s, "round": rnd, "generated": n,
                                  "wall_s": round(wall, 4), "aggregate_tps": round(n / wall, 3),
                                  "decode_tokens": n_win,
                                  "decode_tps": round(decode, 3) if decode else None}), flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
