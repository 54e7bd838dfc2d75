"""The boot cache: what boot needs to bind an unchanged plist's sockets, without reading it.

At start (:mod:`pylaunchd.boot`) every plist of the job directories is read,
parsed and validated before its sockets are bound: about 0.2 ms a plist,
and the modules that do it (the validator, the job's data model) cost more
than the binds of sixty jobs. After a load the manager writes, into the
domain's state directory, for each plist of the job directories it loaded:
the file's identity (device, inode, size, mtime and ctime in nanoseconds),
its label, its ``Disabled`` default and its ``Sockets`` as the domain
admitted them, with the host name the ``LimitLoadTo*`` rules were decided
for. At the next start a plist whose identity is unchanged costs one
``stat`` and its binds; any other is read the slow way.

What keeps it safe:

* an edit changes the ctime, which nobody sets back (``touch`` restores
  mtime, not ctime), so a plist changed, even with size and mtime restored,
  is read again; a plist replaced by another file has another inode;
* the ownership and mode rules and the overrides (``disable``) are applied
  at every start, not cached; a cache of another format or version, uid,
  domain or host is not used at all, nor one that fails its checksum;
* the file is refused (and said so) unless it and its directory belong to
  the manager's user (or root) and nobody else can write them: another
  user must not choose which sockets a domain binds;
* the job table reads and validates every plist after the sockets listen,
  as it always did, and closes every socket it does not keep: a cache that
  is wrong somehow costs a socket bound for an instant, never a socket kept.

The format is marshal (the quickest reader the standard library has, and
no code runs on loading it) behind a magic line and a CRC-32. The file is
rewritten whole and atomically (a temporary file, then rename), only when
its contents change, with one entry per loaded plist: it never grows
beyond the job directories.
"""

from __future__ import annotations

import marshal
import os
import stat
from binascii import crc32

from .bootlog import log
from .socketspec import SocketGroupSpec, SocketSpec


FILE_NAME = "boot-cache.marshal"
MAGIC = b"pylaunchd boot cache 1\n"
MAX_BYTES = 256 * 1024 * 1024
# SocketSpec's fields and the types each may hold: the cache's schema. A
# SocketSpec with other fields makes every cache unusable (test_bootcache
# checks that this table follows the class).
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "type": (str,), "passive": (bool,), "family": (str, type(None)), "protocol": (str, type(None)),
    "node": (str, type(None)), "service": (str, type(None)), "path": (str, type(None)),
    "path_mode": (int, type(None)), "path_owner": (int, type(None)), "path_group": (int, type(None)),
    "secure_key": (str, type(None)), "multicast_group": (str, type(None)), "bonjour": (tuple,)}
FIELDS = tuple(FIELD_TYPES)

Identity = tuple  # (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)


class Entry:
    """What the cache knows of one plist."""

    __slots__ = ("identity", "label", "disabled", "sockets")

    def __init__(self, identity: Identity, label: str, disabled: bool, sockets: tuple[SocketGroupSpec, ...]):
        self.identity, self.label, self.disabled, self.sockets = identity, label, disabled, sockets


def identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_identity(path: str) -> Identity | None:
    try:
        return identity(os.stat(path))
    except OSError:
        return None


def cache_path(state_dir: str) -> str:
    return os.path.join(state_dir, FILE_NAME)


def _header(domain, host: str) -> tuple:
    """What a cache depends on besides its plists: its format and the version
    that wrote it (another may read plists otherwise), whose domain, which host."""
    from . import __version__
    return (MAGIC.decode().strip(), __version__, FIELDS, os.geteuid(), domain.name, domain.system,
            domain.privileged, host)


def unsafe(st: os.stat_result, what: str) -> str | None:
    """Why a cache file or its directory must not be trusted, or None."""
    if st.st_uid not in (0, os.geteuid()):
        return f"{what} is owned by uid {st.st_uid}, not by uid {os.geteuid()} or root"
    if st.st_mode & 0o022:
        return f"{what} is writable by others (mode {oct(st.st_mode & 0o777)[2:]})"
    return None


def _open(state_dir: str) -> bytes | None:
    """The cache file's bytes, or None (absent or refused, with a warning).
    Opened through its directory's descriptor, neither followed if a link."""
    path = cache_path(state_dir)
    try:
        dir_fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # no state directory yet (or a link: then no cache either)
    try:
        fd = os.open(FILE_NAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        os.close(dir_fd)
        return None  # no cache yet: every plist is read
    try:
        st = os.fstat(fd)
        problem = unsafe(os.fstat(dir_fd), f"its directory {state_dir}") or (
            "it is not a regular file" if not stat.S_ISREG(st.st_mode) else unsafe(st, "it")
            or (st.st_uid != os.geteuid() and "it is not this user's"))
        if problem or st.st_size > MAX_BYTES:
            log.warning("boot cache %s not used: %s; every plist is read", path, problem or "too large")
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)
        os.close(dir_fd)


def read(domain, host: str) -> dict[str, tuple]:
    """Plist path -> its raw entry (:func:`entry` makes it an Entry) from the
    domain's cache; empty when there is no usable cache (absent, refused,
    corrupt, or made for another domain or host)."""
    data = _open(domain.state_dir)
    if data is None:
        return {}
    entries = decode(data, _header(domain, host))
    if entries is None:
        log.warning("boot cache %s not used: corrupt, or written for another domain, host or version",
                    cache_path(domain.state_dir))
        return {}
    return entries


