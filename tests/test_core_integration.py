"""End to end: pylaunchd as a subprocess, a temporary jobs directory, pylaunchctl, real clients."""

from __future__ import annotations

import os
import socket

import pytest

from conftest import PYTHON, connect_and_talk, free_port, job_script, pid_alive, plist, port_free, unix_talk, wait_for


def line_job(label, workdir, port=0, mode="fromfd", extra=(), **keys):
    pid_dir = workdir / "pids"
    pid_dir.mkdir(exist_ok=True)
    return plist(label,
                 ProgramArguments=[PYTHON, job_script("line_server.py"), "--mode", mode,
                                   "--pid-dir", str(pid_dir), *extra],
                 Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": port}},
                 **keys)


def test_socket_exists_before_job_and_first_connection_starts_it(manager, workdir):
    manager.write("a.plist", line_job("test.a", workdir))
    info = manager.wait_loaded("test.a")
    assert info["state"] == "waiting" and info["pid"] is None and info["runs"] == 0
    port = info["sockets"][0]["address"]["port"]
    # The socket listens although nothing runs: the kernel queues the client.
    reply = connect_and_talk(port, b"hello\n").decode()
    assert "data=hello" in reply
    fields = dict(f.split("=", 1) for f in reply.split()[1:])
    assert fields["pid"] == fields["listen_pid"], "LISTEN_PID must be the job's own pid"
    assert fields["fds"] == "1" and fields["names"] == "Listeners"
    info = manager.info("test.a")
    assert info["state"] == "running" and info["pid"] == int(fields["pid"]) and info["runs"] == 1
    assert info["watching_sockets"] is False


def test_activate_socket_api_serves(manager, workdir):
    manager.write("b.plist", line_job("test.b", workdir, mode="activate"))
    port = manager.wait_loaded("test.b")["sockets"][0]["address"]["port"]
    assert "data=x" in connect_and_talk(port, b"x\n").decode()


def test_no_manager_fd_leaks_into_the_job(manager, workdir):
    out = workdir / "fds.txt"
    code = ("import fcntl, os\n"
            "def is_open(fd):\n"
            "    try: fcntl.fcntl(fd, fcntl.F_GETFD); return True\n"
            "    except OSError: return False\n"
            "open_fds = [fd for fd in range(4096) if is_open(fd)]\n"
            f"open({str(out)!r} + '.tmp', 'w').write(repr(open_fds) + ' ' + os.environ['LISTEN_FDS'] + ' ' + os.environ['LISTEN_FDNAMES'])\n"
            f"os.rename({str(out)!r} + '.tmp', {str(out)!r})\n")
    manager.write("fds.plist", plist(
        "test.fds", ProgramArguments=[PYTHON, "-c", code], RunAtLoad=True,
        Sockets={"one": {"SockNodeName": "127.0.0.1", "SockServiceName": 0},
                 "two": [{"SockNodeName": "127.0.0.1", "SockServiceName": 0},
                         {"SockPathName": str(workdir / "two.sock")}]}))
    wait_for(out.exists, what="job output")
    # 0-2 and the three sockets at 3-5 (the open() of the result file comes after the scan).
    assert out.read_text() == "[0, 1, 2, 3, 4, 5] 3 one:two:two"


def test_job_output_is_appended_to_standard_paths(manager, workdir):
    out, err = workdir / "out.log", workdir / "err.log"
    out.write_text("before\n")
    manager.write("o.plist", plist("test.out", ProgramArguments=["/bin/sh", "-c", "echo to-out; echo to-err >&2"],
                                   RunAtLoad=True, StandardOutPath=str(out), StandardErrorPath=str(err)))
    wait_for(lambda: err.exists() and "to-err" in err.read_text(), what="stderr file")
    assert out.read_text() == "before\nto-out\n"


def test_unix_socket_with_mode_and_cleanup_on_delete(manager, workdir):
    path = workdir / "echo.sock"
    plist_path = manager.write("u.plist", plist(
        "test.unix", ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False},
        Sockets={"Listeners": {"SockPathName": str(path), "SockPathMode": 438}}))
    manager.wait_loaded("test.unix")
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666)
    assert unix_talk(str(path), b"over unix\n") == b"over unix\n"
    plist_path.unlink()
    manager.wait_unloaded("test.unix")
    assert not path.exists(), "the unix socket file is removed when the job is unloaded"


