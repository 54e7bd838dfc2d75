"""The control protocol's framing against a running manager: a request line
is read whole up to the limit, refused clearly past it, and a client that
holds a half-sent line delays no one else."""

from __future__ import annotations

import json
import socket

from conftest import unix_talk
from pylaunchd.control.protocol import MAX_REQUEST, ControlError, request


def raw_line(verb: str, args: dict) -> bytes:
    return json.dumps({"verb": verb, "args": args}, separators=(",", ":")).encode()


def talk(path: str, data: bytes) -> dict:
    """Send *data* as it is, close our side, read the reply."""
    return json.loads(unix_talk(path, data, timeout=30))


def padded_load(total: int) -> tuple[bytes, int]:
    """A load request line of exactly *total* bytes (newline not counted),
    made of many long paths; and how many paths it holds."""
    stem = "/nonexistent/" + "d" * 200 + "/job-{:05d}.plist"
    each = len(json.dumps(stem.format(0))) + 1  # with its comma
    paths = [stem.format(i) for i in range((total - 400) // each)]
    short = len(raw_line("load", {"paths": paths + ["/x"]}))
    paths.append("/" + "x" * (total - short + 1))
    line = raw_line("load", {"paths": paths})
    assert len(line) == total
    return line, len(paths)


def test_a_request_just_under_the_limit_is_read_whole(manager):
    line, n = padded_load(MAX_REQUEST)
    reply = talk(manager.socket, line + b"\n")
    assert reply["ok"], reply
    assert len(reply["result"]) == n, "every path arrived, however many reads it took"
    assert all("No such file or directory" in r["error"] for r in reply["result"])


def test_a_big_setenv_value_arrives_whole(manager):
    value = "v" * (MAX_REQUEST - 100)
    request(manager.socket, "setenv", {"key": "BIG", "value": value})
    assert request(manager.socket, "getenv")["BIG"] == value


def test_a_request_over_the_limit_gets_a_clear_error(manager):
    line, _ = padded_load(MAX_REQUEST + 1)
    reply = talk(manager.socket, line + b"\n")
    assert reply == {"ok": False, "status": 64,
                     "error": f"request too large: {MAX_REQUEST + 1} bytes, the limit is {MAX_REQUEST}"}
    # Through the client as well, and far over the limit: the client still reads the reply.
    try:
        request(manager.socket, "setenv", {"key": "HUGE", "value": "v" * (3 * MAX_REQUEST)})
        raise AssertionError("accepted a request three times the limit")
    except ControlError as e:
        assert e.status == 64 and str(e).startswith("request too large: ") and f"limit is {MAX_REQUEST}" in str(e)
    assert "HUGE" not in request(manager.socket, "getenv")
    assert request(manager.socket, "manager")["pid"] == manager.proc.pid, "the manager is unharmed"


def test_a_half_sent_request_delays_no_other_client(manager):
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        silent.connect(manager.socket)
        half.connect(manager.socket)
        half.sendall(b'{"verb":"li')
        # Well inside the 10 s a connection may take to send its line.
        assert isinstance(request(manager.socket, "list", timeout=3), list)
        assert request(manager.socket, "manager", timeout=3)["pid"] == manager.proc.pid
        half.settimeout(10)
        half.shutdown(socket.SHUT_WR)
        reply = json.loads(half.recv(65536))
        assert reply["ok"] is False and reply["status"] == 64 and reply["error"].startswith("malformed request")
    finally:
        silent.close()
        half.close()
