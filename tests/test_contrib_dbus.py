"""contrib/dbus: the session and system buses as pylaunchd jobs, as shipped.

The plists lint clean; install-session-bus writes the session plist for a
private $XDG_RUNTIME_DIR; a real pylaunchd loads it, creates the bus socket
before any dbus-daemon exists, and the first client (dbus-send, then gdbus)
starts dbus-daemon on it and gets answers from a bus that has systemd
activation. The system-bus plist, as root, does the same on a private path
with the host's system.conf. Skipped without dbus-daemon and its clients
(scripts/install-test-programs installs them).
"""

from __future__ import annotations

import json
import os
import plistlib
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bushelpers import PROVIDER
from tests.conftest import pid_alive

CONTRIB = Path(__file__).resolve().parent.parent / "contrib" / "dbus"
SESSION = CONTRIB / "org.freedesktop.dbus-session.plist"
SYSTEM = CONTRIB / "org.freedesktop.dbus-system.plist"
ECHO = "org.pylaunchd.SessionEcho"


def need(*programs):
    found = [shutil.which(p) for p in programs]
    if not all(found) or not os.path.exists("/usr/bin/dbus-daemon"):
        pytest.skip(f"{', '.join(programs)} and /usr/bin/dbus-daemon are needed (scripts/install-test-programs)")
    return found


