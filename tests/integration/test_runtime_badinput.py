# SPDX-License-Identifier: Apache-2.0
"""kumo-runtime bad input: every error names the field or path, exits non-zero and
leaves nothing behind (state dir, cgroup, mount), even after 1,000 failed creates."""
import json
import os

import pytest

from rtutil import make_bundle, new_id, run_runtime

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)")

BASE = "/sys/fs/cgroup"


def kumo_cgroups(prefix):
    """Our containers' cgroups (other tests may run containers concurrently)."""
    out = set()
    for ctrl in os.listdir(BASE):
        d = os.path.join(BASE, ctrl, "kumo")
        if os.path.isdir(d):
            out |= {f"{ctrl}/{e}" for e in os.listdir(d)
                    if e.startswith(prefix) and os.path.isdir(os.path.join(d, e))}
    return out


def mounts(under):
    """Our mounts: other tests may mount and unmount elsewhere concurrently."""
    with open("/proc/self/mountinfo") as f:
        return [ln for ln in f if str(under) in ln]


def edit_config(bundle, fn):
    p = os.path.join(bundle, "config.json")
    with open(p) as f:
        cfg = json.load(f)
    fn(cfg)
    with open(p, "w") as f:
        json.dump(cfg, f)


def expect_fail(rt, args, *needles):
    r = rt(*args)
    assert r.returncode != 0, f"{args} succeeded"
    for n in needles:
        assert n in r.stderr, f"{n!r} not in {r.stderr!r}"
    assert r.stderr.startswith("kumo-runtime: ") and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


