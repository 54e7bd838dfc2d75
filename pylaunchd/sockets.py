"""Creating, describing and closing the sockets of a job's ``Sockets`` dictionary.

The manager creates every socket when the job loads, before anything runs,
and holds it for the job's whole life: connections made while the job is not
running wait in the kernel's queue. Sockets are created blocking, as launchd
and systemd hand them over; the manager only polls them for readability.

Sockets are made with the C module, ``_socket`` (imported here as
``socket``): the Python module ``socket`` (its enums, selectors: 5 ms and
more of a start here) is not imported on the way to the first socket. Each
is made a ``socket.socket`` (:func:`full_socket`) once made; boot, which
binds every job's sockets first, asks for them raw and makes them full
once the last one listens (:func:`full_sockets`).

Size: every family's create and close paths share the BoundSocket record,
the type tables and the error wording; the unix path (bind in a shared
directory through :mod:`pylaunchd.safepath`, or take a re-exec's socket)
is the largest of them, and splitting it off would make a cycle.
"""

from __future__ import annotations

import errno
import _socket as socket  # the C module: see above
import os
import stat
TYPE_CHECKING = False  # typing is not imported on the way to the first socket

from . import safepath
from .bootlog import log
from .addresses import address_text
from .socketspec import SocketGroupSpec, SocketSpec

if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object


class SocketError(Exception):
    """A socket of a job could not be created; the message says which and why."""


_TYPES = {"stream": socket.SOCK_STREAM, "dgram": socket.SOCK_DGRAM, "seqpacket": socket.SOCK_SEQPACKET}
_FAMILIES = {None: socket.AF_UNSPEC, "IPv4": socket.AF_INET, "IPv6": socket.AF_INET6, "IPv4v6": socket.AF_INET6}
_PROTOCOLS = {None: 0, "TCP": socket.IPPROTO_TCP, "UDP": socket.IPPROTO_UDP}
_FAMILY_NAMES = {socket.AF_INET: "IPv4", socket.AF_INET6: "IPv6", socket.AF_UNIX: "Unix"}
_TYPE_NAMES = {v: k for k, v in _TYPES.items()}


_backlog = 0  # max_backlog's answer, once read (functools is not imported on the way to the first socket)


def max_backlog() -> int:
    """The system's maximum listen backlog (net.core.somaxconn), read once."""
    global _backlog
    if not _backlog:
        try:
            with open("/proc/sys/net/core/somaxconn") as f:
                _backlog = int(f.read().strip())
        except (OSError, ValueError):
            _backlog = socket.SOMAXCONN
    return _backlog


class BoundSocket:
    """One open socket of a group, with what ``print`` shows of it. (Plain
    classes here, not dataclasses: see :mod:`pylaunchd.socketspec`.)"""

    __slots__ = ("sock", "spec", "family", "type", "address", "unix_inode", "secure_dir", "accepted", "triggers",
                 "last_trigger")

    def __init__(self, sock: socket.socket, spec: SocketSpec, family: str, type: str, address: dict,
                 unix_inode: tuple[int, int] | None = None, secure_dir: str | None = None):
        self.sock, self.spec, self.family, self.type, self.address = sock, spec, family, type, address
        # (st_dev, st_ino) of the unix socket file we bound, so we only ever
        # unlink our own file, never one that replaced it.
        self.unix_inode = unix_inode
        self.secure_dir = secure_dir  # SecureSocketWithKey: the private directory we made
        self.accepted = 0  # connections the manager accepted (inetd Wait false)
        self.triggers = 0  # times a client on this socket started the job
        self.last_trigger: float | None = None  # wall-clock time of the latest

    def __repr__(self) -> str:
        return f"BoundSocket({self.family} {self.type} {self.address}, fd {self.sock.fileno()})"

    def fileno(self) -> int:
        return self.sock.fileno()

    def describe(self) -> dict:
        return {"family": self.family, "type": self.type, "address": self.address,
                "passive": self.spec.passive, "fd": self.sock.fileno() if self.sock.fileno() >= 0 else None,
                "accepted": self.accepted, "triggers": self.triggers, "last_trigger": self.last_trigger}

    def address_text(self) -> str:
        return address_text(self.address)


class SocketGroup:
    """A named entry of ``Sockets``: every fd created for it, in order."""

    __slots__ = ("spec", "sockets")

    def __init__(self, spec: SocketGroupSpec, sockets: list[BoundSocket] | None = None):
        self.spec = spec
        self.sockets: list[BoundSocket] = [] if sockets is None else sockets

    def __repr__(self) -> str:
        return f"SocketGroup({self.spec.name!r}, {self.sockets!r})"

    @property
    def name(self) -> str:
        return self.spec.name


