"""The ``MachServices`` key: a dictionary of D-Bus names to ``true`` or to a
dictionary of ``HideUntilCheckIn`` and ``ResetAtClose``.

As launchd tolerates values of the right type it cannot use, a name that is
not a valid well-known name, a ``false`` value and the Mach-only sub-keys are
warnings with their key path, and the rest of the job loads. A value of a
wrong type is an error, as for every other key.
"""

from __future__ import annotations

from ..jobspec import BusNameSpec
from ..plistvalues import Reader, describe
from .names import name_problem

TYPE_CHECKING = False  # typing is not imported on the way to the first spawn
if TYPE_CHECKING:
    from typing import Any

SUB_KEYS = ("HideUntilCheckIn", "ResetAtClose")
_SUB_BY_LOWER = {k.lower(): k for k in SUB_KEYS}
# launchd.plist(5)'s sub-keys that only mean something to Mach.
MACH_ONLY = ("HostSpecialPort", "TaskSpecialPort", "ExceptionServer", "DrainMessagesOnCrash",
             "DrainMessagesAfterFailedInit", "PingEventUpdates")
_MACH_BY_LOWER = {k.lower(): k for k in MACH_ONLY}


def read_mach_services(r: Reader, value: Any) -> tuple[BusNameSpec, ...]:
    names = []
    for name, entry in r.dictionary("MachServices", value).items():
        where = f"MachServices.{name}"
        problem = name_problem(name)
        if problem is not None:
            r.warn(where, f"not a D-Bus well-known name: {problem}; ignored")
            continue
        if entry is False:
            r.warn(where, "false does not advertise the name; ignored")
            continue
        if entry is True:
            names.append(BusNameSpec(name))
            continue
        if not isinstance(entry, dict):
            r.error(where, "true, or a dictionary of HideUntilCheckIn and ResetAtClose", entry)
        names.append(_entry(r, where, name, entry))
    return tuple(names)


def _entry(r: Reader, where: str, name: str, entry: dict) -> BusNameSpec:
    flags = {"HideUntilCheckIn": False, "ResetAtClose": False}
    for k, v in entry.items():
        if isinstance(k, str) and k.lower() in _MACH_BY_LOWER:
            r.warn(f"{where}.{k}", "a Mach-only sub-key, with no meaning for a D-Bus name; ignored")
            continue
        canonical = r.canonical(f"{where}.", k, _SUB_BY_LOWER)
        if canonical is None:
            continue
        if not isinstance(v, bool):
            r.warn(f"{where}.{canonical}", f"expected a boolean, found {describe(v)}; ignored")
            continue
        flags[canonical] = v
    return BusNameSpec(name, hide_until_check_in=flags["HideUntilCheckIn"], reset_at_close=flags["ResetAtClose"])
