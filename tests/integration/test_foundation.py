# SPDX-License-Identifier: Apache-2.0
"""The build's binaries exist and follow the common CLI conventions."""
import subprocess

from conftest import binary


def test_kumo_version_and_help():
    out = subprocess.run([binary("kumo"), "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("kumo ")
    out = subprocess.run([binary("kumo"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "ps" in out.stdout


def test_kumo_unknown_verb_is_an_error():
    out = subprocess.run([binary("kumo"), "frobnicate"], capture_output=True, text=True)
    assert out.returncode == 1
    assert "unknown verb 'frobnicate'" in out.stderr
