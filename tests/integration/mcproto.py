# SPDX-License-Identifier: Apache-2.0
"""A small, independent implementation of the middlecon wire protocol
(docs/middlecon-protocol.md) for tests: encode/decode frames and a blocking
client session. It exists so the broker is tested against the spec rather
than against the C client library."""
import socket
import struct
import time

VERSION = 1
HDR = struct.Struct(">IBBHI")

HELLO, WELCOME, ERROR, OK, PING, PONG = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
JOIN, LEAVE, MSG, DIRECT = 0x10, 0x11, 0x12, 0x13
REQUEST, REPLY, GATHER_RESULT = 0x20, 0x21, 0x22
WHO, WHO_RESULT, PRESENCE = 0x30, 0x31, 0x32
STATS, STATS_RESULT = 0x40, 0x41
PEER_SESSION, PEER_MEMBER = 0x50, 0x51
F_PEER = 0x01

MODE_ALL, MODE_ANY, MODE_SESSION = 0, 1, 2
OP_UP, OP_DOWN = 1, 2

E = {1: "BAD_FRAME", 2: "BAD_VERSION", 3: "AUTH", 4: "NAME_TAKEN", 5: "NO_SESSION",
     6: "NO_MEMBERS", 7: "TIMEOUT", 8: "GONE", 9: "OVERFLOW", 10: "TOO_BIG", 11: "LIMIT",
     12: "NOT_MEMBER", 13: "PROTOCOL", 14: "PEER_DOWN", 15: "SHUTDOWN"}
ECODE = {v: k for k, v in E.items()}

# Body layouts, field kinds as in the spec.
LAYOUT = {
    HELLO: [("version", "u16"), ("max_frame", "u32"), ("name", "str"), ("token", "str"),
            ("attrs", "attrs")],
    WELCOME: [("version", "u16"), ("max_frame", "u32"), ("keepalive_ms", "u32"),
              ("name", "str"), ("broker", "str")],
    ERROR: [("code", "u16"), ("subject", "str"), ("message", "str")],
    OK: [], PING: [], PONG: [], STATS: [],
    JOIN: [("room", "str")], LEAVE: [("room", "str")], WHO: [("room", "str")],
    MSG: [("room", "str"), ("from", "str"), ("payload", "blob")],
    DIRECT: [("name", "str"), ("from", "str"), ("payload", "blob")],
    REQUEST: [("mode", "u8"), ("timeout_ms", "u32"), ("name", "str"), ("from", "str"),
              ("payload", "blob")],
    REPLY: [("from", "str"), ("payload", "blob")],
    GATHER_RESULT: [("gather", "gather")],
    WHO_RESULT: [("room", "str"), ("members", "who")],
    PRESENCE: [("op", "u8"), ("room", "str"), ("name", "str"), ("attrs", "attrs")],
    STATS_RESULT: [("payload", "blob")],
    PEER_SESSION: [("op", "u8"), ("name", "str"), ("attrs", "attrs")],
    PEER_MEMBER: [("op", "u8"), ("room", "str"), ("name", "str")],
}


def _b(v):
    return v.encode() if isinstance(v, str) else bytes(v)


def _str(v):
    v = _b(v)
    return struct.pack(">H", len(v)) + v


def _attrs(a):
    a = a or {}
    out = struct.pack(">H", len(a))
    for k, v in a.items():
        out += _str(k) + _str(v)
    return out


def encode(ftype, fid=0, flags=0, **f):
    """Encode one frame; fields by name (missing ones default to empty/0)."""
    body = b""
    for name, kind in LAYOUT[ftype]:
        v = f.get(name)
        if kind == "u8":
            body += struct.pack(">B", v or 0)
        elif kind == "u16":
            body += struct.pack(">H", v or 0)
        elif kind == "u32":
            body += struct.pack(">I", v or 0)
        elif kind == "str":
            body += _str(v or b"")
        elif kind == "blob":
            v = _b(v or b"")
            body += struct.pack(">I", len(v)) + v
        elif kind == "attrs":
            body += _attrs(v)
        elif kind == "gather":
            replies, missing = v or ([], [])
            body += struct.pack(">II", len(replies), len(missing))
            for n, p in replies:
                p = _b(p)
                body += _str(n) + struct.pack(">I", len(p)) + p
            for n, r in missing:
                body += _str(n) + struct.pack(">H", r)
        elif kind == "who":
            body += struct.pack(">I", len(v or []))
            for n, a in v or []:
                body += _str(n) + _attrs(a)
    return HDR.pack(HDR.size + len(body), ftype, flags, 0, fid) + body


class Frame(dict):
    """A decoded frame: .type, .id, .flags plus fields as items."""

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None

    def __repr__(self):
        return f"Frame({type_name(self['type'])}, {dict.__repr__(self)})"


def type_name(t):
    for k, v in globals().items():
        if v == t and k.isupper() and k not in ("VERSION", "F_PEER") and not k.startswith(
                ("MODE_", "OP_")):
            return k
    return hex(t)


