# SPDX-License-Identifier: Apache-2.0
"""k2i end to end: a real agent on loopback, real processes, answers checked
against /proc and `ps`; filters, sort, limit; bad input; /metrics."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import binary

HERE = os.path.dirname(os.path.abspath(__file__))


class Agent:
    """A k2i started with --listen 127.0.0.1:0; knows its port from stdout."""

    def __init__(self, proc, addr):
        self.proc = proc
        self.addr = addr
        host, port = addr.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.base = f"http://{addr}"

    def request(self, method, path, body=None, token=None, headers=None, timeout=10):
        """Returns (status, parsed JSON or text, headers)."""
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw, status, hdrs = r.read(), r.status, r.headers
        except urllib.error.HTTPError as e:
            raw, status, hdrs = e.read(), e.code, e.headers
        ctype = hdrs.get("Content-Type", "")
        if ctype.startswith("application/json"):
            return status, json.loads(raw), hdrs
        return status, raw.decode(), hdrs

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def raw(self, data, timeout=5):
        """Send raw bytes, return (status, body bytes) of the reply (status 0 if none)."""
        with socket.create_connection((self.host, self.port), timeout=timeout) as s:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            buf = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
            except OSError:
                pass
        m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
        body = buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in buf else b""
        return (int(m.group(1)) if m else 0), body


def read_listen_line(proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    line = b""
    fd = proc.p.stdout.fileno()
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            ch = os.read(fd, 1)
            if not ch:
                break
            if ch == b"\n":
                return line.decode()
            line += ch
        elif proc.p.poll() is not None:
            break
    err = proc.p.stderr.read() if proc.p.poll() is not None else ""
    raise RuntimeError(f"k2i did not print its address: {line!r} {err}")


def start_k2i(procs, *args, config=None, tmp_path=None):
    argv = [binary("k2i"), "--listen", "127.0.0.1:0", *args]
    if config is not None:
        path = os.path.join(str(tmp_path), "k2i.json")
        with open(path, "w") as f:
            json.dump(config, f)
        argv += ["--config", path]
    pr = procs(argv)
    line = read_listen_line(pr)
    m = re.fullmatch(r"k2i: listening on (?:https://)?(\S+)", line)
    assert m, line
    return Agent(pr, m.group(1))


@pytest.fixture
def agent(procs):
    return start_k2i(procs)


@pytest.fixture
def sleepers():
    """Three sleeping children with recognisable command lines."""
    ps = [subprocess.Popen(["sleep", f"{777 + i}.{i}"]) for i in range(3)]
    # Wait until they have exec'd and sleep (a loaded machine may lag).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if all(proc_stat(p.pid)["state"] == "S" and
                   open(f"/proc/{p.pid}/comm").read().strip() == "sleep" for p in ps):
                break
        except OSError:
            pass
        time.sleep(0.01)
    yield ps
    for p in ps:
        if p.poll() is None:
            p.kill()
        p.wait()


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return {"state": rest[0], "ppid": int(rest[1]), "rss_pages": int(rest[21])}


def ps_row(pid):
    out = subprocess.run(["ps", "-o", "pid=,ppid=,stat=,rss=,user=,nlwp=,args=", "-p", str(pid)],
                         capture_output=True, text=True, check=True).stdout.split(None, 6)
    return {"pid": int(out[0]), "ppid": int(out[1]), "stat": out[2], "rss": int(out[3]),
            "user": out[4], "nlwp": int(out[5]), "args": out[6].strip()}


def test_list_matches_proc_and_ps(agent, sleepers):
    st, body, hdrs = agent.get("/v1/proc")
    assert st == 200
    assert hdrs["Content-Type"] == "application/json"
    assert body["count"] == len(body["processes"])
    assert body["host"] == socket.gethostname()
    by_pid = {p["pid"]: p for p in body["processes"]}
    assert os.getpid() in by_pid
    for sp in sleepers:
        p = by_pid[sp.pid]
        ps = ps_row(sp.pid)
        ks = proc_stat(sp.pid)
        assert p["ppid"] == ps["ppid"] == os.getpid() == ks["ppid"]
        assert p["cmdline"] == ["sleep", sp.args[1]]
        assert " ".join(p["cmdline"]) == ps["args"]
        assert p["comm"] == "sleep"
        assert p["state"] == ks["state"] == ps["stat"][0] == "S"
        assert abs(p["rss"] - ps["rss"]) <= 64, (p["rss"], ps["rss"])
        assert p["user"] == ps["user"] == "root"
        assert p["threads"] == ps["nlwp"] == 1
        assert p["uid"] == p["euid"] == 0
        assert p["tty"] is None or isinstance(p["tty"], str)
        assert abs(p["start_time"] - time.time()) < 60
        assert 0 <= p["cpu"] <= 100 and 0 <= p["cpu_recent"] <= 100
        for key in ("pgrp", "sid", "vsz", "mem", "nice", "priority", "processor", "minflt",
                    "majflt", "utime", "stime", "time", "elapsed", "gid", "egid", "group"):
            assert key in p, key
        for key in ("container", "cgroups", "namespaces", "environ", "tid"):
            assert key not in p, key


def kept_fd_pids(pid):
    """Pids whose /proc files the process holds open."""
    out = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            m = re.match(r"/proc/(\d+)/", os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
        if m:
            out.add(int(m.group(1)))
    return out


def test_exited_processes_vanish_with_kept_fds(agent):
    """Listings re-read kept /proc fds; a process that exits must vanish
    from the next listing, and its fds must be closed."""
    st, info, _ = agent.get("/v1/")
    child = info["pid"]
    ps = [subprocess.Popen(["sleep", "300"]) for _ in range(20)]
    try:
        st, body, _ = agent.get("/v1/proc?fields=pid,cmdline")
        pids = {p["pid"] for p in body["processes"]}
        assert all(p.pid in pids for p in ps)
        kept = kept_fd_pids(child)
        assert all(p.pid in kept for p in ps)
        for p in ps:
            p.kill()
            p.wait()
        st, body, _ = agent.get("/v1/proc?fields=pid,cmdline")
        pids = {p["pid"] for p in body["processes"]}
        assert not any(p.pid in pids for p in ps)
        for p in ps:
            st, _, _ = agent.get(f"/v1/proc/{p.pid}")
            assert st == 404
        # The sweeping pass closed the kept fds of the exited processes.
        kept = kept_fd_pids(child)
        assert not any(p.pid in kept for p in ps)
    finally:
        for p in ps:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_one_process_and_self(agent, sleepers):
    pid = sleepers[0].pid
    st, p, _ = agent.get(f"/v1/proc/{pid}")
    assert st == 200
    assert p["pid"] == pid and p["cmdline"][0] == "sleep"
    assert p["container"] is None
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [l for l in f.read().splitlines() if l]
    assert len(p["cgroups"]) == len(lines)
    assert p["cgroups"][0]["path"] == lines[0].split(":", 2)[2]
    # Namespace inodes of a root process come through the privileged parent.
    assert p["namespaces"]["net"] == os.stat(f"/proc/{pid}/ns/net").st_ino
    assert p["namespaces"]["pid"] == os.stat(f"/proc/{pid}/ns/pid").st_ino
    st, p, _ = agent.get(f"/v1/proc/{pid}?fields=pid,rss")
    assert st == 200 and set(p) == {"pid", "rss"}
    st, me, _ = agent.get("/v1/proc/self")
    assert st == 200 and me["comm"] == "k2i"
    st, info, _ = agent.get("/v1/")
    assert me["pid"] == info["pid"]


def test_missing_pid_is_404(agent):
    # A pid that cannot exist: above pid_max but in range.
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    pid = min(pid_max + 1, 4194304) if pid_max < 4194304 else 4194304
    for path in (f"/v1/proc/{pid}", f"/v1/proc/{pid}/threads"):
        st, body, _ = agent.get(path)
        assert st == 404, path
        assert body["error"]["code"] == 404
        assert str(pid) in body["error"]["message"]


def test_filters_sort_limit(agent, sleepers):
    pids = sorted(p.pid for p in sleepers)
    plist = ",".join(map(str, pids))
    st, body, _ = agent.get(f"/v1/proc?pid={plist}&fields=pid,comm,state")
    assert st == 200
    assert [p["pid"] for p in body["processes"]] == pids
    assert all(set(p) == {"pid", "comm", "state"} for p in body["processes"])

    st, body, _ = agent.get(f"/v1/proc?pid={plist}&sort=-pid&limit=2&fields=pid")
    assert [p["pid"] for p in body["processes"]] == pids[::-1][:2]
    assert body["count"] == 2

    st, body, _ = agent.get("/v1/proc?cmd=sleep+778.1&fields=pid,cmdline")
    assert [p["pid"] for p in body["processes"]] == [sleepers[1].pid]
    st, body, _ = agent.get("/v1/proc/cmd/778.1?fields=pid")
    assert [p["pid"] for p in body["processes"]] == [sleepers[1].pid]

    st, body, _ = agent.get(f"/v1/proc?user=root&state=S&pid={plist}&fields=pid,user,state")
    assert len(body["processes"]) == 3
    st, body, _ = agent.get(f"/v1/proc?user=nobody&pid={plist}")
    assert body["processes"] == []
    st, body, _ = agent.get(f"/v1/proc?state=Z&pid={plist}")
    assert body["processes"] == []

    st, body, _ = agent.get("/v1/proc?sort=-rss,pid&fields=pid,rss&limit=5")
    rss = [p["rss"] for p in body["processes"]]
    assert rss == sorted(rss, reverse=True) and len(rss) == 5
    st, body, _ = agent.get("/v1/proc?sort=comm&fields=comm")
    comms = [p["comm"].encode() for p in body["processes"]]
    assert comms == sorted(comms)

    st, body, _ = agent.get("/v1/proc?limit=1")
    assert len(body["processes"]) == 1

    st, body, _ = agent.get("/v1/proc?sort=bogus")
    assert st == 400 and "sort" in body["error"]["message"]


def test_threads(agent):
    st, info, _ = agent.get("/v1/")
    pid = info["pid"]  # the HTTP process: several worker threads
    st, body, _ = agent.get(f"/v1/proc/{pid}/threads")
    assert st == 200
    tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    got = sorted(t["tid"] for t in body["processes"])
    assert set(got) <= set(tids) | set(got) and len(got) >= 3
    assert all(t["pid"] == pid for t in body["processes"])
    st, body, _ = agent.get(f"/v1/proc?threads=true&pid={pid}&fields=pid,tid,comm")
    assert len(body["processes"]) == len(got)


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def test_cpu_recent_measures_a_busy_process(procs):
    """Recent %CPU is measured over the sampling window, never a placeholder
    0. The machine may be loaded by other work, so compare with what the
    busy process really got over a similar window rather than with 100%."""
    a = start_k2i(procs, "--sample-interval", "400ms")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen(["sleep", "30"])
    hz = os.sysconf("SC_CLK_TCK")
    try:
        time.sleep(1.0)
        t0, c0 = time.monotonic(), ticks(busy.pid)
        time.sleep(0.5)
        st, p, _ = a.get(f"/v1/proc/{busy.pid}?fields=cpu,cpu_recent")
        got = (ticks(busy.pid) - c0) / hz / (time.monotonic() - t0) * 100
        assert st == 200
        assert p["cpu_recent"] > 0.5 and p["cpu"] > 0.5, p
        assert p["cpu_recent"] > got / 4 - 2, (p, got)
        assert p["cpu_recent"] < got * 4 + 10, (p, got)
        st, body, _ = a.get(f"/v1/proc?pid={busy.pid},{idle.pid}&sort=-cpu_recent"
                            "&fields=pid,cpu_recent")
        assert body["processes"][0]["pid"] == busy.pid
        assert body["processes"][1]["cpu_recent"] == 0
        st, host, _ = a.get("/v1/host")
        assert host["cpu_usage"] is not None and host["cpu_usage"] > 0
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()


def test_host(agent):
    st, h, _ = agent.get("/v1/host")
    assert st == 200
    assert h["hostname"] == socket.gethostname()
    assert h["kernel"] == os.uname().release
    assert h["cpus"] == os.cpu_count()
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1])
    assert h["memory"]["total"] == total
    with open("/proc/uptime") as f:
        up = float(f.read().split()[0])
    assert abs(h["uptime"] - up) < 5
    assert len(h["load"]) == 3 and h["processes"] > 10


BAD_TARGETS = [
    (b"/v1/proc/-1", 400), (b"/v1/proc/0", 400), (b"/v1/proc/abc", 400),
    (b"/v1/proc/99999999999", 400), (b"/v1/proc/../..", 400), (b"/v1/proc/..%2f..", 400),
    (b"/v1/proc/%2e%2e/%2e%2e/etc/passwd", 400), (b"/v1/../v1/proc", 400),
    (b"//v1/proc", 400), (b"/v1/proc?fields=pid,nope", 400), (b"/v1/proc?limit=-5", 400),
    (b"/v1/proc?pid=1,abc", 400), (b"/v1/proc?sort=", 400), (b"/v1/proc?%zz=1", 400),
    (b"/v1/nope", 404), (b"/etc/passwd", 404), (b"/v1/proc/1/environ", 404),
]


def alive(a):
    st, body, _ = a.get("/v1/")
    return st == 200 and body["name"] == "k2i"


def test_bad_input_is_json_4xx_and_daemon_stays_up(agent):
    for target, want in BAD_TARGETS:
        st, body = agent.raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert st == want, (target, st, body)
        err = json.loads(body)["error"]
        assert err["code"] == want and err["message"], target
    assert alive(agent)

    # Wrong method, with Allow.
    st, body, hdrs = agent.request("DELETE", "/v1/proc")
    assert st == 405 and hdrs["Allow"] == "GET, HEAD" and body["error"]["code"] == 405
    st, body, hdrs = agent.get("/v1/proc/1/signal")
    assert st == 405 and hdrs["Allow"] == "POST"

    # A long URL and big headers under MHD's limit get our JSON errors...
    long_url = b"/v1/proc?cmd=" + b"a" * 9000
    st, body = agent.raw(b"GET " + long_url + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert st == 414 and json.loads(body)["error"]["code"] == 414
    hdrs = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 1000) for i in range(20))
    st, body = agent.raw(b"GET /v1/proc HTTP/1.1\r\nHost: x\r\n" + hdrs + b"Connection: close\r\n\r\n")
    assert st == 431 and json.loads(body)["error"]["code"] == 431
    # ...and far bigger ones are refused by MHD before they reach us.
    huge = b"X-Huge: " + b"c" * (1 << 20) + b"\r\n"
    st, body = agent.raw(b"GET /v1/proc HTTP/1.1\r\nHost: x\r\n" + huge + b"\r\n")
    assert st in (0, 400, 413, 414, 431)
    st, body = agent.raw(b"GET /v1/proc?" + b"d" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert st in (0, 400, 414, 431)
    # Garbage request lines.
    for junk in (b"GARBAGE\r\n\r\n", b"\x00\x01\x02\xff\r\n\r\n", b"GET\r\n\r\n",
                 b"GET /v1/ HTTP/9.9\r\n\r\n"):
        st, _ = agent.raw(junk, timeout=1)
        assert st == 0 or 400 <= st < 600
    assert alive(agent)

    # Bodies without a token are refused before they are parsed; oversized
    # ones before anything else (the signal endpoint takes at most 4 KiB).
    for body_ in ("{", "[]", '{"signal":"NOPE"}', '{"signal":999}'):
        st, b, _ = agent.request("POST", "/v1/proc/1/signal", body=body_)
        assert st == 401 and b["error"]["code"] == 401
    st, b, _ = agent.request("POST", "/v1/proc/1/signal", body="x" * 10000)
    assert st == 413 and b["error"]["code"] == 413
    assert alive(agent)


def test_unknown_user_is_400_under_seccomp(agent):
    """A name missing from /etc/passwd walks every NSS module (libnss_systemd
    probes prctl and sockets): the sandboxed HTTP process must survive it."""
    for _ in range(3):
        st, body, _ = agent.get("/v1/proc?user=nosuchuser-kumo-test")
        assert st == 400, body
        assert "unknown user 'nosuchuser-kumo-test'" in body["error"]["message"]
        assert alive(agent)
    st, body, _ = agent.get("/v1/proc?user=root&fields=pid,user&limit=1")
    assert st == 200 and body["processes"][0]["user"] == "root"


def parse_prometheus(text):
    """A strict-enough parser of text format 0.0.4: returns {name: [(labels, value)]}."""
    samples, types = {}, {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|[+-]Inf)$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            assert name not in types, f"duplicate TYPE {name}"
            assert typ in ("counter", "gauge", "histogram", "summary", "untyped")
            types[name] = typ
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP "), line
            continue
        m = line_re.match(line)
        assert m, f"bad sample line {line!r}"
        name, labels = m.group(1), {}
        if m.group(3):
            pos = 0
            for lm in label_re.finditer(m.group(3)):
                assert lm.start() == pos, line
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
            assert pos == len(m.group(3)), line
        assert name in types, f"sample before TYPE: {name}"
        samples.setdefault(name, []).append((labels, float(m.group(4))))
    return samples, types


def test_metrics_is_prometheus_text(agent, sleepers):
    st, text, hdrs = agent.get("/metrics")
    assert st == 200
    assert hdrs["Content-Type"].startswith("text/plain; version=0.0.4")
    samples, types = parse_prometheus(text)
    assert types["k2i_process_cpu_seconds_total"] == "counter"
    for name in ("k2i_host_cpus", "k2i_host_memory_total_bytes", "k2i_host_load1",
                 "k2i_process_resident_memory_bytes", "k2i_host_uptime_seconds"):
        assert types[name] == "gauge" and name in samples, name
    assert samples["k2i_host_cpus"][0][1] == os.cpu_count()
    rss = {l["pid"]: v for l, v in samples["k2i_process_resident_memory_bytes"]}
    pid = str(sleepers[0].pid)
    assert pid in rss
    # /metrics reads only stat, whose rss may lag VmRSS a little (per-CPU counters).
    assert abs(rss[pid] / 1024 - ps_row(sleepers[0].pid)["rss"]) <= 512
    cpu = {l["pid"]: l for l, v in samples["k2i_process_cpu_seconds_total"]}
    assert cpu[pid]["comm"] == "sleep"


def test_stat_only_listing_reads_only_stat(agent):
    """With strace on the HTTP process: fields from stat open only PID/stat."""
    if not shutil_which("strace"):
        pytest.skip("strace not installed")
    st, info, _ = agent.get("/v1/")
    child = info["pid"]
    agent.get("/v1/proc?fields=pid,comm,cpu_recent")  # warm up (sampler wait, thread)
    log = os.path.join("/tmp", f"k2i-strace-{os.getpid()}.log")
    tr = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=openat", "-o", log, "-p", str(child)],
                          stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        st, body, _ = agent.get("/v1/proc?fields=pid,comm,state,rss,cpu")
        assert st == 200 and body["count"] > 5
        time.sleep(0.3)
    finally:
        tr.send_signal(signal.SIGINT)
        tr.wait(timeout=10)
    with open(log) as f:
        opened = re.findall(r'openat\([^,]+, "(\d+)/([a-z/]+)"', f.read())
    os.unlink(log)
    # The sampler thread also reads stat; nothing may read status or cmdline.
    files = {name for _, name in opened}
    assert "stat" in files, opened[:10]
    assert files <= {"stat"}, files


def shutil_which(name):
    import shutil
    return shutil.which(name)
