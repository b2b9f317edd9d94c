# SPDX-License-Identifier: Apache-2.0
"""kumo-runtime vs crun vs runc: `run` of /bin/true and create+start+wait+delete,
p50/p99 over N runs, with and without a network namespace, runtimes interleaved
run by run so background noise hits them alike. The init is waited for as a
child (we are a subreaper), which is fair to all three. Prints JSON lines."""
import ctypes
import json
import os
import shutil
import subprocess
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def make_bundle(base, kumo, net):
    b = os.path.join(base, "bundle-net" if net else "bundle")
    if os.path.isdir(b):
        return b
    os.makedirs(b)
    root = os.path.join(b, "rootfs")
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc"):
        os.makedirs(os.path.join(root, d))
    shutil.copy2("/bin/busybox", os.path.join(root, "bin/busybox"))
    os.symlink("busybox", os.path.join(root, "bin/true"))
    subprocess.run([kumo, "spec", "--bundle", b], check=True)
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["args"] = ["/bin/true"]
    if not net:
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "network"]
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    return b


ERR = None


def call(argv):
    """Run argv with stderr in a file: a created init keeps our stdio open.

    The wait is a blocking waitpid with a watchdog thread for the timeout:
    subprocess's own timeout polls with doubling sleeps (0.5, 1, 2, 4, 8,
    16 ms...), which rounds every measured time up to the next step and made
    earlier runs look bimodal (17/33/66 ms)."""
    ERR.seek(0)
    ERR.truncate()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=ERR)
    dog = threading.Timer(60, p.kill)
    dog.start()
    try:
        rc = p.wait()
    finally:
        dog.cancel()
    if rc != 0:
        ERR.seek(0)
        raise RuntimeError(f"{' '.join(argv)}: {rc} {ERR.read()[-300:]}")


def one_run(rt, root, bundle, cid):
    t = time.perf_counter()
    call([rt, "--root", root, "run", "--bundle", bundle, cid])
    return time.perf_counter() - t


def one_cycle(rt, root, bundle, cid, pidfile):
    t = time.perf_counter()
    call([rt, "--root", root, "create", "--bundle", bundle, "--pid-file", pidfile, cid])
    pid = int(open(pidfile).read())
    call([rt, "--root", root, "start", cid])
    os.waitpid(pid, 0)  # the orphaned init is ours: we are its subreaper
    call([rt, "--root", root, "delete", cid])
    return time.perf_counter() - t


def main():
    n = int(sys.argv[1])
    label = sys.argv[2]
    runtimes = sys.argv[3].split(",")
    base = sys.argv[4]
    state = sys.argv[5]  # state roots on tmpfs, as /run/{crun,runc,kumo-runtime} are
    kumo = [r for r in runtimes if "kumo" in r][0]
    global ERR
    ERR = open(os.path.join(base, "stderr.log"), "w+") if os.path.isdir(base) else None
    if ERR is None:
        os.makedirs(base)
        ERR = open(os.path.join(base, "stderr.log"), "w+")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    for net in (False, True):
        bundle = make_bundle(base, kumo, net)
        for scen in ("run", "create+start+wait+delete"):
            times = {rt: [] for rt in runtimes}
            for i in range(3 + n):  # 3 warm-up rounds
                for rt in runtimes:
                    root = os.path.join(state, "root-" + os.path.basename(rt))
                    cid = f"bench{os.getpid()}-{i}"
                    if scen == "run":
                        dt = one_run(rt, root, bundle, cid)
                    else:
                        dt = one_cycle(rt, root, bundle, cid, os.path.join(base, "pid"))
                    if i >= 3:
                        times[rt].append(dt * 1000)
            for rt in runtimes:
                v = times[rt]
                print(json.dumps({"env": label, "netns": net, "scenario": scen,
                                  "runtime": os.path.basename(rt), "n": len(v),
                                  "p50_ms": round(pct(v, 0.5), 2),
                                  "p99_ms": round(pct(v, 0.99), 2),
                                  "mean_ms": round(sum(v) / len(v), 2)}), flush=True)


if __name__ == "__main__":
    main()
