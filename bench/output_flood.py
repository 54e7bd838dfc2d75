#!/usr/bin/env python3
"""A job that writes 1 GiB of output: how fast it goes through the manager,
and what it costs the manager's memory.

The job is ``dd if=/dev/zero bs=1M count=N`` with no ``StandardOutPath``: its
output goes down the pipe pylaunchd reads into the job's log (rotated at
1 MiB, three old files kept, so the disk holds at most about 4 MiB of it).
Measured: the time dd itself reports (the same measure for the peer), the
job's exit status (0: no write failed), the manager's peak
resident memory (``VmHWM``) before and after, and what the log holds on disk.

The peer, measured in the same run: the same ``dd`` into ``cat > /dev/null``
through a pipe, started directly: the speed of a pipe with a reader that
does nothing. The ratio says what pylaunchd's reading, logging and rotation
cost on top of the pipe itself.

Usage: ``python3 bench/output_flood.py [--mib N] [--json]`` (default 1024).
Standard library only; the manager is started and stopped by PID, its
temporary directory removed. A benchmark, not a test: it exits 0 whatever
the figures are, and 1 if the job failed.
"""

from __future__ import annotations

import argparse
import json
import os
import plistlib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import pylaunchd_argv, terminate, wait_for  # noqa: E402


def vm(pid: int, field: str) -> float:
    """A /proc/PID/status figure (VmRSS, VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def request(sock: str, verb: str, **args):
    from pylaunchd.control.protocol import request as call
    return call(sock, verb, args, timeout=30)


def through_pylaunchd(root: Path, mib: int) -> dict:
    jobs, state, sock = root / "jobs", root / "state", str(root / "ctl.sock")
    jobs.mkdir()
    proc = subprocess.Popen(pylaunchd_argv(jobs, sock, state), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(sock), 30, "pylaunchd to listen")
        rss0, hwm0 = vm(proc.pid, "VmRSS"), vm(proc.pid, "VmHWM")
        p = jobs / "flood.plist"
        p.write_bytes(plistlib.dumps({"Label": "bench.flood", "RunAtLoad": True, "ProgramArguments": [
            "/bin/dd", "if=/dev/zero", "bs=1M", f"count={mib}"]}))
        p.chmod(0o644)
        info = wait_for(lambda: _exited(sock), 3600, "the job to exit", interval=0.05)
        logs = state / "logs"
        on_disk = sum(f.stat().st_size for f in logs.glob("bench.flood.log*")) / 2**20
        elapsed = dd_seconds((logs / "bench.flood.log").read_bytes()[-4096:])
        return {"status": info["last_exit_status"], "seconds": elapsed, "rss_before_mib": round(rss0, 1),
                "hwm_before_mib": round(hwm0, 1), "hwm_after_mib": round(vm(proc.pid, "VmHWM"), 1),
                "log_on_disk_mib": round(on_disk, 1)}
    finally:
        terminate(proc)


def _answers(sock: str) -> bool:
    try:
        request(sock, "manager")
        return True
    except Exception:  # noqa: BLE001 - not listening yet
        return False


def _exited(sock: str):
    try:
        info = request(sock, "print", label="bench.flood")
    except Exception:  # noqa: BLE001 - not loaded yet
        return None
    return info if info.get("last_exit_status") is not None else None


def dd_seconds(text: bytes) -> float | None:
    """The time dd reports on its last line ("..., 0.52 s, 2.1 GB/s")."""
    m = re.findall(rb"copied, ([0-9.]+) s", text)
    return float(m[-1]) if m else None


def through_a_pipe(mib: int) -> dict:
    cp = subprocess.run(["/bin/sh", "-c", f"/bin/dd if=/dev/zero bs=1M count={mib} | cat > /dev/null"],
                        stderr=subprocess.PIPE)
    return {"status": cp.returncode, "seconds": dd_seconds(cp.stderr)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="plbench-flood-", dir="/tmp"))
    try:
        peer = through_a_pipe(args.mib)
        ours = through_pylaunchd(root, args.mib)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report = {"mib": args.mib, "pylaunchd": ours, "pipe_to_cat": peer}
    if ours["seconds"] and peer["seconds"]:
        report["ratio"] = round(ours["seconds"] / peer["seconds"], 2)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.mib} MiB of job output: pylaunchd {ours['seconds']:.2f} s (exit {ours['status']}), "
              f"dd | cat {peer['seconds']:.2f} s: x{report.get('ratio')}; manager peak RSS "
              f"{ours['hwm_before_mib']} -> {ours['hwm_after_mib']} MiB; log on disk {ours['log_on_disk_mib']} MiB")
    return 0 if ours["status"] == 0 and peer["status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
