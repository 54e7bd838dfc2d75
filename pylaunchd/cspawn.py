"""The C spawn path: a :class:`~pylaunchd.spawnplan.Plan` carried out by ``pylaunchd._spawn``.

``pylaunchd/_spawn.c`` is to pylaunchd what ``_posixsubprocess`` is to
subprocess: one function that clones the manager with ``CLONE_VM |
CLONE_VFORK`` (no copy of its memory, unlike fork) and, in the child, does
what :mod:`pylaunchd.forkexec` does, in the same order, then execs. Every
decision stays here in Python: this module turns the plan into the
function's arguments (the executable's candidates on PATH, the environment
with room for ``LISTEN_PID``/``WATCHDOG_PID``, the descriptors for 0, 1,
2, 3...) and the child's reports (stage, errno) into the fork path's very
messages, so ``print`` and the exit statuses (the errno, 3 for an unknown
user) are the same whichever path ran.

:data:`AVAILABLE` says whether the extension was built (it is optional: a
machine without a compiler gets the posix_spawn and fork paths);
``PYLAUNCHD_SPAWN=python`` in the manager's environment turns it off.
"""

from __future__ import annotations

import errno
import os

from .spawnplan import RESET_SIGNALS, Plan, SpawnResult, setup_words

try:
    from . import _spawn
except ImportError:  # built without a compiler: spawn.py uses posix_spawn and fork
    _spawn = None

AVAILABLE = _spawn is not None
ASYNC = AVAILABLE and bool(_spawn.ASYNC)  # spawn_c(wait=False) returns before the exec (x86_64, aarch64)
_SIGNALS = [int(s) for s in RESET_SIGNALS]
_STD = ((0, "StandardInPath", "stdin_path", os.O_RDONLY),
        (1, "StandardOutPath", "stdout_path", os.O_WRONLY | os.O_CREAT | os.O_APPEND),
        (2, "StandardErrorPath", "stderr_path", os.O_WRONLY | os.O_CREAT | os.O_APPEND))
# The child's stages, as spawnplan.setup_words names the steps
_STEPS = {} if _spawn is None else {
    _spawn.ST_NICE: "nice", _spawn.ST_BATCH: "batch", _spawn.ST_IOPRIO: "ioprio", _spawn.ST_RLIMIT: "rlimit",
    _spawn.ST_CHROOT: "chroot", _spawn.ST_IDENTITY: "identity", _spawn.ST_CWD: "cwd", _spawn.ST_EXEC: "exec"}
# setrlimit's errors, in the words of resource.setrlimit (which the fork path reports)
_RLIMIT_WORDS = {errno.EINVAL: "current limit exceeds maximum limit", errno.EPERM: "not allowed to raise maximum limit"}


