"""The first processes: jobs that start at load, started by boot before the loop is imported.

A boot's jobs need nothing of the event loop, the watcher, the bus or the
control server to start: only their plist, their sockets (bound by
:func:`pylaunchd.boot.bind_early`) and :func:`pylaunchd.spawn.spawn`. So right
after the binds, :func:`start_early` spawns every job whose keys start it at
load (``RunAtLoad``, or ``KeepAlive`` true), with the same plan, descriptors
and environment the runtime would give it (``LISTEN_FDS``, the job's output
pipe or ``StandardOutPath``, ``NOTIFY_SOCKET``, the domain's
``SecureSocketWithKey`` variables, the bus variables). Where the C path
can (``wait=False``), it does not wait for one child's exec before the next
spawn: the children exec on the other CPUs meanwhile, and their errors and
warnings are collected after the last spawn, when boot's messages are
logged (the first of them imports logging: nothing on the way to the first
spawn does, nor typing, ctypes or shutil). The manager, once it
runs, hands each process to its job as a re-exec's are handed over
(:class:`BootAdopter` is the table's adopter, :meth:`JobRuntime.adopt`): its
pid, start time and output pipe, so that KeepAlive, ExitTimeOut, the exit
status, ``print``'s pid and runs, the log and readiness are those of a job
the runtime started.

What waits meanwhile (about 0.1-0.3 s, the manager's imports and first
scan): the job's output, in its pipe (1 MiB, :data:`pylaunchd.joblog.PIPE_SIZE`;
64 KiB where the kernel refuses the size), after which a chatty job's write
blocks until the loop reads; its readiness messages, queued on the notify
socket; its exit, a zombie until the manager reaps it (SIGCHLD is held, with
the shutdown signals, from before the first spawn until the manager's
handlers are installed: a SIGTERM during the imports becomes an ordered
shutdown, not the death of the manager under running jobs). The manager is
a child subreaper from before the first spawn, so what a job leaves behind
when it exits at once is still reaped and reported as the job's.

Not started here, left to the table: a re-exec (its jobs run already), an
inetd job, a job with ``MachServices`` (the bus may refuse its names), a
label defined by more than one plist (which one loads is the table's
choice), a job whose spawn fails (the table starts it and reports the error).
A process whose job is not loaded after all (its plist changed between the
two readings) is stopped with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import time

from .boot import Early
from .bootlog import log
from .bus.locate import job_env as bus_env
from .domain import Domain
from .joblog import output_pipe
from .notifybind import bind_notify, notify_address
from .pid1 import become_subreaper
from .plist import label_from_file, plists_in
from .sockets import exported_environment
from .spawn import spawn

TYPE_CHECKING = False  # neither typing nor logging on the way to the first spawn
if TYPE_CHECKING:
    from .jobspec import JobSpec
    from .runtime import JobRuntime
    from .spawnplan import SpawnResult

# Held from the first spawn until the manager handles them (manager.HANDLED).
HELD_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGPWR, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR2)
REASON = "run at load"  # the machine's own reason for such a start


class Started:
    """One process boot started: for the job of *spec*, at *at* (monotonic);
    *pipe*: the read end of its output pipe (None: StandardOutPath and
    StandardErrorPath); *error* and *warnings*: what its spawn reported."""

    __slots__ = ("spec", "pid", "at", "pipe", "error", "warnings")

    def __init__(self, spec: JobSpec, pid: int, at: float, pipe: int | None, error: str | None = None,
                 warnings: list[str] | None = None):
        self.spec, self.pid, self.at, self.pipe = spec, pid, at, pipe
        self.error, self.warnings = error, warnings if warnings is not None else []


class BootStart:
    """What boot started: the notify socket it bound, the processes by plist path."""

    __slots__ = ("notify", "started")

    def __init__(self, notify: socket.socket | None, started: dict[str, Started]):
        self.notify, self.started = notify, started

    def take_notify(self) -> int | None:
        """The notify socket's descriptor, the manager's from now on (None: boot bound none)."""
        sock, self.notify = self.notify, None
        return sock.detach() if sock is not None else None


def starts_at_load(spec: JobSpec) -> bool:
    """Whether loading *spec* spawns it at once, whatever the facts: the
    machine's ``_load`` for RunAtLoad and unconditional KeepAlive (inetd and
    bus jobs excepted, see the module's docstring)."""
    if spec.inetd is not None or spec.mach_services:
        return False
    ka = spec.keep_alive
    return bool(spec.run_at_load or (ka.implies_run_at_load and not ka.after_initial_demand))


