"""Helpers shared by the benchmarks in bench/ (standard library only)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

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


def add_cold_run_options(parser, runs: int, what: str, settle_what: str = "before each run") -> None:
    """The options of an interleaved cold-latency benchmark (activation, bus_activation)."""
    parser.add_argument("--runs", type=int, default=runs, help=f"timed runs per {what} (default {runs})")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first (default 3)")
    parser.add_argument("--settle", type=float, default=20, help=f"ms to wait {settle_what} (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the interleaving order")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")


def compile_c(source: str, directory: Path, name: str) -> tuple[str | None, str | None]:
    """Build *source* with the system's C compiler: (the program, None) or (None, why not)."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None, "no C compiler (cc)"
    (directory / f"{name}.c").write_text(source)
    cp = subprocess.run([cc, "-O2", "-o", str(directory / name), str(directory / f"{name}.c")],
                        capture_output=True, text=True)
    if cp.returncode != 0:
        return None, f"{cc} failed: {cp.stderr.strip()[:300]}"
    return str(directory / name), None


def tiny_and_python(directory: Path, c_source: str, py_source: str, what: str,
                    py_file: str = "program.py") -> tuple[dict, list[str]]:
    """A cold-latency benchmark's two programs: "tiny" built from *c_source* (left out, with a
    note, where it cannot be built) and "python" running *py_source*; name -> command line."""
    programs: dict[str, list[str]] = {}
    notes: list[str] = []
    tiny, why = compile_c(c_source, directory, "tiny")
    if tiny:
        programs["tiny"] = [tiny]
    else:
        notes.append(f"tiny {what} skipped: {why}")
    (directory / py_file).write_text(py_source)
    programs["python"] = [sys.executable, str(directory / py_file)]
    return programs, notes


def version_line(program: str) -> str:
    """The first line of ``PROGRAM --version``, or "?"."""
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=10).stdout
        return out.splitlines()[0] if out else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


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


def add_report_options(parser, what: str) -> None:
    """--json, --json-out, --from-json and --write, for a benchmark whose report is kept."""
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--json-out", type=Path, help="also keep the report, as JSON, in this file")
    parser.add_argument("--from-json", type=Path, help="run nothing: render (and --write) a kept report")
    parser.add_argument("--write", action="store_true", help=f"write {what} into docs/benchmarks.md")


def report_or_replay(run, args, render, what: str):
    """The report: run (run_and_report), or read from --from-json and rendered;
    kept in --json-out when one was run. None after a BenchError."""
    if args.from_json:
        report = json.loads(args.from_json.read_text())
        print(render(report))
        return report
    report = run_and_report(run, args, render, what)
    if report is not None and args.json_out:
        args.json_out.write_text(json.dumps(report, indent=1))
    return report


# ---------------------------------------------------------------------------
# processes we started: stopped by PID, never by name


def log_tail(path, n: int = 3000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def terminate(proc, grace: float = 10) -> None:
    """Stop a process we started (by its PID) and any child it left behind."""
    if proc is None:
        return
    children = proc_children(proc.pid)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    for child in children:  # per-connection processes still running, if any
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def timed_sigterm(proc, timeout: float) -> dict:
    """SIGTERM *proc* and time its exit; SIGKILL after *timeout* s (said in the result)."""
    t0 = time.perf_counter()
    os.kill(proc.pid, signal.SIGTERM)
    try:
        status = proc.wait(timeout=timeout)
        return {"exit_s": time.perf_counter() - t0, "status": status, "killed": False}
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return {"exit_s": None, "status": proc.returncode, "killed": True,
                "note": f"not done after {timeout:g} s, killed"}


class Peer:
    """What every manager under test has: one process and the port it serves."""

    name = ""

    def __init__(self) -> None:
        self.proc = None
        self.port = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def idle(self) -> bool:
        return not proc_children(self.proc.pid)

    def stop(self) -> None:
        terminate(self.proc)

    def wait_ready(self, log, what: str, check, timeout: float = 10, interval: float = 0.002):
        """Wait until *check()* is truthy; BenchError with its log if the process dies first."""
        def ready():
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{log_tail(log)}")
            return check()
        return wait_for(ready, timeout, what, interval)


# ---------------------------------------------------------------------------
# which pylaunchd tree is measured (--repo)

REPO = Path(__file__).resolve().parent.parent


def add_repo_option(parser) -> None:
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the pylaunchd tree to measure: first on PYTHONPATH of the manager and "
                             "pylaunchctl started (default: this checkout)")


