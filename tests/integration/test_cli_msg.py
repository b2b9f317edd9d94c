# SPDX-License-Identifier: Apache-2.0
"""kumo msg end to end against a real middlecon broker: listen, send, direct,
request (gather with answering, silent and exec'd members), who, tokens,
Unix sockets, and listeners that survive a broker restart."""
import json
import os
import subprocess
import time

import pytest

from conftest import binary, free_port, terminate, wait_port

ROOM = "lobby"


class Bg:
    """A background process whose output goes to files (so tests can poll
    them without pipes filling up); stopped by PID at teardown."""

    def __init__(self, argv, tmp, tag, env=None):
        self.out_path = os.path.join(tmp, f"{tag}.out")
        self.err_path = os.path.join(tmp, f"{tag}.err")
        self.out_f = open(self.out_path, "w")
        self.err_f = open(self.err_path, "w")
        self.p = subprocess.Popen(argv, stdout=self.out_f, stderr=self.err_f, env=env)
        self.pid = self.p.pid

    def out(self):
        with open(self.out_path) as f:
            return f.read()

    def err(self):
        with open(self.err_path) as f:
            return f.read()

    def wait_for(self, text, where="out", timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in (self.out() if where == "out" else self.err()):
                return True
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not seen in {where} of {self.p.args} "
                             f"(rc={self.p.poll()}); out={self.out()!r} err={self.err()!r}")

    def stop(self, timeout=5.0):
        terminate(self.p, timeout)
        self.out_f.close()
        self.err_f.close()
        return self.p.returncode


@pytest.fixture
def bg(tmp_path):
    started = []

    def start(argv, tag, env=None):
        b = Bg(argv, str(tmp_path), tag, env)
        started.append(b)
        return b

    yield start
    for b in reversed(started):
        b.stop()


def start_broker(bg, listen, tag="broker", extra=()):
    b = bg([binary("middlecon"), "--listen", listen, "--log-level", "error", *extra], tag)
    if listen.startswith("unix:"):
        deadline = time.monotonic() + 10
        while not os.path.exists(listen[5:]) and time.monotonic() < deadline:
            time.sleep(0.02)
    else:
        host, port = listen.rsplit(":", 1)
        wait_port(host, int(port))
    return b


@pytest.fixture
def broker(bg):
    addr = f"127.0.0.1:{free_port()}"
    start_broker(bg, addr)
    return addr


