"""Leaks, with small counts: bench/leaks.py (the full count is the benchmark's,
see docs/benchmarks.md) run against this tree, and the /proc readings it
rests on shown to see a leak when there is one.

After 120 activations of each kind (LISTEN_FDS, inetd Wait false, inetd
Wait true, UDP) and 40 reloads (half of them replacing the socket), the
manager's open descriptors, threads and zombies equal the warmed-up baseline,
its RSS is within 5 % of it, and every request was answered.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wait_for

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
from workload import snapshot  # noqa: E402
from inprocess import run_in_process  # noqa: E402


@pytest.fixture(scope="module")
def report():
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler for bench/oneshot.c")
    cp = subprocess.run([sys.executable, str(BENCH / "leaks.py"), "--activations", "120", "--reloads", "40",
                         "--warmup", "20", "--no-peer", "--json"], capture_output=True, text=True, timeout=180)
    assert cp.stdout, f"bench/leaks.py printed nothing (exit {cp.returncode}):\n{cp.stderr[-3000:]}"
    return json.loads(cp.stdout)


def _figures(rep: dict, phase: str) -> str:
    pl = rep["pylaunchd"]
    return f"baseline {pl['baseline']}\n{phase} {pl[phase]}"


def test_activations_of_every_kind_leave_no_fd_thread_or_zombie_behind(report):
    pl = report["pylaunchd"]
    assert pl["activations"]["lost"] == 0, pl["activations"]["lost_sample"]
    assert all(runs >= 120 for runs in pl["runs"].values()), pl["runs"]
    verdict = pl["after_activations_vs_baseline"]
    assert verdict["holds"], f"{verdict}\n{_figures(report, 'after_activations')}"


def test_reloads_leave_no_fd_thread_or_zombie_behind(report):
    pl = report["pylaunchd"]
    assert pl["reloads"]["lost"] == 0 and pl["reloads"]["reloads"] == 40, pl["reloads"]
    verdict = pl["after_reloads_vs_baseline"]
    assert verdict["holds"], f"{verdict}\n{_figures(report, 'after_reloads')}"
    assert pl["manager_exit"] == 0


def test_the_readings_see_an_open_descriptor_and_a_zombie():
    """What the leak test rests on: a pipe is two more fds of kind pipe, and an
    unreaped child is a zombie."""
    before = snapshot(os.getpid())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        os.close(w)
        os.read(r, 1)  # EOF once the child exited (it held the write end too)
        now = wait_for(lambda: (s := snapshot(os.getpid()))["zombies"] > before["zombies"] and s,
                       what="the child to be a zombie")
        assert now["fds"] == before["fds"] + 1 and now["fd_kinds"]["pipe"] == before["fd_kinds"].get("pipe", 0) + 1
        assert now["zombies"] == before["zombies"] + 1
        assert now["children"] == before["children"] + 1
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    assert snapshot(os.getpid())["zombies"] == before["zombies"]


def test_a_removed_job_leaves_no_record_behind_in_the_manager(tmp_path):
    """Jobs come and go for months under new labels: once one is removed, no
    table of the manager still holds its label (its last main PID was kept
    for ever before)."""
    labels = [f"test.gone{i}" for i in range(3)]

    async def body(h):
        for label in labels:
            job = h.load(label, ProgramArguments=["/bin/true"], RunAtLoad=True)
            await h.until(lambda: job.machine.runs == 1 and job.machine.pid is None, f"{label} to run and exit")
            h.manager.table.unload(label)
            await h.until(lambda: h.manager.table.find(label) is None, f"{label} to be removed")
        m = h.manager
        held = {"last main PIDs": set(m._mains), "orphans": set(m.orphans.left), "pids": set(m.table.pids.values()),
                "environment": set(m.environment._by_job)}
        assert not any(set(labels) & {getattr(x, "label", x) for x in v} for v in held.values()), held

    run_in_process(tmp_path, body)
