"""One handler per control verb. Each takes the manager and the request's
arguments and returns a JSON-able result, or raises ControlError.

Only the manager's own user or root may send them
(see :func:`pylaunchd.control.protocol.may_act`); in the system domain anyone
may send the ones registered ``read_only``, as anyone may read launchd's
system domain.
"""

from __future__ import annotations

import os
import resource
import signal
from typing import Any, Callable

from .. import __version__
from ..jobtable import LoadResult, Outcome
from ..manager import Manager
from ..plist import plists_in
from ..runtime import JobRuntime as Managed
from .protocol import (EXIT_BAD_PERMISSIONS, EXIT_DISABLED, EXIT_INVALID_PLIST, EXIT_IO, EXIT_NO_SERVICE,
                       EXIT_NO_SUCH_PROCESS, EXIT_USAGE, EXIT_WRONG_SESSION, ControlError)

_STATUS = {Outcome.BAD_PERMISSIONS: EXIT_BAD_PERMISSIONS, Outcome.INVALID: EXIT_INVALID_PLIST,
           Outcome.EXCLUDED: EXIT_WRONG_SESSION, Outcome.DISABLED: EXIT_DISABLED, Outcome.ALREADY_LOADED: EXIT_IO,
           Outcome.IN_USE: EXIT_IO, Outcome.SOCKET_ERROR: EXIT_IO, Outcome.NOT_LOADED: EXIT_NO_SUCH_PROCESS,
           Outcome.NO_LABEL: EXIT_INVALID_PLIST}


def _checked(r: LoadResult) -> LoadResult:
    if not r.ok:
        raise ControlError(r.message, _STATUS[r.outcome])
    return r


def _find(manager: Manager, label: str) -> Managed:
    job = manager.table.find(label)
    if job is None:
        raise ControlError(f'Could not find service "{label}" in domain {manager.domain.name}', EXIT_NO_SERVICE)
    return job

Handler = Callable[[Manager, dict], Any]
HANDLERS: dict[str, Handler] = {}
READ_ONLY: set[str] = set()


def verb(name: str, read_only: bool = False):
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        if read_only:
            READ_ONLY.add(name)
        return fn
    return register


def job_summary(m: Managed) -> dict:
    j = m.machine
    return {
        "label": j.label,
        "pid": j.pid,
        "last_exit_status": j.last_exit.list_value if j.last_exit else None,
        "state": j.state,
        "runs": j.runs,
    }


def job_detail(manager: Manager, m: Managed) -> dict:
    j, spec = m.machine, m.spec
    info = job_summary(m)
    last = j.last_exit
    remaining = None
    if j.state == "throttled" and j.throttled_until is not None:
        remaining = max(0.0, round(j.throttled_until - manager.clock.monotonic(), 1))
    info.update({
        "domain": manager.domain.name,
        "type": manager.domain.job_type,
        "path": spec.path,
        "program": spec.executable,
        "arguments": list(spec.argv),
        "environment": dict(spec.environment),
        "working_directory": spec.working_directory,
        "stdin_path": spec.stdin_path,
        "stdout_path": spec.stdout_path,
        "stderr_path": spec.stderr_path,
        "run_at_load": spec.run_at_load,
        "keep_alive": {"always": spec.keep_alive.always, "successful_exit": spec.keep_alive.successful_exit,
                       "crashed": spec.keep_alive.crashed},
        "throttle_interval": spec.throttle_interval,
        "exit_timeout": spec.exit_timeout,
        "inetd_compatibility": None if spec.inetd is None else {"wait": spec.inetd.wait},
        "last_exit": None if last is None else {"code": last.code, "signal": last.signal,
                                                "description": last.describe()},
        "last_trigger": j.last_trigger,
        "throttled_for": remaining,
        "instances": sorted(j.instances),
        "spawn_error": m.spawn_error,
        "warnings": [str(w) for w in spec.warnings] + list(m.spawn_warnings),
        "ignored_keys": list(spec.ignored_keys),
        "watching_sockets": j.watching,
        "sockets": [dict(name=name, **b.describe()) for name, b in m.flat_sockets()],
    })
    return info


def _label(args: dict) -> str:
    label = args.get("label")
    if not isinstance(label, str) or not label:
        raise ControlError("a label is required", EXIT_USAGE)
    return label


