"""The ``Sockets`` part of a job's data model: what a socket is, as written in the plist.

Apart from :mod:`pylaunchd.jobspec` (which re-exports both) so that boot's
binder (:mod:`pylaunchd.boot`) creates sockets from its cache without
building the rest of the job's model. Frozen records
(:class:`pylaunchd.record.Record`), as the rest of the model.
"""

from __future__ import annotations

from .record import Record


class SocketSpec(Record):
    """One dictionary of a ``Sockets`` group, as written in the plist:
    ``type`` stream | dgram | seqpacket; ``family`` IPv4 | IPv6 | IPv4v6 |
    Unix | None (every resolved family); ``protocol`` TCP | UDP | None;
    ``secure_key`` (SecureSocketWithKey) the variable that exports the path."""

    type: str = "stream"
    passive: bool = True
    family: str | None = None
    protocol: str | None = None
    node: str | None = None
    service: str | None = None
    path: str | None = None
    path_mode: int | None = None
    path_owner: int | None = None
    path_group: int | None = None
    secure_key: str | None = None
    multicast_group: str | None = None
    bonjour: tuple[str, ...] = ()

    @property
    def is_unix(self) -> bool:
        return self.path is not None or self.family == "Unix" or self.secure_key is not None


class SocketGroupSpec(Record):
    """A named entry of ``Sockets``: one or more socket dictionaries."""

    name: str
    sockets: tuple[SocketSpec, ...]
