"""A third party's installed .service file with SystemdService=, on a bus
where pylaunchd is the activator: its Exec= runs as a transient job."""

from __future__ import annotations

import sys

import pytest

from bushelpers import PROVIDER, Bus

pytest.importorskip("pylaunchd.bus.thirdparty", reason="the third-party file reader (branch busops) is not here")

NAME = "org.pylaunchd.Third"


def test_an_installed_file_for_a_unit_no_job_serves_runs_its_exec(workdir, monkeypatch):
    share = workdir / "share"
    services = share / "dbus-1" / "services"
    services.mkdir(parents=True)
    (services / f"{NAME}.service").write_text(
        f"[D-BUS Service]\nName={NAME}\nExec={sys.executable} {PROVIDER} serve {NAME}\nSystemdService=third.service\n")
    monkeypatch.setenv("XDG_DATA_DIRS", str(share))
    b = Bus(workdir)
    b.config.write_text(b.config.read_text().replace("</busconfig>", f"  <servicedir>{services}</servicedir>\n"
                                                                      "</busconfig>"))
    b.write("bus.plist", b.bus_plist())
    try:
        b.manager.start()
        cp = b.dbus_send(NAME)
        assert cp.returncode == 0, cp.stderr + b.manager.log()[-3000:]
        info = b.manager.info(f"dbus:{NAME}")
        assert f"pong from pid {info['pid']}" in cp.stdout
        assert info["last_trigger"] == f"D-Bus name {NAME}" or info["last_trigger"] == "run at load"
        assert not (b.services / f"{NAME}.service").exists(), "no file of pylaunchd's beside theirs"
        assert "pong" in b.python_call(NAME)
        b.manager.ctl("kill", "TERM", f"dbus:{NAME}")
        b.manager.wait_unloaded(f"dbus:{NAME}")
        assert "pong" in b.dbus_send(NAME).stdout, "found afresh by the next call"
    finally:
        b.stop()
