"""Bus activation through a real dbus-daemon run by pylaunchd as a job:
MachServices names started on demand, with real clients."""

from __future__ import annotations

import json

from bushelpers import BUS_LABEL, bus  # noqa: F401 - the fixture
from conftest import pid_alive

NAME = "org.pylaunchd.Echo"


def test_a_call_starts_the_job_and_is_answered(bus):
    bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    info = bus.manager.wait_loaded("test.echo")
    assert info["runs"] == 0 and info["pid"] is None
    assert (bus.services / f"{NAME}.service").exists()
    cp = bus.dbus_send(NAME)
    assert cp.returncode == 0, f"{cp.stdout}{cp.stderr}\n{bus.dbus_log()}\n{bus.manager.log()[-3000:]}"
    info = bus.manager.info("test.echo")
    assert f'pong from pid {info["pid"]}' in cp.stdout
    assert info["runs"] == 1 and info["last_trigger"] == f"D-Bus name {NAME}"
    (ep,) = info["endpoints"]
    assert ep["name"] == NAME and ep["state"] == "owned" and ep["owner_pid"] == info["pid"]
    assert ep["activations"] == 1
    assert bus.manager.info(BUS_LABEL)["runs"] == 1
