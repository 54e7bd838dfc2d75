"""A job's output never fails the job: its ends of the output pipe block as
a terminal or a file would, so a program that writes faster than the manager
reads is slowed down, never handed EAGAIN, and loses no line."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from conftest import children, plist


def job_log_lines(manager, label: str) -> list[str]:
    """Every line of the job's log and its rotated files, oldest first (the
    files joined first: a job that writes no newline is cut by size)."""
    base = Path(manager.state_dir) / "logs" / f"{label}.log"
    files = [base.with_name(f"{base.name}.{i}") for i in (3, 2, 1)] + [base]
    return b"".join(p.read_bytes() for p in files if p.exists()).decode(errors="replace").splitlines()


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def test_dd_writing_64_mib_to_its_log_pipe_succeeds(manager):
    """And the manager's memory stays bounded: output without a newline was
    kept in memory as 64 KiB "lines", 2,000 of them (bench/output_flood.py
    writes 1 GiB)."""
    before = peak_rss_mib(manager.proc.pid)
    manager.write("dd.plist", plist("test.dd", RunAtLoad=True,
                                    ProgramArguments=["/bin/dd", "if=/dev/zero", "bs=1M", "count=64"]))
    info = manager.wait_state("test.dd", lambda i: i.get("last_exit_status") is not None, 60, "dd to exit")
    assert info["last_exit_status"] == 0, [line for line in job_log_lines(manager, "test.dd") if "dd:" in line]
    assert peak_rss_mib(manager.proc.pid) - before < 16, "the manager's peak memory grew with the output"


def writing_blocked(pid: int) -> bool:
    """Whether *pid* sleeps in a pipe write (the pipe is full)."""
    try:
        with open(f"/proc/{pid}/wchan") as f:
            return "pipe_write" in f.read()
    except OSError:
        return False


def test_a_slow_reader_slows_the_job_and_loses_no_line(manager, workdir):
    """200,000 numbered lines while the manager is stopped (SIGSTOP): the job
    blocks in write() on the full pipe, and once the manager reads again,
    every line is in the log, once, in order, and the writer exits 0."""
    n, go = 200_000, workdir / "go"
    script = f'while [ ! -e {go} ]; do sleep 0.01; done; seq {n}; echo "seq exited $?"'
    manager.write("seq.plist", plist("test.seq", RunAtLoad=True, ProgramArguments=["/bin/sh", "-c", script]))
    sh = manager.wait_state("test.seq", lambda i: i.get("pid"), 10, "the job to run")["pid"]
    os.kill(manager.proc.pid, signal.SIGSTOP)
    try:
        go.touch()
        manager.wait(lambda: any(writing_blocked(c) for c in children(sh)), 10, "seq to block on the full pipe")
    finally:
        os.kill(manager.proc.pid, signal.SIGCONT)
    manager.wait_state("test.seq", lambda i: i.get("last_exit_status") is not None, 60, "the job to exit")
    lines = job_log_lines(manager, "test.seq")
    assert "seq exited 0" in lines
    assert [line for line in lines if line.isdigit()] == [str(i) for i in range(1, n + 1)]
