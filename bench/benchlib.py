"""Helpers shared by the benchmarks in bench/ (standard library only)."""

from __future__ import annotations

import json
import signal
import socket
import statistics
import sys
import time

HOST = "127.0.0.1"


class BenchError(Exception):
    pass


def wait_for(predicate, timeout: float, what: str, interval: float = 0.002):
    """Poll *predicate* until it returns a truthy value, or raise BenchError."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError) as e:
            last = e
        time.sleep(interval)
    raise BenchError(f"timed out after {timeout}s waiting for {what}" + (f" ({last})" if last else ""))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def percentile(data: list[float], p: int) -> float:
    """Inclusive percentile (p in 1..99), as statistics.quantiles computes it."""
    if len(data) == 1:
        return data[0]
    return statistics.quantiles(data, n=100, method="inclusive")[p - 1]


def run_and_report(run, args, render, what: str):
    """Run a benchmark and print its report (JSON with --json, else a table).
    SIGTERM still stops what it started and removes its temporary directory.
    The report, or None after a BenchError (said on stderr)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        report = run(args)
    except BenchError as e:
        print(f"{what} benchmark failed: {e}", file=sys.stderr)
        return None
    print(json.dumps(report, indent=2) if args.json else render(report))
    return report
