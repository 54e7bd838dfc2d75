"""Readiness messages as systemd's NotifyAccess=main would take them, through a
real manager subprocess (a child subreaper, not PID 1; no root needed):

* ``MAINPID=`` of a child the daemon forked makes that child the job's main
  process: its parent's exit is no crash, KeepAlive starts nothing, the job
  stays ready and running with the child's PID, and the child's exit is the
  job's exit;
* ``MAINPID=`` naming a process that is not the job's is refused, and
  messages from a process that is no job's (here, the test itself) change
  nothing;
* ``EXTEND_TIMEOUT_USEC=`` before ``READY=1`` makes ``kickstart -w`` wait
  longer than its ``--timeout``;
* ``WATCHDOG=trigger`` aborts the job at once, and says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket

import pytest

from conftest import JOBS, PYTHON, plist

FORKING = [PYTHON, str(JOBS / "forking_notifier.py")]
NOTIFIER = [PYTHON, str(JOBS / "notifier.py")]


def test_mainpid_of_a_forked_child_makes_it_the_jobs_main_process(manager, workdir):
    stop = workdir / "stop"
    manager.write("fork.plist", plist("test.forking", KeepAlive=True, ProgramArguments=[*FORKING, str(stop), "0"]))
    info = manager.wait_state("test.forking", lambda i: i["ready"], what="READY=1 from the forked child")
    child = info["pid"]
    assert info["status_text"] == f"serving as {child}", info
    assert f"(test.forking) main process is now pid {child}" in manager.log()
    # Its parent has exited 0: no restart, no crash, still the same process.
    info = manager.info("test.forking")
    assert (info["state"], info["pid"], info["runs"], info["ready"]) == ("running", child, 1, True), info
    assert info["daemon_pid"] is None, "a main process, not something it left behind"
    assert "Exited" not in manager.log(), "the parent's exit is not the job's"
    stop.write_text("")  # now the main process exits: that is the job's exit, and KeepAlive starts it again
    manager.wait_state("test.forking", lambda i: i["runs"] >= 2 and i["pid"] not in (None, child), 30,
                       what="KeepAlive's restart after the new main process exited")


@pytest.mark.parametrize("reexec", [False, True], ids=["", "after-a-reexec"])
def test_a_main_process_its_own_parent_reaps_still_ends_the_job(manager, workdir, reexec):
    """A wrapper that waits for the daemon it started: the manager never
    reaps the daemon, but sees it exit (a pidfd, opened again after a
    re-exec), and the job's run ends."""
    stop = workdir / "stop"
    manager.write("wrap.plist", plist("test.wrapped", ProgramArguments=[
        *FORKING, "--parent-waits", str(stop), "3"]))
    manager.wait_loaded("test.wrapped")
    manager.ctl("kickstart", "test.wrapped")
    info = manager.wait_state("test.wrapped", lambda i: i["ready"], what="READY=1 from the forked child")
    wrapper = int(manager.log().split("(test.wrapped) main process is now pid")[1].split("was pid ")[1].split(")")[0])
    try:
        if reexec:
            manager.ctl("reexec")
            assert manager.info("test.wrapped")["pid"] == info["pid"]
        stop.write_text("")
        manager.wait_state("test.wrapped", lambda i: i["pid"] is None and i["runs"] == 1, what="the job's run to end")
        assert f"main process pid {info['pid']} (MAINPID=) exited and was reaped by its own parent" in manager.log()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(wrapper, signal.SIGKILL)


def test_mainpid_of_another_jobs_process_is_refused(manager, workdir):
    go = workdir / "go"
    manager.write("victim.plist", plist("test.victim", RunAtLoad=True, ProgramArguments=[
        *NOTIFIER, "--wait-for", str(go), "@wait", "READY=1\\nSTATUS=victim"]))
    victim = manager.wait_state("test.victim", lambda i: i["pid"], what="the victim to run")["pid"]
    manager.write("thief.plist", plist("test.thief", RunAtLoad=True, ProgramArguments=[
        *NOTIFIER, f"MAINPID={victim}"]))
    manager.wait(lambda: f"(test.thief) notify: MAINPID={victim} refused: not a process of the job" in manager.log(),
                 10, "the refusal")
    go.write_text("")  # the victim's own READY=1 still counts for the victim, and only for it
    manager.wait_state("test.victim", lambda i: i["ready"] and i["status_text"] == "victim", what="victim ready")
    thief = manager.info("test.thief")
    assert not thief["ready"] and thief["status_text"] is None, thief


def test_a_message_from_a_process_that_is_no_jobs_changes_nothing(manager):
    manager.write("j.plist", plist("test.quiet", RunAtLoad=True, ProgramArguments=["/bin/sleep", "60"]))
    manager.wait_state("test.quiet", lambda i: i["pid"], what="the job to run")
    address = manager.socket + ".notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1\nSTATUS=forged", address)  # from this test: the manager's sibling, no job's
    manager.wait(lambda: "which is no running job's: {'READY': '1', 'STATUS': 'forged'}" in manager.log(), 10,
                 "the message refused")
    info = manager.info("test.quiet")
    assert not info["ready"] and info["status_text"] is None, info


def test_extend_timeout_usec_makes_kickstart_w_wait_longer(manager, workdir):
    # The job asks for 30 s at once; READY=1 comes a second after the go file,
    # which is there before kickstart -w starts waiting with its --timeout of 0.1 s.
    go = workdir / "go"
    notifier = " ".join(f'"{a}"' for a in NOTIFIER)
    manager.write("slow.plist", plist("test.slow", RunAtLoad=True, ProgramArguments=[
        "/bin/sh", "-c", f"{notifier} EXTEND_TIMEOUT_USEC=30000000 & "
                         f"while [ ! -e {go} ]; do sleep 0.02; done; sleep 1; exec {notifier} READY=1"]))
    left = manager.wait_state("test.slow", lambda i: i["ready_extended"], what="the extension")["ready_extended"]
    assert 0 < left <= 30
    go.write_text("")
    cp = manager.ctl("kickstart", "-w", "--timeout", "0.1", "test.slow", check=False)
    assert cp.returncode == 0, cp.stderr + manager.log()[-3000:]
    info = manager.info("test.slow")
    assert info["ready"] and info["ready_extended"] is None and info["runs"] == 1, info


def test_watchdog_trigger_aborts_the_job_at_once_and_says_why(manager):
    manager.write("trig.plist", plist("test.trigger", ProgramArguments=[*NOTIFIER, "READY=1", "WATCHDOG=trigger"]))
    manager.wait_loaded("test.trigger")
    manager.ctl("kickstart", "test.trigger")
    info = manager.wait_state("test.trigger", lambda i: i["last_exit"] and i["pid"] is None, what="the abort")
    assert info["last_exit"]["signal"] == 6, info  # SIGABRT
    assert "(test.trigger) WATCHDOG=trigger: SIGABRT" in manager.log()
