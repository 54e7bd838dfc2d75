"""systemd units as launchd jobs: a ``.socket`` with its service, a
``.service`` alone, a ``.timer`` or a ``.path`` with the service it starts.

:func:`import_unit` reads one unit (its companion service through ``read``)
and returns an :class:`~pylaunchd.importers.Imported`: the plist and a note
for every setting that has no launchd equivalent. :func:`companion` names the
service a ``.socket``, ``.timer`` or ``.path`` unit starts, so that a caller
given both files imports the pair once.
"""

from __future__ import annotations

import os
import re
from typing import Optional

from . import ConversionError, Imported, Reader
from .oncalendar import to_calendar
from .systemd_service import service_keys
from .unitfile import Unit, last, parse_unit, timespan

KINDS = (".service", ".socket", ".timer", ".path")
SOCK_TYPES = {"ListenStream": "stream", "ListenDatagram": "dgram", "ListenSequentialPacket": "seqpacket"}
UNIT_NOTES = {  # [Unit] keys worth a word; the rest are dependencies and conditions
    "Requires": "dependencies are not needed: every job's sockets exist before any job runs",
    "Wants": "dependencies are not needed: every job's sockets exist before any job runs",
    "After": "ordering is not needed: every job's sockets exist before any job runs",
}


def kind_of(path: str) -> Optional[str]:
    ext = os.path.splitext(path)[1]
    return ext if ext in KINDS else None


def _names(path: str) -> tuple[str, str, str]:
    """(unit name, its stem, the template prefix before '@')."""
    name = os.path.basename(path)
    stem = os.path.splitext(name)[0]
    return name, stem, stem.split("@", 1)[0]


def specifiers(text: str, path: str, notes: list[str]) -> str:
    """systemd's %-specifiers that do not depend on the running system."""
    name, stem, prefix = _names(path)
    instance = stem.split("@", 1)[1] if "@" in stem else ""
    table = {"n": name, "N": stem, "p": prefix, "P": prefix, "i": instance, "I": instance, "j": prefix,
             "t": "/run", "S": "/var/lib", "C": "/var/cache", "L": "/var/log", "E": "/etc", "%": "%"}
    unknown: set[str] = set()

    def sub(m: re.Match) -> str:
        if m.group(1) in table:
            return table[m.group(1)]
        unknown.add(m.group(1))
        return m.group(0)

    out = re.sub(r"%(.)", sub, text)
    for s in sorted(unknown):
        notes.append(f"{name}: the specifier %{s} depends on the running system: left as written")
    return out


def read_unit(path: str, text: str, notes: list[str]) -> Unit:
    return parse_unit(specifiers(text, path, notes))


def companion(path: str, text: str) -> Optional[str]:
    """The service file a .socket, .timer or .path unit starts (None for a .service)."""
    kind = kind_of(path)
    if kind in (None, ".service"):
        return None
    unit = parse_unit(text)
    section = {".socket": "Socket", ".timer": "Timer", ".path": "Path"}[kind]
    named = last(unit, section, "Service" if kind == ".socket" else "Unit")
    _name, stem, _prefix = _names(path)
    if named is None:
        accept = kind == ".socket" and (last(unit, "Socket", "Accept") or "no").lower() in ("yes", "true", "1", "on")
        named = f"{stem}@.service" if accept else f"{stem}.service"
    return os.path.join(os.path.dirname(path), named)


def import_unit(path: str, text: str, read: Reader, prefix: str = "") -> Imported:
    """One unit file as one launchd job; ConversionError when it cannot be one."""
    kind = kind_of(path)
    if kind is None:
        raise ConversionError(f"{path}: not a .service, .socket, .timer or .path unit")
    notes: list[str] = []
    unit = read_unit(path, text, notes)
    name, _stem, label_stem = _names(path)
    sources = [path]
    service, service_name = unit, name
    if kind != ".service":
        service_path = companion(path, text)
        service_text = read(service_path)
        if service_text is None:
            raise ConversionError(f"{path}: its service {service_path} cannot be read")
        service, service_name = read_unit(service_path, service_text, notes), os.path.basename(service_path)
        sources.append(service_path)
    plist: dict = {"Label": prefix + label_stem}
    plist.update(service_keys(service, service_name, read, notes))
    _unit_section(service, service_name, notes)
    if kind != ".service":
        _unit_section(unit, name, notes)
    if kind == ".service":
        _alone(service, plist, notes, service_name)
    else:
        _demanded(plist, notes, service_name)
        {".socket": _socket, ".timer": _timer, ".path": _path}[kind](unit, service, plist, notes, name)
    return Imported(plist["Label"], plist, notes, sources)