def decode(data: bytes, header: tuple) -> dict[str, bytes] | None:
    """The raw entries of a cache's bytes written under *header*, or None.
    Each entry is marshal bytes of its own, read and checked when it is used
    (:func:`entry`): the values of 10,000 entries decoded at once took 10 MiB
    that the manager kept (freed memory goes back to Python's arenas, not to
    the system), one at a time they reuse the same few blocks."""
    body = data[len(MAGIC) + 4:]
    if not data.startswith(MAGIC) or data[len(MAGIC):len(MAGIC) + 4] != crc32(body).to_bytes(4, "big"):
        return None
    try:
        top = marshal.loads(body)
        if type(top) is not tuple or len(top) != 2 or top[0] != header or type(top[1]) is not dict:
            return None
        return top[1]
    except (ValueError, TypeError, EOFError):
        return None


def entry(raw) -> Entry | None:
    """A raw entry as an Entry, checked value by value; None when it is not one."""
    try:
        return _entry(marshal.loads(raw))
    except (ValueError, TypeError, EOFError):
        return None


def _entry(raw) -> Entry:
    ident, label, disabled, groups = raw
    if type(ident) is not tuple or tuple(map(type, ident)) != _IDENTITY_TYPES or type(label) is not str \
            or type(disabled) is not bool:
        raise ValueError("not an entry")
    return Entry(ident, label, disabled, tuple([_group(g) for g in groups]))


_IDENTITY_TYPES = (int,) * 5


def _group(raw) -> SocketGroupSpec:
    name, socks = raw
    if type(name) is not str:
        raise TypeError("not a string")
    return SocketGroupSpec(name, tuple([_socket(s) for s in socks]))


_ALLOWED = tuple(FIELD_TYPES.values())
assert FIELDS[-1] == "bonjour"  # _socket checks its names last
# The types of a socket's values, field by field, that _socket has found
# allowed: the same few recur (at most 2 ** 12, every field but bonjour may be
# None), so each is checked once, and every other socket costs a lookup.
_ALLOWED_SIGNATURES: set[tuple[type, ...]] = set()


def _socket(values) -> SocketSpec:
    if type(values) is not tuple or len(values) != len(FIELDS):
        raise ValueError("not a socket")
    signature = tuple(map(type, values))
    if signature not in _ALLOWED_SIGNATURES:
        for kind, allowed in zip(signature, _ALLOWED):
            if kind not in allowed:
                raise TypeError(f"{kind.__name__} where {allowed} was expected")
        _ALLOWED_SIGNATURES.add(signature)
    if values[-1] and not all(type(v) is str for v in values[-1]):  # bonjour
        raise TypeError("a Bonjour name that is not a string")
    return SocketSpec(*values)


def encode(domain, host: str, items) -> bytes:
    """The cache's bytes for *items*: (plist path, identity, spec) of each loaded plist."""
    entries = {path: marshal.dumps((ident, spec.label, spec.disabled,
                                    tuple((g.name, tuple(tuple(getattr(s, f) for f in FIELDS) for s in g.sockets))
                                          for g in spec.sockets)))
               for path, ident, spec in items}
    body = marshal.dumps((_header(domain, host), entries))
    return MAGIC + crc32(body).to_bytes(4, "big") + body


def write(state_dir: str, data: bytes) -> None:
    """Replace the cache file with *data*, atomically (raises OSError)."""
    path = cache_path(state_dir)
    problem = unsafe(os.lstat(state_dir), state_dir)
    if problem:
        raise PermissionError(f"{problem}: not written there")
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.unlink(tmp)  # left by a process of this pid that died mid-write
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


class Writer:
    """Writes the domain's cache a moment after the loads settle, off the
    path to the first socket, and only when its contents changed.
    *items* answers (plist path, identity, spec) for each loaded plist, or
    None while nothing should be written (the manager shuts down)."""

    DELAY = 0.5  # seconds after the latest change: a burst of loads makes one write

    def __init__(self, domain, clock, items, after=None):
        self.domain, self.clock, self.items = domain, clock, items
        self.after = after  # called once each burst of loads has settled (the manager trims its heap)
        self._handle = None
        self._written: bytes | None = None  # the digest of what was written last

    def soon(self, delay: float | None = None) -> None:
        """Write in *delay* seconds; by default DELAY (a burst of loads makes one
        write), but the first is written at once, after the first scan: not
        within the idle minute that follows a start (one wakeup a minute at most)."""
        if self._handle is not None:
            self._handle.cancel()
        when = self.clock.monotonic() + (delay if delay is not None else self.DELAY if self._written else 0)
        self._handle = self.clock.call_at(when, self.write_now)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def write_now(self) -> None:
        import socket

        self._handle = None
        items = self.items()
        if items is None:  # a shutdown: its unloads are no next start's jobs
            return
        try:
            self._write(socket.gethostname(), items)
        finally:
            if self.after is not None:
                self.after()

    def _write(self, host: str, items) -> None:
        data = encode(self.domain, host, items)
        import hashlib

        digest = hashlib.blake2b(data, digest_size=20).digest()
        if digest == self._written:
            return
        try:
            write(self.domain.state_dir, data)
        except OSError as e:
            log.warning("boot cache %s not written: %s", cache_path(self.domain.state_dir), e)
            return
        self._written = digest
