"""bench/bus_activation.py at its smallest: proof the script works end to end.

No timing is asserted (the figures live in docs/benchmarks.md): only that
both ways answered every cold call of each service, that pylaunchd started
its job once per call (each run was cold), and that run_all's report renders
the result.
Skipped without dbus-daemon (scripts/install-test-programs installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_bus_activation_bench_runs_and_reports():
    if not shutil.which("dbus-daemon"):
        pytest.skip("dbus-daemon is not installed (scripts/install-test-programs installs it)")
    cp = subprocess.run([sys.executable, str(BENCH / "bus_activation.py"), "--runs", "2", "--warmup", "1",
                         "--settle", "0", "--json"], capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    report = json.loads(cp.stdout)
    rows = {r["job"]: r for r in report["results"]}
    assert "python" in rows and ("tiny" in rows or any("tiny" in n for n in report["notes"]))
    for row in rows.values():
        assert row["pylaunchd"]["n"] == row["dbus-daemon"]["n"] == 2
        assert row["pylaunchd"]["job_runs"] == 3, "one start per call: every run was cold"
        assert row["ratio_p50"] > 0
    assert not [n for n in report["notes"] if "not cold" in n], report["notes"]
    sys.path.insert(0, str(BENCH))
    try:
        import report as md
    finally:
        sys.path.remove(str(BENCH))
    text = "\n".join(md.bus_activation_md(report))
    assert "classic `Exec=`" in text and f"{rows['python']['ratio_p50']:.2f}x" in text
