"""pylaunchd as PID 1 of a real PID namespace (``unshare --pid --fork
--mount-proc``), driven from outside as a container runtime drives its init:
orphans reaped (no zombie left), SIGTERM/SIGINT/SIGPWR as an ordered
shutdown (clients first, sockets closed after the last job, exit 0 well
within a runtime's 10 s grace), SIGKILL escalation (exit status 3), the exit
status of ``--exit-with``'s job, and signals that reach no job. Then a real
Debian daemon that speaks sd_notify (dbus-daemon) behind ``kickstart -w``.

Needs root and util-linux's unshare; skips with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import JOBS, ManagerProcess, free_port, plist, wait_for

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]


def _namespace_problem() -> str | None:
    if os.geteuid() != 0:
        return "a PID namespace needs root"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    cp = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, timeout=30)
    if cp.returncode != 0:
        return f"unshare --pid --fork --mount-proc fails here: {cp.stderr.strip()}"
    return None


needs_pidns = pytest.mark.skipif(_namespace_problem() is not None, reason=str(_namespace_problem()))


class Init(ManagerProcess):
    """pylaunchd under unshare: ``init_pid`` is its host PID (PID 1 inside)."""

    def __init__(self, root, extra_args=()):
        super().__init__(root, extra_args=extra_args, prefix=UNSHARE)

    @property
    def init_pid(self) -> int:
        def child():
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                pids = f.read().split()
            return int(pids[0]) if pids else None
        return wait_for(child, 10, what="unshare's child, the namespace's init")

    def signal(self, sig: int) -> None:
        os.kill(self.init_pid, sig)  # unshare does not forward signals: send to the init itself

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM to the init itself (then SIGKILL), also after a failed
        test: stopping unshare alone would leave the init running."""
        if self.proc is not None and self.proc.poll() is None:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                inits = [int(p) for p in f.read().split()]
            for pid in inits:
                os.kill(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for pid in inits:
                    os.kill(pid, signal.SIGKILL)  # PID 1 of its namespace: the kernel kills the rest
        return super().stop(timeout)

    def exit_status(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.stop(timeout=5)

    def in_namespace(self) -> list[tuple[int, str]]:
        """(host pid, state) of every process in the manager's PID namespace."""
        ns = os.readlink(f"/proc/{self.init_pid}/ns/pid")
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{name}/ns/pid") != ns:
                    continue
                with open(f"/proc/{name}/stat") as f:
                    out.append((int(name), f.read().rsplit(")", 1)[1].split()[0]))
            except OSError:
                pass
        return out


@pytest.fixture
def init(workdir):
    made = []

    def start(*extra_args, jobs=()):
        m = Init(workdir, extra_args)
        for name, data in jobs:
            m.write(name, data)
        made.append(m.start())
        return m
    yield start
    for m in made:
        m.stop(timeout=30)


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


def looping(log, name: str, on_term: str = "") -> list[str]:
    """A job that logs SIGTERM, runs *on_term*, logs its exit and exits 0."""
    return sh(f"trap 'echo {name} term >> {log}; {on_term} echo {name} exit >> {log}; exit 0' TERM; "
              f"while :; do sleep 0.05; done")


@needs_pidns
def test_orphans_are_reaped_and_no_zombie_stays(init, workdir):
    m = init(jobs=[("orphans.plist", plist("test.orphans", RunAtLoad=True, ProgramArguments=sh(
        "for i in 1 2 3 4 5; do setsid sleep 0.3 & done; exit 0")))])
    assert m.init_pid != m.proc.pid
    wait_for(lambda: "5 orphans so far" in m.log(), 15, what="five orphans reaped by PID 1")
    procs = m.in_namespace()
    assert [p for p, state in procs if state == "Z"] == [], f"zombies in the namespace: {procs}"
    assert [p for p, _ in procs] == [m.init_pid], "only the manager is left"
    m.signal(signal.SIGTERM)
    assert m.exit_status() == 0


@needs_pidns
def test_sigterm_stops_clients_first_and_closes_sockets_after_the_last_job(init, workdir):
    log = workdir / "order.log"
    client_sock, server_sock = workdir / "client.sock", workdir / "server.sock"
    m = init(jobs=[
        ("server.plist", plist("test.server", RunAtLoad=True, KeepAlive=True,
                               Sockets={"S": {"SockPathName": str(server_sock)}},
                               ProgramArguments=looping(log, "server", f"[ -S {client_sock} ] && echo "
                                                                       f"client-socket-open >> {log};"))),
        ("client.plist", plist("test.client", RunAtLoad=True, KeepAlive={"OtherJobActive": {"test.server": True}},
                               Sockets={"C": {"SockPathName": str(client_sock)}},
                               ProgramArguments=looping(log, "client", "sleep 0.3;"))),
        ("other.plist", plist("test.other", RunAtLoad=True, ProgramArguments=looping(log, "other"))),
    ])
    for label in ("test.server", "test.client", "test.other"):
        m.wait(lambda label=label: (m.info(label) or {}).get("pid"), 10, f"{label} to run")
    started = time.monotonic()
    m.signal(signal.SIGTERM)
    status = m.exit_status()
    took = time.monotonic() - started
    lines = log.read_text().split("\n")
    assert status == 0, m.log()[-3000:]
    assert took < 10, f"a runtime's grace is 10 s; the shutdown took {took:.1f} s"
    assert lines.index("client exit") < lines.index("server term"), f"the client stops first: {lines}"
    assert lines.index("other term") < lines.index("server term"), f"jobs nobody names stop at once: {lines}"
    assert "client-socket-open" in lines, "the client's socket stays open until the last job is gone"
    assert not client_sock.exists() and not server_sock.exists(), "and then every socket is closed"


@needs_pidns
def test_a_job_that_ignores_sigterm_is_killed_and_the_exit_status_says_so(init, workdir):
    m = init(jobs=[("stubborn.plist", plist("test.stubborn", RunAtLoad=True, ExitTimeOut=1,
                                            ProgramArguments=sh("trap '' TERM; while :; do sleep 0.05; done")))])
    m.wait(lambda: (m.info("test.stubborn") or {}).get("pid"), 10, "the job to run")
    m.signal(signal.SIGTERM)
    assert m.exit_status() == 3
    assert "Exit timeout elapsed (1 seconds). Killing" in m.log()
    assert "shutdown had to SIGKILL test.stubborn: exit status 3" in m.log()


@needs_pidns
def test_what_a_daemonized_job_left_behind_gets_sigterm_then_sigkill(init, workdir):
    log = workdir / "left.log"
    stubborn = f"trap 'echo stubborn term >> {log}' TERM; while :; do sleep 0.05; done"
    polite = f"trap 'echo polite term >> {log}; exit 0' TERM; while :; do sleep 0.05; done"
    m = init(jobs=[("d.plist", plist("test.daemonizes", RunAtLoad=True, ExitTimeOut=1, ProgramArguments=sh(
        f"setsid sh -c \"{stubborn}\" & setsid sh -c \"{polite}\" & exit 0")))])
    wait_for(lambda: m.log().count("(test.daemonizes) left pid") == 2, 15, what="both daemons seen as left behind")
    m.signal(signal.SIGTERM)
    assert m.exit_status() == 3, m.log()[-3000:]
    text = log.read_text()
    assert "polite term" in text and "stubborn term" in text, "both got SIGTERM first"
    assert m.log().count("did not exit on SIGTERM: SIGKILL") == 1, "only the one that stayed was killed"
    assert "shutdown had to SIGKILL test.daemonizes" in m.log()


@needs_pidns
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGPWR])
def test_sigint_and_sigpwr_shut_down_like_sigterm(init, workdir, sig):
    m = init(jobs=[("j.plist", plist("test.j", RunAtLoad=True, ProgramArguments=looping(workdir / "j.log", "j")))])
    m.wait(lambda: (m.info("test.j") or {}).get("pid"), 10, "the job to run")
    m.signal(sig)
    assert m.exit_status() == 0
    assert "j term" in (workdir / "j.log").read_text()


