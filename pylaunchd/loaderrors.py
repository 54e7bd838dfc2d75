"""The watched plists that did not load, and why.

:class:`LoadErrors` keeps one record per plist of a watched directory whose
last load failed (not a plist, a wrong type, unsafe ownership, a socket in
use, a label already loaded from another file, a file still half written):
its file, its label when one could be read, the key path and the message.
``pylaunchctl errors``, ``list``, ``print DOMAIN`` and ``print``/``blame``
of the label show them. A record goes when its file loads (or is disabled,
or kept out of the domain: no longer an error) or is removed.

Pure bookkeeping: the job table decides when to record and clear.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadError:
    path: str
    label: str | None  # None when not even the Label could be read
    reason: str  # the load's outcome: invalid, bad permissions, in use, socket error, no label
    key_path: str  # where in the plist ("" for the whole file)
    message: str  # without the file name
    other_path: str | None = None  # in use: the plist the label is loaded from


def strip_path(path: str, message: str) -> str:
    """*message* without a leading ``PATH: ``."""
    prefix = f"{path}: "
    return message[len(prefix):] if message.startswith(prefix) else message


class LoadErrors:
    def __init__(self) -> None:
        self._by_path: dict[str, LoadError] = {}

    def record(self, error: LoadError) -> bool:
        """Keep *error* for its file; True when it is new or different."""
        new = self._by_path.get(error.path) != error
        self._by_path[error.path] = error
        return new

    def __contains__(self, path: str) -> bool:
        return path in self._by_path

    def clear(self, path: str) -> LoadError | None:
        return self._by_path.pop(path, None)

    def prune(self) -> None:
        """Forget the records of files that are gone."""
        for path in [p for p in self._by_path if not os.path.lexists(p)]:
            del self._by_path[path]

    def all(self) -> list[LoadError]:
        return [self._by_path[p] for p in sorted(self._by_path)]

    def for_label(self, label: str) -> LoadError | None:
        """The record of a file defining *label*, or named after it
        (``LABEL.plist``, for a file whose Label could not be read)."""
        named = None
        for e in self.all():
            if e.label == label:
                return e
            if e.label is None and os.path.basename(e.path) == f"{label}.plist":
                named = e
        return named

    def waiting_for(self, label: str) -> list[str]:
        """The files refused because *label* was already loaded from another."""
        return [e.path for e in self.all() if e.label == label and e.other_path is not None]
