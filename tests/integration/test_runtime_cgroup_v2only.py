# SPDX-License-Identifier: Apache-2.0
"""kumo-runtime on a pure cgroup v2 host, as far as this hybrid machine can
show one: the runtime runs in a mount namespace where /sys/fs/cgroup is the
cgroup2 hierarchy itself (the v1 mounts are gone), so it takes its v2-only
paths: CLONE_INTO_CGROUP, cgroup.freeze for pause, cgroup.kill for kill --all
and delete, the device BPF program without asking, a cgroup2 mount in the
container's cgroup namespace. The controllers stay bound to the host's v1
hierarchies, so a limit such as memory must fail with a clear error; limits on
pure v2 (memory.max, pids.max...) are the v2 part of the hybrid tests.
Effects are read from the host through /sys/fs/cgroup/unified, the same
hierarchy."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from rtutil import make_bundle, new_id, runtime_bin

UNIFIED = "/sys/fs/cgroup/unified"
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)"),
    pytest.mark.skipif(not os.path.exists(f"{UNIFIED}/cgroup.controllers"),
                       reason="needs the hybrid layout's cgroup2 mount to fake a v2-only host"),
    pytest.mark.skipif(shutil.which("nsenter") is None, reason="needs nsenter"),
]


class V2Host:
    """A persistent mount namespace whose /sys/fs/cgroup is cgroup2; runtime calls enter it."""

    def __init__(self, root):
        self.dir = tempfile.mkdtemp(prefix="kumo-v2ns-", dir="/run")
        self.root = str(root)
        self.ids = set()
        subprocess.run(["mount", "--bind", self.dir, self.dir], check=True, timeout=30)
        subprocess.run(["mount", "--make-private", self.dir], check=True, timeout=30)
        self.ns = os.path.join(self.dir, "mnt")
        open(self.ns, "w").close()
        subprocess.run(["unshare", f"--mount={self.ns}", "--propagation", "private", "sh", "-ec",
                        "umount -l /sys/fs/cgroup; mount -t cgroup2 cgroup2 /sys/fs/cgroup"],
                       check=True, timeout=30)

    def __call__(self, *args, **kw):
        if "run" in args or "create" in args:
            self.ids.add(str(args[-1]))
        argv = ["nsenter", f"--mount={self.ns}", runtime_bin(), "--root", self.root]
        argv += [str(a) for a in args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(argv, stdout=out, stderr=err, text=True, timeout=60,
                               stdin=subprocess.DEVNULL, **kw)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(argv, p.returncode, out.read(), err.read())

    def cleanup(self):
        for cid in list(self.ids):
            self("delete", "--force", cid)
        subprocess.run(["umount", self.ns], timeout=30)
        subprocess.run(["umount", self.dir], timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def v2(tmp_path):
    h = V2Host(tmp_path / "root")
    try:
        yield h
    finally:
        h.cleanup()


def no_limits(cfg):
    """The template's device rules only: the v1-bound controllers cannot take limits here."""
    res = cfg["linux"].get("resources", {})
    cfg["linux"]["resources"] = {"devices": res.get("devices", [])}


def cgdir(cid):
    return f"{UNIFIED}/kumo/{cid}"


