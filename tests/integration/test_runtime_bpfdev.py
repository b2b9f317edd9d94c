# SPDX-License-Identifier: Apache-2.0
"""kumo-runtime cgroup v2 device rules: a BPF_PROG_TYPE_CGROUP_DEVICE program on
the container's cgroup2 directory (pure v2, or the unified hierarchy of this
host's hybrid layout). On hybrid hosts the v1 devices controller enforces the
same rules and the program is attached only on request (annotation
org.kumo.cgroup2-devices=always), so the tests ask for it and open the v1 side
up ("a" in devices.allow) to check that the BPF program alone still denies."""
import ctypes
import json
import os
import platform
import time

import pytest

from rtutil import make_bundle, new_id

BASE = "/sys/fs/cgroup"
if os.path.exists(f"{BASE}/cgroup.controllers"):
    V2ROOT = BASE
elif os.path.exists(f"{BASE}/unified/cgroup.controllers"):
    V2ROOT = f"{BASE}/unified"
else:
    V2ROOT = None
V1DEV = f"{BASE}/devices" if os.path.exists(f"{BASE}/devices/devices.allow") else None

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups, bpf)"),
    pytest.mark.skipif(V2ROOT is None, reason="no cgroup2 hierarchy"),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="bpf syscall number is x86_64's"),
]

