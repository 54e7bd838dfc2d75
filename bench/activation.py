#!/usr/bin/env python3
"""Cold activation latency: pylaunchd against systemd-socket-activate.

What is timed, for every (job, manager) pair: from just before the client's
``connect()`` to the arrival of the first reply byte, with nothing of the job
running beforehand. The job is started on demand by the connection, answers
that one connection and exits.

Jobs (the same programs under both managers):

``tiny``    a small C server compiled here with ``cc``: takes the listening
            socket on fd 3 (``LISTEN_FDS``), accepts one connection, writes a
            line, exits. Its own start-up is well under a millisecond, so the
            manager's cost is what shows. Skipped (with a note) without ``cc``.
``python``  the same server in Python (``sys.executable job.py``): a typical
            job whose interpreter start-up dominates.
``inetd``   ``/bin/cat`` run per connection on fds 0-2: pylaunchd with
            ``inetdCompatibility`` ``Wait`` false against
            ``systemd-socket-activate --inetd -a``. Both managers stay up and
            accept the connection themselves; the client sends one line and
            times the echo.

How each manager is driven:

* pylaunchd runs once for the whole benchmark (``python -m
  pylaunchd`` on a private jobs directory and control socket).
  The LISTEN_FDS jobs have ``ThrottleInterval`` 0, so the next connection
  starts them again at once. Before each run the benchmark polls the control
  socket until the job is ``waiting`` again with its sockets watched (or, for
  the inetd job, until no instance is left).
* systemd-socket-activate without ``--accept`` waits for the first
  connection and then *execs the job in place*: it does not fork and does not
  listen again. So every LISTEN_FDS run starts a fresh
  ``systemd-socket-activate -l 127.0.0.1:PORT JOB``, waits until it has said
  "Listening on" and is asleep (in epoll_wait), and only then connects; that
  start-up is outside the timed window. For the inetd job one
  ``systemd-socket-activate --inetd -a`` serves every run.

Runs of the different pairs are interleaved (in a shuffled order each round)
so that a noisy machine disturbs all of them alike, after a few untimed
warm-up rounds. Every pair waits the same settle time before its connection.

Standard library only (plus pylaunchd, which is started as a subprocess).
Usage: ``python3 bench/activation.py [--runs N] [--json]``. A benchmark, not
a test: it exits 0 whatever the figures are, and non-zero only if a run failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import plistlib
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import REPO as DEFAULT_REPO  # noqa: E402
from benchlib import (HOST, BenchError, add_cold_run_options, python, add_repo_option, free_port,  # noqa: E402
                      percentile, proc_children, repo_env, run_and_report, tiny_and_python, use_repo,
                      version_line, wait_for)

SSA = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"
CAT = shutil.which("cat") or "/bin/cat"
REPO = DEFAULT_REPO  # the tree measured: --repo (main() sets it before anything imports pylaunchd)

TINY_C = r"""
/* A LISTEN_FDS job: accept one connection on fd 3, write a line, exit. */
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    static const char reply[] = "tiny\n";
    const char *n = getenv("LISTEN_FDS");
    if (n == NULL || atoi(n) < 1)
        return 2;
    /* The listening socket may be non-blocking: wait for the client first. */
    struct pollfd p = { .fd = 3, .events = POLLIN };
    while (poll(&p, 1, 10000) < 0)
        ;
    int c = accept(3, NULL, NULL);
    if (c < 0)
        return 1;
    if (write(c, reply, sizeof reply - 1) < 0)
        return 1;
    close(c);
    return 0;
}
"""

PY_JOB = r'''
"""A LISTEN_FDS job: accept one connection on fd 3, write a line, exit."""
import os
import select
import socket

if int(os.environ.get("LISTEN_FDS", "0")) < 1:
    raise SystemExit(2)
server = socket.socket(fileno=3)
select.select([server], [], [], 10)  # the socket may be non-blocking
conn, _ = server.accept()
conn.sendall(b"python\n")
conn.close()
'''

REPLIES = {"tiny": b"tiny\n", "python": b"python\n", "inetd": b"ping\n"}


# ---------------------------------------------------------------------------
# small helpers


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def one_exchange(port: int, send: bytes | None) -> tuple[float, bytes]:
    """Connect, optionally send a line, and time connect -> first reply byte."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        t0 = time.perf_counter()
        s.connect((HOST, port))
        if send:
            s.sendall(send)
        first = s.recv(1)
        t1 = time.perf_counter()
        if send:
            s.shutdown(socket.SHUT_WR)
        chunks = [first]
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    return t1 - t0, b"".join(chunks)


