# SPDX-License-Identifier: Apache-2.0
"""k2i security: bearer tokens and scopes, signals that really arrive (and
are refused without the scope), environment only for an environ token,
TLS, privilege separation, Unix sockets, clean SIGTERM."""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

import pytest

from conftest import binary
from test_k2i_api import alive, start_k2i

SIG_TOKEN = "sig-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
ENV_TOKEN = "env-token-0123456789abcdef"
CONFIG = {
    "tokens": [
        {"name": "ops", "token": SIG_TOKEN, "scopes": ["read", "signal"]},
        {"name": "viewer", "token": READ_TOKEN, "scopes": ["read"]},
        {"name": "debug", "token": ENV_TOKEN, "scopes": ["environ"]},
    ]
}


@pytest.fixture
def victim():
    p = subprocess.Popen(["sleep", "600"], env={"PATH": os.environ["PATH"],
                                                "K2I_SECRET_MARKER": "hunter2"})
    yield p
    if p.poll() is None:
        p.kill()
    p.wait()


def signal_req(a, pid, sig="TERM", token=None):
    return a.request("POST", f"/v1/proc/{pid}/signal", body=json.dumps({"signal": sig}),
                     token=token, headers={"Content-Type": "application/json"})


def test_no_config_reads_open_signals_refused(procs, victim):
    a = start_k2i(procs)
    st, body, _ = a.get(f"/v1/proc/{victim.pid}")
    assert st == 200
    st, body, hdrs = signal_req(a, victim.pid)
    assert st == 401 and body["error"]["code"] == 401
    assert hdrs["WWW-Authenticate"].startswith("Bearer")
    time.sleep(0.1)
    assert victim.poll() is None
    # No token can be valid without a config: any token is refused.
    st, body, _ = signal_req(a, victim.pid, token=SIG_TOKEN)
    assert st == 401
    assert victim.poll() is None


def test_signal_needs_the_scope_and_arrives(procs, tmp_path, victim):
    a = start_k2i(procs, config=CONFIG, tmp_path=tmp_path)
    st, body, _ = signal_req(a, victim.pid, token="wrong-token-0123456789")
    assert st == 401 and "invalid" in body["error"]["message"]
    st, body, _ = signal_req(a, victim.pid, token=READ_TOKEN)
    assert st == 403 and "signal" in body["error"]["message"]
    st, body, _ = signal_req(a, victim.pid, token=ENV_TOKEN)
    assert st == 403
    time.sleep(0.1)
    assert victim.poll() is None

    st, body, _ = signal_req(a, victim.pid, sig="NOPE", token=SIG_TOKEN)
    assert st == 400 and "NOPE" in body["error"]["message"]
    st, body, _ = a.request("POST", f"/v1/proc/{victim.pid}/signal", body="{bad json",
                            token=SIG_TOKEN)
    assert st == 400 and "JSON" in body["error"]["message"]
    st, body, _ = signal_req(a, victim.pid, sig=0, token=SIG_TOKEN)  # existence check
    assert st == 200 and victim.poll() is None

    st, body, _ = signal_req(a, victim.pid, sig="SIGTERM", token=SIG_TOKEN)
    assert st == 200, body
    assert body == {"pid": victim.pid, "signal": "TERM", "signo": 15, "sent": True}
    assert victim.wait(timeout=5) == -signal.SIGTERM
    st, body, _ = signal_req(a, victim.pid, token=SIG_TOKEN)
    assert st == 404

    # Policy: never pid 1, never k2i itself, never kernel threads.
    st, body, _ = signal_req(a, 1, token=SIG_TOKEN)
    assert st == 403 and "pid 1" in body["error"]["message"]
    st, info, _ = a.get("/v1/")
    for pid in (info["pid"], a.proc.pid):
        st, body, _ = signal_req(a, pid, sig="KILL", token=SIG_TOKEN)
        assert st == 403 and "k2i itself" in body["error"]["message"]
    st, body, _ = signal_req(a, 2, token=SIG_TOKEN)  # kthreadd
    assert st == 403 and "kernel thread" in body["error"]["message"]
    assert alive(a)


