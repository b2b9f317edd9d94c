# SPDX-License-Identifier: Apache-2.0
"""kumo-runtime features checked from inside a busybox container (and outside)."""
import array
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from rtutil import make_bundle, new_id, run_runtime

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)")

ALL_NS = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]


def run_in(rt, tmp_path, script, args=None, **kw):
    """Run script in a fresh container; returns (exit code, stdout, stderr)."""
    b = make_bundle(tmp_path, args or ["sh", "-c", script], **kw)
    cid = new_id()
    extra = kw.pop("_cli", [])
    r = rt("run", *extra, "--bundle", b, cid)
    return r.returncode, r.stdout, r.stderr


def test_namespaces_hostname_domainname_pid(rt, tmp_path):
    host_net = os.readlink("/proc/self/ns/net")
    code, out, err = run_in(
        rt, tmp_path,
        "echo $$; hostname; cat /proc/sys/kernel/domainname; readlink /proc/self/ns/net; "
        "readlink /proc/self/ns/time; ip -o link | wc -l",
        hostname="box1", domainname="example.org",
        namespaces=ALL_NS + [{"type": "time"}])
    assert code == 0, err
    lines = out.split()
    assert lines[0] == "1"
    assert lines[1] == "box1" and lines[2] == "example.org"
    assert lines[3] != host_net
    assert lines[4] != os.readlink("/proc/self/ns/time")
    assert lines[5] == "1"  # only lo in a new network namespace


def test_cgroup_namespace_root(rt, tmp_path):
    code, out, err = run_in(rt, tmp_path, "cat /proc/self/cgroup", namespaces=ALL_NS)
    assert code == 0, err
    for line in out.splitlines():
        assert line.split(":", 2)[2] == "/", out


def test_user_namespace_mapping(rt, tmp_path):
    code, out, err = run_in(
        rt, tmp_path,
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; ls -ln /bin/busybox; "
        "grep -E '^(Uid|Gid)' /proc/self/status; cat /dev/null && echo devnull-ok",
        namespaces=ALL_NS + [{"type": "user"}],
        linux={"uidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
               "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]})
    assert code == 0, err
    maps = out.splitlines()
    assert maps[0].split() == ["0", "200000", "65536"]
    assert maps[1].split() == ["0", "200000", "65536"]
    assert maps[2] == "0" and maps[3] == "0"
    # host root's files are unmapped inside: shown as the overflow uid
    assert maps[4].split()[2] == "65534"
    assert "devnull-ok" in out


def test_user_namespace_seen_from_outside(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"], namespaces=ALL_NS + [{"type": "user"}],
                    linux={"uidMappings": [{"containerID": 0, "hostID": 300000, "size": 1000}],
                           "gidMappings": [{"containerID": 0, "hostID": 300000, "size": 1000}]})
    cid = new_id()
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    pid = rt.state(cid)["pid"]
    status = open(f"/proc/{pid}/status").read()
    uid_line = [ln for ln in status.splitlines() if ln.startswith("Uid:")][0]
    assert uid_line.split()[1:] == ["300000"] * 4


def test_mounts_tmpfs_bind_readonly(rt, tmp_path):
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "f").write_text("from-host")
    code, out, err = run_in(
        rt, tmp_path,
        "grep -E ' /(data|scratch) ' /proc/mounts; cat /data/f; "
        "touch /data/x 2>/dev/null && echo data-writable || echo data-ro; "
        "touch /scratch/x && echo scratch-writable; touch /rootfile 2>/dev/null "
        "&& echo root-writable || echo root-ro",
        readonly=True,
        mounts_add=[{"destination": "/data", "type": "bind", "source": str(host),
                     "options": ["rbind", "ro"]},
                    {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                     "options": ["size=1m", "mode=1777", "nosuid"]}])
    assert code == 0, err
    assert "from-host" in out
    assert "data-ro" in out and "scratch-writable" in out and "root-ro" in out
    scratch = [ln for ln in out.splitlines() if " /scratch " in ln][0]
    assert "tmpfs" in scratch and "nosuid" in scratch and "size=1024k" in scratch
    assert not (host / "x").exists()


def test_masked_and_readonly_paths(rt, tmp_path):
    code, out, err = run_in(
        rt, tmp_path,
        "cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; "
        "echo 1 > /proc/sys/vm/drop_caches 2>/dev/null && echo sys-rw || echo sys-ro; "
        "mkdir -p /opt/secret && echo ok")
    assert code == 0, err
    lines = out.split()
    assert lines[0] == "0" and lines[1] == "0"
    assert "sys-ro" in out


def test_process_user_env_cwd_umask_rlimits(rt, tmp_path):
    code, out, err = run_in(
        rt, tmp_path,
        "id -u; id -g; id -G; pwd; echo $GREETING; umask; ulimit -n; cat /proc/self/oom_score_adj",
        cwd="/tmp", env=["PATH=/bin:/usr/bin", "GREETING=hi-there"],
        user={"uid": 1000, "gid": 1000, "additionalGids": [2000, 3000], "umask": 0o027},
        process={"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 888}],
                 "oomScoreAdj": 345})
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "1000" and lines[1] == "1000"
    assert set(lines[2].split()) >= {"1000", "2000", "3000"}
    assert lines[3] == "/tmp" and lines[4] == "hi-there"
    assert lines[5] == "0027" and lines[6] == "777" and lines[7] == "345"


def test_sysctl_in_network_namespace(rt, tmp_path):
    code, out, err = run_in(rt, tmp_path, "cat /proc/sys/net/ipv4/ip_forward",
                            linux={"sysctl": {"net.ipv4.ip_forward": "1"}})
    assert code == 0, err
    assert out.strip() == "1"
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() in ("0", "1")


def test_spec_devices(rt, tmp_path):
    code, out, err = run_in(
        rt, tmp_path, "ls -ln /dev/mynull /dev/sub/myzero; echo x > /dev/sub/myzero && echo w-ok; "
        "head -c 4 /dev/sub/myzero | wc -c",
        linux={"devices": [
            {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o620,
             "uid": 7, "gid": 8},
            {"path": "/dev/sub/myzero", "type": "c", "major": 1, "minor": 5}]})
    assert code == 0, err
    ls = out.splitlines()
    assert ls[0].startswith("crw--w----") and ls[0].split()[2:4] == ["7", "8"]
    assert "w-ok" in out and out.split()[-1] == "4"


def test_join_network_namespace_by_path(rt, tmp_path):
    name = f"kumo-rt-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        path = f"/var/run/netns/{name}"
        ino = os.stat(path).st_ino
        ns = [n for n in ALL_NS if n["type"] != "network"]
        ns.append({"type": "network", "path": path})
        before = os.readlink("/proc/self/ns/net")
        code, out, err = run_in(rt, tmp_path, "readlink /proc/self/ns/net", namespaces=ns)
        assert code == 0, err
        assert out.strip() == f"net:[{ino}]"
        assert os.readlink("/proc/self/ns/net") == before
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=10)


