"""Job specifications: the typed, immutable form of a launchd job plist.

``load_spec(path)`` reads a plist and ``validate(raw, path)`` turns its
dictionary into a :class:`JobSpec`. Every problem is reported with the file,
the key path (``Sockets.Listeners.SockServiceName``), what was expected and
what was found.

Errors make the job fail to load: a plist that is not a dictionary, no
``Label``, neither ``Program`` nor ``ProgramArguments``, or a value of the wrong
type for a key this version implements. Problems launchd itself tolerates
(unknown keys, a negative ``ThrottleInterval``, a non-string environment value)
become warnings: the job loads, and the warning is logged and shown by
``pylaunchctl print``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .calendar import CalendarError, CalendarInterval, validate_schedules
from .plist import read_plist
from .plistvalues import Problem, SpecError, describe
from .plistvalues import Reader as _Reader

DEFAULT_THROTTLE_INTERVAL = 10
DEFAULT_EXIT_TIMEOUT = 20


# --------------------------------------------------------------------------
# The parts of a job


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class SocketGroupSpec:
    """A named entry of ``Sockets``: one or more socket dictionaries."""

    name: str
    sockets: tuple[SocketSpec, ...]


@dataclass(frozen=True)
class KeepAliveSpec:
    """``KeepAlive``: ``always`` for ``true``; the dictionary's conditions
    otherwise, ORed."""

    always: bool = False
    successful_exit: bool | None = None
    crashed: bool | None = None
    path_state: tuple[tuple[str, bool], ...] = ()
    other_job_enabled: tuple[tuple[str, bool], ...] = ()
    other_job_active: tuple[tuple[str, bool], ...] = ()
    network_state: bool | None = None
    after_initial_demand: bool | None = None

    @property
    def implies_run_at_load(self) -> bool:
        return self.always or self.successful_exit is not None or self.crashed is not None

    @property
    def has_conditions(self) -> bool:
        return bool(self.always or self.successful_exit is not None or self.crashed is not None
                    or self.path_state or self.other_job_enabled or self.other_job_active
                    or self.network_state is not None or self.after_initial_demand is not None)


@dataclass(frozen=True)
class InetdSpec:
    wait: bool = False
    instances: int | None = None  # Wait false: most instances at once (None: the default, 128)


@dataclass(frozen=True)
class JobSpec:
    label: str
    path: str | None = field(compare=False)  # a renamed plist is the same job
    program: str | None
    arguments: tuple[str, ...]
    environment: tuple[tuple[str, str], ...] = ()
    working_directory: str | None = None
    stdin_path: str | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    umask: int | None = None
    nice: int | None = None
    run_at_load: bool = False
    keep_alive: KeepAliveSpec = KeepAliveSpec()
    throttle_interval: int = DEFAULT_THROTTLE_INTERVAL
    exit_timeout: int = DEFAULT_EXIT_TIMEOUT
    start_interval: int | None = None
    start_calendar: tuple[CalendarInterval, ...] = ()
    watch_paths: tuple[str, ...] = ()
    queue_directories: tuple[str, ...] = ()
    start_on_mount: bool = False
    launch_only_once: bool = False
    abandon_process_group: bool = False
    disabled: bool = False
    sockets: tuple[SocketGroupSpec, ...] = ()
    inetd: InetdSpec | None = None
    enable_globbing: bool = False
    user_name: str | None = None
    group_name: str | None = None
    init_groups: bool = True
    root_directory: str | None = None
    process_type: str | None = None  # Background | Standard | Adaptive | Interactive
    low_priority_io: bool = False
    low_priority_background_io: bool = False
    soft_limits: tuple[tuple[str, int], ...] = ()
    hard_limits: tuple[tuple[str, int], ...] = ()
    limit_load_to_hosts: tuple[str, ...] = ()
    limit_load_from_hosts: tuple[str, ...] = ()
    limit_load_to_session_type: tuple[str, ...] = ()
    # Not part of the job's identity: two specs that differ only here are equal.
    warnings: tuple[Problem, ...] = field(default=(), compare=False)  # each is also its text
    ignored_keys: tuple[str, ...] = field(default=(), compare=False)

    @property
    def executable(self) -> str:
        """The file to execute: ``Program``, else ``ProgramArguments[0]``."""
        return self.program if self.program is not None else self.arguments[0]

    @property
    def argv(self) -> tuple[str, ...]:
        """argv as launchd builds it: ``ProgramArguments``, else ``[Program]``."""
        return self.arguments if self.arguments else (self.program or "",)

    @property
    def search_path(self) -> bool:
        """Without ``Program``, ``ProgramArguments[0]`` is looked up on PATH."""
        return self.program is None

    @property
    def inetd_nowait(self) -> bool:
        return self.inetd is not None and not self.inetd.wait


# --------------------------------------------------------------------------
# Keys


# Keys this version implements.
SUPPORTED_KEYS = {
    "Label", "Program", "ProgramArguments", "EnvironmentVariables", "WorkingDirectory",
    "StandardInPath", "StandardOutPath", "StandardErrorPath", "RunAtLoad", "KeepAlive",
    "OnDemand", "ThrottleInterval", "ExitTimeOut", "Disabled", "Sockets",
    "inetdCompatibility", "Umask", "Nice", "StartInterval", "LaunchOnlyOnce",
    "AbandonProcessGroup", "UserName", "GroupName", "InitGroups", "RootDirectory",
    "EnableGlobbing", "StartCalendarInterval", "WatchPaths", "QueueDirectories",
    "StartOnMount", "SoftResourceLimits", "HardResourceLimits", "ProcessType",
    "LowPriorityIO", "LowPriorityBackgroundIO", "LimitLoadToHosts", "LimitLoadFromHosts",
    "LimitLoadToSessionType",
}

# launchd.plist(5) keys that are recognised but not acted on (yet, or ever on
# Linux), with the reason shown in the warning.
IGNORED_KEYS = {
    "LimitLoadToHardware": "macOS hw.* sysctl matching has no Linux equivalent",
    "LimitLoadFromHardware": "macOS hw.* sysctl matching has no Linux equivalent",
    "TimeOut": "no longer implemented by launchd either",
    "MachServices": "Mach ports do not exist on Linux",
    "LaunchEvents": "XPC event streams do not exist on Linux",
    "EnableTransactions": "XPC transactions do not exist on Linux",
    "EnablePressuredExit": "XPC transactions do not exist on Linux",
    "SessionCreate": "audit sessions do not exist on Linux",
    "Debug": "use pylaunchd --log-level debug",
    "WaitForDebugger": "not supported",
    "LegacyTimers": "timers are not coalesced by pylaunchd",
    "MaterializeDatalessFiles": "dataless files do not exist on Linux",
    "HopefullyExitsFirst": "no longer implemented by launchd either",
    "HopefullyExitsLast": "no longer implemented by launchd either",
    "ServiceIPC": "obsolete since Mac OS X 10.5",
    "BundleProgram": "app bundles do not exist on Linux",
    "AssociatedBundleIdentifiers": "app bundles do not exist on Linux",
    "UserEnvironmentVariables": "private launchd key",
    "POSIXSpawnType": "private launchd key",
    "ServiceDescription": "no longer relevant; launchd asks that it be removed",
    "SHAuthorizationRight": "no longer relevant; launchd asks that it be removed",
}

ALL_KEYS = SUPPORTED_KEYS | set(IGNORED_KEYS)
_BY_LOWER = {k.lower(): k for k in ALL_KEYS}

SOCKET_KEYS = {
    "SockType", "SockPassive", "SockNodeName", "SockServiceName", "SockFamily",
    "SockProtocol", "SockPathName", "SockPathMode",
}
SOCKET_KEYS |= {"SockPathOwner", "SockPathGroup", "SecureSocketWithKey", "MulticastGroup", "Bonjour"}
SOCKET_IGNORED_KEYS = {
    "ReceivePacketInfo": "undocumented launchd key",
}
_SOCKET_BY_LOWER = {k.lower(): k for k in SOCKET_KEYS | set(SOCKET_IGNORED_KEYS)}

KEEPALIVE_KEYS = ("SuccessfulExit", "Crashed", "PathState", "OtherJobEnabled", "OtherJobActive",
                  "NetworkState", "AfterInitialDemand")
_KEEPALIVE_BY_LOWER = {k.lower(): k for k in KEEPALIVE_KEYS}

RESOURCE_LIMITS = ("Core", "CPU", "Data", "FileSize", "MemoryLock", "NumberOfFiles",
                   "NumberOfProcesses", "ResidentSetSize", "Stack")
_LIMIT_BY_LOWER = {k.lower(): k for k in RESOURCE_LIMITS}
PROCESS_TYPES = ("Background", "Standard", "Adaptive", "Interactive")
SESSION_TYPES = ("Aqua", "Background", "LoginWindow", "StandardIO", "System")


def load_spec(path: str) -> JobSpec:
    """Read and validate the job plist at *path* (raises PlistError or SpecError)."""
    return validate(read_plist(path), os.path.abspath(path))


def validate(raw: Any, path: str = "<plist>") -> JobSpec:
    """Turn a plist's top-level object into a JobSpec."""
    r = _Reader(path)
    if not isinstance(raw, dict):
        r.error("", "a dictionary at the top level of the job plist", raw)

    keys: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in raw.items():
        canonical = r.canonical("", key, _BY_LOWER)
        if canonical is None:
            continue
        if canonical in IGNORED_KEYS:
            r.warn(canonical, f"accepted and ignored: {IGNORED_KEYS[canonical]}")
            ignored.append(canonical)
            continue
        keys[canonical] = value

    if "Label" not in keys:
        r.error("Label", "a string naming the job", found="no Label key")
    label = r.string("Label", keys["Label"])
    if not label or any(ord(c) < 32 or ord(c) == 127 for c in label):
        r.error("Label", "a non-empty string without control characters", label)
    if label.lower().startswith(("com.apple.launchd", "com.apple.launchctl")):
        r.error("Label", "a label without the reserved prefix com.apple.launchd", label)

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

    def opt_string(key: str) -> str | None:
        return r.string(key, keys[key]) if key in keys else None

    def opt_bool(key: str, default: bool = False) -> bool:
        return r.boolean(key, keys[key]) if key in keys else default

    def non_negative(key: str, default: int | None) -> int | None:
        if key not in keys:
            return default
        value = r.integer(key, keys[key])
        if value < 0:
            r.warn(key, f"{value} is less than zero; ignored (default {default})")
            return default
        return value

    keep_alive = _keep_alive(r, keys)
    umask = None
    if "Umask" in keys:
        umask = _umask(r, keys["Umask"])
    nice = None
    if "Nice" in keys:
        nice = r.integer("Nice", keys["Nice"])
        if not -20 <= nice <= 20:
            r.warn("Nice", f"{nice} is outside -20..20; ignored")
            nice = None
    start_interval = None
    if "StartInterval" in keys:
        start_interval = r.integer("StartInterval", keys["StartInterval"])
        if start_interval <= 0:
            r.warn("StartInterval", "is not greater than zero; ignored")
            start_interval = None

    inetd = None
    if "inetdCompatibility" in keys:
        d = r.dictionary("inetdCompatibility", keys["inetdCompatibility"])
        wait = False
        instances = None
        for k, v in d.items():
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
        inetd = InetdSpec(wait=wait, instances=instances)

    sockets = _sockets(r, keys["Sockets"]) if "Sockets" in keys else ()
    if inetd is not None and not sockets:
        r.warn("inetdCompatibility", "has no effect without Sockets")
    if inetd is not None and not inetd.wait and any(
            s.type == "dgram" for g in sockets for s in g.sockets):
        r.warn("inetdCompatibility.Wait", "false needs connections to accept; a datagram socket has none, "
                                          "so the job runs as Wait true (as inetd requires for dgram)")
        inetd = InetdSpec(wait=True, instances=inetd.instances)

    process = _process_keys(r, keys)
    triggers = _trigger_keys(r, keys)
    loader = _loader_keys(r, keys)

    disabled = False
    if "Disabled" in keys:
        if isinstance(keys["Disabled"], dict):
            r.warn("Disabled", "the hardware-matching dictionary form is not supported; treated as false")
        else:
            disabled = r.boolean("Disabled", keys["Disabled"])

    return JobSpec(
        label=label,
        path=path if path != "<plist>" else None,
        program=program,
        arguments=arguments,
        environment=tuple(environment),
        working_directory=opt_string("WorkingDirectory"),
        stdin_path=opt_string("StandardInPath"),
        stdout_path=opt_string("StandardOutPath"),
        stderr_path=opt_string("StandardErrorPath"),
        umask=umask,
        nice=nice,
        run_at_load=opt_bool("RunAtLoad"),
        keep_alive=keep_alive,
        throttle_interval=non_negative("ThrottleInterval", DEFAULT_THROTTLE_INTERVAL),
        exit_timeout=non_negative("ExitTimeOut", DEFAULT_EXIT_TIMEOUT),
        start_interval=start_interval,
        launch_only_once=opt_bool("LaunchOnlyOnce"),
        enable_globbing=opt_bool("EnableGlobbing"),
        abandon_process_group=opt_bool("AbandonProcessGroup") or inetd is not None,
        disabled=disabled,
        sockets=sockets,
        inetd=inetd,
        **process,
        **triggers,
        **loader,
        warnings=tuple(r.problems),
        ignored_keys=tuple(ignored),
    )


