#!/usr/bin/env python3
"""Test job: a socket-activated line server.

Replies to each connection's first line with who it is, then closes it.
--mode fromfd:   socket.fromfd() on the fds that LISTEN_FDNAMES names (no pylaunchd import)
--mode activate: pylaunchd.activation.activate_socket(NAME)
--exit-after N:  exit after N connections (0: never)
--pid-dir DIR:   write DIR/<pid>.pid so the test can clean up by PID
"""

import argparse
import os
import selectors
import signal
import socket
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["fromfd", "activate"], default="fromfd")
    p.add_argument("--name", default="Listeners")
    p.add_argument("--exit-after", type=int, default=0)
    p.add_argument("--exit-code", type=int, default=0)
    p.add_argument("--pid-dir")
    a = p.parse_args()
    if a.pid_dir:
        with open(os.path.join(a.pid_dir, f"{os.getpid()}.pid"), "w") as f:
            f.write(str(os.getpid()))
    if a.mode == "activate":
        from pylaunchd.activation import activate_socket
        socks = activate_socket(a.name)
    else:
        names = os.environ["LISTEN_FDNAMES"].split(":")
        assert int(os.environ["LISTEN_PID"]) == os.getpid(), "LISTEN_PID is not my pid"
        assert len(names) == int(os.environ["LISTEN_FDS"])
        socks = []
        for i, n in enumerate(names):
            if n == a.name:
                fd = 3 + i
                probe = socket.socket(fileno=fd)  # only to learn the family
                family = probe.family
                probe.detach()
                socks.append(socket.fromfd(fd, family, socket.SOCK_STREAM))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    served = 0
    while True:
        for key, _ in sel.select():
            conn, _ = key.fileobj.accept()
            with conn:
                conn.settimeout(10)
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                reply = (f"{a.name} pid={os.getpid()} listen_pid={os.environ.get('LISTEN_PID')} "
                         f"fds={os.environ.get('LISTEN_FDS')} names={os.environ.get('LISTEN_FDNAMES')} "
                         f"data={data.decode().strip()}\n")
                conn.sendall(reply.encode())
            served += 1
            if a.exit_after and served >= a.exit_after:
                sys.exit(a.exit_code)


if __name__ == "__main__":
    main()
