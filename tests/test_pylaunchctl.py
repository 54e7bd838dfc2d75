"""pylaunchctl against a running manager: verbs, output formats, errors."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import PYTHON, as_user, pid_alive, plist, wait_for


def sleeper(label, **keys):
    return plist(label, ProgramArguments=["/bin/sleep", "60"], **keys)


def test_list_columns_and_json(manager, workdir):
    manager.write("a.plist", sleeper("test.list.a", RunAtLoad=True))
    manager.write("b.plist", plist("test.list.b", ProgramArguments=["/bin/sh", "-c", "exit 3"], RunAtLoad=True))
    manager.write("c.plist", sleeper("test.list.c"))
    manager.wait_state("test.list.a", lambda i: i["pid"], what="running")
    manager.wait_state("test.list.b", lambda i: i["last_exit_status"] == 3, what="exit 3")
    manager.wait_loaded("test.list.c")
    out = manager.ctl("list").stdout.splitlines()
    assert out[0] == "PID\tStatus\tLabel"
    rows = {line.split("\t")[2]: line.split("\t") for line in out[1:]}
    assert rows["test.list.a"][0].isdigit() and rows["test.list.a"][1] == "0"
    assert rows["test.list.b"][:2] == ["-", "3"]
    assert rows["test.list.c"][:2] == ["-", "0"], "never run shows 0"
    jobs = {j["label"]: j for j in json.loads(manager.ctl("list", "--json").stdout)}
    assert jobs["test.list.c"] == {"label": "test.list.c", "pid": None, "last_exit_status": None,
                                   "state": "waiting", "runs": 0}
    assert jobs["test.list.b"]["last_exit_status"] == 3 and jobs["test.list.b"]["runs"] == 1
    assert jobs["test.list.a"]["state"] == "running" and isinstance(jobs["test.list.a"]["pid"], int)
    # list LABEL: launchctl's dictionary; LastExitStatus is the raw wait status (exit 3 -> 768).
    one = manager.ctl("list", "test.list.b").stdout
    assert '"Label" = "test.list.b";' in one and '"LastExitStatus" = 768;' in one
    assert '"ProgramArguments" = (' in one and '"/bin/sh";' in one


def test_list_shows_negative_signal(manager):
    manager.write("k.plist", sleeper("test.sig", RunAtLoad=True))
    pid = manager.wait_state("test.sig", lambda i: i["pid"], what="running")["pid"]
    os.kill(pid, 9)
    manager.wait_state("test.sig", lambda i: i["last_exit_status"] == -9, what="killed")
    row = [l for l in manager.ctl("list").stdout.splitlines() if l.endswith("test.sig")][0]
    assert row == "-\t-9\ttest.sig"


def test_print_text_and_json(manager, workdir):
    path = manager.write("p.plist", plist(
        "test.print", ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False},
        Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0},
                 "Local": {"SockPathName": str(workdir / "p.sock")}}, Bogus=1))
    manager.wait_loaded("test.print")
    info = json.loads(manager.ctl("print", "--json", "test.print").stdout)
    assert info["path"] == str(path) and info["program"] == "/bin/cat" and info["state"] == "waiting"
    by_name = {s["name"]: s for s in info["sockets"]}
    assert by_name["Listeners"]["family"] == "IPv4" and by_name["Listeners"]["type"] == "stream"
    assert by_name["Listeners"]["address"]["host"] == "127.0.0.1" and by_name["Listeners"]["address"]["port"] > 0
    assert by_name["Local"]["address"] == {"path": str(workdir / "p.sock")} and by_name["Local"]["family"] == "Unix"
    assert any("Bogus" in w for w in info["warnings"])
    text = manager.ctl("print", f"user/{os.getuid()}/test.print").stdout
    assert "state = waiting" in text and f"path = {path}" in text and "address = 127.0.0.1:" in text
    assert manager.ctl("print", "gui/501/test.print").returncode == 0
    assert manager.ctl("print", "system/test.print").returncode == 0


def test_load_unload_start_stop(manager, workdir):
    outside = workdir / "elsewhere"
    outside.mkdir()
    p = outside / "job.plist"
    import plistlib
    p.write_bytes(plistlib.dumps(sleeper("test.verbs")))
    manager.ctl("load", str(p))
    assert manager.info("test.verbs")["state"] == "waiting"
    again = manager.ctl("load", str(p), check=False)
    assert again.returncode != 0 and "already loaded" in again.stderr
    manager.ctl("start", "test.verbs")
    pid = manager.wait_state("test.verbs", lambda i: i["pid"], what="started")["pid"]
    manager.ctl("stop", "test.verbs")
    manager.wait_state("test.verbs", lambda i: i["state"] == "waiting" and i["last_exit_status"] == -15, what="stopped")
    assert not pid_alive(pid)
    manager.ctl("unload", str(p))
    manager.wait_unloaded("test.verbs")
    bad = manager.ctl("unload", str(p), check=False)
    assert bad.returncode != 0 and "not loaded" in bad.stderr


def test_load_directory(manager, workdir):
    import plistlib
    d = workdir / "batch"
    d.mkdir()
    for i in range(3):
        (d / f"j{i}.plist").write_bytes(plistlib.dumps(sleeper(f"test.batch.{i}")))
    (d / "notes.txt").write_text("not a job")
    manager.ctl("load", str(d))
    assert {j["label"] for j in manager.jobs()} >= {"test.batch.0", "test.batch.1", "test.batch.2"}


def test_disabled_and_w_persists_across_restart(manager_factory, workdir):
    m = manager_factory()
    p = m.write("d.plist", sleeper("test.disabled", Disabled=True))
    wait_for(lambda: "test.disabled is disabled" in m.log() or "test.disabled" in m.log(), what="log")
    assert m.info("test.disabled") is None
    refused = m.ctl("load", str(p), check=False)
    assert refused.returncode != 0 and "disabled" in refused.stderr and "-w" in refused.stderr
    m.ctl("load", "-w", str(p))
    assert m.info("test.disabled") is not None
    # Enabled persists across a restart of the manager, though the plist says Disabled.
    m.stop()
    m.start()
    m.wait_loaded("test.disabled")
    # unload -w disables persistently: not loaded at start nor on a file change.
    m.ctl("unload", "-w", str(p))
    m.wait_unloaded("test.disabled")
    m.write("d.plist", sleeper("test.disabled"))  # the file no longer says Disabled
    m.stop()
    m.start()
    assert m.info("test.disabled") is None
    m.ctl("load", "-F", str(p))  # -F: once, without changing the override
    assert m.info("test.disabled") is not None


def test_errors_unknown_label_and_no_manager(manager, workdir):
    cp = manager.ctl("print", "no.such.job", check=False)
    assert cp.returncode == 113 and "no.such.job" in cp.stderr
    cp = manager.ctl("start", "no.such.job", check=False)
    assert cp.returncode == 113
    env = dict(os.environ, PYLAUNCHD_CONTROL_SOCKET=str(workdir / "nothing.sock"))
    cp = subprocess.run([PYTHON, "-m", "pylaunchd.cli.launchctl", "list"], env=env, capture_output=True, text=True)
    assert cp.returncode != 0
    assert str(workdir / "nothing.sock") in cp.stderr and "pylaunchd" in cp.stderr
    assert cp.stderr.count("\n") == 1, "one clear line"


def test_load_of_a_bad_file_reports_validation_message(manager, workdir):
    bad = workdir / "bad.plist"
    bad.write_text("<plist><dict><key>Label</key><string>x</string>")
    cp = manager.ctl("load", str(bad), check=False)
    assert cp.returncode != 0 and str(bad) in cp.stderr and "malformed XML" in cp.stderr


def test_control_socket_permissions_and_second_manager_refused(manager, manager_factory, workdir):
    # The system domain's socket is readable by anyone (requests are checked
    # one by one); a per-user domain's is 0600 (see test_domains.py).
    st = os.stat(manager.socket)
    expected = 0o666 if os.geteuid() == 0 else 0o600
    assert st.st_mode & 0o777 == expected
    second = manager_factory(start=False, sub="second")
    second.socket = manager.socket
    second.start(wait=False)
    code = second.proc.wait(timeout=15)
    assert code != 0
    assert "already running" in second.log() and manager.socket in second.log()
    assert manager.ready(), "the first manager keeps its socket"


def test_other_user_may_read_but_not_change_the_system_domain(manager, workdir):
    """Even a peer that can reach the socket is judged by its SO_PEERCRED uid."""
    if os.getuid() != 0:
        import pytest
        pytest.skip("needs root to act as another user")
    import pwd
    from pylaunchd.control.protocol import request
    nobody = pwd.getpwnam("nobody")
    os.chmod(workdir, 0o755)
    manager.write("r.plist", sleeper("test.readable"))
    manager.wait_loaded("test.readable")
    listed = as_user(nobody.pw_uid, nobody.pw_gid, lambda: request(manager.socket, "list", timeout=10))
    assert "test.readable" in listed
    for verb in ("start", "stop", "remove", "kickstart"):
        answer = as_user(nobody.pw_uid, nobody.pw_gid,
                         lambda: request(manager.socket, verb, {"label": "test.readable"}, timeout=10))
        assert answer.startswith("1 ") and f"uid {nobody.pw_uid} may not" in answer, (verb, answer)
    assert manager.info("test.readable")["runs"] == 0