def msg(server, *args, timeout=15, env=None):
    return subprocess.run([binary("kumo"), "msg", "--server", server, *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def listener(bg, server, name, *extra, room=ROOM):
    lst = bg([binary("kumo"), "msg", "--server", server, "listen", room, "--name", name, *extra],
             f"listen-{name}")
    lst.wait_for(f"listening on '{room}' as '{name}'", where="err")
    return lst


def test_send_reaches_every_other_member(bg, broker):
    a = listener(bg, broker, "a")
    b = listener(bg, broker, "b")
    r = msg(broker, "--name", "sender", "send", ROOM, "hello room")
    assert r.returncode == 0, r.stderr
    a.wait_for("sender: hello room")
    b.wait_for("sender: hello room")
    # Presence: a saw b join.
    a.wait_for(f"* b joined {ROOM}")
    # A message to a room nobody is in is not an error.
    assert msg(broker, "send", "empty-room", "x").returncode == 0


def test_request_gathers_every_reply(bg, broker):
    listener(bg, broker, "a", "--reply", "answer from a")
    listener(bg, broker, "b", "--reply-exec", "tr a-z A-Z")
    r = msg(broker, "request", ROOM, "status please", "--timeout", "3000")
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.splitlines())
    assert lines == ["a: answer from a", "b: STATUS PLEASE"]

    r = msg(broker, "request", ROOM, "again", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["room"] == ROOM and doc["missing"] == []
    assert sorted((x["from"], x["data"]) for x in doc["replies"]) == [
        ("a", "answer from a"), ("b", "AGAIN")]


def test_request_lists_silent_members_and_exits_2(bg, broker):
    listener(bg, broker, "a", "--reply", "A")
    listener(bg, broker, "b", "--reply", "B")
    c = listener(bg, broker, "c")  # never answers
    t0 = time.monotonic()
    r = msg(broker, "request", ROOM, "who is there", "--timeout", "500")
    elapsed = time.monotonic() - t0
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert sorted(r.stdout.splitlines()) == ["a: A", "b: B", "c: (no answer: timeout)"]
    assert "1 of 3 members did not answer" in r.stderr
    # The gather ends at its timeout, not later.
    assert elapsed < 3.0
    # The silent member did receive the request.
    c.wait_for("(request): who is there")

    r = msg(broker, "request", ROOM, "again", "--timeout", "300", "--json")
    assert r.returncode == 2
    doc = json.loads(r.stdout)
    assert doc["missing"] == [{"name": "c", "reason": "timeout"}]
    assert len(doc["replies"]) == 2


def test_request_any_and_session(bg, broker):
    listener(bg, broker, "a", "--reply", "A")
    listener(bg, broker, "b", "--reply", "B")
    seen = set()
    for _ in range(4):
        r = msg(broker, "request", "--any", ROOM, "one of you")
        assert r.returncode == 0, r.stderr
        seen.add(r.stdout.strip())
    assert seen == {"a: A", "b: B"}  # round-robin reaches both
    r = msg(broker, "request", "--session", "b", "just you")
    assert r.returncode == 0 and r.stdout.strip() == "b: B"
    r = msg(broker, "request", "--session", "nobody", "x")
    assert r.returncode == 1 and "nobody" in r.stderr
    r = msg(broker, "request", "--any", "empty-room", "x")
    assert r.returncode == 1 and "empty-room" in r.stderr


def test_direct_and_who(bg, broker):
    a = listener(bg, broker, "a")
    listener(bg, broker, "b")
    r = msg(broker, "--name", "boss", "direct", "a", "psst")
    assert r.returncode == 0, r.stderr
    a.wait_for("boss (direct): psst")

    r = msg(broker, "who", ROOM)
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split() == ["NAME", "ATTRIBUTES"]
    names = sorted(row.split()[0] for row in rows[1:])
    assert names == ["a", "b"]
    assert "role=kumo-msg" in rows[1]

    r = msg(broker, "who", ROOM, "--json")
    doc = json.loads(r.stdout)
    members = {m["name"]: m["attrs"] for m in doc["members"]}
    assert set(members) == {"a", "b"}
    assert members["a"]["pid"] == str(a.pid)

    r = msg(broker, "who", "no-such-room", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["members"] == []


def test_reply_exec_gets_payload_and_sender(bg, broker):
    listener(bg, broker, "x", "--reply-exec",
             'printf "%s|%s|" "$KUMO_MSG_FROM" "$KUMO_MSG_ROOM"; wc -c')
    r = msg(broker, "--name", "asker", "request", ROOM, "12345")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"x: asker|{ROOM}|5"


def test_listener_survives_broker_restart(bg, tmp_path):
    port = free_port()
    addr = f"127.0.0.1:{port}"
    first = start_broker(bg, addr, "broker1")
    lst = listener(bg, addr, "survivor", "--reply", "still here")
    r = msg(addr, "request", ROOM, "before", "--timeout", "2000")
    assert r.returncode == 0 and r.stdout.strip() == "survivor: still here"

    assert first.stop() == 0
    lst.wait_for("connection to", where="err")
    start_broker(bg, addr, "broker2")
    lst.wait_for("reconnected", where="err", timeout=15)
    # The listener re-joined its room on the new broker and answers again.
    deadline = time.monotonic() + 10
    while True:
        r = msg(addr, "request", ROOM, "after", "--timeout", "1000")
        if r.returncode == 0 and r.stdout.strip() == "survivor: still here":
            break
        assert time.monotonic() < deadline, (r.returncode, r.stdout, r.stderr)
        time.sleep(0.1)
    assert lst.p.poll() is None
    assert msg(addr, "who", ROOM).stdout.count("survivor") == 1


def test_token_unix_socket_and_env_default(bg, tmp_path):
    sock = str(tmp_path / "mc.sock")
    start_broker(bg, f"unix:{sock}", extra=("--token", "s3cret"))
    server = f"unix:{sock}"
    r = msg(server, "who", ROOM)
    assert r.returncode == 1
    assert "Permission denied" in r.stderr and server in r.stderr
    listener(bg, server, "u", "--token", "s3cret", "--reply", "via unix")
    env = dict(os.environ, KUMO_MIDDLECON=server, KUMO_MIDDLECON_TOKEN="s3cret")
    r = subprocess.run([binary("kumo"), "msg", "request", ROOM, "hi"], capture_output=True,
                       text=True, timeout=15, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "u: via unix"


def test_name_taken_and_usage_errors(bg, broker):
    listener(bg, broker, "dup")
    r = msg(broker, "--name", "dup", "send", ROOM, "x")
    assert r.returncode == 1 and "Address already in use" in r.stderr

    port = free_port()  # nothing listens there
    r = msg(f"127.0.0.1:{port}", "send", ROOM, "x")
    assert r.returncode == 1
    assert f"connect to '127.0.0.1:{port}'" in r.stderr and "refused" in r.stderr

    assert msg(broker, "request", ROOM, "x", "--timeout", "0").returncode == 1
    assert msg(broker, "frobnicate").returncode == 1
    assert msg(broker, "send", ROOM).returncode == 1
    assert msg(broker, "listen", ROOM, "--reply", "a", "--reply-exec", "b").returncode == 1
    assert msg(broker, "send", "bad room", "x").returncode == 1
    r = subprocess.run([binary("kumo"), "msg", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "request ROOM TEXT" in r.stdout


def test_idle_listener_keeps_its_session(bg):
    # The broker pings idle sessions every 200 ms and drops those silent for
    # 400 ms; an idle listener must answer (and ping) and stay connected.
    addr = f"127.0.0.1:{free_port()}"
    start_broker(bg, addr, extra=("--keepalive", "200ms"))
    lst = listener(bg, addr, "idler", "--reply", "awake")
    time.sleep(1.5)
    r = msg(addr, "--name", "poker", "send", ROOM, "still there?")
    assert r.returncode == 0, r.stderr
    lst.wait_for("poker: still there?")
    r = msg(addr, "request", ROOM, "q")
    assert r.returncode == 0 and r.stdout.strip() == "idler: awake"
    assert "lost" not in lst.err()


def test_listen_json_lines(bg, broker):
    lst = listener(bg, broker, "j", "--json", "--reply", "r")
    listener(bg, broker, "k")
    assert msg(broker, "--name", "s", "send", ROOM, 'quote " and\nnewline').returncode == 0
    assert msg(broker, "--name", "q", "request", ROOM, "ask", "--timeout", "300").returncode == 2
    lst.wait_for('"type":"request"')
    events = [json.loads(line) for line in lst.out().splitlines()]
    assert {"type": "join", "room": ROOM, "from": "k"} in events
    assert {"type": "message", "room": ROOM, "from": "s",
            "data": 'quote " and\nnewline'} in events
    assert {"type": "request", "room": ROOM, "from": "q", "data": "ask"} in events
