"""The benchmarks of bench/ run, at their smallest sizes: proof the scripts work.

Nothing here asserts a timing (the figures live in docs/benchmarks.md, made
by bench/run_all.py): only that each script ran to the end, produced the
report it documents, and that the report renders (and plots, where
matplotlib is installed). The three scripts run at once, each as its own
process, to keep the whole under about 20 s. Where xinetd is absent the
peer's part is skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest
from conftest import run_bench_scripts

BENCH = Path(__file__).resolve().parent.parent / "bench"
XINETD = shutil.which("xinetd") or "/usr/sbin/xinetd"
HAVE_XINETD = os.access(XINETD, os.X_OK)
NO_XINETD = "xinetd is not installed (scripts/install-test-programs installs it)"
MANAGERS = "pylaunchd,xinetd" if HAVE_XINETD else "pylaunchd"
RUNS = {
    "scale": ["scale.py", "--sizes", "20", "--idle-seconds", "1", "--managers", MANAGERS, "--term-timeout", "10"],
    "startup": ["startup.py", "--jobs", "10", "--runs", "1", "--managers", MANAGERS + ",pylaunchd warm"],
}
if HAVE_XINETD:
    RUNS["reload"] = ["reload.py", "--trials", "3", "--half-trials", "1", "--jobs", "3", "--settle", "0"]


@pytest.fixture(scope="module")
def reports():
    """Every smoke run, started together; name -> (exit status, report or None, stderr)."""
    return run_bench_scripts(RUNS, 90)


def ran(reports, name):
    status, report, stderr = reports[name]
    assert status == 0, f"bench/{name}.py failed:\n{stderr}"
    return report


def test_scale_brings_up_checks_and_stops(reports):
    report = ran(reports, "scale")
    pl = report["results"]["20"]["pylaunchd"]
    assert pl["bringup_s"] is not None and pl["per_job_ms"] is not None
    assert pl["sample_accepting"].split("/")[0] == pl["sample_accepting"].split("/")[1]
    assert pl["listed"] == 20
    assert set(pl["idle"]) >= {"cpu_pct", "wakeups", "window_s"}
    assert "status" in pl["sigterm"] and pl["socket_files_left"].endswith("/1")
    if not HAVE_XINETD:
        pytest.skip(NO_XINETD)
    assert report["results"]["20"]["xinetd"]["bringup_s"] is not None
    assert "bringup" in report["results"]["20"]["ratios"]


def test_startup_probe_sees_every_socket(reports):
    report = ran(reports, "startup")
    assert report["results"]["pylaunchd"]["failed"] == 0
    assert "refused" in report["results"]["pylaunchd"]["runs"][0]
    assert report["results"]["pylaunchd warm"]["failed"] == 0, "a second start on the boot cache it wrote"
    if not HAVE_XINETD:
        pytest.skip(NO_XINETD)
    assert report["results"]["xinetd"]["failed"] == 0


@pytest.mark.skipif(not HAVE_XINETD, reason=NO_XINETD)
def test_reload_every_case_and_the_log_check(reports):
    report = ran(reports, "reload")
    for case, by in report["results"].items():
        assert by["pylaunchd"]["failed"] == 0, case
    checks = report["log_checks"]
    assert checks["reload_lines"] == checks["expected_reloads"]


def test_the_report_renders_and_plots(reports, tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import report as md
    finally:
        sys.path.remove(str(BENCH))
    results = {name: r for name, (status, r, _) in reports.items() if status == 0}
    run = {"machine": {"cpus": 2, "cpu": "", "arch": "x", "kernel": "k", "python": "3", "date": "now"},
           "repo": "/r", "commit": "c", "command": "c", "wall_s": 1.0, "versions": [], "results": results,
           "cannot": ["a note"]}
    plots = []
    if importlib.util.find_spec("matplotlib"):
        sys.path.insert(0, str(BENCH))
        try:
            from plots import make_all
        finally:
            sys.path.remove(str(BENCH))
        plots = make_all(results, tmp_path / "img")
        assert all((tmp_path / "img" / p).stat().st_size for p in plots)
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nhand-written\n")
    md.write_doc(doc, md.markdown(run, plots))
    md.write_doc(doc, md.markdown(run, plots))  # a second run replaces the block
    text = doc.read_text()
    assert text.count(md.BEGIN) == 1 and "hand-written" in text and "Start-up" in text
