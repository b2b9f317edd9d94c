# SPDX-License-Identifier: Apache-2.0
"""runtime-spec 1.1 fields beyond the basics, checked in real busybox
containers: process.scheduler (sched_setattr), process.ioPriority
(ioprio_set), linux.personality, recursive mount attributes (rro, rnosuid,
... with mount_setattr AT_RECURSIVE) and idmapped bind mounts. The effect is
read from inside (/proc/<pid>/stat, ionice, uname) and from the host
(sched_getattr / ioprio_get on the container's pid through ctypes); bad
values must fail create with the field named on stderr.
"""
import ctypes
import json
import os
import struct
import subprocess
import time

import pytest

from rtutil import make_bundle, new_id

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts)")

ALL_NS = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
USERNS_MAP = {"uidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
              "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}

SYS_IOPRIO_GET = 252   # x86_64
SYS_SCHED_GETATTR = 315
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def run_in(rt, tmp_path, args, **kw):
    """Run args in a fresh container; returns (exit code, stdout, stderr)."""
    b = make_bundle(tmp_path, args, **kw)
    r = rt("run", "--bundle", b, new_id("sx"))
    return r.returncode, r.stdout, r.stderr


def stat_fields(line):
    """/proc/<pid>/stat as a dict of 1-based field numbers (comm may hold spaces)."""
    head, _, rest = line.rpartition(")")
    f = {1: head.split(" (", 1)[0], 2: head.split(" (", 1)[1]}
    for i, v in enumerate(rest.split(), start=3):
        f[i] = v
    return f


def sched_getattr(pid):
    buf = ctypes.create_string_buffer(56)
    if _libc.syscall(SYS_SCHED_GETATTR, pid, buf, 56, 0) < 0:
        raise OSError(ctypes.get_errno(), "sched_getattr")
    size, policy, flags, nice, prio, runtime, deadline, period = struct.unpack_from(
        "=IIQiIQQQ", buf.raw)
    return {"policy": policy, "flags": flags, "nice": nice, "priority": prio,
            "runtime": runtime, "deadline": deadline, "period": period}


def ioprio_get(pid):
    r = _libc.syscall(SYS_IOPRIO_GET, 1, pid)  # IOPRIO_WHO_PROCESS
    if r < 0:
        raise OSError(ctypes.get_errno(), "ioprio_get")
    return r >> 13, r & 0x1fff


def start_detached(rt, tmp_path, args, **kw):
    b = make_bundle(tmp_path, args, **kw)
    cid = new_id("sx")
    r = rt("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    return cid, rt.state(cid)["pid"]


def exec_process(rt, tmp_path, cid, process):
    """exec --process FILE in cid; returns the CompletedProcess."""
    pf = tmp_path / f"proc-{new_id()}.json"
    pf.write_text(json.dumps(process))
    return rt("exec", "--process", str(pf), cid)


BASE_PROCESS = {"cwd": "/", "user": {"uid": 0, "gid": 0},
                "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}


# ---- process.scheduler ----

def test_scheduler_batch_nice_inside(rt, tmp_path):
    code, out, err = run_in(rt, tmp_path, ["sh", "-c", "cat /proc/$$/stat"],
                            namespaces=ALL_NS,
                            process={"scheduler": {"policy": "SCHED_BATCH", "nice": 7}})
    assert code == 0, err
    f = stat_fields(out.strip())
    assert f[41] == "3", out   # policy SCHED_BATCH
    assert f[19] == "7", out   # nice


def rt_budget(cid):
    """linux.* for a realtime task: with RT group scheduling (cgroup v1 cpu),
    a cgroup needs cpu.rt_runtime_us > 0, and so do its parents; the default
    path's parent (kumo/) has none, so use a cgroup right under the root."""
    if not os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us"):
        return {}
    return {"cgroupsPath": f"kumo-rt-{cid}",
            "resources": {"cpu": {"realtimeRuntime": 20000, "realtimePeriod": 1000000}}}


def test_scheduler_fifo_priority_inside(rt, tmp_path):
    cid = new_id("sx")
    b = make_bundle(tmp_path, ["sh", "-c", "cat /proc/$$/stat"], namespaces=ALL_NS,
                    linux=rt_budget(cid),
                    process={"scheduler": {"policy": "SCHED_FIFO", "priority": 12}})
    r = rt("run", "--bundle", b, cid)
    code, out, err = r.returncode, r.stdout, r.stderr
    assert code == 0, err
    f = stat_fields(out.strip())
    assert f[41] == "1", out    # SCHED_FIFO
    assert f[40] == "12", out   # rt_priority


def test_scheduler_deadline_from_host(rt, tmp_path):
    sched = {"policy": "SCHED_DEADLINE", "runtime": 500000, "deadline": 5000000,
             "period": 10000000, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    cid, pid = start_detached(rt, tmp_path, ["sleep", "60"], namespaces=ALL_NS,
                              process={"scheduler": sched})
    a = sched_getattr(pid)
    assert a["policy"] == 6
    assert (a["runtime"], a["deadline"], a["period"]) == (500000, 5000000, 10000000)
    assert a["flags"] & 0x01


@pytest.mark.parametrize("userns", [False, True], ids=["root", "userns"])
def test_created_init_waits_as_batch_and_starts_as_other(rt, tmp_path, userns):
    """A created init waits as SCHED_BATCH (so the task that starts it is not
    preempted by it) and the container process runs as SCHED_OTHER with the
    nice it inherited; also in a user namespace, where nothing is privileged."""
    linux = USERNS_MAP if userns else {}
    b = make_bundle(tmp_path, ["sleep", "60"], namespaces=ALL_NS + (
        [{"type": "user"}] if userns else []), linux=linux)
    cid = new_id("sx")
    r = rt("create", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    pid = rt.state(cid)["pid"]
    assert sched_getattr(pid)["policy"] == 3  # SCHED_BATCH while created
    nice = sched_getattr(pid)["nice"]
    r = rt("start", cid)
    assert r.returncode == 0, r.stderr
    for _ in range(200):  # start returns before the init has exec'd
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip() == "sleep":
                break
        time.sleep(0.01)
    a = sched_getattr(pid)
    assert a["policy"] == 0, a  # SCHED_OTHER once running
    assert a["nice"] == nice


def test_scheduler_for_exec_process(rt, tmp_path):
    cid, _ = start_detached(rt, tmp_path, ["sleep", "60"], namespaces=ALL_NS)
    proc = dict(BASE_PROCESS, args=["sh", "-c", "cat /proc/$$/stat"],
                scheduler={"policy": "SCHED_IDLE"})
    r = exec_process(rt, tmp_path, cid, proc)
    assert r.returncode == 0, r.stderr
    f = stat_fields(r.stdout.strip())
    assert f[41] == "5", r.stdout   # SCHED_IDLE
    proc["scheduler"] = {"policy": "SCHED_OTHER", "nice": 11}
    r = exec_process(rt, tmp_path, cid, proc)
    assert r.returncode == 0, r.stderr
    f = stat_fields(r.stdout.strip())
    assert (f[41], f[19]) == ("0", "11"), r.stdout
    # and the container's own process kept the default policy
    r2 = exec_process(rt, tmp_path, cid, dict(BASE_PROCESS, args=["cat", "/proc/1/stat"]))
    assert r2.returncode == 0, r2.stderr
    assert stat_fields(r2.stdout.strip())[41] == "0"


def test_scheduler_refused_in_user_namespace_names_field(rt, tmp_path):
    """Container root in a user namespace has no CAP_SYS_NICE for the host:
    sched_setattr(SCHED_FIFO) fails create, with the field named."""
    cid = new_id("sx")
    b = make_bundle(tmp_path, ["true"], namespaces=ALL_NS + [{"type": "user"}],
                    linux=dict(USERNS_MAP, **rt_budget(cid)),
                    process={"scheduler": {"policy": "SCHED_FIFO", "priority": 5}})
    r = rt("create", "--bundle", b, cid)
    assert r.returncode != 0
    assert "process.scheduler: sched_setattr SCHED_FIFO" in r.stderr, r.stderr
    assert "Operation not permitted" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(rt.root, cid))


# ---- process.ioPriority ----

def test_ioprio_best_effort_inside_and_from_host(rt, tmp_path):
    cid, pid = start_detached(rt, tmp_path, ["sleep", "60"], namespaces=ALL_NS,
                              process={"ioPriority": {"class": "IOPRIO_CLASS_BE",
                                                      "priority": 6}})
    assert ioprio_get(pid) == (2, 6)
    r = exec_process(rt, tmp_path, cid, dict(BASE_PROCESS, args=["ionice", "-p", "1"]))
    assert r.returncode == 0, r.stderr
    assert "best-effort" in r.stdout and "6" in r.stdout, r.stdout


def test_ioprio_idle_inside(rt, tmp_path):
    code, out, err = run_in(rt, tmp_path, ["sh", "-c", "ionice -p $$"], namespaces=ALL_NS,
                            process={"ioPriority": {"class": "IOPRIO_CLASS_IDLE"}})
    assert code == 0, err
    assert "idle" in out, out


def test_ioprio_for_exec_process(rt, tmp_path):
    cid, pid = start_detached(rt, tmp_path, ["sleep", "60"], namespaces=ALL_NS)
    proc = dict(BASE_PROCESS, args=["sh", "-c", "ionice -p $$"],
                ioPriority={"class": "IOPRIO_CLASS_RT", "priority": 2})
    r = exec_process(rt, tmp_path, cid, proc)
    assert r.returncode == 0, r.stderr
    assert "realtime" in r.stdout and "2" in r.stdout, r.stdout
    assert ioprio_get(pid)[0] in (0, 2)  # the init is unchanged (none, or BE from nice)


# ---- linux.personality ----

def test_personality_linux32(rt, tmp_path):
    code, out, err = run_in(rt, tmp_path,
                            ["sh", "-c", "uname -m; cat /proc/self/personality"],
                            namespaces=ALL_NS, linux={"personality": {"domain": "LINUX32"}})
    assert code == 0, err
    lines = out.split()
    assert lines[0] in ("i686", "i386"), out
    assert int(lines[1], 16) & 0xff == 0x08, out


def test_personality_linux_is_native(rt, tmp_path):
    code, out, err = run_in(rt, tmp_path, ["uname", "-m"], namespaces=ALL_NS,
                            linux={"personality": {"domain": "LINUX"}})
    assert code == 0, err
    assert out.strip() == os.uname().machine


def test_personality_applies_to_exec(rt, tmp_path):
    cid, _ = start_detached(rt, tmp_path, ["sleep", "60"], namespaces=ALL_NS,
                            linux={"personality": {"domain": "LINUX32"}})
    r = exec_process(rt, tmp_path, cid, dict(BASE_PROCESS, args=["uname", "-m"]))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() in ("i686", "i386")


# ---- bad values are refused at create, field named ----

@pytest.mark.parametrize("section,key,value,needle", [
    ("process", "scheduler", {"policy": "SCHED_FOO"},
     "process.scheduler.policy: unknown policy 'SCHED_FOO'"),
    ("process", "scheduler", {"policy": "SCHED_OTHER", "nice": 40},
     "process.scheduler.nice"),
    ("process", "scheduler", {"policy": "SCHED_IDLE", "nice": 5},
     "process.scheduler.nice: only SCHED_OTHER and SCHED_BATCH"),
    ("process", "scheduler", {"policy": "SCHED_RR", "priority": 0},
     "process.scheduler.priority"),
    ("process", "scheduler", {"policy": "SCHED_DEADLINE", "runtime": 10, "deadline": 5},
     "process.scheduler.runtime"),
    ("process", "ioPriority", {"class": "IOPRIO_CLASS_BEST", "priority": 1},
     "process.ioPriority.class: unknown class"),
    ("process", "ioPriority", {"class": "IOPRIO_CLASS_BE", "priority": 9},
     "process.ioPriority.priority"),
    ("linux", "personality", {"domain": "WINDOWS"}, "linux.personality.domain"),
    ("linux", "personality", {"domain": "LINUX", "flags": ["SHORT_INODE"]},
     "linux.personality.flags[0]"),
])
def test_invalid_values_name_the_field(rt, tmp_path, section, key, value, needle):
    b = make_bundle(tmp_path, ["true"], namespaces=ALL_NS, **{section: {key: value}})
    cid = new_id("sx")
    r = rt("create", "--bundle", b, cid)
    assert r.returncode != 0
    assert needle in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(rt.root, cid))


# ---- recursive mount attributes ----

@pytest.fixture
def tree(tmp_path):
    """tmp_path/outer with a tmpfs mounted at outer/sub on the host (a
    submount the container's rbind copies), unmounted after the test."""
    outer = tmp_path / "outer"
    sub = outer / "sub"
    sub.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "kumo-test-sub", str(sub)],
                   check=True, timeout=10)
    try:
        os.chmod(outer, 0o755)
        (outer / "top").write_text("top\n")
        (sub / "inner").write_text("inner\n")
        yield outer
    finally:
        subprocess.run(["umount", "-l", str(sub)], timeout=10)


WRITE_BOTH = ("touch /data/new 2>/dev/null && echo top=rw || echo top=ro; "
              "touch /data/sub/new 2>/dev/null && echo sub=rw || echo sub=ro")


@pytest.mark.parametrize("opts,expect", [
    (["rbind", "rro"], {"top": "ro", "sub": "ro"}),
    # the control: plain ro is for the top mount only, which is why rro exists
    (["rbind", "ro"], {"top": "ro", "sub": "rw"}),
    (["rbind"], {"top": "rw", "sub": "rw"}),
])
def test_rro_covers_submounts(rt, tmp_path, tree, opts, expect):
    code, out, err = run_in(rt, tmp_path, ["sh", "-c", WRITE_BOTH], namespaces=ALL_NS,
                            mounts_add=[{"destination": "/data", "type": "bind",
                                         "source": str(tree), "options": opts}])
    assert code == 0, err
    got = dict(line.split("=") for line in out.split())
    assert got == expect, out


def test_rro_write_fails_with_erofs(rt, tmp_path, tree):
    code, out, err = run_in(rt, tmp_path, ["sh", "-c", "echo x > /data/sub/inner"],
                            namespaces=ALL_NS,
                            mounts_add=[{"destination": "/data", "type": "bind",
                                         "source": str(tree), "options": ["rbind", "rro"]}])
    assert code != 0
    assert "Read-only file system" in err or "Read-only file system" in out, (out, err)
    assert (tree / "sub" / "inner").read_text() == "inner\n"


def mountinfo_opts(out, mountpoint):
    """Per-mount options (field 6) of mountpoint in a mountinfo dump."""
    for line in out.splitlines():
        f = line.split()
        if len(f) > 5 and f[4] == mountpoint:
            return set(f[5].split(","))
    raise AssertionError(f"{mountpoint} not in mountinfo:\n{out}")


def test_recursive_nosuid_nodev_noexec_noatime(rt, tmp_path, tree):
    subprocess.run(["cp", "/bin/busybox", str(tree / "sub" / "bb")], check=True, timeout=10)
    code, out, err = run_in(
        rt, tmp_path,
        ["sh", "-c", "cat /proc/self/mountinfo; /data/sub/bb true && echo exec=ok "
                     "|| echo exec=denied"],
        namespaces=ALL_NS,
        mounts_add=[{"destination": "/data", "type": "bind", "source": str(tree),
                     "options": ["rbind", "rnosuid", "rnodev", "rnoexec", "rnoatime"]}])
    assert code == 0, err
    for mp in ("/data", "/data/sub"):
        opts = mountinfo_opts(out, mp)
        assert {"nosuid", "nodev", "noexec", "noatime"} <= opts, (mp, opts)
    assert "exec=denied" in out


def test_recursive_clear_and_atime(rt, tmp_path, tree):
    """rexec after noexec-by-default: clearing works recursively too; rstrictatime
    drops relatime everywhere."""
    code, out, err = run_in(
        rt, tmp_path, ["cat", "/proc/self/mountinfo"], namespaces=ALL_NS,
        mounts_add=[{"destination": "/data", "type": "bind", "source": str(tree),
                     "options": ["rbind", "rnoexec", "rexec", "rstrictatime"]}])
    assert code == 0, err
    for mp in ("/data", "/data/sub"):
        opts = mountinfo_opts(out, mp)
        assert "noexec" not in opts and "relatime" not in opts and "noatime" not in opts, opts


def test_recursive_option_on_tmpfs(rt, tmp_path):
    code, out, err = run_in(rt, tmp_path, ["sh", "-c", "touch /scratch/x || exit 9"],
                            namespaces=ALL_NS,
                            mounts_add=[{"destination": "/scratch", "type": "tmpfs",
                                         "source": "tmpfs", "options": ["rro"]}])
    assert code == 9, (out, err)


# ---- idmapped mounts ----

@pytest.fixture
def owned(tmp_path):
    """A host directory owned by root with a root file and a uid/gid 1234 file,
    plus a tmpfs submount holding a root file; unmounted after the test."""
    d = tmp_path / "owned"
    sub = d / "sub"
    sub.mkdir(parents=True)
    os.chmod(d, 0o755)
    (d / "rootfile").write_text("r\n")
    (d / "userfile").write_text("u\n")
    os.chown(d / "userfile", 1234, 1234)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "kumo-test-idmap", str(sub)],
                   check=True, timeout=10)
    try:
        (sub / "subfile").write_text("s\n")
        yield d
    finally:
        subprocess.run(["umount", "-l", str(sub)], timeout=10)


