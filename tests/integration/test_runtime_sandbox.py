# SPDX-License-Identifier: Apache-2.0
"""The `sandbox` execution type, checked from inside busybox containers.

One bundle asks for a lot (every capability the host has, no
no_new_privileges, a writable root, no seccomp filter). Run as
org.kumo.type=process it gets exactly that; run as org.kumo.type=sandbox the
runtime must take it all away. A static probe (tests/integration/probe/)
tries a list of escape attempts in each and prints `name:result` lines: every
attempt must fail in the sandbox and succeed (or fail differently) in the
process container. See docs/sandbox.md for why each one matters.
"""
import ctypes
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import rtutil

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROBE_SRC = os.path.join(REPO, "tests", "integration", "probe", "probe.c")

# Attempts that must not work in a sandbox and must behave differently in a
# process container with full privileges (most simply work there).
ESCAPES = [
    "mount_tmpfs",          # mount: CAP_SYS_ADMIN + seccomp
    "unshare_user",         # new user namespace: seccomp
    "unshare_mount",        # new mount namespace: no caps + seccomp
    "write_root",           # readonly root (+ Landlock)
    "host_file_by_handle",  # "shocker": open_by_handle_at to the host's root dir
    "name_to_handle",
    "load_module",          # init_module: seccomp (ENOSYS when the kernel has no modules)
    "kexec",
    "keyctl",
    "bpf",
    "ptrace",               # ptrace another process
    "process_vm_readv",
    "sethostname",
    "chown",                # chown as root: no CAP_CHOWN
    "mknod",                # device node: no CAP_MKNOD + Landlock
    "raw_socket",           # no CAP_NET_RAW
    "vsock",                # AF_VSOCK to the hypervisor: seccomp
    "setns",
    "chroot",
    "syslog",
    "userfaultfd",
    "io_uring",
    "perf_event",
    "clock_settime",
    "ioperm",
]

# Fail in both: there is nothing to take away.
BOTH_FAIL = ["setuid_root"]
# Must work in both: the sandbox is still a usable container.
CONTROLS = ["write_tmp", "fork", "getppid"]

TMPFS = {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777", "size=4m"]}


def landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, VERSION)
    return r if r > 0 else 0


# Capability names in kernel bit order (include/uapi/linux/capability.h).
CAP_NAMES = ["CAP_" + n for n in (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
    "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
    "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
    "CHECKPOINT_RESTORE").split()]


def caps_mask(names):
    m = 0
    for n in names:
        m |= 1 << CAP_NAMES.index(n)
    return m


def host_caps():
    """Every capability in our own bounding set, by name (a container cannot get more)."""
    with open("/proc/self/status") as f:
        bnd = next(int(l.split()[1], 16) for l in f if l.startswith("CapBnd:"))
    return [n for i, n in enumerate(CAP_NAMES) if bnd & (1 << i)]