def _shared_labels(domain: Domain, early: dict[str, Early]) -> set[str]:
    """Labels of *early* that another plist of the job directories defines too."""
    labels = {e.spec.label for e in early.values()}
    others = {label_from_file(p) for d in domain.jobs_dirs for p in plists_in(d) if os.path.abspath(p) not in early}
    return labels & others


def start_early(domain: Domain, early: dict[str, Early]) -> BootStart:
    """Spawn the jobs of *early* that start at load, in its order (the
    directories' sorted order). Holds :data:`HELD_SIGNALS` first (the
    manager releases them once it handles them)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    early = {path: e for path, e in early.items() if e.readable()}  # the table says why of the others
    wanted = {path: e for path, e in early.items() if starts_at_load(e.spec)}
    notify = None
    started: dict[str, Started] = {}
    if not wanted:
        return BootStart(notify, started)
    become_subreaper()  # what a job leaves running when it exits stays ours (the manager says it again)
    address = notify_address(domain.control_socket)
    try:
        notify = bind_notify(address)
    except OSError as e:
        log.warning("notify socket %s: %s; jobs get no NOTIFY_SOCKET", address, e)
    common: dict[str, str] = {}
    for e in early.values():
        common.update(exported_environment(e.groups))
    if notify is not None:
        common["NOTIFY_SOCKET"] = address
    shared = _shared_labels(domain, early)
    results: dict[str, SpawnResult] = {}
    for path, e in wanted.items():
        if e.spec.label not in shared:
            one = _spawn(domain, e, common)
            if one is not None:
                started[path], results[path] = one
    for path, result in results.items():  # each child has exec'd (or failed to) beside the loop above
        one = started[path]
        if result.pending is not None:
            result.pending.finish()
        one.error, one.warnings = result.error, list(result.warnings)
        log.info("(%s) started pid %d (%s, at boot)", one.spec.label, one.pid, REASON)
    return BootStart(notify, started)


def _spawn(domain: Domain, e: Early, common: dict[str, str]) -> tuple[Started, SpawnResult] | None:
    """Start *e*'s job without waiting for its exec where the C path can:
    the caller finishes the result, which then holds its error and warnings."""
    spec = e.spec
    env = bus_env(domain, domain.bus_address, spec) if domain.bus_address else {}
    env.update(common)
    listen = [(g.name, b.sock) for g in e.groups for b in g.sockets]
    rfd, wfd = (None, None) if spec.stdout_path is not None and spec.stderr_path is not None else output_pipe()
    try:
        result = spawn(spec, listen, None, extra_env=env, log_fd=wfd, wait=False)
    except Exception as e:  # OSError, ValueError (a NUL): the table starts it again and says why it cannot
        if not isinstance(e, (OSError, ValueError)):
            log.exception("(%s) not started at boot", spec.label)
        if rfd is not None:
            os.close(rfd)
        return None
    finally:
        if wfd is not None:
            os.close(wfd)  # the child has its own copy from the clone on
    return Started(spec, result.pid, time.monotonic(), rfd), result


class BootAdopter:
    """The table's adopter for the first scan: each job takes its boot process."""

    def __init__(self, boot: BootStart):
        self.started = dict(boot.started)
        self.adopted = 0

    def adopt(self, job: "JobRuntime", facts: dict) -> bool:
        """Hand *job* the process boot started for its plist, if the job is
        that plist's spec as boot read it (False: the table loads it)."""
        one = self.started.get(job.spec.path or "")
        if one is None or one.spec is not job.spec:
            return False
        del self.started[job.spec.path]
        job.note_started(one.pid, f"{REASON}, at boot", one.error, one.warnings)
        job.adopt(one.pid, one.at, [] if one.pipe is None else [one.pipe], REASON)
        job.resume(facts)
        self.adopted += 1
        return True

    def finish(self) -> None:
        """After the first scan: stop what no job took (its plist changed or went)."""
        for one in self.started.values():
            log.warning("(%s) pid %d, started at boot, is not the job loaded now (its plist changed): SIGTERM",
                        one.spec.label, one.pid)
            try:
                os.kill(one.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if one.pipe is not None:
                os.close(one.pipe)
        self.started.clear()
