# SPDX-License-Identifier: Apache-2.0
"""middlecon over TLS, end to end with real processes: tls:// listeners with
kumo msg (send, request/gather, who, stats, reconnect), certificate and host
name verification, client certificates, hostile input on the TLS port
(plaintext clients, garbage, a handshake that never completes), two brokers
peered over TLS, and a recording proxy showing that tokens and payloads do
not cross the wire in clear. Certificates are made in the test with openssl."""
import os
import select
import shutil
import socket
import subprocess
import threading
import time

import pytest

import mcproto as m
from conftest import binary, free_port, terminate
from mcbroker import Broker, stop_all, wait_until

ROOM = "lobby"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(d, name):
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
             cwd=d)


def _cert(d, name, ca, san):
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    with open(os.path.join(d, f"{name}.ext"), "w") as f:
        f.write(f"subjectAltName={san}\n")
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
             cwd=d)


class Certs:
    def __init__(self, d):
        self.d = d

    def __getattr__(self, name):
        # certs.ca -> <dir>/ca.pem, certs.server_key -> <dir>/server.key
        if name.endswith("_key"):
            return os.path.join(self.d, name[:-4] + ".key")
        return os.path.join(self.d, name + ".pem")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("tls"))
    _ca(d, "ca")
    _ca(d, "other")
    _cert(d, "server", "ca", "IP:127.0.0.1,DNS:localhost")
    _cert(d, "wrongname", "ca", "DNS:elsewhere.example")
    _cert(d, "client", "ca", "DNS:client")
    _cert(d, "stranger", "other", "DNS:client")
    return Certs(d)


@pytest.fixture
def started():
    bs = []
    yield bs
    stop_all(bs)


def tls_broker(started, certs, *extra, port=None, cert="server", plain=True):
    args = ["--listen", f"tls://127.0.0.1:{port or 0}", "--tls-cert", getattr(certs, cert),
            "--tls-key", getattr(certs, cert + "_key"), "--http", "127.0.0.1:0",
            "--log-level", "error", *extra]
    if plain:
        args = ["--listen", "127.0.0.1:0"] + args
    b = Broker(args)
    started.append(b)
    return b


def msg(server, *args, ca=None, cert=None, timeout=15):
    tls = []
    if ca:
        tls += ["--tls-ca", ca]
    if cert:
        tls += ["--tls-cert", cert[0], "--tls-key", cert[1]]
    return subprocess.run([binary("kumo"), "msg", "--server", server, *tls, *args],
                          capture_output=True, text=True, timeout=timeout)


class Bg:
    """A background kumo msg whose stderr goes to a file; stopped by PID."""

    def __init__(self, argv, path):
        self.path = path
        self.f = open(path, "w")
        self.p = subprocess.Popen(argv, stdout=self.f, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.path) as f:
            return f.read()

    def wait_for(self, s, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if s in self.text():
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"{s!r} not seen (rc={self.p.poll()}): {self.text()!r}")

    def stop(self):
        terminate(self.p, 5.0)
        self.f.close()


@pytest.fixture
def bg(tmp_path):
    started = []

    def start(server, name, *extra, ca=None, cert=None):
        tls = ["--tls-ca", ca] if ca else []
        if cert:
            tls += ["--tls-cert", cert[0], "--tls-key", cert[1]]
        b = Bg([binary("kumo"), "msg", "--server", server, *tls, "listen", ROOM, "--name", name,
                *extra], str(tmp_path / f"{name}.log"))
        started.append(b)
        b.wait_for(f"listening on '{ROOM}' as '{name}'")
        return b

    yield start
    for b in reversed(started):
        b.stop()


def test_send_request_who_stats_over_tls(started, certs, bg):
    b = tls_broker(started, certs)
    server = "tls://" + b.tls[0]
    w1 = bg(server, "w1", "--reply", "one", ca=certs.ca)
    bg(server, "w2", "--reply", "two", ca=certs.ca)
    # A plaintext member of the same broker is part of the same bus.
    plain = "%s:%d" % b.addr
    bg(plain, "w3", "--reply", "three")

    r = msg(server, "request", ROOM, "status?", ca=certs.ca)
    assert r.returncode == 0, r.stderr
    assert sorted(r.stdout.split("\n")[:3]) == ["w1: one", "w2: two", "w3: three"]

    r = msg(server, "send", ROOM, "hello over tls", ca=certs.ca)
    assert r.returncode == 0, r.stderr
    w1.wait_for("hello over tls")

    r = msg(server, "who", ROOM, ca=certs.ca)
    assert r.returncode == 0 and all(n in r.stdout for n in ("w1", "w2", "w3")), r.stdout

    # The host name (not just the IP) is verified against the certificate.
    r = msg("tls://localhost:" + b.tls[0].rsplit(":", 1)[1], "stats", ca=certs.ca)
    assert r.returncode == 0, r.stderr
    st = b.get("/stats")
    assert st["tls_handshakes"] >= 6 and st["tls_handshakes_failed"] == 0