def _paths(args: dict) -> list[str]:
    paths = args.get("paths")
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise ControlError("at least one path is required", EXIT_USAGE)
    return paths


@verb("list", read_only=True)
def list_(manager: Manager, args: dict) -> Any:
    """All jobs (launchctl list), or one job's summary when a label is given."""
    if args.get("label"):
        return job_summary(_find(manager, args["label"]))
    return [job_summary(m) for _, m in sorted(manager.table.jobs.items())]


@verb("print", read_only=True)
def print_(manager: Manager, args: dict) -> Any:
    """Everything known about one job (launchctl print SERVICE)."""
    return job_detail(manager, _find(manager, _label(args)))


@verb("load")
def load(manager: Manager, args: dict) -> Any:
    """Load plists or directories of plists (launchctl load [-w] [-F])."""
    results = []
    with manager.table.batch():
        for path in _paths(args):
            if not os.path.exists(path):
                results.append({"path": path, "error": f"{path}: No such file or directory", "status": 2})
                continue
            for p in (plists_in(path) if os.path.isdir(path) else [path]):
                try:
                    label = _checked(manager.table.load(p, force=bool(args.get("force")), enable=bool(args.get("write")))).label
                    results.append({"path": p, "label": label})
                except ControlError as e:
                    results.append({"path": p, "error": str(e), "status": e.status})
    return results


@verb("unload")
def unload(manager: Manager, args: dict) -> Any:
    """Stop and unload the jobs of plists (launchctl unload [-w])."""
    results = []
    for path in _paths(args):
        for p in (plists_in(path) if os.path.isdir(path) else [path]):
            try:
                label = _checked(manager.table.unload_path(p, disable=bool(args.get("write")))).label
                results.append({"path": p, "label": label})
            except ControlError as e:
                results.append({"path": p, "error": str(e), "status": e.status})
    return results


@verb("remove")
def remove(manager: Manager, args: dict) -> Any:
    """Unload a job by label (launchctl remove)."""
    label = _label(args)
    _find(manager, label).unload()
    return {"label": label}


@verb("start")
def start(manager: Manager, args: dict) -> Any:
    """Start a loaded job now (launchctl start)."""
    _find(manager, _label(args)).start()
    return job_summary(_find(manager, args["label"]))


@verb("stop")
def stop(manager: Manager, args: dict) -> Any:
    """SIGTERM a running job; KeepAlive may restart it (launchctl stop)."""
    _find(manager, _label(args)).stop()
    return job_summary(_find(manager, args["label"]))


@verb("manager", read_only=True)
def manager_info(manager: Manager, args: dict) -> Any:
    """The manager's pid, uid, domain and version."""
    return {"pid": os.getpid(), "uid": os.getuid(), "domain": manager.domain.name,
            "version": __version__, "jobs_dirs": manager.domain.jobs_dirs,
            "control_socket": manager.domain.control_socket}


@verb("log")  # not read-only: a job's output may hold secrets; only its owner or root reads it
def log_(manager: Manager, args: dict) -> Any:
    """The job's output and the manager's events for it (last ``lines``, or
    everything after sequence number ``after``, for follow mode)."""
    m = _find(manager, _label(args))
    lines, seq = m.log.tail(n=args.get("lines"), after=args.get("after"))
    return {"label": m.spec.label, "path": m.log.path, "lines": lines, "seq": seq}


@verb("kickstart")
def kickstart(manager: Manager, args: dict) -> Any:
    """Run a job now, whatever its launch conditions (-k: kill it first)."""
    m = _find(manager, _label(args))
    m.kickstart(kill=bool(args.get("kill")))
    return job_summary(m)


@verb("kill")
def kill(manager: Manager, args: dict) -> Any:
    """Send a signal to a job's process(es)."""
    sig = args.get("signal")
    if not isinstance(sig, int) or sig not in {s.value for s in signal.Signals}:
        raise ControlError("Invalid signal.", EXIT_USAGE)
    pids = _find(manager, _label(args)).signal(sig)
    if not pids:
        raise ControlError("No process to signal.", EXIT_NO_SUCH_PROCESS)
    return {"pids": pids}


@verb("enable")
def enable(manager: Manager, args: dict) -> Any:
    """Persistently enable a label (loads it if its plist is in a watched directory)."""
    manager.table.set_enabled(_label(args), True, manager.watcher.scan)
    return {"label": args["label"], "disabled": False}