def lint_findings(path: Path) -> list[dict]:
    cp = subprocess.run([sys.executable, "-m", "pylaunchd.cli.launchctl", "lint", "--json", str(path)],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    return json.loads(cp.stdout)


def test_the_shipped_plists_lint_clean():
    need("dbus-send")
    for path in (SESSION, SYSTEM):
        for f in lint_findings(path):
            # Only the host may be missing the socket's directory (/run/user/1000 for the
            # template, which install-session-bus rewrites); nothing else may be said.
            missing = os.path.dirname(plistlib.loads(path.read_bytes())["Sockets"]["bus"]["SockPathName"])
            assert f["level"] != "error" and not os.path.isdir(missing) and missing in f["message"], f


def test_the_drop_in_is_a_bus_configuration_dbus_daemon_accepts(workdir):
    (daemon,) = need("dbus-daemon")
    conf = workdir / "bus.conf"
    conf.write_text(f"<busconfig><type>system</type><listen>unix:path={workdir / 'bus'}</listen>"
                    f"<include>{CONTRIB / 'org.pylaunchd.conf'}</include></busconfig>")
    # dbus-daemon has no "check only" mode: start it and stop it once it printed its address
    # (a configuration it refuses makes it exit at once, saying why).
    proc = subprocess.Popen([daemon, f"--config-file={conf}", "--nofork", "--nopidfile", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if not proc.stdout.readline().startswith("unix:path="):
            proc.wait(10)
            pytest.fail(f"dbus-daemon refused the drop-in: {proc.stderr.read()}")
    finally:
        proc.terminate()
        proc.wait(10)


def _call(client: str, bus: Path, method: str) -> subprocess.CompletedProcess:
    if client == "gdbus":
        argv = ["gdbus", "call", f"--address=unix:path={bus}", "--dest=org.freedesktop.DBus",
                "--object-path=/org/freedesktop/DBus", f"--method=org.freedesktop.DBus.{method}"]
    else:
        argv = ["dbus-send", f"--bus=unix:path={bus}", "--print-reply", "--reply-timeout=20000",
                "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", f"org.freedesktop.DBus.{method}"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def _features(bus: Path) -> str:
    cp = subprocess.run(["dbus-send", f"--bus=unix:path={bus}", "--print-reply", "--dest=org.freedesktop.DBus",
                         "/org/freedesktop/DBus", "org.freedesktop.DBus.Properties.Get",
                         "string:org.freedesktop.DBus", "string:Features"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


def _socket_first_then_daemon(m, label: str, bus: Path, mode: int) -> None:
    """The socket exists with its mode while nothing runs; the first client starts dbus-daemon."""
    info = m.wait_loaded(label)
    assert stat.S_ISSOCK(os.lstat(bus).st_mode) and stat.S_IMODE(os.lstat(bus).st_mode) == mode
    assert info["runs"] == 0 and not info["pid"], f"nothing runs before a client: {info}\n{m.log()[-3000:]}"
    cp = _call("dbus-send", bus, "ListNames")
    assert cp.returncode == 0 and 'string "org.freedesktop.DBus"' in cp.stdout, cp.stdout + cp.stderr + m.log()[-3000:]
    info = m.info(label)
    assert info["runs"] == 1 and pid_alive(info["pid"]), info
    assert "SystemdActivation" in _features(bus), "the plist runs the bus with --systemd-activation"
    cp = _call("gdbus", bus, "GetId")
    assert cp.returncode == 0 and cp.stdout.startswith("('"), cp.stdout + cp.stderr
    assert m.info(label)["runs"] == 1, "later clients talk to the same dbus-daemon"


def test_the_session_bus_plist_gives_a_socket_activated_session_bus(manager_factory, workdir, monkeypatch):
    """As a login session has it: the manager's defaults (no --bus-address), the stock
    session.conf, and a MachServices job activated through $XDG_RUNTIME_DIR/dbus-1/services."""
    need("dbus-send", "gdbus")
    runtime, config = workdir / "run", workdir / "config"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(config))
    script = [str(CONTRIB / "install-session-bus")]
    cp = subprocess.run(script, env=env, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0 and "wrote" in cp.stdout, cp.stdout + cp.stderr
    installed = config / "pylaunchd" / "LaunchAgents" / SESSION.name
    assert plistlib.loads(installed.read_bytes())["Sockets"]["bus"]["SockPathName"] == str(runtime / "bus")
    assert lint_findings(installed) == []
    cp = subprocess.run(script, env=env, capture_output=True, text=True, timeout=30)
    assert "up to date" in cp.stdout, cp.stdout + cp.stderr

    m = manager_factory(start=False, extra_args=["--user"])
    shutil.copy(installed, m.jobs_dir / SESSION.name)
    m.start()
    _socket_first_then_daemon(m, "org.freedesktop.dbus-session", runtime / "bus", 0o600)
    m.write("echo.plist", _echo_job())
    m.wait(lambda: (runtime / "dbus-1" / "services" / f"{ECHO}.service").exists(), 10, "the name's file")
    cp = subprocess.run(["dbus-send", f"--bus=unix:path={runtime / 'bus'}", "--print-reply", "--reply-timeout=20000",
                         f"--dest={ECHO}", "/", "org.pylaunchd.Test.Ping"], capture_output=True, text=True, timeout=60)
    info = m.info("test.echo")
    assert cp.returncode == 0 and f"pong from pid {info['pid']}" in cp.stdout, cp.stdout + cp.stderr + m.log()[-3000:]
    cp = subprocess.run(script, env=env, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, "re-running it beside its own running bus is fine"


def _echo_job() -> dict:
    return {"Label": "test.echo", "ProgramArguments": [sys.executable, PROVIDER, "serve", ECHO],
            "MachServices": {ECHO: True}}


def test_a_job_with_names_loaded_with_the_bus_leaves_the_bus_idle(manager_factory, workdir, monkeypatch):
    need("dbus-send")
    runtime = workdir / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    job = plistlib.loads(SESSION.read_bytes())
    job["Sockets"]["bus"]["SockPathName"] = str(runtime / "bus")
    m = manager_factory(start=False, extra_args=["--user"])
    m.write(SESSION.name, job)
    m.write("echo.plist", _echo_job())  # sorts first: loaded before the bus job
    m.start()
    m.wait_loaded("test.echo")
    info = m.wait_loaded("org.freedesktop.dbus-session")
    m.wait(lambda: (runtime / "dbus-1" / "services" / f"{ECHO}.service").exists(), 10, "the name's file")
    assert m.info("org.freedesktop.dbus-session")["runs"] == 0, "no client yet: dbus-daemon must not run"


def test_install_session_bus_refuses_beside_another_session_bus(workdir):
    (daemon,) = need("dbus-daemon")
    runtime = workdir / "run"
    runtime.mkdir(mode=0o700)
    proc = subprocess.Popen([daemon, "--session", f"--address=unix:path={runtime / 'bus'}", "--nofork",
                             "--nopidfile", "--print-address=1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert proc.stdout.readline().startswith("unix:path=")
        env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(workdir / "config"))
        cp = subprocess.run([str(CONTRIB / "install-session-bus")], env=env, capture_output=True, text=True,
                            timeout=30)
    finally:
        proc.terminate()
        proc.wait(10)
    assert cp.returncode == 1 and "already answers" in cp.stderr, cp.stdout + cp.stderr
    assert not (workdir / "config").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="the system bus starts as root and drops to messagebus")
def test_the_system_bus_plist_gives_a_socket_activated_system_bus(manager_factory, workdir):
    need("dbus-send", "gdbus")
    try:
        pwd.getpwnam("messagebus")
    except KeyError:
        pytest.skip("no messagebus user (dbus-system-bus-common, from scripts/install-test-programs)")
    if not os.path.exists("/usr/share/dbus-1/system.conf"):
        pytest.skip("no /usr/share/dbus-1/system.conf (dbus-system-bus-common)")
    job = plistlib.loads(SYSTEM.read_bytes())
    job["Sockets"]["bus"]["SockPathName"] = str(workdir / "system_bus_socket")
    os.chmod(workdir, 0o755)  # dbus-daemon, as messagebus, only uses its fd; clients of any uid reach the path
    m = manager_factory()
    m.write(SYSTEM.name, job)
    _socket_first_then_daemon(m, "org.freedesktop.dbus-system", workdir / "system_bus_socket", 0o666)
    pid = m.info("org.freedesktop.dbus-system")["pid"]
    with open(f"/proc/{pid}/status") as f:
        uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
    assert uid == pwd.getpwnam("messagebus").pw_uid, "dbus-daemon --system dropped to messagebus"
