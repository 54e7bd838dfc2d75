"""The ``[Service]`` section of a systemd unit as launchd keys.

:func:`service_keys` returns the plist keys of the process (ProgramArguments,
environment, identity, KeepAlive, limits, output) and appends a note for
each setting that has no launchd equivalent. Pure: files the unit names
(``EnvironmentFile=``) are read through the caller's ``read``.
"""

from __future__ import annotations

import re
from typing import Optional

from . import ConversionError, Reader
from .unitfile import Unit, last, split_command, split_words, timespan

LIMITS = {"LimitCPU": "CPU", "LimitFSIZE": "FileSize", "LimitDATA": "Data", "LimitSTACK": "Stack",
          "LimitCORE": "Core", "LimitRSS": "ResidentSetSize", "LimitNOFILE": "NumberOfFiles",
          "LimitNPROC": "NumberOfProcesses", "LimitMEMLOCK": "MemoryLock"}
RESTART = {  # Restart= -> KeepAlive, and what differs
    "always": (True, None),
    "on-success": ({"SuccessfulExit": True}, None),
    "on-failure": ({"SuccessfulExit": False}, None),
    "on-abnormal": ({"Crashed": True}, "launchd's Crashed restarts after a crash signal only, "
                                       "not after other signals or timeouts"),
    "on-abort": ({"Crashed": True}, "launchd's Crashed also counts SIGILL, SIGFPE, SIGBUS, SIGSEGV, SIGSYS, SIGTRAP"),
    "on-watchdog": (None, "there is no watchdog in launchd: the job is not restarted"),
    "no": (None, None),
}
TYPES = {
    "oneshot": "launchd has no 'activating' state and no RemainAfterExit: the job runs once per start, "
               "and nothing waits for it to finish",
    "notify": "launchd has no readiness protocol (no NOTIFY_SOCKET): the job counts as started once spawned; "
              "a program that requires sd_notify must be run without it",
    "forking": "launchd expects the program to stay in the foreground: run it with its foreground option, "
               "or its daemon is killed with its process group when the parent exits",
    "dbus": "no bus name is awaited: the job counts as started once spawned",
    "idle": "no wait for other jobs: it starts at once",
}
SANDBOX = re.compile(r"^(Protect|Private|Restrict|ReadOnly|ReadWrite|Inaccessible|NoExecPaths|ExecPaths|Capability|"
                     r"AmbientCapabilities|SystemCall|NoNewPrivileges|SecureBits|LockPersonality|MemoryDeny|"
                     r"DevicePolicy|DeviceAllow|IPAddress|Bind|TemporaryFileSystem|Mount|Keyring|Personality)")
HANDLED = {"ExecStart", "Environment", "EnvironmentFile", "WorkingDirectory", "User", "Group", "Restart",
           "RestartSec", "TimeoutStopSec", "TimeoutSec", "StandardOutput", "StandardError", "StandardInput",
           "Nice", "UMask", "Type", "KillMode", "IOSchedulingClass", "RootDirectory", *LIMITS}


def service_keys(unit: Unit, name: str, read: Reader, notes: list[str]) -> dict:
    """The launchd keys of *unit*'s [Service] section ({} of keys without one)."""
    svc = unit.get("Service", {})

    def note(key: str, what: str) -> None:
        notes.append(f"{name}: {key}={last(unit, 'Service', key) or ''}: {what}")

    keys: dict = {}
    env = _environment(unit, name, read, notes)
    if env:
        keys["EnvironmentVariables"] = env
    keys.update(_command(unit, name, env, note))
    _identity(unit, keys, note)
    _lifecycle(unit, keys, note)
    _output(unit, keys, note)
    _limits(unit, keys, note)
    for key in svc:
        if key in HANDLED:
            continue
        if SANDBOX.match(key):
            note(key, "sandboxing has no launchd equivalent: dropped, the job runs unconfined")
        elif key in ("RuntimeDirectory", "StateDirectory", "CacheDirectory", "LogsDirectory",
                     "ConfigurationDirectory"):
            note(key, "launchd creates no directory: create it before the job runs")
        elif key.startswith("Exec"):
            note(key, f"launchd runs one command: {key} is dropped (run it yourself, or wrap ExecStart in a script)")
        else:
            note(key, "no launchd equivalent: dropped")
    return keys


def _environment(unit: Unit, name: str, read: Reader, notes: list[str]) -> dict:
    env: dict[str, str] = {}
    for path in unit.get("Service", {}).get("EnvironmentFile", []):
        optional = path.startswith("-")
        path = path.lstrip("-")
        text = read(path)
        if text is None:
            if not optional:
                notes.append(f"{name}: EnvironmentFile={path}: cannot be read: its variables are missing")
            continue
        env.update(parse_env_file(text))
        notes.append(f"{name}: EnvironmentFile={path}: read now into EnvironmentVariables (launchd reads no "
                     f"environment files): import again after editing it")
    for line in unit.get("Service", {}).get("Environment", []):
        for word in split_words(line):
            if "=" in word:
                k, v = word.split("=", 1)
                env[k] = v
    return env


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=value`` lines, ``#`` comments, quoted values (systemd's EnvironmentFile)."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        k, v = line.split("=", 1)
        k = k.strip().removeprefix("export ").strip()
        words = split_words(v.strip())
        env[k] = " ".join(words) if words else ""
    return env


