"""Validation: a plist's dictionary in, a :class:`~pylaunchd.jobspec.JobSpec` out.

:func:`validate` is a short driver over one reader per group of keys
(:data:`_GROUPS`). Each reader takes the :class:`~pylaunchd.plistvalues.Reader`
and the top-level keys (canonical spelling) and returns the ``JobSpec`` fields
of its group. A wrong type raises :class:`~pylaunchd.plistvalues.SpecError`;
what launchd tolerates becomes a warning on the reader.

The groups run in a fixed order, and that order is part of the behaviour: it
decides the order of the warnings and, in a plist with several errors, which
one :func:`validate` reports. :func:`check` runs every group even after an
error, so ``pylaunchctl lint`` shows one error per group of keys.

The ``Sockets`` dictionary is read by :mod:`pylaunchd.socketkeys`, the
process's identity and limits by :mod:`pylaunchd.processkeys`,
``StartCalendarInterval`` by :mod:`pylaunchd.triggers.calendar`, the key tables are in
:mod:`pylaunchd.jobkeys`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass


from . import jobkeys
from .triggers.calendar import CalendarError, validate_schedules
from .jobspec import DEFAULT_EXIT_TIMEOUT, DEFAULT_THROTTLE_INTERVAL, InetdSpec, JobSpec, KeepAliveSpec
from .plist import read_plist
from .plistvalues import Problem, Reader, SpecError, describe
from .processkeys import read_loader_keys, read_process_keys
from .socketkeys import read_sockets
from .bus.keys import read_mach_services

TYPE_CHECKING = False  # typing is not imported on the way to the first spawn
if TYPE_CHECKING:
    from typing import Any, Callable

    Fields = dict[str, Any]
    Keys = dict[str, Any]

__all__ = ["validate", "check", "Checked", "load_spec"]

_CONTROL = re.compile("[\x00-\x1f\x7f]")


def load_spec(path: str) -> JobSpec:
    """Read and validate the job plist at *path* (raises PlistError or SpecError)."""
    return validate(read_plist(path), os.path.abspath(path))


def validate(raw: Any, path: str = "<plist>") -> JobSpec:
    """Turn a plist's top-level object into a JobSpec (raises the first SpecError)."""
    checked = _run(raw, path, keep_going=False)
    if checked.errors:
        raise checked.errors[0]
    assert checked.spec is not None
    return checked.spec


@dataclass(frozen=True)
class Checked:
    """What :func:`check` found: the spec (None after an error), every error, the warnings."""

    spec: JobSpec | None
    errors: tuple[SpecError, ...]
    warnings: tuple[Problem, ...]


def check(raw: Any, path: str = "<plist>") -> Checked:
    """Like :func:`validate`, but report the first error of every group of keys."""
    return _run(raw, path, keep_going=True)


def _run(raw: Any, path: str, keep_going: bool) -> Checked:
    r = Reader(path)
    errors: list[SpecError] = []
    fields: Fields = {}
    try:
        keys, ignored = _top_level(r, raw)
    except SpecError as e:
        return Checked(None, (e,), tuple(r.problems))
    for group in _GROUPS:
        try:
            fields.update(group(r, keys))
        except SpecError as e:
            errors.append(e)
            if not keep_going:
                break
    if errors:
        return Checked(None, tuple(errors), tuple(r.problems))
    fields["abandon_process_group"] = fields["abandon_process_group"] or fields["inetd"] is not None
    spec = JobSpec(path=path if path != "<plist>" else None, **fields,
                   warnings=tuple(r.problems), ignored_keys=ignored)
    return Checked(spec, (), spec.warnings)


