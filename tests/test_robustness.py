"""Bad input, crash loops, shutdown and the job directories' life cycle."""

from __future__ import annotations

import os
import signal
import socket


from conftest import connect_and_talk, hammer, pid_alive, plist

GOOD = lambda label: plist(label, ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False},  # noqa: E731
                           Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}})


def test_bad_files_are_reported_and_the_rest_load(manager_factory, workdir):
    m = manager_factory(start=False)
    j = m.jobs_dir
    (j / "malformed.plist").write_text("<?xml version='1.0'?><plist><dict><key>Label</key>")
    m.write("array.plist", ["not", "a", "dict"])
    m.write("nolabel.plist", {"ProgramArguments": ["/bin/true"]})
    m.write("keepalive.plist", plist("test.badka", ProgramArguments=["/bin/true"], KeepAlive="yes"))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        m.write("porttaken.plist", plist("test.taken", ProgramArguments=["/bin/cat"],
                                         Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": port}}))
        m.write("good.plist", GOOD("test.good"))
        m.start()
        port_good = m.wait_loaded("test.good")["sockets"][0]["address"]["port"]
        assert connect_and_talk(port_good, b"still serving\n") == b"still serving\n"
        log = m.log()
        errors = [l for l in log.splitlines() if " ERROR " in l]
        def line_for(name):
            found = [l for l in errors if name in l]
            assert len(found) == 1, f"{name}: {errors}"
            return found[0]
        assert "malformed XML" in line_for("malformed.plist")
        assert "expected a dictionary" in line_for("array.plist") and "array of 3 items" in line_for("array.plist")
        assert "Label" in line_for("nolabel.plist") and "no Label key" in line_for("nolabel.plist")
        ka = line_for("keepalive.plist")
        assert "KeepAlive" in ka and "boolean or a dictionary" in ka and 'string "yes"' in ka
        pt = line_for("porttaken.plist")
        assert str(port) in pt and "Address already in use" in pt
        assert {j["label"] for j in m.jobs()} == {"test.good"}
        # Fixing a broken file on disk loads it without a restart.
        m.write("keepalive.plist", plist("test.badka", ProgramArguments=["/bin/sleep", "30"], KeepAlive=False))
        m.wait_loaded("test.badka")
    finally:
        taken.close()


def test_a_broken_edit_keeps_the_loaded_version(manager):
    p = manager.write("k.plist", GOOD("test.keep"))
    port = manager.wait_loaded("test.keep")["sockets"][0]["address"]["port"]
    p.write_text("<plist><dict>")  # an editor saved half a file
    manager.wait(lambda: "keeping the version already loaded" in manager.log(), 5, "error logged")
    assert connect_and_talk(port, b"ok\n") == b"ok\n"


def test_job_exiting_every_5_requests_loses_nothing(manager, churn_server):
    """1,000 sequential requests, then 1,000 from 8 concurrent clients, while
    the job exits after every 5: none refused, reset or lost."""
    manager.write("c.plist", plist(
        "test.churn", ThrottleInterval=0, ProgramArguments=[churn_server, "5", "exit0"],
        Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    port = manager.wait_loaded("test.churn")["sockets"][0]["address"]["port"]
    served, errors = hammer(port, clients=1, per_client=1000)
    assert not errors and served == 1000, errors[:5]
    served, errors = hammer(port, clients=8, per_client=125)
    assert not errors and served == 1000, errors[:5]
    info = manager.info("test.churn")
    assert info["runs"] >= 400 and info["last_exit_status"] == 0


def test_sigterm_stops_jobs_and_removes_sockets(manager_factory, workdir):
    m = manager_factory()
    unix_path = workdir / "s.sock"
    m.write("u.plist", plist("test.u", ProgramArguments=["/bin/sleep", "60"], RunAtLoad=True,
                             Sockets={"L": {"SockPathName": str(unix_path)}}))
    m.write("t.plist", plist("test.term", ProgramArguments=["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"],
                             RunAtLoad=True, ExitTimeOut=1))
    pid_u = m.wait_state("test.u", lambda i: i["pid"], what="running")["pid"]
    pid_t = m.wait_state("test.term", lambda i: i["pid"], what="running")["pid"]
    assert unix_path.exists()
    assert m.stop() == 0
    assert not pid_alive(pid_u) and not pid_alive(pid_t)
    assert not unix_path.exists()
    assert not os.path.exists(m.socket)


def test_sighup_rescans_and_retries_failed_loads(manager):
    """A job whose port was taken loads on SIGHUP once the port is free; the
    jobs already loaded are not disturbed."""
    manager.write("h.plist", GOOD("test.hup"))
    port_hup = manager.wait_loaded("test.hup")["sockets"][0]["address"]["port"]
    connect_and_talk(port_hup)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    manager.write("late.plist", plist("test.late", ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False},
                                      Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": port}}))
    manager.wait(lambda: "Address already in use" in manager.log(), 5, "load failure")
    assert manager.info("test.late") is None
    taken.close()
    manager.proc.send_signal(signal.SIGHUP)
    manager.wait_loaded("test.late")
    assert connect_and_talk(port, b"late\n") == b"late\n"
    assert manager.info("test.hup")["runs"] == 1 and manager.port("test.hup") == port_hup


def test_missing_jobs_dir_is_watched_for_creation(manager_factory, workdir):
    m = manager_factory(start=False)
    later = workdir / "later" / "LaunchAgents"
    m.extra_args = ["--jobs-dir", str(later)]
    m.start()
    later.mkdir(parents=True)
    m.write("l.plist", GOOD("test.later"), directory=later)
    m.wait_loaded("test.later", timeout=5)


def test_job_exec_failure_is_visible(manager):
    manager.write("x.plist", plist("test.noexec", ProgramArguments=["no-such-program-xyz"], RunAtLoad=True))
    info = manager.wait_state("test.noexec", lambda i: i["last_exit_status"] is not None, what="exit")
    assert info["last_exit_status"] == 2  # ENOENT, as launchd reports it
    assert "no-such-program-xyz" in info["spawn_error"] and "No such file" in info["spawn_error"]
