# SPDX-License-Identifier: Apache-2.0
"""kumo ps / top -b across three k2i agents in three network namespaces.

Each "host" is a netns with its own address on a private test bridge and
its own k2i listening on IP:8000. Then one agent is stopped (connection
refused), one is frozen with SIGSTOP (accepts, never answers) and one
address has nothing behind it: kumo must print what the others said,
name each failed host on stderr, exit 2, and finish within the timeout.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import binary, wait_port

# Long enough for a healthy agent on a loaded, shared 2-core machine to
# answer; the frozen agent costs exactly this much.
TIMEOUT = 5.0
MARGIN = 4.0  # process start-up and scheduling on that machine


def kumo(*args, timeout=30, token=None):
    env = {k: v for k, v in os.environ.items() if k not in ("KUMO_TOKEN", "KUMO_HOSTS")}
    env["KUMO_TIMEOUT"] = "15"  # where a test gives no --timeout: be patient
    if token:
        env["KUMO_TOKEN"] = token
    t0 = time.monotonic()
    r = subprocess.run([binary("kumo"), *args], capture_output=True, text=True, timeout=timeout,
                       env=env)
    return r, time.monotonic() - t0


def descendants(pid):
    """PIDs of pid's process tree (k2i forks its unprivileged HTTP half)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def signal_tree(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


SIGNAL_TOKEN = "kumo-cli-multihost-" + "k" * 20


@pytest.fixture
def three_hosts(netns_hosts, tmp_path):
    agents = []
    cfg = tmp_path / "k2i.json"
    cfg.write_text(json.dumps({"tokens": [
        {"name": "ops", "token": SIGNAL_TOKEN, "scopes": ["read", "signal"]}]}))
    try:
        for _ in range(3):
            name, ip = netns_hosts.add()
            p = subprocess.Popen(["ip", "netns", "exec", name, binary("k2i"), "--listen",
                                  f"{ip}:8000", "--config", str(cfg)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            agents.append((name, ip, p))
        for _, ip, _ in agents:
            wait_port(ip, 8000, timeout=10)
        yield agents, netns_hosts
    finally:
        for _, _, p in agents:
            if p.poll() is None:
                signal_tree(descendants(p.pid), signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        for _, _, p in agents:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                signal_tree(descendants(p.pid), signal.SIGKILL)
                p.wait()


def test_ps_and_top_merge_three_hosts_then_partial(three_hosts):
    agents, hosts = three_hosts
    names = [f"{ip}:8000" for _, ip, _ in agents]
    marker = "4242.%d" % os.getpid()
    sl = subprocess.Popen(["sleep", marker])
    try:
        # All three answer: every host shows our sleep (a netns shares the pid space).
        r, _ = kumo("ps", "-H", ",".join(names), "-o", "pid,comm", "-C", marker)
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""
        # (kumo's own command line contains the marker too: keep the sleeps.)
        rows = [l.split() for l in r.stdout.splitlines()[1:]]
        rows = [row for row in rows if row[2] == "sleep"]
        assert sorted(row[0] for row in rows) == sorted(names)
        assert {int(row[1]) for row in rows} == {sl.pid}
        assert {row[2] for row in rows} == {"sleep"}
        # The default order is the -H order.
        assert [row[0] for row in rows] == names

        # --json: every object names its host; each host sees the three agents.
        r, _ = kumo("ps", "-H", ",".join(names), "--json", "-o", "pid,comm", "-C", "k2i")
        assert r.returncode == 0, r.stderr
        seen = {}
        for o in json.loads(r.stdout):
            seen.setdefault(o["host"], set()).add(o["pid"])
        assert set(seen) == set(names)
        for n in names:
            assert {p.pid for _, _, p in agents} <= seen[n]

        r, _ = kumo("top", "-b", "-n", "1", "-H", ",".join(names), "-C", marker)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert "3 hosts, 3 up" in lines[0]
        # The DC-wide line adds up the hosts (here: the same machine three times).
        total = next(l for l in lines if l.startswith("total ")).split()
        assert int(total[1]) == 3 * os.cpu_count()
        for n in names:
            hostline = next(l for l in lines if l.startswith(n + " ") and "sleep" not in l)
            assert "down" not in hostline
            assert any(l.startswith(n + " ") and l.split()[1] == str(sl.pid) for l in lines)

        # kill through each host's agent: one target per host, all at once.
        victims = [subprocess.Popen(["sleep", marker + "1"]) for _ in names]
        try:
            r, _ = kumo("kill", "-s", "HUP", *(f"{n}:{v.pid}" for n, v in zip(names, victims)),
                        token=SIGNAL_TOKEN)
            assert r.returncode == 0, r.stderr
            for n, v in zip(names, victims):
                assert f"{n}:{v.pid} HUP sent" in r.stdout
                assert v.wait(timeout=10) == -signal.SIGHUP
        finally:
            for v in victims:
                if v.poll() is None:
                    v.kill()
                v.wait()

        # Host 2 stopped (refused), host 3 frozen (accepts, never answers),
        # and an address on the bridge with nothing behind it.
        _, _, p2 = agents[1]
        p2.send_signal(signal.SIGTERM)
        p2.wait(timeout=10)
        frozen = descendants(agents[2][2].pid)
        signal_tree(frozen, signal.SIGSTOP)
        void = f"10.231.{hosts.subnet}.99:8000"
        all_hosts = names + [void]

        r, wall = kumo("ps", "-H", ",".join(all_hosts), "-o", "pid,comm", "-C", marker,
                       "--timeout", str(TIMEOUT))
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert wall < TIMEOUT + MARGIN, wall
        rows = [l.split() for l in r.stdout.splitlines()[1:]]
        rows = [row for row in rows if row[2] == "sleep"]
        assert [row[0] for row in rows] == [names[0]]
        assert int(rows[0][1]) == sl.pid
        err = r.stderr.splitlines()
        assert len(err) == 3, r.stderr
        assert f"kumo ps: host {names[1]}: connection refused" in err
        assert f"kumo ps: host {names[2]}: no answer within {TIMEOUT:.1f} s" in err
        assert any(l.startswith(f"kumo ps: host {void}: ") for l in err)

        r, wall = kumo("top", "-b", "-n", "1", "-H", ",".join(all_hosts), "-C", marker,
                       "--timeout", str(TIMEOUT))
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert wall < TIMEOUT + MARGIN, wall
        assert "4 hosts, 1 up" in r.stdout
        assert f"{names[1]} down: connection refused" in r.stdout
        assert f"{names[2]} down: no answer" in r.stdout
        assert len(r.stderr.splitlines()) == 3

        # kill: the live host delivers, the stopped one is named: exit 2.
        v = subprocess.Popen(["sleep", marker + "2"])
        try:
            r, wall = kumo("kill", "--timeout", str(TIMEOUT), f"{names[0]}:{v.pid}",
                           f"{names[1]}:{v.pid}", token=SIGNAL_TOKEN)
            assert r.returncode == 2, (r.stdout, r.stderr)
            assert v.wait(timeout=10) == -signal.SIGTERM
            assert r.stderr == f"kumo kill: {names[1]}:{v.pid}: connection refused\n"
        finally:
            if v.poll() is None:
                v.kill()
            v.wait()

        # Nobody answers: exit 1, nothing on stdout.
        r, wall = kumo("ps", "-H", ",".join(all_hosts[1:]), "--timeout", str(TIMEOUT))
        assert r.returncode == 1
        assert r.stdout == ""
        assert wall < TIMEOUT + MARGIN, wall
    finally:
        sl.kill()
        sl.wait()