def test_read_requires_token(procs, tmp_path):
    a = start_k2i(procs, config=dict(CONFIG, read_requires_token=True), tmp_path=tmp_path)
    for path in ("/v1/proc", "/v1/host", "/metrics", "/v1/proc/1"):
        st, body, _ = a.get(path)
        assert st == 401, path
    st, body, _ = a.get("/v1/proc?fields=pid", token="nope-nope-nope-nope-nope")
    assert st == 401
    st, body, _ = a.get("/v1/proc?fields=pid", token=READ_TOKEN)
    assert st == 200 and body["count"] > 0
    st, body, _ = a.get("/v1/config", token=READ_TOKEN)
    text = json.dumps(body)
    assert SIG_TOKEN not in text and READ_TOKEN not in text
    assert [t["name"] for t in body["tokens"]] == ["ops", "viewer", "debug"]


def test_environ_only_with_the_scope(procs, tmp_path, victim):
    a = start_k2i(procs, config=CONFIG, tmp_path=tmp_path)
    st, p, _ = a.get(f"/v1/proc/{victim.pid}?fields=all")
    assert st == 200 and "environ" not in p
    assert "hunter2" not in json.dumps(p)
    st, body, _ = a.get(f"/v1/proc/{victim.pid}?fields=pid,environ")
    assert st == 401
    st, body, _ = a.get(f"/v1/proc/{victim.pid}?fields=pid,environ", token=SIG_TOKEN)
    assert st == 403 and "environ" in body["error"]["message"]
    # The HTTP process cannot read it itself (root-owned, 0400): the
    # privileged parent opens it and passes the fd.
    st, p, _ = a.get(f"/v1/proc/{victim.pid}?fields=pid,environ", token=ENV_TOKEN)
    assert st == 200, p
    assert p["environ"]["K2I_SECRET_MARKER"] == "hunter2"
    st, body, _ = a.get(f"/v1/proc?pid={victim.pid}&fields=pid,environ", token=ENV_TOKEN)
    assert body["processes"][0]["environ"]["K2I_SECRET_MARKER"] == "hunter2"


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def test_privsep_http_process_is_unprivileged(procs):
    a = start_k2i(procs)
    st, info, _ = a.get("/v1/")
    child = info["pid"]
    assert info["privsep"] is True and child != a.proc.pid
    s = proc_status(child)
    assert s["Uid"] == ["65534"] * 4, s["Uid"]
    assert s["Gid"] == ["65534"] * 4
    assert s["Groups"] == []
    assert s["CapEff"] == ["0000000000000000"]
    assert s["CapPrm"] == ["0000000000000000"]
    assert s["CapBnd"] == ["0000000000000000"]
    assert s["NoNewPrivs"] == ["1"]
    # Sanitizer builds run k2i without seccomp (scripts/check-sanitized).
    sanitized = bool(os.environ.get("KUMO_SANITIZED"))
    assert s["Seccomp"] == ["0" if sanitized else "2"]  # 2: filter mode
    assert info["seccomp"] is not sanitized
    assert int(s["PPid"][0]) == a.proc.pid
    parent = proc_status(a.proc.pid)
    assert parent["Uid"][0] == "0"
    st, cfg, _ = a.get("/v1/config")
    assert cfg["privsep"] is True and cfg["user"] == "nobody"


def test_sigterm_exits_cleanly(procs):
    a = start_k2i(procs)
    st, info, _ = a.get("/v1/")
    child = info["pid"]
    a.proc.p.send_signal(signal.SIGTERM)
    assert a.proc.p.wait(timeout=10) == 0
    assert not os.path.exists(f"/proc/{child}") or proc_status(child).get("State", ["Z"])[0] == "Z"
    with pytest.raises(OSError):
        socket.create_connection((a.host, a.port), timeout=1).close()


