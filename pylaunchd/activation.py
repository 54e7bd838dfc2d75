"""The job-side API: get the sockets pylaunchd created for this job.

pylaunchd hands sockets over with systemd's protocol (fds from 3,
``LISTEN_FDS``, ``LISTEN_PID``, ``LISTEN_FDNAMES``), so any sd_listen_fds-aware
program works unchanged. Python jobs can use this module instead:

    from pylaunchd.activation import activate_socket

    [server] = activate_socket("Listeners")   # the name of the Sockets entry
    while True:
        conn, addr = server.accept()
        ...

:func:`activate_socket` is the analog of launchd's ``launch_activate_socket``
and fails as it does, with an :class:`ActivationError` (an ``OSError``) whose
errno is ``ENOENT`` (no socket of that name), ``ESRCH`` (this process is not
managed by pylaunchd) or ``EALREADY`` (that name was already activated in this
process). A name may map to several sockets (IPv4 and IPv6, or an array in the
plist): handle them all.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket

SD_LISTEN_FDS_START = 3

__all__ = ["ActivationError", "activate_socket", "listen_fds", "SD_LISTEN_FDS_START"]


class ActivationError(OSError):
    """Raised by activate_socket and listen_fds; ``errno`` says why."""


_sockets: dict[str, list[socket.socket]] | None = None
_activated: set[str] = set()


def _not_managed(why: str) -> ActivationError:
    return ActivationError(errno.ESRCH, f"This process is not managed by pylaunchd ({why})")


def listen_fds() -> dict[str, list[socket.socket]]:
    """Every socket handed to this process, by socket name, in fd order.

    The fds are made close-on-exec, as sd_listen_fds does, and wrapped once:
    later calls return the same socket objects.
    """
    global _sockets
    if _sockets is not None:
        return _sockets
    pid = os.environ.get("LISTEN_PID")
    count = os.environ.get("LISTEN_FDS")
    if pid is None or count is None:
        raise _not_managed("LISTEN_PID and LISTEN_FDS are not set")
    try:
        pid_ok = int(pid) == os.getpid()
        n = int(count)
    except ValueError:
        raise _not_managed(f"LISTEN_PID={pid!r} LISTEN_FDS={count!r} are not numbers") from None
    if not pid_ok:
        raise _not_managed(f"LISTEN_PID is {pid}, this process is {os.getpid()}")
    names = os.environ.get("LISTEN_FDNAMES", "")
    name_list = names.split(":") if names else []
    if len(name_list) != n:
        name_list = (name_list + ["unknown"] * n)[:n]
    result: dict[str, list[socket.socket]] = {}
    for i in range(n):
        fd = SD_LISTEN_FDS_START + i
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFD)
            fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
            sock = socket.socket(fileno=fd)
        except OSError as e:
            raise ActivationError(e.errno or errno.EBADF, f"fd {fd} named {name_list[i]!r}: {e.strerror}") from None
        result.setdefault(name_list[i], []).append(sock)
    _sockets = result
    return result


def activate_socket(name: str) -> list[socket.socket]:
    """The sockets of the ``Sockets`` entry *name*; once per name per process."""
    sockets = listen_fds()
    if name not in sockets:
        known = ", ".join(sorted(sockets)) or "none"
        raise ActivationError(errno.ENOENT, f"There was no socket named {name!r} (this job has: {known})")
    if name in _activated:
        raise ActivationError(errno.EALREADY, f"The socket {name!r} has already been activated")
    _activated.add(name)
    return list(sockets[name])
