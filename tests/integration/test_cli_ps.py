# SPDX-License-Identifier: Apache-2.0
"""kumo ps / top / kill against a real k2i agent on loopback.

Known processes are spawned by the test (sleep with a unique duration, so
their command lines are unique), and what kumo prints is checked against
them and against /proc. Signals are checked from outside: the process must
really die (or not) with the expected signal.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import binary, free_port, terminate, wait_port

READ_TOKEN = "kumo-cli-test-read-" + "r" * 16
SIGNAL_TOKEN = "kumo-cli-test-signal-" + "s" * 16


class Result:
    def __init__(self, pid, returncode, stdout, stderr):
        self.pid, self.returncode, self.stdout, self.stderr = pid, returncode, stdout, stderr


def kumo(*args, env=None, timeout=20):
    """Run kumo; the result carries its pid, since `-C marker` also matches
    kumo's own command line (as `ps aux | grep x` finds the grep)."""
    e = dict(os.environ)
    e.pop("KUMO_TOKEN", None)
    e.pop("KUMO_HOSTS", None)
    # The CI machine is shared and sometimes overloaded: be patient with the agent.
    e["KUMO_TIMEOUT"] = "15"
    if env:
        e.update(env)
    p = subprocess.Popen([binary("kumo"), *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=e)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    return Result(p.pid, p.returncode, out, err)


def rows_without_self(r):
    """Table rows of r minus the one describing kumo itself."""
    header, rows = table(r.stdout)
    i = header.index("PID")
    return header, [row for row in rows if int(row[i]) != r.pid]


def table(stdout):
    """Rows of a kumo table as lists of cells (last cell keeps its blanks)."""
    lines = stdout.rstrip("\n").split("\n")
    header = lines[0].split()
    rows = []
    for line in lines[1:]:
        cells = line.split(None, len(header) - 1)
        rows.append(cells)
    return header, rows


@pytest.fixture(scope="module")
def agent():
    """One k2i on loopback with a read token and a signal token."""
    d = tempfile.mkdtemp(prefix="kumo-cli-test-")
    cfg = os.path.join(d, "k2i.json")
    with open(cfg, "w") as f:
        json.dump({"tokens": [
            {"name": "reader", "token": READ_TOKEN, "scopes": ["read"]},
            {"name": "ops", "token": SIGNAL_TOKEN, "scopes": ["read", "signal"]},
        ]}, f)
    port = free_port()
    p = subprocess.Popen([binary("k2i"), "--listen", f"127.0.0.1:{port}", "--config", cfg],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_port("127.0.0.1", port, timeout=10)
        yield f"127.0.0.1:{port}"
    finally:
        terminate(p)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sleepers():
    """spawn(n) -> (marker, [Popen]) of sleeps with a unique duration; killed by PID after."""
    started = []

    def spawn(n):
        marker = f"{random.randint(100000, 999999)}.{random.randint(1000, 9999)}"
        ps = [subprocess.Popen(["sleep", marker]) for _ in range(n)]
        started.extend(ps)
        return marker, ps

    yield spawn
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_ps_lists_spawned_processes(agent, sleepers):
    marker, ps = sleepers(3)
    r = kumo("ps", "-H", agent, "-o", "pid,ppid,stat,comm,args", "-C", marker)
    assert r.returncode == 0, r.stderr
    header, rows = rows_without_self(r)
    assert header == ["HOST", "PID", "PPID", "STAT", "COMMAND", "COMMAND"]
    got = {int(row[1]): row for row in rows}
    assert set(got) == {p.pid for p in ps}
    for pid, row in got.items():
        assert row[0] == agent
        assert int(row[2]) == os.getpid()
        assert row[3] == "S"
        assert row[4] == "sleep"
        assert row[5] == f"sleep {marker}"


def test_ps_default_columns_and_rss(agent, sleepers):
    marker, ps = sleepers(1)
    r = kumo("ps", "-H", agent, "-C", marker)
    assert r.returncode == 0, r.stderr
    header, rows = rows_without_self(r)
    assert header[:4] == ["HOST", "PID", "USER", "%CPU"]
    assert header[-1] == "COMMAND"
    assert len(rows) == 1
    row = dict(zip(header, rows[0]))
    assert int(row["PID"]) == ps[0].pid
    with open(f"/proc/{ps[0].pid}/status") as f:
        vmrss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    assert abs(int(row["RSS"]) - vmrss) <= max(64, vmrss // 10)
    assert row["TIME"] == "00:00:00"


def test_ps_json(agent, sleepers):
    marker, ps = sleepers(2)
    r = kumo("ps", "-H", agent, "--json", "-C", marker)
    assert r.returncode == 0, r.stderr
    arr = [o for o in json.loads(r.stdout) if o["pid"] != r.pid]
    assert {o["pid"] for o in arr} == {p.pid for p in ps}
    for o in arr:
        assert o["host"] == agent
        assert o["cmdline"] == ["sleep", marker]
        assert o["comm"] == "sleep"
        assert o["ppid"] == os.getpid()
    # -o limits the keys (plus what filters need).
    r = kumo("ps", "-H", agent, "--json", "-o", "pid", "-p", str(ps[0].pid))
    assert r.returncode == 0, r.stderr
    arr = json.loads(r.stdout)
    assert len(arr) == 1 and arr[0]["pid"] == ps[0].pid and "cmdline" not in arr[0]


def test_ps_sort_and_limit(agent, sleepers):
    marker, ps = sleepers(4)
    pids = sorted(p.pid for p in ps)
    r = kumo("ps", "-H", agent, "-o", "pid", "-C", marker, "--sort", "-pid", "--no-headers")
    assert r.returncode == 0, r.stderr
    got = [int(l.split()[1]) for l in r.stdout.splitlines()]
    assert [p for p in got if p != r.pid] == pids[::-1]
    # -u root, as we are: kumo itself would sort into the list; pick by pid instead.
    r = kumo("ps", "-H", agent, "-o", "pid", "-p", ",".join(map(str, pids)), "--sort", "pid",
             "--limit", "2")
    _, rows = table(r.stdout)
    assert [int(row[1]) for row in rows] == pids[:2]
    r = kumo("ps", "-H", agent, "-o", "pid", "-p", ",".join(map(str, pids)), "--sort", "-pid",
             "-n", "3")
    _, rows = table(r.stdout)
    assert [int(row[1]) for row in rows] == pids[::-1][:3]
    # The whole host, sorted by pid: strictly increasing, and more than ours.
    r = kumo("ps", "-H", agent, "-o", "pid", "--sort", "+pid")
    _, rows = table(r.stdout)
    all_pids = [int(row[1]) for row in rows]
    assert all_pids == sorted(all_pids) and len(all_pids) > 4
    assert set(pids) <= set(all_pids)


def test_ps_filters(agent, sleepers):
    marker, ps = sleepers(3)
    want = [ps[0].pid, ps[2].pid]
    r = kumo("ps", "-H", agent, "-o", "pid", "-p", ",".join(map(str, want)))
    assert r.returncode == 0, r.stderr
    _, rows = table(r.stdout)
    assert sorted(int(row[1]) for row in rows) == sorted(want)

    r = kumo("ps", "-H", agent, "-o", "pid,user", "-u", "root", "-C", marker)
    _, rows = rows_without_self(r)
    assert {int(row[1]) for row in rows} == {p.pid for p in ps}
    assert {row[2] for row in rows} == {"root"}

    # A user this host does not have: an empty answer, not a failure.
    r = kumo("ps", "-H", agent, "-u", "nosuchuser-kumo", "-C", marker)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 1

    # A zombie: spawned, exited, not reaped yet.
    z = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(f"/proc/{z.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.02)
    try:
        r = kumo("ps", "-H", agent, "-o", "pid,stat", "--state", "Z", "-p", f"{z.pid},{ps[0].pid}")
        _, rows = table(r.stdout)
        assert [(int(row[1]), row[2]) for row in rows] == [(z.pid, "Z")]
    finally:
        z.wait()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (containers)")
def test_ps_container_filter(agent, sleepers, rt, tmp_path):
    """--container ID lists the processes of a real kumo-runtime container
    (k2i reads the id from its cgroup), '-' those in none; an id with '+'
    (which kumo-runtime allows) works end to end."""
    from rtutil import make_bundle
    marker, host_ps = sleepers(1)
    cid = f"ps+{random.randint(100000, 999999)}"
    b = make_bundle(tmp_path, ["sh", "-c", f"sleep {marker} & exec sleep {marker}"],
                    namespaces=[{"type": t} for t in ("pid", "mount", "uts", "ipc")])
    r = rt("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    init = rt.state(cid)["pid"]
    deadline = time.monotonic() + 10
    while True:  # the init's child sleep
        kids = open(f"/proc/{init}/task/{init}/children").read().split()
        if kids or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert kids, "the container's background sleep did not start"
    inside = {init, int(kids[0])}

    r = kumo("ps", "-H", agent, "-o", "pid,container,args", "--container", cid)
    assert r.returncode == 0, r.stderr
    _, rows = table(r.stdout)
    assert {int(row[1]) for row in rows} == inside
    assert {row[2] for row in rows} == {cid}

    r = kumo("ps", "-H", agent, "-o", "pid,container", "--container", "-", "-C", marker)
    _, rows = rows_without_self(r)
    assert {int(row[1]) for row in rows} == {host_ps[0].pid}
    assert {row[2] for row in rows} == {"-"}

    r = kumo("top", "-b", "-n", "1", "-H", agent, "-o", "pid", "--container", cid)
    assert r.returncode == 0, r.stderr
    assert {int(line.split()[1]) for line in r.stdout.splitlines()
            if line.split()[1:2] and line.split()[1].isdigit()} == inside


def test_ps_bad_arguments():
    for args, msg in [(["-o", "pid,nope"], "unknown column 'nope'"),
                      (["--sort", "-bogus"], "unknown sort key"),
                      (["-H", "h:99999"], "bad port"),
                      (["-p", "abc"], "bad pid"),
                      (["--timeout", "x"], "bad --timeout"),
                      (["--container", "a/b"], "bad --container 'a/b'")]:
        r = kumo("ps", *args)
        assert r.returncode == 1
        assert msg in r.stderr
        assert r.stderr.count("\n") == 1


def test_kill_delivers_signal(agent, sleepers):
    _, ps = sleepers(2)
    target = f"{agent}:{ps[0].pid}"
    # No token: refused, the process lives.
    r = kumo("kill", "-s", "USR1", target)
    assert r.returncode == 1
    assert "401" in r.stderr and target in r.stderr
    # A token without the signal scope: 403.
    r = kumo("kill", "-s", "USR1", target, env={"KUMO_TOKEN": READ_TOKEN})
    assert r.returncode == 1 and "403" in r.stderr
    time.sleep(0.2)
    assert ps[0].poll() is None

    r = kumo("kill", "-USR1", target, env={"KUMO_TOKEN": SIGNAL_TOKEN})
    assert r.returncode == 0, r.stderr
    assert f"{target} USR1 sent" in r.stdout
    assert ps[0].wait(timeout=5) == -signal.SIGUSR1
    assert ps[1].poll() is None

    # Partial: one target delivered, one refused (no such pid) -> exit 2.
    tf = tempfile.NamedTemporaryFile("w", delete=False)
    try:
        tf.write(SIGNAL_TOKEN + "\n")
        tf.close()
        r = kumo("kill", "--token-file", tf.name, "-s", "TERM", f"{agent}:{ps[1].pid}",
                 f"{agent}:99999999")
    finally:
        os.unlink(tf.name)
    assert r.returncode == 2, r.stderr
    assert ps[1].wait(timeout=5) == -signal.SIGTERM
    assert f"{agent}:99999999" in r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_kill_bad_arguments():
    r = kumo("kill", "-s", "NOPE", "127.0.0.1:1")
    assert r.returncode == 1 and "unknown signal" in r.stderr
    r = kumo("kill", "localhost:abc")
    assert r.returncode == 1 and "bad pid" in r.stderr
    r = kumo("kill", "-l")
    assert r.returncode == 0 and "SIGKILL" in r.stdout


def test_top_batch(agent, sleepers):
    marker, ps = sleepers(2)
    t0 = time.monotonic()
    r = kumo("top", "-b", "-n", "2", "-d", "0.3", "-H", agent, "-C", f"sleep {marker}")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 >= 0.3
    frames = r.stdout.split("kumo top - ")[1:]
    assert len(frames) == 2
    for fr in frames:
        lines = fr.splitlines()
        assert "1 hosts, 1 up" in lines[0]
        hostline = next(l for l in lines if l.startswith(agent))
        assert len(hostline.split()) >= 7  # load x3, cpus, cpu%, mem, procs...
        pids = {int(l.split()[1]) for l in lines if l.startswith(agent + " ") and
                l.split()[1].isdigit() and l.rstrip().endswith("sleep")}
        assert pids == {p.pid for p in ps}


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")
def test_top_interactive_tmux(agent, sleepers):
    marker, ps = sleepers(2)
    victim = max(p.pid for p in ps)
    session = f"kumotop{os.getpid()}"
    pids = ",".join(str(p.pid) for p in ps)
    cmd = (f"env KUMO_TOKEN={SIGNAL_TOKEN} KUMO_TIMEOUT=15 TERM=xterm {binary('kumo')} top -d 0.5 -H {agent} "
           f"-p {pids}; echo KUMO-EXIT=$?; sleep 30")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", cmd],
                   check=True)

    def screen():
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                              capture_output=True, text=True).stdout

    def wait_for(pred, timeout=15.0):
        deadline = time.monotonic() + timeout
        s = ""
        while time.monotonic() < deadline:
            s = screen()
            if pred(s):
                return s
            time.sleep(0.1)
        raise AssertionError("screen never matched:\n" + s)

    def keys(*k):
        subprocess.run(["tmux", "send-keys", "-t", session, *k], check=True)

    try:
        s = wait_for(lambda s: all(str(p.pid) in s for p in ps) and "1 up" in s)
        assert "kumo top -" in s and agent in s
        # N sorts by pid, highest first: the victim is the first row.
        keys("N")
        s = wait_for(lambda s: "sort -PID" in s)
        # k: default target is the first row; answer KILL for the signal.
        keys("k")
        wait_for(lambda s: f"signal HOST:PID [{agent}:{victim}]" in s)
        keys("Enter")
        wait_for(lambda s: "signal [TERM]" in s)
        keys("KILL", "Enter")
        assert next(p for p in ps if p.pid == victim).wait(timeout=5) == -signal.SIGKILL
        wait_for(lambda s: f"{agent}:{victim}: KILL sent" in s or str(victim) not in s)
        # Filter to something that matches nothing, then quit.
        keys("/")
        keys("no-such-command-kumo", "Enter")
        wait_for(lambda s: "0 rows" in s)
        keys("q")
        wait_for(lambda s: "KUMO-EXIT=0" in s)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")
def test_ps_over_tls():
    d = tempfile.mkdtemp(prefix="kumo-cli-tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    port = free_port()
    p = subprocess.Popen([binary("k2i"), "--listen", f"127.0.0.1:{port}", "--tls-cert", cert,
                          "--tls-key", key], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port("127.0.0.1", port)
        url = f"https://127.0.0.1:{port}"
        r = kumo("ps", "-H", url, "--cacert", cert, "-o", "pid", "-p", str(p.pid))
        assert r.returncode == 0, r.stderr
        _, rows = table(r.stdout)
        assert rows == [[url, str(p.pid)]]
        # Unknown CA: refused, with curl's reason.
        r = kumo("ps", "-H", url, "-p", str(p.pid))
        assert r.returncode == 1
        assert f"kumo ps: host {url}: SSL certificate problem" in r.stderr
        r = kumo("ps", "-H", url, "--insecure", "-p", str(p.pid))
        assert r.returncode == 0, r.stderr
        # Plain HTTP to a TLS agent: a hint, not a mystery.
        r = kumo("ps", "-H", f"127.0.0.1:{port}")
        assert r.returncode == 1
        assert "https://" in r.stderr
    finally:
        terminate(p)
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")
def test_ps_on_a_terminal_cuts_lines(agent, sleepers):
    """On a tty, lines are cut to the terminal width (as ps); in a pipe they are not."""
    marker, _ = sleepers(0)
    long_args = ["sleep", marker] + ["0" * 30] * 3  # sleep adds them up: 0
    p = subprocess.Popen(long_args)
    session = f"kumops{os.getpid()}"
    out = os.path.join(tempfile.mkdtemp(prefix="kumo-cli-tty-"), "done")
    cmd = (f"env KUMO_TIMEOUT=15 {binary('kumo')} ps -H {agent} -p {p.pid}; "
           f"touch {out}; sleep 30")
    try:
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "60", "-y", "10", cmd],
                       check=True)
        deadline = time.monotonic() + 15
        while not os.path.exists(out) and time.monotonic() < deadline:
            time.sleep(0.1)
        screen = subprocess.run(["tmux", "capture-pane", "-p", "-J", "-t", session],
                                capture_output=True, text=True).stdout
        lines = [l for l in screen.splitlines() if l.strip()]
        assert lines[0].startswith("HOST") and str(p.pid) in lines[1], screen
        assert max(len(l) for l in lines) <= 60, screen
        assert "0" * 30 not in lines[1]
        # Through a pipe: the whole command line.
        r = kumo("ps", "-H", agent, "-p", str(p.pid))
        assert " ".join(long_args) in r.stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        p.kill()
        p.wait()
        shutil.rmtree(os.path.dirname(out), ignore_errors=True)


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux")
def test_top_stays_responsive_with_a_stalled_host(agent):
    """A host that accepts but never answers: the screen still takes keys
    while the round waits, and q quits at once instead of after --timeout."""
    stall = socket.socket()
    stall.bind(("127.0.0.1", 0))
    stall.listen(8)  # never accepted: connections sit in the backlog, unanswered
    port = stall.getsockname()[1]
    session = f"kumotopst{os.getpid()}"
    cmd = (f"{binary('kumo')} top -d 0.5 --timeout 20 -H {agent},127.0.0.1:{port}; "
           f"echo KUMO-EXIT=$?; sleep 30")

    def screen():
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                              capture_output=True, text=True).stdout

    def wait_for(pred, timeout):
        deadline = time.monotonic() + timeout
        s = ""
        while time.monotonic() < deadline:
            s = screen()
            if pred(s):
                return s
            time.sleep(0.05)
        raise AssertionError("screen never matched:\n" + s)

    try:
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40",
                        "env", "TERM=xterm", "sh", "-c", cmd], check=True)
        wait_for(lambda s: "asking 2 hosts" in s, 10)
        subprocess.run(["tmux", "send-keys", "-t", session, "h"], check=True)
        wait_for(lambda s: "P/M/N/T sort" in s, 3)
        t0 = time.monotonic()
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        wait_for(lambda s: "KUMO-EXIT=" in s, 5)
        assert time.monotonic() - t0 < 5
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        stall.close()
