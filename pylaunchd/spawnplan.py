"""Planning a job's process: everything the child will do, decided in the manager.

:func:`plan` works out argv, environment, user and groups (looked up here:
NSS lookups are not safe between fork and exec), limits, priorities,
directories and standard paths from a JobSpec. It is pure but for those
lookups (``tests/test_spawn_plan.py``). :func:`standard_fds` picks the
job's fds 0-2 by launchd's rules; both spawn paths (posix_spawn in
:mod:`pylaunchd.spawn`, fork in :mod:`pylaunchd.forkexec`) use it.

``ProcessType`` and the I/O keys map to Linux as follows (documented in
docs/plist-keys.md): ``Background`` runs under ``SCHED_BATCH`` with nice 10
(unless ``Nice`` is set) and best-effort I/O priority 7; ``Standard`` and
``Adaptive`` change nothing; ``Interactive`` gets best-effort I/O priority 0;
``LowPriorityIO`` (and ``LowPriorityBackgroundIO``) put the job in the idle
I/O class.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import resource
import signal
import sys

from .record import MutableRecord, field
from .spec import JobSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RESET_SIGNALS = [signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                  signal.SIGCHLD, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2]

RLIMITS = {
    "Core": resource.RLIMIT_CORE, "CPU": resource.RLIMIT_CPU, "Data": resource.RLIMIT_DATA,
    "FileSize": resource.RLIMIT_FSIZE, "MemoryLock": resource.RLIMIT_MEMLOCK,
    "NumberOfFiles": resource.RLIMIT_NOFILE, "NumberOfProcesses": resource.RLIMIT_NPROC,
    "ResidentSetSize": resource.RLIMIT_RSS, "Stack": resource.RLIMIT_STACK,
}

IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE = 2, 3


class SpawnResult(MutableRecord):
    pid: int
    error: str | None = None  # the process could not exec; it exits with the errno
    warnings: list[str] = field(default_factory=list)
    # spawn(wait=False) by the C path: error and warnings are still to come;
    # cspawn.Later.finish() fills them in once its fileno() is readable.
    pending: object | None = None


class Plan(MutableRecord):
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
    if not ("HOME" in env and "USER" in env):  # a manager started with a bare environment: as launchd,
        _identity_from_passwd(env)              # the user's own, from the password database
    env["XPC_SERVICE_NAME"] = label
    env["PYLAUNCHD_LABEL"] = label
    if sys.executable:  # the manager's own interpreter, which has pylaunchd whatever python3 PATH finds
        env["PYLAUNCHD_PYTHON"] = sys.executable
    return env


def _identity_from_passwd(env: dict[str, str]) -> None:
    try:
        pw = pwd.getpwuid(os.geteuid())
    except KeyError:
        return
    for key, value in (("HOME", pw.pw_dir), ("USER", pw.pw_name), ("LOGNAME", pw.pw_name),
                       ("SHELL", pw.pw_shell or "/bin/sh")):
        env.setdefault(key, value)


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
    for key in ("LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(key, None)
    if spec.watchdog_interval:  # WATCHDOG_PID, the job's own PID, is set in the child (spawn.py)
        env["WATCHDOG_USEC"] = str(spec.watchdog_interval * 1_000_000)
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


def standard_fds(p: Plan, stdio_fd: int | None, log_fd: int | None, warn) -> tuple[list[int | None], list[int]]:
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


def setup_words(p: Plan, step: str, why: str, index: int = 0, err: int = 0) -> str:
    """What a failed step of the job's set-up is called, whichever path
    spawned it (forkexec's child, or the C child's report read by cspawn):
    *why* is the error's text, *index* the limit's place in ``p.rlimits``,
    *err* the errno of a failed exec."""
    if step == "nice":
        return f"Nice {p.nice}: {why}"
    if step == "batch":
        return f"ProcessType Background: SCHED_BATCH: {why}"
    if step == "ioprio":
        return f"I/O priority: {why}"
    if step == "rlimit":
        name, _, soft, hard = p.rlimits[index]
        return f"ResourceLimits {name} (soft {soft}, hard {hard}): {why}"
    if step == "chroot":
        return f"RootDirectory {p.chroot}: chroot failed: {why}"
    if step == "identity":
        return f"cannot become uid {p.uid} gid {p.gid}: {why}"
    if step == "cwd":
        return f"WorkingDirectory {p.cwd}: {why}; running in /"
    if step == "exec":
        where = " on PATH" if p.search_path and "/" not in p.executable else ""
        return f"could not execute {p.executable}{where}: {why} (errno {err})"
    return f"could not set up the job: {why} (errno {err})"