@pytest.fixture(scope="session")
def probe_bin(tmp_path_factory):
    """The probe, built once per session (static: the busybox rootfs has no libc)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler for the probe")
    out = str(tmp_path_factory.mktemp("probe") / "probe")
    r = subprocess.run([cc, "-static", "-O2", "-o", out, PROBE_SRC], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"cannot build the static probe: {r.stderr.strip()[-300:]}")
    return out


def permissive(cfg):
    """The privileged bundle: all host caps, no nnp, writable root, no filter."""
    caps = host_caps()
    p = cfg["process"]
    p["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
    p["noNewPrivileges"] = False
    p["user"] = {"uid": 0, "gid": 0}
    cfg["root"]["readonly"] = False
    cfg.get("linux", {}).pop("seccomp", None)


def run_probe(tmpdir, probe, kind, args=("all",), annotations=None, edit=None, expect_ok=True):
    """Run the probe in a fresh container; returns (results dict, status dict, proc)."""
    ann = {"org.kumo.type": kind}
    ann.update(annotations or {})

    def _edit(cfg):
        permissive(cfg)
        if edit:
            edit(cfg)

    b = rtutil.make_bundle(tmpdir, args=["/bin/probe"] + list(args), annotations=ann,
                           mounts_add=[dict(TMPFS)], edit=_edit)
    shutil.copy(probe, os.path.join(b, "rootfs", "bin", "probe"))
    rt = rtutil.Runtime(os.path.join(str(tmpdir), "root-" + os.path.basename(b)))
    try:
        r = rt("run", "--bundle", b, rtutil.new_id(kind[:3]), timeout=60)
    finally:
        rt.cleanup()
    if expect_ok:
        assert r.returncode == 0, f"kumo-runtime run ({kind}) failed: {r.stderr.strip()}"
    results, status = {}, {}
    for line in r.stdout.splitlines():
        if line.startswith("status:"):
            k, _, v = line[len("status:"):].partition("=")
            status[k] = v
        elif ":" in line:
            k, _, v = line.partition(":")
            results[k] = v
    return results, status, r


@pytest.fixture
def bundle_dir():
    """A bundle parent outside pytest's temp dirs. The runtime opens the rootfs
    for the sandbox's mapped root (host uid 100000), so 0700 parents work too
    (test_runtime_private_bundle.py); files the probe reads must still be
    readable by that uid."""
    d = tempfile.mkdtemp(prefix="kumo-sandbox-", dir="/tmp")
    os.chmod(d, 0o711)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def both(probe_bin):
    """The same privileged bundle run as `process` and as `sandbox` (one run each)."""
    d = tempfile.mkdtemp(prefix="kumo-sandbox-", dir="/tmp")
    os.chmod(d, 0o711)
    try:
        return {kind: run_probe(d, probe_bin, kind)[:2] for kind in ("process", "sandbox")}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_sandbox_status(both):
    _, st = both["sandbox"]
    for f in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[f], 16) == 0, f"{f}={st[f]} in a sandbox"
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"
    # Container root is an unprivileged host uid/gid range.
    assert st["uid_map"] == "0 100000 65536"
    assert st["gid_map"] == "0 100000 65536"
    assert st["uid"] == "0"


@pytest.mark.parametrize("kind", ["process", "sandbox"])
def test_no_leaked_fds(both, kind):
    """No fd of the runtime (a host directory above all) reaches the container."""
    assert both[kind][1]["leaked_fds"] == "none"


def test_process_status_is_what_the_spec_says(both):
    _, st = both["process"]
    want = caps_mask(host_caps())
    assert int(st["CapEff"], 16) == want
    assert int(st["CapBnd"], 16) == want
    assert st["NoNewPrivs"] == "0"
    assert st["Seccomp"] == "0"
    assert st["uid_map"] == "0 0 4294967295"


@pytest.mark.parametrize("name", ESCAPES)
def test_escape_fails_in_sandbox_only(both, name):
    proc, _ = both["process"]
    sand, _ = both["sandbox"]
    assert name in sand and name in proc, f"probe did not report {name}"
    assert sand[name] != "ok", f"{name} worked inside the sandbox"
    assert proc[name] != sand[name], f"{name}: same result ({sand[name]}) with and without sandbox"


@pytest.mark.parametrize("name", BOTH_FAIL)
def test_fails_everywhere(both, name):
    assert both["process"][0][name] != "ok"
    assert both["sandbox"][0][name] != "ok"


@pytest.mark.parametrize("name", CONTROLS)
def test_sandbox_still_usable(both, name):
    assert both["process"][0][name] == "ok"
    assert both["sandbox"][0][name] == "ok"


def test_landlock_confines_writes(both):
    """/proc is not a declared writable mount: Landlock refuses the open."""
    if landlock_abi() == 0:
        pytest.skip("kernel without Landlock (docs/sandbox.md: other layers still hold)")
    assert both["process"][0]["write_proc"] == "ok"
    assert both["sandbox"][0]["write_proc"] == "EACCES"
    assert both["sandbox"][0]["mknod"] in ("EACCES", "EPERM")


def test_idbase_annotation(bundle_dir, probe_bin):
    _, st, _ = run_probe(bundle_dir, probe_bin, "sandbox", args=("status",),
                         annotations={"org.kumo.sandbox.idbase": "200000"})
    assert st["uid_map"] == "0 200000 65536"
    assert st["gid_map"] == "0 200000 65536"


def test_bundle_filter_is_stacked(bundle_dir, probe_bin):
    """A bundle's own seccomp filter stays in force and cannot loosen ours."""
    def edit(cfg):
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
                         {"names": ["keyctl", "bpf"], "action": "SCMP_ACT_ALLOW"}],
        }
    res, _, _ = run_probe(bundle_dir, probe_bin, "sandbox",
                           args=("getppid", "keyctl", "bpf", "fork"), edit=edit)
    assert res["getppid"] == "E42"  # the bundle's filter
    assert res["keyctl"] == "EPERM"  # ours, stacked
    assert res["bpf"] == "EPERM"
    assert res["fork"] == "ok"