STAT_ALL = "stat -c '%n %u %g' /data/rootfile /data/userfile /data/sub/subfile; exit 0"


def owners(out):
    res = {}
    for line in out.splitlines():
        name, uid, gid = line.split()
        res[os.path.basename(name)] = (int(uid), int(gid))
    return res


def idmap_container(rt, tmp_path, src, mount_extra, userns=True):
    mount = {"destination": "/data", "type": "bind", "source": str(src)}
    mount.update(mount_extra)
    kw = {"namespaces": ALL_NS + ([{"type": "user"}] if userns else []),
          "mounts_add": [mount]}
    if userns:
        kw["linux"] = USERNS_MAP
    b = make_bundle(tmp_path, ["sh", "-c", STAT_ALL], **kw)
    # container root (host uid 200000) cannot create the mount point itself
    os.mkdir(os.path.join(b, "rootfs", "data"))
    r = rt("run", "--bundle", b, new_id("sx"))
    return r.returncode, r.stdout, r.stderr


def test_idmap_with_mount_mappings(rt, tmp_path, owned):
    """On-disk uid N shows as the host id the mount maps N to, which the
    container's own mapping (0 -> 200000) shows as N + 1000."""
    maps = [{"containerID": 0, "hostID": 201000, "size": 2000}]
    code, out, err = idmap_container(rt, tmp_path, owned,
                                     {"options": ["rbind", "idmap"], "uidMappings": maps,
                                      "gidMappings": maps})
    assert code == 0, err
    o = owners(out)
    assert o["rootfile"] == (1000, 1000), out
    assert o["userfile"] == (2234, 2234), out
    # "idmap" maps the top mount only: the tmpfs below keeps unmapped owners
    assert o["subfile"] == (65534, 65534), out


