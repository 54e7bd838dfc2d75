#!/usr/bin/env python3
"""First-call latency of a bus-activated service: pylaunchd against dbus-daemon's own activation.

What is timed: from just before a client sends a method call to a name
nobody owns, to the arrival of its reply. In between, the service is started,
connects, takes the name, and answers the call that dbus-daemon queued for it.
Every call is cold: the service answers one call and exits, and the next run
waits until the name has no owner (and, under pylaunchd, until the job is
``waiting`` again).

The two ways, on one private bus in one run (so that the bus, the machine
and the service are the same for both):

``pylaunchd``  the service is a job with ``MachServices``; pylaunchd wrote its
               ``NAME.service`` file (``SystemdService=LABEL``), and the bus,
               run with ``--systemd-activation``, sends pylaunchd an
               ``ActivationRequest``; pylaunchd starts the job
               (``ThrottleInterval`` 0, so each run starts it at once).
``dbus-daemon`` classic activation: a ``.service`` file with only ``Name=`` and
               ``Exec=``, which dbus-daemon forks and execs itself (through its
               babysitter process), as on a bus with no activator.

The bus is ``dbus-daemon --address=systemd: --systemd-activation`` run by the
same pylaunchd as a socket-activated job, with a private configuration whose
two ``<servicedir>`` are pylaunchd's ``--bus-service-dir`` and the classic
file's directory. The service (the same program both ways) is a small Python
program using jeepney, pylaunchd's own D-Bus library; its interpreter start-up
is most of either figure, so the difference between the two columns is the
cost of the way it was started.

Runs of the two ways are interleaved (shuffled each round) after untimed
warm-up rounds, with the same settle time before each call. The client is
one jeepney connection opened before the first run (its connection starts the
bus job). Usage: ``python3 bench/bus_activation.py [--runs N] [--json]``. A
benchmark, not a test: it exits 0 whatever the figures are, non-zero only if
a run failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import plistlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import REPO as DEFAULT_REPO  # noqa: E402
from benchlib import (BenchError, add_repo_option, log_tail, percentile, pylaunchd_argv, repo_env,  # noqa: E402
                      run_and_report, terminate, use_repo, wait_for)

DBUS_DAEMON = shutil.which("dbus-daemon") or "/usr/bin/dbus-daemon"
REPO = DEFAULT_REPO
IFACE = "org.pylaunchd.Bench"
NAMES = {"pylaunchd": "org.pylaunchd.Bench.Launchd", "dbus-daemon": "org.pylaunchd.Bench.Classic"}
BUS_LABEL = "bench.bus.dbus"
JOB_LABEL = "bench.bus.provider"

PROVIDER = r'''
"""Take NAME on DBUS_STARTER_ADDRESS, answer one call with "pong", exit.
It reads before the RequestName reply: dbus-daemon hands over the queued call first."""
import os
import sys

from jeepney import MessageType, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

conn = open_dbus_connection(os.environ.get("DBUS_STARTER_ADDRESS") or os.environ["DBUS_SESSION_BUS_ADDRESS"])
conn.send(message_bus.RequestName(sys.argv[1], 4))
while True:
    msg = conn.receive()
    if msg.header.message_type is MessageType.method_call:
        conn.send(new_method_return(msg, "s", ("pong",)))
        break
conn.close()
'''

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>systemd:</listen>
  <auth>EXTERNAL</auth>
  <servicedir>{pylaunchd}</servicedir>
  <servicedir>{classic}</servicedir>
  <limit name="service_start_timeout">20000</limit>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Setup:
    """The private bus, pylaunchd running it and the provider job, the classic file, one client."""

    def __init__(self, root: Path):
        self.root = root
        self.bus = root / "bus"
        self.address = f"unix:path={self.bus}"
        self.pl_services, self.classic_services = root / "pl-services", root / "classic-services"
        self.jobs_dir, self.control = root / "jobs", str(root / "ctl.sock")
        self.log_path = root / "pylaunchd.log"
        self.proc: subprocess.Popen | None = None
        self.conn = None
        for d in (self.pl_services, self.classic_services, self.jobs_dir):
            d.mkdir()
        provider = root / "provider.py"
        provider.write_text(PROVIDER)
        argv = [sys.executable, str(provider)]
        (root / "bus.conf").write_text(BUS_CONF.format(pylaunchd=self.pl_services, classic=self.classic_services))
        (self.classic_services / f"{NAMES['dbus-daemon']}.service").write_text(
            f"[D-BUS Service]\nName={NAMES['dbus-daemon']}\nExec={' '.join(argv)} {NAMES['dbus-daemon']}\n")
        self._plist(BUS_LABEL, {
            "ProgramArguments": [DBUS_DAEMON, f"--config-file={root / 'bus.conf'}", "--address=systemd:",
                                 "--systemd-activation", "--nofork", "--nopidfile"],
            "Sockets": {"bus": {"SockPathName": str(self.bus), "SockPathMode": 0o600}},
            "StandardErrorPath": str(root / "dbus.log")})
        self._plist(JOB_LABEL, {"ProgramArguments": [*argv, NAMES["pylaunchd"]],
                                "MachServices": {NAMES["pylaunchd"]: True}, "ThrottleInterval": 0})

    def _plist(self, label: str, keys: dict) -> None:
        path = self.jobs_dir / f"{label}.plist"
        path.write_bytes(plistlib.dumps({"Label": label, **keys}))
        os.chmod(path, 0o644)

    def request(self, verb: str, args: dict | None = None):
        from pylaunchd.control.protocol import request
        return request(self.control, verb, args, timeout=10)

    def start(self) -> None:
        argv = pylaunchd_argv(self.jobs_dir, self.control, self.root / "state") + [
            "--user", "--bus-address", self.address, "--bus-service-dir", str(self.pl_services)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=repo_env(REPO))
        self._wait(lambda: self._info(JOB_LABEL) and self._info(BUS_LABEL), 20, "pylaunchd to load both jobs")
        from jeepney.io.blocking import open_dbus_connection
        self.conn = open_dbus_connection(self.address)   # its connection starts the bus job
        self._wait(lambda: set(NAMES.values()) <= set(self.call_bus("ListActivatableNames")[0]), 20,
                   "both names to be activatable")

    def _wait(self, predicate, timeout: float, what: str):
        def check():
            if self.proc.poll() is not None:
                raise BenchError(f"pylaunchd exited with {self.proc.returncode}:\n{log_tail(self.log_path)}")
            return predicate()
        try:
            return wait_for(check, timeout, what, 0.005)
        except BenchError as e:
            raise BenchError(f"{e}\n--- pylaunchd log ---\n{log_tail(self.log_path)}\n--- dbus-daemon log ---\n"
                             f"{log_tail(self.root / 'dbus.log')}") from None

    def _info(self, label: str):
        from pylaunchd.control.protocol import ControlError
        try:
            return self.request("print", {"label": label})
        except ControlError:
            return None

    def call_bus(self, method: str, *args):
        from jeepney.bus_messages import message_bus
        reply = self.conn.send_and_get_reply(getattr(message_bus, method)(*args), timeout=10)
        return reply.body

    def prepare(self, way: str) -> None:
        """Wait until the run will be cold: the name unowned, and the job waiting with no process."""
        name = NAMES[way]
        if way == "pylaunchd":
            self._wait(lambda: (lambda i: i["state"] == "waiting" and i["pid"] is None)(self._info(JOB_LABEL)),
                       10, f"{JOB_LABEL} to be waiting again")
        self._wait(lambda: not self.call_bus("NameHasOwner", name)[0], 10, f"{name} to have no owner")

    def first_call(self, way: str) -> float:
        from jeepney import DBusAddress, MessageType, new_method_call
        msg = new_method_call(DBusAddress("/", NAMES[way], IFACE), "Ping")
        t0 = time.perf_counter()
        reply = self.conn.send_and_get_reply(msg, timeout=30)
        elapsed = time.perf_counter() - t0
        if reply.header.message_type is MessageType.error or reply.body != ("pong",):
            raise BenchError(f"{way}: unexpected answer {reply.body!r}\n--- pylaunchd log ---\n"
                             f"{log_tail(self.log_path)}")
        return elapsed

    def runs_of_job(self) -> int:
        return self._info(JOB_LABEL)["runs"]

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        terminate(self.proc, 30)


def dbus_version() -> str:
    try:
        out = subprocess.run([DBUS_DAEMON, "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.splitlines()[0] if out else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def _row(data: list[float], **extra) -> dict:
    return {"p50_ms": percentile(data, 50) * 1000, "p90_ms": percentile(data, 90) * 1000,
            "min_ms": min(data) * 1000, "max_ms": max(data) * 1000, "n": len(data),
            "samples_ms": [x * 1000 for x in data], **extra}


def run(args) -> dict:
    if not os.access(DBUS_DAEMON, os.X_OK):
        raise BenchError(f"{DBUS_DAEMON} not found: install the Debian package dbus-daemon "
                         "(scripts/install-test-programs)")
    try:
        import jeepney  # noqa: F401
    except ImportError:
        raise BenchError("jeepney is not installed (it is a dependency of pylaunchd: pip install -e .)") from None
    tmp = Path(tempfile.mkdtemp(prefix="plbus-", dir="/tmp"))
    setup = Setup(tmp)
    try:
        setup.start()
        samples: dict[str, list[float]] = {way: [] for way in NAMES}
        rng = random.Random(args.seed)
        t_start = time.monotonic()
        for round_no in range(args.warmup + args.runs):
            order = list(NAMES)
            rng.shuffle(order)
            for way in order:
                setup.prepare(way)
                time.sleep(args.settle / 1000)
                elapsed = setup.first_call(way)
                if round_no >= args.warmup:
                    samples[way].append(elapsed)
        wall = time.monotonic() - t_start
        setup.prepare("pylaunchd")
        notes = []
        runs = setup.runs_of_job()
        if runs != args.warmup + args.runs:
            notes.append(f"pylaunchd started the job {runs} times for {args.warmup + args.runs} calls: "
                         "some runs were not cold")
        a, b = _row(samples["pylaunchd"], job_runs=runs), _row(samples["dbus-daemon"])
        return {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "arch": platform.machine(),
                        "python": platform.python_version(), "dbus": dbus_version()},
            "runs": args.runs, "warmup": args.warmup, "settle_ms": args.settle, "seed": args.seed,
            "wall_s": round(wall, 1), "notes": notes,
            "results": {"pylaunchd": a, "dbus-daemon": b, "ratio_p50": a["p50_ms"] / b["p50_ms"],
                        "ratio_p90": a["p90_ms"] / b["p90_ms"], "extra_p50_ms": a["p50_ms"] - b["p50_ms"]},
        }
    finally:
        setup.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def render(report: dict) -> str:
    m, r = report["machine"], report["results"]
    lines = [f"bus activation, first call -> reply; {report['runs']} cold runs per way (+{report['warmup']} "
             f"warm-up), settle {report['settle_ms']:g} ms, {report['wall_s']} s",
             f"{report['date']}; {m['cpus']} CPUs, Linux {m['kernel']} {m['arch']}, Python {m['python']}, {m['dbus']}",
             "", f"{'started by':<40} {'p50 ms':>8} {'p90 ms':>8} {'min ms':>8} {'max ms':>8}"]
    for way, title in (("pylaunchd", "pylaunchd (MachServices, SystemdService=)"),
                       ("dbus-daemon", "dbus-daemon (classic Exec=)")):
        x = r[way]
        lines.append(f"{title:<40} {x['p50_ms']:8.2f} {x['p90_ms']:8.2f} {x['min_ms']:8.2f} {x['max_ms']:8.2f}")
    lines += ["", f"ratio pylaunchd / dbus-daemon: p50 {r['ratio_p50']:.2f}x, p90 {r['ratio_p90']:.2f}x, "
                  f"p50 extra {r['extra_p50_ms']:+.2f} ms"]
    return "\n".join(lines + [f"note: {n}" for n in report["notes"]])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=30, help="timed cold calls per way (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    p.add_argument("--settle", type=float, default=20, help="ms to wait before each call (default 20)")
    p.add_argument("--seed", type=int, default=1, help="seed of the interleaving order")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    add_repo_option(p)
    args = p.parse_args(argv)
    global REPO
    REPO = use_repo(args.repo)
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return 0 if run_and_report(run, args, render, "bus activation") is not None else 1


if __name__ == "__main__":
    sys.exit(main())
