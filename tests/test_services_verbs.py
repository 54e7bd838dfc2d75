"""pylaunchctl services: brew services' list, info, start, stop, restart
and run, against a real manager, and its renderers in process."""

from __future__ import annotations

import json
import pwd
import os

from conftest import plist
from pylaunchd.control.status import JobSummary
from pylaunchd.control.verbs.services import format_info, format_table, status_word

ME = pwd.getpwuid(os.geteuid()).pw_name


def test_status_words_and_columns():
    assert status_word(None) == "none"
    assert status_word(JobSummary("a", 12, None, "running", 1)) == "started"
    assert status_word(JobSummary("a", None, 3, "waiting", 1)) == "error 3"
    assert status_word(JobSummary("a", None, 0, "waiting", 1)) == "scheduled"
    table = format_table([{"name": "redis", "status": "started", "user": "me", "file": "/x/redis.plist"},
                          {"name": "a", "status": "none", "user": None, "file": "/x/a.plist"}])
    assert table.splitlines() == ["Name  Status  User File",
                                  "redis started me   /x/redis.plist",
                                  "a     none         /x/a.plist"]
    info = format_info({"name": "a", "service_name": "a", "running": False, "loaded": True, "schedulable": True,
                        "user": "me", "pid": None, "exit_code": None})
    assert info.splitlines() == ["a (a)", "Running: ✘", "Loaded: ✔", "Schedulable: ✔", "User: me"]


def rows(manager) -> dict:
    return {r["name"]: r for r in json.loads(manager.ctl("services", "list", "--json").stdout)}


def test_services_list_info_stop_start_restart(manager):
    path = manager.write("test.svc.a.plist", plist("test.svc.a", ProgramArguments=["/bin/sleep", "600"],
                                                   KeepAlive=True))
    manager.write("test.svc.b.plist", plist("test.svc.b", ProgramArguments=["/bin/true"], StartInterval=3600))
    pid = manager.wait_state("test.svc.a", lambda i: i["pid"], what="running")["pid"]
    manager.wait_loaded("test.svc.b")

    lines = manager.ctl("services", "list").stdout.splitlines()
    assert lines[0].split() == ["Name", "Status", "User", "File"]
    assert [ln.split() for ln in lines[1:]] == [["test.svc.a", "started", ME, str(path)],
                                                ["test.svc.b", "scheduled", ME, str(manager.jobs_dir / "test.svc.b.plist")]]
    info = manager.ctl("services", "info", "test.svc.a").stdout.splitlines()
    assert info == ["test.svc.a (test.svc.a)", "Running: ✔", "Loaded: ✔", "Schedulable: ✘", f"User: {ME}",
                    f"PID: {pid}"]
    assert "Schedulable: ✔" in manager.ctl("services", "info", "test.svc.b").stdout

    assert "Successfully stopped `test.svc.a`" in manager.ctl("services", "stop", "test.svc.a").stdout
    manager.wait_unloaded("test.svc.a")
    assert rows(manager)["test.svc.a"] == {"name": "test.svc.a", "status": "none", "user": None,
                                           "file": str(path), "exit_code": None}
    assert "is not started" in manager.ctl("services", "stop", "test.svc.a").stdout

    assert "Successfully started `test.svc.a`" in manager.ctl("services", "start", "test.svc.a").stdout
    pid2 = manager.wait_state("test.svc.a", lambda i: i["pid"], what="running again")["pid"]
    assert "already started" in manager.ctl("services", "start", "test.svc.a").stdout

    manager.ctl("services", "restart", "test.svc.a")
    manager.wait_state("test.svc.a", lambda i: i["pid"] and i["pid"] != pid2, what="a new process")


def test_services_stop_keep_and_run_and_errors(manager):
    path = manager.write("test.svc.c.plist", plist("test.svc.c", ProgramArguments=["/bin/sleep", "600"],
                                                   RunAtLoad=True))
    manager.wait_state("test.svc.c", lambda i: i["pid"], what="running")
    manager.ctl("services", "stop", "--keep", "test.svc.c")
    manager.wait_unloaded("test.svc.c")
    manager.ctl("services", "run", str(path))
    manager.wait_state("test.svc.c", lambda i: i["pid"], what="running by run")
    assert manager.ctl("services", "start", "test.svc.nothing", check=False).returncode == 113
    assert manager.ctl("services", "frobnicate", check=False).returncode == 64
    assert manager.ctl("services", "info", check=False).returncode == 64
