"""A consumer for the bus tests: calls NAME's Ping once and writes the answer to OUT.

Usage: busconsumer.py NAME OUT. It finds the bus in DBUS_SESSION_BUS_ADDRESS,
which pylaunchd gives every job of a user domain.
"""

import json
import os
import sys
import time

from jeepney import DBusAddress, HeaderFields, MessageType, new_method_call
from jeepney.io.blocking import open_dbus_connection

name, out = sys.argv[1], sys.argv[2]
t = time.monotonic()
with open_dbus_connection(os.environ["DBUS_SESSION_BUS_ADDRESS"]) as conn:
    reply = conn.send_and_get_reply(new_method_call(DBusAddress("/", name, "org.pylaunchd.Test"), "Ping"), timeout=20)
result = {"seconds": round(time.monotonic() - t, 3)}
if reply.header.message_type is MessageType.error:
    result["error"] = reply.header.fields[HeaderFields.error_name]
else:
    result["reply"] = reply.body[0]
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(result, f)
os.replace(tmp, out)