def _keep_alive(r: _Reader, keys: dict) -> KeepAliveSpec:
    if "KeepAlive" not in keys:
        if "OnDemand" in keys and r.boolean("OnDemand", keys["OnDemand"]) is False:
            return KeepAliveSpec(always=True)
        return KeepAliveSpec()
    value = keys["KeepAlive"]
    if isinstance(value, bool):
        return KeepAliveSpec(always=value)
    if not isinstance(value, dict):
        r.error("KeepAlive", "a boolean or a dictionary of conditions", value)
    fields: dict[str, Any] = {}
    for k, v in value.items():
        canonical = r.canonical("KeepAlive.", k, _KEEPALIVE_BY_LOWER)
        if canonical is None:
            continue
        where = f"KeepAlive.{canonical}"
        if canonical in ("PathState", "OtherJobEnabled", "OtherJobActive"):
            what = "path" if canonical == "PathState" else "label"
            if not isinstance(v, dict):
                r.warn(where, f"expected a dictionary of {what} => boolean, found {describe(v)}; "
                              f"ignored, as launchd does")
                continue
            pairs = []
            for name, want in v.items():
                if not isinstance(want, bool):
                    r.warn(f"{where}.{name}", f"expected a boolean, found {describe(want)}; ignored")
                elif canonical == "PathState" and not os.path.isabs(os.path.expanduser(name)):
                    r.warn(f"{where}.{name}", "expected an absolute path; ignored")
                else:
                    pairs.append((os.path.expanduser(name) if canonical == "PathState" else name, want))
            fields[{"PathState": "path_state", "OtherJobEnabled": "other_job_enabled",
                    "OtherJobActive": "other_job_active"}[canonical]] = tuple(pairs)
            continue
        if not isinstance(v, bool):
            r.warn(where, f"expected a boolean, found {describe(v)}; ignored, as launchd does")
            continue
        if canonical == "SuccessfulExit":
            fields["successful_exit"] = v
        elif canonical == "Crashed":
            fields["crashed"] = v
            if v is False:
                r.warn(where, "false restarts the job after every exit that is not a crash, "
                              "clean exits included")
        elif canonical == "NetworkState":
            fields["network_state"] = v
        elif canonical == "AfterInitialDemand":
            fields["after_initial_demand"] = v
    return KeepAliveSpec(**fields)