def create_groups(groups: tuple[SocketGroupSpec, ...], keep: dict[str, SocketGroup] | None = None,
                  inherited: "Inherited | None" = None, raw: bool = False) -> list[SocketGroup]:
    """Create every group, reusing the open groups in *keep* whose definition
    is unchanged, and taking from *inherited* (a re-exec's sockets) every
    listening socket already open at the address asked for; on any failure
    close what was made here and raise. *raw*: the new sockets are the C
    module's objects, for :func:`full_sockets` to make full (boot)."""
    keep = keep or {}
    made: list[SocketGroup] = []
    try:
        for g in groups:
            old = keep.get(g.name)
            made.append(_same(old, g) if old is not None and old.spec == g else create_group(g, inherited, raw))
    except BaseException:
        for g in made:
            if keep.get(g.name) is not g:
                close_group(g)
        raise
    return made


def _same(group: SocketGroup, spec: SocketGroupSpec) -> SocketGroup:
    """*group*, kept, now naming *spec* (equal to its own): the boot cache's
    copies of a definition are not held beside the job's for its whole life."""
    equal = {s: s for s in spec.sockets}
    group.spec = spec
    for b in group.sockets:
        b.spec = equal.get(b.spec, b.spec)
    return group


class UnknownService(SocketError):
    """A SockServiceName that /etc/services lacks: launchd logs it and loads
    the job without that socket, and so does pylaunchd."""


class Inherited(Protocol):
    """Open listening sockets to take instead of binding (see
    :class:`pylaunchd.reexec.handoff.InheritedSockets`)."""

    def take(self, family: int, type: int, address) -> socket.socket | None: ...

    def take_secure(self, key: str, name: str) -> socket.socket | None: ...


def create_group(spec: SocketGroupSpec, inherited: Inherited | None = None, raw: bool = False) -> SocketGroup:
    group = SocketGroup(spec)
    try:
        for i, s in enumerate(spec.sockets):
            where = f"socket {spec.name!r}" + (f" [{i}]" if len(spec.sockets) > 1 else "")
            if s.is_unix:
                group.sockets.append(_create_unix(s, where, spec.name, inherited))
                continue
            try:
                group.sockets.extend(_create_inet(s, where, inherited))
            except UnknownService as e:
                log.warning("%s", e)
    except BaseException:
        close_group(group)
        raise
    if not raw:
        full_sockets([group])
    return group


def full_socket(sock):
    """*sock* as a ``socket.socket`` (what the loop, asyncio and the jobs'
    code use): the C module's object becomes one on the same descriptor,
    in the same blocking mode; a full one is returned as it is."""
    import socket as full  # the Python module: from here on

    if isinstance(sock, full.socket):
        return sock
    timeout = sock.gettimeout()
    made = full.socket(sock.family, sock.type, sock.proto, sock.detach())
    if timeout is not None:
        made.settimeout(timeout)
    return made


def full_sockets(groups) -> None:
    """Every socket of *groups* made a ``socket.socket`` (:func:`full_socket`)."""
    for group in groups:
        for b in group.sockets:
            b.sock = full_socket(b.sock)


def close_group(group: SocketGroup) -> None:
    """Close every socket of the group and remove the unix socket files it bound."""
    for b in group.sockets:
        try:
            b.sock.close()
        except OSError:
            pass
        if b.unix_inode is not None:
            unlink_bound(b.address["path"], b.unix_inode)
        if b.secure_dir is not None:
            try:
                os.rmdir(b.secure_dir)
            except OSError:
                pass
    group.sockets.clear()


def exported_environment(groups: list[SocketGroup]) -> dict[str, str]:
    """SecureSocketWithKey: variable name -> socket path, for every job of the domain."""
    return {b.spec.secure_key: b.address["path"] for g in groups for b in g.sockets if b.spec.secure_key}


