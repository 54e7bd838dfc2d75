"""Starting a job's process from its JobSpec and its sockets.

Two steps. :func:`plan` works out, in the manager, everything the child will
do: argv, environment, user and groups (looked up here: NSS lookups are not
safe between fork and exec), limits, priorities, directories, standard
paths. It is pure but for those lookups, and unit-tested. :func:`spawn` then
forks by hand (not through subprocess, because systemd's protocol needs
``LISTEN_PID`` to be the job's own PID, which only the child knows) and the
child carries the plan out in launchd's order: nice, limits, chroot, setgid,
initgroups, setuid, chdir, umask, standard paths, descriptors, exec.

The child reports a failure (and non-fatal warnings such as a missing working
directory) over a close-on-exec pipe, so the manager learns the exact reason;
a failed exec exits with the errno as its status, as launchd does; an unknown
``UserName`` or ``GroupName`` exits with status 3 (ESRCH), as launchd does.

Descriptor layout of a job:

* sockets handed over systemd-style: fds 3, 4, ... in ``Sockets`` order, with
  ``LISTEN_FDS``, ``LISTEN_PID`` and ``LISTEN_FDNAMES`` (one name per fd);
* inetd mode: the socket (listening, datagram or accepted connection) on fds
  0-2; fds 1 and 2 keep ``StandardOutPath``/``StandardErrorPath`` when set;
* nothing else: every other descriptor of the manager is closed.

``ProcessType`` and the I/O keys map to Linux as follows (documented in
docs/plist-keys.md): ``Background`` runs under ``SCHED_BATCH`` with nice 10
(unless ``Nice`` is set) and best-effort I/O priority 7; ``Standard`` and
``Adaptive`` change nothing; ``Interactive`` gets best-effort I/O priority 0;
``LowPriorityIO`` (and ``LowPriorityBackgroundIO``) put the job in the idle
I/O class.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import glob
import grp
import os
import platform
import pwd
import resource
import shutil
import signal
import socket
from dataclasses import dataclass, field

from .spec import JobSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_RESET_SIGNALS = [signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                  signal.SIGCHLD, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2]

RLIMITS = {
    "Core": resource.RLIMIT_CORE, "CPU": resource.RLIMIT_CPU, "Data": resource.RLIMIT_DATA,
    "FileSize": resource.RLIMIT_FSIZE, "MemoryLock": resource.RLIMIT_MEMLOCK,
    "NumberOfFiles": resource.RLIMIT_NOFILE, "NumberOfProcesses": resource.RLIMIT_NPROC,
    "ResidentSetSize": resource.RLIMIT_RSS, "Stack": resource.RLIMIT_STACK,
}

IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE = 2, 3
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "i686": 289, "armv7l": 314}.get(platform.machine())
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class SpawnResult:
    pid: int
    error: str | None = None  # the process could not exec; it exits with the errno
    warnings: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """Everything the child does, decided in the manager."""

    executable: str
    argv: list[str]
    env: dict[str, str]
    search_path: bool
    glob: bool = False
    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None
    chroot: str | None = None
    cwd: str = "/"
    umask: int | None = None
    nice: int | None = None
    sched_batch: bool = False
    ioprio: int | None = None
    rlimits: list[tuple[str, int, int | None, int | None]] = field(default_factory=list)
    stdin_path: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    fatal: tuple[int, str] | None = None  # report this and exit with that status


def base_environment(label: str, inherited: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every job starts from, before its EnvironmentVariables.

    Unlike launchd, PATH is the manager's own PATH (so tools the user has on
    PATH are found), falling back to the standard Linux PATH.
    """
    src = os.environ if inherited is None else inherited
    env = {"PATH": src.get("PATH") or DEFAULT_PATH}
    for key in ("HOME", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "TZ", "TMPDIR", "XDG_RUNTIME_DIR"):
        if src.get(key):
            env[key] = src[key]
    env["XPC_SERVICE_NAME"] = label
    env["PYLAUNCHD_LABEL"] = label
    return env


