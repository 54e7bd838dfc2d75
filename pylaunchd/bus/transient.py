"""Installed third-party ``.service`` files, run as transient jobs.

On a bus where pylaunchd is the activator, dbus-daemon hands it every
activatable name whose file has ``SystemdService=``: its own files, and those
packages installed (dconf, at-spi, ...), whose ``Exec=`` the bus no longer
runs. For a unit no loaded job serves, :class:`TransientJobs` finds that file
(:mod:`pylaunchd.bus.thirdparty`) and submits a job running its ``Exec=``,
labelled ``dbus:NAME``, whose one name is hidden (no file of ours beside
theirs); the job is unloaded when its process ends, so the next request
finds the file afresh. Without thirdparty (another branch's module) nothing
is found and the caller gets ServiceUnknown.
"""

from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("pylaunchd")
PREFIX = "dbus:"


def _finder():
    try:
        from . import thirdparty  # noqa: F401 - optional: the third-party file reader
    except ImportError:
        return None
    return thirdparty


class TransientJobs:
    def __init__(self, system: bool, submit: Callable[[dict], object], unload: Callable[[str], None],
                 own_files: Callable[[], list[str]]):
        self.system = system
        self.submit = submit  # JobTable.submit
        self.unload = unload  # JobTable.unload
        self.own_files = own_files  # the .service files pylaunchd wrote (never a third party's)
        self.units: dict[str, str] = {}  # bus name -> the unit its file names

    def find(self, unit: str):
        """The installed file whose SystemdService= is *unit*, or None."""
        thirdparty = _finder()
        if thirdparty is None:
            return None
        dirs = thirdparty.system_service_dirs() if self.system else thirdparty.session_service_dirs()
        try:
            return thirdparty.find_unit(unit, dirs, exclude=self.own_files())
        except (OSError, ValueError) as e:
            log.warning("bus: looking for the file of unit %s: %s", unit, e)
            return None

    def start(self, unit: str) -> str | None:
        """Submit the job for *unit*'s file; the name it serves, or None when there is no such file."""
        entry = self.find(unit)
        if entry is None:
            return None
        # What it leaves running when its first process exits is its own (a daemonizing Exec=).
        raw = {"Label": PREFIX + entry.name, "ProgramArguments": list(entry.argv), "RunAtLoad": True,
               "AbandonProcessGroup": True, "MachServices": {entry.name: {"HideUntilCheckIn": True}}}
        if self.system and entry.user:
            raw["UserName"] = entry.user
        self.units[entry.name] = unit
        result = self.submit(raw)
        if not getattr(result, "ok", False):
            log.warning("bus: %s (%s): not started: %s", unit, entry.path, getattr(result, "message", result))
        else:
            log.info("bus: %s: running %s from %s as %s%s", unit, entry.command, entry.path, PREFIX, entry.name)
        return entry.name

    def ended(self, label: str) -> None:
        """A transient job's process ended: it goes, and comes back with the next request."""
        if label.startswith(PREFIX):
            self.unload(label)

    def unit_of(self, name: str) -> str:
        return self.units.get(name, name)