SYS_BPF = 321
BPF_PROG_QUERY = 16
BPF_CGROUP_DEVICE = 6

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def attached_programs(cgdir):
    """IDs of the BPF_CGROUP_DEVICE programs attached to cgdir (BPF_PROG_QUERY)."""
    ids = (ctypes.c_uint32 * 16)()
    attr = (ctypes.c_uint8 * 128)()
    fd = os.open(cgdir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ctypes.c_uint32.from_buffer(attr, 0).value = fd
        ctypes.c_uint32.from_buffer(attr, 4).value = BPF_CGROUP_DEVICE
        ctypes.c_uint64.from_buffer(attr, 16).value = ctypes.addressof(ids)
        ctypes.c_uint32.from_buffer(attr, 24).value = len(ids)
        r = _libc.syscall(ctypes.c_long(SYS_BPF), ctypes.c_int(BPF_PROG_QUERY), attr,
                          ctypes.c_uint(len(attr)))
        if r < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    finally:
        os.close(fd)
    n = ctypes.c_uint32.from_buffer(attr, 24).value
    return list(ids[:n])


def open_v1(cid):
    """Allow every device on the v1 side, leaving the BPF program as the only filter."""
    if V1DEV:
        with open(f"{V1DEV}/kumo/{cid}/devices.allow", "w") as f:
            f.write("a")


def sh(rt, cid, script):
    return rt("exec", cid, "sh", "-c", script)


def with_mknod(cfg):
    """Give the process CAP_MKNOD so that only the device rules refuse mknod."""
    caps = cfg["process"]["capabilities"]
    for k in ("bounding", "effective", "permitted"):
        caps[k].append("CAP_MKNOD")


# The spec's default deny-all, then mknod (only) of /dev/mem (c 1:1).
RULES = [{"allow": False, "access": "rwm"},
         {"allow": True, "type": "c", "major": 1, "minor": 1, "access": "m"}]


HYBRID = V2ROOT != BASE
ASK = {"org.kumo.cgroup2-devices": "always"}


def start(rt, tmp_path, rules, annotations=ASK):
    b = make_bundle(tmp_path, ["sleep", "300"], edit=with_mknod,
                    linux={"resources": {"devices": rules}}, annotations=annotations)
    cid = new_id("bpf")
    r = rt("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    return cid


def test_bpf_program_attached_and_enforced(rt, tmp_path):
    cid = start(rt, tmp_path, RULES)
    cgdir = f"{V2ROOT}/kumo/{cid}"
    assert len(attached_programs(cgdir)) == 1
    open_v1(cid)
    # default devices: read, write, mknod
    r = sh(rt, cid, "head -c1 /dev/zero | wc -c; echo x > /dev/null && cat /dev/null && echo rw")
    assert r.returncode == 0 and r.stdout.split() == ["1", "rw"], r.stderr
    r = sh(rt, cid, "mknod /tmp/zero c 1 5 && head -c1 /tmp/zero | wc -c")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    # c 1:1 may be made but not opened: only "m" was allowed
    r = sh(rt, cid, "mknod /tmp/mem c 1 1 && echo made")
    assert r.returncode == 0 and "made" in r.stdout, r.stderr
    r = sh(rt, cid, "head -c1 /tmp/mem")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    # in no allow rule: a block device and another char device
    r = sh(rt, cid, "mknod /tmp/sda b 8 0")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    r = sh(rt, cid, "mknod /tmp/kmsg c 1 11")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr


def test_later_deny_wins(rt, tmp_path):
    # A deny after an allow wins for the bits it names, and only those.
    rules = RULES + [{"allow": True, "type": "c", "major": 1, "minor": 1, "access": "rwm"},
                     {"allow": False, "type": "c", "major": 1, "minor": 1, "access": "w"}]
    cid = start(rt, tmp_path, rules)
    open_v1(cid)
    r = sh(rt, cid, "mknod /tmp/mem c 1 1 && echo made")
    assert r.returncode == 0 and "made" in r.stdout, r.stderr
    r = sh(rt, cid, "echo x > /tmp/mem")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    # read alone is allowed by the earlier rule: the open passes the device
    # check (it may then fail in the driver, ENXIO where /dev/mem is absent)
    r = sh(rt, cid, "exec 3</tmp/mem && echo opened")
    assert "Operation not permitted" not in r.stderr, r.stderr


def test_update_replaces_program(rt, tmp_path):
    cid = start(rt, tmp_path, RULES)
    cgdir = f"{V2ROOT}/kumo/{cid}"
    before = attached_programs(cgdir)
    assert len(before) == 1
    resf = tmp_path / "res.json"
    resf.write_text(json.dumps({"devices": [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "m"}]}))
    r = rt("update", "--resources", resf, cid)
    assert r.returncode == 0, r.stderr
    after = attached_programs(cgdir)
    assert len(after) == 1 and after != before
    open_v1(cid)
    # the new program: c 1:11 may be made, c 1:1 no longer; defaults still work
    r = sh(rt, cid, "mknod /tmp/kmsg c 1 11 && head -c1 /dev/zero | wc -c")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    r = sh(rt, cid, "mknod /tmp/mem c 1 1")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr


@pytest.mark.skipif(not HYBRID or V1DEV is None, reason="only hybrid hosts skip the program")
def test_hybrid_without_annotation_leaves_devices_to_v1(rt, tmp_path):
    cid = start(rt, tmp_path, RULES, annotations={})
    assert attached_programs(f"{V2ROOT}/kumo/{cid}") == []
    # the v1 controller alone enforces the same rules
    with open(f"{V1DEV}/kumo/{cid}/devices.list") as f:
        lines = f.read().splitlines()
    assert "a *:* rwm" not in lines and "c 1:5 rwm" in lines, lines
    r = sh(rt, cid, "mknod /tmp/sda b 8 0")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    r = sh(rt, cid, "head -c1 /dev/zero | wc -c")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr


def test_update_keeps_spec_devices(rt, tmp_path):
    # linux.devices are allowed at create; a program replaced by update keeps them.
    dev = {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o600}
    b = make_bundle(tmp_path, ["sleep", "300"], edit=with_mknod, annotations=ASK,
                    linux={"resources": {"devices": RULES}, "devices": [dev]})
    cid = new_id("bpf")
    r = rt("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    open_v1(cid)
    probe = "exec 3>/dev/kmsg && echo opened"  # write-only: no CAP_SYSLOG check
    r = sh(rt, cid, probe)
    assert r.returncode == 0 and "opened" in r.stdout, r.stderr
    resf = tmp_path / "res.json"
    resf.write_text(json.dumps({"devices": [{"allow": False, "access": "rwm"}]}))
    r = rt("update", "--resources", resf, cid)
    assert r.returncode == 0, r.stderr
    open_v1(cid)
    r = sh(rt, cid, probe)
    assert r.returncode == 0 and "opened" in r.stdout, r.stderr
    # and the update's deny-all holds for everything else
    r = sh(rt, cid, "mknod /tmp/mem c 1 1")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr


def test_no_rules_no_program(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "300"],
                    edit=lambda c: c["linux"].pop("resources", None) and None)
    cid = new_id("bpf")
    r = rt("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    assert attached_programs(f"{V2ROOT}/kumo/{cid}") == []


def test_delete_removes_cgroup2_dir(rt, tmp_path):
    cid = start(rt, tmp_path, RULES)
    cgdir = f"{V2ROOT}/kumo/{cid}"
    assert os.path.isdir(cgdir)
    r = rt("delete", "--force", cid)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 10
    while os.path.exists(cgdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(cgdir)
