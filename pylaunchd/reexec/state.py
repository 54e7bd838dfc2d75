"""The state file of a re-exec: versioned JSON, written atomically, read strictly.

One object: ``{"version": VERSION, "pid", "generation", "saved_at", "setenv",
"forced", "deferred", "mains", "orphans", "jobs": [...]}``; each job is
``{"label", "path" | "submitted", "force", "machine", "timers", "sockets",
"pipes", "spawn_error", "spawn_warnings", "readiness"}`` (see
:func:`job_state`). A job's definition is not in it: the new code reads the
plist again (or the submitted dictionary), so an upgrade that reads plists
differently applies at once. :func:`parse` refuses, with :class:`StateError`
naming what is wrong, a file of another version, another process, or
another shape: the new manager then falls back (:mod:`.restore`).

A version this code does not know is refused rather than guessed at; a new
field is added with a default (readers ignore keys they do not know), and
only a change of meaning raises :data:`VERSION`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..jobtypes import InstanceKill, Timer, TimerKey

VERSION = 1


class StateError(Exception):
    """The state file cannot be used; the message says why."""


def timer_key(key: TimerKey) -> str | int:
    """A timer's key in the file: its name, or an instance's pid."""
    return key.pid if isinstance(key, InstanceKill) else key.value


def timer_from(value: Any) -> TimerKey:
    return InstanceKill(value) if isinstance(value, int) else Timer(value)


def dump(state: dict) -> bytes:
    return json.dumps({"version": VERSION, **state}, separators=(",", ":")).encode()


def write(path: str, state: dict) -> None:
    """Write *state* to *path* atomically, readable by the manager's user only."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, dump(state))
    finally:
        os.close(fd)
    os.replace(tmp, path)


_JOB_KEYS = {"label": str, "machine": dict, "timers": list, "sockets": list, "pipes": list}


def parse(data: bytes, pid: int | None = None) -> dict:
    """The state in *data*, checked: its version, its process (*pid*), and
    the shape of every job; StateError otherwise."""
    try:
        state = json.loads(data)
    except ValueError as e:
        raise StateError(f"not JSON: {e}") from None
    if not isinstance(state, dict):
        raise StateError(f"expected an object, found {type(state).__name__}")
    version = state.get("version")
    if version != VERSION:
        raise StateError(f"state version {version!r}: this pylaunchd reads version {VERSION}")
    if pid is not None and state.get("pid") != pid:
        raise StateError(f"written by pid {state.get('pid')!r}, not by this process ({pid})")
    jobs = state.get("jobs")
    if not isinstance(jobs, list):
        raise StateError("'jobs': expected a list")
    for i, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise StateError(f"jobs[{i}]: expected an object, found {type(job).__name__}")
        for key, kind in _JOB_KEYS.items():
            if not isinstance(job.get(key), kind):
                raise StateError(f"jobs[{i}].{key}: expected {kind.__name__}, found {type(job.get(key)).__name__}")
    for key, kind in (("setenv", dict), ("forced", list), ("deferred", dict), ("mains", dict), ("orphans", dict)):
        if not isinstance(state.get(key, kind()), kind):
            raise StateError(f"'{key}': expected {kind.__name__}")
    return state


def read(path: str, pid: int | None = None) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise StateError(f"{path}: {e.strerror}") from None
    try:
        return parse(data, pid)
    except StateError as e:
        raise StateError(f"{path}: {e}") from None