def test_ridmap_with_container_mappings(rt, tmp_path, owned):
    """Without its own mappings the mount takes the container's, so host root's
    files are root's inside, also on the submount with ridmap."""
    code, out, err = idmap_container(rt, tmp_path, owned, {"options": ["rbind", "ridmap"]})
    assert code == 0, err
    o = owners(out)
    assert o["rootfile"] == (0, 0), out
    assert o["userfile"] == (1234, 1234), out
    assert o["subfile"] == (0, 0), out


def test_plain_bind_shows_overflow_ids(rt, tmp_path, owned):
    """The control for the two tests above: no idmap, host root is unmapped."""
    code, out, err = idmap_container(rt, tmp_path, owned, {"options": ["rbind"]})
    assert code == 0, err
    o = owners(out)
    assert o["rootfile"] == (65534, 65534), out
    assert o["userfile"] == (65534, 65534), out


def test_idmap_mappings_without_user_namespace(rt, tmp_path, owned):
    """A root container without a user namespace sees the mapped host ids."""
    maps = [{"containerID": 0, "hostID": 4321, "size": 1}]
    code, out, err = idmap_container(rt, tmp_path, owned,
                                     {"options": ["bind"], "uidMappings": maps,
                                      "gidMappings": maps}, userns=False)
    assert code == 0, err
    o = owners(out)  # not an rbind: sub is an empty dir, its stat fails on stderr
    assert o["rootfile"] == (4321, 4321), out
    assert o["userfile"] == (65534, 65534), out


