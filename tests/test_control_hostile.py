"""The control socket under hostile clients: silent, half-sent, garbage,
never-reading and a thousand at once. No client delays another, each holds
its connection for a bounded time on the manager's clock, and afterwards
the manager's tasks and descriptors are back to where they were."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import selectors
import socket
import time

from conftest import plist, unix_talk
from inprocess import run_in_process
from pylaunchd.control.protocol import MAX_CLIENTS, MAX_REQUEST, REQUEST_TIMEOUT, request
from pylaunchd.sockets import max_backlog


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def ask(path: str, verb: str = "list", timeout: float = 5.0) -> object:
    """The real client, off the loop (it blocks), bounded in real time."""
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.run_in_executor(None, lambda: request(path, verb, timeout=timeout)), timeout)


async def wait_reply(reader: asyncio.StreamReader) -> dict:
    return json.loads(await asyncio.wait_for(reader.readline(), 5))


def test_silent_half_and_garbage_clients_delay_no_one_and_leave_nothing(tmp_path):
    async def body(h):
        path = h.domain.control_socket
        h.load("test.idle", ProgramArguments=["/bin/sleep", "60"])
        await ask(path)  # the executor's thread exists before the baseline
        await asyncio.sleep(0)
        base_tasks, base_fds = len(asyncio.all_tasks()), open_fds()
        clients = [await asyncio.open_unix_connection(path) for _ in range(60)]
        for i, (_, w) in enumerate(clients):
            if i % 3 == 1:
                w.write(b'{"verb":"li')  # half a request
            elif i % 3 == 2:
                w.write(os.urandom(MAX_REQUEST).replace(b"\n", b"x"))  # 1 MiB of garbage, no end of line
        await asyncio.gather(*(w.drain() for _, w in clients))
        await h.until(lambda: len(asyncio.all_tasks()) >= base_tasks + 60, "every connection to be served")
        started = time.monotonic()
        listed = await ask(path)
        assert [j["label"] for j in listed] == ["test.idle"] and time.monotonic() - started < 2
        h.clock.advance(REQUEST_TIMEOUT - 0.5)
        assert (await ask(path, "manager"))["pid"] == os.getpid(), "not timed out before its time"
        h.clock.advance(1.0)
        for r, _ in clients:
            reply = await wait_reply(r)
            assert reply["status"] == 64 and "no complete line within 10 s" in reply["error"], reply
        for _, w in clients:
            w.close()
        await h.until(lambda: len(asyncio.all_tasks()) <= base_tasks, "the connections' tasks to end")
        await h.until(lambda: open_fds() <= base_fds, "the connections' fds to be closed")
    run_in_process(tmp_path, body)


def test_a_client_that_never_reads_its_reply_is_dropped_on_the_clock(tmp_path):
    """A reply bigger than the socket buffers, never read: its connection is
    closed REQUEST_TIMEOUT after the reply was written, not held for ever."""
    async def body(h):
        path = h.domain.control_socket
        await ask(path)
        await asyncio.sleep(0)
        base_tasks = len(asyncio.all_tasks())
        r, w = await asyncio.open_unix_connection(path)
        w.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        big = "v" * (MAX_REQUEST - 100)
        w.write(json.dumps({"verb": "setenv", "args": {"key": "BIG", "value": big}}).encode() + b"\n")
        assert (await wait_reply(r))["ok"]  # now getenv's reply is bigger than any socket buffer
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # not on the loop: nothing reads it
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(path)
        stuck.sendall(b'{"verb":"getenv","args":{}}\n')
        await h.until(lambda: len(asyncio.all_tasks()) >= base_tasks + 1, "the reader's connection")
        await asyncio.sleep(0.2)  # let the reply fill the socket's buffers
        assert len(asyncio.all_tasks()) >= base_tasks + 1, "the reply cannot have been taken"
        h.clock.advance(REQUEST_TIMEOUT + 1)
        await h.until(lambda: len(asyncio.all_tasks()) <= base_tasks, "the stuck reply to be dropped")
        stuck.settimeout(5)
        data = b""
        try:
            while chunk := stuck.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        assert not data.endswith(b"}\n"), "the reply was cut: the manager let go"
        stuck.close()
        w.close()
    run_in_process(tmp_path, body)


def test_deeply_nested_json_is_refused_as_malformed(manager):
    """A regression the fuzzer found: json.loads raises RecursionError, not
    ValueError, and the connection was dropped without a reply."""
    reply = json.loads(unix_talk(manager.socket, b"[" * 100_000 + b"\n"))
    assert reply == {"ok": False, "error": "malformed request", "status": 64}
    assert "Traceback" not in manager.log()


def test_a_thousand_concurrent_clients_are_served_or_refused_cleanly(manager):
    """1,000 clients connect at once and send `list`: each gets an answer,
    the job list or "busy" (past MAX_CLIENTS); the control socket's queue
    holds them all (its connect is refused only where net.core.somaxconn caps
    the queue below 1,000); none is left hanging, the manager is unharmed,
    and its descriptors are back to their baseline."""
    manager.write("a.plist", plist("test.a", ProgramArguments=["/bin/sleep", "60"]))
    manager.wait_loaded("test.a")
    fd_dir = f"/proc/{manager.proc.pid}/fd"
    base = len(os.listdir(fd_dir))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft > 1100, "the test itself needs 1,000 descriptors"
    sel, answers, refused = selectors.DefaultSelector(), [], 0
    line = b'{"verb":"list","args":{}}\n'
    for _ in range(1000):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(manager.socket)
        except (BlockingIOError, ConnectionRefusedError):  # the kernel's queue is full
            refused += 1
            s.close()
            continue
        s.sendall(line)
        sel.register(s, selectors.EVENT_READ, [])
    deadline = time.monotonic() + 60
    while sel.get_map() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            chunk = key.fileobj.recv(65536)
            if chunk:
                key.data.append(chunk)
                continue
            answers.append(json.loads(b"".join(key.data)))
            sel.unregister(key.fileobj)
            key.fileobj.close()
    assert not sel.get_map(), f"{len(sel.get_map())} clients got no answer within 60 s"
    ok = [a for a in answers if a["ok"]]
    busy = [a for a in answers if not a["ok"]]
    assert all(a["result"][0]["label"] == "test.a" for a in ok)
    assert all(a["status"] == 5 and a["error"].startswith("busy: ") for a in busy)
    assert len(ok) + len(busy) + refused == 1000
    if max_backlog() >= 1000:
        assert refused == 0, f"{refused} connects refused: the control socket's queue is too short"
        assert len(ok) >= MAX_CLIENTS, f"only {len(ok)} served, {len(busy)} busy"
    assert request(manager.socket, "manager")["pid"] == manager.proc.pid
    manager.wait(lambda: len(os.listdir(fd_dir)) <= base, 10, "the manager's fds back to their baseline")
