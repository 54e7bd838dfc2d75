"""The readiness socket's address and its bind, without the event loop.

:class:`~pylaunchd.notify.NotifySocket` reads the socket; this module only
names and binds it, so that boot (:mod:`pylaunchd.bootspawn`) can give the
jobs it starts before the loop is imported the same ``NOTIFY_SOCKET`` as
every later job, and hand the bound socket to the manager.
"""

from __future__ import annotations

import os
import socket


def notify_address(control_socket: str) -> str:
    """Beside the control socket, or an abstract name when that path is too long."""
    path = control_socket + ".notify"
    return path if len(os.fsencode(path)) < 108 else f"@pylaunchd-notify-{os.getpid()}"


def bind_notify(address: str) -> socket.socket:
    """A non-blocking datagram socket bound at *address* (``@``: abstract),
    receiving its senders' credentials; a stale file there is replaced.
    Raises OSError."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if address.startswith("@"):
            sock.bind("\0" + address[1:])
        else:
            try:
                os.unlink(address)
            except FileNotFoundError:
                pass
            sock.bind(address)
            os.chmod(address, 0o666)
    except OSError:
        sock.close()
        raise
    return sock
