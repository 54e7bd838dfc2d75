"""The first sockets: every job's sockets bound before anything heavy is imported.

launchd's promise is that a client that connects early is queued by the
kernel, not refused. A manager that first imports its event loop, its file
watcher and its control server would leave every socket closed for a tenth
of a second or more after its exec. So ``pylaunchd`` first reads the plists
of its job directories with the light modules only (plistlib, the validator,
the domain's rules, sockets.py) and binds the sockets of every job the
domain will load; then it imports the rest and starts the loop, and the job
table takes these sockets over (:meth:`~pylaunchd.jobtable.JobTable.adopt`)
instead of binding them again.

It applies the same rules as a load (ownership and mode, LimitLoadTo*,
Disabled and the overrides, one job per label), so it never binds a socket
the table would not keep. Whatever it cannot do it leaves to the table,
which reports it as a load does: a plist it cannot read, a socket it cannot
bind. A plist changed between the two readings is read again (its file's
identity is checked), and a socket the table does not take is closed.

After a re-exec (:mod:`pylaunchd.reexec`) the same reading takes the
sockets the previous process handed over, by address, instead of binding
them: they never stopped listening, and their unix socket files, in use,
are not unlinked.
"""

from __future__ import annotations

import os
import socket
import stat
from dataclasses import dataclass

from .domain import Domain, Overrides
from .jobspec import JobSpec
from .plist import PlistError, parse_plist, plists_in, read_limited
from .sockets import Inherited, SocketError, SocketGroup, create_groups
from .validate import SpecError, validate


@dataclass
class Early:
    """One plist read at boot: its spec, its bound sockets, and which file it was."""

    spec: JobSpec
    groups: list[SocketGroup]
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns

    def still_current(self, path: str) -> bool:
        return _identity(path) == self.identity


def _identity(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _read(domain: Domain, path: str) -> tuple[tuple[int, int, int, int], bytes] | None:
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
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), data


def bind_early(domain: Domain, inherited: Inherited | None = None) -> dict[str, Early]:
    """Path -> Early for every plist of the job directories the domain would
    load. After a re-exec, *inherited* holds the sockets the previous
    process listened on: those are taken by address, not bound again."""
    overrides = Overrides(domain.state_dir)
    host = socket.gethostname()
    early: dict[str, Early] = {}
    labels: set[str] = set()
    for directory in domain.jobs_dirs:
        for path in plists_in(directory):
            path = os.path.abspath(path)
            read = _read(domain, path)
            if read is None:
                continue
            identity, data = read
            try:
                spec = domain.admit(validate(parse_plist(path, data), path))
            except (PlistError, SpecError):
                continue
            if spec.label in labels or domain.load_filter(spec, host) \
                    or overrides.is_disabled(spec.label, spec.disabled):
                continue
            try:
                groups = create_groups(spec.sockets, inherited=inherited)
            except SocketError:
                continue
            labels.add(spec.label)
            early[path] = Early(spec, groups, identity)
    return early
