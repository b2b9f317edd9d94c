# SPDX-License-Identifier: Apache-2.0
"""kumo-runtime under real containerd (Debian's 1.6): its own config, root, state and
socket in a temp dir (CRI disabled), an OCI image packed with umoci from the busybox
rootfs, then `ctr run --runc-binary kumo-runtime` through the io.containerd.runc.v2 shim."""
import os
import shutil
import signal
import subprocess
import time

import pytest

from rtutil import make_rootfs, runtime_bin

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)")


def need(tool):
    if not shutil.which(tool):
        pytest.skip(f"{tool} not installed (scripts/install-deps installs containerd and umoci)")


@pytest.fixture
def containerd(tmp_path):
    for t in ("containerd", "ctr", "umoci"):
        need(t)
    d = tmp_path / "ctrd"
    (d / "root").mkdir(parents=True)
    (d / "state").mkdir()
    sock = d / "c.sock"
    (d / "config.toml").write_text(f"""version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{d}/c.ttrpc.sock"
[debug]
  address = "{d}/debug.sock"
""")
    log = open(d / "containerd.log", "w")
    p = subprocess.Popen(["containerd", "--config", str(d / "config.toml")], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            if p.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.skip("containerd did not start here: " +
                            (d / "containerd.log").read_text()[-500:])
            time.sleep(0.05)

        def ctr(*args, timeout=60, check=True):
            r = subprocess.run(["ctr", "-a", str(sock), *map(str, args)], capture_output=True,
                               text=True, timeout=timeout)
            if check and r.returncode != 0:
                raise AssertionError(f"ctr {args}: {r.returncode} {r.stderr}")
            return r
        yield ctr, d
    finally:
        # tasks first (their shims hold mounts), then the daemon, by pid
        for cid in ("kumo-c1", "kumo-c2", "kumo-c3"):
            subprocess.run(["ctr", "-a", str(sock), "task", "kill", "-s", "KILL", cid],
                           capture_output=True, timeout=30)
            subprocess.run(["ctr", "-a", str(sock), "task", "delete", "-f", cid],
                           capture_output=True, timeout=30)
            subprocess.run(["ctr", "-a", str(sock), "containers", "rm", cid],
                           capture_output=True, timeout=30)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        with open("/proc/self/mountinfo") as f:
            for mnt in reversed([ln.split()[4] for ln in f if str(d) in ln.split()[4]]):
                subprocess.run(["umount", "-l", mnt], capture_output=True, timeout=30)


def build_image(tmp_path):
    img = tmp_path / "img"
    bnd = tmp_path / "unpacked"
    run = lambda *a: subprocess.run(list(map(str, a)), check=True, capture_output=True,
                                    timeout=120)
    run("umoci", "init", "--layout", img)
    run("umoci", "new", "--image", f"{img}:latest")
    run("umoci", "unpack", "--image", f"{img}:latest", bnd)
    shutil.rmtree(bnd / "rootfs")
    make_rootfs(bnd / "rootfs")
    run("umoci", "repack", "--image", f"{img}:latest", bnd)
    run("umoci", "config", "--image", f"{img}:latest", "--config.cmd", "sh", "--config.cmd",
        "-c", "--config.cmd", "echo hello-from-containerd")
    tar = tmp_path / "image.tar"
    run("tar", "-C", img, "-cf", tar, ".")
    return tar


def test_ctr_run_with_kumo_runtime(containerd, tmp_path):
    ctr, d = containerd
    tar = build_image(tmp_path)
    ctr("images", "import", "--base-name", "docker.io/library/kumo-busybox", tar)
    ref = "docker.io/library/kumo-busybox:latest"
    rtb = runtime_bin()
    r = ctr("run", "--rm", "--runc-binary", rtb, ref, "kumo-c1")
    assert "hello-from-containerd" in r.stdout, r.stderr
    # exit codes come back through the shim
    r = ctr("run", "--rm", "--runc-binary", rtb, ref, "kumo-c3", "sh", "-c", "exit 7",
            check=False)
    assert r.returncode == 7, r.stderr
    # detached task: exec, ps, pause/resume, kill, delete
    ctr("run", "-d", "--runc-binary", rtb, ref, "kumo-c2", "sleep", "300")
    r = ctr("task", "exec", "--exec-id", "e1", "kumo-c2", "sh", "-c", "echo exec-ok; exit 3",
            check=False)
    assert r.returncode == 3 and "exec-ok" in r.stdout, r.stderr
    ctr("task", "pause", "kumo-c2")
    assert "PAUSED" in ctr("task", "ls").stdout
    ctr("task", "resume", "kumo-c2")
    assert "RUNNING" in ctr("task", "ls").stdout
    ctr("task", "kill", "-s", "KILL", "kumo-c2")
    deadline = time.monotonic() + 20
    while "STOPPED" not in ctr("task", "ls").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    ctr("task", "delete", "kumo-c2")
    ctr("containers", "rm", "kumo-c2")
    # the cgroup containerd asked for (cgroupsPath /default/<id>) is gone with the task
    assert not os.path.exists("/sys/fs/cgroup/pids/default/kumo-c2")