def test_no_pivot(rt, tmp_path):
    b = make_bundle(tmp_path, ["sh", "-c", "echo nopivot-ok; ls /"])
    r = rt("run", "--no-pivot", "--bundle", b, new_id())
    assert r.returncode == 0, r.stderr
    assert "nopivot-ok" in r.stdout and "busybox" not in r.stdout.split()


def test_console_socket_receives_pty(rt, tmp_path):
    sock_path = str(tmp_path / "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    srv.settimeout(15)
    got = {}

    def accept():
        try:
            conn, _ = srv.accept()
            msg, fds, _flags, _addr = socket.recv_fds(conn, 16, 1)
            got["fd"] = fds[0]
            conn.close()
        except Exception as e:  # reported by the assertion below
            got["err"] = e

    t = threading.Thread(target=accept)
    t.start()
    b = make_bundle(tmp_path, ["sh", "-c", "tty; echo pty-hello; sleep 0.5"], terminal=True)
    cid = new_id()
    r = rt("run", "-d", "--console-socket", sock_path, "--bundle", b, cid)
    t.join(timeout=15)
    srv.close()
    assert r.returncode == 0, r.stderr
    assert "fd" in got, got
    fd = got["fd"]
    data = b""
    deadline = time.monotonic() + 10
    os.set_blocking(fd, False)
    while b"pty-hello" not in data and time.monotonic() < deadline:
        try:
            data += os.read(fd, 4096)
        except BlockingIOError:
            time.sleep(0.02)
        except OSError:
            break
    os.close(fd)
    assert b"/dev/pts/0" in data and b"pty-hello" in data, data


def test_terminal_without_console_socket_is_an_error(rt, tmp_path):
    b = make_bundle(tmp_path, ["true"], terminal=True)
    r = rt("create", "--bundle", b, new_id())
    assert r.returncode != 0 and "console-socket" in r.stderr


def test_preserve_fds_and_no_fd_leaks(rt, tmp_path):
    src = tmp_path / "fd3.txt"
    src.write_text("through-fd-3\n")
    b = make_bundle(tmp_path, ["sh", "-c", "cat <&3; ls /proc/self/fd | wc -l"])

    def with_fd3():
        fd = os.open(str(src), os.O_RDONLY)
        os.dup2(fd, 3)
        os.dup2(fd, 7)  # not preserved: must not reach the container

    r = rt("run", "--preserve-fds", "1", "--bundle", b, new_id(), preexec_fn=with_fd3,
           pass_fds=(3, 7))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[0] == "through-fd-3"
    assert int(lines[1]) == 5  # 0, 1, 2, 3 and the fd ls uses for the directory
    # without --preserve-fds the inherited fd 3 is closed as well
    r = rt("run", "--bundle", b, new_id(), preexec_fn=with_fd3, pass_fds=(3, 7))
    assert "through-fd-3" not in r.stdout and "Bad file descriptor" in r.stderr


def test_time_namespace_offsets(rt, tmp_path):
    host_uptime = float(open("/proc/uptime").read().split()[0])
    code, out, err = run_in(rt, tmp_path, "cat /proc/uptime",
                            namespaces=ALL_NS + [{"type": "time"}],
                            linux={"timeOffsets": {"boottime": {"secs": 86400, "nanosecs": 0},
                                                   "monotonic": {"secs": 3600}}})
    assert code == 0, err
    inside = float(out.split()[0])
    assert 86400 <= inside - host_uptime < 86400 + 60
    # the runtime's own time namespace is untouched
    assert float(open("/proc/uptime").read().split()[0]) - host_uptime < 60