def trim_heap() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim, a
    function of the same extension): the manager calls it once a burst of
    loads has settled, when loading thousands of jobs has freed megabytes
    that would otherwise stay in its PSS. Nothing without the extension."""
    if _spawn is not None and hasattr(_spawn, "trim_heap"):
        _spawn.trim_heap()


def usable(p: Plan) -> bool:
    """The C path does everything the fork path does but ``EnableGlobbing``
    (globbing needs the job's directory and root: the fork path's child
    does it)."""
    return AVAILABLE and not p.glob


def executables(p: Plan) -> list[str]:
    """What the child tries to exec, in order, as ``os.execvpe`` would."""
    if not p.search_path or os.sep in p.executable:
        return [p.executable]
    return [os.path.join(d, p.executable) for d in os.get_exec_path(p.env)]


def spawn_c(p: Plan, sources: list[int], stdio_fd: int | None, log_fd: int | None,
            wait: bool = True) -> SpawnResult:
    """Start *p* with the sockets *sources* on fds 3... (or *stdio_fd* on
    0-2, inetd mode); stdout and stderr go to *log_fd* unless the plist
    names files. ``wait=False`` (where :data:`ASYNC`): return as soon as
    the child exists, not once it has exec'd; the result's ``pending`` then
    says when its error and warnings are known (:class:`Later`)."""
    fds = _descriptors(stdio_fd, log_fd) + list(sources)
    paths = [(slot, getattr(p, attr), flags, int(slot != 0 or stdio_fd is None))
             for slot, _, attr, flags in _STD if getattr(p, attr) is not None]
    pid_vars = [name.encode() for name, when in (("LISTEN_PID", "LISTEN_FDS"), ("WATCHDOG_PID", "WATCHDOG_USEC"))
                if when in p.env]
    env = [f"{k}={v}" for k, v in p.env.items()]
    flags = ((_spawn.F_NICE if p.nice is not None else 0) | (_spawn.F_BATCH if p.sched_batch else 0)
             | (_spawn.F_IOPRIO if p.ioprio is not None else 0) | (_spawn.F_UMASK if p.umask is not None else 0)
             | (_spawn.F_IDENTITY if p.gid is not None else 0))
    limits = [(which, _rlim(soft), _rlim(hard), (soft is None) | (hard is None) << 1)
              for _, which, soft, hard in p.rlimits]
    uid = p.uid if p.uid is not None else -1
    gid = p.gid if p.gid is not None else -1
    pid, reports = _spawn.spawn(executables(p), p.argv, env, pid_vars, fds, paths, _SIGNALS,
                                p.fatal[0] if p.fatal else 0, flags, p.nice or 0, p.ioprio or 0, limits,
                                p.chroot, p.cwd, uid, gid, p.groups or ([p.gid] if p.gid is not None else []),
                                p.umask or 0, wait)
    result = SpawnResult(pid)
    if isinstance(reports, list):
        _fill(result, p, reports, log_fd)
    else:
        result.pending = Later(result, p, reports, log_fd)
    return result


class Later:
    """The reports of a child started with ``wait=False``: :meth:`finish`
    once :meth:`fileno` is readable (end of file: the child has exec'd or
    exited) fills in the result's error and warnings."""

    def __init__(self, result: SpawnResult, p: Plan, handle, log_fd: int | None):
        self.result, self.plan, self.handle, self.log_fd = result, p, handle, log_fd

    def fileno(self) -> int:
        return self.handle.fileno()

    def finish(self) -> SpawnResult:
        _fill(self.result, self.plan, self.handle.reports(), self.log_fd)
        self.result.pending = None
        return self.result


def _fill(result: SpawnResult, p: Plan, reports: list, log_fd: int | None) -> None:
    cwd = "/" if any(r[0] == _spawn.ST_CWD for r in reports) else p.cwd
    for stage, index, err, fatal in reports:
        message = _message(p, stage, index, err, log_fd, cwd)
        if fatal:
            result.error = message
        else:
            result.warnings.append(message)


def _descriptors(stdio_fd: int | None, log_fd: int | None) -> list[int]:
    """fds 0-2 before the standard paths: -1 is /dev/null."""
    if stdio_fd is not None:
        return [stdio_fd] * 3
    out = -1 if log_fd is None else log_fd
    return [-1, out, out]


def _rlim(value: int | None) -> int:
    return 0 if value is None else value & 0xFFFF_FFFF_FFFF_FFFF  # -1: RLIM_INFINITY


def _message(p: Plan, stage: int, index: int, err: int, log_fd: int | None, cwd: str) -> str:
    """The fork path's words for what the child reported (spawnplan.setup_words)."""
    if stage == _spawn.ST_FATAL:
        return p.fatal[1]
    if stage == _spawn.ST_STDPATH:
        return _std_path_warning(p, index, err, log_fd, cwd)
    why = os.strerror(err)
    if stage == _spawn.ST_RLIMIT:
        why = _RLIMIT_WORDS.get(err, why)
    return setup_words(p, _STEPS.get(stage, "setup"), why, index, err)


def _std_path_warning(p: Plan, slot: int, err: int, log_fd: int | None, cwd: str) -> str:
    _, key, attr, _ = _STD[slot]
    path = getattr(p, attr)
    why = os.strerror(err)
    parent = os.path.normpath(os.path.join(cwd, os.path.dirname(path)))
    seen_as = os.path.join(p.chroot, parent.lstrip("/")) if p.chroot else parent
    if err == errno.ENOENT and not os.path.isdir(seen_as):
        why = f"its directory {parent} does not exist"
    fallback = "the job's log (pylaunchctl log)" if log_fd is not None else "/dev/null"
    uid = p.uid if p.uid is not None else os.getuid()
    return f"{key} {path}: cannot open as uid {uid}: {why}; writing to {fallback} instead"
