"""A scripted fake of the Inference Endpoints API and a TGI/TEI data plane,
used by test_client_wire.py to pin what the endpointd CLI / libendpoint send
and how they read answers (shapes from shared/API.md, not from our server).
Every request is recorded; answers come from per-test handler functions."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Fake:
    def __init__(self):
        self.requests = []  # (method, path, headers dict lower-case, body bytes)
        self.routes = {}    # (method, path) -> fn(fake, req) -> (status, headers, body|iterable)
        self.lock = threading.Lock()
        handler = self._make_handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def route(self, method, path, fn=None, status=200, body=None, headers=None):
        if fn is None:
            def fn(_f, _r, status=status, body=body, headers=headers):
                return status, headers or {}, body
        self.routes[(method, path)] = fn

    def find(self, method, path):
        return [r for r in self.requests if r[0] == method and r[1] == path]

    def _make_handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = (self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with fake.lock:
                    fake.requests.append(req)
                fn = fake.routes.get((self.command, self.path))
                if fn is None:
                    status, headers, out = 404, {}, {"error": "no route %s %s" % (self.command, self.path)}
                else:
                    status, headers, out = fn(fake, req)
                if isinstance(out, (dict, list)):
                    data = json.dumps(out).encode()
                    headers = dict(headers)
                    headers.setdefault("Content-Type", "application/json")
                    if status >= 400 and isinstance(out, dict) and isinstance(out.get("error"), str):
                        headers.setdefault("X-Error-Message", out["error"])
                elif isinstance(out, (bytes, str)) or out is None:
                    data = out.encode() if isinstance(out, str) else (out or b"")
                else:  # iterable of chunks: stream with chunked encoding
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in out:
                        c = chunk.encode() if isinstance(chunk, str) else chunk
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        return H


def endpoint_json(name, state="running", url=None, task="text-generation", repo="gpt2",
                  error=None):
    """An Endpoint object exactly like API.md §1.1's example."""
    st = {
        "createdAt": "2023-10-26T12:41:53.263Z",
        "createdBy": {"id": "1", "name": "alice"},
        "updatedAt": "2023-10-26T12:45:00.000Z",
        "updatedBy": {"id": "1", "name": "alice"},
        "private": None,
        "state": state,
        "message": "Endpoint is ready" if state == "running" else "waiting",
        "url": url,
        "readyReplica": 1 if state == "running" else 0,
        "targetReplica": 1,
    }
    if error:
        st["errorMessage"] = error
    return {
        "name": name,
        "type": "protected",
        "accountId": None,
        "provider": {"vendor": "local", "region": "local"},
        "healthRoute": "/health",
        "compute": {"accelerator": "cpu", "instanceType": "cpu", "instanceSize": "x1",
                    "scaling": {"minReplica": 0, "maxReplica": 2, "scaleToZeroTimeout": 15}},
        "model": {"repository": repo, "revision": None, "task": task, "framework": "pytorch",
                  "image": {"huggingface": {}}, "env": {}},
        "status": st,
    }


WHOAMI = {
    "type": "user", "id": "1", "name": "alice", "fullname": "Alice",
    "orgs": [{"type": "org", "name": "acme"}, {"type": "org", "name": "secret-org"}],
    "auth": {"type": "access_token",
             "accessToken": {"displayName": "cli", "role": "write",
                             "createdAt": "2024-01-01T00:00:00.000Z"}},
}


def sse(events, sep="data: ", delay=0.0):
    """Yield SSE chunks; events are dicts or raw strings."""
    for ev in events:
        payload = ev if isinstance(ev, str) else json.dumps(ev)
        yield "%s%s\n\n" % (sep, payload)
        if delay:
            time.sleep(delay)