def _command(unit: Unit, name: str, env: dict, note) -> dict:
    lines = unit.get("Service", {}).get("ExecStart", [])
    if not lines:
        raise ConversionError(f"{name}: no ExecStart=: nothing to run")
    if len(lines) > 1:
        note("ExecStart", f"{len(lines)} ExecStart= lines (Type=oneshot): launchd runs one command; "
                          f"they are run in turn by /bin/sh -c")
    commands = [split_command(line, env) for line in lines]
    for prefixes, _exe, _argv, missing in commands:
        for var in sorted(set(missing)):
            note("ExecStart", f"${var} is set by nothing imported: it expands to nothing, as in systemd")
        if "-" in prefixes:
            note("ExecStart", "the '-' prefix (a failure counts as success) has no launchd equivalent")
        if "+" in prefixes or "!" in prefixes:
            note("ExecStart", "the '+'/'!' prefixes (privileges) have no launchd equivalent: the job runs as "
                              "UserName says")
    if len(commands) > 1:
        script = " && ".join(" ".join(_sh_quote(a) for a in argv) for _p, _e, argv, _m in commands)
        return {"ProgramArguments": ["/bin/sh", "-c", script]}
    _prefixes, exe, argv, _missing = commands[0]
    keys: dict = {"ProgramArguments": argv}
    if exe is not None:
        keys["Program"] = exe
    return keys


def _sh_quote(arg: str) -> str:
    return arg if re.fullmatch(r"[\w@%+=:,./-]+", arg) else "'" + arg.replace("'", "'\\''") + "'"


def _identity(unit: Unit, keys: dict, note) -> None:
    for key, plist_key in (("User", "UserName"), ("Group", "GroupName"), ("RootDirectory", "RootDirectory")):
        value = last(unit, "Service", key)
        if value:
            keys[plist_key] = value
    wd = last(unit, "Service", "WorkingDirectory")
    if wd:
        if wd.lstrip("-") == "~":
            note("WorkingDirectory", "~ (the user's home): launchd has no such value; the job runs in /")
        else:
            keys["WorkingDirectory"] = wd.lstrip("-")
    umask = last(unit, "Service", "UMask")
    if umask:
        keys["Umask"] = int(umask, 8)
    nice = last(unit, "Service", "Nice")
    if nice:
        keys["Nice"] = int(nice)
    if last(unit, "Service", "IOSchedulingClass") in ("idle", "3"):
        keys["LowPriorityIO"] = True


def _seconds(value: Optional[str]) -> Optional[float]:
    return None if value is None else timespan(value)


def _lifecycle(unit: Unit, keys: dict, note) -> None:
    restart = last(unit, "Service", "Restart") or "no"
    keep, why = RESTART.get(restart, (None, "unknown value: not restarted"))
    if keep is not None:
        keys["KeepAlive"] = keep
    if why:
        note("Restart", why)
    rsec = _seconds(last(unit, "Service", "RestartSec"))
    if keep is not None:  # systemd's RestartSec defaults to 100 ms; launchd's throttle is whole seconds
        keys["ThrottleInterval"] = max(1, round(rsec or 0))
        if rsec is not None:
            note("RestartSec", "as ThrottleInterval: launchd counts it from the previous start, not from the exit")
    stop = _seconds(last(unit, "Service", "TimeoutStopSec") or last(unit, "Service", "TimeoutSec"))
    if stop is not None:
        keys["ExitTimeOut"] = 0 if stop == float("inf") else max(1, round(stop))
    kind = last(unit, "Service", "Type")
    if kind in TYPES:
        note("Type", TYPES[kind])
    if last(unit, "Service", "KillMode") in ("process", "none"):
        keys["AbandonProcessGroup"] = True
        note("KillMode", "as AbandonProcessGroup true: the rest of the process group is not signalled "
                         "when the main process exits")
    elif last(unit, "Service", "KillMode") == "mixed":
        note("KillMode", "launchd signals the main process, then its process group once it exited")


def _output(unit: Unit, keys: dict, note) -> None:
    for key, plist_key in (("StandardOutput", "StandardOutPath"), ("StandardError", "StandardErrorPath"),
                           ("StandardInput", "StandardInPath")):
        value = last(unit, "Service", key)
        if not value:
            continue
        m = re.fullmatch(r"(file|append|truncate):(.+)", value)
        if m:
            keys[plist_key] = m.group(2)
            if m.group(1) != "append":
                note(key, f"launchd always appends to {m.group(2)}")
        elif value == "null":
            keys[plist_key] = "/dev/null"
        elif value in ("socket", "inherit") or (key == "StandardError" and value == "inherit"):
            continue  # socket: see inetdCompatibility; inherit: where stdout goes
        elif value in ("journal", "syslog", "kmsg", "journal+console", "syslog+console", "kmsg+console"):
            note(key, "the output goes to the job's log (pylaunchctl log) instead")
        else:
            note(key, "no launchd equivalent: the job's log (pylaunchctl log) is used")
    if "StandardOutPath" in keys and "StandardErrorPath" not in keys and \
            last(unit, "Service", "StandardError") in (None, "inherit"):
        keys["StandardErrorPath"] = keys["StandardOutPath"]


def _limit_value(key: str, text: str) -> Optional[int]:
    if text == "infinity":
        return None
    if key == "LimitCPU":
        span = timespan(text)
        return None if span is None else int(span)
    m = re.fullmatch(r"(\d+)([KMGTPE]?)", text)
    if not m:
        return None
    return int(m.group(1)) * 1024 ** " KMGTPE".index(m.group(2) or " ")


def _limits(unit: Unit, keys: dict, note) -> None:
    for key, plist_key in LIMITS.items():
        value = last(unit, "Service", key)
        if not value:
            continue
        soft, _, hard = value.partition(":")
        for text, table in ((soft, "SoftResourceLimits"), (hard or soft, "HardResourceLimits")):
            number = _limit_value(key, text)
            if number is None:
                note(key, f"{text!r}: left unlimited (launchd's limits are numbers)")
                continue
            keys.setdefault(table, {})[plist_key] = number
