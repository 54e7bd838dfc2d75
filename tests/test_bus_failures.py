"""Bus activation that cannot succeed tells the callers at once, with
dbus-daemon's own error names, and names come and go with their jobs."""

from __future__ import annotations


from bushelpers import bus  # noqa: F401 - the fixture

NAME = "org.pylaunchd.Echo"


def _error(cp) -> str:
    assert cp.returncode != 0, cp.stdout
    return cp.stderr


def test_a_job_that_cannot_take_its_name_fails_its_callers_within_a_second(bus):
    kinds = {"org.pylaunchd.Exits": ("exit3", "org.freedesktop.DBus.Error.Spawn.ChildExited", "status 3"),
             "org.pylaunchd.Signaled": ("signal", "org.freedesktop.DBus.Error.Spawn.ChildSignaled", "signal 15"),
             "org.pylaunchd.Missing": (None, "org.freedesktop.DBus.Error.Spawn.ExecFailed", "No such file")}
    for i, (name, (mode, _, _)) in enumerate(kinds.items()):
        keys = bus.provider(f"test.fail{i}", [name], mode or "serve")
        if mode is None:
            keys["ProgramArguments"] = ["/nonexistent/provider", name]
        bus.write(f"fail{i}.plist", keys)
    for i in range(3):
        bus.manager.wait_loaded(f"test.fail{i}")
    for i, (name, (_, error, detail)) in enumerate(kinds.items()):
        cp, seconds = bus.timed(bus.dbus_send, name)
        text = _error(cp)
        assert error in text and f"test.fail{i}" in text and detail in text, (text, bus.manager.log()[-2000:])
        assert seconds < 1.0, f"{name}: answered after {seconds:.2f} s"
        assert bus.manager.info(f"test.fail{i}")["endpoints"][0]["state"] == "activatable"

    # A unit nobody serves (a file pylaunchd did not write) is answered at once too.
    (bus.services / "org.pylaunchd.Foreign.service").write_text(
        "[D-BUS Service]\nName=org.pylaunchd.Foreign\nExec=/bin/false\nSystemdService=foreign.service\n")
    cp, seconds = bus.timed(bus.dbus_send, "org.pylaunchd.Foreign")
    text = _error(cp)
    assert "org.freedesktop.DBus.Error.ServiceUnknown" in text and "foreign.service" in text, text
    assert seconds < 1.0


def test_unload_disable_and_enable_take_the_name_away_and_back(bus):
    path = bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    bus.manager.wait_loaded("test.echo")
    assert "pong" in bus.dbus_send(NAME).stdout
    service_file = bus.services / f"{NAME}.service"

    bus.manager.ctl("unload", str(path))
    bus.manager.wait_unloaded("test.echo")
    assert not service_file.exists()
    assert "org.freedesktop.DBus.Error.ServiceUnknown" in _error(bus.dbus_send(NAME))

    bus.manager.ctl("load", str(path))
    bus.manager.wait_loaded("test.echo")
    assert service_file.exists() and "pong" in bus.dbus_send(NAME).stdout

    bus.manager.ctl("stop", "test.echo")
    bus.manager.wait_state("test.echo", lambda i: i["pid"] is None, what="stopped")
    bus.manager.ctl("disable", "user/0/test.echo")
    assert not service_file.exists()
    assert "ServiceUnknown" in _error(bus.dbus_send(NAME))
    assert bus.manager.info("test.echo")["endpoints"][0]["state"] == "not registered: the job is disabled"
    bus.manager.ctl("enable", "user/0/test.echo")
    assert service_file.exists() and "pong" in bus.dbus_send(NAME).stdout


def test_a_hot_edit_of_the_names_moves_the_service_files(bus):
    bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    bus.manager.wait_loaded("test.echo")
    bus.write("echo.plist", bus.provider("test.echo", ["org.pylaunchd.Renamed"]))
    bus.manager.wait_state("test.echo", lambda i: [e["name"] for e in i["endpoints"]] == ["org.pylaunchd.Renamed"],
                           what="the new name")
    assert not (bus.services / f"{NAME}.service").exists()
    assert (bus.services / "org.pylaunchd.Renamed.service").exists()
    assert "pong" in bus.dbus_send("org.pylaunchd.Renamed").stdout
    assert "ServiceUnknown" in _error(bus.dbus_send(NAME))

    # A second job claiming that name is a load error naming both jobs.
    other = bus.write("other.plist", bus.provider("test.other", ["org.pylaunchd.Renamed"]))
    cp = bus.manager.ctl("load", str(other), check=False)
    assert cp.returncode == 5, cp.stdout + cp.stderr
    text = cp.stdout + cp.stderr
    assert "MachServices.org.pylaunchd.Renamed" in text and "test.echo" in text and "echo.plist" in text, text
    errors = bus.manager.ctl("errors", check=False)
    assert "other.plist" in errors.stdout + errors.stderr and "test.echo" in errors.stdout + errors.stderr


def test_hide_until_check_in_hides_the_name_until_the_job_has_owned_it(bus):
    bus.write("echo.plist", bus.provider("test.echo", {NAME: {"HideUntilCheckIn": True, "ResetAtClose": True}}))
    info = bus.manager.wait_loaded("test.echo")
    assert info["endpoints"][0]["state"] == "hidden until check-in"
    assert info["endpoints"][0]["hide_until_check_in"] and not info["warnings"], info["warnings"]
    assert not (bus.services / f"{NAME}.service").exists()
    assert "ServiceUnknown" in _error(bus.dbus_send(NAME))
    assert bus.manager.info("test.echo")["runs"] == 0

    bus.manager.ctl("start", "test.echo")
    info = bus.manager.wait_state("test.echo", lambda i: i["endpoints"][0]["state"] == "owned", what="checked in")
    assert f"pong from pid {info['pid']}" in bus.dbus_send(NAME).stdout
    # Checked in: from now on a call starts it, as any name.
    assert (bus.services / f"{NAME}.service").exists()
    bus.manager.ctl("stop", "test.echo")
    bus.manager.wait_state("test.echo", lambda i: i["pid"] is None, what="stopped")
    out = bus.dbus_send(NAME).stdout
    assert f"pong from pid {bus.manager.info('test.echo')['pid']}" in out


def test_a_new_label_in_the_same_plist_takes_the_names_over(bus):
    bus.write("echo.plist", bus.provider("test.echo", [NAME]))
    bus.manager.wait_loaded("test.echo")
    bus.write("echo.plist", bus.provider("test.renamed", [NAME]))
    info = bus.manager.wait_state("test.renamed", lambda i: [e["name"] for e in i["endpoints"]] == [NAME],
                                  what="the name handed over")
    assert info["endpoints"][0]["state"] == "activatable", info["endpoints"]
    bus.manager.wait_unloaded("test.echo")
    out = bus.dbus_send(NAME).stdout
    assert f"pong from pid {bus.manager.info('test.renamed')['pid']}" in out
