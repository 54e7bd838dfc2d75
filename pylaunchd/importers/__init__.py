"""Other supervisors' configuration, turned into launchd job plists.

``pylaunchctl import`` is their front end; these modules are pure: they take
the text of the files (and a ``read(path)`` function for the files a
configuration names: a unit's companions, an ``EnvironmentFile``, a
supervisord ``[include]``) and return :class:`Imported` records: the plist
dictionary and one note for every setting that has no launchd equivalent,
saying what was done instead.

* :mod:`.unitfile` -- systemd's unit-file syntax: sections, continuation
  lines, repeated keys, command lines, time spans (standard library only);
* :mod:`.systemd` -- ``.socket``, ``.service``, ``.timer`` and ``.path`` units;
* :mod:`.systemd_service` -- the ``[Service]`` section;
* :mod:`.oncalendar` -- ``OnCalendar=`` to ``StartCalendarInterval``;
* :mod:`.supervisord` -- ``[program:x]``, ``[fcgi-program:x]``, ``[include]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

Reader = Callable[[str], Optional[str]]  # a file's text, or None when it cannot be read


@dataclass
class Imported:
    """One launchd job made from another supervisor's configuration."""

    label: str
    plist: dict
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # the files it was made from

    def to_json(self) -> dict:
        return {"label": self.label, "sources": self.sources, "plist": self.plist, "comments": self.notes}


class ConversionError(Exception):
    """A file that cannot be turned into a job at all (no command, unreadable)."""


def no_files(path: str) -> Optional[str]:
    """A reader that finds nothing: for converting one text alone."""
    return None
