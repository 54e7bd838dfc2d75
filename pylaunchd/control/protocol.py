"""Framing of control requests and replies, and the peer-credential check.

A request is one line of JSON, ``{"verb": "...", "args": {...}}``, ended by a
newline; the reply is one line of JSON, ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "...", "status": N}`` where ``status`` is the exit
status pylaunchctl should use (launchctl's codes where launchctl has one).
One request per connection.

A request line may hold at most :data:`MAX_REQUEST` bytes (1 MiB, the newline
not counted). The server reads the line whole, however many reads it takes;
past the limit it answers ``request too large: N bytes, the limit is
1048576`` (status 64) instead of running anything. A client has
:data:`REQUEST_TIMEOUT` seconds from connecting to send its whole line; one
that sends nothing or half a line holds only its own connection, and as
long again to read the reply. At most :data:`MAX_CLIENTS` connections are
served at once; one more is answered ``busy: ...`` (status 5) at once.

This module is imported by pylaunchctl: it stays small and standard-library only.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from dataclasses import dataclass

from .errors import (EXIT_BAD_PERMISSIONS, EXIT_DISABLED, EXIT_INVALID_PLIST, EXIT_IO,  # noqa: F401 - re-exported
                     EXIT_NO_MANAGER, EXIT_NO_SERVICE, EXIT_NO_SUCH_PROCESS, EXIT_PERMISSION, EXIT_USAGE,
                     EXIT_WRONG_SESSION, ControlError)

MAX_REQUEST = 1024 * 1024  # bytes of one request line, its newline not counted
REQUEST_TIMEOUT = 10.0  # seconds a client has to send its request line, and as long to take its reply
MAX_CLIENTS = 512  # control connections served at once; more are answered "busy" (status 5)

__all__ = ["ControlError", "request", "encode", "decode", "PeerCredentials", "peer_credentials", "may_act",
           "MAX_REQUEST", "REQUEST_TIMEOUT", "MAX_CLIENTS", "EXIT_USAGE", "EXIT_NO_SUCH_PROCESS", "EXIT_IO", "EXIT_PERMISSION",
           "EXIT_NO_SERVICE", "EXIT_DISABLED", "EXIT_INVALID_PLIST", "EXIT_BAD_PERMISSIONS", "EXIT_WRONG_SESSION",
           "EXIT_NO_MANAGER"]


@dataclass(frozen=True)
class PeerCredentials:
    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> PeerCredentials:
    """The connecting process's pid/uid/gid, from the kernel (SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return PeerCredentials(pid, uid, gid)


def may_act(peer: PeerCredentials, manager_uid: int) -> bool:
    """Only the manager's own user, or root, may drive it."""
    return peer.uid == 0 or peer.uid == manager_uid


def encode(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def decode(data: bytes) -> dict:
    obj = json.loads(data.decode())
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    return obj


def request(socket_path: str, verb: str, args: dict | None = None, timeout: float = 120.0) -> object:
    """Send one request and return its result, or raise ControlError."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(socket_path)
        except (FileNotFoundError, ConnectionRefusedError) as e:
            raise ControlError(
                f"no pylaunchd is listening on {socket_path} ({e.strerror}). Start one with "
                f"`pylaunchd` (or `pylaunchd --control-socket {socket_path}`), or point "
                f"pylaunchctl at it with --control-socket / PYLAUNCHD_CONTROL_SOCKET.",
                EXIT_NO_MANAGER) from None
        except PermissionError:
            owner = _owner(socket_path)
            who = "root" if owner == "0" else f"its owner (uid {owner}) or root"
            raise ControlError(f"permission denied connecting to {socket_path}: only {who} may drive that manager",
                               EXIT_PERMISSION) from None
        _check_server(s, socket_path)
        data = exchange(s, encode({"verb": verb, "args": args or {}}))
    except socket.timeout:
        raise ControlError(f"pylaunchd on {socket_path} did not answer within {timeout:.0f} s") from None
    finally:
        s.close()
    if not data:
        raise ControlError(f"pylaunchd on {socket_path} closed the connection without answering")
    reply = decode(data)
    if not reply.get("ok"):
        raise ControlError(reply.get("error", "request failed"), int(reply.get("status", 1)))
    return reply.get("result")


def exchange(s: socket.socket, data: bytes) -> bytes:
    """Send a request line on a connected socket, close our side, and read
    the reply until the server closes."""
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading early; its reply says why
    chunks = []
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _check_server(s: socket.socket, socket_path: str) -> None:
    """Speak only to a manager run by us or by root (SO_PEERCRED of the
    server): in a shared directory someone else's process could be listening
    where our manager should be, to read our requests and lie in its replies.
    Root may speak to any user's manager."""
    me = os.geteuid()
    server = peer_credentials(s).uid
    if me != 0 and server not in (0, me):
        raise ControlError(f"the process listening on {socket_path} runs as uid {server}, neither you (uid {me}) "
                           f"nor root: it is not your manager, and pylaunchctl sends it nothing", EXIT_PERMISSION)


def _owner(path: str) -> str:
    """The uid owning the socket, or its directory when that is all we may see."""
    for p in (path, os.path.dirname(path) or "."):
        try:
            return str(os.stat(p).st_uid)
        except OSError:
            continue
    return "?"
