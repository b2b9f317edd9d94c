# SPDX-License-Identifier: Apache-2.0
"""Start and stop real middlecon brokers for integration tests (cleanup by
PID), usable by the broker's and the client library's tests."""
import os
import resource
import select
import subprocess
import tempfile
import time
import json
import urllib.request

from conftest import binary, terminate


class Broker:
    """A middlecon process. .addr is (host, port) of the first plaintext TCP
    listener, .tls the "HOST:PORT" of its TLS listeners, .listen the list of
    printed addresses, .http the stats base URL."""

    def __init__(self, args=(), netns=None, nofile=None, timeout=10.0):
        argv = [binary("middlecon")] + list(args)
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.log = tempfile.NamedTemporaryFile(prefix="middlecon-", suffix=".log", delete=False)

        def pre():
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log,
                                  preexec_fn=pre)
        self.pid = self.p.pid
        self.killed = False
        self.listen = []
        self.http = None
        deadline = time.monotonic() + timeout
        want = sum(1 for a in args if a == "--listen") or 1
        buf = b""
        try:
            while len(self.listen) < want or ("--http" in args and self.http is None):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("middlecon did not report its listeners")
                r, _, _ = select.select([self.p.stdout], [], [], left)
                if not r:
                    continue
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError("middlecon exited: " + self.stderr())
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.decode()
                    if line.startswith("middlecon: listening on "):
                        self.listen.append(line.split("listening on ", 1)[1])
                    elif line.startswith("middlecon: stats on "):
                        self.http = line.split("stats on ", 1)[1].rsplit("/stats", 1)[0]
        except BaseException:
            self.stop()
            raise
        self.addr = None
        # TLS listeners print as tls://HOST:PORT; .tls lists them without the scheme.
        self.tls = [a[len("tls://"):] for a in self.listen if a.startswith("tls://")]
        for a in self.listen:
            if not a.startswith("unix:") and not a.startswith("tls://"):
                host, port = a.rsplit(":", 1)
                self.addr = (host.strip("[]"), int(port))
                break

    def stderr(self):
        try:
            with open(self.log.name) as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.p.poll() is None

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def get(self, path):
        with urllib.request.urlopen(self.http + path, timeout=5) as r:
            body = r.read().decode()
            return json.loads(body) if path == "/stats" else body

    def stop(self, timeout=10.0):
        """SIGTERM, wait; SIGKILL if it hangs. Returns the exit code."""
        terminate(self.p, timeout)
        if self.p.stdout:
            self.p.stdout.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass
        return self.p.returncode

    def kill(self):
        self.killed = True
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def stop_all(brokers):
    """Stop every broker, last started first; each must exit 0 on SIGTERM
    (a clean shutdown is part of every test) unless the test killed it."""
    codes = [(b.listen, b.stop(), b.killed) for b in reversed(brokers)]
    assert all(rc == 0 or killed for _, rc, killed in codes), codes


def wait_until(cond, timeout=10.0, what="condition"):
    """Poll cond() until it is true; TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        time.sleep(0.05)