def use_repo(repo) -> Path:
    """Make *repo*'s pylaunchd the one imported here too (the control client); returns it resolved."""
    repo = Path(repo).resolve()
    if not (repo / "pylaunchd" / "__init__.py").is_file():
        raise SystemExit(f"--repo {repo}: no pylaunchd/ package there")
    if sys.path[0] != str(repo):
        sys.path.insert(0, str(repo))
    return repo


def repo_env(repo, **extra) -> dict:
    """The environment of a manager or pylaunchctl started from *repo*. PYTHONSAFEPATH
    (3.11's -P): without it ``python -m pylaunchd`` puts the current directory before
    PYTHONPATH, and a run from another checkout would measure that checkout.

    They run from bytecode, as an installed pylaunchd does (pip and Debian
    compile a package when they install it): a source tree under
    PYTHONDONTWRITEBYTECODE=1 recompiles every module at every start, about
    40 ms of a manager's start-up here. The bytecode goes to a cache of its
    own (PYTHONPYCACHEPREFIX, never into the tree), filled once before the
    first measurement (:func:`warm_bytecode`); a changed source is recompiled
    as Python always does."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))
    env["PYTHONSAFEPATH"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(_pycache(repo))
    warm_bytecode(repo, env)
    return env


def _pycache(repo) -> Path:
    import hashlib
    tag = hashlib.sha1(str(Path(repo).resolve()).encode()).hexdigest()[:12]
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"pylaunchd-bench-pycache-{os.getuid()}" / tag


_WARMED: set = set()


def warm_bytecode(repo, env: dict) -> None:
    """Compile what a manager and pylaunchctl import into the cache, once per run."""
    key = env["PYTHONPYCACHEPREFIX"]
    if key in _WARMED:
        return
    _WARMED.add(key)
    subprocess.run([python(), "-c", "import pylaunchd.cli.pylaunchd, pylaunchd.boot, pylaunchd.manager, "
                    "pylaunchd.control.server, pylaunchd.cli.launchctl, pylaunchd.activation"],
                   env=env, capture_output=True, timeout=120)


def imported_from(repo) -> str:
    """The tree a manager started with repo_env(*repo*) imports pylaunchd from."""
    cp = subprocess.run([python(), "-c", "import os, pylaunchd; print(os.path.dirname(os.path.dirname("
                         "os.path.abspath(pylaunchd.__file__))))"], env=repo_env(repo), capture_output=True,
                        text=True, timeout=30)
    return cp.stdout.strip() or f"(import failed: {cp.stderr.strip()[-200:]})"


_PLAIN: list[str] = []


def python() -> str:
    """The interpreter that runs pylaunchd in the benchmarks: this one, with
    the site-packages of its environment but none of their ``.pth`` files.

    An installed pylaunchd starts as ``python -m pylaunchd`` with a site that
    only adds its directories to the path. A development venv made with
    ``pip install -e`` also runs the editable install's finder at every start
    (``__editable__...pth``: pathlib, importlib.util, fnmatch, re, about
    16-20 ms of ``site`` here), which no installed pylaunchd pays and which
    would be counted in every start-up figure. So the benchmarks make, once
    per machine and interpreter, a venv without pip whose only ``.pth`` file
    names this environment's site-packages (a directory named in a ``.pth``
    goes on the path; the ``.pth`` files inside it are not run); the tree
    measured comes first on ``PYTHONPATH`` as before (:func:`repo_env`).
    ``PYLAUNCHD_BENCH_PYTHON`` names another interpreter instead (``sys.executable``
    measures the development venv as it is)."""
    if _PLAIN:
        return _PLAIN[0]
    chosen = os.environ.get("PYLAUNCHD_BENCH_PYTHON")
    if not chosen:
        import hashlib
        import sysconfig
        tag = hashlib.sha1(sys.executable.encode()).hexdigest()[:12]
        venv = Path(os.environ.get("TMPDIR", "/tmp")) / f"pylaunchd-bench-python-{os.getuid()}" / tag
        chosen = str(venv / "bin" / "python")
        purelib = sysconfig.get_paths()["purelib"]
        platlib = sysconfig.get_paths()["platlib"]
        if not os.path.exists(chosen):
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                           capture_output=True, timeout=120)
        site = subprocess.run([chosen, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True, timeout=30).stdout.strip()
        Path(site, "pylaunchd-bench-deps.pth").write_text("\n".join(dict.fromkeys([purelib, platlib])) + "\n")
    _PLAIN.append(chosen)
    return chosen


_FRONT_ENDS: dict[str, str | None] = {}


def front_end(repo) -> str | None:
    """The ``pylaunchd`` command as installed, for *repo*: its C front end
    (``pylaunchd/_prebind.c``, compiled as setup.py compiles it, once per run)
    beside a ``pylaunchd-python`` that runs :func:`python` on the tree, as the
    console script pip writes runs the manager. None without a C compiler
    (the installed command is then ``pylaunchd-python`` itself)."""
    repo = Path(repo).resolve()
    key = str(repo)
    if key in _FRONT_ENDS:
        return _FRONT_ENDS[key]
    import hashlib
    tag = hashlib.sha1(key.encode()).hexdigest()[:12]
    bin_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"pylaunchd-bench-front-end-{os.getuid()}" / tag
    bin_dir.mkdir(parents=True, exist_ok=True)
    made = bin_dir / "pylaunchd"
    # Each file made under a name of this process's, then renamed into place: benchmarks
    # run at once (the smoke tests) must never exec a file another is still writing.
    temp = bin_dir / f".pylaunchd.{os.getpid()}"
    cc = os.environ.get("CC", "cc")
    done = subprocess.run([cc, "-O2", "-Wall", "-o", str(temp), str(repo / "pylaunchd" / "_prebind.c")],
                          capture_output=True, text=True, timeout=120) if shutil.which(cc) else None
    if done is None or done.returncode != 0:
        _FRONT_ENDS[key] = None
        return None
    script = bin_dir / f".pylaunchd-python.{os.getpid()}"
    script.write_text(f"#!{python()}\nfrom pylaunchd.cli.pylaunchd import main\nmain()\n")
    script.chmod(0o755)
    os.replace(script, bin_dir / "pylaunchd-python")
    os.replace(temp, made)
    _FRONT_ENDS[key] = str(made)
    return str(made)


def pylaunchd_argv(jobs_dir, control, state_dir, log_level: str = "info", repo=None) -> list[str]:
    """A manager's command line: the installed command (the C front end built
    from *repo*, :func:`front_end`) when *repo* is given and it builds, else
    ``python -m pylaunchd`` (the Python manager alone)."""
    command = front_end(repo) if repo is not None else None
    start = [command] if command else [python(), "-m", "pylaunchd"]
    return start + ["--jobs-dir", str(jobs_dir), "--control-socket", str(control), "--state-dir", str(state_dir),
                    "--log-level", log_level]


def pylaunchctl_argv(*args: str) -> list[str]:
    return [python(), "-m", "pylaunchd.cli.launchctl", *args]


def machine() -> dict:
    """The machine a report was measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": platform.release(), "arch": platform.machine(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}


