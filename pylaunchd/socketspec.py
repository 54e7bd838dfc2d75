"""The ``Sockets`` part of a job's data model: what a socket is, as written in the plist.

Apart from :mod:`pylaunchd.jobspec` (which re-exports both) so that boot's
binder (:mod:`pylaunchd.boot`) creates sockets from its cache without
building the rest of the job's model: two small frozen dataclasses here
against about ten milliseconds for all of jobspec and its imports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SocketSpec:
    """One dictionary of a ``Sockets`` group, as written in the plist."""

    type: str = "stream"  # stream | dgram | seqpacket
    passive: bool = True
    family: str | None = None  # IPv4 | IPv6 | IPv4v6 | Unix | None (every resolved family)
    protocol: str | None = None  # TCP | UDP | None
    node: str | None = None
    service: str | None = None
    path: str | None = None
    path_mode: int | None = None
    path_owner: int | None = None
    path_group: int | None = None
    secure_key: str | None = None  # SecureSocketWithKey: the variable that exports the path
    multicast_group: str | None = None
    bonjour: tuple[str, ...] = ()

    @property
    def is_unix(self) -> bool:
        return self.path is not None or self.family == "Unix" or self.secure_key is not None


@dataclass(frozen=True, slots=True)
class SocketGroupSpec:
    """A named entry of ``Sockets``: one or more socket dictionaries."""

    name: str
    sockets: tuple[SocketSpec, ...]