# ---------------------------------------------------------------------------
# pylaunchd


class Pylaunchd:
    def __init__(self, root: Path, jobs: dict[str, list[str]], keys: dict[str, dict] | None = None,
                 env: dict[str, str] | None = None):
        from pylaunchd.control.protocol import request  # noqa: F401 - fail early without pylaunchd

        root.mkdir(exist_ok=True)
        self.root = root
        self.env = env or {}
        self.jobs_dir = root / "jobs"
        self.jobs_dir.mkdir()
        self.state_dir = root / "state"
        self.control = str(root / "ctl.sock")
        self.log_path = root / "pylaunchd.log"
        self.labels: dict[str, str] = {}
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen | None = None
        for name, argv in jobs.items():
            label = f"bench.activation.{name}"
            self.labels[name] = label
            plist = {
                "Label": label,
                "ProgramArguments": argv,
                "Sockets": {"Listeners": {"SockNodeName": HOST, "SockServiceName": "0",
                                          "SockFamily": "IPv4"}},
                "ThrottleInterval": 0,
                **(keys or {}).get(name, {}),
            }
            if name == "inetd":
                plist["inetdCompatibility"] = {"Wait": False}
            (self.jobs_dir / f"{label}.plist").write_bytes(plistlib.dumps(plist))

    def request(self, verb: str, args: dict | None = None):
        from pylaunchd.control.protocol import request

        return request(self.control, verb, args, timeout=10)

    def start(self) -> None:
        log = open(self.log_path, "ab")
        try:
            env = repo_env(REPO, **self.env)
            self.proc = subprocess.Popen(
                [python(), "-m", "pylaunchd", "--jobs-dir", str(self.jobs_dir),
                 "--control-socket", self.control, "--state-dir", str(self.state_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        finally:
            log.close()

        def ready():
            if self.proc.poll() is not None:
                raise BenchError(f"pylaunchd exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.request("manager")
                return True
            except Exception:  # noqa: BLE001 - not listening yet
                return False

        wait_for(ready, 20, "pylaunchd to answer on its control socket", 0.02)
        for name, label in self.labels.items():
            info = wait_for(lambda: self._info(label), 10, f"{label} to load", 0.02)
            self.ports[name] = info["sockets"][0]["address"]["port"]

    def _info(self, label: str):
        from pylaunchd.control.protocol import ControlError

        try:
            return self.request("print", {"label": label})
        except ControlError:
            return None

    def idle(self, name: str) -> bool:
        """Nothing of the job runs and its socket is watched again: the next run is cold."""
        info = self.request("print", {"label": self.labels[name]})
        return (info["state"] == "waiting" and info["pid"] is None and not info["instances"]
                and info["watching_sockets"])

    def prepare(self, name: str) -> int:
        try:
            wait_for(lambda: self.idle(name), 10, f"{self.labels[name]} to be waiting again")
        except BenchError as e:
            raise BenchError(f"{e}\n--- pylaunchd log (end) ---\n{self.log_tail()}") from None
        return self.ports[name]

    def finish(self, name: str) -> None:
        pass

    def spawn_path(self) -> str:
        """What the manager's start log says it spawns with."""
        for line in self.log_tail(100_000).splitlines():
            if "spawn path: " in line:
                return line.split("spawn path: ", 1)[1].strip()
        return "?"

    def summary(self, name: str) -> dict:
        info = self.request("print", {"label": self.labels[name]})
        return {"runs": info["runs"], "last_exit": info["last_exit"], "spawn_error": info["spawn_error"]}

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


# ---------------------------------------------------------------------------
# systemd-socket-activate


def read_until(proc: subprocess.Popen, marker: bytes, timeout: float) -> bytes:
    """Read the process's stderr until *marker* appears (no thread needed)."""
    buf = b""
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    while marker not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError(f"{SSA} did not print {marker!r} within {timeout}s; said {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise BenchError(f"{SSA} exited ({proc.wait()}) before printing {marker!r}; said {buf!r}")
            buf += chunk
    return buf


class SystemdSocketActivate:
    def __init__(self, jobs: dict[str, list[str]]):
        self.jobs = jobs
        self.current: subprocess.Popen | None = None  # the per-run process (LISTEN_FDS jobs)
        self.inetd: subprocess.Popen | None = None  # the one --inetd -a process
        self.inetd_port: int | None = None
        self.ran: dict[str, int] = {name: 0 for name in jobs}
        self.failures: list[str] = []

    def _spawn(self, args: list[str]) -> subprocess.Popen:
        proc = subprocess.Popen([SSA, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            read_until(proc, b"Listening on", 10)
            # Listening is logged just before the epoll loop: wait until it sleeps there.
            wait_for(lambda: proc_state(proc.pid) == "S", 10, f"{SSA} to wait for a connection")
        except BaseException:
            self._kill(proc)
            raise
        return proc

    def start(self) -> None:
        if "inetd" in self.jobs:
            self.inetd_port = free_port()
            self.inetd = self._spawn(["--inetd", "-a", "-l", f"{HOST}:{self.inetd_port}", *self.jobs["inetd"]])

    def prepare(self, name: str) -> int:
        if name == "inetd":
            if self.inetd.poll() is not None:
                raise BenchError(f"{SSA} --inetd -a exited with {self.inetd.returncode}")
            wait_for(lambda: not proc_children(self.inetd.pid), 10, "the previous cat to exit")
            return self.inetd_port
        port = free_port()
        self.current = self._spawn(["-l", f"{HOST}:{port}", *self.jobs[name]])
        return port

    def finish(self, name: str) -> None:
        self.ran[name] += 1
        if name == "inetd":
            return
        proc, self.current = self.current, None
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            raise BenchError(f"{name} under {SSA} did not exit after its reply") from None
        finally:
            proc.stderr.close()
        if code != 0:
            self.failures.append(f"{name}: exit status {code}")

    def summary(self, name: str) -> dict:
        return {"runs": self.ran[name], "failures": [f for f in self.failures if f.startswith(name + ":")]}

    @staticmethod
    def _kill(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stderr and not proc.stderr.closed:
            proc.stderr.close()

    def stop(self) -> None:
        for proc in (self.current, self.inetd):
            if proc is not None:
                for child in proc_children(proc.pid):
                    try:
                        os.kill(child, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self._kill(proc)
        self.current = self.inetd = None


# ---------------------------------------------------------------------------
# the benchmark


def build_jobs(tmp: Path) -> tuple[dict[str, list[str]], list[str]]:
    jobs, notes = tiny_and_python(tmp, TINY_C, PY_JOB, "job", "job.py")
    if "tiny" not in jobs:
        notes[-1] += "; the inetd /bin/cat job is the tiny one"
    jobs["inetd"] = [CAT]
    return jobs, notes


PEER_JOBS = ("tiny", "python", "inetd")


def keyed_jobs(tmp: Path, jobs: dict[str, list[str]], notes: list[str]) -> dict[str, dict]:
    """The tiny job again with the keys that once needed the fork path: what
    each adds to its plist. systemd-socket-activate cannot express them."""
    if "tiny" not in jobs:
        return {}
    keys = {"tiny-setup": {"WorkingDirectory": str(tmp), "Umask": 0o22,
                           "SoftResourceLimits": {"NumberOfFiles": 4096}}}
    if os.geteuid() == 0:
        os.chmod(tmp, 0o755)  # nobody runs the job from here
        keys["tiny-user"] = {"UserName": "nobody"}
    else:
        notes.append("tiny-user (UserName) skipped: the manager must run as root to change a job's user")
    for name in keys:
        jobs[name] = jobs["tiny"]
    return keys


MANAGERS = ("pylaunchd", "pylaunchd-python", "systemd-socket-activate")


def run(args) -> dict:
    if not os.access(SSA, os.X_OK):
        raise BenchError(f"{SSA} not found: install the Debian package systemd")
    tmp = Path(tempfile.mkdtemp(prefix="plbench-", dir="/tmp"))
    pl = plpy = ssa = None
    try:
        jobs, notes = build_jobs(tmp)
        keys = keyed_jobs(tmp, jobs, notes)
        # The same pylaunchd twice: its default spawn path (the C one where
        # pylaunchd._spawn is built) and the Python paths (posix_spawn, fork).
        pl = Pylaunchd(tmp / "c", jobs, keys)
        plpy = Pylaunchd(tmp / "py", jobs, keys, env={"PYLAUNCHD_SPAWN": "python"})
        ssa = SystemdSocketActivate({k: v for k, v in jobs.items() if k in PEER_JOBS})
        for m in (pl, plpy, ssa):
            m.start()
        managers = {"pylaunchd": pl, "pylaunchd-python": plpy, "systemd-socket-activate": ssa}
        pairs = [(job, m) for job in jobs for m in managers if job in PEER_JOBS or m != "systemd-socket-activate"]
        samples = measure(args, managers, pairs)
        wall = samples.pop(None)
        # Let the last runs be reaped so that the manager's counters are final.
        for job in jobs:
            pl.prepare(job)
            plpy.prepare(job)
        results = [row_of(job, managers, samples, args, notes) for job in jobs]
        by_job = {r["job"]: r for r in results}
        for name in keys:
            row = by_job[name]
            for m, key in (("pylaunchd", "vs_plain_p50"), ("pylaunchd-python", "python_vs_plain_p50")):
                row[key] = row[m]["p50_ms"] / by_job["tiny"][m]["p50_ms"]
            row["vs_posix_spawn_p50"] = row["pylaunchd"]["p50_ms"] / by_job["tiny"]["pylaunchd-python"]["p50_ms"]
        return {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "arch": platform.machine(),
                        "python": platform.python_version(), "ssa": ssa_version()},
            "spawn_paths": {"pylaunchd": pl.spawn_path(), "pylaunchd-python": plpy.spawn_path()},
            "keys": {name: keys[name] for name in keys},
            "runs": args.runs, "warmup": args.warmup, "settle_ms": args.settle, "seed": args.seed,
            "wall_s": round(wall, 1), "notes": notes, "results": results,
        }
    finally:
        for m in (ssa, plpy, pl):
            if m is not None:
                m.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args, managers: dict, pairs: list[tuple[str, str]]) -> dict:
    """Every pair's cold runs, interleaved in a shuffled order each round;
    the wall time under the key None."""
    samples: dict = {p: [] for p in pairs}
    rng = random.Random(args.seed)
    t_start = time.monotonic()
    for round_no in range(args.warmup + args.runs):
        order = pairs[:]
        rng.shuffle(order)
        for job, m in order:
            mgr = managers[m]
            port = mgr.prepare(job)
            time.sleep(args.settle / 1000)
            try:
                elapsed, reply = one_exchange(port, b"ping\n" if job == "inetd" else None)
            except OSError as e:
                raise BenchError(f"{job} under {m}: {e}") from None
            mgr.finish(job)
            if reply != REPLIES[job.split("-")[0]]:
                raise BenchError(f"{job} under {m}: unexpected reply {reply!r}")
            if round_no >= args.warmup:
                samples[(job, m)].append(elapsed)
    samples[None] = time.monotonic() - t_start
    return samples


def row_of(job: str, managers: dict, samples: dict, args, notes: list[str]) -> dict:
    row: dict = {"job": job}
    for m in managers:
        data = samples.get((job, m))
        if not data:
            continue
        row[m] = {
            "p50_ms": percentile(data, 50) * 1000, "p90_ms": percentile(data, 90) * 1000,
            "min_ms": min(data) * 1000, "max_ms": max(data) * 1000, "n": len(data),
            "samples_ms": [x * 1000 for x in data], **managers[m].summary(job),
        }
        if m != "systemd-socket-activate" and row[m]["runs"] != args.warmup + args.runs:
            notes.append(f"{job}: {m} started it {row[m]['runs']} times for "
                         f"{args.warmup + args.runs} connections: some runs were not cold")
    b = row.get("systemd-socket-activate")
    if b is None:
        return row
    if b.get("failures"):
        notes.append(f"{job}: under systemd-socket-activate: {'; '.join(b['failures'])}")
    a = row["pylaunchd"]
    row["ratio_p50"] = a["p50_ms"] / b["p50_ms"]
    row["ratio_p90"] = a["p90_ms"] / b["p90_ms"]
    row["extra_p50_ms"] = a["p50_ms"] - b["p50_ms"]
    row["python_paths_ratio_p50"] = row["pylaunchd-python"]["p50_ms"] / b["p50_ms"]
    return row


def ssa_version() -> str:
    return version_line(SSA)


JOB_TITLES = {
    "tiny": "tiny (C, LISTEN_FDS)",
    "python": "python (LISTEN_FDS)",
    "inetd": "inetd /bin/cat (Wait false / --inetd -a)",
    "tiny-setup": "tiny + WorkingDirectory, Umask, limits",
    "tiny-user": "tiny + UserName nobody",
}


def render(report: dict) -> str:
    m = report["machine"]
    paths = report.get("spawn_paths", {})
    lines = [
        f"cold activation, connect -> first reply byte; {report['runs']} runs per pair "
        f"(+{report['warmup']} warm-up), settle {report['settle_ms']} ms, {report['wall_s']} s",
        f"{report['date']}; {m['cpus']} CPUs, Linux {m['kernel']} {m['arch']}, Python {m['python']}, {m['ssa']}",
        *[f"{name}: spawn path {path}" for name, path in paths.items()],
        "",
        f"{'job':<42} {'manager':<24} {'p50 ms':>8} {'p90 ms':>8} {'min ms':>8}",
    ]
    for row in report["results"]:
        for mgr in MANAGERS:
            if mgr in row:
                r = row[mgr]
                lines.append(f"{JOB_TITLES[row['job']]:<42} {mgr:<24} {r['p50_ms']:8.2f} {r['p90_ms']:8.2f} "
                             f"{r['min_ms']:8.2f}")
    lines += ["", f"{'ratio pylaunchd / systemd-socket-activate':<42} {'p50':>8} {'p90':>8} {'p50 extra ms':>13} "
                  f"{'Python paths p50':>17}"]
    for row in report["results"]:
        if "ratio_p50" in row:
            lines.append(f"{JOB_TITLES[row['job']]:<42} {row['ratio_p50']:7.2f}x {row['ratio_p90']:7.2f}x "
                         f"{row['extra_p50_ms']:+13.2f} {row['python_paths_ratio_p50']:16.2f}x")
    keyed = [row for row in report["results"] if "vs_plain_p50" in row]
    if keyed:
        lines += ["", f"{'p50 against the plain tiny job':<42} {'same path':>10} {'Python paths':>13} "
                      f"{'vs posix_spawn':>15}"]
        for row in keyed:
            lines.append(f"{JOB_TITLES[row['job']]:<42} {row['vs_plain_p50']:9.2f}x "
                         f"{row['python_vs_plain_p50']:12.2f}x {row['vs_posix_spawn_p50']:14.2f}x")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cold_run_options(p, 50, "(job, manager) pair; use at least 30", "before each connection")
    add_repo_option(p)
    args = p.parse_args(argv)
    global REPO
    REPO = use_repo(args.repo)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    report = run_and_report(run, args, render, "activation")
    if report is None:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
