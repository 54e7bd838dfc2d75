"""A small job that speaks systemd's readiness protocol, for the tests.

notifier.py [--ignore-abrt] [--wait-for FILE] MESSAGE...: sends each MESSAGE
(one datagram each, "\\n" for a newline) to $NOTIFY_SOCKET, waiting before a
message "@wait" until FILE exists (at most 20 s), then sleeps for a minute.
"""

import os
import signal
import socket
import sys
import time

args = sys.argv[1:]
if args and args[0] == "--ignore-abrt":
    signal.signal(signal.SIGABRT, signal.SIG_IGN)
    args = args[1:]
wait_for = None
if args and args[0] == "--wait-for":
    wait_for, args = args[1], args[2:]
address = os.environ["NOTIFY_SOCKET"]
if address.startswith("@"):
    address = "\0" + address[1:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for message in args:
    if message == "@wait":
        deadline = time.monotonic() + 20
        while not os.path.exists(wait_for) and time.monotonic() < deadline:
            time.sleep(0.01)
        continue
    sock.sendto(message.replace("\\n", "\n").encode(), address)
time.sleep(60)
