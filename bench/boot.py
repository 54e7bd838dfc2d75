#!/usr/bin/env python3
"""The parallel boot: 60 interdependent services under pylaunchd and its peers, in one run.

The services form a dependency DAG generated from a fixed seed: ``--layers`` layers, each service
of a layer after the first depending on one service of the layer before and on 0-2 more of any
earlier layer (so 1-3 dependencies; the first layer has none). Each service (bench/boot_service.py,
Python without ``site``) connects to each dependency's unix socket and does one request/reply, so
it really needs them; then it sleeps ``--start-ms`` (its start, 200 ms); then it answers one line
per connection. The longest chain is ``--layers`` services, so the ideal boot is
``layers x start`` (the critical path).

The runners, each on the same DAG and the same service program:

1. ``pylaunchd``: ``unshare --pid --fork --mount-proc pylaunchd --system --jobs-dir DIR
   --control-socket ... --state-dir ...`` (the installed command: its C front end, built from this
   tree, then ``python -m pylaunchd``'s manager), pylaunchd as PID 1 of a new PID namespace. Each service
   is a plist with ``Sockets`` (a ``SockPathName``) and ``RunAtLoad``; it takes its socket as fd 3
   (``LISTEN_FDS``). No dependency configuration at all. Needs root (skipped otherwise).
2. ``serial``: the classic init: every service in dependency (topological) order, each started
   when the one before it prints ``ready`` (after it listens). It binds its own socket.
3. ``supervisord``: ``[program:x]`` per service, ``priority`` by layer. No socket activation: each
   service binds its own socket after its start, so dependents retry (every ``--retry-ms``) and
   their refusals are counted.
4. ``tini``: tini as PID 1 of a PID namespace running a shell script that starts every service
   at once (``&``), each retrying. Debian package ``tini``.
5. ``s6``: s6-svscan as PID 1 of a PID namespace, one service directory (``run``) per service,
   all supervised at once, each retrying. Debian package ``s6``.

What is measured, per runner: the boot time, from just before the launch to every service
answering on its socket, seen by a probe that connects to every service every ``--probe-ms``
from before the launch until the service answers (a connection the kernel queues counts as
answered when the reply comes); the refused connections (no socket file yet, or nobody
listening) seen by the services (their dependencies) and by the probe after the launch, and
when the probe's last refusal came. Runs are repeated (``--repeat``, the runners' order rotated)
and the median reported; ratios are pylaunchd / each peer, from the same run.

Usage: ``python3 bench/boot.py [--services 60] [--layers 10] [--start-ms 200] [--repeat 3]
[--runners pylaunchd,serial,...] [--json]``. Unix sockets in a temporary directory only; every
process stopped by its PID (a namespace by its init's PID: when it dies the kernel kills the
namespace), the directory removed, also on SIGTERM. A benchmark: it exits 0 whatever the
figures are, 1 if a runner failed to boot.
"""

from __future__ import annotations

import argparse
import os
import platform
import plistlib
import random
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BenchError, add_repo_option, proc_children, run_and_report, use_repo  # noqa: E402
from benchlib import front_end, log_tail, python, repo_env, terminate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SERVICE = Path(__file__).resolve().parent / "boot_service.py"
SERVICE_C = SERVICE.with_suffix(".c")
RUNNERS = ("pylaunchd", "serial", "supervisord", "tini", "s6")
UNSHARE = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc"]


# ---------------------------------------------------------------------------
# the DAG


