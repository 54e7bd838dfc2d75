"""The sockets the C front end bound before Python started.

The installed ``pylaunchd`` command is a small C program
(``pylaunchd/_prebind.c``): it reads the job directories, binds the jobs'
sockets it can be sure of (TCP and UDP on numeric or wildcard addresses,
unix sockets at a new path in a directory nobody else can redirect) and
execs the Python manager, ``pylaunchd-python``, naming their descriptors in one
environment variable (:data:`ENV`). So early clients of a boot queue in the
kernel from about a millisecond after the exec, not from the end of
Python's own start.

The C program is only an accelerator. This module turns its descriptors into
a pool that :func:`pylaunchd.boot.bind_early` takes from by address, as
it takes a re-exec's sockets (:class:`pylaunchd.reexec.handoff.InheritedSockets`):
the Python reading of every plist stays the one that decides what is bound,
and :meth:`PreboundSockets.close_rest` closes, right after that reading,
whatever socket no job asked for (a job the C program could not know to
refuse: an invalid plist, say).

Guarantees: the variable leaves the environment before anything else reads
it, so jobs never see it; each descriptor is close-on-exec again at once;
each socket is taken once (a descriptor that is not a socket is left
alone). Standard library C modules only: this runs before
the first socket of a cold start, where every import counts.
"""

from __future__ import annotations

import _socket
import os
import stat

ENV = "PYLAUNCHD_PREBOUND"


def address_key(family: int, type_: int, address) -> tuple:
    """An address as getsockname() and getaddrinfo() both spell it (an IPv6
    host with or without its scope, one packed form for every spelling)."""
    if family in (_socket.AF_INET, _socket.AF_INET6) and isinstance(address, tuple):
        return family, type_, _socket.inet_pton(family, address[0].split("%")[0]), address[1]
    return family, type_, address


class PreboundSockets:
    """Sockets by address, each taken once (:class:`pylaunchd.sockets.Inherited`)."""

    def __init__(self, fds: list[int]):
        self._by_address: dict[tuple, _socket.socket] = {}
        for fd in fds:
            try:
                os.set_inheritable(fd, False)
                sock = _socket.socket(fileno=fd)
            except (OSError, ValueError):
                continue
            try:
                key = address_key(sock.family, sock.type, sock.getsockname())
            except (OSError, ValueError):
                sock.close()
                continue
            old = self._by_address.pop(key, None)
            if old is not None:
                old.close()
            self._by_address[key] = sock
        self.offered = len(self._by_address)  # the sockets handed over: those taken, and what close_rest closes

    def take(self, family: int, type_: int, address) -> _socket.socket | None:
        try:
            return self._by_address.pop(address_key(family, type_, address), None)
        except (OSError, ValueError):
            return None

    def take_secure(self, key: str, name: str) -> None:
        return None  # the C program binds no SecureSocketWithKey socket

    def __len__(self) -> int:
        return len(self._by_address)

    def close_rest(self) -> int:
        """Close every socket no job took, and remove the unix socket files the
        front end made for them (only while each is still the file it bound);
        how many."""
        left = list(self._by_address.items())
        self._by_address.clear()
        for key, sock in left:
            path = key[2] if key[0] == _socket.AF_UNIX and isinstance(key[2], str) else None
            made = _socket_file(path) if path else None
            sock.close()
            if made is not None:
                from .sockets import unlink_bound  # as a job's own socket file is removed
                unlink_bound(path, made)
        return len(left)


def _socket_file(path: str) -> tuple[int, int] | None:
    """(device, inode) of the socket file at *path*, not followed; None for anything else."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISSOCK(st.st_mode) else None


def take_from_environment() -> PreboundSockets | None:
    """The C front end's sockets, or None when it bound none (or did not run)."""
    text = os.environ.pop(ENV, None)
    if not text:
        return None
    fds = []
    for part in text.split(","):
        if part.isdigit() and int(part) > 2:
            fds.append(int(part))
    return PreboundSockets(fds)
