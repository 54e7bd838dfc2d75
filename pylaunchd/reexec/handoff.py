"""What crosses a re-exec besides the state file: inherited descriptors.

The old manager names, in one environment variable (:data:`ENV`), the state
file and every descriptor it hands over: the control socket and its lock
file, the notify socket, each job socket, each job output pipe. Only these
lose close-on-exec, and only for the exec (:func:`inheritable`); the new
manager takes the variable out of its environment at once (jobs never see
it), sets close-on-exec on them again and builds an
:class:`InheritedSockets` pool, from which :mod:`pylaunchd.boot` and the job
table take each listening socket by its address instead of binding it
(:func:`pylaunchd.sockets.create_groups`). The pool needs no state file: a
state that cannot be read still finds every socket by address.

Standard library only: boot.py imports this before the heavy modules.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field

from ..prebound import address_key as _key

ENV = "PYLAUNCHD_REEXEC"
STATE_FILE = "reexec.json"


@dataclass
class Handoff:
    """The descriptors and file one re-exec hands over."""

    state_path: str
    control_fd: int
    lock_fd: int
    notify_fd: int | None = None
    socket_fds: list[int] = field(default_factory=list)
    secure: dict[int, str] = field(default_factory=dict)  # fd -> SecureSocketWithKey variable
    pipe_fds: list[int] = field(default_factory=list)
    generation: int = 1  # how many re-execs this manager has made, this one included
    requested_at: float | None = None  # CLOCK_MONOTONIC of the request (the pause is measured from it)
    exec_at: float | None = None  # CLOCK_MONOTONIC just before the execve

    def fds(self) -> list[int]:
        fixed = [self.control_fd, self.lock_fd] + ([self.notify_fd] if self.notify_fd is not None else [])
        return fixed + self.socket_fds + self.pipe_fds

    def to_env(self) -> str:
        data = dict(vars(self))
        data["secure"] = {str(k): v for k, v in self.secure.items()}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_env(cls, text: str) -> "Handoff":
        data = json.loads(text)
        data["secure"] = {int(k): v for k, v in data.get("secure", {}).items()}
        return cls(**data)


def inheritable(fds: list[int], on: bool) -> None:
    """Clear (or set again) close-on-exec on exactly these descriptors."""
    for fd in fds:
        try:
            os.set_inheritable(fd, on)
        except OSError:
            pass


def only_these_inheritable(fds: list[int]) -> None:
    """Set close-on-exec on every descriptor above 2 but *fds*: a library's
    descriptor opened without it (watchdog's inotify) must not pile up in
    the manager, one per re-exec."""
    keep = set(fds)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass  # the directory's own descriptor, closed already


def take_from_environment() -> Handoff | None:
    """The handoff of the re-exec that started this process, or None. The
    variable leaves the environment, and the descriptors are close-on-exec
    again, before anything else runs."""
    text = os.environ.pop(ENV, None)
    if not text:
        return None
    try:
        handoff = Handoff.from_env(text)
    except (ValueError, TypeError):
        return None
    handoff.socket_fds = [fd for fd in handoff.socket_fds if _is_open(fd)]
    handoff.pipe_fds = [fd for fd in handoff.pipe_fds if _is_open(fd)]
    inheritable(handoff.fds(), False)
    return handoff


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


class InheritedSockets:
    """The listening sockets a re-exec handed over, by address; each is
    taken once. What no job takes is closed by :meth:`close_rest` (its file,
    if any, is left: another manager's bind would clear a stale one)."""

    def __init__(self, fds: list[int], secure: dict[int, str] | None = None):
        self._by_address: dict[tuple, socket.socket] = {}
        self._secure: dict[tuple[str, str], socket.socket] = {}
        for fd in fds:
            try:
                sock = socket.socket(fileno=fd)
                name = sock.getsockname()
            except OSError:
                continue
            key = secure.get(fd) if secure else None
            if key is not None:
                self._secure[(key, os.path.basename(name))] = sock
            else:
                self._by_address[_key(sock.family, sock.type, name)] = sock

    def take(self, family: int, type_: int, address) -> socket.socket | None:
        try:
            return self._by_address.pop(_key(family, type_, address), None)
        except (OSError, ValueError):
            return None

    def take_secure(self, key: str, name: str) -> socket.socket | None:
        return self._secure.pop((key, name), None)

    def __len__(self) -> int:
        return len(self._by_address) + len(self._secure)

    def close_rest(self) -> list[str]:
        """Close every socket no job took; their addresses, for the log."""
        left = list(self._by_address.values()) + list(self._secure.values())
        self._by_address.clear()
        self._secure.clear()
        names = []
        for sock in left:
            try:
                names.append(str(sock.getsockname()))
            except OSError:
                pass
            sock.close()
        return names
