"""The manager's side of the control socket: read a request line, check who
sent it (SO_PEERCRED) and its arguments (the verb's schema), run the verb's
``execute`` on the event loop against the manager's ControlService, answer.

Each connection is its own task: a client that sends nothing, or half a line,
waits alone until its REQUEST_TIMEOUT (on the manager's clock) and delays no
one else; at most MAX_CLIENTS are served at once, and more are answered
"busy" at once rather than queued or left to exhaust the manager's fds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import sys

from typing import TYPE_CHECKING

from . import verbs as _verbs  # noqa: F401 - registers every verb
from ..cspawn import trim_heap
from ..sockets import full_socket
from .listener import CONTROL_BACKLOG, bind_control_socket
from .protocol import (EXIT_IO, EXIT_PERMISSION, MAX_CLIENTS, EXIT_USAGE, MAX_REQUEST, REQUEST_TIMEOUT, ControlError, decode, encode,
                       may_act, peer_credentials)
from .service import ControlService
from .verb import REQUESTS, Verb

# A reply this large (list or print of thousands of jobs) leaves megabytes of
# freed objects in the heap: once it is sent and no other request is being
# served, the heap's free pages go back to the system (cspawn.trim_heap).
TRIM_AFTER = 256 << 10

if TYPE_CHECKING:
    from ..manager import Manager

log = logging.getLogger("pylaunchd")


class RequestTooLarge(Exception):
    def __init__(self, size: int):
        super().__init__(f"request too large: {size} bytes, the limit is {MAX_REQUEST}")
        self.size = size


class Connections:
    """The control connections being served: at most MAX_CLIENTS at once,
    each with REQUEST_TIMEOUT on the manager's clock to send its line and as
    long again to take its reply, so a client that sends nothing, half a
    line or never reads holds one slot for a bounded time and nothing after."""

    def __init__(self, manager: Manager):
        self.manager = manager
        self.live: set[asyncio.Task] = set()
        self.refused = 0  # connections answered "busy" since the start
        self.timed_out = 0

    def deadline(self, task: asyncio.Task, expired: list[bool]) -> object:
        def expire() -> None:
            expired[0] = True
            task.cancel()
        clock = self.manager.clock
        return clock.call_at(clock.monotonic() + REQUEST_TIMEOUT, expire)


async def start_control_server(manager: Manager, sock: socket.socket | None = None) -> asyncio.AbstractServer:
    """Serve the control socket (*sock*: already bound, else bound now)."""
    service = ControlService(manager)
    if sock is None:
        sock = bind_control_socket(service.control_socket, public=service.system)
    sock = full_socket(sock)  # bound with the C module (listener.py): asyncio wants a socket.socket
    served = {name: cls() for name, cls in REQUESTS.items()}
    conns = Connections(manager)
    _quiet_accept_errors(asyncio.get_running_loop())

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        busy = len(conns.live) >= MAX_CLIENTS
        conns.live.add(task)
        data = b""
        try:
            if busy:  # the request is read all the same: a close with it unread resets the client
                conns.refused += 1
                await _timed(conns, task, _drain_request(reader), "request")
                reply = _error(f"busy: {MAX_CLIENTS} control connections are being served; try again", EXIT_IO)
            else:
                reply = await _timed(conns, task, _answer(service, served, reader, writer), "request")
            data = encode(reply)
            writer.write(data)
            await _timed(conns, task, writer.drain(), "reply")
        except ConnectionError:
            pass
        except _Expired:  # drop what is buffered: close() would keep it until the client reads
            writer.transport.abort()
        finally:
            conns.live.discard(task)
            writer.close()
            if len(data) >= TRIM_AFTER and not conns.live:  # once its objects are freed, after this returns
                asyncio.get_running_loop().call_soon(trim_heap)

    async def serve() -> asyncio.AbstractServer:
        # On a duplicate of the socket, so that a pause (closing the server)
        # keeps the listening socket and its queue. The reader's limit is the
        # request limit: readuntil() refuses a longer line. asyncio listens
        # again with its own backlog (100), so ours is passed on.
        dup = socket.socket(fileno=os.dup(sock.fileno()))
        keep = {"cleanup_socket": False} if sys.version_info >= (3, 13) else {}  # a pause keeps the path
        return await asyncio.start_unix_server(handle, sock=dup, limit=MAX_REQUEST,
                                                backlog=CONTROL_BACKLOG, **keep)

    control = ControlAccept(sock, await serve(), serve, conns)
    manager.control = control
    return control


class ControlAccept:
    """The control server, which a re-exec pauses: from :meth:`pause` on no
    connection is accepted (clients wait in the listening socket's queue, for
    the new process), and those accepted before it are answered first."""

    def __init__(self, sock: socket.socket, server: asyncio.AbstractServer | None, serve, conns: Connections):
        self.sock, self.server, self._serve, self.conns = sock, server, serve, conns

    async def pause(self, timeout: float) -> None:
        """Stop accepting, then wait (at most *timeout*) until every connection
        accepted has had its reply. The server is closed only then: asyncio
        drops a connection accepted just before a close, unanswered."""
        if self.server is None:
            return
        loop = asyncio.get_running_loop()
        for s in self.server.sockets:
            loop.remove_reader(s.fileno())
        end = loop.time() + timeout
        await asyncio.sleep(0.02)  # a connection just accepted reaches handle() a few turns later
        while self.conns.live and loop.time() < end:
            await asyncio.sleep(0.005)
        self.server.close()  # closes the duplicate only
        self.server = None

    async def resume(self) -> None:
        if self.server is None:
            self.server = await self._serve()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        self.sock.close()


class _Expired(Exception):
    pass


async def _timed(conns: Connections, task: asyncio.Task, aw, what: str) -> object:
    """Await *aw* within REQUEST_TIMEOUT on the manager's clock. A request
    that does not arrive in time is answered as malformed; a reply not taken
    in time closes the connection (_Expired)."""
    expired = [False]
    timer = conns.deadline(task, expired)
    try:
        return await aw
    except asyncio.CancelledError:
        if not expired[0]:
            raise
        task.uncancel()
        conns.timed_out += 1
        if what == "request":
            return _error(f"malformed request: no complete line within {REQUEST_TIMEOUT:.0f} s", EXIT_USAGE)
        raise _Expired() from None
    finally:
        timer.cancel()


def _quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio pauses accepting for a second when accept() fails for want of
    descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), and reports it
    with a traceback; say it in one line instead."""
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        if context.get("message") == "socket.accept() out of system resource" and isinstance(exc, OSError):
            log.warning("control socket: cannot accept a connection: %s; accepting again in 1 s", exc.strerror)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)
    loop.set_exception_handler(handler)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The request line, read whole however many reads it takes; a last line
    without its newline is taken as it is. Past MAX_REQUEST, read on to the
    end of the line only to count it (the client is still sending: closing
    now would break its pipe before it reads the reply), then raise
    RequestTooLarge."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as e:
        return e.partial
    except asyncio.LimitOverrunError:
        pass
    size = 0
    while True:
        chunk = await reader.read(65536)
        end = chunk.find(b"\n")
        if not chunk or end >= 0:
            raise RequestTooLarge(size + max(end, 0))
        size += len(chunk)