@needs_pidns
@pytest.mark.parametrize("script,status", [("exit 7", 7), ("kill -USR1 $$", 128 + signal.SIGUSR1)])
def test_exit_with_ends_the_manager_with_that_jobs_status(init, workdir, script, status):
    log = workdir / "side.log"
    m = init("--exit-with", "test.main", jobs=[
        ("side.plist", plist("test.side", RunAtLoad=True, KeepAlive=True, ProgramArguments=looping(log, "side"))),
        ("main.plist", plist("test.main", RunAtLoad=True, KeepAlive=True, ThrottleInterval=0,
                             ProgramArguments=sh(f"[ -e {log} ] || sleep 0.5; {script}"))),
    ])
    assert m.exit_status() == status, m.log()[-3000:]
    assert "side term" in log.read_text(), "the other jobs were stopped in order"
    assert m.log().count("(test.main) started pid") == 1, "its KeepAlive does not restart it"


@needs_pidns
def test_exit_with_a_job_that_is_not_there_ends_the_manager_at_once_and_says_why(workdir):
    m = Init(workdir, ["--exit-with", "test.typo"])
    m.write("j.plist", plist("test.j", RunAtLoad=True, ProgramArguments=["/bin/sleep", "60"]))
    m.start(wait=False)
    assert m.exit_status() == 1, m.log()[-3000:]
    assert "--exit-with test.typo: no such job in" in m.log()


