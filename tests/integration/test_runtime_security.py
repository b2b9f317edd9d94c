# SPDX-License-Identifier: Apache-2.0
"""Capabilities, no_new_privileges, seccomp and user namespaces of `process`
containers, seen from inside a busybox container through the static probe
(tests/integration/probe/), and config errors seen from outside: a bad
capability or seccomp entry is refused at create with the field named.
"""
import os
import shutil
import tempfile

import pytest

import rtutil
from test_runtime_sandbox import TMPFS, caps_mask, probe_bin  # noqa: F401 (fixture)

CAPS = {
    "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    "effective": ["CAP_CHOWN"],
    "permitted": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
    "inheritable": ["CAP_NET_BIND_SERVICE"],
    "ambient": ["CAP_NET_BIND_SERVICE"],
}


@pytest.fixture
def bdir():
    d = tempfile.mkdtemp(prefix="kumo-security-", dir="/tmp")
    os.chmod(d, 0o711)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def probe(bdir, probe_path, args=("status",), process=None, linux=None, edit=None,
          expect_ok=True):
    """Run /bin/probe ARGS in a process container; returns (results, status, proc)."""
    def _edit(cfg):
        if process:
            cfg["process"].update(process)
        if linux:
            cfg.setdefault("linux", {}).update(linux)
        if edit:
            edit(cfg)

    b = rtutil.make_bundle(bdir, args=["/bin/probe"] + list(args),
                           annotations={"org.kumo.type": "process"}, edit=_edit)
    shutil.copy(probe_path, os.path.join(b, "rootfs", "bin", "probe"))
    rt = rtutil.Runtime(os.path.join(bdir, "root-" + os.path.basename(b)))
    try:
        r = rt("run", "--bundle", b, rtutil.new_id("sec"), timeout=60)
    finally:
        rt.cleanup()
    if expect_ok:
        assert r.returncode == 0, f"kumo-runtime run failed: {r.stderr.strip()}"
    results, status = {}, {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(":")
        if k == "status":
            sk, _, sv = v.partition("=")
            status[sk] = sv
        elif v:
            results[k] = v
    return results, status, r


def test_caps_as_root(bdir, probe_bin):
    """Root gets its bounding set back at execve (the kernel treats root's
    program as fully capable; without no_new_privs, which would cap it at the
    old permitted set); the ambient set survives (only file capabilities or a
    set-id program clear it)."""
    _, st, _ = probe(bdir, probe_bin, process={"capabilities": CAPS, "noNewPrivileges": False,
                                               "user": {"uid": 0, "gid": 0}})
    bnd = caps_mask(CAPS["bounding"])
    assert int(st["CapBnd"], 16) == bnd
    assert int(st["CapEff"], 16) == bnd
    assert int(st["CapPrm"], 16) == bnd
    assert int(st["CapInh"], 16) == caps_mask(CAPS["inheritable"])
    assert int(st["CapAmb"], 16) == caps_mask(CAPS["ambient"])


def test_caps_as_user(bdir, probe_bin):
    """A non-root process keeps exactly its ambient set as permitted/effective."""
    _, st, _ = probe(bdir, probe_bin,
                     process={"capabilities": CAPS, "user": {"uid": 1000, "gid": 1000}})
    amb = caps_mask(CAPS["ambient"])
    assert int(st["CapBnd"], 16) == caps_mask(CAPS["bounding"])
    assert int(st["CapEff"], 16) == amb
    assert int(st["CapPrm"], 16) == amb
    assert int(st["CapInh"], 16) == caps_mask(CAPS["inheritable"])
    assert int(st["CapAmb"], 16) == amb
    assert st["uid"] == "1000"


def test_no_caps(bdir, probe_bin):
    empty = {k: [] for k in CAPS}
    res, st, _ = probe(bdir, probe_bin, args=("all",),
                       process={"capabilities": empty, "noNewPrivileges": False},
                       edit=lambda c: c.setdefault("mounts", []).append(dict(TMPFS)))
    for f in ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"):
        assert int(st[f], 16) == 0
    assert res["chown"] == "EPERM"
    assert res["raw_socket"] == "EPERM"


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(bdir, probe_bin, nnp):
    _, st, _ = probe(bdir, probe_bin, process={"noNewPrivileges": nnp})
    assert st["NoNewPrivs"] == ("1" if nnp else "0")


def test_seccomp_from_spec(bdir, probe_bin):
    sec = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["getppid", "no_such_syscall"], "action": "SCMP_ACT_ERRNO",
             "errnoRet": 42},
            {"names": ["keyctl"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["userfaultfd"], "action": "SCMP_ACT_KILL_PROCESS"},
        ],
    }
    res, st, _ = probe(bdir, probe_bin,
                       args=("status", "getppid", "keyctl", "userfaultfd", "fork"),
                       linux={"seccomp": sec})
    assert st["Seccomp"] == "2"
    assert res["getppid"] == "E42"
    assert res["keyctl"] == "EPERM"  # errnoRet absent: EPERM
    assert res["userfaultfd"] == "SIGSYS"
    assert res["fork"] == "ok"


def test_no_seccomp_means_none(bdir, probe_bin):
    def edit(cfg):
        cfg.get("linux", {}).pop("seccomp", None)
    _, st, _ = probe(bdir, probe_bin, edit=edit)
    assert st["Seccomp"] == "0"


def test_user_namespace_mapping(bdir, probe_bin):
    def edit(cfg):
        lin = cfg.setdefault("linux", {})
        lin["namespaces"] = [n for n in lin.get("namespaces", []) if n["type"] != "user"]
        lin["namespaces"].append({"type": "user"})
        lin["uidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
        lin["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
    _, st, _ = probe(bdir, probe_bin, edit=edit)
    assert st["uid_map"] == "0 300000 65536"
    assert st["gid_map"] == "0 300000 65536"
    assert st["uid"] == "0"


@pytest.mark.parametrize("edit,needle", [
    (lambda c: c["process"].__setitem__("capabilities", {"bounding": ["CAP_CHOWN", "CAP_FLY"]}),
     "process.capabilities.bounding[1]: unknown capability 'CAP_FLY'"),
    (lambda c: c["process"].__setitem__("capabilities", {"effective": "CAP_CHOWN"}),
     "process.capabilities.effective: must be an array"),
    (lambda c: c["linux"].__setitem__("seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOPE"}]}),
     "linux.seccomp.syscalls[0].action: unknown action 'SCMP_ACT_NOPE'"),
    (lambda c: c["linux"].__setitem__("seccomp", {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}),
     "linux.seccomp.syscalls[0].args[0].op: unknown operator 'SCMP_CMP_ALMOST'"),
    (lambda c: c["linux"].__setitem__("seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                                  "architectures": ["SCMP_ARCH_PDP11"]}),
     "linux.seccomp.architectures[0]: unknown 'SCMP_ARCH_PDP11'"),
])
def test_bad_config_names_field(bdir, edit, needle):
    """Refused at create, before any container exists, with the field named."""
    def _edit(cfg):
        cfg.setdefault("linux", {})
        edit(cfg)
    b = rtutil.make_bundle(bdir, args=["true"], edit=_edit)
    rt = rtutil.Runtime(os.path.join(bdir, "root"))
    try:
        cid = rtutil.new_id("bad")
        r = rt("create", "--bundle", b, cid)
        assert r.returncode != 0
        assert needle in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(rt.root, cid))
    finally:
        rt.cleanup()
