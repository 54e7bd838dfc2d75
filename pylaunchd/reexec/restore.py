"""The new process of a re-exec: take over from the state, or from what runs.

:class:`Restore` is installed before the first scan of the job directories.
The scan, then the state's other jobs (plists loaded from elsewhere, with
``-F`` if they were, and submitted jobs), are loaded as at any start, but:

* every socket comes from the inherited pool, by address (the table's
  ``inherited``): nothing is bound again, no socket file is unlinked;
* instead of its ``load`` event each job is handed to :meth:`Restore.adopt`
  (the table's ``adopter``): its machine comes back from its snapshot (phase,
  want, PIDs, runs, last exit, throttle, instances, conditions), its timers
  are set again at their monotonic deadlines, its output pipes are read
  again, its socket counters and readiness restored, and the facts as they
  are now arrive as events.

Fallback: when the state file cannot be read (corrupt, another version,
another process's), or one job's snapshot cannot be used, the jobs load from
their plists as at a first start, with the sockets still taken by address,
and every child of the manager whose environment names a loaded job
(``PYLAUNCHD_LABEL``) is adopted by PID as its running process (the most
recently started one; the others are its orphans), with the output pipe it
writes to. What is lost then: counters and history, timers (restarted from
the keys), jobs that were not in a watched directory, SecureSocketWithKey
sockets (bound anew). ``pylaunchctl version --json`` shows the reason
(``reexec_note``) and the manager's log says it.

A job of the state that no longer loads (its plist went during the exec)
is stopped: its processes get SIGTERM.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import TYPE_CHECKING

from ..job import JobMachine
from ..pid1 import children, label_of
from .handoff import Handoff, InheritedSockets
from .state import StateError, read, timer_from

if TYPE_CHECKING:
    from ..manager import Manager
    from ..runtime import JobRuntime

log = logging.getLogger("pylaunchd")


def _pipe_inode(path: str) -> str | None:
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return target if target.startswith("pipe:") else None


def started_at(pid: int) -> float:
    """When *pid* started, on the monotonic clock (its age from /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        age = 0.0
    return time.monotonic() - max(age, 0.0)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _ms(since: float | None, now: float) -> str:
    return "?" if since is None else f"{(now - since) * 1000:.0f}"


class Restore:
    def __init__(self, manager: "Manager", handoff: Handoff, pool: InheritedSockets):
        self.manager, self.handoff, self.pool = manager, handoff, pool
        self.note: str | None = None
        try:
            self.state: dict | None = read(handoff.state_path, os.getpid())
        except StateError as e:
            self.state, self.note = None, f"state not restored ({e}): jobs loaded from their plists, " \
                                          f"sockets and running processes adopted"
            log.error("re-exec: %s", self.note)
        self.saved = {j["label"]: j for j in self.state["jobs"]} if self.state else {}
        self.pipes = set(handoff.pipe_fds)  # inherited pipes no job has taken yet
        self.unclaimed: dict[int, str | None] = {}  # fallback: children, by the label they were started for
        self.restored = self.adopted = 0

    def install(self) -> None:
        """Before the first scan: the table takes sockets and jobs from here."""
        m, table = self.manager, self.manager.table
        table.inherited = self.pool
        table.adopter = self.adopt
        known = set(m.helpers)
        self.unclaimed = {pid: label_of(pid) for pid in children() if pid not in known}
        state = self.state
        if state is None:
            return
        try:
            m.environment.user.update({str(k): str(v) for k, v in state.get("setenv", {}).items()})
            table.forced |= {str(p) for p in state.get("forced", [])}
            table.deferred.update({k: (str(v[0]), bool(v[1])) for k, v in state.get("deferred", {}).items()})
            m.mains.update({k: int(v) for k, v in state.get("mains", {}).items()})
            orphans = state.get("orphans", {})
            m.orphans.reaped = int(orphans.get("reaped", 0))
            m.orphans.left = {k: {int(p) for p in v} for k, v in orphans.get("left", {}).items()}
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
            self.note = f"the domain's state is not restored ({type(e).__name__}: {e}); the jobs' is"
            log.error("re-exec: %s", self.note)

    def load_rest(self) -> None:
        """After the scan: the state's jobs that are not in a watched directory."""
        table = self.manager.table
        for label, data in list(self.saved.items()):
            if label in table.jobs:
                continue
            if data.get("path"):
                result = table.load(data["path"], force=bool(data.get("force")))
            elif isinstance(data.get("submitted"), dict):
                result = table.submit(data["submitted"])
            else:
                continue
            if not result.ok:
                log.error("(%s) not loaded again after the re-exec: %s", label, result.message)

    def adopt(self, job: "JobRuntime", facts: dict) -> bool:
        """The table's adopter: restore *job* from the state, or adopt what runs of it."""
        data = self.saved.pop(job.label, None)
        if data is not None:
            try:
                self._resume(job, data, facts)
                self.restored += 1
                return True
            except (KeyError, ValueError, TypeError, IndexError) as e:
                log.error("(%s) re-exec: its state cannot be used (%s: %s): adopting what runs of it",
                          job.label, type(e).__name__, e)
        return self._adopt_running(job, facts)

    def _resume(self, job: "JobRuntime", data: dict, facts: dict) -> None:
        """Everything read first (a bad field raises before anything changed), then applied."""
        machine = JobMachine.restored(job.spec, data["machine"])
        deadlines = {timer_from(k): float(at) for k, at in data["timers"]}
        counters = {int(s["fd"]): (int(s["accepted"]), int(s["triggers"]), s["last_trigger"]) for s in data["sockets"]}
        pipes = [fd for fd in data["pipes"] if fd in self.pipes]
        job.spawn_error, job.spawn_warnings = data.get("spawn_error"), list(data.get("spawn_warnings") or [])
        for _, b in job.flat_sockets():
            if b.fileno() in counters:
                b.accepted, b.triggers, b.last_trigger = counters[b.fileno()]
        for fd in pipes:
            self.pipes.discard(fd)
            job.read_pipe(fd)
        for pid in [machine.pid, *machine.instances]:
            self.unclaimed.pop(pid, None)
        job.resume(facts, machine, deadlines)
        notify = self.manager.notify
        if data.get("readiness") and notify is not None:
            try:
                notify.restore(job, data["readiness"])
            except (TypeError, ValueError) as e:
                log.warning("(%s) re-exec: its readiness is not restored (%s)", job.label, e)

    def _adopt_running(self, job: "JobRuntime", facts: dict) -> bool:
        pids = sorted((p for p, label in self.unclaimed.items() if label == job.label), key=started_at)
        if not pids:
            return False
        if not job.spec.inetd_nowait:
            pids = pids[-1:]  # the most recently started is its main process; the others are its orphans
        for pid in pids:
            del self.unclaimed[pid]
            job.adopt(pid, started_at(pid), self._pipes_of(pid), "running before the re-exec")
            self.adopted += 1
        job.resume(facts)
        return True

    def _pipes_of(self, pid: int) -> list[int]:
        """The inherited pipes *pid* writes its output into (its fds 1 and 2)."""
        wanted = {_pipe_inode(f"/proc/{pid}/fd/{n}") for n in (1, 2)} - {None}
        found = [fd for fd in self.pipes if _pipe_inode(f"/proc/self/fd/{fd}") in wanted]
        self.pipes -= set(found)
        return found

    def _stop_leftover(self, label: str, data: dict) -> None:
        """A job of the state that no longer loads: SIGTERM what runs of it,
        and SIGKILL at the ExitTimeOut deadline it had, if it was stopping."""
        machine = data.get("machine") or {}
        pids = [p for p in [machine.get("pid"), *[i[0] for i in machine.get("instances", [])]] if isinstance(p, int)]
        for pid in pids:
            log.warning("(%s) no longer loaded after the re-exec: SIGTERM to pid %d", label, pid)
            _kill(pid, signal.SIGTERM)
        kill_at = next((at for key, at in data.get("timers", []) if key == "kill"), None)
        if pids and isinstance(kill_at, (int, float)):
            clock = self.manager.clock
            clock.call_at(kill_at, lambda: [_kill(pid, signal.SIGKILL) for pid in pids])

    def finish(self) -> None:
        """After every load: close what no job took, stop what no longer
        loads, reap what exited during the exec, say how it went."""
        m = self.manager
        for name in self.pool.close_rest():
            log.warning("re-exec: no job has the socket %s any more: closed", name)
        for fd in self.pipes:
            os.close(fd)
        self.pipes.clear()
        for label, data in self.saved.items():
            self._stop_leftover(label, data)
        self.saved.clear()
        try:
            os.unlink(self.handoff.state_path)
        except OSError:
            pass
        m.table.adopter = None
        m.table.inherited = None
        h, now = self.handoff, time.monotonic()
        m.reexec_generation, m.reexec_note = h.generation, self.note
        m.reexec_gap = now - h.exec_at if h.exec_at else None
        log.info("re-exec %d done: %d job(s) restored, %d process(es) adopted; %s ms after the exec, %s ms after "
                 "the request", h.generation, self.restored, self.adopted, _ms(h.exec_at, now), _ms(h.requested_at, now))