def plan(spec: JobSpec, extra_env: dict[str, str] | None = None, inherited: dict[str, str] | None = None) -> Plan:
    """Decide how to start *spec*. ``UserName`` and friends are honoured only
    when the manager runs as root (the manager strips them otherwise)."""
    env = base_environment(spec.label, inherited)
    p = Plan(executable=spec.executable, argv=list(spec.argv), env=env, search_path=spec.search_path,
             glob=spec.enable_globbing, chroot=spec.root_directory, cwd=spec.working_directory or "/",
             umask=spec.umask, nice=spec.nice, stdin_path=spec.stdin_path, stdout_path=spec.stdout_path,
             stderr_path=spec.stderr_path)
    if spec.user_name is not None or spec.group_name is not None:
        _plan_identity(spec, p)
    env.update(extra_env or {})
    env.update(dict(spec.environment))
    for key in ("LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"):
        env.pop(key, None)
    if spec.process_type == "Background":
        p.sched_batch = True
        if p.nice is None:
            p.nice = 10
        p.ioprio = (IOPRIO_CLASS_BE << 13) | 7
    elif spec.process_type == "Interactive":
        p.ioprio = (IOPRIO_CLASS_BE << 13) | 0
    if spec.low_priority_io or spec.low_priority_background_io:
        p.ioprio = IOPRIO_CLASS_IDLE << 13
    hard = dict(spec.hard_limits)
    soft = dict(spec.soft_limits)
    for name in sorted(set(hard) | set(soft), key=list(RLIMITS).index):
        p.rlimits.append((name, RLIMITS[name], soft.get(name), hard.get(name)))
    return p


def _plan_identity(spec: JobSpec, p: Plan) -> None:
    user = spec.user_name or "root"
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        p.fatal = (errno.ESRCH, f'UserName: getpwnam("{user}") failed: no such user')
        return
    gid = pw.pw_gid
    if spec.group_name is not None:
        try:
            gid = grp.getgrnam(spec.group_name).gr_gid
        except KeyError:
            p.fatal = (errno.ESRCH, f'GroupName: getgrnam("{spec.group_name}") failed: no such group')
            return
    p.uid, p.gid = pw.pw_uid, gid
    p.groups = os.getgrouplist(pw.pw_name, gid) if spec.init_groups and spec.user_name else [gid]
    # launchd gives a job run as another user that user's identity, when the
    # plist does not set these itself.
    p.env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name, SHELL=pw.pw_shell or "/bin/sh")
    p.env.pop("XDG_RUNTIME_DIR", None)


def spawn(spec: JobSpec, listen: list[tuple[str, socket.socket]], stdio: socket.socket | None = None,
          extra_env: dict[str, str] | None = None, log_fd: int | None = None) -> SpawnResult:
    """Fork and exec the job. ``listen``: (name, socket) pairs for fds 3...;
    ``stdio``: a socket to put on fds 0-2 instead (inetd mode); ``log_fd``:
    where stdout and stderr go when the plist names no file (the job's log)."""
    p = plan(spec, extra_env)
    if listen and stdio is None:
        p.env["LISTEN_FDS"] = str(len(listen))
        p.env["LISTEN_FDNAMES"] = ":".join(name for name, _ in listen)
    sources = [s.fileno() for _, s in listen] if stdio is None else []
    stdio_fd = stdio.fileno() if stdio is not None else None
    fast = _spawn_fast(p, sources, stdio_fd, log_fd)
    if fast is not None:
        return fast
    return _spawn_forked(p, sources, stdio_fd, log_fd)


# The fast path: posix_spawn (vfork and exec, about a millisecond) instead of
# fork() of the whole manager (several milliseconds, and unsafe with threads),
# for every job whose set-up posix_spawn can express: no change of user,
# root, priority, limits, umask or directory. systemd's LISTEN_PID, which only
# the child knows, is set by a one-line /bin/sh trampoline that then execs the
# job in the same process. Anything unusual falls back to the forked path,
# which also reports exec failures the launchd way (the errno as exit status).
_TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"'
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
    resolved = shutil.which(p.executable, path=path_var) if p.search_path else p.executable
    if resolved is None or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        return None  # let the forked path fail and report the errno
    trampoline = "LISTEN_FDS" in p.env
    if trampoline and (p.argv[0] != p.executable or not os.access(_SH, os.X_OK)):
        return None  # sh's exec cannot give argv[0] a name of its own
    warnings: list[str] = []
    opened: list[int] = []
    try:
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        opened.append(null)
        stdio, files = _standard_fds(p, stdio_fd, log_fd, warnings.append)
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
            argv = [_SH, "-c", _TRAMPOLINE, p.executable, *p.argv[1:]]
            program = _SH
        else:
            argv, program = p.argv, resolved
        try:
            pid = os.posix_spawn(program, argv, p.env, file_actions=actions, setpgroup=0,
                                 setsigmask=(), setsigdef=_RESET_SIGNALS)
        except OSError:
            return None
        return SpawnResult(pid, warnings=warnings)
    finally:
        for fd in opened:
            os.close(fd)


