"""The bus job killed and coming back, a squatter on a name, a file pylaunchd
did not write, and the environment bus-activated jobs get."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from bushelpers import BUS_LABEL, bus, need  # noqa: F401 - the fixture
from pylaunchd.control.protocol import request

NAME = "org.pylaunchd.Echo"

SQUATTER = """
import sys, time
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection
conn = open_dbus_connection(sys.argv[1])
print(conn.send_and_get_reply(message_bus.RequestName(sys.argv[2], 4)).body[0], flush=True)
time.sleep(60)
"""


def test_the_bus_killed_comes_back_on_the_next_call_and_activation_works_again(bus):
    bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    bus.manager.wait_loaded("test.echo")
    assert "pong" in bus.dbus_send(NAME).stdout
    daemon = bus.manager.info(BUS_LABEL)["pid"]
    os.kill(daemon, signal.SIGKILL)
    bus.manager.wait_state(BUS_LABEL, lambda i: i["pid"] is None, what="dbus-daemon reaped")
    # The provider lost its bus and exits; the socket stays, so the next call restarts the bus.
    bus.manager.wait_state("test.echo", lambda i: i["pid"] is None, what="the provider gone with its bus")
    out = bus.dbus_send(NAME)
    assert out.returncode == 0, out.stderr + bus.manager.log()[-3000:]
    info = bus.manager.info("test.echo")
    assert f"pong from pid {info['pid']}" in out.stdout
    assert bus.manager.info(BUS_LABEL)["runs"] == 2 and info["runs"] == 2
    assert "connected = yes" in bus.manager.ctl("print", "user/0").stdout


def test_a_squatter_is_shown_and_warned_of_not_fought(bus):
    bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    bus.manager.wait_loaded("test.echo")
    squatter = subprocess.Popen([sys.executable, "-c", SQUATTER, bus.address, NAME], stdout=subprocess.PIPE,
                                text=True)
    try:
        assert squatter.stdout.readline().strip() == "1"  # the primary owner
        info = bus.manager.wait_state("test.echo", lambda i: i["endpoints"][0]["owner_pid"] == squatter.pid,
                                      what="the squatter seen")
        assert info["endpoints"][0]["state"] == "owned by another process" and info["pid"] is None
        assert not info["endpoints"][0]["owned_by_job"]
        assert f"(pid {squatter.pid}), which is not this job" in bus.manager.log()
        assert "not this job" in bus.manager.ctl("print", "test.echo").stdout
    finally:
        squatter.kill()
        squatter.wait()
    bus.manager.wait_state("test.echo", lambda i: i["endpoints"][0]["state"] == "activatable", what="the name free")
    assert "pong" in bus.dbus_send(NAME).stdout


def test_a_service_file_pylaunchd_did_not_write_is_left_alone(bus):
    bus.services.mkdir(exist_ok=True)
    theirs = bus.services / f"{NAME}.service"
    theirs.write_text("[D-BUS Service]\nName=org.pylaunchd.Echo\nExec=/bin/false\n")
    bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    info = bus.manager.wait_loaded("test.echo")
    assert info["endpoints"][0]["state"].startswith("not registered: ") and "not written by pylaunchd" in \
        info["endpoints"][0]["state"]
    assert f"MachServices {NAME}: " in bus.manager.log()
    bus.manager.ctl("unload", str(bus.manager.jobs_dir / "echo.plist"))
    bus.manager.wait_unloaded("test.echo")
    assert theirs.read_text().startswith("[D-BUS Service]"), "neither replaced nor removed"


def test_the_environment_of_bus_jobs_and_update_activation_environment(bus):
    (update,) = need("dbus-update-activation-environment")
    bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    bus.manager.wait_loaded("test.echo")
    cp = subprocess.run([update, "FROM_TEST=yes"], env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS=bus.address),
                        capture_output=True, text=True, timeout=20)
    assert cp.returncode == 0, cp.stderr
    bus.manager.wait(lambda: request(bus.manager.socket, "getenv").get("FROM_TEST") == "yes", 10,
                     "SetEnvironment to reach the domain")
    assert bus.manager.ctl("getenv", "FROM_TEST").stdout.strip() == "yes"
    env = json.loads(bus.python_call(NAME, "Env"))
    assert env == {"DBUS_SESSION_BUS_ADDRESS": bus.address, "DBUS_STARTER_ADDRESS": bus.address,
                   "DBUS_STARTER_BUS_TYPE": "session", "FROM_TEST": "yes"}, env


def _bus(b) -> dict:
    return request(b.manager.socket, "domain")["bus"]


def _external_bus(b) -> subprocess.Popen:
    """dbus-daemon run by the test, not by pylaunchd (a bus someone else runs)."""
    config = b.root / "external.conf"
    config.write_text(b.config.read_text().replace("<listen>systemd:</listen>", f"<listen>{b.address}</listen>"))
    proc = subprocess.Popen([b.dbus_daemon, f"--config-file={config}", "--systemd-activation", "--nofork",
                             "--nopidfile", "--print-address=1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert proc.stdout.readline().startswith("unix:")  # it listens
    return proc


def test_a_bus_run_by_someone_else_is_connected_at_start_and_again_after_it_restarts(workdir):
    from bushelpers import Bus
    b = Bus(workdir)
    b.socket = workdir / "ext.sock"
    b.address = f"unix:path={b.socket}"
    b.manager.extra_args[b.manager.extra_args.index("--bus-address") + 1] = b.address
    daemon = _external_bus(b)
    try:
        b.write("echo.plist", b.provider("test.echo", [NAME]))
        b.manager.start()
        b.manager.wait(lambda: _bus(b)["connected"], 10, "connected")
        assert "bus job = (run by someone else)" in b.manager.ctl("print", "user/0").stdout
        assert "pong" in b.dbus_send(NAME).stdout
        daemon.kill()
        daemon.wait()
        b.manager.wait_state("test.echo", lambda i: i["pid"] is None, what="the provider gone with its bus")
        daemon = _external_bus(b)
        b.manager.wait(lambda: _bus(b)["connected"], 10, "reconnected")
        out = b.dbus_send(NAME)
        assert "pong" in out.stdout, out.stderr + b.manager.log()[-2000:]
    finally:
        daemon.kill()
        daemon.wait()
        b.stop()
