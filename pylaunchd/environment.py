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
    def __init__(self) -> None:
        self.exported: dict[str, str] = {}  # SecureSocketWithKey variables
        self.user: dict[str, str] = {}  # pylaunchctl setenv

    def job_env(self) -> dict[str, str]:
        """What the domain adds to a new process's environment (a fresh dict)."""
        return {**self.user, **self.exported}

    def setenv(self, key: str, value: str) -> None:
        self.user[key] = value

    def unsetenv(self, key: str) -> None:
        self.user.pop(key, None)

    def update_exported(self, groups: Iterable[list[SocketGroup]]) -> None:
        """Recompute the exported variables from every loaded job's socket groups."""
        exported: dict[str, str] = {}
        for g in groups:
            exported.update(exported_environment(g))
        if exported != self.exported:
            for k in sorted(set(exported) | set(self.exported)):
                if exported.get(k) != self.exported.get(k):
                    log.info("domain environment: %s=%s", k, exported.get(k, "(unset)"))
            self.exported = exported
