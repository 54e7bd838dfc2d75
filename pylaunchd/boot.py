"""The first sockets: every job's sockets bound before anything heavy is imported.

launchd's promise is that a client that connects early is queued by the
kernel, not refused. A manager that first imports its event loop, its file
watcher and its control server would leave every socket closed for a tenth
of a second or more after its exec. So ``pylaunchd`` first reads the plists
of its job directories with the light modules only (the plist reader, the
validator, the domain's rules, sockets.py) and binds the sockets of every job the
domain will load; then it imports the rest and starts the loop, and the job
table takes these sockets over (:meth:`~pylaunchd.jobtable.JobTable.adopt`)
instead of binding them again.

It applies the same rules as a load (ownership and mode, LimitLoadTo*,
Disabled and the overrides, one job per label), so it never binds a socket
the table would not keep. Whatever it cannot do it leaves to the table,
which reports it as a load does: a plist it cannot read, a socket it cannot
bind. A plist changed between the two readings is read again (its file's
identity is checked), and a socket the table does not take is closed.

Most starts find their plists unchanged: the boot cache
(:mod:`pylaunchd.bootcache`, written by the manager after a load) then
stands for the reading. A plist whose file identity (device, inode, size,
mtime, ctime) is the one cached costs a ``stat`` and its binds, and the
modules that read and validate a plist are not even imported unless some
plist changed; its spec is read when first asked for (:attr:`Early.spec`),
after the sockets listen. The table reads every plist again anyway, and
keeps only the sockets its own reading asks for.

After a re-exec (:mod:`pylaunchd.reexec`) the same reading takes the
sockets the previous process handed over, by address, instead of binding
them: they never stopped listening, and their unix socket files, in use,
are not unlinked.
"""

from __future__ import annotations

import _socket  # gethostname; the Python module socket comes after the last bind (sockets.full_sockets)
import os
import stat

from . import bootcache
from .bootcache import Identity, identity
from .domain import Domain, Overrides
from .plist import plists_in, read_limited
from .sockets import Inherited, SocketError, SocketGroup, create_groups, full_sockets

TYPE_CHECKING = False  # neither typing nor the job's model is imported on the way to the first socket
if TYPE_CHECKING:
    from typing import Callable

    from .jobspec import JobSpec


class Early:
    """One plist read at boot: its spec, its bound sockets, and which file it
    was. For a plist the boot cache knew, the spec is read and validated
    when first asked for (PlistError or SpecError then, as a load)."""

    __slots__ = ("_spec", "_load", "groups", "identity")

    def __init__(self, spec: "JobSpec | None", groups: list[SocketGroup], identity: Identity,
                 load: "Callable[[], JobSpec] | None" = None):
        self._spec, self._load, self.groups, self.identity = spec, load, groups, identity

    @property
    def spec(self) -> "JobSpec":
        if self._spec is None:
            assert self._load is not None
            self._spec = self._load()
        return self._spec

    def readable(self) -> bool:
        """The spec can be had (read now if it was not): False when the plist,
        unchanged by its identity, still does not read or validate (the table
        then reports it, and closes its sockets)."""
        from .plist import PlistError
        from .validate import SpecError
        try:
            self.spec
        except (PlistError, SpecError):
            return False
        return True

    @property
    def cached(self) -> bool:
        """Bound from the boot cache, the plist not read yet."""
        return self._spec is None

    def still_current(self, path: str) -> bool:
        return bootcache.file_identity(path) == self.identity


def _read(domain: Domain, path: str) -> tuple[Identity, bytes] | None:
    """The identity and bytes of a regular file the domain may load, in one
    open (its fstat is both checks); None for anything else, left to the table."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)  # never waits on a FIFO
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or domain.stat_problem(st):
            return None
        data = read_limited(fd, st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)
    return identity(st), data


def _from_cache(domain: Domain, path: str, raw) -> bootcache.Entry | None:
    """The cache's entry for *path* when the plist is the file it describes
    and the domain may load it; None otherwise."""
    entry = bootcache.entry(raw) if raw is not None else None
    if entry is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return entry if identity(st) == entry.identity and stat.S_ISREG(st.st_mode) and not domain.stat_problem(st) \
        else None


def _slow(domain: Domain, path: str, host: str) -> "tuple[JobSpec, Identity] | None":
    """Read, parse, validate and admit a plist the cache does not vouch for:
    its spec and the identity of the bytes read; None when the table will
    refuse it (and say why)."""
    from .plist import PlistError, parse_plist  # the heavy half: only for plists that changed
    from .validate import SpecError, validate

    read = _read(domain, path)
    if read is None:
        return None
    ident, data = read
    try:
        spec = domain.admit(validate(parse_plist(path, data), path))
    except (PlistError, SpecError):
        return None
    if domain.load_filter(spec, host):
        return None
    return spec, ident


def _loader(domain: Domain, path: str) -> Callable[[], "JobSpec"]:
    def load() -> "JobSpec":
        from .spec import load_spec
        return domain.admit(load_spec(path))
    return load


def bind_early(domain: Domain, inherited: Inherited | None = None) -> dict[str, Early]:
    """Path -> Early for every plist of the job directories the domain would
    load. After a re-exec, *inherited* holds the sockets the previous
    process listened on: those are taken by address, not bound again."""
    overrides = Overrides(domain.state_dir)
    host = _socket.gethostname()
    cache = bootcache.read(domain, host)
    early: dict[str, Early] = {}
    labels: set[str] = set()
    for directory in domain.jobs_dirs:
        # An absolute directory's listing: each path is what abspath would make it.
        for path in plists_in(os.path.abspath(directory)):
            entry = _from_cache(domain, path, cache.get(path))
            if entry is not None:
                label, disabled, sockets, spec = entry.label, entry.disabled, entry.sockets, None
                ident = entry.identity
            else:
                read = _slow(domain, path, host)
                if read is None:
                    continue
                spec, ident = read
                label, disabled, sockets = spec.label, spec.disabled, spec.sockets
            if label in labels or overrides.is_disabled(label, disabled):
                continue
            try:
                groups = create_groups(sockets, inherited=inherited, raw=True)
            except SocketError:
                continue
            labels.add(label)
            early[path] = Early(spec, groups, ident, None if spec is not None else _loader(domain, path))
    for e in early.values():  # every socket listens: now socket.py, and socket.socket objects
        full_sockets(e.groups)
    return early
