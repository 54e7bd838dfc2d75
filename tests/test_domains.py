"""Default paths of the per-user domain, found by both programs without options."""

from __future__ import annotations

import os
import plistlib
import signal
import subprocess

from conftest import PYTHON, plist, wait_for
from pylaunchd.control.protocol import ControlError, request


def test_user_domain_defaults(workdir):
    home = workdir / "home"
    runtime = workdir / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYLAUNCHD_CONTROL_SOCKET", "XDG_CONFIG_HOME", "XDG_STATE_HOME")}
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(runtime))
    log = open(workdir / "m.log", "wb")
    proc = subprocess.Popen([PYTHON, "-m", "pylaunchd", "--user"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    sock = runtime / "pylaunchd" / "control.sock"
    try:
        wait_for(lambda: _answers(str(sock)), 15, what="control socket in XDG_RUNTIME_DIR")
        assert os.stat(sock).st_mode & 0o777 == 0o600
        assert os.stat(sock.parent).st_mode & 0o777 == 0o700
        info = request(str(sock), "manager")
        assert info["domain"] == f"user/{os.getuid()}"
        assert info["jobs_dirs"] == [str(home / "Library/LaunchAgents"), str(home / ".config/pylaunchd/LaunchAgents")]
        # Neither directory exists yet: creating one is noticed.
        agents = home / ".config" / "pylaunchd" / "LaunchAgents"
        agents.mkdir(parents=True)
        (agents / "a.plist").write_bytes(plistlib.dumps(plist("test.default", ProgramArguments=["/bin/true"])))
        wait_for(lambda: any(j["label"] == "test.default" for j in request(str(sock), "list")), 10,
                 what="job in the default agents directory")
        cp = subprocess.run([PYTHON, "-m", "pylaunchd.cli.launchctl", "list"], env=env,
                            capture_output=True, text=True, timeout=30)
        if os.geteuid() == 0:
            # As launchctl's legacy verbs: root speaks to the system domain.
            assert "test.default" not in cp.stdout
            assert cp.returncode == 0 or "/run/pylaunchd/control.sock" in cp.stderr
            env["PYLAUNCHD_CONTROL_SOCKET"] = str(sock)
        else:
            # Anyone else finds their own user domain's socket by itself.
            assert cp.returncode == 0 and "test.default" in cp.stdout, cp.stderr
        # -w state lands in the default state directory.
        subprocess.run([PYTHON, "-m", "pylaunchd.cli.launchctl", "unload", "-w", str(agents / "a.plist")],
                       env=env, check=True, capture_output=True, timeout=30)
        assert (home / ".local/state/pylaunchd/overrides.json").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        log.close()
    assert not sock.exists()


def _answers(path: str) -> bool:
    try:
        request(path, "manager", timeout=2)
        return True
    except ControlError:
        return False
