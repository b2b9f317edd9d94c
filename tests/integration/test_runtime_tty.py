# SPDX-License-Identifier: Apache-2.0
"""kumo-runtime as the console: a foreground `run` or `exec` whose process has
a terminal and no --console-socket gets a pty proxied by the CLI (runc's
behaviour): the process sees a tty, input and output pass through, the exit
status propagates, the window size follows SIGWINCH, and the caller's
terminal is restored afterwards."""
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time

import pytest

from rtutil import make_bundle, new_id, runtime_bin

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)")


def set_winsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def read_until(fd, needle, proc, timeout=10):
    """Read the pty master until needle shows up (or the process ended and nothing is left)."""
    out = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end and needle not in out:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                d = os.read(fd, 4096)
            except OSError:
                break
            if not d:
                break
            out += d
        elif proc.poll() is not None:
            break
    return out


class Pty:
    """A pty whose slave is the runtime's stdin/stdout/stderr, as in a terminal."""

    def __init__(self, argv, rows=24, cols=80):
        self.master, self.slave = pty.openpty()
        set_winsize(self.slave, rows, cols)
        self.before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, start_new_session=True)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)
        os.close(self.slave)


def test_run_terminal_with_piped_stdio(rt, tmp_path):
    b = make_bundle(tmp_path, ["sh", "-c", "tty; echo out-$((6*7)); exit 3"], terminal=True)
    cid = new_id("tty")
    r = rt("run", "--bundle", b, cid, stdin=subprocess.DEVNULL)
    assert r.returncode == 3, r.stderr
    assert "/dev/pts/0" in r.stdout and "out-42" in r.stdout, r.stdout


def test_run_terminal_interactive(rt, tmp_path):
    b = make_bundle(tmp_path, ["sh"], terminal=True)
    cid = new_id("tty")
    rt.ids.add(cid)
    t = Pty([runtime_bin(), "--root", rt.root, "run", "--bundle", b, cid], rows=33, cols=99)
    try:
        out = read_until(t.master, b"# ", t.proc)
        assert b"# " in out, out
        os.write(t.master, b"tty; stty size; echo hello-$((6*7))\n")
        out = read_until(t.master, b"hello-42\r\n", t.proc)
        assert b"/dev/pts/0" in out and b"33 99" in out, out
        # the window follows the caller's terminal on SIGWINCH
        set_winsize(t.slave, 40, 120)
        os.kill(t.proc.pid, signal.SIGWINCH)
        time.sleep(0.2)
        os.write(t.master, b"stty size; exit 4\n")
        out = read_until(t.master, b"40 120", t.proc)
        assert b"40 120" in out, out
        assert t.proc.wait(timeout=10) == 4
        # the caller's terminal is back in its own mode (not raw)
        assert termios.tcgetattr(t.slave) == t.before
    finally:
        t.close()


def test_run_terminal_signal_reaches_the_process(rt, tmp_path):
    b = make_bundle(tmp_path, ["sh", "-c", "trap 'echo got-term; exit 7' TERM; "
                               "echo ready; while :; do sleep 0.1; done"], terminal=True)
    cid = new_id("tty")
    rt.ids.add(cid)
    t = Pty([runtime_bin(), "--root", rt.root, "run", "--bundle", b, cid])
    try:
        assert b"ready" in read_until(t.master, b"ready", t.proc)
        os.kill(t.proc.pid, signal.SIGTERM)
        out = read_until(t.master, b"got-term", t.proc)
        assert b"got-term" in out, out
        assert t.proc.wait(timeout=10) == 7
    finally:
        t.close()


def test_exec_tty_without_console_socket(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"])
    cid = new_id("tty")
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    r = rt("exec", "-t", cid, "sh", "-c", "tty; echo in-exec; exit 5", stdin=subprocess.DEVNULL)
    assert r.returncode == 5, r.stderr
    assert "/dev/pts/" in r.stdout and "in-exec" in r.stdout, r.stdout
    # without -t the process has no terminal and plain pipes
    r = rt("exec", cid, "sh", "-c", "tty; exit 6", stdin=subprocess.DEVNULL)
    assert r.returncode == 6 and "not a tty" in r.stdout, r.stdout


def test_detached_terminal_still_needs_a_console_socket(rt, tmp_path):
    b = make_bundle(tmp_path, ["true"], terminal=True)
    r = rt("run", "-d", "--bundle", b, new_id("tty"))
    assert r.returncode != 0 and "console-socket" in r.stderr, r.stderr


def test_exec_tty_large_piped_input_does_not_deadlock(rt, tmp_path):
    """The terminal echoes and cat answers every line while more input is
    still coming: the proxy must keep draining the pty while it writes."""
    b = make_bundle(tmp_path, ["sleep", "300"])
    cid = new_id("tty")
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    data = "".join(f"{i}\n" for i in range(1, 50001))
    r = rt("exec", "-t", cid, "cat", input=data, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "50000" in r.stdout


def test_exec_tty_piped_input_without_final_newline_ends(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"])
    cid = new_id("tty")
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    r = rt("exec", "-t", cid, "cat", input="no-newline", timeout=20)
    assert r.returncode == 0, r.stderr
    assert "no-newline" in r.stdout
