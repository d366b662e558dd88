"""Bounded HTTP/1.1 load client for tests/e2e/test_load.py and bench/soak.sh:
`conns` keep-alive connections run at once on one asyncio loop, each sending
`per_conn` requests (reconnecting when the server closes), and every answer's
status, Retry-After and latency are recorded. wrk only counts non-2xx; this
keeps each status. Usage as a tool:
    python3 load_client.py URL [--conns N] [--per-conn K] [--method M] [--body JSON]
                               [--header 'Name: value'] [--seconds S]
"""
import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from urllib.parse import urlsplit


class Result:
    def __init__(self):
        self.status = Counter()       # status code -> count
        self.no_retry_after = Counter()  # 429/503 answers that lacked Retry-After
        self.errors = Counter()       # transport errors by kind (reset, eof, timeout)
        self.latencies = []           # seconds, answered requests only
        self.wall = 0.0

    @property
    def answered(self):
        return sum(self.status.values())

    def pct(self, q):
        if not self.latencies:
            return float("nan")
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(q * len(s)))]

    def summary(self):
        return ("%d answered in %.2f s (%.0f/s), statuses %s, errors %s, "
                "p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (
                    self.answered, self.wall, self.answered / max(self.wall, 1e-9),
                    dict(sorted(self.status.items())), dict(self.errors),
                    self.pct(0.5) * 1e3, self.pct(0.99) * 1e3,
                    (max(self.latencies) if self.latencies else float("nan")) * 1e3))


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(need, soft)), hard))


async def _read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    if "content-length" in hdrs:
        await reader.readexactly(int(hdrs["content-length"]))
    elif hdrs.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, hdrs


async def _worker(host, port, raw, per_conn, res, deadline, timeout):
    reader = writer = None
    done = 0
    while done < per_conn and time.monotonic() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, limit=1 << 20), timeout)
            t0 = time.monotonic()
            writer.write(raw)
            status, hdrs = await asyncio.wait_for(_read_response(reader), timeout)
            res.latencies.append(time.monotonic() - t0)
            res.status[status] += 1
            if status in (429, 503) and "retry-after" not in hdrs:
                res.no_retry_after[status] += 1
            if hdrs.get("connection", "").lower() == "close":
                writer.close()
                writer = None
        except asyncio.TimeoutError:
            res.errors["timeout"] += 1
            if writer:
                writer.close()
            writer = None
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as e:
            kind = "eof" if isinstance(e, asyncio.IncompleteReadError) else type(e).__name__
            res.errors[kind] += 1
            if writer:
                writer.close()
            writer = None
        done += 1
    if writer:
        writer.close()


def abort_storm(url, conns=1000, pipelined=20):
    """Clients that go away mid-answer: each connection pipelines `pipelined`
    requests and resets the connection (SO_LINGER 0) without reading, so the
    server writes into dead sockets (EPIPE/ECONNRESET; SIGPIPE if not ignored)."""
    import socket
    import struct
    u = urlsplit(url)
    raw = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (u.path or "/", u.netloc)).encode()
    raise_nofile(conns + 256)
    socks = []
    for _ in range(conns):
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        s.sendall(raw * pipelined)
        socks.append(s)
    time.sleep(0.05)
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def run(url, conns=100, per_conn=10, method="GET", body=None, headers=None, seconds=30.0,
        timeout=15.0):
    """Runs the load; returns a Result. Bounded by conns*per_conn requests and
    `seconds` of wall time (requests not yet sent then are skipped)."""
    u = urlsplit(url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    data = json.dumps(body).encode() if body is not None else b""
    h = {"Host": u.netloc, "Connection": "keep-alive"}
    if data:
        h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(data))
    h.update(headers or {})
    raw = ("%s %s HTTP/1.1\r\n" % (method, path) +
           "".join("%s: %s\r\n" % kv for kv in h.items()) + "\r\n").encode() + data
    raise_nofile(conns + 256)
    res = Result()

    async def main():
        deadline = time.monotonic() + seconds
        await asyncio.gather(*[_worker(u.hostname, u.port, raw, per_conn, res, deadline, timeout)
                               for _ in range(conns)])

    t0 = time.monotonic()
    asyncio.run(main())
    res.wall = time.monotonic() - t0
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--per-conn", type=int, default=10)
    ap.add_argument("--method", default="GET")
    ap.add_argument("--body")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--seconds", type=float, default=30.0)
    a = ap.parse_args()
    hd = dict(x.split(":", 1) for x in a.header)
    r = run(a.url, a.conns, a.per_conn, a.method, json.loads(a.body) if a.body else None,
            {k.strip(): v.strip() for k, v in hd.items()}, a.seconds)
    print(r.summary())
    sys.exit(1 if r.errors or r.no_retry_after else 0)
