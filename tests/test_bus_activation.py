"""Bus activation through a real dbus-daemon run by pylaunchd as a job:
MachServices names started on demand, answered for every client, failed at
once when the job cannot take its name.

Each test has its own manager, bus job (``dbus-daemon --address=systemd:
--systemd-activation``) and service directory (tests/bushelpers.py); the
provider is tests/busprovider.py.
"""

from __future__ import annotations

import json
import sys
import threading

from bushelpers import BUS_LABEL, CONSUMER, Bus, bus  # noqa: F401 - the fixture
from conftest import plist

NAME = "org.pylaunchd.Echo"


def _ok(cp, bus) -> str:
    assert cp.returncode == 0, f"{cp.stdout}{cp.stderr}\n--- dbus-daemon ---\n{bus.dbus_log()}\n" \
                               f"--- manager ---\n{bus.manager.log()[-3000:]}"
    return cp.stdout


def test_a_call_starts_the_job_and_every_client_is_answered(bus):
    bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    info = bus.manager.wait_loaded("test.echo")
    assert info["runs"] == 0 and info["pid"] is None
    assert (bus.services / f"{NAME}.service").exists()
    assert info["endpoints"][0]["state"] == "activatable"

    out = _ok(bus.dbus_send(NAME), bus)
    # The reply can reach the client before the manager has read NameOwnerChanged
    # and asked the bus for the owner's PID: wait for the manager's view.
    info = bus.manager.wait_state("test.echo", lambda i: i["endpoints"][0]["owner_pid"] is not None,
                                  what="the manager to see the name owned")
    pid = info["pid"]
    assert f"pong from pid {pid}" in out
    assert info["runs"] == 1 and info["last_trigger"] == f"D-Bus name {NAME}"
    (ep,) = info["endpoints"]
    assert ep["name"] == NAME and ep["state"] == "owned" and ep["owner_pid"] == pid and ep["owned_by_job"]
    assert ep["activations"] == 1
    assert bus.manager.info(BUS_LABEL)["runs"] == 1

    # The other clients reach the same process.
    assert bus.python_call(NAME) == f"pong from pid {pid}"
    assert f"pong from pid {pid}" in _ok(bus.busctl(NAME), bus)
    assert f"pong from pid {pid}" in _ok(bus.gdbus(NAME), bus)
    assert bus.manager.info("test.echo")["runs"] == 1

    text = bus.manager.ctl("print", "test.echo").stdout
    assert f'"{NAME}" = {{' in text and "state = owned" in text and f"(pid {pid}, this job)" in text, text
    assert f'"{NAME}" = mach-port-object;' in bus.manager.ctl("list", "test.echo").stdout
    domain = bus.manager.ctl("print", "user/0").stdout
    assert f"address = {bus.address}" in domain and "activator = pylaunchd" in domain, domain

    # A method call to pylaunchd's own name is answered, never left hanging.
    cp = bus.dbus_send("org.freedesktop.systemd1", "Frobnicate", timeout=5)
    assert cp.returncode != 0 and "org.freedesktop.DBus.Error.UnknownMethod" in cp.stderr, cp.stderr


def test_bus_provider_and_consumer_loaded_in_one_batch_start_in_any_order(workdir):
    """No KeepAlive, no order: the consumer (RunAtLoad) connects before
    dbus-daemon has started; its call starts the bus, then the provider."""
    b = Bus(workdir)
    out = workdir / "consumer.json"
    b.write("bus.plist", b.bus_plist())
    b.write("echo.plist", b.provider("test.echo", [NAME]))
    b.write("consumer.plist", plist("test.consumer", ProgramArguments=[sys.executable, CONSUMER, NAME, str(out)],
                                    RunAtLoad=True))
    try:
        b.manager.start()
        b.manager.wait(lambda: out.exists(), 20, "the consumer's answer")
        result = json.loads(out.read_text())
        pid = b.manager.info("test.echo")["pid"]
        assert result.get("reply") == f"pong from pid {pid}", (result, b.dbus_log())
        assert b.manager.info(BUS_LABEL)["runs"] == 1 and b.manager.info("test.echo")["runs"] == 1
    finally:
        b.stop()


def test_twenty_simultaneous_callers_start_one_process_and_all_are_answered(bus):
    bus.write("echo.plist", bus.provider("test.echo", [NAME], "slow"))
    bus.manager.wait_loaded("test.echo")
    answers: list = []
    threads = [threading.Thread(target=lambda: answers.append(bus.python_call(NAME))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    info = bus.manager.info("test.echo")
    assert info["runs"] == 1
    assert answers == [f"pong from pid {info['pid']}"] * 20, answers


def test_a_crashed_job_is_started_again_by_the_next_call(bus):
    bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    bus.manager.wait_loaded("test.echo")
    first = bus.python_call(NAME)
    pid = bus.manager.info("test.echo")["pid"]
    crashed = bus.python_call(NAME, "Crash")
    assert crashed[0] == "error" and crashed[1] == "org.freedesktop.DBus.Error.NoReply", crashed
    bus.manager.wait_state("test.echo", lambda i: i["pid"] != pid and i["last_exit"], what="the crash reaped")
    again = bus.python_call(NAME)
    info = bus.manager.info("test.echo")
    assert again == f"pong from pid {info['pid']}" != first
    assert info["runs"] == 2 and info["endpoints"][0]["activations"] == 2


def test_a_call_that_comes_while_the_job_stops_is_answered_by_its_next_start(bus):
    bus.write("echo.plist", bus.provider("test.echo", [NAME], "lingering", ThrottleInterval=0))
    bus.manager.wait_loaded("test.echo")
    first = bus.python_call(NAME)
    bus.manager.ctl("stop", "test.echo")
    bus.manager.wait_state("test.echo", lambda i: i["state"] == "stopping" and i["endpoints"][0]["owner"] is None,
                           what="stopping, its name given up")
    again = bus.python_call(NAME)
    info = bus.manager.info("test.echo")
    assert again == f"pong from pid {info['pid']}" != first, (again, bus.manager.log()[-2000:])
    assert info["runs"] == 2
