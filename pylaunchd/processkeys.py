"""As whom and how a job's process runs, and where the job may load.

``UserName``, ``GroupName``, ``InitGroups``, ``RootDirectory``, ``ProcessType``,
the I/O priorities and the resource limits (read by :mod:`pylaunchd.spawn`),
and the ``LimitLoadTo*``/``LimitLoadFrom*`` keys (read by :mod:`pylaunchd.domain`).
Each reader returns the :class:`~pylaunchd.jobspec.JobSpec` fields of its keys.
"""

from __future__ import annotations

from . import jobkeys
from .plistvalues import Reader, describe

TYPE_CHECKING = False  # typing is not imported on the way to the first spawn
if TYPE_CHECKING:
    from typing import Any

    Fields = dict[str, Any]
    Keys = dict[str, Any]

__all__ = ["read_process_keys", "read_loader_keys"]


def read_process_keys(r: Reader, keys: Keys) -> Fields:
    """UserName, GroupName, InitGroups, RootDirectory, ProcessType, I/O priority, limits."""
    out: Fields = {}
    for key, name in (("UserName", "user_name"), ("GroupName", "group_name"), ("RootDirectory", "root_directory")):
        if key in keys:
            out[name] = r.string(key, keys[key])
    if "InitGroups" in keys:
        out["init_groups"] = r.boolean("InitGroups", keys["InitGroups"])
    ptype = "ProcessType" if "ProcessType" in keys else "POSIXSpawnType"  # launchd reads both alike
    if ptype in keys:
        value = r.string(ptype, keys[ptype])
        match = {t.lower(): t for t in jobkeys.PROCESS_TYPES}.get(value.lower())
        if match is None:
            r.warn(ptype, f'unknown value "{value}"; expected one of {", ".join(jobkeys.PROCESS_TYPES)}; '
                          f'ignored')
        else:
            out["process_type"] = match
    for key, name in (("LowPriorityIO", "low_priority_io"), ("LowPriorityBackgroundIO", "low_priority_background_io")):
        if key in keys:
            out[name] = r.boolean(key, keys[key])
    for key, name in (("SoftResourceLimits", "soft_limits"), ("HardResourceLimits", "hard_limits")):
        if key in keys:
            out[name] = _limits(r, key, keys[key])
    return out


def _limits(r: Reader, key: str, value: Any) -> tuple[tuple[str, int], ...]:
    limits = []
    for k, v in r.dictionary(key, value).items():
        canonical = r.canonical(f"{key}.", k, jobkeys.LIMIT_BY_LOWER)
        if canonical is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int):
            r.warn(f"{key}.{canonical}", f"expected an integer, found {describe(v)}; ignored, as launchd does")
        elif v < 0:
            r.warn(f"{key}.{canonical}", f"{v} is negative; ignored")
        else:
            limits.append((canonical, v))
    return tuple(limits)


def read_loader_keys(r: Reader, keys: Keys) -> Fields:
    """LimitLoadToHosts, LimitLoadFromHosts, LimitLoadToSessionType."""
    out: Fields = {}
    for key, name in (("LimitLoadToHosts", "limit_load_to_hosts"), ("LimitLoadFromHosts", "limit_load_from_hosts")):
        if key in keys:
            out[name] = r.string_array(key, keys[key])
    if "LimitLoadToSessionType" in keys:
        value = keys["LimitLoadToSessionType"]
        types = (r.string("LimitLoadToSessionType", value),) if isinstance(value, str) else \
            r.string_array("LimitLoadToSessionType", value)
        known = {t.lower(): t for t in jobkeys.SESSION_TYPES}
        out_types = []
        for i, t in enumerate(types):
            if t.lower() not in known:
                r.warn(f"LimitLoadToSessionType[{i}]" if not isinstance(value, str) else "LimitLoadToSessionType",
                       f'unknown session type "{t}"; expected one of {", ".join(jobkeys.SESSION_TYPES)}')
            else:
                out_types.append(known[t.lower()])
        out["limit_load_to_session_type"] = tuple(out_types)
    return out