def test_host_root_mapping_refused(bundle_dir, probe_bin):
    def edit(cfg):
        lin = cfg["linux"]
        lin["namespaces"] = [n for n in lin.get("namespaces", []) if n["type"] != "user"]
        lin["namespaces"].append({"type": "user"})
        lin["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        lin["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    _, _, r = run_probe(bundle_dir, probe_bin, "sandbox", args=("status",), edit=edit,
                        expect_ok=False)
    assert r.returncode != 0
    assert "linux.uidMappings[0]" in r.stderr and "host id 0" in r.stderr


def test_exec_into_sandbox_is_confined(bundle_dir, probe_bin):
    """`exec` adds a process to a running sandbox: it must not get more than
    the container's own process, whatever --process asks for."""
    b = rtutil.make_bundle(bundle_dir, args=["sleep", "30"],
                           annotations={"org.kumo.type": "sandbox"}, mounts_add=[dict(TMPFS)])
    shutil.copy(probe_bin, os.path.join(b, "rootfs", "bin", "probe"))
    rt = rtutil.Runtime(os.path.join(bundle_dir, "root"))
    cid = rtutil.new_id("sbx")
    rt.ids.add(cid)
    try:
        # The container inherits stdio: keep it off pipes we would wait on.
        errf = os.path.join(bundle_dir, "create.err")
        with open(errf, "w") as ef:
            r = subprocess.run([rtutil.runtime_bin(), "--root", rt.root, "create", "--bundle",
                                b, cid], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=ef, timeout=30)
        with open(errf) as ef:
            assert r.returncode == 0, ef.read()
        rt("start", cid, check=True)
        proc = {"args": ["/bin/probe", "status", "write_proc", "chown", "keyctl"], "cwd": "/",
                "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"], "noNewPrivileges": False,
                "capabilities": {k: ["CAP_SYS_ADMIN", "CAP_CHOWN"]
                                 for k in ("bounding", "effective", "permitted")}}
        pf = os.path.join(bundle_dir, "exec.json")
        with open(pf, "w") as f:
            json.dump(proc, f)
        r = rt("exec", "--process", pf, cid)
        assert r.returncode == 0, r.stderr
        res = dict(l.split(":", 1) for l in r.stdout.splitlines())
        for f in ("CapEff", "CapPrm", "CapBnd"):
            assert int(_status(r.stdout)[f], 16) == 0
        assert _status(r.stdout)["NoNewPrivs"] == "1"
        assert res["chown"] != "ok"
        assert res["keyctl"] == "EPERM"
        if landlock_abi():
            assert res["write_proc"] == "EACCES"
    finally:
        rt.cleanup()


def _status(out):
    st = {}
    for line in out.splitlines():
        if line.startswith("status:"):
            k, _, v = line[len("status:"):].partition("=")
            st[k] = v
    return st


def test_sandbox_terminal(bundle_dir):
    """A terminal through the console socket works under Landlock: /dev/ptmx
    and /dev/pts are writable, and so is /dev/tty."""
    sock_path = os.path.join(bundle_dir, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    srv.settimeout(15)
    got = {}

    def accept():
        try:
            conn, _ = srv.accept()
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 16, 1)
            got["fd"] = fds[0]
            conn.close()
        except Exception as e:  # reported by the assertion below
            got["err"] = e

    t = threading.Thread(target=accept)
    t.start()
    b = rtutil.make_bundle(bundle_dir, ["sh", "-c", "tty; echo via-tty > /dev/tty; "
                                        "echo pty-hello; sleep 0.5"],
                           terminal=True, annotations={"org.kumo.type": "sandbox"})
    rt = rtutil.Runtime(os.path.join(bundle_dir, "root"))
    try:
        r = rt("run", "-d", "--console-socket", sock_path, "--bundle", b, rtutil.new_id("tty"))
        t.join(timeout=15)
        srv.close()
        assert r.returncode == 0, r.stderr
        assert "fd" in got, got
        fd = got["fd"]
        data = b""
        deadline = time.monotonic() + 10
        os.set_blocking(fd, False)
        while b"pty-hello" not in data and time.monotonic() < deadline:
            try:
                data += os.read(fd, 4096)
            except BlockingIOError:
                time.sleep(0.02)
            except OSError:
                break
        os.close(fd)
        assert b"/dev/pts/0" in data and b"via-tty" in data and b"pty-hello" in data, data
    finally:
        rt.cleanup()


def test_sandbox_in_host_network_namespace(bundle_dir):
    """Without a network namespace of its own the sandbox cannot mount a
    fresh sysfs (the kernel ties sysfs to the netns owner): the hardening
    swaps in a read-only bind of /sys and the container still starts."""
    def edit(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "network"]
    b = rtutil.make_bundle(bundle_dir, args=["sh", "-c", "ls /sys; touch /sys/x 2>&1; true"],
                           annotations={"org.kumo.type": "sandbox"}, edit=edit)
    rt = rtutil.Runtime(os.path.join(bundle_dir, "root"))
    try:
        r = rt("run", "--bundle", b, rtutil.new_id("hostnet"))
    finally:
        rt.cleanup()
    assert r.returncode == 0, r.stderr
    assert "class" in r.stdout.split()
    assert "Read-only file system" in r.stdout or "Permission denied" in r.stdout