def _path_list(r: _Reader, key: str, value: Any) -> tuple[str, ...]:
    paths = []
    for i, p in enumerate(r.string_array(key, value)):
        p = os.path.expanduser(p)
        if not os.path.isabs(p):
            r.warn(f"{key}[{i}]", f'expected an absolute path, found string "{p}"; ignored')
        else:
            paths.append(os.path.normpath(p))
    return tuple(paths)


def _process_keys(r: _Reader, keys: dict) -> dict:
    """UserName, GroupName, InitGroups, RootDirectory, ProcessType, I/O priority, limits."""
    out: dict[str, Any] = {}
    for key, name in (("UserName", "user_name"), ("GroupName", "group_name"), ("RootDirectory", "root_directory")):
        if key in keys:
            out[name] = r.string(key, keys[key])
    if "InitGroups" in keys:
        out["init_groups"] = r.boolean("InitGroups", keys["InitGroups"])
    if "ProcessType" in keys:
        value = r.string("ProcessType", keys["ProcessType"])
        match = {t.lower(): t for t in PROCESS_TYPES}.get(value.lower())
        if match is None:
            r.warn("ProcessType", f'unknown value "{value}"; expected one of {", ".join(PROCESS_TYPES)}; ignored')
        else:
            out["process_type"] = match
    for key, name in (("LowPriorityIO", "low_priority_io"), ("LowPriorityBackgroundIO", "low_priority_background_io")):
        if key in keys:
            out[name] = r.boolean(key, keys[key])
    for key, name in (("SoftResourceLimits", "soft_limits"), ("HardResourceLimits", "hard_limits")):
        if key not in keys:
            continue
        limits = []
        for k, v in r.dictionary(key, keys[key]).items():
            canonical = r.canonical(f"{key}.", k, _LIMIT_BY_LOWER)
            if canonical is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int):
                r.warn(f"{key}.{canonical}", f"expected an integer, found {describe(v)}; ignored, as launchd does")
            elif v < 0:
                r.warn(f"{key}.{canonical}", f"{v} is negative; ignored")
            else:
                limits.append((canonical, v))
        out[name] = tuple(limits)
    return out


