"""A small D-Bus service for the bus tests: owns its names and answers calls.

Usage: busprovider.py MODE NAME [NAME...]. It connects to DBUS_STARTER_ADDRESS
(what pylaunchd gives a bus-activated job), asks for each NAME, and answers
on interface org.pylaunchd.Test: Ping -> "pong from pid N", Env -> the DBUS_*
variables it got (JSON), Crash -> abort(). MODE: serve; exit3 (exit 3 before
taking a name); signal (SIGTERM itself before); slow (sleep 0.3 s first);
lingering (on SIGTERM it leaves the bus, then takes 1 s to exit).

It never waits for the RequestName reply before reading: dbus-daemon hands
the queued call to the new owner before that reply, and a client that read
only replies would drop it.
"""

import json
import os
import signal
import sys
import time

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection


def main() -> None:
    mode, names = sys.argv[1], sys.argv[2:]
    if mode == "exit3":
        sys.exit(3)
    if mode == "signal":
        os.kill(os.getpid(), signal.SIGTERM)
    if mode == "slow":
        time.sleep(0.3)
    address = os.environ.get("DBUS_STARTER_ADDRESS") or os.environ["DBUS_SESSION_BUS_ADDRESS"]
    conn = open_dbus_connection(address)
    if mode == "lingering":
        def leave(signum, frame):
            conn.close()
            time.sleep(1)
            sys.exit(0)
        signal.signal(signal.SIGTERM, leave)
    for name in names:
        conn.send(message_bus.RequestName(name, 4))
    while True:
        msg = conn.receive()
        h = msg.header
        if h.message_type is not MessageType.method_call:
            continue
        member = h.fields.get(HeaderFields.member)
        if member == "Ping":
            conn.send(new_method_return(msg, "s", (f"pong from pid {os.getpid()}",)))
        elif member == "Env":
            env = {k: v for k, v in os.environ.items() if k.startswith(("DBUS_", "FROM_"))}
            conn.send(new_method_return(msg, "s", (json.dumps(env, sort_keys=True),)))
        elif member == "Crash":
            os.abort()
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (member or "",)))


if __name__ == "__main__":
    main()
