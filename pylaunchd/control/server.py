"""The manager's side of the control socket: read a request, check who sent
it (SO_PEERCRED), run the verb's handler on the event loop, answer."""

from __future__ import annotations

import asyncio
import logging
import os

from ..manager import Manager, bind_control_socket
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
