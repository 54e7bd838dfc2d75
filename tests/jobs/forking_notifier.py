"""A daemon that hands its readiness to a forked child, as systemd's
``MAINPID=`` allows: the parent forks, the child (its own session) sends
``MAINPID=<its pid>``, ``READY=1`` and a STATUS, tells the parent, and the
parent exits 0. The child then waits until FILE exists (at most 60 s) and
exits with CODE. With --parent-waits the parent is a wrapper instead: it
reaps the child itself, then lives on for a minute.

forking_notifier.py [--parent-waits] FILE CODE
"""

import os
import socket
import sys
import time

args = sys.argv[1:]
parent_waits = args[:1] == ["--parent-waits"]
if parent_waits:
    args = args[1:]
stop, code = args[0], int(args[1])
address = os.environ["NOTIFY_SOCKET"]
if address.startswith("@"):
    address = "\0" + address[1:]
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.setsid()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.sendto(f"MAINPID={os.getpid()}\nREADY=1\nSTATUS=serving as {os.getpid()}".encode(), address)
    os.write(w, b"x")
    deadline = time.monotonic() + 60
    while not os.path.exists(stop) and time.monotonic() < deadline:
        time.sleep(0.02)
    os._exit(code)
os.read(r, 1)
if parent_waits:
    os.wait()
    time.sleep(60)
os._exit(0)