@needs_pidns
def test_exit_with_a_job_unloaded_while_it_does_not_run_ends_the_manager(init, workdir):
    m = init("--exit-with", "test.main", jobs=[("main.plist", plist("test.main", ProgramArguments=["/bin/true"]))])
    m.ctl("bootout", "system/test.main")
    assert m.exit_status() == 0, m.log()[-3000:]
    assert "(test.main) unloaded (--exit-with): shutting down with status 0" in m.log()


@needs_pidns
def test_exit_with_follows_the_main_process_a_daemon_named_with_mainpid(init, workdir):
    stop = workdir / "stop"
    m = init("--exit-with", "test.main", jobs=[("main.plist", plist("test.main", RunAtLoad=True, ProgramArguments=[
        sys.executable, str(JOBS / "forking_notifier.py"), str(stop), "7"]))])
    info = m.wait(lambda: (lambda i: i if i and i["ready"] else None)(m.info("test.main")), 15, "READY=1")
    assert "main process is now pid" in m.log() and info["runs"] == 1
    assert m.proc.poll() is None, "its first process's exit 0 did not end the container"
    stop.write_text("")
    assert m.exit_status() == 7, m.log()[-3000:]


@needs_pidns
def test_extend_timeout_usec_while_stopping_holds_back_the_sigkill(init, workdir):
    notifier = f'"{sys.executable}" "{JOBS / "notifier.py"}"'
    m = init(jobs=[("slow.plist", plist("test.slow", RunAtLoad=True, ExitTimeOut=1, ProgramArguments=sh(
        f"trap '{notifier} STOPPING=1 EXTEND_TIMEOUT_USEC=20000000 & sleep 2; exit 0' TERM; "
        "while :; do sleep 0.05; done")))])
    m.wait(lambda: (m.info("test.slow") or {}).get("pid"), 10, "the job to run")
    m.signal(signal.SIGTERM)
    assert m.exit_status() == 0, m.log()[-3000:]  # it took 2 s of the 20 it asked for, past its ExitTimeOut of 1
    assert "(test.slow) EXTEND_TIMEOUT_USEC: SIGKILL not before" in m.log()
    assert "Killing" not in m.log()


@needs_pidns
def test_a_job_writing_to_dev_stdout_reaches_the_containers_output(init, workdir):
    """StandardOutPath /dev/stdout: the manager's own output, which a runtime
    shows (docker logs); without it the output stays in the job's log."""
    m = init(jobs=[("o.plist", plist("test.out", RunAtLoad=True, StandardOutPath="/dev/stdout",
                                     StandardErrorPath="/dev/stderr", ProgramArguments=sh(
                                         "echo to-the-container; echo errors-too >&2; exec sleep 60"))),
                   ("k.plist", plist("test.kept", RunAtLoad=True, ProgramArguments=sh(
                       "echo kept-in-the-job-log; exec sleep 60")))])
    wait_for(lambda: "to-the-container" in m.log() and "errors-too" in m.log(), 10, what="the job's output")
    wait_for(lambda: "kept-in-the-job-log" in m.ctl("log", "test.kept").stdout, 10, what="the other job's log")
    assert "kept-in-the-job-log" not in m.log()
    m.signal(signal.SIGTERM)
    assert m.exit_status() == 0


@needs_pidns
def test_signals_without_a_meaning_reach_neither_the_manager_nor_the_jobs(init, workdir):
    log = workdir / "usr.log"
    m = init(jobs=[("j.plist", plist("test.j", RunAtLoad=True, ProgramArguments=sh(
        f"trap 'echo usr1 >> {log}' USR1; trap 'echo quit >> {log}' QUIT; while :; do sleep 0.05; done")))])
    m.wait(lambda: (m.info("test.j") or {}).get("pid"), 10, "the job to run")
    for sig in (signal.SIGUSR1, signal.SIGQUIT, signal.SIGALRM):  # SIGUSR2 is a re-exec: below
        m.signal(sig)  # default action; PID 1 without a handler: not delivered
    m.signal(signal.SIGHUP)  # handled: a rescan, after the signals above
    wait_for(lambda: "SIGHUP: rescanning" in m.log(), 10, what="the rescan")
    assert m.ready() and m.proc.poll() is None
    assert not log.exists(), "no signal was forwarded to the job"
    m.signal(signal.SIGTERM)
    assert m.exit_status() == 0


