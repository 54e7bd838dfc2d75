"""Starting the per-user agent manager at login: the shell-profile line
and the systemd user unit in contrib/."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import pid_alive, wait_for
from pylaunchd.control.protocol import ControlError, request

CONTRIB = Path(__file__).resolve().parent.parent / "contrib"


def test_profile_line_starts_one_manager(workdir):
    home = workdir / "home"
    runtime = workdir / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYLAUNCHD_", "XDG_"))}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime),
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    sock = runtime / "pylaunchd" / "control.sock"
    login = ["sh", "-c", f". {CONTRIB / 'profile.sh'}"]
    subprocess.run(login, env=env, check=True, timeout=60)

    def manager_pid():
        try:
            return request(str(sock), "manager", timeout=2)["pid"]
        except ControlError:
            return None

    pid = wait_for(manager_pid, 20, what="the manager started by the profile")
    try:
        subprocess.run(login, env=env, check=True, timeout=60)  # a second login
        assert manager_pid() == pid, "the second login found the running manager"
        assert request(str(sock), "manager")["domain"] == f"user/{os.getuid()}"
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid), 30, what="manager to stop")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_user_unit_is_valid():
    cp = subprocess.run(["systemd-analyze", "verify", str(CONTRIB / "pylaunchd.service")],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    text = (CONTRIB / "pylaunchd.service").read_text()
    assert "ExecStart=/usr/bin/env pylaunchd --user" in text and "WantedBy=default.target" in text