def _trigger_keys(r: _Reader, keys: dict) -> dict:
    """StartCalendarInterval, WatchPaths, QueueDirectories, StartOnMount."""
    out: dict[str, Any] = {}
    if "StartCalendarInterval" in keys:
        try:
            schedules, warnings = validate_schedules(keys["StartCalendarInterval"])
        except CalendarError as e:
            r.error(e.key_path, e.expected, found=e.found)
        r.problems.extend(warnings)
        out["start_calendar"] = tuple(schedules)
    if "WatchPaths" in keys:
        out["watch_paths"] = _path_list(r, "WatchPaths", keys["WatchPaths"])
    if "QueueDirectories" in keys:
        out["queue_directories"] = _path_list(r, "QueueDirectories", keys["QueueDirectories"])
    if "StartOnMount" in keys:
        out["start_on_mount"] = r.boolean("StartOnMount", keys["StartOnMount"])
    return out


def _loader_keys(r: _Reader, keys: dict) -> dict:
    """LimitLoadToHosts, LimitLoadFromHosts, LimitLoadToSessionType."""
    out: dict[str, Any] = {}
    for key, name in (("LimitLoadToHosts", "limit_load_to_hosts"), ("LimitLoadFromHosts", "limit_load_from_hosts")):
        if key in keys:
            out[name] = r.string_array(key, keys[key])
    if "LimitLoadToSessionType" in keys:
        value = keys["LimitLoadToSessionType"]
        types = (r.string("LimitLoadToSessionType", value),) if isinstance(value, str) else \
            r.string_array("LimitLoadToSessionType", value)
        known = {t.lower(): t for t in SESSION_TYPES}
        out_types = []
        for i, t in enumerate(types):
            if t.lower() not in known:
                r.warn(f"LimitLoadToSessionType[{i}]" if not isinstance(value, str) else "LimitLoadToSessionType",
                       f'unknown session type "{t}"; expected one of {", ".join(SESSION_TYPES)}')
            else:
                out_types.append(known[t.lower()])
        out["limit_load_to_session_type"] = tuple(out_types)
    return out


