# SPDX-License-Identifier: Apache-2.0
"""kumo ps against agents that misbehave: answers from a k2i are untrusted.

Fake agents (threads in this test process, on loopback) send bad JSON, the
wrong shape, an endless body, a body that stalls, HTTP errors, redirects,
and terminal escape sequences in process names. kumo must keep the good
host's rows, name every bad host on stderr with the reason, exit 2, finish
in bounded time, and never pass control characters to the terminal.
"""
import http.server
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import binary

GOOD = {"host": "good", "count": 2, "processes": [
    {"pid": 10, "user": "root", "uid": 0, "comm": "init", "cmdline": ["/sbin/init"],
     "state": "S", "cpu": 0.5, "rss": 100},
    {"pid": 666, "user": "mallory", "uid": 1666, "comm": "x\x1b]0;pwned\x07",
     "cmdline": ["\x1b[2J\x1b[H", "--opt\r\nInjected: 1", "\u009b31m"], "state": "R",
     "cpu": 1.0, "rss": 200},
]}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_body(self, code, body, ctype="application/json"):
        b = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        mode = self.server.mode
        if mode == "good":
            self.send_body(200, json.dumps(GOOD))
        elif mode == "badjson":
            self.send_body(200, '{"processes": [ {"pid": 1,, }')
        elif mode == "shape":
            self.send_body(200, '{"processes": 5}')
        elif mode == "notobjects":
            self.send_body(200, '{"processes": [1, "two", null]}')
        elif mode == "http500":
            self.send_body(500, '{"error":{"code":500,"message":"boom\\u001b[31m"}}')
        elif mode == "redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/steal")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode == "huge":
            # Claims nothing about its length and never ends by itself.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b'{"processes":[' + b" " * (1 << 20)
            try:
                for _ in range(80):  # 80 MiB > the 64 MiB cap
                    self.wfile.write(chunk)
                    chunk = b" " * (1 << 20)
            except OSError:
                pass
        elif mode == "stall":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"processes":[')
            self.wfile.flush()
            self.server.release.wait(10)


def serve(mode, release):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.mode = mode
    srv.release = release
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    return srv


@pytest.fixture
def fakes():
    release = threading.Event()
    servers = {}
    try:
        for mode in ("good", "badjson", "shape", "notobjects", "http500", "redirect", "huge",
                     "stall"):
            servers[mode] = serve(mode, release)
        yield {m: f"127.0.0.1:{s.server_address[1]}" for m, s in servers.items()}
    finally:
        release.set()
        for s in servers.values():
            s.shutdown()
            s.server_close()


def test_misbehaving_agents(fakes):
    order = ["good", "badjson", "shape", "notobjects", "http500", "redirect", "stall"]
    t0 = time.monotonic()
    r = subprocess.run([binary("kumo"), "ps", "-H", ",".join(fakes[m] for m in order),
                        "--timeout", "3", "-o", "pid,user,comm,args"],
                       capture_output=True, timeout=30)
    wall = time.monotonic() - t0
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 2, err
    assert wall < 3 + 3, wall

    # The good host's rows, and nothing that a terminal would interpret.
    lines = out.splitlines()
    assert len(lines) == 3
    assert all(l.startswith(fakes["good"]) for l in lines[1:])
    for c in out:
        assert c == "\n" or (ord(c) >= 0x20 and ord(c) != 0x7f and not 0x80 <= ord(c) < 0xa0), \
            repr(c)
    assert "mallory" in out and "pwned" in out

    errs = {l.split(": ", 2)[1][len("host "):]: l.split(": ", 2)[2] for l in err.splitlines()}
    assert len(err.splitlines()) == 6, err
    name = {v: k for k, v in fakes.items()}
    got = {name[h]: msg for h, msg in errs.items()}
    assert got["badjson"].startswith("bad JSON from agent")
    assert "no \"processes\" array" in got["shape"]
    assert "not an object" in got["notobjects"]
    assert got["http500"].startswith("HTTP 500: boom")
    assert "\x1b" not in err
    assert got["redirect"] == "HTTP 302"
    assert got["stall"] == "no answer within 3.0 s"


def test_oversized_answer_is_cut(fakes):
    """An endless body stops at the 64 MiB cap (a timeout generous enough
    for a slow sanitizer build to receive that much)."""
    r = subprocess.run([binary("kumo"), "ps", "-H", f"{fakes['good']},{fakes['huge']}",
                        "--timeout", "60", "-o", "pid"], capture_output=True, timeout=90)
    assert r.returncode == 2
    assert r.stderr.decode() == \
        f"kumo ps: host {fakes['huge']}: response larger than 67108864 bytes\n"
    assert len(r.stdout.splitlines()) == 3


def test_json_output_escapes_control_characters(fakes):
    r = subprocess.run([binary("kumo"), "ps", "-H", fakes["good"], "--json", "--timeout", "15"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0
    assert b"\x1b" not in r.stdout and b"\r" not in r.stdout
    arr = json.loads(r.stdout)
    assert arr[1]["comm"] == GOOD["processes"][1]["comm"]
    assert arr[1]["host"] == fakes["good"]


def test_a_thousand_hosts(fakes):
    """One answering agent among 1,000 addresses with nothing listening:
    every dead host gets its own line, the good one its rows, in bounded time."""
    dead = [f"127.0.{i // 250 + 1}.{i % 250 + 1}:9" for i in range(999)]
    t0 = time.monotonic()
    r = subprocess.run([binary("kumo"), "ps", "-H", ",".join([fakes["good"]] + dead),
                        "--timeout", "10", "-o", "pid"], capture_output=True, text=True,
                       timeout=60)
    wall = time.monotonic() - t0
    assert r.returncode == 2
    err = r.stderr.splitlines()
    assert len(err) == 999
    assert all(l.endswith(": connection refused") for l in err), err[:3]
    assert {l.split()[3].rstrip(":") for l in err} == set(dead)
    assert len(r.stdout.splitlines()) == 3
    assert wall < 10, wall
