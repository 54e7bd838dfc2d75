"""The domain's bus: MachServices names, their files and the connection, for the loaded jobs.

:class:`BusHub` is the one place where the job table meets D-Bus, as
:class:`~pylaunchd.facts.FactHub` is for the world's facts. It is told when
a job's definition changes or goes (its names: :class:`BusRegistry` and the
``.service`` files), when a job's main process starts or ends (the bus job:
connect; a job whose callers wait: fail them), and it hears the bus through
:class:`~pylaunchd.bus.bridge.BusBridge` (a name requested: the job's
``bus_name_requested`` event; an owner changed; SetEnvironment).

When it connects: when the bus job (the job whose ``Sockets`` path is the
bus's) has been spawned, or at start and on every loss with a backoff when
the bus is run by someone else, and only while the domain has names to
serve or a bus job. Connecting to our own idle bus would start dbus-daemon
for nothing; a call's ActivationRequest waits in dbus-daemon for us anyway.
jeepney is imported on the first connection, never before.
"""

from __future__ import annotations

import logging
import os
from typing import Callable, Mapping

from ..jobtypes import Phase
from . import names as bus_names
from .registry import BusRegistry, NameState
from .servicedir import ServiceDir
from .locate import belongs, job_env, unix_path
from .transient import PREFIX as TRANSIENT

log = logging.getLogger("pylaunchd")
RETRY_FIRST, RETRY_MAX = 0.5, 30.0


