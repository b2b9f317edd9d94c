# SPDX-License-Identifier: Apache-2.0
"""middlecon cluster: brokers with static --peer lists form one bus. Three
brokers on loopback, then three brokers in three network namespaces."""
import time

import pytest

import mcproto as m
from conftest import free_port
from mcbroker import Broker, stop_all


def wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except (OSError, m.ProtocolError) as e:
            last = e
        time.sleep(0.05)
    raise TimeoutError(f"{what} not met within {timeout}s ({last})")


@pytest.fixture
def started():
    bs = []
    yield bs
    stop_all(bs)


def mesh(started, hosts, extra=()):
    """Start one broker per (netns, ip, port), each peering with all others."""
    out = []
    for i, (ns, ip, port) in enumerate(hosts):
        args = ["--listen", f"{ip}:{port}", "--name", f"b{i}", "--http", f"{ip}:0"] + list(extra)
        for j, (_, pip, pport) in enumerate(hosts):
            if j != i:
                args += ["--peer", f"{pip}:{pport}"]
        b = Broker(args, netns=ns)
        started.append(b)
        out.append(b)
    for b in out:
        wait_for(lambda b=b: sum(p["connected"] for p in b.get("/stats")["peers"]) ==
                 len(hosts) - 1, what=f"{b.listen[0]} links up")
    return out


def serve_bg(sess, fn, n=1):
    import threading
    t = threading.Thread(target=lambda: sess.serve(fn, n, timeout=10), daemon=True)
    t.start()
    return t


def test_three_brokers_one_bus(started):
    ports = [free_port() for _ in range(3)]
    bs = mesh(started, [(None, "127.0.0.1", p) for p in ports])
    s = [m.Session(b.addr, name=f"s{i}", attrs={"host": f"h{i}"}) for i, b in enumerate(bs)]
    # Names are unique across the bus.
    wait_for(lambda: all(b.get("/stats")["remote_sessions"] == 2 for b in bs),
             what="sessions announced")
    with pytest.raises(m.ProtocolError) as e:
        m.Session(bs[2].addr, name="s0")
    assert e.value.code == "NAME_TAKEN"
    # Everyone joins one room; presence crosses brokers.
    s[0].join("ops")
    s[1].join("ops")
    p = s[0].next(m.PRESENCE, timeout=5)
    assert (p["op"], p["name"], p["attrs"]) == (m.OP_UP, "s1", {"host": "h1"})
    s[2].join("ops")
    wait_for(lambda: set(s[0].who("ops")) == {"s0", "s1", "s2"}, what="who sees all")
    assert s[1].who("ops")["s2"] == {"host": "h2"}
    # Broadcast reaches remote members, in order, not the sender.
    for i in range(100):
        s[0].msg("ops", f"n{i}")
    for r in (s[1], s[2]):
        assert [r.next(m.MSG)["payload"] for _ in range(100)] == [f"n{i}".encode()
                                                                  for i in range(100)]
    s[0].expect_nothing(m.MSG, 0.1)
    # Direct message to a session on another broker.
    s[2].direct("s0", "hi from b2")
    d = s[0].next(m.DIRECT)
    assert (d["from"], d["payload"]) == ("s2", b"hi from b2")
    # Gather spanning three brokers (requester on b1, members on b0, b1, b2).
    extra = m.Session(bs[1].addr, name="local1")
    extra.join("ops")
    ts = [serve_bg(x, lambda r, x=x: f"{x.name}:{r['from']}") for x in (s[0], s[2], extra)]
    t0 = time.monotonic()
    res = s[1].request("ops", "status?", timeout_ms=3000)
    assert time.monotonic() - t0 < 1.5, "early completion across brokers"
    assert res["replies"] == {"s0": b"s0:s1", "s2": b"s2:s1", "local1": b"local1:s1"}
    assert res["missing"] == {}
    for t in ts:
        t.join(5)
    # Remote members that do not answer: reported, at the timeout.
    t = serve_bg(s[0], lambda r: "only me")
    res = s[1].request("ops", "again", timeout_ms=500)
    assert res["replies"] == {"s0": b"only me"}
    assert res["missing"] == {"s2": "TIMEOUT", "local1": "TIMEOUT"}
    t.join(5)
    s[2].next(m.REQUEST)
    extra.next(m.REQUEST)
    # A remote named session, and any-one-member across the bus.
    t = serve_bg(s[2], lambda r: "direct answer")
    rep = s[0].request("s2", "x", mode=m.MODE_SESSION)
    assert (rep["from"], rep["payload"]) == ("s2", b"direct answer")
    t.join(5)
    counts = {}
    ts = [serve_bg(x, lambda r, x=x: x.name, n=2) for x in (s[0], s[2], extra)]
    for _ in range(6):
        who = s[1].request("ops", "any", mode=m.MODE_ANY)["from"]
        counts[who] = counts.get(who, 0) + 1
    assert counts == {"s0": 2, "s2": 2, "local1": 2}
    for t in ts:
        t.join(5)
    # Leaving is seen remotely; a disconnect too.
    extra.close()
    wait_for(lambda: set(s[0].who("ops")) == {"s0", "s1", "s2"}, what="local1 gone remotely")
    # A broker going down: its members vanish from rooms elsewhere; a gather
    # in flight reports them PEER_DOWN (or GONE) at once.
    fid = s[1].send(m.REQUEST, mode=m.MODE_ALL, timeout_ms=8000, name="ops", payload="last")
    s[2].next(m.REQUEST)
    s[0].reply(s[0].next(m.REQUEST), "b0 fine")
    t0 = time.monotonic()
    bs[2].kill()
    res = s[1].wait_id(fid, timeout=10)
    assert time.monotonic() - t0 < 3, "peer loss noticed quickly"
    assert res["replies"] == {"s0": b"b0 fine"}
    assert res["missing"] == {"s2": "PEER_DOWN"}
    wait_for(lambda: set(s[0].who("ops")) == {"s0", "s1"}, what="b2's members dropped")
    # b2 comes back on the same address: the links re-form and its new
    # sessions are part of the bus again.
    ns, ip, port = None, "127.0.0.1", ports[2]
    args = ["--listen", f"{ip}:{port}", "--name", "b2", "--http", f"{ip}:0",
            "--peer", f"{ip}:{ports[0]}", "--peer", f"{ip}:{ports[1]}"]
    b2 = Broker(args)
    started.append(b2)
    back = m.Session(b2.addr, name="s2")  # the name is free again
    back.join("ops")
    wait_for(lambda: set(s[0].who("ops")) == {"s0", "s1", "s2"}, what="b2 rejoined the bus")
    t = serve_bg(back, lambda r: "back")
    ts = [t, serve_bg(s[0], lambda r: "b0 again")]
    res = s[1].request("ops", "after restart", timeout_ms=3000)
    assert res["replies"] == {"s0": b"b0 again", "s2": b"back"}
    for t in ts:
        t.join(5)


