"""The manager's side of the control socket: read a request, check who sent
it (SO_PEERCRED), run the verb's handler on the event loop, answer."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import socket

from ..manager import Manager
from .commands import HANDLERS, READ_ONLY
from .protocol import EXIT_PERMISSION, EXIT_USAGE, MAX_MESSAGE, ControlError, decode, encode, may_act, peer_credentials

log = logging.getLogger("pylaunchd")


async def start_control_server(manager: Manager) -> asyncio.AbstractServer:
    sock = bind_control_socket(manager.domain.control_socket, public=manager.domain.system)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            reply = await _answer(manager, reader, writer)
            writer.write(encode(reply))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_unix_server(handle, sock=sock, limit=MAX_MESSAGE)


async def _answer(manager: Manager, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict:
    peer = peer_credentials(writer.get_extra_info("socket"))
    try:
        data = await asyncio.wait_for(reader.read(MAX_MESSAGE), timeout=10)
        req = decode(data)
    except (ValueError, asyncio.TimeoutError):
        return {"ok": False, "error": "malformed request", "status": EXIT_USAGE}
    verb = req.get("verb")
    args = req.get("args") or {}
    handler = HANDLERS.get(verb) if isinstance(verb, str) else None
    if handler is None or not isinstance(args, dict):
        return {"ok": False, "error": f"unknown request {verb!r}", "status": EXIT_USAGE}
    if not may_act(peer, os.getuid()) and not (manager.domain.system and verb in READ_ONLY):
        log.warning("refused %s from pid %d uid %d: not our user or root", verb, peer.pid, peer.uid)
        return {"ok": False, "status": EXIT_PERMISSION,
                "error": f"uid {peer.uid} may not use {manager.domain.name}: only uid {os.getuid()} or root"}
    try:
        return {"ok": True, "result": handler(manager, args)}
    except ControlError as e:
        return {"ok": False, "error": str(e), "status": e.status}
    except Exception as e:  # a bug must not take the manager down
        log.exception("control request %s failed", verb)
        return {"ok": False, "error": f"internal error: {e}", "status": 1}


def lock_control_socket(path: str) -> int:
    """Take the control socket's lock file, or raise ControlError naming the holder."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    lock_path = path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise ControlError(f"another pylaunchd (pid {holder}) is already running on {path}; "
                               f"stop it first or use --control-socket for a second manager") from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def bind_control_socket(path: str, public: bool = False) -> socket.socket:
    """Bind the control socket: mode 0600 in a 0700 directory we own, or, for
    the system domain (``public``), 0666 in a 0755 directory, so that anyone
    can read the domain as launchd allows; every request is still checked
    with SO_PEERCRED, and only root may change anything."""
    directory = os.path.dirname(path) or "."
    st = os.stat(directory)
    if st.st_uid != os.getuid():
        raise ControlError(f"{directory} is owned by uid {st.st_uid}, not by us (uid {os.getuid()}); "
                           f"refusing to put the control socket there")
    if os.path.basename(directory) == "pylaunchd":  # our own directory: set its mode
        os.chmod(directory, 0o755 if public else 0o700)
    try:
        os.unlink(path)  # we hold the lock: anything there is stale
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o666 if public else 0o600)
    sock.listen(128)
    sock.setblocking(False)
    return sock
