"""One handler per control verb. Each takes the manager and the request's
arguments and returns a JSON-able result, or raises ControlError.

Only the manager's own user or root may send any of them
(see :func:`pylaunchd.control.protocol.may_act`).
"""

from __future__ import annotations

import os
from typing import Any, Callable

from .. import __version__
from ..manager import Managed, Manager
from ..plist import is_plist_name
from .protocol import EXIT_USAGE, ControlError

Handler = Callable[[Manager, dict], Any]
HANDLERS: dict[str, Handler] = {}


def verb(name: str):
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
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
        remaining = max(0.0, round(j.throttled_until - manager.now(), 1))
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
        "warnings": list(spec.warnings) + list(m.spawn_warnings),
        "ignored_keys": list(spec.ignored_keys),
        "watching_sockets": j.watching,
        "sockets": [dict(name=name, **b.describe(), accepted=b.accepted) for name, b in m.flat_sockets()],
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


def _expand(path: str) -> list[str]:
    if os.path.isdir(path):
        return sorted(os.path.join(path, n) for n in os.listdir(path) if is_plist_name(n))
    return [path]


@verb("list")
def list_(manager: Manager, args: dict) -> Any:
    """All jobs (launchctl list), or one job's summary when a label is given."""
    if args.get("label"):
        return job_summary(manager.find(args["label"]))
    return [job_summary(m) for _, m in sorted(manager.jobs.items())]


@verb("print")
def print_(manager: Manager, args: dict) -> Any:
    """Everything known about one job (launchctl print SERVICE)."""
    return job_detail(manager, manager.find(_label(args)))


@verb("load")
def load(manager: Manager, args: dict) -> Any:
    """Load plists or directories of plists (launchctl load [-w] [-F])."""
    results = []
    with manager.batch():
        for path in _paths(args):
            if not os.path.exists(path):
                results.append({"path": path, "error": f"{path}: No such file or directory", "status": 2})
                continue
            for p in _expand(path):
                try:
                    label = manager.load_path(p, force=bool(args.get("force")), enable=bool(args.get("write")))
                    results.append({"path": p, "label": label})
                except ControlError as e:
                    results.append({"path": p, "error": str(e), "status": e.status})
    return results


@verb("unload")
def unload(manager: Manager, args: dict) -> Any:
    """Stop and unload the jobs of plists (launchctl unload [-w])."""
    results = []
    for path in _paths(args):
        for p in _expand(path) if os.path.isdir(path) else [path]:
            try:
                label = manager.unload_path(p, disable=bool(args.get("write")))
                results.append({"path": p, "label": label})
            except ControlError as e:
                results.append({"path": p, "error": str(e), "status": e.status})
    return results


@verb("remove")
def remove(manager: Manager, args: dict) -> Any:
    """Unload a job by label (launchctl remove)."""
    label = _label(args)
    manager.find(label)
    manager.unload(label)
    return {"label": label}


@verb("start")
def start(manager: Manager, args: dict) -> Any:
    """Start a loaded job now (launchctl start)."""
    manager.start(_label(args))
    return job_summary(manager.find(args["label"]))


@verb("stop")
def stop(manager: Manager, args: dict) -> Any:
    """SIGTERM a running job; KeepAlive may restart it (launchctl stop)."""
    manager.stop(_label(args))
    return job_summary(manager.find(args["label"]))


@verb("manager")
def manager_info(manager: Manager, args: dict) -> Any:
    """The manager's pid, uid, domain and version."""
    return {"pid": os.getpid(), "uid": os.getuid(), "domain": manager.domain.name,
            "version": __version__, "jobs_dirs": manager.domain.jobs_dirs,
            "control_socket": manager.domain.control_socket}