def test_no_privsep_flag(procs, victim):
    a = start_k2i(procs, "--no-privsep")
    st, info, _ = a.get("/v1/")
    assert info["privsep"] is False and info["pid"] == a.proc.pid
    st, p, _ = a.get(f"/v1/proc/{victim.pid}?fields=namespaces")
    assert p["namespaces"]["net"] == os.stat(f"/proc/{victim.pid}/ns/net").st_ino


def test_unix_socket_listener(procs, tmp_path):
    path = str(tmp_path / "k2i.sock")
    pr = procs([binary("k2i"), "--listen", f"unix:{path}", "--listen", "127.0.0.1:0"])
    from test_k2i_api import read_listen_line
    lines = [read_listen_line(pr), read_listen_line(pr)]
    assert f"k2i: listening on unix:{path}" in lines
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"GET /v1/host HTTP/1.1\r\nHost: k2i\r\nConnection: close\r\n\r\n")
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
    assert buf.startswith(b"HTTP/1.1 200")
    assert json.loads(buf.split(b"\r\n\r\n", 1)[1])["cpus"] == os.cpu_count()
    assert pr.stop() == 0
    assert not os.path.exists(path)


def test_tls(procs, tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)  # root-only: read by the parent before the drop
    pr = procs([binary("k2i"), "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key])
    from test_k2i_api import read_listen_line
    line = read_listen_line(pr)
    m = re.fullmatch(r"k2i: listening on https://(\S+)", line)
    assert m, line
    ctx = ssl.create_default_context(cafile=cert)
    with urllib.request.urlopen(f"https://{m.group(1)}/v1/host", context=ctx, timeout=10) as r:
        assert r.status == 200
        assert json.loads(r.read())["cpus"] == os.cpu_count()
    # Plain HTTP to the TLS port gets no HTTP answer.
    host, port = m.group(1).rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"GET /v1/ HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(100)
        except OSError:
            data = b""
    assert not data.startswith(b"HTTP/1.1 200")
    # An untrusted client is refused by the TLS handshake.
    with pytest.raises(Exception):
        urllib.request.urlopen(f"https://{m.group(1)}/v1/", timeout=5)


def test_bad_config_is_one_line_error(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"tokens":[{"token":"short"}]}')
    r = subprocess.run([binary("k2i"), "--config", str(path)], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1
    assert r.stderr.startswith("k2i: config '") and "16.." in r.stderr
    r = subprocess.run([binary("k2i"), "--listen", "nonsense"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 1 and r.stderr.startswith("k2i: ")
    r = subprocess.run([binary("k2i"), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and r.stdout.startswith("k2i ")
    r = subprocess.run([binary("k2i"), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "--listen" in r.stdout


def test_container_id_from_kumo_cgroup(procs, victim):
    """A process in a cgroup named kumo/<id> carries that container id."""
    base = "/sys/fs/cgroup/pids"
    if not os.path.isdir(base):
        base = "/sys/fs/cgroup"
        if not os.path.exists(os.path.join(base, "cgroup.procs")):
            pytest.skip("no writable pids or cgroup2 hierarchy")
    cid = f"k2itest-{os.getpid()}"
    kumo = os.path.join(base, "kumo")
    made_kumo = not os.path.isdir(kumo)
    path = os.path.join(kumo, cid)
    os.makedirs(path)
    try:
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(victim.pid))
        a = start_k2i(procs)
        st, p, _ = a.get(f"/v1/proc/{victim.pid}?fields=pid,container")
        assert p["container"] == cid
        st, body, _ = a.get(f"/v1/proc?container={cid}&fields=pid")
        assert [x["pid"] for x in body["processes"]] == [victim.pid]
    finally:
        victim.kill()
        victim.wait()
        for _ in range(50):
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.05)
        if made_kumo:
            try:
                os.rmdir(kumo)
            except OSError:
                pass
