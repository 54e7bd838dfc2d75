"""Third-party D-Bus services run as transient jobs (issue 9).

On a bus where pylaunchd is the activator, dbus-daemon sends it the
``ActivationRequest(unit)`` of every installed ``.service`` file with
``SystemdService=``, and no longer runs those files' ``Exec=``. For a unit no
loaded job serves, :class:`ThirdPartyUnits` (the bus hub's ``unknown_unit``)
finds the file that names it (:mod:`pylaunchd.bus.thirdparty`), submits the
job that file describes (label ``dbus:NAME``, its ``Exec=``, ``MachServices``
its ``Name=``) and asks for the name as any call would: the job starts, with
the starter environment, and its later calls reach it through its own
``NAME.service``. When its process ends before the name has an owner, the
callers of the *third-party* unit are failed at once with dbus-daemon's
error, as the hub does for pylaunchd's own units.
"""

from __future__ import annotations

import logging

from .bus import names as bus_names
from .bus import thirdparty
from .jobtable import Outcome

log = logging.getLogger("pylaunchd")


class ThirdPartyUnits:
    def __init__(self, table, hub, system: bool, dirs: list[str] | None = None):
        """*dirs*: where the bus looks for .service files (default: the standard search path
        of a system or session bus, which follows XDG_DATA_HOME and XDG_DATA_DIRS)."""
        self.table, self.hub, self.system = table, hub, system
        self.dirs = dirs
        self.units: dict[str, str] = {}  # transient label -> the third-party unit its callers wait on
        self._pids: dict[str, int] = {}

    def search_dirs(self) -> list[str]:
        if self.dirs is not None:
            return self.dirs
        return thirdparty.system_service_dirs() if self.system else thirdparty.session_service_dirs()

    def _own_files(self) -> list[str]:
        files = self.hub.files
        return [files.path(n) for n in self.hub.registry.names] if files is not None else []

    def __call__(self, unit: str) -> tuple[str, str] | None:
        """The hub's hook: (label, name) of the job now starting for *unit*, or None (unknown)."""
        entry = thirdparty.find_unit(unit, self.search_dirs(), exclude=self._own_files())
        if entry is None:
            return None
        label = thirdparty.transient_label(entry)
        if self.table.find(label) is None:
            result = self.table.submit(thirdparty.transient_job(entry, self.system))
            if result.outcome is not Outcome.LOADED:
                log.warning("bus: %s: %s from %s could not be loaded: %s", unit, label, entry.path, result.message)
                return None
            log.info("(%s) transient job for %s: %s (%s)", label, unit, entry.command, entry.path)
        self.units[label] = unit
        self.hub.activation_requested(entry.name)
        return label, entry.name

    def job_active(self, job) -> None:
        """Before the hub hears of it: a transient job's process ended while its name
        still had callers waiting; fail them under the unit they asked for."""
        label = job.label
        unit = self.units.get(label)
        if unit is None:
            return
        prev, pid = self._pids.pop(label, None), job.machine.pid
        if pid is not None:
            self._pids[label] = pid
        if prev is None or prev == pid or self.hub.bridge is None:
            return
        waiting = [st for st in self.hub.registry.job_names(label) if st.pending]
        if not waiting:
            return
        if job.spawn_error:
            error, message = bus_names.failure_for_spawn(label, job.spawn_error)
        else:
            last = job.machine.last_exit
            error, message = bus_names.failure_for_exit(label, last.code if last else None,
                                                        last.signal if last else None)
        log.info("bus: %s: %s: %s", unit, error, message)
        self.hub.bridge.fail(unit, error, message)