def _top_level(r: Reader, raw: Any) -> tuple[Keys, tuple[str, ...]]:
    """The known keys in canonical spelling, and the launchd keys that are ignored."""
    if not isinstance(raw, dict):
        r.error("", "a dictionary at the top level of the job plist", raw)
    keys: Keys = {}
    ignored: list[str] = []
    for key, value in raw.items():
        canonical = r.canonical("", key, jobkeys.BY_LOWER)
        if canonical is None:
            continue
        if canonical in jobkeys.IGNORED_KEYS:
            r.warn(canonical, f"accepted and ignored: {jobkeys.IGNORED_KEYS[canonical]}")
            ignored.append(canonical)
            continue
        keys[canonical] = value
    return keys, tuple(ignored)


# --------------------------------------------------------------------------
# What runs, and where


def _label(r: Reader, keys: Keys) -> Fields:
    if "Label" not in keys:
        r.error("Label", "a string naming the job", found="no Label key")
    label = r.string("Label", keys["Label"])
    if not label or _CONTROL.search(label):
        r.error("Label", "a non-empty string without control characters", label)
    if label.lower().startswith(("com.apple.launchd", "com.apple.launchctl")):
        r.error("Label", "a label without the reserved prefix com.apple.launchd", label)
    return {"label": label}


def _program(r: Reader, keys: Keys) -> Fields:
    program = None
    if "Program" in keys:
        program = r.string("Program", keys["Program"])
        if not program.startswith("/"):
            r.error("Program", "an absolute path (launchd does not search PATH for Program)", program)
    arguments: tuple[str, ...] = ()
    if "ProgramArguments" in keys:
        arguments = r.string_array("ProgramArguments", keys["ProgramArguments"])
    if program is None and not arguments:
        r.error("ProgramArguments", "Program, or a non-empty ProgramArguments array",
                found="an empty array" if "ProgramArguments" in keys else "neither key")
    if program is None and not arguments[0]:
        r.error("ProgramArguments[0]", "the program to run", arguments[0])
    return {"program": program, "arguments": arguments}


def _environment(r: Reader, keys: Keys) -> Fields:
    environment: list[tuple[str, str]] = []
    if "EnvironmentVariables" in keys:
        env = r.dictionary("EnvironmentVariables", keys["EnvironmentVariables"])
        for name, value in env.items():
            if not isinstance(value, str):
                r.warn(f"EnvironmentVariables.{name}", f"expected a string, found {describe(value)}; ignored")
            elif not name or "=" in name or "\0" in name:
                r.warn(f"EnvironmentVariables.{name}", "not a valid variable name; ignored")
            else:
                environment.append((name, value))
    return {"environment": tuple(environment)}


def _files_and_flags(r: Reader, keys: Keys) -> Fields:
    """Plain strings, booleans and the two timeouts (read last, as they always were)."""
    out: Fields = {}
    for key, name in (("WorkingDirectory", "working_directory"), ("StandardInPath", "stdin_path"),
                      ("StandardOutPath", "stdout_path"), ("StandardErrorPath", "stderr_path")):
        out[name] = r.string(key, keys[key]) if key in keys else None
    out["run_at_load"] = _flag(r, keys, "RunAtLoad")
    out["throttle_interval"] = _non_negative(r, keys, "ThrottleInterval", DEFAULT_THROTTLE_INTERVAL)
    out["exit_timeout"] = _non_negative(r, keys, "ExitTimeOut", DEFAULT_EXIT_TIMEOUT)
    out["watchdog_interval"] = _non_negative(r, keys, "WatchdogInterval", 0)
    for key, name in (("LaunchOnlyOnce", "launch_only_once"), ("EnableGlobbing", "enable_globbing"),
                      ("AbandonProcessGroup", "abandon_process_group")):
        out[name] = _flag(r, keys, key)
    return out


def _flag(r: Reader, keys: Keys, key: str) -> bool:
    return r.boolean(key, keys[key]) if key in keys else False


def _non_negative(r: Reader, keys: Keys, key: str, default: int) -> int:
    if key not in keys:
        return default
    value = r.integer(key, keys[key])
    if value < 0:
        r.warn(key, f"{value} is less than zero; ignored (default {default})")
        return default
    return value


# --------------------------------------------------------------------------
# Numbers, inetd and sockets