@verb("disable")
def disable(manager: Manager, args: dict) -> Any:
    """Persistently disable a label (does not stop or unload it)."""
    manager.table.set_enabled(_label(args), False, manager.watcher.scan)
    return {"label": args["label"], "disabled": True}


@verb("print-disabled", read_only=True)
def print_disabled(manager: Manager, args: dict) -> Any:
    """The domain's enabled/disabled overrides."""
    return {"domain": manager.domain.name, "disabled": manager.overrides.items()}


@verb("domain", read_only=True)
def domain(manager: Manager, args: dict) -> Any:
    """launchctl print DOMAIN: the domain and its services."""
    return {
        "domain": manager.domain.name, "type": manager.domain.job_type, "pid": os.getpid(), "uid": os.getuid(),
        "jobs_dirs": manager.domain.jobs_dirs, "control_socket": manager.domain.control_socket,
        "state_dir": manager.domain.state_dir, "environment": manager.environment.job_env(),
        "disabled": manager.overrides.items(),
        "services": [job_summary(m) for _, m in sorted(manager.table.jobs.items())],
    }


@verb("blame", read_only=True)
def blame(manager: Manager, args: dict) -> Any:
    """Why the job last started."""
    m = _find(manager, _label(args))
    return {"label": m.spec.label, "reason": m.machine.last_trigger, "running": m.machine.pid is not None}


@verb("submit")
def submit(manager: Manager, args: dict) -> Any:
    """launchctl submit: a KeepAlive job from a command line, without a plist."""
    argv = args.get("arguments")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ControlError("submit needs a command after --", EXIT_USAGE)
    raw = {"Label": _label(args), "ProgramArguments": argv, "KeepAlive": True}
    for key, arg in (("Program", "program"), ("StandardOutPath", "stdout"), ("StandardErrorPath", "stderr")):
        if args.get(arg):
            raw[key] = args[arg]
    return {"label": _checked(manager.table.submit(raw)).label}


@verb("setenv")
def setenv(manager: Manager, args: dict) -> Any:
    """Set a variable for every job started from now on."""
    key, value = args.get("key"), args.get("value")
    if not isinstance(key, str) or not key or "=" in key or not isinstance(value, str):
        raise ControlError("usage: setenv KEY VALUE", EXIT_USAGE)
    manager.environment.setenv(key, value)
    return {}


@verb("unsetenv")
def unsetenv(manager: Manager, args: dict) -> Any:
    manager.environment.unsetenv(args.get("key"))
    return {}


@verb("getenv", read_only=True)
def getenv(manager: Manager, args: dict) -> Any:
    """The domain's variables that jobs get (setenv, SecureSocketWithKey)."""
    return manager.environment.job_env()


_LIMITS = {"cpu": resource.RLIMIT_CPU, "filesize": resource.RLIMIT_FSIZE, "data": resource.RLIMIT_DATA,
           "stack": resource.RLIMIT_STACK, "core": resource.RLIMIT_CORE, "rss": resource.RLIMIT_RSS,
           "memlock": resource.RLIMIT_MEMLOCK, "maxproc": resource.RLIMIT_NPROC,
           "maxfiles": resource.RLIMIT_NOFILE}


@verb("limit")
def limit(manager: Manager, args: dict) -> Any:
    """launchctl limit: the manager's resource limits, which jobs inherit."""
    name = args.get("name")
    if name is not None:
        if name not in _LIMITS:
            raise ControlError(f"unknown limit {name!r}; one of {', '.join(_LIMITS)}", EXIT_USAGE)
        if "soft" in args:
            soft, hard = args["soft"], args.get("hard", args["soft"])
            try:
                resource.setrlimit(_LIMITS[name], (soft, hard))
            except (ValueError, OSError) as e:
                raise ControlError(f"setrlimit {name}: {e}", 1) from None
    names = [name] if name else list(_LIMITS)
    return {n: list(resource.getrlimit(_LIMITS[n])) for n in names}


@verb("bootout")
def bootout(manager: Manager, args: dict) -> Any:
    """Stop and unload a service by label (launchctl bootout SERVICE)."""
    label = _label(args)
    if label not in manager.table.jobs:
        raise ControlError(f"Boot-out failed: 3: No such process ({label} is not loaded)", EXIT_NO_SUCH_PROCESS)
    manager.table.unload(label)
    return {"label": label}
