# SPDX-License-Identifier: Apache-2.0
"""kumo-runtime cgroups (v1, v2 and this host's hybrid layout): limits land in the
cgroup files, really act (OOM kill, fork refused), update, pause, removal."""
import json
import os
import time

import pytest

from rtutil import make_bundle, new_id

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)")

BASE = "/sys/fs/cgroup"
V2 = os.path.exists(f"{BASE}/cgroup.controllers")
UNIFIED = f"{BASE}/unified" if os.path.exists(f"{BASE}/unified/cgroup.controllers") else None


def cg_file(ctrl, path, name):
    """Path of a controller file for the container cgroup `path` (v1 or v2)."""
    if V2:
        return os.path.join(BASE, path, name)
    if os.path.isdir(os.path.join(BASE, ctrl)):
        return os.path.join(BASE, ctrl, path, name)
    return os.path.join(UNIFIED, path, name)


def read(p):
    with open(p) as f:
        return f.read().strip()


def test_limits_in_cgroup_files(rt, tmp_path):
    res = {"memory": {"limit": 64 << 20, "reservation": 32 << 20},
           "pids": {"limit": 42},
           "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
           "blockIO": {"throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}]},
           "hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 21}]}
    b = make_bundle(tmp_path, ["sleep", "300"], linux={"resources": res})
    cid = new_id()
    r = rt("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    pid = rt.state(cid)["pid"]
    path = f"kumo/{cid}"
    if V2:
        assert read(cg_file("memory", path, "memory.max")) == str(64 << 20)
        assert read(cg_file("memory", path, "memory.low")) == str(32 << 20)
        assert read(cg_file("cpu", path, "cpu.max")) == "50000 100000"
        assert read(cg_file("cpu", path, "cpu.weight")) == str(1 + (512 - 2) * 9999 // 262142)
    else:
        assert read(cg_file("memory", path, "memory.limit_in_bytes")) == str(64 << 20)
        assert read(cg_file("memory", path, "memory.soft_limit_in_bytes")) == str(32 << 20)
        assert read(cg_file("cpu", path, "cpu.shares")) == "512"
        assert read(cg_file("cpu", path, "cpu.cfs_quota_us")) == "50000"
        assert read(cg_file("cpu", path, "cpu.cfs_period_us")) == "100000"
        assert "254:0 1048576" in read(cg_file("blkio", path, "blkio.throttle.read_bps_device"))
    assert read(cg_file("pids", path, "pids.max")) == "42"
    assert read(cg_file("cpuset", path, "cpuset.cpus")) == "0"
    hp = cg_file("hugetlb", path, "hugetlb.2MB.max" if (V2 or not os.path.isdir(
        f"{BASE}/hugetlb")) else "hugetlb.2MB.limit_in_bytes")
    assert read(hp) == str(4 << 21)
    # the init is in the container's cgroup in every hierarchy, the unified one included
    for line in read(f"/proc/{pid}/cgroup").splitlines():
        _, ctrls, p = line.split(":", 2)
        if "name=systemd" in ctrls:
            continue
        assert p == f"/{path}", line


def test_memory_limit_oom_kills(rt, tmp_path):
    mem = {"limit": 32 << 20}
    if os.path.exists(f"{BASE}/memory/memory.memsw.limit_in_bytes") or V2:
        mem["swap"] = 32 << 20  # no swap beyond the limit
    b = make_bundle(tmp_path, ["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"],
                    linux={"resources": {"memory": mem}})
    cid = new_id()
    assert rt("create", "--bundle", b, cid).returncode == 0
    path = f"kumo/{cid}"
    oom_file = cg_file("memory", path, "memory.events" if V2 else "memory.oom_control")
    assert rt("start", cid).returncode == 0
    deadline = time.monotonic() + 20
    while rt.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kills = [ln for ln in read(oom_file).splitlines() if ln.startswith("oom_kill ")]
    assert kills and int(kills[0].split()[1]) >= 1, read(oom_file)


def test_memory_limit_exit_code_on_run(rt, tmp_path):
    mem = {"limit": 32 << 20, "swap": 32 << 20}
    b = make_bundle(tmp_path, ["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"],
                    linux={"resources": {"memory": mem}})
    r = rt("run", "--bundle", b, new_id())
    assert r.returncode == 137, (r.returncode, r.stderr)
    # without the limit the same command succeeds
    b = make_bundle(tmp_path, ["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"])
    assert rt("run", "--bundle", b, new_id()).returncode == 0


def test_pids_limit_stops_fork(rt, tmp_path):
    b = make_bundle(tmp_path, ["sh", "-c", "for i in $(seq 30); do sleep 30 & done; sleep 30"],
                    linux={"resources": {"pids": {"limit": 8}}})
    cid = new_id()
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    path = f"kumo/{cid}"
    deadline = time.monotonic() + 10
    events = cg_file("pids", path, "pids.events")
    while int(read(events).split()[-1]) == 0:
        assert time.monotonic() < deadline, read(events)
        time.sleep(0.05)
    assert int(read(cg_file("pids", path, "pids.current"))) <= 8
    assert len(json.loads(rt("ps", "--format", "json", cid).stdout)) <= 8


def test_update_resources(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"],
                    linux={"resources": {"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}})
    cid = new_id()
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    path = f"kumo/{cid}"
    r = rt("update", "--memory", "128M", "--pids-limit", "30", "--cpu-quota", "20000", cid)
    assert r.returncode == 0, r.stderr
    mfile = "memory.max" if V2 else "memory.limit_in_bytes"
    assert read(cg_file("memory", path, mfile)) == str(128 << 20)
    assert read(cg_file("pids", path, "pids.max")) == "30"
    resf = tmp_path / "res.json"
    resf.write_text(json.dumps({"pids": {"limit": 5}}))
    assert rt("update", "--resources", resf, cid).returncode == 0
    assert read(cg_file("pids", path, "pids.max")) == "5"
    r = rt("update", "--memory", "lots", cid)
    assert r.returncode != 0 and "--memory" in r.stderr


def test_cgroups_path_override_and_removal(rt, tmp_path):
    cid = new_id()
    custom = f"kumo-test-{os.getpid()}/{cid}"
    b = make_bundle(tmp_path, ["sleep", "300"],
                    linux={"cgroupsPath": "/" + custom, "resources": {"pids": {"limit": 9}}})
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    try:
        assert read(cg_file("pids", custom, "pids.max")) == "9"
        assert not os.path.exists(cg_file("pids", f"kumo/{cid}", ""))
        assert rt("delete", "--force", cid).returncode == 0
        assert not os.path.exists(cg_file("pids", custom, ""))
    finally:
        for d in (f"{BASE}/{c}/kumo-test-{os.getpid()}" for c in os.listdir(BASE)):
            if os.path.isdir(d):
                os.rmdir(d)


def test_device_cgroup_rules_v1(rt, tmp_path):
    if V2 or not os.path.isdir(f"{BASE}/devices"):
        pytest.skip("v1 devices controller not mounted (v2 device rules need eBPF, not done)")
    b = make_bundle(tmp_path, ["sh", "-c", "head -c 1 /dev/zero | wc -c; head -c 1 /dev/full"],
                    linux={"resources": {"devices": [
                        {"allow": False, "access": "rwm"},
                        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]}})
    cid = new_id()
    assert rt("run", "-d", "--bundle", b, cid).returncode == 0
    lst = read(f"{BASE}/devices/kumo/{cid}/devices.list")
    assert "c 1:5 rwm" in lst and "a *:* rwm" not in lst
