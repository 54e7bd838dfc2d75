"""Framing of control requests and replies, and the peer-credential check.

A request is one line of JSON, ``{"verb": "...", "args": {...}}``; the reply is
one line of JSON, ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "...", "status": N}`` where ``status`` is the exit
status pylaunchctl should use (launchctl's codes where launchctl has one).

This module is imported by pylaunchctl: it stays small and standard-library only.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from dataclasses import dataclass

MAX_MESSAGE = 16 * 1024 * 1024

# Exit statuses, launchctl's where it has them.
EXIT_USAGE = 64
EXIT_NO_SUCH_PROCESS = 3  # ESRCH
EXIT_IO = 5  # EIO: launchctl's catch-all for a failed load
EXIT_PERMISSION = 1  # EPERM
EXIT_NO_SERVICE = 113  # "Could not find specified service"
EXIT_DISABLED = 119  # "Service is disabled"
EXIT_INVALID_PLIST = 109  # "Invalid property list"
EXIT_BAD_PERMISSIONS = 122  # "Path had bad ownership/permissions"
EXIT_WRONG_SESSION = 134  # "Service cannot load in requested session"
EXIT_NO_MANAGER = 112  # "Could not find specified domain": no manager listens


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


class ControlError(Exception):
    """The request failed; ``status`` is the exit status for pylaunchctl."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


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
            raise ControlError(f"permission denied connecting to {socket_path}: only its owner "
                               f"(uid {_owner(socket_path)}) or root may drive that manager",
                               EXIT_PERMISSION) from None
        s.sendall(encode({"verb": verb, "args": args or {}}))
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except socket.timeout:
        raise ControlError(f"pylaunchd on {socket_path} did not answer within {timeout:.0f} s") from None
    finally:
        s.close()
    if not chunks:
        raise ControlError(f"pylaunchd on {socket_path} closed the connection without answering")
    reply = decode(b"".join(chunks))
    if not reply.get("ok"):
        raise ControlError(reply.get("error", "request failed"), int(reply.get("status", 1)))
    return reply.get("result")


def _owner(path: str) -> str:
    try:
        return str(os.stat(path).st_uid)
    except OSError:
        return "?"