def _unit_section(unit: Unit, name: str, notes: list[str]) -> None:
    said: set[str] = set()
    for key in unit.get("Unit", {}):
        why = UNIT_NOTES.get(key)
        if key.startswith("Condition") or key.startswith("Assert"):
            why = "launchd has no start conditions: the job is loaded whatever it says"
        if why and why not in said:
            said.add(why)
            notes.append(f"{name}: {key}={last(unit, 'Unit', key)}: {why}")


def _alone(unit: Unit, plist: dict, notes: list[str], name: str) -> None:
    """A service with no socket or trigger: enabled (WantedBy) means started at load."""
    wanted = unit.get("Install", {}).get("WantedBy", []) + unit.get("Install", {}).get("RequiredBy", [])
    if wanted:
        plist["RunAtLoad"] = True
        notes.append(f"{name}: WantedBy={' '.join(wanted)}: as RunAtLoad true (started when loaded, as an "
                     f"enabled unit at boot)")
    elif "KeepAlive" not in plist:
        notes.append(f"{name}: no [Install] section: nothing starts the job but pylaunchctl start")


def _demanded(plist: dict, notes: list[str], name: str) -> None:
    """A triggered service: Restart= applies only once it was started on demand."""
    keep = plist.get("KeepAlive")
    if keep is None:
        return
    plist["KeepAlive"] = {"AfterInitialDemand": True, **({} if keep is True else keep)}


def _socket(unit: Unit, service: Unit, plist: dict, notes: list[str], name: str) -> None:
    sock = unit.get("Socket", {})
    key = last(unit, "Socket", "FileDescriptorName") or name
    entries = []
    for listen, values in sock.items():
        for value in values:
            if listen in SOCK_TYPES:
                entry = _address(value, SOCK_TYPES[listen], unit, notes, name)
                if entry is not None:
                    entries.append(entry)
            elif listen.startswith("Listen"):
                notes.append(f"{name}: {listen}={value}: launchd sockets are stream, datagram or seqpacket "
                             f"sockets: dropped")
    if not entries:
        raise ConversionError(f"{name}: no socket launchd can create")
    plist["Sockets"] = {key: entries[0] if len(entries) == 1 else entries}
    accept = (last(unit, "Socket", "Accept") or "no").lower() in ("yes", "true", "1", "on")
    if accept:
        plist["inetdCompatibility"] = {"Wait": False}
        if "KeepAlive" in plist:
            del plist["KeepAlive"]
            notes.append(f"{name}: Restart=: one process per connection is never restarted: dropped")
        maxconn = last(unit, "Socket", "MaxConnections")
        if maxconn:
            plist["inetdCompatibility"]["Instances"] = int(maxconn)
    elif last(service, "Service", "StandardInput") == "socket":
        plist["inetdCompatibility"] = {"Wait": True}
    handled = {"FileDescriptorName", "Accept", "MaxConnections", "SocketMode", "BindIPv6Only", "Service",
               *SOCK_TYPES}
    for k in sock:
        if k not in handled and not k.startswith("Listen"):
            notes.append(f"{name}: {k}={last(unit, 'Socket', k)}: no launchd socket key: dropped")