def make_dag(count: int, layers: int, seed: int) -> list[dict]:
    """*count* services in *layers* layers: name, layer, deps (names of earlier services)."""
    rng = random.Random(seed)
    dag: list[dict] = []
    by_layer: list[list[str]] = []
    for k in range(layers):
        names = []
        for _ in range(count // layers + (1 if k < count % layers else 0)):
            deps: list[str] = []
            if k:
                deps = [rng.choice(by_layer[k - 1])]
                earlier = [n for layer in by_layer[:k] for n in layer if n not in deps]
                deps += rng.sample(earlier, min(len(earlier), rng.randint(0, 2)))
            name = f"s{len(dag):02d}"
            dag.append({"name": name, "layer": k, "deps": sorted(deps)})
            names.append(name)
        by_layer.append(names)
    return dag


def longest_chain(dag: list[dict]) -> int:
    depth: dict[str, int] = {}
    for svc in dag:  # in topological order: dependencies come first
        depth[svc["name"]] = 1 + max((depth[d] for d in svc["deps"]), default=0)
    return max(depth.values())


# ---------------------------------------------------------------------------
# the probe: connects to every service until it answers


class Probe:
    def __init__(self, paths: list[str], interval_s: float, timeout_s: float):
        self.paths, self.interval, self.timeout = paths, interval_s, timeout_s
        self.answered: list[float | None] = [None] * len(paths)
        self.refused: list[list[float]] = [[] for _ in paths]
        self.errors = [0] * len(paths)
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._watch, args=(i,), daemon=True) for i in range(len(paths))]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def _watch(self, i: int) -> None:
        while not self.done.is_set():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(self.timeout)
            try:
                s.connect(self.paths[i])
                s.sendall(b"probe\n")
                if s.recv(256).endswith(b"\n"):
                    self.answered[i] = time.monotonic()
                    return
                self.errors[i] += 1
            except (FileNotFoundError, ConnectionRefusedError):
                self.refused[i].append(time.monotonic())
            except OSError:
                self.errors[i] += 1
            finally:
                s.close()
            self.done.wait(self.interval)

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0, deadline - time.monotonic()))
        self.done.set()
        return all(a is not None for a in self.answered)


# ---------------------------------------------------------------------------
# the runners: prepare() writes their configuration, launch() starts the boot, stop() ends it


def stop_namespace(proc: subprocess.Popen | None, grace: float) -> None:
    """End a PID namespace started with UNSHARE: SIGTERM its init (unshare's child) by its PID, then
    SIGKILL; when a namespace's init dies the kernel kills every process in it."""
    if proc is None:
        return
    inits = proc_children(proc.pid)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        for pid in inits:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            pass
    terminate(proc, 5)  # unshare itself; --kill-child takes its child with it


def deb_version(package: str) -> str:
    try:
        cp = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                            timeout=10)
        return f"{package} {cp.stdout.strip()}" if cp.returncode == 0 else package
    except (OSError, subprocess.TimeoutExpired):
        return package