def test_netns_three_hosts_gather(started, netns_hosts):
    hosts = [netns_hosts.add() for _ in range(3)]
    bs = mesh(started, [(ns, ip, 4222) for ns, ip in hosts])
    members = [m.Session((ip, 4222), name=f"node{i}", attrs={"host": ns})
               for i, (ns, ip) in enumerate(hosts)]
    for x in members:
        x.join("cluster")
    wait_for(lambda: len(members[0].who("cluster")) == 3, what="3 members across hosts")
    req = m.Session((hosts[0][1], 4222), name="asker")
    ts = [serve_bg(x, lambda r, x=x: x.name) for x in members[:2]]
    res = req.request("cluster", "who is alive?", timeout_ms=800)
    assert res["replies"] == {"node0": b"node0", "node1": b"node1"}
    assert res["missing"] == {"node2": "TIMEOUT"}
    for t in ts:
        t.join(5)
    members[2].next(m.REQUEST)
    ts = [serve_bg(x, lambda r, x=x: x.name + "!") for x in members]
    res = req.request("cluster", "again", timeout_ms=3000)
    assert res["replies"] == {f"node{i}": f"node{i}!".encode() for i in range(3)}
    assert res["missing"] == {}
    # Cross-host broadcast.
    members[1].msg("cluster", "from host 1")
    assert members[2].next(m.MSG)["payload"] == b"from host 1"
    assert members[0].next(m.MSG)["payload"] == b"from host 1"


