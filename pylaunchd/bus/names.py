"""D-Bus names, service files and activation errors: pure rules, no bus.

What ``MachServices`` becomes on Linux (docs/plist-keys.md): each key is a
D-Bus well-known name, made activatable by a ``NAME.service`` file whose
``SystemdService=`` is the job's label, so that a ``--systemd-activation``
dbus-daemon asks pylaunchd (the owner of ``org.freedesktop.systemd1``) to
start the job. When the job cannot take its name, the callers get
dbus-daemon's own error names for a failed classic start.

Standard library only: the plist reader (:mod:`pylaunchd.bus.keys`) and
pylaunchctl's renderers use it; jeepney is never imported here.
"""

from __future__ import annotations

import signal

# The names pylaunchd itself speaks for, which no job may claim.
BUS_DRIVER = "org.freedesktop.DBus"
ACTIVATOR = "org.freedesktop.systemd1"  # the name dbus-daemon sends ActivationRequest to
RESERVED = frozenset({BUS_DRIVER, ACTIVATOR})

# dbus-daemon's error names (dbus-protocol.h), as its classic activation gives them.
CHILD_EXITED = "org.freedesktop.DBus.Error.Spawn.ChildExited"
CHILD_SIGNALED = "org.freedesktop.DBus.Error.Spawn.ChildSignaled"
EXEC_FAILED = "org.freedesktop.DBus.Error.Spawn.ExecFailed"
SERVICE_UNKNOWN = "org.freedesktop.DBus.Error.ServiceUnknown"
UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"

_ELEMENT_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")  # no re: boot reads these
_ELEMENT_REST = _ELEMENT_FIRST | frozenset("0123456789")
MAX_NAME = 255


def name_problem(name: str) -> str | None:
    """Why *name* is not a well-known bus name a job may serve, or None."""
    if not name:
        return "an empty name"
    if len(name) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    if name in RESERVED:
        return f"{name} is the bus's own name" if name == BUS_DRIVER else f"{name} is pylaunchd's own name on the bus"
    if name.startswith(":"):
        return "a unique connection name (:1.N), not a well-known name"
    parts = name.split(".")
    if len(parts) < 2:
        return "a single element; a bus name has two or more, separated by dots (org.example.Service)"
    for part in parts:
        if not part:
            return "an empty element (two dots, or a dot at an end)"
        if part[0] not in _ELEMENT_FIRST or not _ELEMENT_REST.issuperset(part):
            return (f'element "{part}" has a character other than A-Z a-z 0-9 _ -' if not part[0].isdigit()
                    else f'element "{part}" starts with a digit')
    return None


def service_file_name(name: str) -> str:
    """The file dbus-daemon reads for *name*: ``NAME.service`` exactly (its
    runtime directory is searched by file name, not by content)."""
    return f"{name}.service"


def service_file_text(name: str, label: str, user: str | None = None) -> str:
    """A ``.service`` file routing *name* to job *label*. ``Exec=`` is required
    by dbus-daemon and never run: with ``SystemdService=`` it asks the activator.
    The unit it asks for is the name itself, not the label: the request then
    says which name a caller waits on (the job's start reason, each name's
    count), and a failure is sent for exactly the names still waited on."""
    lines = ["# Written by pylaunchd for the job " + label + "; removed when the job is unloaded.",
             "[D-BUS Service]", f"Name={name}", "Exec=/bin/false", f"SystemdService={name}"]
    if user:
        lines.append(f"User={user}")
    return "\n".join(lines) + "\n"


def failure_for_exit(label: str, code: int | None, sig: int | None) -> tuple[str, str]:
    """(error name, message) for a job whose process ended before it owned a name."""
    if sig is not None:
        try:
            signame = signal.Signals(sig).name
        except ValueError:
            signame = f"signal {sig}"
        return CHILD_SIGNALED, f"Process {label} received signal {sig} ({signame}) before it took its bus name"
    return CHILD_EXITED, f"Process {label} exited with status {code} before it took its bus name"


def failure_for_spawn(label: str, why: str) -> tuple[str, str]:
    return EXEC_FAILED, f"Failed to execute program {label}: {why}"


def failure_unknown(label: str, domain: str, why: str = "") -> tuple[str, str]:
    return SERVICE_UNKNOWN, f'Could not find service "{label}" in domain {domain}{why}'