def _umask(r: _Reader, value: Any) -> int | None:
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


_SOCK_TYPES = {"stream": "stream", "dgram": "dgram", "seqpacket": "seqpacket"}
_SOCK_FAMILIES = {"ipv4": "IPv4", "ipv6": "IPv6", "ipv4v6": "IPv4v6", "unix": "Unix"}
_SOCK_PROTOCOLS = {"tcp": "TCP", "udp": "UDP"}


def _sockets(r: _Reader, value: Any) -> tuple[SocketGroupSpec, ...]:
    groups = r.dictionary("Sockets", value)
    out = []
    for name, entry in groups.items():
        where = f"Sockets.{name}"
        if not name:
            r.error(where, "a non-empty socket name", name)
        if ":" in name:
            r.error(where, "a socket name without ':' (LISTEN_FDNAMES separates names with ':')", name)
        if isinstance(entry, dict):
            dicts = [(where, entry)]
        elif isinstance(entry, list):
            if not entry:
                r.error(where, "a socket dictionary or a non-empty array of them", entry)
            dicts = [(f"{where}[{i}]", d) for i, d in enumerate(entry)]
        else:
            r.error(where, "a socket dictionary or an array of socket dictionaries", entry)
        out.append(SocketGroupSpec(name=name, sockets=tuple(_socket(r, w, d) for w, d in dicts)))
    return tuple(out)


