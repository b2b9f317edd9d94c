# SPDX-License-Identifier: Apache-2.0
"""kumo-runtime lifecycle: OCI states, exit codes, kill, delete, crash recovery, exec."""
import json
import os
import signal
import subprocess
import time

import pytest

from rtutil import cgroup_dirs, make_bundle, new_id, run_runtime, runtime_bin

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)")


def wait_status(rt, cid, want, timeout=10):
    deadline = time.monotonic() + timeout
    st = None
    while time.monotonic() < deadline:
        st = rt.state(cid)["status"]
        if st == want:
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid}: status {st}, wanted {want}")


def test_run_prints_and_exit_code_propagates(rt, tmp_path):
    b = make_bundle(tmp_path, ["sh", "-c", "echo hello-from-kumo; exit 7"])
    cid = new_id()
    r = rt("run", "--bundle", b, cid)
    assert r.returncode == 7, r.stderr
    assert "hello-from-kumo" in r.stdout
    # run deletes the container afterwards: no state dir, no cgroup left.
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not any(os.path.exists(d) for d in cgroup_dirs(cid))


def test_run_killed_by_signal_gives_128_plus_sig(rt, tmp_path):
    # The pid-ns init ignores its own kill -9, so the kill comes from outside.
    b = make_bundle(tmp_path, ["sleep", "300"])
    cid = new_id()
    rt.ids.add(cid)
    p = subprocess.Popen([runtime_bin(), "--root", rt.root, "run", "--bundle", b, cid],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while run_runtime(["state", cid], rt.root).returncode != 0 or \
                rt.state(cid)["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert rt("kill", cid, "KILL").returncode == 0
        assert p.wait(timeout=10) == 128 + 9
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_create_start_state_kill_delete(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"])
    cid = new_id()
    pidfile = tmp_path / "pid"
    r = rt("create", "--bundle", b, "--pid-file", pidfile, cid)
    assert r.returncode == 0, r.stderr
    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid and st["bundle"] == b
    assert st["ociVersion"].startswith("1.")
    pid = int(pidfile.read_text())
    assert st["pid"] == pid and pid > 0
    # The init is blocked before exec: it is still the runtime binary, not sleep.
    assert "sleep" not in open(f"/proc/{pid}/cmdline").read()
    assert rt("start", cid).returncode == 0
    wait_status(rt, cid, "running")
    deadline = time.monotonic() + 5
    while "sleep" not in open(f"/proc/{pid}/cmdline").read():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # start twice is an error
    r = rt("start", cid)
    assert r.returncode != 0 and "not created" in r.stderr
    # delete without --force refuses a running container
    r = rt("delete", cid)
    assert r.returncode != 0 and "not stopped" in r.stderr
    assert rt("kill", cid, "KILL").returncode == 0
    wait_status(rt, cid, "stopped")
    assert rt.state(cid)["pid"] == 0
    r = rt("kill", cid, "TERM")
    assert r.returncode != 0 and "not running" in r.stderr
    assert rt("delete", cid).returncode == 0
    assert rt("state", cid).returncode != 0
    assert not any(os.path.exists(d) for d in cgroup_dirs(cid))


def test_kill_reaches_process_and_signal_names(rt, tmp_path):
    b = make_bundle(tmp_path, ["sh", "-c",
                               "trap 'echo got-usr1 > /tmp/sig; exit 0' USR1; "
                               "while true; do sleep 0.05; done"])
    cid = new_id()
    assert rt("run", "--detach", "--bundle", b, cid).returncode == 0
    time.sleep(0.2)
    assert rt("kill", cid, "SIGUSR1").returncode == 0
    wait_status(rt, cid, "stopped")
    assert open(os.path.join(b, "rootfs/tmp/sig")).read().strip() == "got-usr1"
    r = rt("kill", cid, "NOTASIG")
    assert r.returncode != 0 and "unknown signal" in r.stderr


def test_kill_all(rt, tmp_path):
    b = make_bundle(tmp_path, ["sh", "-c", "sleep 300 & sleep 300 & wait"],
                    namespaces=[{"type": "mount"}, {"type": "uts"}, {"type": "ipc"}])
    cid = new_id()
    assert rt("run", "--detach", "--bundle", b, cid).returncode == 0
    time.sleep(0.3)
    ps = json.loads(rt("ps", "--format", "json", cid).stdout)
    assert len(ps) == 3
    assert rt("kill", "--all", cid, "9").returncode == 0
    deadline = time.monotonic() + 5
    while json.loads(rt("ps", "--format", "json", cid).stdout):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    for p in ps:
        assert not os.path.exists(f"/proc/{p}") or "Z" in open(f"/proc/{p}/stat").read().split()[2]


def test_delete_force_running(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"])
    cid = new_id()
    assert rt("run", "--detach", "--bundle", b, cid).returncode == 0
    pid = rt.state(cid)["pid"]
    assert rt("delete", "--force", cid).returncode == 0
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not any(os.path.exists(d) for d in cgroup_dirs(cid))
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # --force on a missing container succeeds, like runc.
    assert rt("delete", "--force", cid).returncode == 0


def test_delete_created_container(rt, tmp_path):
    b = make_bundle(tmp_path, ["true"])
    cid = new_id()
    assert rt("create", "--bundle", b, cid).returncode == 0
    assert rt("delete", cid).returncode == 0
    assert not any(os.path.exists(d) for d in cgroup_dirs(cid))


def test_crashed_runtime_container_can_be_deleted(rt, tmp_path):
    """kill -9 the runtime between create and start (and mid-create)."""
    b = make_bundle(tmp_path, ["sleep", "300"])
    cid = new_id()
    # A runtime that is killed while the container waits for start.
    assert rt("create", "--bundle", b, cid).returncode == 0
    # Kill -9 a runtime mid-create: a createRuntime hook that blocks holds it there.
    cid2 = new_id()
    b2 = make_bundle(tmp_path, ["true"], hooks={
        "createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"]}]})
    rt.ids.add(cid2)
    p = subprocess.Popen([runtime_bin(), "--root", rt.root, "create", "--bundle", b2, cid2],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(rt.root, cid2, "state.json")):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    p.kill()
    p.wait(timeout=10)
    st = rt.state(cid2)["status"]
    assert st == "stopped", st
    for c in (cid, cid2):
        r = rt("delete", "--force", c)
        assert r.returncode == 0, r.stderr
        assert not os.path.exists(os.path.join(rt.root, c))
        assert not any(os.path.exists(d) for d in cgroup_dirs(c))


def test_list_and_ps(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"])
    cid = new_id()
    assert rt("create", "--bundle", b, cid).returncode == 0
    r = rt("list", "--format", "json")
    lst = json.loads(r.stdout)
    assert [c["id"] for c in lst] == [cid] and lst[0]["status"] == "created"
    assert rt("list", "-q").stdout.split() == [cid]
    assert cid in rt("list").stdout
    ps = json.loads(rt("ps", "--format", "json", cid).stdout)
    assert ps == [rt.state(cid)["pid"]]


def test_pause_resume(rt, tmp_path):
    # A counter, not a clock: busybox date has no %N, and a seconds stamp may
    # legitimately stay the same across the 0.3 s windows below.
    b = make_bundle(tmp_path, ["sh", "-c",
                               "i=0; while true; do i=$((i+1)); echo $i > /tmp/t; sleep 0.02; done"])
    cid = new_id()
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    time.sleep(0.2)
    assert rt("pause", cid).returncode == 0
    assert rt.state(cid)["status"] == "paused"
    f = os.path.join(b, "rootfs/tmp/t")
    before = open(f).read()
    time.sleep(0.3)
    assert open(f).read() == before
    assert rt("resume", cid).returncode == 0
    assert rt.state(cid)["status"] == "running"
    deadline = time.monotonic() + 5
    while open(f).read() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open(f).read() != before


def test_exec(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"], hostname="exechost")
    cid = new_id()
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    r = rt("exec", "-e", "FOO=bar", "--cwd", "/tmp", cid, "sh", "-c",
           "echo $FOO $(pwd) $(hostname); cat /proc/1/cmdline | tr '\\0' ' '; exit 5")
    assert r.returncode == 5, r.stderr
    out = r.stdout.split()
    assert out[:3] == ["bar", "/tmp", "exechost"]
    assert "sleep" in out[3]
    # exec --process with --detach and --pid-file
    proc = {"args": ["sh", "-c", "echo detached > /tmp/d"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0}}
    pf = tmp_path / "proc.json"
    pf.write_text(json.dumps(proc))
    pid_file = tmp_path / "exec.pid"
    r = rt("exec", "--process", pf, "--detach", "--pid-file", pid_file, cid)
    assert r.returncode == 0, r.stderr
    assert int(pid_file.read_text()) > 0
    deadline = time.monotonic() + 5
    p = os.path.join(b, "rootfs/tmp/d")
    while not os.path.exists(p) or not open(p).read():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    r = rt("exec", cid, "/no/such/binary")
    assert r.returncode != 0 and "/no/such/binary" in r.stderr


def test_foreground_run_forwards_signals(rt, tmp_path):
    b = make_bundle(tmp_path, ["sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done"])
    cid = new_id()
    rt.ids.add(cid)
    p = subprocess.Popen([runtime_bin(), "--root", rt.root, "run", "--bundle", b, cid],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while run_runtime(["state", cid], rt.root).returncode != 0 or \
                rt.state(cid)["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 42
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_hooks_run_in_order_with_state(rt, tmp_path):
    log = tmp_path / "hooks.log"
    def hook(name):
        return {"path": "/bin/sh", "args": ["sh", "-c", f"read s; echo {name} \"$s\" >> {log}"]}
    hooks = {n: [hook(n)] for n in ("prestart", "createRuntime", "poststart", "poststop")}
    hooks["createContainer"] = [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /dev/null"]}]
    hooks["startContainer"] = [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /tmp/start-hook"]}]
    b = make_bundle(tmp_path, ["true"], hooks=hooks)
    cid = new_id()
    r = rt("run", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    lines = log.read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == ["prestart", "createRuntime", "poststart",
                                              "poststop"]
    st = json.loads(lines[0].split(" ", 1)[1])
    assert st["id"] == cid and st["pid"] > 0 and st["bundle"] == b
    assert json.loads(open(os.path.join(b, "rootfs/tmp/start-hook")).read())["id"] == cid


def test_failing_hook_fails_create_without_leftovers(rt, tmp_path):
    b = make_bundle(tmp_path, ["true"], hooks={"createRuntime": [{"path": "/bin/false"}]})
    cid = new_id()
    r = rt("create", "--bundle", b, cid)
    assert r.returncode != 0 and "hooks.createRuntime[0]" in r.stderr
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert not any(os.path.exists(d) for d in cgroup_dirs(cid))


def test_hook_timeout(rt, tmp_path):
    b = make_bundle(tmp_path, ["true"], hooks={
        "prestart": [{"path": "/bin/sleep", "args": ["sleep", "20"], "timeout": 1}]})
    t = time.monotonic()
    r = rt("run", "--bundle", b, new_id())
    assert r.returncode != 0 and "timed out" in r.stderr
    assert time.monotonic() - t < 10


def test_log_format_json(rt, tmp_path):
    log = tmp_path / "log.json"
    r = run_runtime(["--log", log, "--log-format", "json", "start", "nope"], rt.root)
    assert r.returncode != 0
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "nope" in entry["msg"] and "time" in entry


def test_version_features_spec_systemd(tmp_path):
    r = subprocess.run([runtime_bin(), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "kumo-runtime version" in r.stdout
    f = json.loads(subprocess.run([runtime_bin(), "features"], capture_output=True, text=True,
                                  timeout=10).stdout)
    assert "user" in f["linux"]["namespaces"] and f["linux"]["cgroup"]["v1"]
    r = subprocess.run([runtime_bin(), "spec", "--bundle", tmp_path], capture_output=True,
                       timeout=10)
    assert r.returncode == 0
    assert json.load(open(tmp_path / "config.json"))["root"]["path"] == "rootfs"
    r = subprocess.run([runtime_bin(), "spec", "--bundle", tmp_path], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode != 0 and "exists" in r.stderr
    r = subprocess.run([runtime_bin(), "--systemd-cgroup", "--root", tmp_path, "list"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "systemd-cgroup" in r.stderr
