"""One service of bench/boot.py: it needs its dependencies, takes START_MS to start, then answers.

    python3 -S -E boot_service.py NAME SOCKET START_MS RETRY_MS RESULTS MODE [DEPENDENCY_SOCKET ...]

1. It connects to the unix socket of each dependency, sends one line and reads one reply line (so it
   really needs them up). A refused connection (no socket file yet, or nobody listening) is counted
   and retried every RETRY_MS, as a client of a daemon that is not up yet must.
2. It writes to RESULTS/NAME the number of refusals, when its main() began and when its
   dependencies had answered (CLOCK_MONOTONIC seconds), then sleeps START_MS: "its start".
3. It answers one line per connection on its own socket until it is killed. MODE ``fd``: the
   socket is fd 3, handed over with systemd's LISTEN_FDS protocol (pylaunchd); MODE ``bind``: it
   binds SOCKET itself only now, as a daemon does under an init without socket activation, and
   prints ``ready`` on stdout once it listens.

Standard library only and no ``site`` (``-S``), so that 60 of them start quickly; every wait is
bounded (DEADLINE_S), after which it exits 1.
"""

import os
import socket
import sys
import time

DEADLINE_S = 60


def ask(path: str, retry_s: float, deadline: float) -> int:
    """One request/reply with the service at *path*; the number of refused connections before it."""
    refused = 0
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            s.connect(path)
            s.sendall(b"hello\n")
            if s.recv(256).endswith(b"\n"):
                return refused
            raise OSError(f"no reply line from {path}")
        except (FileNotFoundError, ConnectionRefusedError):
            refused += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(retry_s)
        finally:
            s.close()


def listener(mode: str, path: str) -> socket.socket:
    if mode == "fd":
        if os.environ.get("LISTEN_PID") != str(os.getpid()) or int(os.environ.get("LISTEN_FDS", "0")) < 1:
            raise SystemExit("boot_service: mode fd but no LISTEN_FDS for this process")
        return socket.socket(fileno=3)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(128)
    try:
        print("ready", flush=True)
    except OSError:
        pass
    return server


def serve(server: socket.socket, name: str) -> None:
    reply = f"{name} up\n".encode()
    while True:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(256)
                conn.sendall(reply)
            except OSError:
                pass


def main(argv: list[str]) -> int:
    running = time.monotonic()  # CLOCK_MONOTONIC: the same clock as bench/boot.py's, in any PID namespace
    name, path, start_ms, retry_ms, results, mode, *deps = argv
    deadline = running + DEADLINE_S
    refused = sum(ask(dep, float(retry_ms) / 1000, deadline) for dep in deps)
    tmp = os.path.join(results, f".{name}")
    with open(tmp, "w") as f:
        f.write(f"{refused} {running} {time.monotonic()}\n")
    os.rename(tmp, os.path.join(results, name))
    time.sleep(float(start_ms) / 1000)
    serve(listener(mode, path), name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
