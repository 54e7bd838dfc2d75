"""Starting a job's process from its JobSpec and its sockets.

:func:`spawn` takes the job's :func:`~pylaunchd.spawnplan.plan` and starts
it by the C path (:mod:`pylaunchd.cspawn`: the optional extension
``pylaunchd._spawn``, vfork-style, for every job but ``EnableGlobbing``)
when it was built, else by posix_spawn (below) for every job whose set-up
posix_spawn can express, else by fork (:mod:`pylaunchd.forkexec`).
``PYLAUNCHD_SPAWN=python`` in the manager's environment leaves the C path
out (the tests run both). Not through subprocess: systemd's protocol needs
``LISTEN_PID`` to be the job's own PID, which only the child knows.

Descriptor layout of a job:

* sockets handed over systemd-style: fds 3, 4, ... in ``Sockets`` order, with
  ``LISTEN_FDS``, ``LISTEN_PID`` and ``LISTEN_FDNAMES`` (one name per fd);
* inetd mode: the socket (listening, datagram or accepted connection) on fds
  0-2; fds 1 and 2 keep ``StandardOutPath``/``StandardErrorPath`` when set;
* nothing else: every other descriptor of the manager is closed.
"""

from __future__ import annotations

import fcntl
import os
import socket

from . import cspawn
from .spawnplan import RESET_SIGNALS, DEFAULT_PATH, Plan, SpawnResult, base_environment, plan, standard_fds
from .spec import JobSpec

__all__ = ["spawn", "spawn_planned", "plan", "base_environment", "Plan", "SpawnResult", "spawn_path"]

_USE_C = cspawn.AVAILABLE and os.environ.get("PYLAUNCHD_SPAWN", "") != "python"


def spawn_path() -> str:
    """Which path starts jobs, in words (``pylaunchd --version``, the manager's start log)."""
    if _USE_C:
        return "C (pylaunchd._spawn: vfork-style clone, fork for EnableGlobbing)"
    why = "PYLAUNCHD_SPAWN=python" if cspawn.AVAILABLE else "pylaunchd._spawn not built"
    return f"posix_spawn and fork ({why})"


def spawn(spec: JobSpec, listen: list[tuple[str, socket.socket]], stdio: socket.socket | None = None,
          extra_env: dict[str, str] | None = None, log_fd: int | None = None, wait: bool = True) -> SpawnResult:
    """Fork and exec the job. ``listen``: (name, socket) pairs for fds 3...;
    ``stdio``: a socket to put on fds 0-2 instead (inetd mode); ``log_fd``:
    where stdout and stderr go when the plist names no file (the job's log).
    ``wait=False``: the C path may return before the exec, with the result's
    ``pending`` to finish later (:class:`pylaunchd.cspawn.Later`)."""
    p = plan(spec, extra_env)
    if listen and stdio is None:
        p.env["LISTEN_FDS"] = str(len(listen))
        p.env["LISTEN_FDNAMES"] = ":".join(name for name, _ in listen)
    sources = [s.fileno() for _, s in listen] if stdio is None else []
    stdio_fd = stdio.fileno() if stdio is not None else None
    return spawn_planned(p, sources, stdio_fd, log_fd, wait)


def spawn_planned(p: Plan, sources: list[int], stdio_fd: int | None, log_fd: int | None = None,
                  wait: bool = True) -> SpawnResult:
    """Start a process planned already (:func:`spawn` does the planning):
    the descriptors *sources* on fds 3..., or *stdio_fd* on 0-2. For a
    caller that plans once and starts many (an inetd job's connections)."""
    if _USE_C and cspawn.usable(p):
        return cspawn.spawn_c(p, sources, stdio_fd, log_fd, wait=wait)
    fast = _spawn_fast(p, sources, stdio_fd, log_fd)
    if fast is not None:
        return fast
    from .forkexec import spawn_forked  # ctypes, platform, glob: only for a job that needs the fork path
    return spawn_forked(p, sources, stdio_fd, log_fd)


# The fast path: posix_spawn (vfork and exec, about a millisecond) instead of
# fork() of the whole manager (several milliseconds, and unsafe with threads),
# for every job whose set-up posix_spawn can express: no change of user,
# root, priority, limits, umask or directory. systemd's LISTEN_PID, which only
# the child knows, is set by a one-line /bin/sh trampoline that then execs the
# job in the same process. Anything unusual falls back to the forked path,
# which also reports exec failures the launchd way (the errno as exit status).
_TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"'
_WATCHDOG_PID = 'WATCHDOG_PID=$$; export WATCHDOG_PID; '  # the same for WATCHDOG_USEC's PID
_SH = "/bin/sh"




def _spawn_fast(p: Plan, sources: list[int], stdio_fd: int | None, log_fd: int | None) -> SpawnResult | None:
    if (p.fatal or p.uid is not None or p.chroot is not None or p.nice is not None or p.sched_batch
            or p.ioprio is not None or p.rlimits or p.glob or p.umask is not None or p.cwd != "/"):
        return None
    try:
        if os.getcwd() != "/":
            return None
    except OSError:
        return None
    path_var = p.env.get("PATH", DEFAULT_PATH)
    if p.search_path:
        import shutil  # bz2 and lzma come with it: only for a Program looked up on PATH
        resolved = shutil.which(p.executable, path=path_var)
    else:
        resolved = p.executable
    if resolved is None or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        return None  # let the forked path fail and report the errno
    trampoline = "LISTEN_FDS" in p.env or "WATCHDOG_USEC" in p.env
    if trampoline and (p.argv[0] != p.executable or not os.access(_SH, os.X_OK)):
        return None  # sh's exec cannot give argv[0] a name of its own
    warnings: list[str] = []
    opened: list[int] = []
    try:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        opened.append(null)
        stdio, files = standard_fds(p, stdio_fd, log_fd, warnings.append)
        opened += files
        wanted = [null if fd is None else fd for fd in stdio] + list(sources)
        # Move every source above the target range first (close-on-exec
        # copies), so that placing fd N never overwrites one still to place.
        floor = len(wanted) + 3
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in wanted]
        opened += high
        actions = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds() if fd >= len(wanted)]
        actions += [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(high)]
        if trampoline:
            script = (_WATCHDOG_PID if "WATCHDOG_USEC" in p.env else "") + (
                _TRAMPOLINE if "LISTEN_FDS" in p.env else 'exec "$0" "$@"')
            argv = [_SH, "-c", script, p.executable, *p.argv[1:]]
            program = _SH
        else:
            argv, program = p.argv, resolved
        try:
            pid = os.posix_spawn(program, argv, p.env, file_actions=actions, setpgroup=0,
                                 setsigmask=(), setsigdef=RESET_SIGNALS)
        except OSError:
            return None
        return SpawnResult(pid, warnings=warnings)
    finally:
        for fd in opened:
            os.close(fd)


def _inheritable_fds() -> list[int]:
    """Descriptors of the manager without close-on-exec (a library's, say):
    the fast path closes them in the child."""
    out = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd < 3:
            continue
        try:
            if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                out.append(fd)
        except OSError:
            pass
    return out