def test_large_payloads_span_many_records(started, certs, bg):
    # 100 KB each way: several 16 KiB records per frame, read back in pieces
    # that leave input pending inside GnuTLS on both sides.
    b = tls_broker(started, certs, plain=False)
    server = "tls://" + b.tls[0]
    bg(server, "echo", "--reply-exec", "cat", ca=certs.ca)
    body = "".join(chr(ord("a") + i % 26) for i in range(100000))
    for _ in range(3):
        r = msg(server, "request", ROOM, body, ca=certs.ca)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "echo: " + body


def test_slow_tls_reader_gets_every_frame_in_order(started, certs):
    # 8 MB to a reader with a tiny receive buffer: the broker's record
    # writes come back short (GnuTLS: EAGAIN) again and again; each staged
    # record must be offered again unchanged, so the reader sees every
    # frame, whole and in order.
    import ssl
    b = tls_broker(started, certs, "--max-outbuf", "32M")
    host, port = b.tls[0].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=certs.ca)
    n, pad = 8000, b"x" * 1000
    with m.Session((host, int(port)), name="slow", tls=ctx, rcvbuf=4096, timeout=20) as slow, \
            m.Session(b.addr, name="fast") as fast:
        slow.join(ROOM)
        for i in range(n):
            fast.send(m.MSG, room=ROOM, payload=b"%05d" % i + pad)
        fast.wait_id(fast.send(m.PING), types=(m.PONG,))
        time.sleep(0.3)
        for i in range(n):
            f = slow.next(m.MSG, timeout=20)
            assert f["payload"] == b"%05d" % i + pad, (i, f["payload"][:5])
    assert b.get("/stats")["drops"] == 0


def test_wrong_ca_and_wrong_name_are_refused(started, certs):
    b = tls_broker(started, certs, plain=False)
    server = "tls://" + b.tls[0]
    r = msg(server, "who", ROOM, ca=certs.other)
    assert r.returncode == 1
    assert "NOT trusted" in r.stderr and server in r.stderr, r.stderr

    b2 = tls_broker(started, certs, cert="wrongname", plain=False)
    r = msg("tls://" + b2.tls[0], "who", ROOM, ca=certs.ca)
    assert r.returncode == 1
    assert "does not match" in r.stderr, r.stderr

    # A plaintext client on the TLS port gets a reset, not a hang.
    r = msg(b.tls[0], "who", ROOM)
    assert r.returncode == 1
    # A TLS client on a plaintext port is told the same way.
    b3 = Broker(["--listen", "127.0.0.1:0", "--log-level", "error"])
    started.append(b3)
    r = msg("tls://%s:%d" % b3.addr, "who", ROOM, ca=certs.ca)
    assert r.returncode == 1 and "TLS" in r.stderr, r.stderr
    assert all(x.alive() for x in (b, b2, b3))


