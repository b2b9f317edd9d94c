# SPDX-License-Identifier: Apache-2.0
"""libmiddlecon against a real broker. The scenarios are C (cmocka) in
tests/unit/middlecon/test-client-live.c; this test starts the broker, runs
them with MC_ADDR pointing at it, and stops the broker by PID."""
import os
import subprocess
import time

import pytest

from conftest import BUILD, binary, free_port, wait_port


def live_driver():
    p = os.path.join(BUILD, "tests", "unit", "middlecon", "test-middlecon-client-live")
    if not os.access(p, os.X_OK):
        raise FileNotFoundError(f"{p} not built; run 'make build'")
    return p


@pytest.mark.parametrize("listen", ["tcp", "unix"])
def test_client_library_against_broker(procs, tmp_path, listen):
    if listen == "tcp":
        port = free_port()
        addr = f"127.0.0.1:{port}"
    else:
        addr = f"unix:{tmp_path}/mc.sock"
    broker = procs([binary("middlecon"), "--listen", addr, "--log-level", "error"])
    if listen == "tcp":
        wait_port("127.0.0.1", port)
    else:
        deadline = time.monotonic() + 10
        while not (tmp_path / "mc.sock").exists():
            assert time.monotonic() < deadline, "broker did not create its socket"
            time.sleep(0.01)
    r = subprocess.run([live_driver()], env=dict(os.environ, MC_ADDR=addr),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[  PASSED  ] 5 test(s)." in r.stdout + r.stderr
    assert broker.p.poll() is None  # the broker survived all of it