class Runner:
    name = ""
    mode = "bind"  # how the services get their socket

    def __init__(self, root: Path, dag: list[dict], args):
        self.dir = root / self.name
        self.socks, self.results, self.logs = self.dir / "s", self.dir / "results", self.dir / "logs"
        for d in (self.socks, self.results, self.logs):
            d.mkdir(parents=True)
        self.dag, self.args = dag, args
        self.proc: subprocess.Popen | None = None

    def sock(self, name: str) -> str:
        return str(self.socks / f"{name}.sock")

    def argv(self, svc: dict) -> list[str]:
        return [*self.args.service_cmd, svc["name"], self.sock(svc["name"]),
                str(self.args.start_ms), str(self.args.retry_ms), str(self.results), self.mode,
                *(self.sock(d) for d in svc["deps"])]

    @classmethod
    def missing(cls) -> str | None:
        """Why this runner cannot run here, or None."""
        return None

    def prepare(self) -> None:
        pass

    def launch(self) -> None:
        raise NotImplementedError

    def popen(self, argv: list[str], env: dict | None = None) -> None:
        with open(self.dir / "manager.log", "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env)

    def stop(self) -> None:
        terminate(self.proc, 20)

    @classmethod
    def version(cls) -> str:
        return cls.name

    def log(self) -> str:
        return log_tail(self.dir / "manager.log")


class InNamespace(Runner):
    """A runner whose init runs as PID 1 of a new PID namespace (UNSHARE)."""

    program = ""  # the init, looked up on PATH, and its Debian package
    package = ""

    @classmethod
    def missing(cls) -> str | None:
        if os.geteuid() != 0:
            return "needs root (unshare --pid of a new PID namespace)"
        if shutil.which("unshare") is None:
            return "unshare (util-linux) not found"
        if cls.program and shutil.which(cls.program) is None:
            return f"{cls.program} not found (Debian package {cls.package})"
        return None

    def init_argv(self) -> list[str]:
        raise NotImplementedError

    def launch(self) -> None:
        self.popen(UNSHARE + self.init_argv())

    def stop(self) -> None:
        stop_namespace(self.proc, 20)


class Pylaunchd(InNamespace):
    name = "pylaunchd"
    mode = "fd"

    def prepare(self) -> None:
        jobs = self.dir / "jobs"
        jobs.mkdir()
        for svc in self.dag:
            label = f"bench.boot.{svc['name']}"
            plist = {"Label": label, "ProgramArguments": self.argv(svc), "RunAtLoad": True,
                     "Sockets": {"Listeners": {"SockPathName": self.sock(svc["name"])}},
                     "StandardErrorPath": str(self.logs / f"{svc['name']}.log")}
            (jobs / f"{label}.plist").write_bytes(plistlib.dumps(plist))
        self.env = repo_env(REPO)  # here, not in launch(): its first call compiles the bytecode, untimed
        self.command = front_end(REPO)  # and the front end's first call compiles it (about a second), untimed

    def init_argv(self) -> list[str]:
        # the installed command: the C front end, then the manager (PID 1 throughout)
        start = [self.command] if self.command else [python(), "-m", "pylaunchd"]
        return start + ["--system", "--jobs-dir", str(self.dir / "jobs"), "--control-socket",
                        str(self.dir / "control.sock"), "--state-dir", str(self.dir / "state")]

    def launch(self) -> None:
        self.popen(UNSHARE + self.init_argv(), env=self.env)  # this checkout, from bytecode

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"pylaunchd {version('pylaunchd')} (PID 1, {deb_version('util-linux')} unshare)"
        except PackageNotFoundError:
            return "pylaunchd"


class Serial(Runner):
    name = "serial"

    def __init__(self, root: Path, dag: list[dict], args):
        super().__init__(root, dag, args)
        self.procs: list[subprocess.Popen] = []

    def launch(self) -> None:
        for svc in self.dag:  # make_dag lists every service after its dependencies
            with open(self.logs / f"{svc['name']}.log", "ab") as log:
                proc = subprocess.Popen(self.argv(svc), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=log)
            self.procs.append(proc)
            with proc.stdout:
                ready, _, _ = select.select([proc.stdout], [], [], self.args.timeout)
                if not ready or proc.stdout.readline() != b"ready\n":
                    raise BenchError(f"serial: {svc['name']} did not get ready: "
                                     f"{log_tail(self.logs / (svc['name'] + '.log'))}")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            terminate(proc, 5)

    @classmethod
    def version(cls) -> str:
        return "serial (one after the other, each when the one before listens)"


class Supervisord(Runner):
    name = "supervisord"

    @classmethod
    def missing(cls) -> str | None:
        try:
            import supervisor  # noqa: F401
        except ImportError:
            return "supervisor not installed (pip install -e '.[bench]')"
        return None

    def prepare(self) -> None:
        d = self.dir
        lines = ["[supervisord]", "nodaemon=true", "user=root" if os.geteuid() == 0 else "",
                 f"logfile={d}/supervisord.log", f"pidfile={d}/supervisord.pid", f"childlogdir={self.logs}", ""]
        for svc in self.dag:
            lines += [f"[program:{svc['name']}]", f"command={shlex.join(self.argv(svc))}",
                      f"priority={svc['layer'] + 1}", "autostart=true", "autorestart=false", "startsecs=0",
                      "startretries=0", f"stdout_logfile={self.logs}/{svc['name']}.log", "redirect_stderr=true",
                      "stopasgroup=true", "killasgroup=true", "stopwaitsecs=5", ""]
        (d / "supervisord.conf").write_text("\n".join(lines))

    def launch(self) -> None:
        self.popen([python(), "-m", "supervisor.supervisord", "-n", "-c", str(self.dir / "supervisord.conf")])

    def stop(self) -> None:
        # Its programs first, by PID: supervisord stops them one priority at a time, 17 s for 60 here.
        for pid in proc_children(self.proc.pid) if self.proc else []:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        terminate(self.proc, 20)

    @classmethod
    def version(cls) -> str:
        from importlib.metadata import version

        return f"supervisord {version('supervisor')}"


class Tini(InNamespace):
    name = "tini"
    program = package = "tini"

    def prepare(self) -> None:
        lines = ["#!/bin/sh", "# every service at once; each retries its dependencies"]
        lines += [f"{shlex.join(self.argv(svc))} >/dev/null 2>>{self.logs}/{svc['name']}.log &" for svc in self.dag]
        (self.dir / "boot.sh").write_text("\n".join(lines + ["wait", ""]))

    def init_argv(self) -> list[str]:
        return [shutil.which("tini"), "--", "/bin/sh", str(self.dir / "boot.sh")]

    @classmethod
    def version(cls) -> str:
        return f"{deb_version('tini')} (PID 1, a shell script starting all)"


class S6(InNamespace):
    name = "s6"
    program, package = "s6-svscan", "s6"

    def prepare(self) -> None:
        for svc in self.dag:
            service = self.dir / "scan" / svc["name"]
            service.mkdir(parents=True)
            run = service / "run"
            run.write_text(f"#!/bin/sh\nexec {shlex.join(self.argv(svc))} >/dev/null 2>>{self.logs}/{svc['name']}.log\n")
            run.chmod(0o755)

    def init_argv(self) -> list[str]:
        return [shutil.which("s6-svscan"), str(self.dir / "scan")]

    @classmethod
    def version(cls) -> str:
        return f"{deb_version('s6')} (s6-svscan as PID 1)"


CLASSES = {c.name: c for c in (Pylaunchd, Serial, Supervisord, Tini, S6)}


# ---------------------------------------------------------------------------
# the benchmark


def boot_once(runner: Runner, args) -> dict:
    """Launch *runner*'s boot with the probe already connecting; what it measured. Stops the runner."""
    names = [svc["name"] for svc in runner.dag]
    probe = Probe([runner.sock(n) for n in names], args.probe_ms / 1000, args.timeout)
    runner.prepare()
    probe.start()
    time.sleep(0.05)  # the probe is connecting before the launch
    t0 = time.monotonic()
    try:
        runner.launch()
        booted = probe.wait(max(0.0, t0 + args.timeout - time.monotonic()))
    finally:
        probe.done.set()
        t_stop = time.monotonic()
        runner.stop()
        stop_s = time.monotonic() - t_stop
    late = [t - t0 for times in probe.refused for t in times if t >= t0]
    reports = read_results(runner.results, names)
    running = [r[1] - t0 for r in reports]
    out = {"booted": booted, "boot_s": max(a - t0 for a in probe.answered) if booted else None,
           "refused_services": sum(int(r[0]) for r in reports), "services_reporting": len(reports),
           "first_running_s": min(running, default=None), "last_running_s": max(running, default=None),
           "refused_probe": len(late), "last_refusal_s": max(late, default=None),
           "probe_errors": sum(probe.errors), "stop_s": stop_s}
    if not booted:
        out["not_answering"] = [n for n, a in zip(names, probe.answered) if a is None]
        out["log"] = runner.log()
    return out


def read_results(results: Path, names: list[str]) -> list[tuple[float, ...]]:
    """(refusals, main() began, dependencies answered) of each service that wrote its file."""
    out = []
    for n in names:
        try:
            out.append(tuple(float(x) for x in (results / n).read_text().split()))
        except (OSError, ValueError):
            pass
    return out


def summarize(runs: list[dict], ideal_s: float) -> dict:
    booted = [r for r in runs if r["booted"]]
    out = {"runs": runs, "booted": len(booted) == len(runs),
           "services_reporting_min": min(r["services_reporting"] for r in runs)}
    if booted:
        boot = statistics.median(r["boot_s"] for r in booted)
        out.update(boot_s=boot, boot_min_s=min(r["boot_s"] for r in booted),
                   boot_max_s=max(r["boot_s"] for r in booted), x_critical_path=boot / ideal_s)
    for key in ("first_running_s", "last_running_s", "stop_s"):
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = statistics.median(values) if values else None
    for key in ("refused_services", "refused_probe"):
        out[key] = statistics.median(r[key] for r in runs)
        out[f"{key}_max"] = max(r[key] for r in runs)
    lasts = [r["last_refusal_s"] for r in runs if r["last_refusal_s"] is not None]
    out["last_refusal_s"] = statistics.median(lasts) if lasts else None
    return out


def service_command(kind: str, tmp: Path, notes: list[str]) -> list[str]:
    """The start of a service's command line: the C service compiled into *tmp*, or the Python one."""
    if kind == "c":
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if cc:
            binary = tmp / "boot_service"
            cp = subprocess.run([cc, "-O2", "-o", str(binary), str(SERVICE_C)], capture_output=True, text=True,
                                timeout=60)
            if cp.returncode == 0:
                return [str(binary)]
            notes.append(f"C service not built ({cc}: {cp.stderr.strip()[:300]}): the Python one instead")
        else:
            notes.append("no C compiler (cc): the Python service instead")
    return [sys.executable, "-S", "-E", str(SERVICE)]


def run(args) -> dict:
    dag = make_dag(args.services, args.layers, args.seed)
    chain = longest_chain(dag)
    ideal_s = chain * args.start_ms / 1000
    tmp = Path(tempfile.mkdtemp(prefix="plboot-"))
    skipped, runs, notes = {}, {}, []
    t_start = time.monotonic()
    try:
        args.service_cmd = service_command(args.service, tmp, notes)
        for n in args.runners:
            why = CLASSES[n].missing()
            if why:
                skipped[n] = why
        wanted = [n for n in args.runners if n not in skipped]
        versions = {n: CLASSES[n].version() for n in wanted}
        for i in range(args.repeat):
            if i and time.monotonic() - t_start > args.max_seconds:
                break
            order = wanted[i % len(wanted):] + wanted[:i % len(wanted)] if wanted else []
            for n in order:
                runs.setdefault(n, []).append(boot_once(CLASSES[n](tmp / f"{n}-{i}", dag, args), args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results = {n: summarize(r, ideal_s) for n, r in runs.items()}
    ratios = {}
    if results.get("pylaunchd", {}).get("boot_s"):
        ratios = {n: results["pylaunchd"]["boot_s"] / r["boot_s"] for n, r in results.items()
                  if n != "pylaunchd" and r.get("boot_s")}
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "services": len(dag), "layers": args.layers,
            "dependencies": sum(len(s["deps"]) for s in dag), "longest_chain": chain, "start_ms": args.start_ms,
            "service": "c" if len(args.service_cmd) == 1 else "python", "critical_path_s": ideal_s, "seed": args.seed, "probe_ms": args.probe_ms, "retry_ms": args.retry_ms,
            "repeat": args.repeat, "wall_s": round(time.monotonic() - t_start, 1),
            "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "arch": platform.machine(),
                        "python": platform.python_version()},
            "versions": versions, "skipped": skipped, "results": results, "ratios_pylaunchd_to": ratios,
            "notes": notes}


def render(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"parallel boot: {report['services']} services, {report['dependencies']} dependencies, "
        f"longest chain {report['longest_chain']} x {report['start_ms']} ms = critical path "
        f"{report['critical_path_s']:.2f} s; {report['service']} services, seed {report['seed']}, median of {report['repeat']} runs, "
        f"probe every {report['probe_ms']} ms, retries every {report['retry_ms']} ms, {report['wall_s']} s",
        f"{report['date']}; {m['cpus']} CPUs, Linux {m['kernel']} {m['arch']}, Python {m['python']}",
        "; ".join(report["versions"].values()),
        "",
        f"{'runner':<12} {'boot s':>7} {'min-max s':>11} {'x critical':>10} {'refused (services)':>19} "
        f"{'refused (probe)':>16} {'last refusal s':>15} {'jobs running s':>15} {'stop s':>7}",
    ]
    for name, r in report["results"].items():
        if not r.get("boot_s"):
            lines.append(f"{name:<12} did not boot: {r['runs'][-1].get('not_answering')}")
            continue
        last = "-" if r["last_refusal_s"] is None else f"{r['last_refusal_s']:.3f}"
        spread = "-" if r["first_running_s"] is None else f"{r['first_running_s']:.2f}-{r['last_running_s']:.2f}"
        lines.append(f"{name:<12} {r['boot_s']:7.3f} {r['boot_min_s']:5.2f}-{r['boot_max_s']:<5.2f} "
                     f"{r['x_critical_path']:9.3f}x {r['refused_services']:19g} {r['refused_probe']:16g} {last:>15} "
                     f"{spread:>15} {r['stop_s']:7.2f}")
    if report["ratios_pylaunchd_to"]:
        lines += ["", "boot time, pylaunchd / peer (same run): " + ", ".join(
            f"{n} {q:.2f}x" for n, q in report["ratios_pylaunchd_to"].items())]
    for name, why in report["skipped"].items():
        lines.append(f"skipped {name}: {why}")
    lines += [f"note: {note}" for note in report["notes"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=60, help="services in the DAG (default 60)")
    p.add_argument("--layers", type=int, default=10, help="layers, the longest chain (default 10)")
    p.add_argument("--start-ms", type=int, default=200, help="each service's start, ms (default 200)")
    p.add_argument("--service", choices=("c", "python"), default="c",
                   help="the service program: boot_service.c compiled with cc (default), or boot_service.py")
    p.add_argument("--seed", type=int, default=1, help="seed of the DAG (default 1)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each runner, order rotated (default 3)")
    p.add_argument("--runners", default=",".join(RUNNERS), help=f"comma-separated, of {', '.join(RUNNERS)}")
    p.add_argument("--probe-ms", type=float, default=10, help="the probe's retry interval per service (default 10)")
    p.add_argument("--retry-ms", type=float, default=10,
                   help="a service's retry interval on a refused dependency (default 10)")
    p.add_argument("--timeout", type=float, default=60, help="bound of one boot, s (default 60)")
    p.add_argument("--max-seconds", type=float, default=300,
                   help="wall-clock bound: no new repetition after it (default 300)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    add_repo_option(p)
    args = p.parse_args(argv)
    global REPO
    REPO = use_repo(args.repo)  # the tree whose pylaunchd runs (run_all passes its --repo)
    args.runners = [n.strip() for n in args.runners.split(",") if n.strip()]
    unknown = [n for n in args.runners if n not in CLASSES]
    if unknown:
        p.error(f"unknown runner(s) {', '.join(unknown)}; known: {', '.join(RUNNERS)}")
    if args.layers < 1 or args.services < args.layers or args.repeat < 1:
        p.error("need --layers >= 1, --services >= --layers and --repeat >= 1")
    report = run_and_report(run, args, render, "boot")
    if report is None:
        return 1
    return 0 if all(r["booted"] for r in report["results"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
