# SPDX-License-Identifier: Apache-2.0
"""Shared helpers for kumo-runtime integration tests (busybox bundles).

A bundle is a directory with `rootfs/` (Debian's busybox-static plus the
symlinks `busybox --install -s` makes) and a `config.json` produced by
`kumo-runtime spec` and then adjusted with keyword overrides.

    from rtutil import make_bundle, run_runtime, Runtime
    b = make_bundle(tmp_path, args=["sh", "-c", "echo hi"], hostname="t1")
    rt = Runtime(tmp_path / "root")
    r = rt.run(["run", "--bundle", b, "c1"])
    rt.cleanup()                       # deletes every container it created

Everything has a timeout; Runtime.cleanup() force-deletes containers, so
tests call it from a fixture's finally.
"""
import copy
import json
import os
import shutil
import subprocess
import uuid

from conftest import binary

BUSYBOX = "/bin/busybox"
TIMEOUT = 30

_TEMPLATE = None


def runtime_bin():
    """Path of the built kumo-runtime binary."""
    return binary("kumo-runtime")


def _rootfs_template():
    """One busybox rootfs per test session, hard-linked into each bundle."""
    global _TEMPLATE
    if _TEMPLATE and os.path.isdir(_TEMPLATE):
        return _TEMPLATE
    if not os.path.exists(BUSYBOX):
        raise RuntimeError("busybox-static is not installed (scripts/install-deps)")
    d = f"/tmp/kumo-rt-rootfs-{os.getpid()}"
    if os.path.isdir(d):
        shutil.rmtree(d)
    for sub in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "etc",
                "tmp", "root", "run", "var"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(d, "bin/busybox"))
    subprocess.run(["chroot", d, "/bin/busybox", "--install", "-s"], check=True,
                   timeout=TIMEOUT)
    with open(os.path.join(d, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    with open(os.path.join(d, "etc/group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    os.chmod(os.path.join(d, "tmp"), 0o1777)
    _TEMPLATE = d
    return d


def make_rootfs(dest):
    """Copy the busybox rootfs to dest (hard links for the binary)."""
    subprocess.run(["cp", "-a", "--link", _rootfs_template(), str(dest)], check=True,
                   timeout=TIMEOUT)
    return str(dest)


def default_spec():
    """The config.json `kumo-runtime spec` writes."""
    with_bin = None
    try:
        with_bin = runtime_bin()
    except FileNotFoundError:
        pass
    if with_bin:
        d = f"/tmp/kumo-rt-spec-{uuid.uuid4().hex[:8]}"
        os.makedirs(d)
        try:
            subprocess.run([with_bin, "spec", "--bundle", d], check=True, timeout=TIMEOUT,
                           capture_output=True)
            with open(os.path.join(d, "config.json")) as f:
                return json.load(f)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    raise FileNotFoundError("kumo-runtime not built")


_SPEC_CACHE = None


def make_bundle(tmpdir, args=None, name=None, rootfs=True, spec=None, **overrides):
    """Create a bundle under tmpdir and return its path (str).

    args: the container's process.args (default ["sh"]).
    Keyword overrides (all optional):
      hostname="x", env=[...], cwd="/", terminal=False, user={"uid":..},
      readonly=True (root.readonly), namespaces=[{"type":..}], mounts_add=[...],
      linux={...} (merged into .linux), process={...} (merged into .process),
      annotations={...}, edit=callable(spec) (last word).
    """
    global _SPEC_CACHE
    if _SPEC_CACHE is None:
        _SPEC_CACHE = default_spec()
    cfg = copy.deepcopy(spec if spec is not None else _SPEC_CACHE)
    bdir = os.path.join(str(tmpdir), name or f"bundle-{uuid.uuid4().hex[:8]}")
    os.makedirs(bdir)
    _open_path(bdir)
    if rootfs:
        make_rootfs(os.path.join(bdir, "rootfs"))
    proc = cfg.setdefault("process", {})
    proc["args"] = list(args) if args else ["sh"]
    proc["terminal"] = bool(overrides.pop("terminal", False))
    if "env" in overrides:
        proc["env"] = overrides.pop("env")
    if "cwd" in overrides:
        proc["cwd"] = overrides.pop("cwd")
    if "user" in overrides:
        proc["user"] = overrides.pop("user")
    if "hostname" in overrides:
        cfg["hostname"] = overrides.pop("hostname")
    # Writable root unless asked: tests write marker files inside the container.
    cfg.setdefault("root", {})["readonly"] = bool(overrides.pop("readonly", False))
    lin = cfg.setdefault("linux", {})
    if "namespaces" in overrides:
        lin["namespaces"] = overrides.pop("namespaces")
    if "mounts_add" in overrides:
        cfg.setdefault("mounts", []).extend(overrides.pop("mounts_add"))
    for key in ("linux", "process"):
        if key in overrides:
            cfg.setdefault(key, {}).update(overrides.pop(key))
    if "annotations" in overrides:
        cfg.setdefault("annotations", {}).update(overrides.pop("annotations"))
    edit = overrides.pop("edit", None)
    for k, v in overrides.items():
        cfg[k] = v
    if edit:
        r = edit(cfg)
        if r is not None:
            cfg = r
    with open(os.path.join(bdir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return bdir


def _open_path(path):
    """Let a container root in a user namespace (an unprivileged host uid) reach
    the bundle: pytest's temp dirs are 0700."""
    p = os.path.abspath(path)
    while p not in ("/", "/tmp"):
        st = os.stat(p)
        if st.st_uid == os.geteuid() and (st.st_mode & 0o005) != 0o005:
            os.chmod(p, st.st_mode | 0o755)
        p = os.path.dirname(p)


def run_runtime(args, root, timeout=TIMEOUT, check=False, input=None, **kw):
    """Run `kumo-runtime --root ROOT args...`; returns CompletedProcess (text).

    Output goes through temp files, not pipes: a detached container inherits
    the runtime's stdio and would hold a pipe open (no EOF) for its lifetime.
    """
    import tempfile
    argv = [runtime_bin(), "--root", str(root)] + [str(a) for a in args]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(argv, stdout=out, stderr=err, text=True, timeout=timeout,
                           input=input, **kw)
        out.seek(0)
        err.seek(0)
        r = subprocess.CompletedProcess(argv, p.returncode, out.read(), err.read())
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def new_id(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Runtime:
    """A temp --root plus the containers a test made there; cleanup() deletes them."""

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.ids = set()

    def __call__(self, *args, **kw):
        for i, a in enumerate(args):
            if a in ("create", "run") and i + 1 < len(args):
                self.ids.add(str(args[-1]))
        return run_runtime(list(args), self.root, **kw)

    def state(self, cid):
        r = run_runtime(["state", cid], self.root, check=True)
        return json.loads(r.stdout)

    def cleanup(self):
        for cid in list(self.ids):
            run_runtime(["delete", "--force", cid], self.root)
        self.ids.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def cgroup_dirs(cid):
    """Cgroup directories that may hold the container (default path kumo/<id>)."""
    out = []
    base = "/sys/fs/cgroup"
    if os.path.exists(os.path.join(base, "cgroup.controllers")):
        return [os.path.join(base, "kumo", cid)]
    for ctrl in sorted(os.listdir(base)):
        out.append(os.path.join(base, ctrl, "kumo", cid))
    return out