def _standard_fds(p: Plan, stdio_fd: int | None, log_fd: int | None, warn) -> tuple[list[int | None], list[int]]:
    """The job's fds 0, 1, 2 (None: /dev/null), by launchd's rules: the
    StandardIn/Out/ErrorPath files (opened by the caller's uid; a failure is
    a warning), else the inetd socket on all three, else the job's log for 1
    and 2. Returns them and the fds it opened, which the caller closes."""
    fallback = "the job's log (pylaunchctl log)" if log_fd is not None else "/dev/null"
    opened: list[int] = []

    def open_path(key: str, path: str | None, flags: int) -> int | None:
        if path is None:
            return None
        try:
            fd = os.open(path, flags | os.O_CLOEXEC, 0o666)
        except OSError as e:
            why = e.strerror
            parent = os.path.dirname(os.path.abspath(path))
            if e.errno == errno.ENOENT and not os.path.isdir(parent):
                why = f"its directory {parent} does not exist"
            warn(f"{key} {path}: cannot open as uid {os.getuid()}: {why}; writing to {fallback} instead")
            return None
        opened.append(fd)
        return fd

    stdin = open_path("StandardInPath", p.stdin_path, os.O_RDONLY)
    stdout = open_path("StandardOutPath", p.stdout_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    stderr = open_path("StandardErrorPath", p.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    if stdio_fd is not None:
        return [stdio_fd, stdout if stdout is not None else stdio_fd, stderr if stderr is not None else stdio_fd], opened
    return [stdin, stdout if stdout is not None else log_fd, stderr if stderr is not None else log_fd], opened


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


def _spawn_forked(p: Plan, sources: list[int], stdio_fd: int | None, log_fd: int | None) -> SpawnResult:
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
    for sig in _RESET_SIGNALS:
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

    if p.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, p.nice)
        except OSError as e:
            report("W", f"Nice {p.nice}: {e.strerror}")
    if p.sched_batch:
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError as e:
            report("W", f"ProcessType Background: SCHED_BATCH: {e.strerror}")
    if p.ioprio is not None and _IOPRIO_SET is not None:
        if _libc.syscall(_IOPRIO_SET, 1, 0, p.ioprio) != 0:
            report("W", f"I/O priority: {os.strerror(ctypes.get_errno())}")
    for name, which, soft, hard in p.rlimits:
        try:
            cur, mx = resource.getrlimit(which)
            resource.setrlimit(which, (soft if soft is not None else cur, hard if hard is not None else mx))
        except (OSError, ValueError) as e:
            report("W", f"ResourceLimits {name} (soft {soft}, hard {hard}): {getattr(e, 'strerror', None) or e}")
    if p.chroot is not None:
        try:
            os.chroot(p.chroot)
            os.chdir("/")
        except OSError as e:
            fail(e.errno or 1, f"RootDirectory {p.chroot}: chroot failed: {e.strerror}")
    if p.gid is not None:
        try:
            os.setgid(p.gid)
            os.setgroups(p.groups or [p.gid])
            os.setuid(p.uid)
        except OSError as e:
            fail(e.errno or 1, f"cannot become uid {p.uid} gid {p.gid}: {e.strerror}")
    try:
        os.chdir(p.cwd)
    except OSError as e:
        report("W", f"WorkingDirectory {p.cwd}: {e.strerror}; running in /")
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

    stdio, _ = _standard_fds(p, high_stdio, high_log, lambda warning: report("W", warning))
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
        where = " on PATH" if p.search_path and "/" not in p.executable else ""
        fail(code, f"could not execute {p.executable}{where}: {e.strerror} (errno {code})")
    except BaseException as e:
        fail(127, f"could not execute {p.executable}: {e}")


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 65536
