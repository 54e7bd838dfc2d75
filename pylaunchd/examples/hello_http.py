"""A socket-activated HTTP server: takes the sockets named ``Listeners`` from
pylaunchd, answers every request with a greeting, and exits after a quiet
period, to be started again by the next connection.

    python3 -m pylaunchd.examples.hello_http [IDLE_SECONDS]
"""

from __future__ import annotations

import os
import selectors
import sys

from pylaunchd.activation import activate_socket


def main() -> int:
    idle = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    servers = activate_socket("Listeners")
    sel = selectors.DefaultSelector()
    for s in servers:
        sel.register(s, selectors.EVENT_READ)
    served = 0
    while True:
        ready = sel.select(timeout=idle)
        if not ready:
            return 0  # idle: exit; pylaunchd starts us again on the next connection
        for key, _ in ready:
            conn, _addr = key.fileobj.accept()
            with conn:
                conn.settimeout(5)
                try:
                    request = conn.recv(65536)
                except OSError:
                    continue
                served += 1
                body = (f"Hello from pylaunchd: pid {os.getpid()}, request {served} of this instance\n").encode()
                if request.startswith((b"GET", b"HEAD", b"POST")):
                    head = (f"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
                    conn.sendall(head + (b"" if request.startswith(b"HEAD") else body))
                else:
                    conn.sendall(body)


if __name__ == "__main__":
    sys.exit(main())