def _resolved(s: SocketSpec, sock_type: int, where: str) -> list:
    """getaddrinfo's answers for *s* (SocketError, UnknownService if none)."""
    # IPv4v6 is one dual-stack socket: an IPv4 name or address (Homebrew writes SockNodeName 127.0.0.1
    # with IPv4v6 for sockets "tcp://127.0.0.1:PORT") is its v4-mapped address, ::ffff:127.0.0.1.
    flags = (socket.AI_PASSIVE if s.passive else 0) | (socket.AI_V4MAPPED if s.family == "IPv4v6" else 0)
    try:
        return socket.getaddrinfo(s.node, s.service, _FAMILIES[s.family], sock_type, _PROTOCOLS[s.protocol], flags)
    except socket.gaierror as e:
        what = f"{s.node or '*'}:{s.service}"
        if e.errno == socket.EAI_SERVICE and s.service and not str(s.service).isdigit():
            raise UnknownService(f"{where}: SockServiceName {s.service!r} is not a service of /etc/services: "
                                 f"the job is loaded without this socket, as launchd does; give the port "
                                 f"number") from None
        raise SocketError(f"{where}: cannot resolve {what}: {e.strerror}") from None
    except UnicodeError as e:  # a SockNodeName the idna codec refuses (a label over 63 characters, say)
        raise SocketError(f"{where}: cannot resolve {s.node!r}: not a valid host name ({e})") from None


def _create_inet(s: SocketSpec, where: str, inherited: Inherited | None = None) -> list[BoundSocket]:
    sock_type = _TYPES[s.type]
    numeric = _numeric(s, sock_type)
    infos = numeric or _resolved(s, sock_type, where)
    out: list[BoundSocket] = []
    errors: list[str] = []
    for family, stype, proto, _canon, addr in (infos if len(infos) == 1 else _unique(infos)):
        taken = inherited.take(family, stype, addr) if inherited is not None and s.passive else None
        if taken is not None:  # a re-exec: this socket has listened all along
            out.append(_bound_inet(taken, s))
            continue
        try:
            sock = socket.socket(family, stype, proto)
        except OSError as e:
            # An address family the kernel lacks (no IPv6) skips that socket
            # when the family was not asked for explicitly.
            if s.family is None and e.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                errors.append(f"{_text(family, addr)}: {e.strerror}")
                continue
            raise SocketError(f"{where}: cannot create a socket for {_text(family, addr)}: {e.strerror}") from None
        try:
            if s.passive:
                # launchd: SO_REUSEPORT for multicast (several listeners on a group), else SO_REUSEADDR
                opt = socket.SO_REUSEPORT if s.multicast_group else socket.SO_REUSEADDR
                sock.setsockopt(socket.SOL_SOCKET, opt, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if s.family == "IPv4v6" else 1)
                sock.bind(addr)
                if stype != socket.SOCK_DGRAM:
                    sock.listen(max_backlog())
                if s.multicast_group:
                    _join(sock, family, s.multicast_group)
            else:
                sock.connect(addr)
        except OSError as e:
            sock.close()
            if s.family is None and e.errno == errno.EADDRNOTAVAIL and s.node is None:
                errors.append(f"{_text(family, addr)}: {e.strerror}")
                continue
            verb = "bind to" if s.passive else "connect to"
            hint = " (another process is listening there)" if e.errno == errno.EADDRINUSE else ""
            raise SocketError(f"{where}: cannot {verb} {_text(family, addr)}: {e.strerror}{hint}") from None
        if numeric and s.passive and addr[1]:
            # The address bound is the one asked for, already in inet_ntop's
            # words (_numeric): getsockname would say the same.
            out.append(BoundSocket(sock, s, _FAMILY_NAMES[family], s.type, {"host": addr[0], "port": addr[1]}))
        else:
            out.append(_bound_inet(sock, s))
    if not out:
        raise SocketError(f"{where}: no socket could be created: {'; '.join(errors) or 'no address'}")
    return out


def _text(family: int, addr: tuple) -> str:
    return f"[{addr[0]}]:{addr[1]}" if family == socket.AF_INET6 else f"{addr[0]}:{addr[1]}"


_NUMERIC_PROTOCOLS = {socket.SOCK_STREAM: socket.IPPROTO_TCP, socket.SOCK_DGRAM: socket.IPPROTO_UDP}
# (node, family asked for, IPv4v6) -> (family, the address in inet_ntop's words) or
# None: a domain's sockets name a few addresses, each asked once.
_NUMERIC_NODES: dict[tuple[str, int], tuple[int, str] | None] = {}


