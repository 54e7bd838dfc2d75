"""The fork path of spawning: for jobs whose set-up posix_spawn cannot express.

A change of user or root, limits, priorities, umask or working directory
needs code between fork and exec. The child calls only ``os`` functions, in
launchd's order: nice, limits, chroot, setgid, initgroups, setuid, chdir,
umask, standard paths, descriptors, exec. It reports a failure (and
non-fatal warnings such as a missing working directory) over a
close-on-exec pipe, so the manager learns the exact reason; a failed exec
exits with the errno as its status, as launchd does; an unknown ``UserName``
or ``GroupName`` exits with status 3 (ESRCH), as launchd does.

``_setup_and_exec`` is longer than this project's functions usually are: it
is one linear sequence in launchd's documented order, and reads best whole.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import glob
import os
import platform
import resource
import signal

from .spawnplan import RESET_SIGNALS, Plan, SpawnResult, setup_words, standard_fds

_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "i686": 289, "armv7l": 314}.get(platform.machine())
_libc = ctypes.CDLL(None, use_errno=True)


def spawn_forked(p: Plan, sources: list[int], stdio_fd: int | None, log_fd: int | None) -> SpawnResult:
    rpipe, wpipe = os.pipe2(os.O_CLOEXEC)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        os.close(rpipe)
        os.close(wpipe)
        raise
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            _child(p, sources, stdio_fd, wpipe, log_fd)
        finally:
            os._exit(127)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    os.close(wpipe)
    try:
        os.setpgid(pid, pid)  # also done in the child: whichever runs first wins the race
    except OSError:
        pass
    chunks = []
    while True:
        try:
            chunk = os.read(rpipe, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
    os.close(rpipe)
    result = SpawnResult(pid)
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        kind, _, message = line.partition(" ")
        if kind == "W":
            result.warnings.append(message)
        elif kind == "E":
            result.error = message
    return result


def _child(p: Plan, sources: list[int], stdio_fd: int | None, wpipe: int, log_fd: int | None) -> None:  # pragma: no cover
    def report(kind: str, message: str) -> None:
        # The pipe is moved to a high fd during set-up: report.wpipe follows it.
        try:
            os.write(report.wpipe, f"{kind} {message}\n".encode("utf-8", "replace"))
        except OSError:
            pass
    report.wpipe = wpipe

    def fail(code: int, message: str) -> None:
        report("E", message)
        os._exit(code)

    try:
        _setup_and_exec(p, sources, stdio_fd, wpipe, log_fd, report, fail)
    except BaseException as e:  # a bug must still say what happened
        fail(127, f"could not set up the job: {type(e).__name__}: {e}")


def _setup_and_exec(p: Plan, sources, stdio_fd, wpipe, log_fd, report, fail) -> None:  # pragma: no cover
    max_fd = _max_fd()  # before NumberOfFiles may lower it
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)  # before a chroot hides /dev

    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    for sig in RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    if p.fatal:
        fail(*p.fatal)
    if "LISTEN_FDS" in p.env:
        p.env["LISTEN_PID"] = str(os.getpid())
    if "WATCHDOG_USEC" in p.env:
        p.env["WATCHDOG_PID"] = str(os.getpid())

    if p.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, p.nice)
        except OSError as e:
            report("W", setup_words(p, "nice", e.strerror))
    if p.sched_batch:
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError as e:
            report("W", setup_words(p, "batch", e.strerror))
    if p.ioprio is not None and _IOPRIO_SET is not None:
        if _libc.syscall(_IOPRIO_SET, 1, 0, p.ioprio) != 0:
            report("W", setup_words(p, "ioprio", os.strerror(ctypes.get_errno())))
    for i, (_, which, soft, hard) in enumerate(p.rlimits):
        try:
            cur, mx = resource.getrlimit(which)
            resource.setrlimit(which, (soft if soft is not None else cur, hard if hard is not None else mx))
        except (OSError, ValueError) as e:
            report("W", setup_words(p, "rlimit", getattr(e, "strerror", None) or str(e), i))
    if p.chroot is not None:
        try:
            os.chroot(p.chroot)
            os.chdir("/")
        except OSError as e:
            fail(e.errno or 1, setup_words(p, "chroot", e.strerror))
    if p.gid is not None:
        try:
            os.setgid(p.gid)
            os.setgroups(p.groups or [p.gid])
            os.setuid(p.uid)
        except OSError as e:
            fail(e.errno or 1, setup_words(p, "identity", e.strerror))
    try:
        os.chdir(p.cwd)
    except OSError as e:
        report("W", setup_words(p, "cwd", e.strerror))
        os.chdir("/")
    if p.umask is not None:
        os.umask(p.umask)

    # Move everything we hand over above the target range first, so that
    # placing fd N never overwrites a source still to be placed.
    floor = 3 + len(sources) + 1
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in sources]
    high_stdio = fcntl.fcntl(stdio_fd, fcntl.F_DUPFD_CLOEXEC, floor) if stdio_fd is not None else None
    high_log = fcntl.fcntl(log_fd, fcntl.F_DUPFD_CLOEXEC, floor) if log_fd is not None else None
    wpipe = fcntl.fcntl(wpipe, fcntl.F_DUPFD_CLOEXEC, floor)
    report.wpipe = wpipe

    stdio, _ = standard_fds(p, high_stdio, high_log, lambda warning: report("W", warning))
    targets = [fcntl.fcntl(null if fd is None else fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in stdio]
    for i, fd in enumerate(targets):
        os.dup2(fd, i, inheritable=True)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i, inheritable=True)
    # Close every other descriptor the manager had; keep only the error pipe.
    os.closerange(3 + len(high), wpipe)
    os.closerange(wpipe + 1, max(max_fd, wpipe + 1))

    argv = p.argv
    if p.glob:
        argv = [m for a in argv for m in (sorted(glob.glob(os.path.expanduser(a))) or [os.path.expanduser(a)])]
    try:
        if p.search_path:
            os.execvpe(p.executable, argv, p.env)
        else:
            os.execve(p.executable, argv, p.env)
    except OSError as e:
        code = e.errno or errno.ENOEXEC
        fail(code, setup_words(p, "exec", e.strerror, err=code))
    except BaseException as e:
        fail(127, f"could not execute {p.executable}: {e}")


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 65536
