"""The C spawn path (pylaunchd._spawn via pylaunchd/cspawn.py) against the
Python paths (fork, and posix_spawn where it applies): the same plan, the
same process.

Each case starts a real ``sleep`` by each path from this process and reads
what the kernel says of it in /proc (descriptors and what they are, the
environment, signal mask and dispositions, limits, umask, directory,
credentials, process group, nice), then compares the paths. Failures are
compared too: the status (the errno, 3 for an unknown user) and the very
message and warnings ``print`` shows. Skipped where the extension was not
built (a machine without a compiler).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

import pytest

from conftest import plist, wait_for
from pylaunchd import cspawn, spawn as spawn_mod
from pylaunchd.forkexec import spawn_forked
from pylaunchd.spawnplan import plan
from pylaunchd.spec import validate

pytestmark = pytest.mark.skipif(not cspawn.AVAILABLE, reason="pylaunchd._spawn was not built (no compiler?)")
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="changing a job's user needs root")
SLEEP = "/bin/sleep"
WATCHDOG = {"WatchdogInterval": 5}  # WATCHDOG_PID, the other pid written in the child


def spec(args=(SLEEP, "30"), **keys):
    return validate({"Label": "t.paths", "ProgramArguments": list(args), **keys}, "/j/t.plist")


def start(path, p, sources=(), stdio_fd=None, log_fd=None):
    if path == "c":
        return cspawn.spawn_c(p, list(sources), stdio_fd, log_fd)
    if path == "c-async":  # returns before the exec; the reports come once the pipe says so
        result = cspawn.spawn_c(p, list(sources), stdio_fd, log_fd, wait=False)
        assert result.pending is not None or not cspawn.ASYNC
        return result.pending.finish() if result.pending else result
    if path == "fork":
        return spawn_forked(p, list(sources), stdio_fd, log_fd)
    result = spawn_mod._spawn_fast(p, list(sources), stdio_fd, log_fd)
    assert result is not None, "posix_spawn declined the plan"
    return result


def reap(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"pid {pid} did not exit")


def asleep(pid):
    """sleep sleeps: past its exec and its start-up (wchan is "0" where the kernel hides it)."""
    state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    wchan = open(f"/proc/{pid}/wchan").read()
    return (state == "S" and os.readlink(f"/proc/{pid}/exe") == os.path.realpath(SLEEP)
            and ("nanosleep" in wchan or wchan == "0"))


def describe(pid):
    """What the kernel says of the running job (a ``sleep``: nothing of its own changes these)."""
    # The parent runs again in the middle of execve (once the old memory is
    # let go): wait until sleep sleeps, its start-up done.
    wait_for(lambda: asleep(pid), what="the job asleep")
    status = dict(line.split(":\t", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":\t" in line)
    fds = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{name}")
        fds[int(name)] = "/dev/null" if target == "/dev/null" else target
    env = dict(item.split("=", 1) for item in open(f"/proc/{pid}/environ").read().split("\0") if "=" in item)
    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return {
        "fds": fds, "env": env, "cwd": os.readlink(f"/proc/{pid}/cwd"), "limits": open(f"/proc/{pid}/limits").read(),
        "pgrp_is_pid": int(stat[2]) == pid, "nice": int(stat[16]), "policy": int(stat[38]),
        **{k: status[k].strip() for k in ("SigBlk", "SigIgn", "SigCgt", "Umask", "Uid", "Gid", "Groups")},
    }


def run_both(p_factory, paths=("c", "c-async", "fork"), **kw):
    """The job started by each path, described, then killed; pids taken out."""
    out = {}
    for path in paths:
        result = start(path, p_factory(), **kw)
        try:
            assert result.error is None, result.error
            d = describe(result.pid)
            d["warnings"] = result.warnings
            for key in ("LISTEN_PID", "WATCHDOG_PID"):
                if key in d["env"]:
                    assert d["env"][key] == str(result.pid), (path, key)
                    d["env"][key] = "the pid"
            out[path] = d
        finally:
            os.kill(result.pid, signal.SIGKILL)
            reap(result.pid)
    return out


@pytest.fixture
def disturbed_signals():
    """The manager's signal state at its worst: handlers, ignored and blocked signals."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM, signal.SIGWINCH)}
    signal.signal(signal.SIGHUP, lambda *a: None)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGWINCH, lambda *a: None)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGQUIT})
    yield
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    for s, h in saved.items():
        signal.signal(s, h)