def _numeric(s: SocketSpec, sock_type: int) -> list | None:
    """getaddrinfo's answer for a numeric address and port (``127.0.0.1``,
    ``::1``; ``8080``), without the call: most of the time of a socket's
    creation at start. None for anything else, which getaddrinfo answers."""
    service, node = s.service, s.node
    proto = _NUMERIC_PROTOCOLS.get(sock_type)
    if node is None or service is None or proto is None or not (service.isascii() and service.isdigit()) \
            or _PROTOCOLS[s.protocol] not in (0, proto):
        return None
    port = int(service)
    if port > 65535:
        return None
    key = (node, _FAMILIES[s.family], s.family == "IPv4v6")
    try:
        found = _NUMERIC_NODES[key]
    except KeyError:
        found = _NUMERIC_NODES[key] = _numeric_node(*key)
        if len(_NUMERIC_NODES) > 1024:  # a bound, for domains of many addresses
            _NUMERIC_NODES.clear()
    if found is None:
        return None
    family, host = found
    return [(family, sock_type, proto, "", (host, port) if family == socket.AF_INET else (host, port, 0, 0))]


def _numeric_node(node: str, wanted: int, v4mapped: bool) -> tuple[int, str] | None:
    for family in (socket.AF_INET, socket.AF_INET6):
        if wanted not in (socket.AF_UNSPEC, family):
            continue
        try:
            return family, socket.inet_ntop(family, socket.inet_pton(family, node))
        except OSError:
            if not v4mapped:
                continue
        try:  # an IPv4 address on a dual-stack socket: its v4-mapped form (getaddrinfo's AI_V4MAPPED)
            return family, "::ffff:" + socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, node))
        except OSError:
            continue
    return None


def _unique(infos: list) -> list:
    """getaddrinfo's answers, each (family, address) once."""
    seen, unique = set(), []
    for info in infos:
        key = (info[0], info[4][:2])
        if key not in seen:
            seen.add(key)
            unique.append(info)
    return unique


def _bound_inet(sock: socket.socket, s: SocketSpec) -> BoundSocket:
    host, port = sock.getsockname()[:2]
    return BoundSocket(sock, s, _FAMILY_NAMES[sock.family], s.type, {"host": host, "port": port})


def _join(sock: socket.socket, family: int, group: str) -> None:
    """Join a multicast group on the default interface, or on loopback when
    there is no default route (a machine with only loopback)."""
    if family == socket.AF_INET:
        try:
            g = socket.inet_aton(socket.gethostbyname(group))
        except UnicodeError:  # as getaddrinfo's: the idna codec refuses the name
            raise OSError(errno.EINVAL, f"MulticastGroup {group!r} is not a valid host name") from None
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, g + socket.inet_aton("0.0.0.0"))
        except OSError as e:
            if e.errno not in (errno.ENODEV, errno.EADDRNOTAVAIL):
                raise
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, g + socket.inet_aton("127.0.0.1"))
    else:
        import struct  # here: only an IPv6 multicast group needs it

        g = socket.inet_pton(socket.AF_INET6, group)
        try:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, g + struct.pack("@I", 0))
        except OSError as e:
            if e.errno not in (errno.ENODEV, errno.EADDRNOTAVAIL):
                raise
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                            g + struct.pack("@I", socket.if_nametoindex("lo")))


def _secure_path(name: str) -> tuple[str, str]:
    """A fresh private directory (0700) and the socket path in it, as launchd's
    /tmp/com.apple.launchd.XXXX/Listeners. Under XDG_RUNTIME_DIR when set."""
    import tempfile  # here: only SecureSocketWithKey needs it

    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.path.isdir(base):
        base = tempfile.gettempdir()
    d = tempfile.mkdtemp(prefix="pylaunchd.", dir=base)
    return d, os.path.join(d, name)