def _address(value: str, sock_type: str, unit: Unit, notes: list[str], name: str) -> Optional[dict]:
    entry: dict = {} if sock_type == "stream" else {"SockType": sock_type}
    if value.startswith("/"):
        entry["SockPathName"] = value
        mode = last(unit, "Socket", "SocketMode")
        if mode:
            entry["SockPathMode"] = int(mode, 8)
        return entry
    if value.startswith("@") or value.startswith("vsock:"):
        notes.append(f"{name}: {value}: abstract and vsock sockets have no launchd form: dropped")
        return None
    m = re.fullmatch(r"(?:\[([0-9A-Fa-f:.%\w]+)\]|(\d+\.\d+\.\d+\.\d+)):(\d+)|(\d+)", value)
    if not m:
        notes.append(f"{name}: {value}: not an address launchd can listen on: dropped")
        return None
    if m.group(4):
        entry["SockServiceName"] = m.group(4)
        if last(unit, "Socket", "BindIPv6Only") == "ipv6-only":
            entry["SockFamily"] = "IPv6"
        return entry
    entry["SockNodeName"] = m.group(1) or m.group(2)
    entry["SockServiceName"] = m.group(3)
    entry["SockFamily"] = "IPv6" if m.group(1) else "IPv4"
    return entry


def _timer(unit: Unit, service: Unit, plist: dict, notes: list[str], name: str) -> None:
    timer = unit.get("Timer", {})
    calendar: list[dict] = []
    for expr in timer.get("OnCalendar", []):
        entries, more = to_calendar(expr)
        notes += [f"{name}: OnCalendar={expr}: {n}" if not n.startswith("OnCalendar") else f"{name}: {n}"
                  for n in more]
        calendar += entries or []
    if calendar:
        plist["StartCalendarInterval"] = calendar[0] if len(calendar) == 1 else calendar
    for key in ("OnUnitActiveSec", "OnUnitInactiveSec"):
        span = timespan(last(unit, "Timer", key) or "")
        if span:
            plist["StartInterval"] = max(1, round(span))
            if plist["StartInterval"] < plist.get("ThrottleInterval", 10):  # launchd's default throttle
                plist["ThrottleInterval"] = plist["StartInterval"]
            notes.append(f"{name}: {key}={last(unit, 'Timer', key)}: as StartInterval (every "
                         f"{plist['StartInterval']} s from load, not from the last run)")
    for key in ("OnBootSec", "OnStartupSec", "OnActiveSec"):
        if last(unit, "Timer", key):
            plist["RunAtLoad"] = True
            notes.append(f"{name}: {key}={last(unit, 'Timer', key)}: as RunAtLoad true: launchd has no "
                         f"delay after load, the job runs at once")
    for key in timer:
        if key in ("RandomizedDelaySec", "AccuracySec", "Persistent", "WakeSystem", "RemainAfterElapse",
                   "FixedRandomDelay", "OnClockChange", "OnTimezoneChange"):
            why = {"Persistent": "launchd runs a firing missed while asleep on wake, not one missed while off"}.get(
                key, "no launchd equivalent: dropped")
            notes.append(f"{name}: {key}={last(unit, 'Timer', key)}: {why}")
    if not any(k in plist for k in ("StartCalendarInterval", "StartInterval", "RunAtLoad")):
        notes.append(f"{name}: no firing launchd can express: the job runs only on pylaunchctl start")


def _path(unit: Unit, service: Unit, plist: dict, notes: list[str], name: str) -> None:
    path = unit.get("Path", {})
    for p in path.get("PathExists", []):
        keep = plist.setdefault("KeepAlive", {})
        keep.setdefault("PathState", {})[p] = True
        keep.pop("AfterInitialDemand", None)
    watch = path.get("PathChanged", []) + path.get("PathModified", [])
    if watch:
        plist["WatchPaths"] = watch
        if path.get("PathModified"):
            notes.append(f"{name}: PathModified=: as WatchPaths, which also fires on a change without a write")
    if path.get("DirectoryNotEmpty"):
        plist["QueueDirectories"] = path["DirectoryNotEmpty"]
    for key in path:
        if key == "PathExistsGlob":
            notes.append(f"{name}: PathExistsGlob={last(unit, 'Path', key)}: launchd's PathState takes a path, "
                         f"not a pattern: dropped")
        elif key == "MakeDirectory":
            notes.append(f"{name}: MakeDirectory=: launchd creates no directory: create it before loading")
        elif key not in ("PathExists", "PathChanged", "PathModified", "DirectoryNotEmpty", "Unit"):
            notes.append(f"{name}: {key}={last(unit, 'Path', key)}: no launchd equivalent: dropped")
