"""System-wide events some jobs wait for: the network coming up or going
down (``KeepAlive.NetworkState``) and filesystems being mounted
(``StartOnMount``).

Both are event-driven, not polled: the network through a netlink socket
subscribed to link and address changes, mounts through ``poll(POLLPRI)`` on
``/proc/self/mountinfo`` (the kernel flags that file on every mount table
change). Callbacks run on the event loop.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import ipaddress
import logging
import os
import select
import socket
import struct
import threading
from typing import Callable

log = logging.getLogger("pylaunchd")

_RTMGRP_LINK, _RTMGRP_IPV4_IFADDR, _RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100
_IFF_UP, _IFF_LOOPBACK = 0x1, 0x8
_SIOCGIFADDR = 0x8915


def _iface_flags(name: str) -> int:
    try:
        with open(f"/sys/class/net/{name}/flags") as f:
            return int(f.read().strip(), 16)
    except (OSError, ValueError):
        return 0


def _operstate(name: str) -> str:
    try:
        with open(f"/sys/class/net/{name}/operstate") as f:
            return f.read().strip()
    except OSError:
        return "down"


def _has_ipv4(name: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            return True
        except OSError:
            return False


def _ipv6_interfaces() -> set[str]:
    """Interfaces with an IPv6 address that is not link-local."""
    out = set()
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6:
                    addr = ipaddress.IPv6Address(int(parts[0], 16))
                    if not addr.is_link_local and not addr.is_loopback:
                        out.add(parts[5])
    except OSError:
        pass
    return out


def network_up() -> bool:
    """launchd's NetworkState: some interface other than loopback is up and
    running with an IPv4 address or a global IPv6 address."""
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return False
    v6 = _ipv6_interfaces()
    for name in names:
        flags = _iface_flags(name)
        if flags & _IFF_LOOPBACK or not flags & _IFF_UP or _operstate(name) not in ("up", "unknown"):
            continue
        if name in v6 or _has_ipv4(name):
            return True
    return False


class NetworkMonitor:
    """Calls ``on_change(up)`` on the loop when network_up() changes."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_change: Callable[[bool], None]):
        self.loop = loop
        self.on_change = on_change
        self.sock: socket.socket | None = None
        self.up = network_up()

    def start(self) -> None:
        try:
            s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            s.bind((0, _RTMGRP_LINK | _RTMGRP_IPV4_IFADDR | _RTMGRP_IPV6_IFADDR))
            s.setblocking(False)
        except OSError as e:
            log.warning("cannot watch the network (netlink: %s); NetworkState is read only at load", e.strerror)
            return
        self.sock = s
        self.loop.add_reader(s.fileno(), self._readable)

    def _readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                if e.errno == errno.ENOBUFS:  # missed messages: the state is re-read anyway
                    continue
                break
        up = network_up()
        if up != self.up:
            self.up = up
            log.info("network is %s", "up" if up else "down")
            self.on_change(up)

    def stop(self) -> None:
        if self.sock is not None:
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None


class MountMonitor:
    """Calls ``on_mount()`` on the loop when a filesystem is mounted.

    The kernel reports any change of the mount table; only changes that add
    a mount point count, as ``StartOnMount`` is about mounts."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_mount: Callable[[list[str]], None]):
        self.loop = loop
        self.on_mount = on_mount
        self._stop_r, self._stop_w = os.pipe2(os.O_CLOEXEC)
        self._thread: threading.Thread | None = None

    @staticmethod
    def mount_points() -> set[str]:
        points = set()
        try:
            with open("/proc/self/mountinfo") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) > 4:
                        points.add(parts[4].encode().decode("unicode_escape"))
        except OSError:
            pass
        return points

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pylaunchd-mounts", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            f = open("/proc/self/mountinfo")
        except OSError as e:
            log.warning("cannot watch mounts (%s); StartOnMount will not fire", e.strerror)
            return
        known = self.mount_points()
        poller = select.poll()
        poller.register(f, select.POLLPRI | select.POLLERR)
        poller.register(self._stop_r, select.POLLIN)
        with f:
            while True:
                events = poller.poll()
                if any(fd == self._stop_r for fd, _ in events):
                    return
                f.seek(0)
                f.read()
                now = self.mount_points()
                added = sorted(now - known)
                known = now
                if added:
                    try:
                        self.loop.call_soon_threadsafe(self.on_mount, added)
                    except RuntimeError:
                        return

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=2)
        os.close(self._stop_r)
        os.close(self._stop_w)
