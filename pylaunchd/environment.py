"""The domain's environment: what every job of the domain gets beside its own
``EnvironmentVariables``.

Two sources, as in launchd: the variables of every loaded job's
``SecureSocketWithKey`` socket (exported to the whole domain, so that a
client job finds the agent's socket), and ``pylaunchctl setenv``. A job's own
``EnvironmentVariables`` still win; ``setenv`` applies to jobs started from
then on.
"""

from __future__ import annotations

import logging
from typing import Iterable

from .sockets import SocketGroup, exported_environment

log = logging.getLogger("pylaunchd")


class DomainEnvironment:
    """Cost: a job's sockets changing costs only that job's exports (most
    jobs have none), never a walk over every job of the domain."""

    def __init__(self) -> None:
        self.exported: dict[str, str] = {}  # SecureSocketWithKey variables, merged
        self.user: dict[str, str] = {}  # pylaunchctl setenv
        self._by_job: dict[str, dict[str, str]] = {}  # label -> its exported variables

    def job_env(self) -> dict[str, str]:
        """What the domain adds to a new process's environment (a fresh dict)."""
        return {**self.user, **self.exported}

    def setenv(self, key: str, value: str) -> None:
        self.user[key] = value

    def unsetenv(self, key: str) -> None:
        self.user.pop(key, None)

    def job_sockets(self, label: str, groups: Iterable[SocketGroup] | None) -> None:
        """Job *label* now has these socket groups (None: it is gone)."""
        exports = exported_environment(list(groups or ()))
        if exports == self._by_job.get(label, {}):
            return
        if exports:
            self._by_job[label] = exports
        else:
            self._by_job.pop(label, None)
        merged: dict[str, str] = {}
        for job_exports in self._by_job.values():
            merged.update(job_exports)
        for k in sorted(set(merged) | set(self.exported)):
            if merged.get(k) != self.exported.get(k):
                log.info("domain environment: %s=%s", k, merged.get(k, "(unset)"))
        self.exported = merged