def _socket(r: _Reader, where: str, d: Any) -> SocketSpec:
    d = r.dictionary(where, d)
    fields: dict[str, Any] = {}
    for k, v in d.items():
        canonical = r.canonical(f"{where}.", k, _SOCKET_BY_LOWER)
        if canonical is None:
            continue
        kp = f"{where}.{canonical}"
        if canonical in SOCKET_IGNORED_KEYS:
            r.warn(kp, f"accepted and ignored: {SOCKET_IGNORED_KEYS[canonical]}")
        elif canonical == "SockType":
            s = r.string(kp, v)
            if s.lower() not in _SOCK_TYPES:
                r.error(kp, "one of stream, dgram, seqpacket", v)
            fields["type"] = _SOCK_TYPES[s.lower()]
        elif canonical == "SockPassive":
            fields["passive"] = r.boolean(kp, v)
        elif canonical == "SockFamily":
            s = r.string(kp, v)
            if s.lower() not in _SOCK_FAMILIES:
                r.error(kp, "one of IPv4, IPv6, IPv4v6, Unix", v)
            fields["family"] = _SOCK_FAMILIES[s.lower()]
        elif canonical == "SockProtocol":
            s = r.string(kp, v)
            if s.lower() not in _SOCK_PROTOCOLS:
                r.error(kp, "one of TCP, UDP", v)
            fields["protocol"] = _SOCK_PROTOCOLS[s.lower()]
        elif canonical == "SockNodeName":
            fields["node"] = r.string(kp, v)
        elif canonical == "SockServiceName":
            if isinstance(v, int) and not isinstance(v, bool):
                if not 0 <= v <= 65535:
                    r.error(kp, "a port number from 0 to 65535", v)
                fields["service"] = str(v)
            elif isinstance(v, str) and v:
                fields["service"] = v
            else:
                r.error(kp, "a port number or a service name from /etc/services", v)
        elif canonical == "SockPathName":
            path = r.string(kp, v)
            if not path:
                r.error(kp, "a path for the unix socket", v)
            if len(os.fsencode(path)) > 107:
                r.error(kp, "a path of at most 107 bytes (the kernel's limit for unix sockets)",
                        found=f"{len(os.fsencode(path))} bytes")
            fields["path"] = path
        elif canonical == "SockPathMode":
            mode = r.integer(kp, v)
            if not 0 <= mode <= 0o177777:
                r.error(kp, "a file mode, written in decimal (438 for 0666)", v)
            if mode > 0o777 and mode & 0o170000 == 0 and set(str(mode)) <= set("01234567"):
                r.warn(kp, f"{mode} looks like an octal mode written in decimal; plists are decimal: "
                           f"did you mean 0{mode} (write {int(str(mode), 8)})?")
            fields["path_mode"] = mode & 0o7777
        elif canonical in ("SockPathOwner", "SockPathGroup"):
            ident = r.integer(kp, v)
            if ident < 0:
                r.error(kp, "a numeric user or group id", v)
            fields["path_owner" if canonical == "SockPathOwner" else "path_group"] = ident
        elif canonical == "SecureSocketWithKey":
            name = r.string(kp, v)
            if not name or "=" in name or "\0" in name:
                r.error(kp, "the name of an environment variable (such as SSH_AUTH_SOCK)", v)
            fields["secure_key"] = name
        elif canonical == "MulticastGroup":
            fields["multicast_group"] = r.string(kp, v)
        elif canonical == "Bonjour":
            if isinstance(v, bool):
                fields["bonjour"] = ("",) if v else ()
            elif isinstance(v, str):
                fields["bonjour"] = (v,)
            else:
                fields["bonjour"] = r.string_array(kp, v)
            if fields["bonjour"]:
                r.warn(kp, "accepted and not advertised: pylaunchd has no mDNS responder client yet "
                           "(Avahi's D-Bus API would be the way); the socket works as usual")
    if "secure_key" in fields:
        if "path" in fields:
            r.warn(where, "SecureSocketWithKey is set: SockPathName is ignored (a fresh private path is made)")
            fields.pop("path")
        fields.pop("service", None)
        fields.pop("node", None)
        fields["family"] = "Unix"
    elif "path" in fields:
        if fields.get("family") not in (None, "Unix"):
            r.error(f"{where}.SockFamily", "Unix (or no SockFamily) with SockPathName", fields["family"])
        if "service" in fields or "node" in fields:
            r.warn(where, "SockPathName is set: SockNodeName and SockServiceName are ignored")
            fields.pop("service", None)
            fields.pop("node", None)
        fields["family"] = "Unix"
    elif fields.get("family") == "Unix":
        r.error(f"{where}.SockPathName", "a path for a socket of family Unix", found="no SockPathName")
    elif "service" not in fields:
        r.error(f"{where}.SockServiceName", "a port or service name (or SockPathName for a unix socket)",
                found="neither key")
    if fields.get("protocol") == "UDP" and fields.get("type", "stream") == "stream":
        fields["type"] = "dgram"
    if "multicast_group" in fields and fields.get("type", "stream") != "dgram":
        r.error(f"{where}.SockType", "dgram with MulticastGroup", fields.get("type", "stream"))
    return SocketSpec(**fields)


def label_from_file(path: str) -> str | None:
    """Best effort: the Label of a plist, or None if it cannot be read."""
    try:
        raw = read_plist(path)
    except Exception:
        return None
    if isinstance(raw, dict):
        for k, v in raw.items():
            if isinstance(k, str) and k.lower() == "label" and isinstance(v, str):
                return v
    return None
