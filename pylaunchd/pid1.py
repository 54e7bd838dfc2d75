"""What a manager must do as a process tree's init: PID 1 of a container, or a
child subreaper when it is not.

* :func:`become_subreaper` — ``prctl(PR_SET_CHILD_SUBREAPER)``: the orphans
  of a job (a daemon that double-forks, a shell's background children) are
  reparented to the manager instead of to the real init, so it reaps them and
  ``AbandonProcessGroup`` keeps its meaning. As PID 1 it is the reaper anyway.
* :class:`Orphans` — those reparented processes: counted when reaped, and
  attributed to the job that left them behind (a job that *daemonizes*:
  its main process exits, a process it started lives on). A process is the
  job's when the environment it was started with names the job
  (``PYLAUNCHD_LABEL``, which every job gets and its children inherit), or
  failing that when its session or process group is the job's main PID.
* :func:`shutdown_waves` — the order of a shutdown: a job that names another
  in ``KeepAlive``'s ``OtherJobActive`` or ``OtherJobEnabled`` is its client,
  and is stopped (and gone) before the job it names is sent SIGTERM;
  everything else stops at once. A cycle stops together.
* the manager's exit statuses (docs/container.md): :data:`EXIT_KILLED` when
  a shutdown had to SIGKILL a job, :func:`exit_code` for ``--exit-with``.

On signals as PID 1: the kernel does not deliver a signal whose action is
the default to a namespace's init, so SIGTERM with no handler would be
ignored and a runtime would SIGKILL after its grace period. The manager
installs handlers for :data:`SHUTDOWN_SIGNALS` (and SIGHUP, SIGCHLD, and
SIGUSR2 for a re-exec) on its loop; every other signal keeps its default
action, which for PID 1 means that it is ignored, and none is forwarded to
the jobs.
"""

from __future__ import annotations

import os
import signal

from .bootlog import log

TYPE_CHECKING = False  # annotations only: boot (bootspawn) imports this module before the first spawn
if TYPE_CHECKING:
    from typing import Callable, Iterable, Mapping

    from .jobtypes import ExitStatus
    from .spec import JobSpec

PR_SET_CHILD_SUBREAPER = 36
SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGPWR)
# As PID 1: a shutdown had to SIGKILL a job that did not exit within its
# ExitTimeOut. Not as PID 1, the manager exits 0 then, as it always has.
EXIT_KILLED = 3


def become_subreaper() -> bool:
    """Make this process a child subreaper; False (and a warning) if the kernel refuses."""
    try:
        from . import _spawn  # prctl without ctypes (about 3 ms of imports on the way to the first spawn)
    except ImportError:
        _spawn = None
    if _spawn is not None and hasattr(_spawn, "set_child_subreaper"):
        try:
            _spawn.set_child_subreaper()
            return True
        except OSError as e:
            log.warning("prctl(PR_SET_CHILD_SUBREAPER): %s; orphans of jobs go to init", e.strerror)
            return False
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0:
            return True
        err = ctypes.get_errno()
        log.warning("prctl(PR_SET_CHILD_SUBREAPER): %s; orphans of jobs go to init", os.strerror(err))
    except (OSError, AttributeError) as e:
        log.warning("prctl(PR_SET_CHILD_SUBREAPER) unavailable (%s); orphans of jobs go to init", e)
    return False


def exit_code(status: ExitStatus) -> int:
    """A shell's exit status for a process's: its code, or 128 + the signal."""
    return 128 + status.signal if status.signal is not None else (status.code or 0) & 0xFF


def clients_of(spec: JobSpec) -> set[str]:
    """The jobs *spec* depends on: those its KeepAlive names."""
    ka = spec.keep_alive
    return {label for label, _ in (*ka.other_job_active, *ka.other_job_enabled) if label != spec.label}


def shutdown_waves(specs: Mapping[str, JobSpec]) -> list[list[str]]:
    """The labels in the order they stop: each wave once the previous is gone."""
    labels = set(specs)  # once: 10,000 jobs must not cost 10,000 copies of it
    deps = {label: clients_of(spec) & labels for label, spec in specs.items()}
    remaining = set(specs)
    waves: list[list[str]] = []
    while remaining:
        needed = set().union(*(deps[label] for label in remaining))
        wave = sorted(remaining - needed) or sorted(remaining)  # a cycle stops together
        waves.append(wave)
        remaining -= set(wave)
    return waves


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, sid) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[2]), int(fields[3])
    except (OSError, IndexError, ValueError):
        return None


def parent_of(pid: int) -> int | None:
    st = _stat(pid)
    return st[0] if st else None


def label_of(pid: int) -> str | None:
    """The job label a process was started with (PYLAUNCHD_LABEL), if readable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"PYLAUNCHD_LABEL="):
            return item[16:].decode(errors="replace")
    return None


def children() -> list[int]:
    """Every process whose parent is this one."""
    me, out = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None and st[0] == me:
                out.append(int(name))
    return out


class Orphans:
    """The processes reparented to the manager, by the job that left them."""

    def __init__(self) -> None:
        self.reaped = 0  # orphans reaped since the start
        self.left: dict[str, set[int]] = {}  # label -> PIDs it left running

    def daemon_pid(self, label: str) -> int | None:
        """The first process *label* left behind that still runs."""
        pids = self.left.get(label)
        return min(pids) if pids else None

    def orphan_reaped(self, pid: int, status: int) -> None:
        self.reaped += 1
        log.debug("reaped orphan pid %d (status %d; %d orphans so far)", pid, status, self.reaped)
        for label, pids in list(self.left.items()):
            pids.discard(pid)
            if not pids:
                del self.left[label]

    def scan(self, known: Iterable[int], mains: Callable[[], Mapping[str, int | None]]) -> None:
        """Attribute every unknown child to the job that left it. *mains()*:
        the jobs' labels, with the main PID each last had (for the pgid/sid
        rule); asked only when there is an unknown child, since every exit of
        a main process scans and walking 10,000 jobs each time would cost."""
        known = set(known)
        jobs: Mapping[str, int | None] | None = None
        for pid in children():
            if pid in known or any(pid in p for p in self.left.values()):
                continue
            if jobs is None:
                jobs = mains()
            label = label_of(pid)
            if label not in jobs:
                st = _stat(pid)
                label = next((lb for lb, main in jobs.items() if st and main in (st[1], st[2])), None)
            if label is not None:
                self.left.setdefault(label, set()).add(pid)
                log.info("(%s) left pid %d running (it daemonized)", label, pid)

    def forget(self, label: str) -> list[int]:
        """The job is gone: the PIDs it left, no longer attributed."""
        return sorted(self.left.pop(label, ()))
