"""The launchd.plist(5) keys pylaunchd knows: implemented, or accepted and ignored.

Tables only, no code: :mod:`pylaunchd.validate` reads a job with them, and
``docs/`` can point here for the list. The keys of one socket dictionary are
in :mod:`pylaunchd.socketkeys`, next to their readers. Keys match
case-insensitively, as in launchd; the ``*_BY_LOWER`` maps give the canonical
spelling.
"""

from __future__ import annotations

# Keys this version implements.
SUPPORTED_KEYS = {
    "Label", "Program", "ProgramArguments", "EnvironmentVariables", "WorkingDirectory",
    "StandardInPath", "StandardOutPath", "StandardErrorPath", "RunAtLoad", "KeepAlive",
    "OnDemand", "ThrottleInterval", "ExitTimeOut", "Disabled", "Sockets",
    "inetdCompatibility", "Umask", "Nice", "StartInterval", "LaunchOnlyOnce",
    "AbandonProcessGroup", "UserName", "GroupName", "InitGroups", "RootDirectory",
    "EnableGlobbing", "StartCalendarInterval", "WatchPaths", "QueueDirectories",
    "StartOnMount", "SoftResourceLimits", "HardResourceLimits", "ProcessType",
    "POSIXSpawnType",  # launchd reads it exactly as ProcessType (which wins when both are given)
    "LowPriorityIO", "LowPriorityBackgroundIO", "LimitLoadToHosts", "LimitLoadFromHosts",
    "LimitLoadToSessionType",
    "MachServices",  # as D-Bus well-known names (pylaunchd/bus/, docs/plist-keys.md)
    "WatchdogInterval",  # pylaunchd's own: systemd's WatchdogSec (docs/plist-keys.md)
}

# launchd.plist(5) keys that are recognised but not acted on (yet, or ever on
# Linux), with the reason shown in the warning.
IGNORED_KEYS = {
    "LimitLoadToHardware": "macOS hw.* sysctl matching has no Linux equivalent",
    "LimitLoadFromHardware": "macOS hw.* sysctl matching has no Linux equivalent",
    "TimeOut": "no longer implemented by launchd either",
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
    "JetsamProperties": "memory-pressure (jetsam) limits do not exist on Linux; see SoftResourceLimits",
    "MultipleInstances": "XPC service instances do not exist on Linux",
    "BeginTransactionAtShutdown": "XPC transactions do not exist on Linux",
    "ServiceDescription": "no longer relevant; launchd asks that it be removed",
    "SHAuthorizationRight": "no longer relevant; launchd asks that it be removed",
}

ALL_KEYS = SUPPORTED_KEYS | set(IGNORED_KEYS)
BY_LOWER = {k.lower(): k for k in ALL_KEYS}

KEEPALIVE_KEYS = ("SuccessfulExit", "Crashed", "PathState", "OtherJobEnabled", "OtherJobActive",
                  "NetworkState", "AfterInitialDemand")
KEEPALIVE_BY_LOWER = {k.lower(): k for k in KEEPALIVE_KEYS}

RESOURCE_LIMITS = ("Core", "CPU", "Data", "FileSize", "MemoryLock", "NumberOfFiles",
                   "NumberOfProcesses", "ResidentSetSize", "Stack")
LIMIT_BY_LOWER = {k.lower(): k for k in RESOURCE_LIMITS}
PROCESS_TYPES = ("Background", "Standard", "Adaptive", "Interactive")
SESSION_TYPES = ("Aqua", "Background", "LoginWindow", "StandardIO", "System")