@needs_pidns
def test_sigusr2_reexecs_pid1_which_keeps_its_jobs_and_reaps_orphans(init, workdir):
    m = init(jobs=[("keep.plist", plist("test.keep", RunAtLoad=True, ProgramArguments=sh(
                        "while :; do sleep 0.05; done"))),
                   ("orphans.plist", plist("test.orphans", ProgramArguments=sh(
                       "for i in 1 2; do setsid sleep 0.3 & done; exit 0")))])
    init_pid = m.init_pid
    pid = m.wait(lambda: (m.info("test.keep") or {}).get("pid"), 10, "the job to run")
    m.ctl("kickstart", "test.orphans")
    wait_for(lambda: "2 orphans so far" in m.log(), 15, what="two orphans reaped")
    m.signal(signal.SIGUSR2)
    wait_for(lambda: "re-exec 1 done" in m.log(), 30, what="the re-exec")
    assert m.init_pid == init_pid and m.info("test.keep")["pid"] == pid
    m.ctl("kickstart", "test.orphans")  # orphans after the exec: reaped by the new code, counted on
    wait_for(lambda: "4 orphans so far" in m.log(), 15, what="two more orphans reaped")
    wait_for(lambda: all(state != "Z" for _, state in m.in_namespace()), 10, what="no zombie")
    m.signal(signal.SIGTERM)
    assert m.exit_status() == 0


# -- a real daemon that speaks sd_notify: dbus-daemon (Debian builds it with systemd) --

def test_dbus_daemon_is_ready_for_kickstart_w(manager, workdir):
    dbus = shutil.which("dbus-daemon")
    if dbus is None:
        pytest.skip("dbus-daemon is not installed (scripts/install-test-programs installs it)")
    bus = workdir / "bus"
    manager.write("dbus.plist", plist("test.dbus", StandardErrorPath=str(workdir / "dbus.log"), ProgramArguments=[
        dbus, "--session", "--nofork", "--nopidfile", f"--address=unix:path={bus}"]))
    manager.wait_loaded("test.dbus")
    cp = manager.ctl("kickstart", "-w", "--timeout", "20", "test.dbus")
    assert cp.returncode == 0
    info = manager.info("test.dbus")
    assert info["ready"] is True and info["pid"], info
    assert "ready = yes" in manager.ctl("print", "test.dbus").stdout


def test_kickstart_w_says_when_the_job_exits_before_it_is_ready(manager):
    """Also with KeepAlive, which starts it again: the process -w waited for is gone."""
    manager.write("once.plist", plist("test.once", ProgramArguments=["/bin/sh", "-c", "sleep 0.2; exit 5"]))
    manager.write("loop.plist", plist("test.loop", KeepAlive=True, ProgramArguments=["/bin/sh", "-c", "sleep 0.2; exit 1"]))
    for label, code in (("test.once", 5), ("test.loop", 1)):
        manager.wait_loaded(label)
        cp = manager.ctl("kickstart", "-w", "--timeout", "30", label, check=False)
        assert cp.returncode == 3, cp.stderr
        assert f"{label} exited before it was ready (READY=1): last exit {code}" in cp.stderr


def test_kickstart_w_times_out_on_a_job_that_never_says_ready(manager):
    manager.write("mute.plist", plist("test.mute", ProgramArguments=["/bin/sleep", "60"]))
    manager.wait_loaded("test.mute")
    cp = manager.ctl("kickstart", "-w", "--timeout", "0.5", "test.mute", check=False)
    assert cp.returncode == 60, cp.stderr
    assert "timed out after 0.5 s waiting for test.mute to send READY=1" in cp.stderr
    assert "ready = no" in manager.ctl("print", "test.mute").stdout


@needs_pidns
def test_sshd_tells_its_readiness_to_kickstart_w_as_debian_builds_it(init, workdir):
    """Debian's sshd (linked with libsystemd) sends READY=1 once it listens: a
    second real daemon, as a container runs it (sshd -D), behind kickstart -w."""
    sshd, keygen = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("ssh-keygen")
    if not os.path.exists(sshd) or keygen is None:
        pytest.skip("needs sshd and ssh-keygen (scripts/install-test-programs installs them)")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege separation directory
    key = workdir / "host_ed25519"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    port = free_port()
    m = init(jobs=[("sshd.plist", plist("test.sshd", ExitTimeOut=5, ProgramArguments=[
        sshd, "-D", "-e", "-f", "/dev/null", "-p", str(port), "-o", "ListenAddress=127.0.0.1",
        "-o", f"HostKey={key}", "-o", f"PidFile={workdir / 'sshd.pid'}", "-o", "UsePAM=no"]))])
    m.wait(lambda: m.info("test.sshd"), 10, "the job to load")
    cp = m.ctl("kickstart", "-w", "--timeout", "20", "test.sshd", check=False)
    assert cp.returncode == 0, cp.stderr + m.log()[-3000:]
    assert "ready = yes" in m.ctl("print", "test.sshd").stdout
    m.signal(signal.SIGTERM)
    assert m.exit_status() == 0, m.log()[-3000:]