def test_idmap_unsupported_filesystem_names_destination(rt, tmp_path):
    """sysfs cannot be idmapped: create fails naming the mount's destination."""
    b = make_bundle(tmp_path, ["true"], namespaces=ALL_NS + [{"type": "user"}],
                    linux=USERNS_MAP,
                    mounts_add=[{"destination": "/hostsys", "type": "bind", "source": "/sys",
                                 "options": ["bind", "idmap"]}])
    cid = new_id("sx")
    r = rt("create", "--bundle", b, cid)
    assert r.returncode != 0
    assert "'/hostsys'" in r.stderr and "does not support idmapped mounts" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_idmap_without_mappings_or_userns_is_refused(rt, tmp_path, owned):
    b = make_bundle(tmp_path, ["true"], namespaces=ALL_NS,
                    mounts_add=[{"destination": "/data", "type": "bind", "source": str(owned),
                                 "options": ["bind", "idmap"]}])
    r = rt("create", "--bundle", b, new_id("sx"))
    assert r.returncode != 0
    assert "mounts[" in r.stderr and "'/data'" in r.stderr and "user namespace" in r.stderr, \
        r.stderr


def test_features_advertise_new_fields(rt):
    r = rt("features")
    assert r.returncode == 0, r.stderr
    f = json.loads(r.stdout)
    for opt in ("rro", "rrw", "rnosuid", "rnodev", "rnoexec", "rnoatime", "rrelatime",
                "rstrictatime", "rnosymfollow", "idmap", "ridmap", "nosymfollow"):
        assert opt in f["mountOptions"], opt
    assert f["linux"]["mountExtensions"]["idmap"]["enabled"] is True
    assert f["linux"]["intelRdt"]["enabled"] is False
