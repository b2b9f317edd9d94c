# SPDX-License-Identifier: Apache-2.0
"""process.execCPUAffinity (runtime-spec 1.2) for `exec`: the final list is
the affinity the process runs with (read inside from /proc/self/status), the
initial list is set in the child before it joins the container's cgroup (a
CPU the kernel refuses fails the exec naming the field), and with only an
initial list the process ends up on what the container's cpuset allows, not
stuck on the initial CPUs. Bad lists fail with the field named.
"""
import json
import os

import pytest

from rtutil import make_bundle, new_id

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, cgroups)")

NS = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]


def cpu_list(cpus):
    return ",".join(str(c) for c in sorted(cpus))


def expand(text):
    out = set()
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


@pytest.fixture
def running(rt, tmp_path):
    b = make_bundle(tmp_path, ["sleep", "60"], namespaces=NS)
    cid = new_id("aff")
    r = rt("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    return cid


def exec_with(rt, tmp_path, cid, aff, script="grep Cpus_allowed_list /proc/self/status"):
    proc = {"args": ["sh", "-c", script], "cwd": "/", "env": ["PATH=/bin:/usr/bin"],
            "user": {"uid": 0, "gid": 0}, "execCPUAffinity": aff}
    path = tmp_path / f"proc-{new_id('p')}.json"
    path.write_text(json.dumps(proc))
    return rt("exec", "--process", str(path), cid)


def test_final_is_the_affinity_inside(rt, tmp_path, running):
    r = exec_with(rt, tmp_path, running, {"final": "0"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Cpus_allowed_list:", "0"]


def test_initial_then_final(rt, tmp_path, running):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs 2 CPUs")
    last = max(os.sched_getaffinity(0))
    r = exec_with(rt, tmp_path, running, {"initial": "0", "final": str(last)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Cpus_allowed_list:", str(last)]


def test_initial_is_applied_in_the_child(rt, tmp_path, running):
    # CPU 1000 is below CPU_SETSIZE (a valid list) but not online: only a
    # runtime that really sets the initial affinity gets EINVAL from the kernel.
    r = exec_with(rt, tmp_path, running, {"initial": "1000"})
    assert r.returncode != 0
    assert "process.execCPUAffinity.initial: set the CPU affinity" in r.stderr, r.stderr


def test_initial_only_ends_on_the_cpuset(rt, tmp_path, running):
    mine = os.sched_getaffinity(0)
    if len(mine) < 2:
        pytest.skip("needs 2 CPUs")
    r = exec_with(rt, tmp_path, running, {"initial": "0"})
    assert r.returncode == 0, r.stderr
    inside = expand(r.stdout.split()[1])
    # Not left on CPU 0 alone: what the cgroup allows (here all of ours).
    assert len(inside) >= 2, r.stdout
    assert inside >= mine, (inside, mine)


@pytest.mark.parametrize("key,bad,msg", [
    ("initial", "3-1", "bad CPU list '3-1'"),
    ("final", "0,,1", "bad CPU list '0,,1'"),
    ("final", "x", "bad CPU list 'x'"),
    ("initial", "0-1024", "not below 1024"),
    ("final", "-1", "bad CPU list '-1'"),
])
def test_bad_lists_are_refused(rt, tmp_path, running, key, bad, msg):
    r = exec_with(rt, tmp_path, running, {key: bad}, script="echo ran")
    assert r.returncode != 0
    assert "ran" not in r.stdout
    assert f"process.execCPUAffinity.{key}: " in r.stderr and msg in r.stderr, r.stderr


def test_unknown_key_is_refused(rt, tmp_path, running):
    r = exec_with(rt, tmp_path, running, {"inital": "0"}, script="echo ran")
    assert r.returncode != 0
    assert "process.execCPUAffinity.inital: unknown field" in r.stderr, r.stderr


def test_config_accepts_it_for_execs_not_the_init(rt, tmp_path):
    # The spec: not applicable to the init. It runs with the runtime's
    # affinity; an exec without --process inherits the config's process.
    mine = os.sched_getaffinity(0)
    b = make_bundle(tmp_path, ["sh", "-c", "grep Cpus_allowed_list /proc/self/status > /init-aff;"
                               " sleep 60"], namespaces=NS,
                    process={"execCPUAffinity": {"final": "0"}})
    cid = new_id("aff")
    r = rt("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    r = rt("exec", cid, "sh", "-c", "sleep 0.2; cat /init-aff; grep Cpus_allowed_list /proc/self/status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert expand(lines[0].split()[1]) == mine, lines
    assert lines[1].split() == ["Cpus_allowed_list:", "0"], lines


@pytest.mark.parametrize("kind", ["userns", "sandbox"])
def test_final_in_a_user_namespace(rt, tmp_path, kind):
    # The exec child joins the user namespace (and, in a sandbox, its filters)
    # before final is set: setting our own affinity needs no privilege there.
    kw = {"annotations": {"org.kumo.type": "sandbox"}} if kind == "sandbox" else {
        "namespaces": NS + [{"type": "user"}],
        "linux": {"uidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
                  "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}}
    b = make_bundle(tmp_path, ["sleep", "60"], **kw)
    cid = new_id("aff")
    r = rt("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    r = exec_with(rt, tmp_path, cid, {"initial": "0", "final": "0"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["Cpus_allowed_list:", "0"]
