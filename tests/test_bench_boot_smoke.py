"""bench/boot.py runs, at a tiny size, for pylaunchd as PID 1 of a PID namespace: proof the script works.

No timing is asserted (the figures live in docs/benchmarks.md): only that the boot completed and that
no service was refused a connection to one it depends on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BOOT = Path(__file__).resolve().parent.parent / "bench" / "boot.py"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: pylaunchd runs as PID 1 of a new PID namespace"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) is not installed"),
]


def test_a_tiny_parallel_boot_under_pylaunchd_refuses_no_connection():
    cp = subprocess.run([sys.executable, str(BOOT), "--services", "6", "--layers", "3", "--start-ms", "50",
                         "--repeat", "1", "--runners", "pylaunchd", "--timeout", "10", "--json"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    result = json.loads(cp.stdout)["results"]["pylaunchd"]
    assert result["booted"], result
    assert result["services_reporting_min"] == 6, result
    assert result["refused_services_max"] == 0, result