def test_listen_fds_layout_pid_and_signals_match_the_python_paths(disturbed_signals):
    a, b = socket.socketpair()
    leaked = os.open("/dev/zero", os.O_RDONLY)  # no close-on-exec: must not reach the job
    os.set_inheritable(leaked, True)
    cwd = os.getcwd()
    try:
        def p():
            q = plan(spec(**WATCHDOG))
            q.env.update(LISTEN_FDS="2", LISTEN_FDNAMES="a:b")
            return q
        os.chdir("/")  # posix_spawn cannot change directory: it declines unless the manager is in /
        got = run_both(p, paths=("c", "c-async", "fork", "posix_spawn"), sources=[a.fileno(), b.fileno()])
    finally:
        os.chdir(cwd)
        os.close(leaked)
        a.close()
        b.close()
    c = got["c"]
    assert sorted(c["fds"]) == [0, 1, 2, 3, 4], c["fds"]
    assert c["fds"][3].startswith("socket:") and c["fds"][3] != c["fds"][4]
    assert c["fds"][0] == c["fds"][1] == "/dev/null"
    assert c["env"]["LISTEN_PID"] == c["env"]["WATCHDOG_PID"] == "the pid" and c["env"]["LISTEN_FDS"] == "2"
    assert c["SigBlk"] == "0" * 16 and c["SigCgt"] == "0" * 16
    ignored = int(c["SigIgn"], 16)
    assert not ignored & (1 << (signal.SIGUSR1 - 1) | 1 << (signal.SIGTERM - 1) | 1 << (signal.SIGPIPE - 1))
    assert c["pgrp_is_pid"] and c["cwd"] == "/"
    assert got["c"] == got["c-async"] == got["fork"]
    # posix_spawn's path differs only by what its /bin/sh trampoline and
    # glibc add: sh's PWD, and glibc's own signals (32, 33) left ignored.
    trampoline = got["posix_spawn"]
    trampoline["env"].pop("PWD")
    trampoline["SigIgn"] = f"{int(trampoline['SigIgn'], 16) & 0x7FFF_FFFF:016x}"
    assert trampoline == got["c"]


def test_inetd_layout_with_standard_paths_and_the_log(tmp_path):
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        got = run_both(lambda: plan(spec(StandardErrorPath=str(tmp_path / "err"))), stdio_fd=a.fileno(), log_fd=w)
        log_only = run_both(lambda: plan(spec(StandardInPath=str(tmp_path / "no" / "in"))), log_fd=w)
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()
    c = got["c"]
    assert sorted(c["fds"]) == [0, 1, 2] and c["fds"][0] == c["fds"][1] != c["fds"][2]
    assert c["fds"][2] == str(tmp_path / "err")
    assert got["c"] == got["c-async"] == got["fork"]
    assert log_only["c"]["fds"][1].startswith("pipe:") and log_only["c"]["fds"][0] == "/dev/null"
    assert log_only["c"]["warnings"] == [f"StandardInPath {tmp_path}/no/in: cannot open as uid {os.getuid()}: "
                                         f"its directory {tmp_path}/no does not exist; writing to the job's log "
                                         "(pylaunchctl log) instead"]
    assert log_only["c"] == log_only["c-async"] == log_only["fork"]


def test_limits_umask_directory_nice_and_background(tmp_path):
    keys = dict(WorkingDirectory=str(tmp_path), Umask=0o27, Nice=3, ProcessType="Background",
                SoftResourceLimits={"NumberOfFiles": 123, "Core": 0}, HardResourceLimits={"NumberOfFiles": 456})
    got = run_both(lambda: plan(spec(**keys)))
    c = got["c"]
    assert c["cwd"] == str(tmp_path) and c["Umask"] == "0027" and c["nice"] == 3 and c["policy"] == os.SCHED_BATCH
    files = [line.split() for line in c["limits"].splitlines() if line.startswith("Max open files")][0]
    assert files[3:5] == ["123", "456"]
    assert got["c"] == got["c-async"] == got["fork"]


