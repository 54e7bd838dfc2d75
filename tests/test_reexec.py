"""Re-exec (pylaunchctl reexec, SIGUSR2): the manager execs itself and keeps
its PID, every socket and queue, every running job and its history.

Real managers, real jobs, real clients: each test starts pylaunchd as a
subprocess and re-execs it while clients talk to its jobs. The throttle
timer's survival is on the fake clock (tests/inprocess.py), at the point
where the new process re-arms it from its saved deadline.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import sys
import threading
from pathlib import Path

import pytest

from bushelpers import BUS_LABEL, bus  # noqa: F401 - the fixture
from conftest import PYTHON, connect_and_talk, job_script, plist, unix_talk, wait_for
from inprocess import run_in_process
from pylaunchd.control.protocol import request
from pylaunchd.job import JobMachine
from pylaunchd.jobtypes import ExitStatus, Phase, Timer
from pylaunchd.reexec.state import StateError, dump, parse, timer_from, timer_key
from pylaunchd.runtime import JobRuntime

ROOT = Path(__file__).resolve().parent.parent
BUS_NAME, LATE_NAME = "org.pylaunchd.Echo", "org.pylaunchd.Late"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_reexec", ROOT / "bench" / "reexec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reexec(m, *extra, check=True):
    cp = m.ctl("reexec", "--json", *extra, check=check)
    return json.loads(cp.stdout) if cp.returncode == 0 else cp


def manager_info(m) -> dict:
    return request(m.socket, "manager", timeout=10)


def line_server(port: int, unix: str | None = None) -> dict:
    listeners = [{"SockNodeName": "127.0.0.1", "SockServiceName": str(port)}]
    if unix:
        listeners.append({"SockPathName": unix})
    return {"ProgramArguments": [PYTHON, job_script("line_server.py"), "--mode", "fromfd"],
            "KeepAlive": True, "ThrottleInterval": 1, "Sockets": {"Listeners": listeners}}


TALKER = ["/bin/sh", "-c", 'echo talker-up; trap "echo got-usr1" USR1; while :; do sleep 0.1; done']


def test_reexec_keeps_pid_sockets_jobs_counters_and_timers(manager_factory, workdir):
    m = manager_factory(start=False)
    port, inetd_port = _ports(2)
    unix = str(workdir / "keep.sock")
    m.write("keep.plist", plist("keep", **line_server(port, unix)))
    m.write("inetd.plist", plist("inetd", ProgramArguments=["/bin/sh", "-c", 'read a; read b; echo "$a $b"'],
                                 inetdCompatibility={"Wait": False},
                                 Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": str(inetd_port)}}))
    m.write("stubborn.plist", plist("stubborn", RunAtLoad=True, ExitTimeOut=3,
                                    ProgramArguments=["/bin/sh", "-c", 'trap "" TERM; while :; do sleep 0.1; done']))
    m.write("talker.plist", plist("talker", RunAtLoad=True, ProgramArguments=TALKER))
    go = workdir / "go"
    m.write("ready.plist", plist("ready", RunAtLoad=True, ProgramArguments=[
        PYTHON, job_script("notifier.py"), "--wait-for", str(go), "READY=1\nSTATUS=serving", "@wait",
        "STATUS=after the re-exec"]))
    m.write("daemon.plist", plist("daemon", RunAtLoad=True, AbandonProcessGroup=True,
                                  ProgramArguments=["/bin/sh", "-c", "sleep 1000 & exit 0"]))
    m.start()
    m.wait_state("keep", lambda i: i["pid"], what="running")
    m.wait_state("ready", lambda i: i["ready"] and i["status_text"] == "serving", what="ready")
    orphan = m.wait_state("daemon", lambda i: i["daemon_pid"], what="its orphan")["daemon_pid"]
    assert b"Listeners pid=" in connect_and_talk(port, b"a\n") and b"Listeners" in unix_talk(unix, b"b\n")
    m.ctl("setenv", "REEXEC_VAR", "kept")
    inode = os.stat(unix).st_ino
    # an inetd instance mid-conversation, and a job past its SIGTERM
    conv = socket.create_connection(("127.0.0.1", inetd_port), timeout=10)
    conv.sendall(b"one\n")
    m.wait_state("inetd", lambda i: i["instances"], what="an instance")
    m.wait_state("talker", lambda i: i["pid"], what="running")
    m.ctl("stop", "stubborn")
    m.wait_state("stubborn", lambda i: i["state"] == "stopping", what="stopping")
    before = {label: m.info(label) for label in ("keep", "inetd", "stubborn", "talker")}

    out = reexec(m)

    assert out["pid"] == m.proc.pid and out["reexecs"] == 1 and out["note"] is None
    after = {label: m.info(label) for label in ("keep", "inetd", "talker")}
    for label in ("keep", "talker"):
        for key in ("pid", "runs", "last_exit", "state", "last_trigger"):
            assert after[label][key] == before[label][key], (label, key)
    assert after["keep"]["sockets"] == before["keep"]["sockets"]  # same fds, counters, addresses
    assert after["inetd"]["instances"] == before["inetd"]["instances"]
    assert os.stat(unix).st_ino == inode  # the socket file was neither unlinked nor bound again
    assert m.ctl("getenv", "REEXEC_VAR").stdout.strip() == "kept"
    assert m.info("ready")["ready"] and m.info("daemon")["daemon_pid"] == orphan
    go.touch()  # the job's next datagram reaches the same notify socket, read by the new process
    m.wait_state("ready", lambda i: i["status_text"] == "after the re-exec", what="its status after the re-exec")
    os.kill(orphan, signal.SIGKILL)  # the orphan is still ours to reap
    m.wait(lambda: not os.path.exists(f"/proc/{orphan}"), 10, "the orphan to be reaped")
    # still served, by the same process
    pid = before["keep"]["pid"]
    assert f"pid={pid}".encode() in connect_and_talk(port, b"c\n")
    assert f"pid={pid}".encode() in unix_talk(unix, b"d\n")
    conv.sendall(b"two\n")  # the instance still runs, and its exit is the new process's to reap
    assert conv.makefile("rb").readline() == b"one two\n"
    conv.close()
    m.wait_state("inetd", lambda i: not i["instances"] and i["last_exit"], what="the instance reaped")
    # its output pipe is read by the new process
    m.ctl("kill", "USR1", "talker")
    m.wait(lambda: "got-usr1" in m.ctl("log", "talker").stdout, 10, "the talker's output after the re-exec")
    # ExitTimeOut still runs: SIGKILL once the timer set before the exec falls due
    info = m.wait_state("stubborn", lambda i: i["state"] != "stopping", timeout=15, what="killed")
    assert info["last_exit"]["signal"] == signal.SIGKILL
    assert "Exit timeout elapsed" in m.ctl("log", "stubborn").stdout
    # KeepAlive applies to a process started before the exec
    os.kill(pid, signal.SIGKILL)
    info = m.wait_state("keep", lambda i: i["pid"] not in (None, pid), what="restarted")
    assert info["runs"] == before["keep"]["runs"] + 1 and info["last_exit"]["signal"] == signal.SIGKILL
    assert not list(Path(m.state_dir).glob("reexec.json*"))


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_reexec_under_load_loses_no_connection(manager_factory):
    bench = _bench()
    m = manager_factory(start=False)
    ports = dict(zip(("listen", "inetd", "ondemand"), _ports(3)))
    for label, data in bench.jobs(ports, PYTHON).items():
        m.write(f"{label}.plist", data)
    m.start()
    before = {label: m.info(label) for label in ports}
    load = bench.Load(ports, clients=16).start()
    try:
        wait_for(lambda: load.answered() > 100, 30, what="clients to be answered")
        assert reexec(m)["reexecs"] == 1
        wait_for(lambda: load.answered() > 200, 30, what="clients to be answered")
        m.proc.send_signal(signal.SIGUSR2)  # the signal does the same
        m.wait(lambda: manager_info(m)["reexecs"] == 2, 30, "the re-exec SIGUSR2 asked for")
        wait_for(lambda: load.answered("ondemand") > 250, 30, what="the on-demand job to restart")
    finally:
        load.stop()
    assert load.failures() == 0, load.errors
    after = {label: m.info(label) for label in ports}
    assert after["listen"]["pid"] == before["listen"]["pid"] and after["listen"]["runs"] == before["listen"]["runs"]
    accepted = after["inetd"]["sockets"][0]["accepted"] - before["inetd"]["sockets"][0]["accepted"]
    assert accepted == load.answered("inetd")
    assert after["ondemand"]["runs"] >= 2
    assert manager_info(m)["pid"] == m.proc.pid


def test_control_clients_during_a_reexec_all_get_replies(manager_factory):
    """A control connection accepted by the old process just before its exec
    would die with it, unanswered: the old process stops accepting (the next
    connections wait in the queue for the new process) and answers those it
    has accepted before it execs."""
    m = manager_factory()
    stop, answered, errors = threading.Event(), [0], []

    def client() -> None:
        while not stop.is_set():
            try:
                request(m.socket, "manager", timeout=30)
                answered[0] += 1
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                errors.append(repr(e))
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for n in (1, 2, 3, 4):
            wait_for(lambda: answered[0] > 20 * n, 30, what="control clients to be answered")
            assert reexec(m)["reexecs"] == n
            m.wait(lambda: manager_info(m)["reexecs"] == n, 30, f"re-exec {n}")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == [], errors[:5]


def test_reexec_runs_the_installed_code_and_refuses_code_that_fails(manager_factory, workdir):
    """The code on the path at re-exec time is what runs: a broken install is
    refused (the manager carries on untouched); a working one takes over."""
    shadow = workdir / "site"
    shadow.mkdir()
    m = manager_factory(start=False)
    m.cwd, m.env = str(shadow), dict(os.environ, PYTHONPATH=str(shadow))
    m.env.pop("PYTHONSAFEPATH", None)
    port, = _ports(1)
    m.write("keep.plist", plist("keep", **line_server(port)))
    m.start()
    pid = m.wait_state("keep", lambda i: i["pid"], what="running")["pid"]
    fds = len(os.listdir(f"/proc/{m.proc.pid}/fd"))
    (shadow / "pylaunchd").mkdir()
    (shadow / "pylaunchd" / "__init__.py").write_text('raise ImportError("a broken upgrade")\n')
    cp = reexec(m, check=False)
    assert cp.returncode == 1 and "fails its check" in cp.stderr and "a broken upgrade" in cp.stderr, cp.stderr
    assert manager_info(m)["reexecs"] == 0 and m.info("keep")["pid"] == pid
    assert f"pid={pid}".encode() in connect_and_talk(port, b"x\n")
    shutil.rmtree(shadow / "pylaunchd")
    shutil.copytree(ROOT / "pylaunchd", shadow / "pylaunchd", ignore=shutil.ignore_patterns("__pycache__"))
    init = shadow / "pylaunchd" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.9-upgraded+'))
    out = reexec(m)
    assert out["version"].startswith("9.9-upgraded+") and out["pid"] == m.proc.pid
    assert m.info("keep")["pid"] == pid and f"pid={pid}".encode() in connect_and_talk(port, b"y\n")
    # no descriptor piles up: a library's (watchdog's inotify) is not inherited
    m.wait(lambda: len(os.listdir(f"/proc/{m.proc.pid}/fd")) == fds, 10, f"the manager to hold {fds} fds again")


WRAPPER = """
import json, os, sys
handoff = os.environ.get("PYLAUNCHD_REEXEC")
if handoff:  # the state file, spoilt between the check and the new process
    handoff = json.loads(handoff)
    path = handoff["state_path"]
    if handoff["generation"] == 1:  # one job's snapshot
        with open(path) as f:
            state = json.load(f)
        next(j for j in state["jobs"] if j["label"] == "keep")["machine"]["phase"] = "sideways"
        text = json.dumps(state)
    else:  # the whole file
        text = '{"version": 1, "jobs": [{"label": '
    with open(path, "w") as f:
        f.write(text)
