"""The pure parts of bus activation: names, the MachServices reader, the
registry's rules, the service files and the error names."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pylaunchd.bus import names
from pylaunchd.bus.locate import unix_path
from pylaunchd.bus.registry import BusRegistry
from pylaunchd.bus.servicedir import ServiceDir
from pylaunchd.jobspec import BusNameSpec
from pylaunchd.spec import SpecError, validate


def job(**keys):
    return validate({"Label": "t.job", "ProgramArguments": ["/bin/true"], **keys}, "/j/t.plist")


@pytest.mark.parametrize("name, why", [
    ("org.example.Echo", None), ("org.example.a-b_c.D9", None), ("_x.y", None),
    ("", "empty"), ("single", "a single element"), ("org..x", "an empty element"), ("org.9x", "starts with a digit"),
    ("org.ex$ample", "a character other than"), (":1.5", "unique connection name"), ("a." * 130 + "b", "longer than"),
    ("org.freedesktop.DBus", "the bus's own name"), ("org.freedesktop.systemd1", "pylaunchd's own name"),
])
def test_name_rules(name, why):
    problem = names.name_problem(name)
    assert (problem is None) if why is None else (why in problem), problem


def test_mach_services_reader_keeps_what_it_can_and_warns_with_key_paths():
    s = job(MachServices={"org.ex.A": True, "bad": True, "org.ex.C": False,
                          "org.ex.B": {"HideUntilCheckIn": True, "ResetAtClose": True, "HostSpecialPort": 5,
                                       "Frobnicate": 1, "hideuntilcheckin": True}})
    assert s.mach_services == (BusNameSpec("org.ex.A"), BusNameSpec("org.ex.B", True, True))
    text = [str(w) for w in s.warnings]
    assert any(w.startswith("MachServices.bad: not a D-Bus well-known name") for w in text), text
    assert "MachServices.org.ex.C: false does not advertise the name; ignored" in text
    assert any(w.startswith("MachServices.org.ex.B.HostSpecialPort: a Mach-only sub-key") for w in text)
    assert any(w.startswith("MachServices.org.ex.B.Frobnicate: unknown key") for w in text)
    assert "MachServices" not in s.ignored_keys
    with pytest.raises(SpecError, match=r"MachServices.org.ex.A: expected true, or a dictionary"):
        job(MachServices={"org.ex.A": "yes"})
    with pytest.raises(SpecError, match=r"MachServices: expected a dictionary"):
        job(MachServices=["org.ex.A"])


def test_names_are_part_of_the_jobs_identity():
    assert job(MachServices={"org.ex.A": True}) != job(MachServices={"org.ex.B": True})


def test_registry_files_follow_the_names_and_a_name_has_one_job():
    r = BusRegistry()
    assert r.set_job("a", (BusNameSpec("org.ex.A"), BusNameSpec("org.ex.H", True))) == (["org.ex.A"], ["org.ex.H"])
    assert r.conflict("b", (BusNameSpec("org.ex.A"),)) == ("org.ex.A", "a")
    assert r.conflict("a", (BusNameSpec("org.ex.A"),)) is None
    # a hot edit: A goes, B comes, H is no longer hidden
    assert r.set_job("a", (BusNameSpec("org.ex.B"), BusNameSpec("org.ex.H"))) == (["org.ex.B", "org.ex.H"],
                                                                                  ["org.ex.A"])
    assert r.set_job("a", (BusNameSpec("org.ex.B"), BusNameSpec("org.ex.H"))) == ([], [])
    assert r.remove_job("a") == (["org.ex.B", "org.ex.H"], [])
    assert not r.names and not r.by_label


def test_registry_states_and_the_names_whose_callers_are_failed():
    r = BusRegistry()
    r.set_job("a", (BusNameSpec("org.ex.A"), BusNameSpec("org.ex.B"), BusNameSpec("org.ex.H", True)))
    st = r.names["org.ex.A"]
    assert r.state(st) == "activatable" and r.state(r.names["org.ex.H"]) == "hidden until check-in"
    assert r.state(st, "another activator") == "not registered: another activator"
    r.requested("org.ex.A", 100.0)
    r.requested("org.ex.B", 100.0)
    assert r.state(st) == "starting" and st.activations == 1 and st.last_activation == 100.0
    r.owner_changed("org.ex.A", ":1.7")
    assert r.state(st) == "owned" and not st.pending
    r.owner_pid("org.ex.A", ":1.7", 42, by_job=False)
    assert r.state(st) == "owned by another process"
    assert r.owner_pid("org.ex.A", ":1.8", 43, by_job=True) is None  # an answer about an older owner
    assert r.ended("a") == (["org.ex.B"], [])  # A was taken; B's callers still wait
    assert r.ended("a") == ([], [])
    r.requested("org.ex.B", 100.5)
    r.names["org.ex.B"].again = True  # asked for while the job was being stopped
    assert r.ended("a") == ([], ["org.ex.B"])
    r.owner_changed("org.ex.A", None)
    assert r.state(st) == "activatable" and st.owner_pid is None
    assert not r.check_in("org.ex.A") and r.check_in("org.ex.H") and not r.check_in("org.ex.H")
    assert r.state(r.names["org.ex.H"]) == "activatable"  # checked in once: activatable since
    assert r.set_job("a", (BusNameSpec("org.ex.A"), BusNameSpec("org.ex.B"), BusNameSpec("org.ex.H", True))) == (
        [], ["org.ex.H"])  # a new definition hides it again until it checks in
    r.requested("org.ex.A", 101.0)
    assert r.remove_job("a")[1] == ["org.ex.A"]


def test_error_names_are_dbus_daemons():
    assert names.failure_for_exit("t.job", 3, None) == (
        names.CHILD_EXITED, "Process t.job exited with status 3 before it took its bus name")
    err, msg = names.failure_for_exit("t.job", None, signal.SIGKILL)
    assert err == "org.freedesktop.DBus.Error.Spawn.ChildSignaled" and "signal 9 (SIGKILL)" in msg
    assert names.failure_for_spawn("t.job", "No such file")[0] == "org.freedesktop.DBus.Error.Spawn.ExecFailed"
    assert names.failure_unknown("t.job", "user/0")[0] == "org.freedesktop.DBus.Error.ServiceUnknown"


def test_service_files_are_written_removed_and_never_someone_elses(tmp_path):
    d = ServiceDir(str(tmp_path / "services"), str(tmp_path / "state"))
    assert d.write("org.ex.A", "t.job") is None
    text = (tmp_path / "services" / "org.ex.A.service").read_text()
    assert "[D-BUS Service]\nName=org.ex.A\nExec=/bin/false\nSystemdService=org.ex.A\n" in text
    theirs = tmp_path / "services" / "org.ex.B.service"
    theirs.write_text("[D-BUS Service]\nName=org.ex.B\nExec=/usr/bin/b\n")
    assert "not written by pylaunchd" in d.write("org.ex.B", "t.job")
    d.remove("org.ex.B")
    assert theirs.exists()
    # a manager started later knows what the earlier one wrote, and removes only that
    again = ServiceDir(str(tmp_path / "services"), str(tmp_path / "state"))
    assert again.prune(set()) == ["org.ex.A"]
    assert not (tmp_path / "services" / "org.ex.A.service").exists() and theirs.exists()
    # a file of ours replaced by someone else's meanwhile is theirs now
    assert again.write("org.ex.C", "t.job") is None
    (tmp_path / "services" / "org.ex.C.service").write_text("[D-BUS Service]\nName=org.ex.C\nExec=/x\n")
    again.remove("org.ex.C")
    assert (tmp_path / "services" / "org.ex.C.service").exists()
    assert "User=root" in names.service_file_text("org.ex.A", "t.job", "root")


def test_unix_path_of_an_address():
    assert unix_path("unix:path=/run/user/1000/bus") == "/run/user/1000/bus"
    assert unix_path("unix:abstract=x;unix:path=/tmp/b,guid=1") == "/tmp/b"
    assert unix_path("tcp:host=localhost,port=1") is None and unix_path(None) is None


def test_jeepney_is_imported_by_the_bridge_alone():
    """pylaunchctl, the manager and the hub never import it: the bridge does, on the first connection."""
    code = ("import sys, pylaunchd.manager, pylaunchd.cli.launchctl, pylaunchd.control.server, pylaunchd.bus.hub; "
            "print('jeepney' in sys.modules)")
    cp = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                        env={**os.environ, "PYTHONSAFEPATH": "1"})
    assert cp.stdout.strip() == "False", cp.stderr