CASES = [
    ("unknown field", lambda c: c["process"].__setitem__("argz", ["x"]), "process.argz",
     "unknown field"),
    ("wrong type", lambda c: c["process"].__setitem__("args", "sh"), "process.args",
     "expected an array"),
    ("wrong type bool", lambda c: c["root"].__setitem__("readonly", "yes"), "root.readonly",
     "expected a boolean"),
    ("bad ns type", lambda c: c["linux"]["namespaces"].append({"type": "netwrk"}),
     "linux.namespaces[", "unknown namespace 'netwrk'"),
    ("bad ns path", lambda c: c["linux"]["namespaces"].__setitem__(
        0, {"type": "pid", "path": "/proc/1/ns/nope"}), "linux.namespaces[0].path",
     "/proc/1/ns/nope"),
    ("relative ns path", lambda c: c["linux"]["namespaces"].__setitem__(
        0, {"type": "pid", "path": "proc/1/ns/pid"}), "linux.namespaces[0].path"),
    ("dup ns", lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "listed twice"),
    ("missing rootfs", lambda c: c["root"].__setitem__("path", "no-such-rootfs"), "root.path",
     "no-such-rootfs"),
    ("no args", lambda c: c["process"].__setitem__("args", []), "process.args"),
    ("bad rlimit", lambda c: c["process"].__setitem__(
        "rlimits", [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]), "process.rlimits[0].type"),
    ("bad mount", lambda c: c["mounts"].append({"destination": "relative", "type": "tmpfs"}),
     "mounts[", "destination"),
    ("bad version", lambda c: c.__setitem__("ociVersion", "2.0.0"), "ociVersion"),
    ("bad cap", lambda c: c["process"]["capabilities"].__setitem__("bounding", ["NOT_A_CAP"]),
     "process.capabilities"),
    ("bad uid", lambda c: c["process"]["user"].__setitem__("uid", -5), "process.user.uid"),
    ("maps without userns", lambda c: c["linux"].__setitem__(
        "uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}]), "linux.uidMappings"),
    ("bad type annotation", lambda c: c.__setitem__("annotations", {"org.kumo.type": "vm"}),
     "org.kumo.type"),
    ("bad cwd", lambda c: c["process"].__setitem__("cwd", "tmp"), "process.cwd"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_config(rt, tmp_path, case):
    name, fn, *needles = case
    before_mnt = mounts(tmp_path)
    b = make_bundle(tmp_path, ["true"], rootfs=(name != "missing rootfs"))
    edit_config(b, fn)
    cid = new_id()
    expect_fail(rt, ["create", "--bundle", b, cid], *needles)
    assert not os.path.exists(os.path.join(rt.root, cid))
    assert kumo_cgroups(cid) == set()
    assert mounts(tmp_path) == before_mnt == []


def test_malformed_and_missing_config(rt, tmp_path):
    b = make_bundle(tmp_path, ["true"], rootfs=False)
    with open(os.path.join(b, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "process": {')
    expect_fail(rt, ["create", "--bundle", b, new_id()], "config.json", "line 1")
    os.unlink(os.path.join(b, "config.json"))
    expect_fail(rt, ["create", "--bundle", b, new_id()], "config.json", "No such file")
    expect_fail(rt, ["create", "--bundle", str(tmp_path / "nope"), new_id()], "bundle",
                "No such file")
    with open(os.path.join(b, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.2", "ociVersion": "1.0.2"}')
    expect_fail(rt, ["create", "--bundle", b, new_id()], "duplicate")


def test_bad_ids(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "30"])
    for bad in ("../x", "a/b", ".", "..", "x" * 2000, "sp ace"):
        expect_fail(rt, ["create", "--bundle", b, bad], "container id")
    expect_fail(rt, ["create", "--bundle", b, ""], "container id is empty")
    assert not os.path.exists(os.path.join(os.path.dirname(rt.root), "x"))
    cid = new_id()
    assert rt("create", "--bundle", b, cid).returncode == 0
    expect_fail(rt, ["create", "--bundle", b, cid], f"container '{cid}' already exists")
    assert rt.state(cid)["status"] == "created"  # the first one is untouched
    expect_fail(rt, ["state", "no-such-id"], "does not exist")
    expect_fail(rt, ["start", "../etc"], "container id")


def test_1000_failed_creates_leave_nothing(rt, tmp_path):
    """Early (parse) and late (inside the init, after cgroups) failures alike."""
    before_mnt = mounts(tmp_path)
    prefix = new_id("bad")
    fd_before = len(os.listdir("/proc/self/fd"))
    early = make_bundle(tmp_path, ["true"], name="early")
    edit_config(early, lambda c: c["process"].__setitem__("args", 1))
    late = make_bundle(tmp_path, ["/no/such/program"], name="late",
                       linux={"resources": {"pids": {"limit": 10}}})
    late_mount = make_bundle(tmp_path, ["true"], name="late-mount", mounts_add=[
        {"destination": "/x", "type": "bind", "source": "/no/such/source"}])
    late_cwd = make_bundle(tmp_path, ["true"], name="late-cwd", cwd="/no/such/dir")
    bundles = [late, late_mount, late_cwd] + [early] * 17
    failures = 0
    for i in range(1000):
        b = bundles[i % len(bundles)]
        r = run_runtime(["create", "--bundle", b, f"{prefix}-{i}"], rt.root)
        assert r.returncode != 0
        failures += 1
    assert failures == 1000
    assert os.listdir(rt.root) == []
    assert kumo_cgroups(prefix) == set()
    assert mounts(tmp_path) == before_mnt == []
    assert len(os.listdir("/proc/self/fd")) == fd_before
    # the late failures say what failed
    assert "/no/such/program" in rt("create", "--bundle", late, "x1").stderr
    assert "/no/such/source" in rt("create", "--bundle", late_mount, "x2").stderr
    assert "process.cwd" in rt("create", "--bundle", late_cwd, "x3").stderr

def test_failed_runs_leave_nothing(rt, tmp_path):
    """`run` spawns its init sharing the runtime's memory until execve (vfork
    style): an init that fails inside its setup must still leave no cgroup,
    state dir or mount behind, and say what failed."""
    before_mnt = mounts(tmp_path)
    prefix = new_id("badrun")
    late = make_bundle(tmp_path, ["/no/such/program"], name="late",
                       linux={"resources": {"pids": {"limit": 10}}})
    late_mount = make_bundle(tmp_path, ["true"], name="late-mount", mounts_add=[
        {"destination": "/x", "type": "bind", "source": "/no/such/source"}])
    late_cwd = make_bundle(tmp_path, ["true"], name="late-cwd", cwd="/no/such/dir")
    cases = [(late, "/no/such/program"), (late_mount, "/no/such/source"),
             (late_cwd, "process.cwd")]
    for i in range(150):
        b, what = cases[i % len(cases)]
        r = run_runtime(["run", "--bundle", b, f"{prefix}-{i}"], rt.root)
        assert r.returncode != 0 and what in r.stderr, r.stderr
    assert os.listdir(rt.root) == []
    assert kumo_cgroups(prefix) == set()
    assert mounts(tmp_path) == before_mnt == []