# ---------------------------------------------------------------------------
# what a process costs: memory, CPU, wakeups


def pss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of *pid*, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of *pid*."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:  # the thread ended meanwhile
            pass
    return total


def idle_cost(pid: int, seconds: float) -> dict:
    """CPU % and wakeups (context switches, all threads) of *pid* over *seconds* of doing nothing."""
    cpu0, cs0, t0 = cpu_seconds(pid), context_switches(pid), time.monotonic()
    time.sleep(seconds)
    cpu1, cs1, wall = cpu_seconds(pid), context_switches(pid), time.monotonic() - t0
    return {"window_s": round(wall, 2), "cpu_pct": 100 * (cpu1 - cpu0) / wall,
            "wakeups": cs1 - cs0, "wakeups_per_min": (cs1 - cs0) * 60 / wall,
            "threads": len(os.listdir(f"/proc/{pid}/task"))}


def time_until(predicate, t0: float, timeout: float, interval: float = 0.0005) -> float | None:
    """Seconds from *t0* (time.monotonic) until *predicate()* is true; None after *timeout*."""
    deadline = t0 + timeout
    while True:
        if predicate():
            return time.monotonic() - t0
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def distribution(samples_s: list) -> dict:
    """p50/p90/max in ms of the samples that ended, and how many did not."""
    done = [x * 1000 for x in samples_s if x is not None]
    out = {"n": len(samples_s), "failed": len(samples_s) - len(done), "samples_ms": done}
    if done:
        out.update(p50_ms=percentile(done, 50), p90_ms=percentile(done, 90), max_ms=max(done))
    return out