def decode_body(ftype, body):
    f = {}
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > len(body):
            raise ValueError("truncated")
        v = body[pos:pos + n]
        pos += n
        return v

    def u(fmt):
        return struct.unpack(fmt, take(struct.calcsize(fmt)))[0]

    def s():
        return take(u(">H")).decode("latin-1")

    def attrs():
        return {s(): s() for _ in range(u(">H"))}

    for name, kind in LAYOUT[ftype]:
        if kind == "u8":
            f[name] = u(">B")
        elif kind == "u16":
            f[name] = u(">H")
        elif kind == "u32":
            f[name] = u(">I")
        elif kind == "str":
            f[name] = s()
        elif kind == "blob":
            f[name] = take(u(">I"))
        elif kind == "attrs":
            f[name] = attrs()
        elif kind == "gather":
            nr, nm = u(">I"), u(">I")
            f["replies"] = {}
            for _ in range(nr):
                n = s()
                f["replies"][n] = take(u(">I"))
            f["missing"] = {}
            for _ in range(nm):
                n = s()
                f["missing"][n] = E.get(u(">H"), "?")
        elif kind == "who":
            f["members"] = {}
            for _ in range(u(">I")):
                n = s()
                f["members"][n] = attrs()
    if pos != len(body):
        raise ValueError("trailing bytes")
    return f


class ProtocolError(Exception):
    def __init__(self, frame):
        self.frame = frame
        self.code = E.get(frame["code"], frame["code"])
        super().__init__(f"{self.code}: {frame['subject']}: {frame['message']}")


class Session:
    """One blocking connection. Frames that are not the awaited answer are
    queued in .inbox (MSG, DIRECT, PRESENCE, REQUEST, ...)."""

    def __init__(self, addr, name="", token="", attrs=None, timeout=5.0, hello=True,
                 max_frame=0, flags=0, tls=None, rcvbuf=0):
        """tls: an ssl.SSLContext to speak TLS to a tls:// listener (host
        name checked against addr[0]); rcvbuf: a small SO_RCVBUF, set before
        connecting, for a reader the broker must wait for."""
        if isinstance(addr, str) and addr.startswith("unix:"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(addr[5:])
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(addr)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if tls:
                self.sock = tls.wrap_socket(self.sock, server_hostname=addr[0])
        self.timeout = timeout
        self.buf = b""
        self.inbox = []
        self.next_id = 1
        self.name = None
        self.welcome = None
        if hello:
            fid = self.send(HELLO, version=VERSION, max_frame=max_frame, name=name, token=token,
                            attrs=attrs, flags=flags)
            f = self.wait_id(fid)
            self.welcome = f
            self.name = f["name"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, ftype, fid=None, flags=0, **f):
        if fid is None:
            fid = self.next_id
            self.next_id += 1
        self.sock.sendall(encode(ftype, fid, flags, **f))
        return fid

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_frame(self, timeout=None):
        """Next frame from the socket (not the inbox); None on EOF."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= n:
                    raw, self.buf = self.buf[:n], self.buf[n:]
                    ln, t, flags, _, fid = HDR.unpack(raw[:HDR.size])
                    fr = Frame(decode_body(t, raw[HDR.size:]))
                    fr["type"], fr["id"], fr["flags"] = t, fid, flags
                    if t == PING:
                        self.sock.sendall(encode(PONG, fid))
                        continue
                    return fr
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame within timeout")
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(1 << 16)
            except socket.timeout:
                raise TimeoutError("no frame within timeout") from None
            if not d:
                return None
            self.buf += d

    def wait_id(self, fid, timeout=None, types=None):
        """Wait for the answer with id fid; raise ProtocolError on ERROR."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                raise ConnectionError("connection closed")
            is_answer = f["id"] == fid and f["type"] in (
                types or (WELCOME, ERROR, OK, REPLY, GATHER_RESULT, WHO_RESULT, STATS_RESULT))
            if is_answer:
                if f["type"] == ERROR:
                    raise ProtocolError(f)
                return f
            self.inbox.append(f)

    def next(self, ftype=None, timeout=None):
        """Next unsolicited frame (of ftype if given), from the inbox first."""
        for i, f in enumerate(self.inbox):
            if ftype is None or f["type"] == ftype:
                return self.inbox.pop(i)
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                raise ConnectionError("connection closed")
            if ftype is None or f["type"] == ftype:
                return f
            self.inbox.append(f)

    def expect_nothing(self, ftype, wait=0.2):
        """Assert that no frame of ftype arrives within wait seconds."""
        try:
            f = self.next(ftype, timeout=wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame {f!r}")

    # Commands
    def join(self, room):
        return self.wait_id(self.send(JOIN, room=room))

    def leave(self, room):
        return self.wait_id(self.send(LEAVE, room=room))

    def msg(self, room, payload, ack=False):
        if ack:
            return self.wait_id(self.send(MSG, room=room, payload=payload))
        self.send(MSG, fid=0, room=room, payload=payload)

    def direct(self, to, payload):
        return self.wait_id(self.send(DIRECT, name=to, payload=payload))

    def who(self, room):
        return self.wait_id(self.send(WHO, room=room))["members"]

    def stats(self):
        import json
        return json.loads(self.wait_id(self.send(STATS))["payload"])

    def request(self, target, payload, mode=MODE_ALL, timeout_ms=1000, wait=None):
        fid = self.send(REQUEST, mode=mode, timeout_ms=timeout_ms, name=target, payload=payload)
        return self.wait_id(fid, timeout=wait if wait is not None else timeout_ms / 1000 + 5)

    def reply(self, req, payload):
        self.send(REPLY, fid=req["id"], payload=payload)

    def serve(self, fn, count=1, timeout=None):
        """Answer count REQUESTs with fn(request) -> payload."""
        for _ in range(count):
            r = self.next(REQUEST, timeout=timeout)
            self.reply(r, fn(r))