from pylaunchd.cli.pylaunchd import main
main()
"""


def test_a_state_spoilt_after_the_exec_falls_back_to_plists_and_adopts(manager_factory, workdir):
    """A job whose snapshot cannot be used, then a whole state that cannot
    be read: the jobs are adopted by PID, their sockets by address, their
    pipes by inode; no client notices."""
    m = manager_factory(start=False)
    (workdir / "wrapper.py").write_text(WRAPPER)
    m.entry = [str(workdir / "wrapper.py")]
    port, = _ports(1)
    m.write("keep.plist", plist("keep", **line_server(port)))
    m.write("talker.plist", plist("talker", RunAtLoad=True, ProgramArguments=TALKER))
    m.start()
    pid = m.wait_state("keep", lambda i: i["pid"], what="running")["pid"]
    talker = m.wait_state("talker", lambda i: i["pid"], what="running")["pid"]
    answered, errors, stop = [], [], threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                answered.append(connect_and_talk(port, b"z\n", timeout=30))
            except OSError as e:
                errors.append(e)
    t = threading.Thread(target=client)
    t.start()
    try:
        first = reexec(m)
        assert first["note"] is None and "(keep) re-exec: its state cannot be used" in m.log()
        assert m.info("keep")["pid"] == pid and m.info("talker")["pid"] == talker
        out = reexec(m)
    finally:
        stop.set()
        t.join(40)
    assert not errors and answered
    assert out["pid"] == m.proc.pid and "state not restored" in out["note"]
    assert "state not restored" in manager_info(m)["reexec_note"]
    assert m.info("keep")["pid"] == pid and m.info("talker")["pid"] == talker  # adopted by PID
    assert f"pid={pid}".encode() in connect_and_talk(port, b"w\n")
    m.ctl("kill", "USR1", "talker")  # its output pipe, found by the pipe it writes to
    m.wait(lambda: "got-usr1" in m.ctl("log", "talker").stdout, 10, "the talker's output")
    os.kill(pid, signal.SIGKILL)  # an adopted process is the job's: KeepAlive restarts it
    m.wait_state("keep", lambda i: i["pid"] not in (None, pid) and i["last_exit"], what="restarted")


def test_throttle_timer_is_set_again_at_its_deadline(workdir):
    """On the fake clock: a throttled job's snapshot, restored into a fresh
    runtime (what the new process does), spawns at the deadline set before
    the exec, not earlier and not a full ThrottleInterval later; its
    StartInterval timer is set again at its own deadline."""
    async def body(h):
        job = h.load("flaky", ProgramArguments=["/bin/sh", "-c", "exit 1"], KeepAlive=True, ThrottleInterval=30,
                     StartInterval=45)
        await h.until(lambda: job.machine.phase is Phase.THROTTLED, "the job to be throttled")
        deadline = job.machine.throttled_until
        h.clock.advance(10)  # a third of the way
        data = json.loads(dump({"machine": job.machine.snapshot(),
                                "timers": [[timer_key(k), at] for k, at in job.deadlines.items()]}))
        for t in job.timers.values():  # the old process is gone
            t.cancel()
        fresh = JobRuntime(job.spec, job.groups, job.log, job.ctx)
        h.manager.table.jobs["flaky"] = fresh
        fresh.resume({}, JobMachine.restored(job.spec, data["machine"]),
                     {timer_from(k): at for k, at in data["timers"]})
        assert fresh.machine.phase is Phase.THROTTLED and fresh.machine.runs == job.machine.runs
        assert h.clock.pending() == sorted([deadline, job.deadlines[Timer.INTERVAL]])  # StartInterval's too
        h.clock.advance(deadline - h.clock.monotonic() - 0.5)
        assert fresh.machine.phase is Phase.THROTTLED
        h.clock.advance(1)
        assert fresh.machine.phase is Phase.RUNNING and fresh.machine.runs == job.machine.runs + 1
        await h.settle(fresh)
    run_in_process(workdir, body)


@pytest.mark.parametrize("text, why", [
    (b"{", "not JSON"),
    (b"[]", "expected an object"),
    (json.dumps({"version": 99, "jobs": []}).encode(), "state version 99"),
    (json.dumps({"version": 1, "pid": 1, "jobs": []}).encode(), "written by pid 1"),
    (json.dumps({"version": 1, "pid": 7, "jobs": [{"label": "a"}]}).encode(), "jobs[0].machine"),
    (json.dumps({"version": 1, "pid": 7, "jobs": [], "setenv": []}).encode(), "'setenv'"),
])
def test_a_state_that_cannot_be_used_says_why(text, why):
    with pytest.raises(StateError, match=why.replace("[", r"\[").replace("]", r"\]")):
        parse(text, pid=7)


def test_a_machine_snapshot_round_trips():
    from pylaunchd.spec import validate
    spec = validate({"Label": "x", "ProgramArguments": ["/bin/true"], "KeepAlive": True})
    m = JobMachine(spec)
    m.load(5)
    m.spawned(42, 5)
    m.exited(42, ExitStatus(code=3), 6)
    again = JobMachine.restored(spec, json.loads(json.dumps(m.snapshot())))
    assert again.snapshot() == m.snapshot() and again == m


def test_the_bus_job_is_kept_and_the_bus_reconnected(bus):  # noqa: F811 - the fixture
    """D-Bus activation across a re-exec: dbus-daemon (a job) keeps running
    on its socket, the manager connects again, and a name not yet started
    is activated by the new process."""
    bus.write("echo.plist", bus.provider("test.echo", [BUS_NAME]))
    bus.write("late.plist", bus.provider("test.late", [LATE_NAME]))
    m = bus.manager
    m.wait_loaded("test.late")
    assert "pong" in bus.dbus_send(BUS_NAME).stdout
    daemon, echo = m.info(BUS_LABEL)["pid"], m.info("test.echo")["pid"]
    reexec(m)
    assert m.info(BUS_LABEL)["pid"] == daemon and m.info("test.echo")["pid"] == echo
    m.wait(lambda: "connected = yes" in m.ctl("print", "user/0").stdout, 20, "the bus connected again")
    out = bus.dbus_send(LATE_NAME)
    assert out.returncode == 0 and f"pong from pid {m.info('test.late')['pid']}" in out.stdout, out.stderr
    assert "pong" in bus.dbus_send(BUS_NAME).stdout
