"""Starting a job's process from its JobSpec and its sockets.

The child is forked by hand, not through subprocess, because systemd's
protocol needs ``LISTEN_PID`` to be the job's own PID, which only the child
knows before exec. Between fork and exec the child only calls ``os``
functions. It reports a failure (and non-fatal warnings such as a missing
working directory) over a close-on-exec pipe, so the parent learns the exact
reason; a failed exec exits with the errno as its status, as launchd does.

Descriptor layout of a job:

* sockets handed over systemd-style: fds 3, 4, ... in ``Sockets`` order, with
  ``LISTEN_FDS``, ``LISTEN_PID`` and ``LISTEN_FDNAMES`` (one name per fd);
* inetd mode: the socket (listening, datagram or accepted connection) on fds
  0-2; fds 1 and 2 keep ``StandardOutPath``/``StandardErrorPath`` when set;
* nothing else: every other descriptor of the manager is closed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import socket
from dataclasses import dataclass, field

from .spec import JobSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_RESET_SIGNALS = [signal.SIGPIPE, signal.SIGXFSZ, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                  signal.SIGCHLD, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2]


@dataclass
class SpawnResult:
    pid: int
    error: str | None = None  # the process could not exec; it exits with the errno
    warnings: list[str] = field(default_factory=list)


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


def job_environment(spec: JobSpec, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = base_environment(spec.label)
    env.update(extra or {})
    env.update(dict(spec.environment))
    return env


def spawn(spec: JobSpec, listen: list[tuple[str, socket.socket]], stdio: socket.socket | None = None,
          extra_env: dict[str, str] | None = None) -> SpawnResult:
    """Fork and exec the job. ``listen``: (name, socket) pairs for fds 3...;
    ``stdio``: a socket to put on fds 0-2 instead (inetd mode)."""
    env = job_environment(spec, extra_env)
    if listen and stdio is None:
        env["LISTEN_FDS"] = str(len(listen))
        env["LISTEN_FDNAMES"] = ":".join(name for name, _ in listen)
    else:
        env.pop("LISTEN_FDS", None)
        env.pop("LISTEN_FDNAMES", None)
    env.pop("LISTEN_PID", None)
    argv = list(spec.argv)
    executable = spec.executable
    sources = [s.fileno() for _, s in listen]
    stdio_fd = stdio.fileno() if stdio is not None else None

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
            _child(spec, argv, executable, env, sources, stdio_fd, wpipe)
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


def _child(spec, argv, executable, env, sources, stdio_fd, wpipe) -> None:  # pragma: no cover
    def report(kind: str, message: str) -> None:
        # ``wpipe`` is looked up at call time: it is moved to a high fd below.
        try:
            os.write(wpipe, f"{kind} {message}\n".encode("utf-8", "replace"))
        except OSError:
            pass

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
    env["LISTEN_PID"] = str(os.getpid()) if "LISTEN_FDS" in env else env.get("LISTEN_PID", "")
    if not env["LISTEN_PID"]:
        del env["LISTEN_PID"]

    if spec.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, spec.nice)
        except OSError as e:
            report("W", f"Nice {spec.nice}: {e.strerror}")

    cwd = spec.working_directory or "/"
    try:
        os.chdir(cwd)
    except OSError as e:
        report("W", f"WorkingDirectory {cwd}: {e.strerror}; running in /")
        os.chdir("/")
    if spec.umask is not None:
        os.umask(spec.umask)

    # Move everything we hand over above the target range first, so that
    # placing fd N never overwrites a source still to be placed.
    floor = 3 + len(sources) + 1
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in sources]
    high_stdio = fcntl.fcntl(stdio_fd, fcntl.F_DUPFD_CLOEXEC, floor) if stdio_fd is not None else None
    wpipe = fcntl.fcntl(wpipe, fcntl.F_DUPFD_CLOEXEC, floor)

    def open_path(key: str, path: str | None, flags: int) -> int | None:
        if path is None:
            return None
        try:
            return os.open(path, flags | os.O_CLOEXEC, 0o666)
        except OSError as e:
            report("W", f"{key} {path}: {e.strerror}; using /dev/null")
            return None

    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    stdin = open_path("StandardInPath", spec.stdin_path, os.O_RDONLY)
    stdout = open_path("StandardOutPath", spec.stdout_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    stderr = open_path("StandardErrorPath", spec.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    if high_stdio is not None:
        stdin = high_stdio
        stdout = stdout if stdout is not None else high_stdio
        stderr = stderr if stderr is not None else high_stdio
    # Relocate the opened files above the target range too.
    targets = []
    for fd in (stdin, stdout, stderr):
        fd = null if fd is None else fd
        targets.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor))
    for i, fd in enumerate(targets):
        os.dup2(fd, i, inheritable=True)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i, inheritable=True)
    # Close every other descriptor the manager had; keep only the error pipe.
    os.closerange(3 + len(high), wpipe)
    os.closerange(wpipe + 1, _max_fd())

    try:
        if spec.search_path:
            os.execvpe(executable, argv, env)
        else:
            os.execve(executable, argv, env)
    except OSError as e:
        code = e.errno or errno.ENOEXEC
        where = "on PATH" if spec.search_path and "/" not in executable else ""
        reason = f"could not execute {executable}{' ' + where if where else ''}: {e.strerror} (errno {code})"
        report("E", reason)
        os._exit(code)
    except BaseException as e:
        report("E", f"could not execute {executable}: {e}")
        os._exit(127)


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (ValueError, OSError):
        return 65536