async def _drain_request(reader: asyncio.StreamReader) -> None:
    try:
        await read_request(reader)
    except RequestTooLarge:
        pass


async def _answer(service: ControlService, served: dict[str, Verb],
                  reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict:
    peer = peer_credentials(writer.get_extra_info("socket"))
    try:
        req = decode(await read_request(reader))
    except RequestTooLarge as e:
        log.warning("refused a request of %d bytes from pid %d: over the %d-byte limit", e.size, peer.pid, MAX_REQUEST)
        return _error(str(e), EXIT_USAGE)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return _error("malformed request", EXIT_USAGE)
    name = req.get("verb")
    args = req.get("args") or {}
    verb = served.get(name) if isinstance(name, str) else None
    if verb is None or not isinstance(args, dict):
        return _error(f"unknown request {name!r}", EXIT_USAGE)
    if not may_act(peer, os.getuid()) and not (service.system and verb.read_only):
        log.warning("refused %s from pid %d uid %d: not our user or root", name, peer.pid, peer.uid)
        who = "root" if os.getuid() == 0 else f"uid {os.getuid()} or root"  # not "uid 0 or root"
        return _error(f"uid {peer.uid} may not use {service.domain_name}: only {who}", EXIT_PERMISSION)
    try:
        result = verb.execute(service, verb.validate(args))
        if inspect.isawaitable(result):  # a verb that waits on the loop (reexec)
            result = await result
        return {"ok": True, "result": result}
    except ControlError as e:
        return _error(str(e), e.status)
    except Exception as e:  # a bug must not take the manager down
        log.exception("control request %s failed", name)
        return _error(f"internal error: {e}", 1)


def _error(message: str, status: int) -> dict:
    return {"ok": False, "error": message, "status": status}