def test_missing_ca_file_is_reported(certs):
    r = msg("tls://127.0.0.1:1", "who", ROOM, ca="/nonexistent/ca.pem")
    assert r.returncode == 1 and "No such file" in r.stderr, r.stderr
    r = subprocess.run([binary("middlecon"), "--listen", "tls://127.0.0.1:0"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "--tls-cert" in r.stderr, r.stderr


def test_hostile_input_on_tls_port_leaves_others_alone(started, certs, bg):
    b = tls_broker(started, certs, plain=False)
    server = "tls://" + b.tls[0]
    bg(server, "keeper", "--reply", "fine", ca=certs.ca)
    host, port = b.tls[0].rsplit(":", 1)

    # A plaintext HELLO, then garbage of several sizes, then a fake TLS
    # record header that claims a huge record.
    junk = [m.encode(m.HELLO, 1, version=m.VERSION, name="plain"), os.urandom(70000),
            b"\x00" * 5, b"\x16\x03\x01\xff\xff" + os.urandom(3000)]
    for data in junk:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            try:
                s.sendall(data)
                s.settimeout(5)
                while s.recv(4096):
                    pass
            except OSError:
                pass  # reset by the broker: expected
    r = msg(server, "request", ROOM, "still ok?", ca=certs.ca)
    assert r.returncode == 0 and r.stdout.strip() == "keeper: fine", r.stderr
    assert b.alive()
    assert b.get("/stats")["tls_handshakes_failed"] >= len(junk)


def test_handshake_that_never_completes_is_timed_out(started, certs, bg):
    # The handshake deadline is the HELLO deadline: min(10 s, --keepalive).
    b = tls_broker(started, certs, "--keepalive", "1s", plain=False)
    host, port = b.tls[0].rsplit(":", 1)
    slow = []
    for _ in range(3):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(b"\x16\x03\x01\x02\x00\x01")  # the first bytes of a ClientHello
        slow.append(s)
    bg("tls://" + b.tls[0], "keeper", "--reply", "fine", ca=certs.ca)
    t0 = time.monotonic()
    for s in slow:
        try:
            assert s.recv(100) == b""
        except ConnectionResetError:
            pass
        s.close()
    assert time.monotonic() - t0 < 8
    st = b.get("/stats")
    assert st["tls_handshake_timeouts"] >= 3
    r = msg("tls://" + b.tls[0], "request", ROOM, "x", ca=certs.ca)
    assert r.returncode == 0 and r.stdout.strip() == "keeper: fine", r.stderr


def test_client_certificate_required(started, certs, bg):
    b = tls_broker(started, certs, "--tls-client-ca", certs.ca, plain=False)
    server = "tls://" + b.tls[0]
    good = (certs.client, certs.client_key)
    r = msg(server, "who", ROOM, ca=certs.ca)
    assert r.returncode == 1, r.stdout
    assert "Key was rejected" in r.stderr and "Certificate is required" in r.stderr, r.stderr
    r = msg(server, "who", ROOM, ca=certs.ca, cert=(certs.stranger, certs.stranger_key))
    assert r.returncode == 1, r.stdout
    assert "Key was rejected" in r.stderr, r.stderr
    bg(server, "holder", "--reply", "cert ok", ca=certs.ca, cert=good)
    r = msg(server, "request", ROOM, "q", ca=certs.ca, cert=good)
    assert r.returncode == 0 and r.stdout.strip() == "holder: cert ok", r.stderr
    assert b.get("/stats")["tls_handshakes_failed"] >= 1


def test_two_brokers_peered_over_tls(started, certs, bg):
    p1, p2 = free_port(), free_port()
    common = ["--tls-ca", certs.ca, "--tls-client-ca", certs.ca]
    b1 = tls_broker(started, certs, "--name", "b1", "--peer", f"tls://127.0.0.1:{p2}", *common,
                    port=p1, plain=False)
    b2 = tls_broker(started, certs, "--name", "b2", "--peer", f"tls://localhost:{p1}", *common,
                    port=p2, plain=False)
    for b in (b1, b2):
        wait_until(lambda b=b: all(p["connected"] for p in b.get("/stats")["peers"]),
                   what="peer links up")
    cert = (certs.client, certs.client_key)
    bg(f"tls://127.0.0.1:{p1}", "m1", "--reply", "from b1", ca=certs.ca, cert=cert)
    bg(f"tls://127.0.0.1:{p2}", "m2", "--reply", "from b2", ca=certs.ca, cert=cert)
    deadline = time.monotonic() + 10
    while True:
        r = msg(f"tls://127.0.0.1:{p1}", "request", ROOM, "all?", ca=certs.ca, cert=cert)
        lines = sorted(r.stdout.strip().split("\n"))
        if r.returncode == 0 and lines == ["m1: from b1", "m2: from b2"]:
            break
        assert time.monotonic() < deadline, (r.returncode, r.stdout, r.stderr)
        time.sleep(0.1)


def test_peer_with_untrusted_certificate_is_not_linked(started, certs):
    p1, p2 = free_port(), free_port()
    b2 = tls_broker(started, certs, "--name", "b2", cert="server", port=p2, plain=False)
    b1 = tls_broker(started, certs, "--name", "b1", "--peer", f"tls://127.0.0.1:{p2}",
                    "--tls-ca", certs.other, "--log-level", "warn", port=p1, plain=False)
    time.sleep(1.0)
    assert not b1.get("/stats")["peers"][0]["connected"]
    assert b2.get("/stats")["tls_handshakes_failed"] >= 1
    assert "NOT trusted" in b1.stderr()


class Recorder:
    """A TCP proxy on loopback that keeps every byte it forwards."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.seen = bytearray()
        self.stop_r, self.stop_w = os.pipe()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        pairs = {}
        while True:
            r, _, _ = select.select([self.lsock, self.stop_r, *pairs], [], [], 1.0)
            if self.stop_r in r:
                break
            for s in r:
                if s is self.lsock:
                    c, _ = self.lsock.accept()
                    u = socket.create_connection(self.target, timeout=5)
                    pairs[c], pairs[u] = u, c
                    continue
                if s not in pairs:
                    continue  # closed with its partner earlier in this round
                try:
                    data = s.recv(65536)
                    if data:
                        self.seen += data
                        pairs[s].sendall(data)
                        continue
                except OSError:
                    pass
                other = pairs.pop(s)
                pairs.pop(other, None)
                s.close()
                other.close()
        for s in pairs:
            s.close()
        self.lsock.close()

    def close(self):
        os.write(self.stop_w, b"x")
        self.t.join(5)
        os.close(self.stop_r)
        os.close(self.stop_w)


def test_tls_traffic_is_encrypted(started, certs, bg):
    token, payload = "tok-SECRET-4f2a91", "payload-PRIVATE-77c3"
    b = tls_broker(started, certs, "--token", token)
    bg("tls://" + b.tls[0], "rx", "--token", token, "--reply", "ok", ca=certs.ca)
    host, port = b.tls[0].rsplit(":", 1)
    for target, scheme, expect_clear in ((b.addr, "", True), ((host, int(port)), "tls://", False)):
        rec = Recorder(target)
        try:
            ca = ["--tls-ca", certs.ca] if scheme else []
            r = subprocess.run([binary("kumo"), "msg", "--server",
                                f"{scheme}127.0.0.1:{rec.port}", *ca,
                                "--token", token, "request", ROOM, payload],
                               capture_output=True, text=True, timeout=15)
            assert r.returncode == 0 and r.stdout.strip() == "rx: ok", r.stderr
        finally:
            rec.close()
        seen = bytes(rec.seen)
        assert len(seen) > 100
        # The plaintext run proves the recorder sees the frames.
        assert (token.encode() in seen) == expect_clear
        assert (payload.encode() in seen) == expect_clear


def test_listener_reconnects_over_tls(started, certs, bg):
    port = free_port()
    b = tls_broker(started, certs, port=port, plain=False)
    server = f"tls://127.0.0.1:{port}"
    lst = bg(server, "survivor", "--reply", "still here", ca=certs.ca)
    assert b.stop() == 0
    started.remove(b)
    lst.wait_for("connection to")
    tls_broker(started, certs, port=port, plain=False)
    lst.wait_for("reconnected", timeout=15)
    deadline = time.monotonic() + 10
    while True:
        r = msg(server, "request", ROOM, "after", "--timeout", "1000", ca=certs.ca)
        if r.returncode == 0 and r.stdout.strip() == "survivor: still here":
            break
        assert time.monotonic() < deadline, (r.returncode, r.stdout, r.stderr)
        time.sleep(0.1)


def test_frame_after_a_large_one_in_the_same_record_is_not_stranded(started, certs, bg):
    # The broker coalesces queued frames into 16 KiB records, so the tail of
    # a ~300 KB message and a short one after it share a record. The client
    # reads only the tail into its frame-sized buffer; the short message
    # stays decrypted inside GnuTLS, where epoll cannot see it. It must be
    # delivered now, not when the next bytes happen to arrive.
    b = tls_broker(started, certs)
    rx = bg("tls://" + b.tls[0], "rx", ca=certs.ca)
    with m.Session(b.addr, name="tx") as tx:
        for i in range(3):
            tx.send(m.MSG, room=ROOM, payload=b"b" * 300000)
            tx.send(m.MSG, room=ROOM, payload=b"short-after-big-%d" % i)
            deadline = time.monotonic() + 3
            while "short-after-big-%d" % i not in rx.text():
                # (not wait_for(): its message would quote the 300 KB lines)
                assert time.monotonic() < deadline, "message %d stranded" % i
                time.sleep(0.02)


def test_tls_options_without_a_tls_server_are_refused(started, certs):
    # --tls-ca asks for a verified broker: a plaintext --server must not
    # quietly carry the token in clear instead.
    b = tls_broker(started, certs)
    plain = "%s:%d" % b.addr
    before = b.get("/stats")["sessions_total"]
    for extra in (dict(ca=certs.ca), dict(cert=(certs.client, certs.client_key))):
        r = msg(plain, "--token", "tok-in-clear", "stats", **extra)
        assert r.returncode == 1, (r.stdout, r.stderr)
        assert "tls://" in r.stderr, r.stderr
    assert b.get("/stats")["sessions_total"] == before


def test_client_ca_without_a_tls_listener_is_refused(certs):
    # --tls-client-ca promises that clients are authenticated: with only
    # plaintext listeners nothing would check them, so the broker must not
    # start rather than run open.
    r = subprocess.run([binary("middlecon"), "--listen", "127.0.0.1:0", "--tls-cert",
                        certs.server, "--tls-key", certs.server_key, "--tls-client-ca", certs.ca],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "--tls-client-ca" in r.stderr, (r.returncode, r.stderr)
