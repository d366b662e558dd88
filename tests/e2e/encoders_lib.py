"""Helpers for the encoder e2e tests: start `endpointd runtime --task ...` on a
free loopback port against the tiny encoder repositories, wait for /health,
stop it afterwards."""
import os
import re
import subprocess
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("EP_TESTDATA") or os.path.join(HERE, "..", "data")


def endpointd_bin():
    b = os.environ.get("ENDPOINTD_BIN") or os.path.join(HERE, "..", "..", "build", "endpointd")
    assert os.path.exists(b), "endpointd binary not found (set ENDPOINTD_BIN): %s" % b
    return b


class Runtime:
    def __init__(self, model, task, args=()):
        self.cmd = [endpointd_bin(), "runtime", "--model", model, "--task", task, "--port", "0",
                    "--threads", "2", *args]
        self.proc = None
        self.url = None

    def start(self, wait_ready=True):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://\S+)", line)
        assert m, "no listening line: %r" % line
        self.url = m.group(1)
        if wait_ready:
            deadline = time.time() + 90  # generous: ASan builds on a busy 2-core machine
            while time.time() < deadline:
                try:
                    if requests.get(self.url + "/health", timeout=2).status_code == 200:
                        return self
                except requests.ConnectionError:
                    pass
                assert self.proc.poll() is None, "runtime exited: %s" % self.proc.stderr.read()
                time.sleep(0.05)
            raise AssertionError("runtime not ready")
        return self

    def post(self, path, body=None, raw=None):
        if raw is not None:
            return requests.post(self.url + path, data=raw, headers={"Content-Type": "application/json"},
                                 timeout=30)
        return requests.post(self.url + path, json=body, timeout=30)

    def get(self, path):
        return requests.get(self.url + path, timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None
