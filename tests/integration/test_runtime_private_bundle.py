# SPDX-License-Identifier: Apache-2.0
"""Bundles where only root can reach them (a 0700 root-owned directory, the
bundle itself 0700): a user-namespaced container init is an unprivileged
host uid (100000... for sandboxes) by the time it mounts, so the runtime
opens the rootfs and the bind sources for it (open_tree) and the init
attaches them. Checked from inside: the process reads a file of its rootfs
and of a bundle-relative bind mount; and from the host: the container's
mounts do not leak into the host's mount table.
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from rtutil import make_bundle, new_id

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts)")

USERNS = {"uidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
          "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}]}
NS = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")]
SCRIPT = "cat /marker && cat /data/note && id -u"


@pytest.fixture
def private_dir():
    d = tempfile.mkdtemp(prefix="kumo-private-", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def private_bundle(parent, **kw):
    b = make_bundle(parent, ["sh", "-c", SCRIPT],
                    mounts_add=[{"destination": "/data", "type": "bind", "source": "data",
                                 "options": ["rbind", "ro"]}], **kw)
    with open(os.path.join(b, "rootfs", "marker"), "w") as f:
        f.write("rootfs-ok\n")
    os.chmod(os.path.join(b, "rootfs", "marker"), 0o644)
    os.makedirs(os.path.join(b, "data"))
    with open(os.path.join(b, "data", "note"), "w") as f:
        f.write("bind-ok\n")
    os.chmod(os.path.join(b, "data", "note"), 0o644)
    os.makedirs(os.path.join(b, "rootfs", "data"), exist_ok=True)
    # make_bundle opened the path up: close it again, as under /root.
    os.chmod(b, 0o700)
    os.chmod(parent, 0o700)
    st = os.stat(parent)
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o700
    return b


def host_mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if path in line.split()[4]]


def run_private(rt, parent, **kw):
    b = private_bundle(parent, **kw)
    r = rt("run", "--bundle", b, new_id("pb"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["rootfs-ok", "bind-ok", "0"], r.stdout
    assert [m for m in host_mounts_under(parent) if m.split()[4] != parent] == []


def test_sandbox_bundle_in_a_private_dir(rt, private_dir):
    run_private(rt, private_dir, annotations={"org.kumo.type": "sandbox"})


def test_userns_process_bundle_in_a_private_dir(rt, private_dir):
    run_private(rt, private_dir, namespaces=NS + [{"type": "user"}], linux=dict(USERNS))


def test_userns_mounts_stay_inside(rt, private_dir):
    """On a shared mount, the runtime's clone of the rootfs starts as a peer
    of the host's: it must not carry the container's mounts back here."""
    b = private_bundle(private_dir, namespaces=NS + [{"type": "user"}], linux=dict(USERNS))
    # After the bundle is made (its rootfs is hard links, which a mount boundary breaks).
    subprocess.run(["mount", "--bind", private_dir, private_dir], check=True, timeout=10)
    try:
        subprocess.run(["mount", "--make-shared", private_dir], check=True, timeout=10)
        r = rt("run", "--bundle", b, new_id("pb"))
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["rootfs-ok", "bind-ok", "0"], r.stdout
        leaked = [m for m in host_mounts_under(private_dir) if m.split()[4] != private_dir]
        assert leaked == []
    finally:
        subprocess.run(["umount", "-l", private_dir], timeout=10)


def test_userns_no_pivot(rt, private_dir):
    b = private_bundle(private_dir, namespaces=NS + [{"type": "user"}], linux=dict(USERNS))
    r = rt("run", "--no-pivot", "--bundle", b, new_id("pb"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["rootfs-ok", "bind-ok", "0"], r.stdout


def test_plain_bundle_in_a_private_dir(rt, private_dir):
    # No user namespace: the init is real root and binds by path, as before.
    run_private(rt, private_dir, namespaces=NS)


def test_userns_rootfs_is_the_bundles(rt, private_dir):
    # The tree really is the bundle's rootfs: a file written inside shows up there.
    b = private_bundle(private_dir, namespaces=NS + [{"type": "user"}], linux=dict(USERNS))
    os.chmod(os.path.join(b, "rootfs", "tmp"), 0o1777)
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["sh", "-c", "echo from-inside > /tmp/out"]
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    r = rt("run", "--bundle", b, new_id("pb"))
    assert r.returncode == 0, r.stderr
    with open(os.path.join(b, "rootfs", "tmp", "out")) as f:
        assert f.read() == "from-inside\n"
