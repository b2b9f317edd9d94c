# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures for kumo's integration tests.

Tests start real binaries from $KUMO_BUILD (default: <repo>/build), talk to
them over loopback or network-namespace addresses, and clean up what they
started (by PID) even when they fail.
"""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KUMO_BUILD", os.path.join(REPO, "build"))


def binary(name):
    """Path of a built binary (k2i, kumo, middlecon, kumo-runtime, kumod)."""
    for sub in ("src/k2i", "src/cli", "src/middlecon", "src/runtime", "src/kumod", ""):
        p = os.path.join(BUILD, sub, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise FileNotFoundError(f"binary '{name}' not found under {BUILD}; run 'make build'")


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10.0):
    """Wait until host:port accepts connections (namespace hosts are reachable
    from the root namespace through the test bridge)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"{host}:{port} did not accept connections within {timeout}s")


def terminate(p, timeout=10.0):
    """Stop a subprocess.Popen we started: SIGTERM, wait, SIGKILL if it hangs.
    Returns its exit status (negative for a signal, as Popen reports it)."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


class Proc:
    """A started daemon; stopped with SIGTERM (then SIGKILL) by PID."""

    def __init__(self, argv, **kw):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, **kw)
        self.pid = self.p.pid

    def stop(self, timeout=10.0):
        return terminate(self.p, timeout)

    def output(self):
        out, err = self.p.communicate(timeout=10)
        return out, err


@pytest.fixture
def procs():
    """Collects Proc objects; all are stopped at teardown."""
    started = []

    def start(argv, **kw):
        pr = Proc(argv, **kw)
        started.append(pr)
        return pr

    yield start
    for pr in reversed(started):
        pr.stop()


class NetnsHosts:
    """Network namespaces as 'hosts': kumo-t<N>-<i> joined by veth to a bridge
    in the root namespace, addresses 10.231.N.i/24 on a private test subnet that
    exists only on this machine."""

    def __init__(self, tag):
        self.tag = tag
        self.names = []
        self.bridge = f"kbr{tag}"
        self.subnet = 200 + (tag % 50)
        self.veths = []
        # A crashed earlier run with the same tag may have left these behind.
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"10.231.{self.subnet}.254/24", "dev", self.bridge],
                       check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)

    def add(self):
        i = len(self.names) + 1
        name = f"kumo-t{self.tag}-{i}"
        veth = f"kv{self.tag}x{i}"
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.names.append(name)
        subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0",
                        "netns", name], check=True)
        self.veths.append(veth)
        subprocess.run(["ip", "link", "set", veth, "master", self.bridge, "up"], check=True)
        ex = ["ip", "netns", "exec", name]
        subprocess.run(ex + ["ip", "addr", "add", f"10.231.{self.subnet}.{i}/24", "dev", "eth0"],
                       check=True)
        subprocess.run(ex + ["ip", "link", "set", "eth0", "up"], check=True)
        subprocess.run(ex + ["ip", "link", "set", "lo", "up"], check=True)
        return name, f"10.231.{self.subnet}.{i}"

    def cleanup(self):
        # Deleting our end removes the pair now, even while a socket still
        # pins the namespace (the kernel frees a netns only when the last
        # reference, e.g. a closing TCP socket, goes away).
        for veth in self.veths:
            subprocess.run(["ip", "link", "del", veth], capture_output=True)
        for name in self.names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


@pytest.fixture
def netns_hosts():
    """Factory of namespace hosts; everything is deleted at teardown."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2")
    tag = os.getpid() % 1000
    hosts = NetnsHosts(tag)
    try:
        yield hosts
    finally:
        hosts.cleanup()


@pytest.fixture
def rt(tmp_path):
    """A kumo-runtime with its own --root; deletes every container it made, also on failure."""
    from rtutil import Runtime  # rtutil imports this module
    r = Runtime(tmp_path / "root")
    try:
        yield r
    finally:
        r.cleanup()