def test_hot_reload_create_edit_delete(manager, workdir):
    port = 0
    p = manager.write("h.plist", line_job("test.hot", workdir))
    info = manager.wait_loaded("test.hot", timeout=2)
    port = info["sockets"][0]["address"]["port"]
    assert "data=1" in connect_and_talk(port, b"1\n").decode()
    pid = manager.info("test.hot")["pid"]
    # Edit without touching Sockets: job restarted, socket kept (same port, never closed).
    manager.write("h.plist", line_job("test.hot", workdir, EnvironmentVariables={"EDITED": "yes"}))
    manager.wait_state("test.hot", lambda i: i["environment"].get("EDITED") == "yes", timeout=2, what="reloaded")
    wait_for(lambda: not pid_alive(pid), what="old instance to stop")
    assert manager.port("test.hot") == port
    assert "data=2" in connect_and_talk(port, b"2\n").decode()
    assert "unloaded" not in manager.log(), "an editor's save is a reload, not unload + load"
    # Delete: stopped, unloaded, socket closed.
    pid = manager.info("test.hot")["pid"]
    p.unlink()
    manager.wait_unloaded("test.hot", timeout=2)
    wait_for(lambda: not pid_alive(pid), what="job to stop")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_reload_that_changes_sockets_swaps_them(manager, workdir):
    manager.write("s.plist", line_job("test.swap", workdir))
    old_port = manager.wait_loaded("test.swap")["sockets"][0]["address"]["port"]
    connect_and_talk(old_port)  # running: it holds the old socket until it is stopped
    manager.write("s.plist", line_job("test.swap", workdir, extra=["--name", "Web"]) | {
        "Sockets": {"Web": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}})
    info = manager.wait_state("test.swap", lambda i: i["sockets"] and i["sockets"][0]["name"] == "Web")
    new_port = info["sockets"][0]["address"]["port"]
    assert "Web pid=" in connect_and_talk(new_port, b"x\n").decode()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", old_port), timeout=2).close()


def test_renamed_plist_keeps_its_job(manager, workdir):
    p = manager.write("r1.plist", line_job("test.rename", workdir))
    port = manager.wait_loaded("test.rename")["sockets"][0]["address"]["port"]
    os.rename(p, manager.jobs_dir / "r2.plist")
    manager.wait_state("test.rename", lambda i: i["path"].endswith("r2.plist"), what="path to follow the rename")
    assert manager.port("test.rename") == port


def test_binary_plist_loads(manager, workdir):
    import plistlib
    manager.write("bin.plist", line_job("test.binary", workdir), fmt=plistlib.FMT_BINARY)
    manager.wait_loaded("test.binary")


def test_keepalive_true_restarts_and_stop_only_restarts(manager, workdir):
    pid_file = workdir / "ka.pid"
    manager.write("ka.plist", plist(
        "test.ka", ProgramArguments=["/bin/sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"],
        KeepAlive=True, ThrottleInterval=0))
    first = manager.wait_state("test.ka", lambda i: i["pid"], what="running")["pid"]
    manager.ctl("stop", "test.ka")
    second = manager.wait_state("test.ka", lambda i: i["pid"] and i["pid"] != first, what="restart")["pid"]
    assert not pid_alive(first)
    os.kill(second, 9)
    third = manager.wait_state("test.ka", lambda i: i["pid"] and i["pid"] != second, what="restart after crash")
    assert third["last_exit_status"] == -9
    manager.ctl("unload", str(manager.jobs_dir / "ka.plist"))
    manager.wait_unloaded("test.ka")
    wait_for(lambda: not pid_alive(third["pid"]), what="unload to stop it for good")


def test_successful_exit_false_restarts_only_after_failure(manager, workdir):
    counter = workdir / "count"
    # Fails twice, then exits cleanly: SuccessfulExit false restarts after the failures only.
    script = f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; [ $n -ge 3 ]"
    manager.write("se.plist", plist("test.se", ProgramArguments=["/bin/sh", "-c", script],
                                    KeepAlive={"SuccessfulExit": False}, ThrottleInterval=0))
    info = manager.wait_state("test.se", lambda i: i["runs"] == 3 and i["state"] == "waiting", what="3 runs")
    assert info["last_exit_status"] == 0
    # No wait for "nothing more happens": the manager decides what follows an
    # exit in the same loop callback that records it, so a reply that shows
    # the third run's exit and the job waiting already shows the decision.
    # A control request answered after it (the loop's next turn) still does.
    assert manager.info("test.se")["runs"] == 3


def test_throttle_delays_respawn_and_logs_like_launchd(manager, workdir):
    manager.write("th.plist", plist("test.th", ProgramArguments=["/bin/true"], KeepAlive=True, ThrottleInterval=2))
    info = manager.wait_state("test.th", lambda i: i["state"] == "throttled", what="throttled")
    assert 0 < info["throttled_for"] <= 2
    assert "Service only ran for 0 seconds. Pushing respawn out by 2 seconds." in manager.log()
    manager.wait_state("test.th", lambda i: i["runs"] >= 2, timeout=5, what="second run")
    runs_at = manager.info("test.th")["runs"]
    assert runs_at <= 3


