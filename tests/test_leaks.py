"""Leaks, with small counts: bench/leaks.py (the full count is the benchmark's,
see docs/benchmarks.md) run against this tree, with a few seconds of
bench/soak.py beside it; the /proc readings they rest on shown to see a leak
when there is one; and no table of the manager keeping a removed job.

After 100 activations of each kind (LISTEN_FDS, inetd Wait false, inetd
Wait true, UDP) and 30 reloads (half of them replacing the socket), the
manager's open descriptors, threads and zombies equal the warmed-up baseline,
its RSS is within 5 % of it, and every request was answered.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import run_bench_scripts, wait_for

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
from workload import snapshot  # noqa: E402
from inprocess import run_in_process  # noqa: E402


RUNS = {"leaks": ["leaks.py", "--activations", "100", "--reloads", "30", "--warmup", "10", "--no-peer"],
        "soak": ["soak.py", "--duration", "6", "--sample-every", "1", "--churn-every", "0.3", "--no-peer"]}


@pytest.fixture(scope="module")
def reports():
    """bench/leaks.py and a short bench/soak.py, started together; name -> report."""
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler for bench/oneshot.c")
    out = {}
    for name, (status, rep, stderr) in run_bench_scripts(RUNS, 180).items():
        assert rep is not None, f"bench/{name}.py gave no report (exit {status}):\n{stderr[-3000:]}"
        out[name] = rep
    return out


@pytest.fixture(scope="module")
def report(reports):
    return reports["leaks"]


def _figures(rep: dict, phase: str) -> str:
    pl = rep["pylaunchd"]
    return f"baseline {pl['baseline']}\n{phase} {pl[phase]}"


def test_activations_of_every_kind_leave_no_fd_thread_or_zombie_behind(report):
    pl = report["pylaunchd"]
    assert pl["activations"]["lost"] == 0, pl["activations"]["lost_sample"]
    assert all(runs >= 100 for runs in pl["runs"].values()), pl["runs"]
    verdict = pl["after_activations_vs_baseline"]
    assert verdict["holds"], f"{verdict}\n{_figures(report, 'after_activations')}"


def test_reloads_leave_no_fd_thread_or_zombie_behind(report):
    pl = report["pylaunchd"]
    assert pl["reloads"]["lost"] == 0 and pl["reloads"]["reloads"] == 30, pl["reloads"]
    verdict = pl["after_reloads_vs_baseline"]
    assert verdict["holds"], f"{verdict}\n{_figures(report, 'after_reloads')}"
    assert pl["manager_exit"] == 0


def test_a_short_soak_loses_nothing_and_gives_back_what_it_took(reports):
    rep = reports["soak"]
    assert rep["lost"] == 0, rep["lost_sample"]
    assert rep["requests"] > 50 and sum(rep["churn_steps"].values()) >= 5, (rep["requests"], rep["churn_steps"])
    assert rep["end"]["fds"] == rep["baseline"]["fds"] and rep["end"]["threads"] == rep["baseline"]["threads"], \
        (rep["baseline"], rep["end"])
    assert rep["end"]["zombies"] == 0 and len(rep["samples"]) >= 5


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
        held = {"last main PIDs": set(m.mains), "orphans": set(m.orphans.left), "pids": set(m.table.pids.values()),
                "environment": set(m.environment._by_job)}
        assert not any(set(labels) & {getattr(x, "label", x) for x in v} for v in held.values()), held

    run_in_process(tmp_path, body)