def read(path):
    with open(path) as f:
        return f.read()


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_detected_as_v2_and_born_in_the_cgroup(v2, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"], edit=no_limits)
    cid = new_id("v2")
    r = v2("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    pid = json.loads(v2("state", cid).stdout)["pid"]
    assert read(f"/proc/{pid}/cgroup").strip().endswith(f"0::/kumo/{cid}")
    assert str(pid) in read(f"{cgdir(cid)}/cgroup.procs").split()
    # a v2-only host has no v1 hierarchies: nothing of ours appears there
    assert not os.path.exists(f"/sys/fs/cgroup/pids/kumo/{cid}")


def test_pause_resume_by_cgroup_freeze(v2, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"], edit=no_limits)
    cid = new_id("v2")
    assert v2("run", "-d", "--bundle", b, cid).returncode == 0
    assert v2("pause", cid).returncode == 0
    assert read(f"{cgdir(cid)}/cgroup.freeze").strip() == "1"
    assert wait_for(lambda: "frozen 1" in read(f"{cgdir(cid)}/cgroup.events"))
    assert json.loads(v2("state", cid).stdout)["status"] == "paused"
    assert v2("resume", cid).returncode == 0
    assert wait_for(lambda: "frozen 0" in read(f"{cgdir(cid)}/cgroup.events"))
    assert json.loads(v2("state", cid).stdout)["status"] == "running"


def test_delete_force_kills_everything_and_removes_the_cgroup(v2, tmp_path):
    # the init forks a background child: cgroup.kill must take both
    b = make_bundle(tmp_path, ["sh", "-c", "sleep 300 & exec sleep 301"], edit=no_limits)
    cid = new_id("v2")
    assert v2("run", "-d", "--bundle", b, cid).returncode == 0
    assert wait_for(lambda: len(read(f"{cgdir(cid)}/cgroup.procs").split()) == 2)
    pids = [int(p) for p in read(f"{cgdir(cid)}/cgroup.procs").split()]
    r = v2("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(cgdir(cid))
    for p in pids:
        assert wait_for(lambda: not os.path.exists(f"/proc/{p}") or
                        read(f"/proc/{p}/stat").split()[2] == "Z")


def test_device_program_without_asking(v2, tmp_path):
    def edit(cfg):
        no_limits(cfg)
        caps = cfg["process"]["capabilities"]
        for k in ("bounding", "effective", "permitted"):
            caps[k].append("CAP_MKNOD")
    b = make_bundle(tmp_path, ["sleep", "300"], edit=edit)
    cid = new_id("v2")
    assert v2("run", "-d", "--bundle", b, cid).returncode == 0
    # no v1 devices controller exists in this view: only the BPF program can refuse
    r = v2("exec", cid, "sh", "-c", "mknod /tmp/zero c 1 5 && head -c1 /tmp/zero | wc -c")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    r = v2("exec", cid, "sh", "-c", "mknod /tmp/sda b 8 0")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr


def test_cgroup2_mount_and_namespace_inside(v2, tmp_path):
    def edit(cfg):
        no_limits(cfg)
        ns = cfg["linux"]["namespaces"]
        if not any(n["type"] == "cgroup" for n in ns):
            ns.append({"type": "cgroup"})
    b = make_bundle(tmp_path, ["sh", "-c", "cat /proc/self/cgroup; grep ' /sys/fs/cgroup ' "
                               "/proc/self/mountinfo"], edit=edit)
    r = v2("run", "--bundle", b, new_id("v2"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    # the cgroup2 line is rooted at the container's cgroup (the v1 lines are the
    # host's roots: this kernel still has v1 hierarchies, only unmounted here)
    assert "0::/" in lines, r.stdout
    assert any(" - cgroup2 " in ln for ln in lines), r.stdout


def test_limit_on_an_unavailable_controller_is_a_clear_error(v2, tmp_path):
    controllers = read(f"{UNIFIED}/cgroup.controllers").split()
    if "memory" in controllers:
        pytest.skip("memory is a cgroup2 controller here")

    def edit(cfg):
        no_limits(cfg)
        cfg["linux"]["resources"]["memory"] = {"limit": 64 << 20}
    b = make_bundle(tmp_path, ["true"], edit=edit)
    cid = new_id("v2")
    r = v2("run", "--bundle", b, cid)
    assert r.returncode != 0
    assert "memory" in r.stderr and "not available" in r.stderr, r.stderr
    assert not os.path.exists(cgdir(cid))
    assert v2("state", cid).returncode != 0


def test_exec_cpu_affinity_initial_joins_by_cgroup_procs(v2, tmp_path):
    """execCPUAffinity.initial must hold while the exec process joins the
    cgroup, so it is not cloned into it: it writes cgroup.procs itself, and
    must still end up in the container's cgroup, off the initial CPUs."""
    mine = os.sched_getaffinity(0)
    if len(mine) < 2:
        pytest.skip("needs 2 CPUs")
    b = make_bundle(tmp_path, ["sleep", "300"], edit=no_limits)
    cid = new_id("v2")
    assert v2("run", "-d", "--bundle", b, cid).returncode == 0
    proc = {"args": ["sleep", "300"], "cwd": "/", "env": ["PATH=/bin:/usr/bin"],
            "user": {"uid": 0, "gid": 0}, "execCPUAffinity": {"initial": "0"}}
    pf, pidf = tmp_path / "proc.json", tmp_path / "exec.pid"
    pf.write_text(json.dumps(proc))
    r = v2("exec", "-d", "--pid-file", str(pidf), "--process", str(pf), cid)
    assert r.returncode == 0, r.stderr
    pid = pidf.read_text().strip()
    assert pid in read(f"{cgdir(cid)}/cgroup.procs").split()
    status = read(f"/proc/{pid}/status")
    allowed = next(ln.split()[1] for ln in status.splitlines()
                   if ln.startswith("Cpus_allowed_list:"))
    assert allowed != "0", status