def _numbers(r: Reader, keys: Keys) -> Fields:
    """Umask, Nice, StartInterval: out of range is a warning, and the key is ignored."""
    out: Fields = {"umask": _umask(r, keys["Umask"]) if "Umask" in keys else None, "nice": None,
                   "start_interval": None}
    if "Nice" in keys:
        nice = r.integer("Nice", keys["Nice"])
        if not -20 <= nice <= 20:
            r.warn("Nice", f"{nice} is outside -20..20; ignored")
        else:
            out["nice"] = nice
    if "StartInterval" in keys:
        start_interval = r.integer("StartInterval", keys["StartInterval"])
        if start_interval <= 0:
            r.warn("StartInterval", "is not greater than zero; ignored")
        else:
            out["start_interval"] = start_interval
    return out


def _umask(r: Reader, value: Any) -> int | None:
    if isinstance(value, str):
        try:
            value = int(value, 0) if not (len(value) > 1 and value.startswith("0") and value.isdigit()) else int(value, 8)
        except ValueError:
            r.error("Umask", "an integer, or a string in any base (\"022\", \"0o22\")", value)
    umask = r.integer("Umask", value)
    if not 0 <= umask <= 0o777:
        r.warn("Umask", f"{umask} is outside 0..511 (0o777); ignored")
        return None
    return umask


def _inetd_and_sockets(r: Reader, keys: Keys) -> Fields:
    """inetdCompatibility, Sockets and MachServices: the job's endpoints."""
    inetd = _inetd(r, keys["inetdCompatibility"]) if "inetdCompatibility" in keys else None
    sockets = read_sockets(r, keys["Sockets"]) if "Sockets" in keys else ()
    if inetd is not None and not sockets:
        r.warn("inetdCompatibility", "has no effect without Sockets")
    if inetd is not None and not inetd.wait and any(
            s.type == "dgram" for g in sockets for s in g.sockets):
        r.warn("inetdCompatibility.Wait", "false needs connections to accept; a datagram socket has none, "
                                          "so the job runs as Wait true (as inetd requires for dgram)")
        inetd = InetdSpec(wait=True, instances=inetd.instances)
    mach = read_mach_services(r, keys["MachServices"]) if "MachServices" in keys else ()
    return {"inetd": inetd, "sockets": sockets, "mach_services": mach}


def _inetd(r: Reader, value: Any) -> InetdSpec:
    wait = False
    instances = None
    for k, v in r.dictionary("inetdCompatibility", value).items():
        if isinstance(k, str) and k.lower() == "wait":
            wait = r.boolean("inetdCompatibility.Wait", v)
        elif isinstance(k, str) and k.lower() == "instances":
            # Seen in Apple's own ssh plist; launchd's source never reads it.
            # pylaunchd: the most per-connection instances at once.
            instances = r.integer("inetdCompatibility.Instances", v)
            if instances < 1:
                r.warn("inetdCompatibility.Instances", f"{instances} is less than 1; the default (128) applies")
                instances = None
        else:
            r.warn(f"inetdCompatibility.{k}", "unknown key, ignored")
    return InetdSpec(wait=wait, instances=instances)


# --------------------------------------------------------------------------
# KeepAlive


_PAIR_FIELDS = {"PathState": "path_state", "OtherJobEnabled": "other_job_enabled",
                "OtherJobActive": "other_job_active"}
_BOOL_FIELDS = {"SuccessfulExit": "successful_exit", "Crashed": "crashed", "NetworkState": "network_state",
                "AfterInitialDemand": "after_initial_demand"}