class BusHub:
    def __init__(self, domain, jobs: Mapping, clock, setenv: Callable[[str, str], None]):
        self.domain = domain
        self.address: str = domain.bus_address
        self.bus_path = unix_path(self.address)
        self.jobs = jobs  # label -> JobRuntime (the table's)
        self.clock = clock
        self.setenv = setenv
        self.registry = BusRegistry()
        self.files = ServiceDir(domain.bus_service_dir, domain.state_dir) if domain.bus_service_dir else None
        self.bridge = None
        self.bus_label: str | None = None  # the job that runs this bus, if any
        self.problem: str | None = None  # why names are not served (another activator)
        self.closing = False
        self.disabled: set[str] = set()  # labels disabled while loaded: their names are not activatable
        self.transient = None  # TransientJobs: third-party .service files run as jobs (set by the manager)
        self._pids: dict[str, int] = {}  # label -> the main PID last seen starting
        self._retry = None
        self._delay = RETRY_FIRST
        self._reload_due = False
        self._connect_due = False
        self._last_why: str | None = None
        self._warned: set[tuple[str, str]] = set()  # (name, owner) squatters already warned of

    # -- the table's jobs ---------------------------------------------------

    def conflict(self, spec) -> tuple[str, str] | None:
        """(key path, message) when another loaded job serves one of *spec*'s names."""
        hit = self.registry.conflict(spec.label, spec.mach_services)
        if hit is None:
            return None
        name, other = hit
        job = self.jobs.get(other)
        if job is not None and spec.path is not None and job.spec.path == spec.path:
            return None  # the same file under a new Label: the old job goes, and hands its names over
        where = job.spec.path if job is not None and job.spec.path else "a submitted job"
        return f"MachServices.{name}", f"the D-Bus name {name} is already served by {other} ({where})"

    def job_changed(self, label: str, groups) -> None:
        """The job's definition is the loaded one now (*groups* None: it is gone)."""
        job = self.jobs.get(label) if groups is not None else None
        if job is None:
            self._gone(label)
            return
        spec = job.spec
        if self.bus_path and any(s.path and os.path.abspath(s.path) == self.bus_path
                                 for g in spec.sockets for s in g.sockets):
            self.bus_label = label
        elif self.bus_label == label:
            self.bus_label = None
        write, drop = self.registry.set_job(label, spec.mach_services)
        if label in self.disabled:
            write, drop = [], drop + write
        self._register(job, write, drop)
        self._connect_soon()

    def _connect_soon(self) -> None:
        """Decide once the batch this load is part of is done: the bus job may come later in it,
        and a connection now to a bus thought external would start that job for nothing."""
        if not self._connect_due and not self.closing:
            self._connect_due = True
            self.clock.call_at(self.clock.monotonic(), self._connect_now)

    def _connect_now(self) -> None:
        self._connect_due = False
        self._maybe_connect()

    def _register(self, job, write: list[str], drop: list[str]) -> None:
        spec = job.spec
        user = (spec.user_name or "root") if self.domain.system else None
        for name in write:
            st = self.registry.names[name]
            st.not_registered = self.files.write(name, spec.label, user) if self.files else "no service directory"
            if st.not_registered:
                log.warning("(%s) MachServices %s: %s", spec.label, name, st.not_registered)
                job.log.event(f"warning: MachServices {name}: {st.not_registered}")
        for name in drop:
            self._remove_file(name)
        if write or drop:
            self._reload_soon()

    def set_disabled(self, label: str, disabled: bool) -> None:
        """``pylaunchctl disable``: the job's names stop being activatable (it keeps running);
        ``enable`` makes them activatable again."""
        job = self.jobs.get(label)
        if job is None:
            self.disabled.discard(label)  # a job loaded later (enabled, or load -F) serves its names
            return
        if (label in self.disabled) == disabled:
            return
        (self.disabled.add if disabled else self.disabled.discard)(label)
        names = [st for st in self.registry.job_names(label) if st.reachable]
        for st in names:
            st.not_registered = "the job is disabled" if disabled else None
        self._register(job, [] if disabled else [st.name for st in names],
                       [st.name for st in names] if disabled else [])

    def _gone(self, label: str) -> None:
        self.disabled.discard(label)
        if self.bus_label == label:
            self.bus_label = None
        self._pids.pop(label, None)
        names, pending = self.registry.remove_job(label)
        for name in pending:
            self._fail(name, *bus_names.failure_unknown(label, self.domain.name, " (it was unloaded)"))
        for name in names:
            self._remove_file(name)
        if names:
            self._reload_soon()
            self._hand_over(set(names))

    def _hand_over(self, names: set[str]) -> None:
        """Names a removed job held go to a loaded job that asks for them (its plist's new Label)."""
        for job in list(self.jobs.values()):
            if any(s.name in names for s in job.spec.mach_services) and job.label in self.jobs:
                self.job_changed(job.label, job.groups)

    def own_files(self) -> list[str]:
        """The .service files pylaunchd wrote (the third-party search passes them over)."""
        return [self.files.path(n) for n in sorted(self.files.written)] if self.files is not None else []

    def _remove_file(self, name: str) -> None:
        if self.files is not None:
            self.files.remove(name)

    def job_active(self, job) -> None:
        """The job's main process started, or ended (and perhaps started again)."""
        label, pid = job.label, job.machine.pid
        prev = self._pids.pop(label, None)
        if prev is not None and prev != pid:
            self._ended(job)
        if pid is not None:
            self._pids[label] = pid
            if label == self.bus_label:
                self._maybe_connect()

    def _ended(self, job) -> None:
        """Its process ended before it owned the names its callers wait for: tell them now.
        A third party's Exec= may exit 0 having daemonized, as dbus-daemon allows: its callers wait on."""
        last = job.machine.last_exit
        transient = self.transient is not None and job.label.startswith(TRANSIENT)
        if transient and job.machine.pid is None:
            self.clock.call_at(self.clock.monotonic(), self.transient.ended, job.label)
        fail, again = self.registry.ended(job.label)
        for name in again:
            self.clock.call_at(self.clock.monotonic(), self._ask_again, name)
        for name in fail:
            if transient and last is not None and last.code == 0:
                continue
            if job.spawn_error:
                error, message = bus_names.failure_for_spawn(job.label, job.spawn_error)
            else:
                error, message = bus_names.failure_for_exit(job.label, last.code if last else None,
                                                            last.signal if last else None)
            self._fail(name, error, message)
            job.log.event(f"D-Bus name {name}: its callers were answered {error}")

    def env(self, spec) -> dict[str, str]:
        """The bus's variables for a new process of *spec*."""
        return job_env(self.domain, self.address, spec)

    def started(self) -> None:
        """The first scan is loaded: forget an earlier run's files, connect if the bus is elsewhere."""
        if self.files is not None:
            for name in self.files.prune(set(self.registry.names)):
                log.info("removed %s, left by an earlier run", self.files.path(name))
        self._maybe_connect()

    def close(self) -> None:
        self.closing = True
        if self._retry is not None:
            self._retry.cancel()
        if self.bridge is not None:
            self.bridge.close()

    # -- the connection -----------------------------------------------------

    def _maybe_connect(self) -> None:
        if self.closing or (self.bridge is not None and self.bridge.busy):
            return
        if not self.registry.names and self.bus_label is None:
            return  # nothing to serve
        if self.bus_label is not None and self._pids.get(self.bus_label) is None:
            return  # our own bus, idle: its first client starts it, and we connect then
        if self.bridge is None:
            from .bridge import BusBridge  # jeepney: only now
            self.bridge = BusBridge(self.address, self)
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        self.bridge.start()

    def _reload_soon(self) -> None:
        if self._reload_due or self.bridge is None or not self.bridge.connected:
            return
        self._reload_due = True
        self.clock.call_at(self.clock.monotonic(), self._reload)

    def _reload(self) -> None:
        self._reload_due = False
        if self.bridge is not None and self.bridge.connected:
            self.bridge.reload_config()

    def _fail(self, name: str, error: str, message: str) -> None:
        unit = self.transient.unit_of(name) if self.transient is not None else name
        log.info("bus: %s: %s: %s", unit, error, message)
        if self.bridge is not None:  # the request can come before RequestName's reply: no check of activator
            self.bridge.fail(unit, error, message)

    # -- what the bus says (BridgeHandler) ----------------------------------

    def bus_connected(self, activator: bool, why: str) -> None:
        self._delay, self._last_why = RETRY_FIRST, None
        self.problem = None if activator else why
        log.info("bus %s: connected as %s%s", self.address, self.bridge.unique_name,
                 "; activator of the domain's names" if activator else f"; {why}")
        if activator:
            self.bridge.reload_config()
        for name in list(self.registry.names):
            self.bridge.name_owner(name, lambda owner, n=name: self.owner_changed(n, owner))

    def bus_disconnected(self, why: str) -> None:
        for st in self.registry.names.values():
            st.owner, st.owner_pid, st.owned_by_job, st.pending = None, None, None, False
        if self.closing:
            return
        (log.debug if why == self._last_why else log.info)("bus %s: disconnected (%s)", self.address, why)
        self._last_why = why  # a bus that stays away is said once, not every retry
        own_idle = self.bus_label is not None and self._pids.get(self.bus_label) is None
        if own_idle or (not self.registry.names and self.bus_label is None):
            return  # the bus job's next start connects again
        self._retry = self.clock.call_at(self.clock.monotonic() + self._delay, self._retried)
        self._delay = min(self._delay * 2, RETRY_MAX)

    def _retried(self) -> None:
        self._retry = None
        self._maybe_connect()

    def activation_requested(self, unit: str) -> None:
        st = self.registry.requested(unit, self.clock.timestamp())
        if st is None:
            self._unknown(unit)
        else:
            self._start(st)

    def _ask_again(self, name: str) -> None:
        """A name requested while its job was stopping: the job has exited, start it for those callers."""
        st = self.registry.names.get(name)
        if st is not None and st.owner is None:
            st.pending = True
            self._start(st)

    def _start(self, st: NameState) -> None:
        unit = st.name
        job = self.jobs.get(st.label)
        if job is None or job.machine.removing or st.label in self.disabled:
            why = " (it is disabled)" if st.label in self.disabled else " (it is being unloaded)"
            self._fail(unit, *bus_names.failure_unknown(st.label, self.domain.name, why))
            st.pending = False
            return
        log.info("(%s) D-Bus name %s requested", st.label, unit)
        st.again = job.machine.phase is Phase.STOPPING
        job.bus_name_requested(unit)
        if job.machine.phase is Phase.WAITING and job.machine.pid is None:
            why = " (it runs only once, and has run)" if job.machine.finished else " (it did not start)"
            self._fail(unit, *bus_names.failure_unknown(st.label, self.domain.name, why))
            st.pending = False

    def _unknown(self, unit: str) -> None:
        """No job serves *unit*: an installed third-party file may (a transient job), or nobody."""
        name = self.transient.start(unit) if self.transient is not None else None
        if name is not None and name in self.registry.names:
            self.activation_requested(name)
            return
        self._fail(unit, *bus_names.failure_unknown(unit, self.domain.name, " (no loaded job serves it)"))

    def owner_changed(self, name: str, owner: str | None) -> None:
        st = self.registry.owner_changed(name, owner)
        if st is not None and owner is not None and self.bridge is not None:
            self.bridge.owner_pid(owner, lambda pid: self._owner_pid(st, owner, pid))

    def _owner_pid(self, st: NameState, owner: str, pid: int | None) -> None:
        job = self.jobs.get(st.label)
        mine = job is not None and pid is not None and belongs(pid, job)
        if self.registry.owner_pid(st.name, owner, pid, mine) is None:
            return
        if mine:
            if st.label.startswith(TRANSIENT):
                return  # a third party's own file makes its name activatable: none of ours beside it
            if self.registry.check_in(st.name) and st.label not in self.disabled:
                self._register(job, [st.name], [])  # HideUntilCheckIn: activatable from now on
            return
        if (st.name, owner) not in self._warned:
            self._warned.add((st.name, owner))
            text = (f"D-Bus name {st.name} is owned by {owner} (pid {pid}), which is not this job; "
                    "pylaunchd leaves it be: stop that process for the job to serve the name")
            log.warning("(%s) %s", st.label, text)
            if job is not None:
                job.log.event(f"warning: {text}")

    def set_environment(self, assignments: list[str]) -> None:
        for a in assignments:
            key, eq, value = a.partition("=")
            if key and eq:
                self.setenv(key, value)
        log.info("bus: activation environment updated: %s", ", ".join(a.partition("=")[0] for a in assignments))

    # -- what print shows ---------------------------------------------------

    def endpoints(self, label: str) -> list[dict]:
        bus = f"{self.domain.bus_type} ({self.address})"
        return [{"name": st.name, "bus": bus, "state": self.registry.state(st, self.problem),
                 "owner": st.owner, "owner_pid": st.owner_pid, "owned_by_job": st.owned_by_job,
                 "hide_until_check_in": st.hidden, "activations": st.activations,
                 "last_activation": st.last_activation} for st in self.registry.job_names(label)]

    def status(self) -> dict:
        b = self.bridge
        activator = ("pylaunchd" if b is not None and b.activator else
                     self.problem or ("not connected" if b is None or not b.connected else "unknown"))
        return {"address": self.address, "type": self.domain.bus_type, "connected": bool(b and b.connected),
                "activator": activator, "unique_name": b.unique_name if b is not None and b.connected else None,
                "bus_job": self.bus_label, "service_dir": self.files.directory if self.files else None,
                "names": len(self.registry.names)}