def _create_unix(s: SocketSpec, where: str, name: str, inherited: Inherited | None = None) -> BoundSocket:
    """Bind (or connect) a unix socket, or take one a re-exec handed over; nothing
    another user planted in a shared directory is followed or removed (safepath)."""
    if inherited is not None and s.passive:
        adopted = _adopt_unix(s, name, inherited)
        if adopted is not None:
            return adopted
    secure_dir = None
    if s.secure_key:
        secure_dir, path = _secure_path(name)
    else:
        path = s.path
    assert path is not None
    parent = os.path.dirname(path) or "."
    if not os.path.isdir(parent):
        raise SocketError(f"{where}: cannot bind to {path}: parent directory {parent} does not exist")
    try:
        parent = safepath.open_parent(path)
    except (safepath.UnsafePath, OSError) as e:
        _discard(secure_dir)
        raise SocketError(f"{where}: cannot bind to {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        return _bind_unix(s, where, path, parent, secure_dir)
    except SocketError:
        _discard(secure_dir)
        raise
    finally:
        os.close(parent.fd)


def _discard(secure_dir: str | None) -> None:
    if secure_dir:
        try:
            os.rmdir(secure_dir)
        except OSError:
            pass


def _bind_unix(s: SocketSpec, where: str, path: str, parent: safepath.Parent,
               secure_dir: str | None) -> BoundSocket:
    sock_type, base, dir_fd = _TYPES[s.type], os.path.basename(path), parent.fd
    st = safepath.lstat_at(dir_fd, base)
    if st is not None and s.passive:
        _clear_stale(where, path, parent, base, st, sock_type)
    sock = socket.socket(socket.AF_UNIX, sock_type)
    inode = None
    old_umask = os.umask(0o777)  # mode 0000 until the owner and mode are set: no window
    try:
        if s.passive:
            sock.bind(parent.bind_name(path))
            st = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
            inode = (st.st_dev, st.st_ino)
            mode = 0o700 if s.path_mode is None else s.path_mode
            safepath.set_mode_owner(dir_fd, base, mode, -1 if s.path_owner is None else s.path_owner,
                                    -1 if s.path_group is None else s.path_group)
            if sock_type != socket.SOCK_DGRAM:
                sock.listen(max_backlog())
        else:
            sock.connect(path)
    except (OSError, safepath.UnsafePath) as e:
        sock.close()
        if inode is not None:
            _unlink_ours(dir_fd, base, inode)
        verb = "bind to" if s.passive else "connect to"
        raise SocketError(f"{where}: cannot {verb} {path}: {getattr(e, 'strerror', None) or e}") from None
    finally:
        os.umask(old_umask)
    return BoundSocket(sock, s, "Unix", s.type, {"path": path}, unix_inode=inode, secure_dir=secure_dir)


def _clear_stale(where: str, path: str, parent: safepath.Parent, base: str, st: os.stat_result,
                 sock_type: int) -> None:
    """Remove a stale socket file at the path, or refuse: a symlink or any
    file that is not a socket is never followed nor removed."""
    if stat.S_ISLNK(st.st_mode):
        raise SocketError(f"{where}: cannot bind to {path}: the path is a symbolic link (not followed)")
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketError(f"{where}: cannot bind to {path}: the path exists and is not a socket")
    if _unix_socket_is_live(parent.bind_name(path), sock_type):
        raise SocketError(f"{where}: cannot bind to {path}: a process is already listening there")
    if not safepath.removable_stale(parent, st):
        raise SocketError(f"{where}: cannot bind to {path}: a stale socket owned by uid {st.st_uid} is in "
                          f"a shared directory; not removed (remove it, or choose a private directory)")
    try:
        os.unlink(base, dir_fd=parent.fd)  # stale socket file left by a process that is gone
    except FileNotFoundError:
        pass


def unlink_bound(path: str, inode: tuple[int, int]) -> None:
    """Remove the socket file we bound at *path*, reached as safely as at the
    bind (its directory's owner may have renamed things since): never
    another file that took its name or its directory's place."""
    try:
        parent = safepath.open_parent(path)
    except (safepath.UnsafePath, OSError):
        return
    try:
        _unlink_ours(parent.fd, os.path.basename(path), inode)
    finally:
        os.close(parent.fd)


def _unlink_ours(dir_fd: int, base: str, inode: tuple[int, int]) -> None:
    try:
        st = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
        if (st.st_dev, st.st_ino) == inode:
            os.unlink(base, dir_fd=dir_fd)
    except OSError:
        pass


def _adopt_unix(s: SocketSpec, name: str, inherited: Inherited) -> BoundSocket | None:
    """The inherited socket for this address, if a re-exec handed one over:
    its file is in use, so it is neither unlinked nor bound again."""
    sock_type = _TYPES[s.type]
    sock = inherited.take_secure(s.secure_key, name) if s.secure_key else \
        inherited.take(socket.AF_UNIX, sock_type, s.path)
    if sock is None:
        return None
    path = sock.getsockname()
    try:
        st = os.lstat(path)
        inode = (st.st_dev, st.st_ino) if stat.S_ISSOCK(st.st_mode) else None
    except OSError:
        inode = None
    secure_dir = os.path.dirname(path) if s.secure_key else None
    return BoundSocket(sock, s, "Unix", s.type, {"path": path}, unix_inode=inode, secure_dir=secure_dir)


def _unix_socket_is_live(path: str, sock_type: int) -> bool:
    probe = socket.socket(socket.AF_UNIX, sock_type)
    probe.settimeout(0.5)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()
