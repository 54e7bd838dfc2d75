"""``pylaunchctl lint``: what ``plutil -lint`` checks, plus what the job means.

Every finding names the file and the key path, says what is wrong and, where
a common mistake is likely, how to fix it. Errors are what keeps the job from
loading; warnings are what pylaunchd accepts but probably not as meant;
notes explain keys whose meaning surprises people.

Validation errors come from :func:`pylaunchd.validate.check`, which reports
the first error of every group of keys (where the manager stops at the first
one); the checks of what the job means run only on a job that would load.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Callable

from .jobspec import JobSpec
from .plist import PlistError, duplicate_keys, parse_plist, read_bytes
from .plistvalues import ERROR, NOTE, WARNING, Problem
from .validate import check

__all__ = ["ERROR", "WARNING", "NOTE", "Finding", "lint_file", "summary"]


@dataclass(frozen=True)
class Finding:
    level: str
    path: str
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: {self.key_path}" if self.key_path else self.path
        return f"{where}: {self.level}: {self.message}"

    @classmethod
    def of(cls, path: str, problem: Problem) -> Finding:
        return cls(problem.level, path, problem.key_path, problem.message)


def lint_file(path: str, as_uid: int | None = None) -> list[Finding]:
    """Every finding for the job plist at *path*."""
    path = os.path.abspath(path)
    uid = os.geteuid() if as_uid is None else as_uid
    try:
        data = read_bytes(path)
        raw = parse_plist(path, data)
    except PlistError as e:
        return [Finding(ERROR, path, e.key_path, e.message)]
    findings = _file_checks(path, uid)
    findings += _duplicate_key_checks(path, data)
    checked = check(raw, path)
    findings += [Finding.of(path, e.problem()) for e in checked.errors]
    findings += [Finding.of(path, w) for w in checked.warnings]
    if checked.spec is not None:
        findings += _semantic_checks(path, checked.spec, uid)
    return findings


def _duplicate_key_checks(path: str, data: bytes) -> list[Finding]:
    """A key given twice in one dictionary (a guide's example gives KeepAlive
    twice): launchd keeps the last value without a word, and so does the loader."""
    return [Finding(WARNING, path, key_path, f"given twice in one dictionary (again on line {line}): the last "
                                             f"value counts, as in launchd; the first is ignored")
            for key_path, line in duplicate_keys(data)]


def _file_checks(path: str, uid: int) -> list[Finding]:
    out = []
    st = os.stat(path)
    if st.st_mode & 0o022:
        out.append(Finding(WARNING, path, "", f"the file is group- or world-writable (mode {oct(st.st_mode & 0o777)[2:]}): "
                                              f"pylaunchd and launchctl refuse to load it; run chmod go-w {path}"))
    if st.st_uid not in (0, uid):
        out.append(Finding(WARNING, path, "", f"the file is owned by uid {st.st_uid}: only files owned by root or "
                                              f"by the domain's user (uid {uid}) are loaded"))
    return out


def _semantic_checks(path: str, spec: JobSpec, uid: int) -> list[Finding]:
    """What the job means: each check adds (level, key path, message), in this order."""
    out: list[Finding] = []

    def add(level: str, key: str, message: str) -> None:
        out.append(Finding(level, path, key, message))

    stem = os.path.splitext(os.path.basename(path))[0]
    if stem != spec.label:
        add(NOTE, "Label", f'"{spec.label}" differs from the file name "{stem}.plist"; by convention they match')
    for check_ in (_program_checks, _identity_checks, _file_path_checks, _keep_alive_checks, _socket_checks,
                   _trigger_checks, _domain_checks):
        check_(spec, uid, add)
    return out


Add = Callable[[str, str, str], None]


def _program_checks(spec: JobSpec, uid: int, add: Add) -> None:
    exe = spec.executable
    env_path = dict(spec.environment).get("PATH") or os.environ.get("PATH", "")
    key = "Program" if spec.program is not None else "ProgramArguments[0]"
    if spec.root_directory is not None:
        return
    if spec.search_path and "/" not in exe:
        if shutil.which(exe, path=env_path) is None:
            add(WARNING, key, f'"{exe}" is not found on the job\'s PATH; the job will fail with exit status 2 '
                              f'(ENOENT): use an absolute path, or set PATH in EnvironmentVariables')
    elif not os.path.exists(exe):
        add(WARNING, key, f"{exe} does not exist; the job will fail with exit status 2 (ENOENT)")
    elif not os.access(exe, os.X_OK) or os.path.isdir(exe):
        add(WARNING, key, f"{exe} is not an executable file; the job will fail with exit status 13 (EACCES)")


def _identity_checks(spec: JobSpec, uid: int, add: Add) -> None:
    """A UserName or GroupName this host lacks (an installer's placeholder,
    macOS's staff): the system domain loads the job, and its start fails."""
    if uid != 0:
        return  # a per-user manager runs every job as its own user (admission says so)
    import grp
    import pwd

    for key, name, lookup in (("UserName", spec.user_name, pwd.getpwnam), ("GroupName", spec.group_name, grp.getgrnam)):
        if name is None:
            continue
        try:
            lookup(name)
        except KeyError:
            add(WARNING, key, f'no {"user" if key == "UserName" else "group"} "{name}" on this host: the job loads, '
                              "and each start fails with exit status 3 (ESRCH), as pylaunchctl print then says")


def _file_path_checks(spec: JobSpec, uid: int, add: Add) -> None:
    # The child chroots before its chdir and its standard paths (launchd's order): with a
    # RootDirectory (Homebrew writes one for root_dir) they are paths inside it.
    root = spec.root_directory
    where = f" inside RootDirectory {root}" if root else ""

    def host(p: str) -> str:
        return os.path.join(root, p.lstrip("/")) if root and os.path.isabs(p) else p

    if spec.working_directory and not os.path.isdir(host(spec.working_directory)):
        add(WARNING, "WorkingDirectory", f"{spec.working_directory} does not exist{where}; the job would run in /")
    for key, p in (("StandardOutPath", spec.stdout_path), ("StandardErrorPath", spec.stderr_path)):
        if p and os.path.isabs(p) and not os.path.isdir(os.path.dirname(host(p))):
            add(WARNING, key, f"the directory {os.path.dirname(p)} does not exist{where}: the output would go to "
                              f"the job's log (pylaunchctl log) instead; create it (it is never created for you)")
    if spec.stdin_path and os.path.isabs(spec.stdin_path) and not os.path.exists(host(spec.stdin_path)):
        add(WARNING, "StandardInPath", f"{spec.stdin_path} does not exist{where}; the job would read /dev/null")


def _keep_alive_checks(spec: JobSpec, uid: int, add: Add) -> None:
    ka = spec.keep_alive
    if ka.successful_exit is True:
        add(NOTE, "KeepAlive.SuccessfulExit", "true restarts the job after it exits with status 0, and leaves it "
                                               "stopped after a failure; false is the opposite")
    elif ka.successful_exit is False:
        add(NOTE, "KeepAlive.SuccessfulExit", "false restarts the job after it fails (non-zero status or a signal), "
                                               "and leaves it stopped after exit 0; true is the opposite")
    if spec.launch_only_once and (ka.always or ka.successful_exit is not None or ka.crashed is not None):
        add(WARNING, "LaunchOnlyOnce", "true with KeepAlive: the job runs once and is never restarted after it "
                                       "exits, KeepAlive notwithstanding (launchd does the same)")
    if ka.always and spec.throttle_interval == 0:
        add(WARNING, "ThrottleInterval", "0 with KeepAlive true: a job that exits at once restarts in a tight loop")


def _socket_checks(spec: JobSpec, uid: int, add: Add) -> None:
    for g in spec.sockets:
        for s in g.sockets:
            if not s.service or s.path:
                continue
            port = _port(s.service, s.type)
            key = f"Sockets.{g.name}.SockServiceName"
            if port is None:
                add(WARNING, key, f'"{s.service}" is not a port number nor a service of /etc/services: the job '
                                  f"loads without this socket (as launchd's does); give the port number")
            elif uid != 0 and 0 < port < 1024:
                named = "" if s.service.isdigit() else f" ({s.service})"
                add(WARNING, key, f"port {port}{named} needs root; a per-user manager cannot bind it")
    for g in spec.sockets:
        for s in g.sockets:
            if s.path and not os.path.isdir(os.path.dirname(s.path) or "."):
                add(WARNING, f"Sockets.{g.name}.SockPathName",
                    f"the directory {os.path.dirname(s.path)} does not exist: the job will fail to load")


def _port(service: str, sock_type: str | None) -> int | None:
    """The port a SockServiceName stands for, or None if /etc/services lacks it."""
    if service.isdigit():
        return int(service)
    import socket
    try:
        return socket.getservbyname(service, "udp" if sock_type == "dgram" else "tcp")
    except OSError:
        return None


def _trigger_checks(spec: JobSpec, uid: int, add: Add) -> None:
    if not (spec.run_at_load or spec.keep_alive.has_conditions or spec.sockets or spec.start_interval
            or spec.start_calendar or spec.watch_paths or spec.queue_directories or spec.start_on_mount
            or spec.mach_services):  # a MachServices name starts it on a D-Bus call (a real helper has only that)
        add(NOTE, "", "nothing starts this job by itself (no RunAtLoad, KeepAlive, Sockets, MachServices, timers or "
                      "paths): it runs only on pylaunchctl start")


def _domain_checks(spec: JobSpec, uid: int, add: Add) -> None:
    types = set(spec.limit_load_to_session_type)
    if types and not types & {"System", "Aqua", "Background", "StandardIO"}:
        add(WARNING, "LimitLoadToSessionType", f"{', '.join(sorted(types))}: no pylaunchd domain loads this job (the "
                                               f"system domain is System; a per-user one Aqua, Background and "
                                               f"StandardIO)")
    elif types and "System" not in types:
        add(NOTE, "LimitLoadToSessionType", f"{', '.join(sorted(types))}: loads in a per-user domain only, never in "
                                            f"the system domain (System)")


def summary(findings: list[Finding]) -> tuple[int, int]:
    errors = sum(f.level == ERROR for f in findings)
    warnings = sum(f.level == WARNING for f in findings)
    return errors, warnings
