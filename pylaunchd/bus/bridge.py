"""The manager's connection to the bus: jeepney on the manager's own asyncio loop.

dbus-daemon, run with ``--systemd-activation``, sends the owner of
``org.freedesktop.systemd1`` an ``ActivationRequest(unit)`` signal when a
caller needs a name nobody owns, holds the caller's message until some
connection owns that name, and fails the waiting callers when that owner
sends ``ActivationFailure(unit, error, message)``. :class:`BusBridge` is that
owner for pylaunchd: it connects, takes the name, watches ``NameOwnerChanged``
and hands what it hears to a :class:`BridgeHandler` (the hub).

Why asyncio and not a blocking client: the bus is often a job of this very
manager, started when its socket becomes readable; a client that blocked
the loop while it authenticated would wait for a daemon only this loop can
start (measured: a deadlock). Everything here runs on the loop, and one
receive task reads every message: replies are matched to their serials
here, never by a second reader.

Every method call that reaches this connection is answered (an error, but
``Peer.Ping``), since a caller left without an answer hangs until its
timeout. ``SetEnvironment`` (what dbus-daemon forwards of
``UpdateActivationEnvironment``) and ``ActivationRequest`` are taken only
from the bus itself.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Protocol

from jeepney import DBusAddress, HeaderFields, MessageFlag, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import MatchRule, message_bus
from jeepney.io.asyncio import open_dbus_connection

from .names import ACTIVATOR, BUS_DRIVER, UNKNOWN_METHOD

log = logging.getLogger("pylaunchd")

ACTIVATOR_IFACE = "org.freedesktop.systemd1.Activator"
MANAGER_IFACE = "org.freedesktop.systemd1.Manager"
CONNECT_TIMEOUT = 20.0  # authentication and Hello; a bus job that never accepts is given up
DO_NOT_QUEUE, PRIMARY_OWNER = 4, 1


class BridgeHandler(Protocol):
    def bus_connected(self, activator: bool, why: str) -> None: ...
    def bus_disconnected(self, why: str) -> None: ...
    def activation_requested(self, unit: str) -> None: ...
    def owner_changed(self, name: str, owner: str | None) -> None: ...
    def set_environment(self, assignments: list[str]) -> None: ...


class BusBridge:
    def __init__(self, address: str, handler: BridgeHandler):
        self.address = address
        self.handler = handler
        self.conn = None
        self.connected = False
        self.activator = False
        self.unique_name: str | None = None
        self._task: asyncio.Task | None = None
        self._replies: dict[int, Callable] = {}

    @property
    def busy(self) -> bool:
        """Connecting or connected."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Connect, unless already connecting or connected (never blocks)."""
        if not self.busy:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._drop()

    # -- sending ------------------------------------------------------------

    def _send(self, msg, reply: Callable | None = None) -> None:
        if self.conn is None:
            if reply is not None:
                reply(None)
            return
        serial = next(self.conn.outgoing_serial)
        if reply is not None:
            self._replies[serial] = reply
        try:
            self.conn.writer.write(msg.serialise(serial))
        except (OSError, RuntimeError) as e:
            log.debug("bus: write failed: %s", e)

    def call(self, msg, reply: Callable) -> None:
        """Send a method call; *reply* gets its body (a tuple), or None for an error or no connection."""
        self._send(msg, reply)

    def fail(self, unit: str, error: str, message: str) -> None:
        """ActivationFailure: dbus-daemon fails every caller waiting on *unit* with *error*."""
        sig = new_signal(DBusAddress("/org/freedesktop/systemd1", interface=ACTIVATOR_IFACE),
                         "ActivationFailure", "sss", (unit, error, message))
        sig.header.fields[HeaderFields.destination] = BUS_DRIVER
        self._send(sig)

    def reload_config(self) -> None:
        self._send(message_bus.ReloadConfig(), lambda body: None)

    def name_owner(self, name: str, reply: Callable[[str | None], None]) -> None:
        self.call(message_bus.GetNameOwner(name), lambda body: reply(body[0] if body else None))

    def owner_pid(self, unique: str, reply: Callable[[int | None], None]) -> None:
        self.call(message_bus.GetConnectionUnixProcessID(unique), lambda body: reply(body[0] if body else None))

    # -- the connection -----------------------------------------------------

    async def _run(self) -> None:
        why = "closed by the bus"
        try:
            self.conn = await asyncio.wait_for(open_dbus_connection(self.address), CONNECT_TIMEOUT)
            self.unique_name = self.conn.unique_name
            self._send(message_bus.AddMatch(MatchRule(type="signal", sender=BUS_DRIVER,
                                                      interface=BUS_DRIVER, member="NameOwnerChanged")))
            self.call(message_bus.RequestName(ACTIVATOR, DO_NOT_QUEUE), self._got_name)
            while True:
                self._dispatch(await self.conn.receive())
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            why = f"no answer from {self.address} in {CONNECT_TIMEOUT:.0f} s"
        except (OSError, EOFError, ValueError, RuntimeError) as e:
            why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        finally:
            self._drop()
        self.handler.bus_disconnected(why)

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        self.connected = self.activator = False
        replies, self._replies = self._replies, {}
        if conn is not None:
            conn.writer.close()
        for reply in replies.values():
            reply(None)

    def _got_name(self, body) -> None:
        self.connected = True
        self.activator = bool(body) and body[0] == PRIMARY_OWNER
        why = "" if self.activator else (f"{ACTIVATOR} has another owner on this bus (systemd --user?); "
                                         "its calls do not reach pylaunchd" if body else
                                         f"the bus refused pylaunchd the name {ACTIVATOR}")
        self.handler.bus_connected(self.activator, why)

    def _dispatch(self, msg) -> None:
        h = msg.header
        kind = h.message_type
        if kind in (MessageType.method_return, MessageType.error):
            reply = self._replies.pop(h.fields.get(HeaderFields.reply_serial), None)
            if reply is not None:
                reply(msg.body if kind is MessageType.method_return else None)
            return
        sender = h.fields.get(HeaderFields.sender)
        iface, member = h.fields.get(HeaderFields.interface), h.fields.get(HeaderFields.member)
        if kind is MessageType.signal:
            if sender != BUS_DRIVER:
                return
            if iface == ACTIVATOR_IFACE and member == "ActivationRequest":
                self.handler.activation_requested(msg.body[0])
            elif iface == BUS_DRIVER and member == "NameOwnerChanged":
                name, _old, new = msg.body
                self.handler.owner_changed(name, new or None)
            return
        self._method_call(msg, sender, iface, member)

    def _method_call(self, msg, sender, iface, member) -> None:
        h = msg.header
        answer = not (h.flags & MessageFlag.no_reply_expected)
        if iface == MANAGER_IFACE and member == "SetEnvironment" and sender == BUS_DRIVER:
            self.handler.set_environment(list(msg.body[0]))
            reply = new_method_return(msg)
        elif iface == "org.freedesktop.DBus.Peer" and member == "Ping":
            reply = new_method_return(msg)
        else:
            path = h.fields.get(HeaderFields.path)
            reply = new_error(msg, UNKNOWN_METHOD, "s", (
                f"pylaunchd answers no {iface or '(no interface)'}.{member} on {path}: it owns {ACTIVATOR} "
                "only to start jobs on demand",))
        if answer:
            self._send(reply)