def test_missing_working_directory_and_bad_limits_are_the_same_warnings(tmp_path):
    keys = dict(WorkingDirectory=str(tmp_path / "gone"), SoftResourceLimits={"NumberOfFiles": 900},
                HardResourceLimits={"NumberOfFiles": 800})
    got = run_both(lambda: plan(spec(**keys)))
    assert got["c"]["cwd"] == "/" and len(got["c"]["warnings"]) == 2, got["c"]["warnings"]
    assert got["c"]["warnings"][1] == f"WorkingDirectory {tmp_path}/gone: No such file or directory; running in /"
    assert got["c"] == got["c-async"] == got["fork"]


@pytest.mark.parametrize("case", ["missing", "not executable", "not on PATH", "unknown user"])
def test_failures_exit_with_the_same_status_and_reason(case, tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("not a program\n")
    keys = {"missing": dict(args=[str(tmp_path / "nothing")]), "not executable": dict(args=[str(plain)]),
            "not on PATH": dict(args=["no-such-program-here"]),
            "unknown user": dict(UserName="no-such-user-here")}[case]
    expected = {"missing": errno.ENOENT, "not executable": errno.EACCES, "not on PATH": errno.ENOENT,
                "unknown user": errno.ESRCH}[case]
    results = {}
    for path in ("c", "c-async", "fork"):
        result = start(path, plan(spec(**keys)))
        results[path] = (reap(result.pid), result.error, result.warnings)
    assert results["c"][0] == expected
    assert results["c"] == results["c-async"] == results["fork"]


@root_only
def test_user_switch_as_root_gives_the_users_credentials(test_user):
    tmp_path = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's are under a directory of mode 0700
    os.chmod(tmp_path, 0o755)
    try:
        got = run_both(lambda: plan(spec(UserName=test_user.pw_name, WorkingDirectory=str(tmp_path),
                                         StandardOutPath=str(tmp_path / "out"))))
    finally:
        shutil.rmtree(tmp_path)
    c = got["c"]
    uid, gid = str(test_user.pw_uid), str(test_user.pw_gid)
    assert c["Uid"].split() == [uid] * 4 and c["Gid"].split() == [gid] * 4 and c["Groups"] == gid
    assert c["env"]["USER"] == test_user.pw_name
    assert c["warnings"] == [f"StandardOutPath {tmp_path}/out: cannot open as uid {uid}: Permission denied; "
                             "writing to /dev/null instead"]
    assert got["c"] == got["c-async"] == got["fork"]


def test_the_manager_keeps_its_own_state():
    """The child shares the manager's memory: nothing of the manager's may change."""
    before = (os.getcwd(), os.umask(0o22), signal.pthread_sigmask(signal.SIG_BLOCK, []), os.getpriority(os.PRIO_PROCESS, 0))
    os.umask(before[1])
    result = start("c", plan(spec(WorkingDirectory="/tmp", Umask=0o77, Nice=4,
                                  SoftResourceLimits={"NumberOfFiles": 64})))
    try:
        assert result.error is None
        after = (os.getcwd(), os.umask(0o22), signal.pthread_sigmask(signal.SIG_BLOCK, []),
                 os.getpriority(os.PRIO_PROCESS, 0))
        os.umask(after[1])
        assert after == before
        import resource
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] != 64
    finally:
        os.kill(result.pid, signal.SIGKILL)
        reap(result.pid)


def test_an_inetd_instance_that_cannot_exec_says_why_in_print(manager, tmp_path):
    """The manager starts inetd instances without waiting for their exec
    (the C path's wait=False): the reason still reaches ``print``."""
    missing = tmp_path / "no-such-program"
    manager.write("i.plist", plist("test.inetd-missing", ProgramArguments=[str(missing)],
                                   inetdCompatibility={"Wait": False},
                                   Sockets={"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    port = manager.wait_loaded("test.inetd-missing")["sockets"][0]["address"]["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        assert s.recv(1) == b""  # the instance exits (status 2, ENOENT) and the connection closes
    info = manager.wait_state("test.inetd-missing", lambda i: i.get("spawn_error"), what="the spawn error")
    assert info["spawn_error"] == f"could not execute {missing}: No such file or directory (errno 2)"
    assert f"could not execute {missing}" in manager.ctl("print", "test.inetd-missing").stdout