def test_peer_link_protocol_and_takeover(started):
    """A scripted peer (mcproto on a PEER link): its announcements appear as
    remote members; a broadcast and a gather are forwarded to it; a second
    link from the same broker id takes its state over, so the first link
    closing late does not erase it; the last link closing does."""
    b = Broker(["--listen", "127.0.0.1:0", "--name", "real"])
    started.append(b)
    local = m.Session(b.addr, name="local")
    local.join("room")

    def peer_link():
        p = m.Session(b.addr, name="fake", flags=m.F_PEER)
        assert p.welcome["broker"] == "real"
        p.send(m.PEER_SESSION, fid=0, op=m.OP_UP, name="ghost", attrs={"host": "far"})
        p.send(m.PEER_MEMBER, fid=0, op=m.OP_UP, room="room", name="ghost")
        # A round trip on the link: the announcements have been processed.
        p.wait_id(p.send(m.PING), types=(m.PONG,))
        return p

    p1 = peer_link()
    ev = local.next(m.PRESENCE)
    assert (ev["op"], ev["name"], ev["attrs"]) == (m.OP_UP, "ghost", {"host": "far"})
    assert local.who("room") == {"local": {}, "ghost": {"host": "far"}}
    with pytest.raises(m.ProtocolError) as e:
        m.Session(b.addr, name="ghost")
    assert e.value.code == "NAME_TAKEN"
    # Forwarding to the peer: broadcast once, gather as one partial request.
    local.msg("room", "to the far side")
    fwd = p1.next(m.MSG)
    assert (fwd["from"], fwd["room"], fwd["payload"]) == ("local", "room", b"to the far side")
    fid = local.send(m.REQUEST, mode=m.MODE_ALL, timeout_ms=2000, name="room", payload="q")
    rq = p1.next(m.REQUEST)
    assert rq["mode"] == m.MODE_ALL and rq["from"] == "local" and rq["timeout_ms"] < 2000
    p1.send(m.GATHER_RESULT, fid=rq["id"], gather=([("ghost", b"from afar")], []))
    res = local.wait_id(fid)
    assert res["replies"] == {"ghost": b"from afar"} and res["missing"] == {}
    # Same broker reconnects on a new link before the old one is gone.
    p2 = peer_link()
    p1.close()
    time.sleep(0.3)
    assert local.who("room") == {"local": {}, "ghost": {"host": "far"}}
    local.expect_nothing(m.PRESENCE, 0.1)
    # A gather whose peer link drops mid-way reports its members PEER_DOWN.
    fid = local.send(m.REQUEST, mode=m.MODE_ALL, timeout_ms=5000, name="room", payload="q")
    p2.next(m.REQUEST)
    t0 = time.monotonic()
    p2.close()
    res = local.wait_id(fid)
    assert res["missing"] == {"ghost": "PEER_DOWN"} and time.monotonic() - t0 < 2
    ev = local.next(m.PRESENCE)
    assert (ev["op"], ev["name"]) == (m.OP_DOWN, "ghost")
    assert local.who("room") == {"local": {}}


def test_peer_tokens(started, tmp_path):
    """With --peer-token, a client token does not make a peer and a peer token
    does not make a client; brokers sharing the peer token still form one bus
    (one of them takes its options from a config file)."""
    ports = [free_port() for _ in range(2)]
    auth = ["--token", "client-secret", "--peer-token", "peer-secret"]
    bs = mesh(started, [(None, "127.0.0.1", ports[0])], extra=auth + [
        "--peer", f"127.0.0.1:{ports[1]}"])
    conf = tmp_path / "b1.conf"
    conf.write_text(f"listen 127.0.0.1:{ports[1]}\nname b1\nhttp 127.0.0.1:0\n"
                    f"peer 127.0.0.1:{ports[0]}\ntoken client-secret\n"
                    "# peers authenticate apart from clients\npeer-token peer-secret\n")
    b1 = Broker(["--config", str(conf)])
    started.append(b1)
    bs.append(b1)
    for b in bs:
        wait_for(lambda b=b: sum(p["connected"] for p in b.get("/stats")["peers"]) == 1,
                 what=f"{b.listen[0]} link up")
    with pytest.raises(m.ProtocolError) as e:
        m.Session(bs[0].addr, name="fake", token="client-secret", flags=m.F_PEER)
    assert e.value.code == "AUTH"
    with pytest.raises(m.ProtocolError) as e:
        m.Session(bs[0].addr, name="intruder", token="peer-secret")
    assert e.value.code == "AUTH"
    with pytest.raises(m.ProtocolError) as e:
        m.Session(bs[0].addr, name="nobody")
    assert e.value.code == "AUTH"
    p = m.Session(bs[0].addr, name="b9", token="peer-secret", flags=m.F_PEER)
    assert p.welcome["broker"] == "b0"
    p.close()
    # The bus across the two brokers still works for clients with the client token.
    a = m.Session(bs[0].addr, name="a", token="client-secret")
    b = m.Session(bs[1].addr, name="b", token="client-secret")
    b.join("r")
    a.join("r")
    wait_for(lambda: set(a.who("r")) == {"a", "b"}, what="who across brokers")
    t = serve_bg(b, lambda r: "b here")
    res = a.request("r", "?", timeout_ms=3000)
    assert res["replies"] == {"b": b"b here"} and res["missing"] == {}
    t.join(5)


def test_peer_token_mismatch_keeps_brokers_apart(started):
    """A broker presenting the wrong peer token is refused: its link never
    comes up and its sessions do not appear on the other side."""
    ports = [free_port() for _ in range(2)]
    b0 = Broker(["--listen", f"127.0.0.1:{ports[0]}", "--name", "b0", "--http", "127.0.0.1:0",
                 "--peer-token", "right", "--peer", f"127.0.0.1:{ports[1]}"])
    started.append(b0)
    b1 = Broker(["--listen", f"127.0.0.1:{ports[1]}", "--name", "b1", "--http", "127.0.0.1:0",
                 "--peer-token", "wrong", "--peer", f"127.0.0.1:{ports[0]}"])
    started.append(b1)
    s = m.Session(b1.addr, name="far")
    s.join("r")
    time.sleep(1.0)
    for b in (b0, b1):
        assert sum(p["connected"] for p in b.get("/stats")["peers"]) == 0
    assert b0.get("/stats")["remote_sessions"] == 0
    assert b0.alive() and b1.alive()