def test_inetd_wait_false_one_instance_per_connection(manager, workdir):
    manager.write("i.plist", plist(
        "test.inetd", ProgramArguments=["/bin/sh", "-c", "read line; echo \"$$ $REMOTE_ADDR $line\""],
        inetdCompatibility={"Wait": False},
        Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    port = manager.wait_loaded("test.inetd")["sockets"][0]["address"]["port"]
    replies = [connect_and_talk(port, f"n{i}\n".encode()).decode().split() for i in range(3)]
    assert [r[2] for r in replies] == ["n0", "n1", "n2"]
    assert all(r[1] == "127.0.0.1" for r in replies)
    assert len({r[0] for r in replies}) == 3, "one process per connection"


def test_inetd_wait_true_udp(manager, workdir):
    # The datagram socket itself is on fds 0-2: a one-shot UDP echo.
    code = ("import socket,sys; s=socket.socket(fileno=0); d,a=s.recvfrom(100); s.sendto(b'got '+d,a)")
    manager.write("w.plist", plist(
        "test.wait", ProgramArguments=[PYTHON, "-c", code], inetdCompatibility={"Wait": True},
        ThrottleInterval=0,
        Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0, "SockType": "dgram"}}))
    port = manager.wait_loaded("test.wait")["sockets"][0]["address"]["port"]
    for i in range(2):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(10)
            c.sendto(f"d{i}".encode(), ("127.0.0.1", port))
            assert c.recvfrom(100)[0] == f"got d{i}".encode()
        manager.wait_state("test.wait", lambda i: i["state"] == "waiting", what="job to exit")
    assert manager.info("test.wait")["runs"] == 2


def test_exit_timeout_sigkill(manager, workdir):
    manager.write("ig.plist", plist("test.ignore", ProgramArguments=["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"],
                                    RunAtLoad=True, ExitTimeOut=1))
    pid = manager.wait_state("test.ignore", lambda i: i["pid"], what="running")["pid"]
    manager.ctl("stop", "test.ignore")
    info = manager.wait_state("test.ignore", lambda i: i["state"] == "waiting", timeout=10, what="SIGKILL after ExitTimeOut")
    assert info["last_exit_status"] == -9
    assert "Exit timeout elapsed (1 seconds). Killing" in manager.log()
    assert not pid_alive(pid)


def test_process_group_cleaned_after_main_exits(manager, workdir):
    child_pid = workdir / "child.pid"
    manager.write("pg.plist", plist("test.pg", RunAtLoad=True, ProgramArguments=[
        "/bin/sh", "-c", f"sleep 60 & echo $! > {child_pid}; exit 0"]))
    wait_for(lambda: child_pid.exists() and child_pid.read_text().strip(), what="child pid")
    pid = int(child_pid.read_text())
    wait_for(lambda: not pid_alive(pid), what="orphaned child to get SIGTERM")



def test_a_port_change_and_a_removal_touch_only_their_job_and_the_boot_cache_follows(manager, workdir):
    """What bench/reload.py times, with its guarantees: an editor's save with
    another port is one reload (the new port accepts, the old one is closed);
    removing the plist closes its socket; another job's socket and the
    connection it serves are untouched throughout; the boot cache ends with
    the plist that is left, as it is now."""
    from pylaunchd import bootcache
    from pylaunchd.domain import Domain

    def accepts(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return True
        except ConnectionRefusedError:
            return False

    def inetd(label, port):
        return plist(label, ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False},
                     Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": port}})

    old, new = free_port(), free_port()
    keep = manager.write("keep.plist", inetd("test.keep", 0))
    moving = manager.write("move.plist", inetd("test.move", old))
    keep_port = manager.wait_loaded("test.keep")["sockets"][0]["address"]["port"]
    manager.wait_loaded("test.move")
    client = socket.create_connection(("127.0.0.1", keep_port), timeout=10)  # a cat of test.keep serves it
    try:
        manager.write("move.plist", inetd("test.move", new))
        # Connections, not binds, until the new port listens: a bind of ours
        # there could make the manager's listen() fail.
        wait_for(lambda: accepts(new), what="the new port to accept")
        assert port_free(old), "the old socket is closed"
        manager.wait(lambda: "(test.move) sockets now" in manager.log(), 10, "the swap to be logged")
        assert manager.log().count("(test.move) reloading from") == 1, "one save, one reload"
        moving.unlink()
        wait_for(lambda: port_free(new), what="the removed job's socket to close")
        manager.wait_unloaded("test.move")
        client.sendall(b"still here\n")
        assert client.recv(100) == b"still here\n", "the other job's connection is served on"
        assert connect_and_talk(keep_port, b"x\n") == b"x\n"
    finally:
        client.close()
    domain = Domain(system=os.geteuid() == 0, jobs_dirs=[str(manager.jobs_dir)], control_socket=manager.socket,
                    state_dir=str(manager.state_dir))

    def cached():
        entries = bootcache.read(domain, socket.gethostname())
        return set(entries) == {str(keep)} and entries
    entry = bootcache.entry(manager.wait(cached, 10, "the boot cache to hold test.keep alone")[str(keep)])
    assert entry.label == "test.keep" and entry.identity == bootcache.file_identity(str(keep))
    assert "not loaded" not in manager.log()