def _keep_alive(r: Reader, keys: Keys) -> Fields:
    if "KeepAlive" not in keys:
        if "OnDemand" in keys and r.boolean("OnDemand", keys["OnDemand"]) is False:
            return {"keep_alive": KeepAliveSpec(always=True)}
        return {"keep_alive": KeepAliveSpec()}
    value = keys["KeepAlive"]
    if isinstance(value, bool):
        return {"keep_alive": KeepAliveSpec(always=value)}
    if not isinstance(value, dict):
        r.error("KeepAlive", "a boolean or a dictionary of conditions", value)
    fields: Fields = {}
    for k, v in value.items():
        canonical = r.canonical("KeepAlive.", k, jobkeys.KEEPALIVE_BY_LOWER)
        if canonical is None:
            continue
        where = f"KeepAlive.{canonical}"
        if canonical in _PAIR_FIELDS:
            pairs = _condition_pairs(r, where, canonical, v)
            if pairs is not None:
                fields[_PAIR_FIELDS[canonical]] = pairs
        elif not isinstance(v, bool):
            r.warn(where, f"expected a boolean, found {describe(v)}; ignored, as launchd does")
        else:
            fields[_BOOL_FIELDS[canonical]] = v
            if canonical == "Crashed" and v is False:
                r.warn(where, "false restarts the job after every exit that is not a crash, "
                              "clean exits included")
    return {"keep_alive": KeepAliveSpec(**fields)}


def _condition_pairs(r: Reader, where: str, canonical: str, v: Any) -> tuple[tuple[str, bool], ...] | None:
    """PathState, OtherJobEnabled, OtherJobActive: name => boolean (None: ignored)."""
    what = "path" if canonical == "PathState" else "label"
    if not isinstance(v, dict):
        r.warn(where, f"expected a dictionary of {what} => boolean, found {describe(v)}; "
                      f"ignored, as launchd does")
        return None
    pairs = []
    for name, want in v.items():
        if not isinstance(want, bool):
            r.warn(f"{where}.{name}", f"expected a boolean, found {describe(want)}; ignored")
        elif canonical == "PathState" and not os.path.isabs(os.path.expanduser(name)):
            r.warn(f"{where}.{name}", "expected an absolute path; ignored")
        else:
            pairs.append((os.path.expanduser(name) if canonical == "PathState" else name, want))
    return tuple(pairs)


# --------------------------------------------------------------------------
# Triggers and the rest


def _trigger_keys(r: Reader, keys: Keys) -> Fields:
    """StartCalendarInterval, WatchPaths, QueueDirectories, StartOnMount."""
    out: Fields = {}
    if "StartCalendarInterval" in keys:
        try:
            schedules, warnings = validate_schedules(keys["StartCalendarInterval"])
        except CalendarError as e:
            r.error(e.key_path, e.expected, found=e.found)
        r.problems.extend(warnings)
        out["start_calendar"] = schedules
    if "WatchPaths" in keys:
        out["watch_paths"] = _path_list(r, "WatchPaths", keys["WatchPaths"])
    if "QueueDirectories" in keys:
        out["queue_directories"] = _path_list(r, "QueueDirectories", keys["QueueDirectories"])
    if "StartOnMount" in keys:
        out["start_on_mount"] = r.boolean("StartOnMount", keys["StartOnMount"])
    return out


def _path_list(r: Reader, key: str, value: Any) -> tuple[str, ...]:
    paths = []
    for i, p in enumerate(r.string_array(key, value)):
        p = os.path.expanduser(p)
        if not os.path.isabs(p):
            r.warn(f"{key}[{i}]", f'expected an absolute path, found string "{p}"; ignored')
        else:
            paths.append(os.path.normpath(p))
    return tuple(paths)


def _disabled(r: Reader, keys: Keys) -> Fields:
    if "Disabled" not in keys:
        return {"disabled": False}
    if isinstance(keys["Disabled"], dict):
        r.warn("Disabled", "the hardware-matching dictionary form is not supported; treated as false")
        return {"disabled": False}
    return {"disabled": r.boolean("Disabled", keys["Disabled"])}


# The order of the messages (see the module docstring).
_GROUPS: tuple[Callable[[Reader, Keys], Fields], ...] = (
    _label, _program, _environment, _keep_alive, _numbers, _inetd_and_sockets,
    read_process_keys, _trigger_keys, read_loader_keys, _disabled, _files_and_flags,
)
