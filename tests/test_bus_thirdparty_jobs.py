"""Third-party .service files on a bus where pylaunchd is the activator.

dbus-daemon routes every installed file with ``SystemdService=`` to pylaunchd,
and no longer runs its ``Exec=``; pylaunchd must run it, as a transient job
(``dbus:NAME``), or a desktop session breaks. The files here live in a private
``$XDG_DATA_DIRS/dbus-1/services`` that both the test bus's configuration and
the manager's standard search path name. (tests/test_bus_transient.py has the
job's life cycle; these add the starter environment, gdbus and busctl, and a
third-party service that exits before taking its name.)
"""

from __future__ import annotations

import json
import os
import sys
import time

from bushelpers import BUS_LABEL, CONFIG, IFACE, PROVIDER, Bus
from conftest import pid_alive

NAME, DIES = "org.example.ThirdParty", "org.example.ThirdPartyDies"


def _third_party_bus(workdir, monkeypatch) -> Bus:
    share = workdir / "share"
    files = share / "dbus-1" / "services"
    files.mkdir(parents=True)
    for name, unit, mode in ((NAME, "thirdparty-example.service", "serve"), (DIES, "thirdparty-dies.service", "exit3")):
        (files / f"{name}.service").write_text(
            f"[D-BUS Service]\nName={name}\nExec={sys.executable} {PROVIDER} {mode} {name}\nSystemdService={unit}\n")
        os.chmod(files / f"{name}.service", 0o644)  # group-writable files are not used
    monkeypatch.setenv("XDG_DATA_DIRS", str(share))
    monkeypatch.setenv("XDG_DATA_HOME", str(workdir / "no-data-home"))
    b = Bus(workdir)
    b.config.write_text(CONFIG.replace("<servicedir>{services}</servicedir>",
                                       "<servicedir>{services}</servicedir>\n  <servicedir>{files}</servicedir>")
                        .format(services=b.services, files=files))
    b.manager.start()
    b.write("bus.plist", b.bus_plist())
    b.manager.wait_loaded(BUS_LABEL)
    return b


def test_a_third_party_file_is_started_as_a_transient_job(workdir, monkeypatch):
    b = _third_party_bus(workdir, monkeypatch)
    try:
        cp = b.dbus_send(NAME, "Env")
        assert cp.returncode == 0, f"{cp.stdout}{cp.stderr}\n{b.dbus_log()}\n{b.manager.log()[-3000:]}"
        info = b.manager.info(f"dbus:{NAME}")
        assert info is not None and info["runs"] == 1 and pid_alive(info["pid"]), info
        assert info["last_trigger"] in (f"D-Bus name {NAME}", "run at load") and info["path"] is None
        env = json.loads(cp.stdout.split('string "', 1)[1].rsplit('"', 1)[0].replace('\\"', '"'))
        assert env["DBUS_STARTER_ADDRESS"].startswith(b.address) and env["DBUS_STARTER_BUS_TYPE"] == "session"
        out = b.gdbus(NAME)
        assert out.returncode == 0 and f"pong from pid {info['pid']}" in out.stdout, out.stdout + out.stderr
        assert b.manager.info(f"dbus:{NAME}")["runs"] == 1, "later calls reach the running process"
    finally:
        b.stop()


def test_a_third_party_service_that_exits_first_fails_its_callers_at_once(workdir, monkeypatch):
    b = _third_party_bus(workdir, monkeypatch)
    try:
        t0 = time.monotonic()
        cp = b.busctl(DIES)
        took = time.monotonic() - t0
        assert cp.returncode != 0 and "exited with status 3" in cp.stderr, cp.stdout + cp.stderr
        assert took < 3, f"answered after {took:.1f} s, not at once"
        b.manager.wait_unloaded(f"dbus:{DIES}")  # a transient job goes with its process
        cp = b.dbus_send("org.example.NoFileAtAll")
        assert "org.freedesktop.DBus.Error.ServiceUnknown" in cp.stderr, cp.stderr
    finally:
        b.stop()
