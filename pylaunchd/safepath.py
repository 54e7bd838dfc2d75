"""Paths in shared directories: where a unix socket may be bound, and how.

A job's ``SockPathName`` may lie in ``/tmp`` or another directory that other
users can write. The manager (often root) must not be steered by what they
plant there: a symlink at the name or at a parent, a file that is not a
socket, a directory swapped for a symlink between a check and a bind.

:func:`open_parent` walks the parent directory from ``/`` one component at a
time, each opened ``O_PATH | O_NOFOLLOW``, and checks every step the way
systemd's ``chase(CHASE_SAFE)`` does: out of a directory that a user other
than root or the manager may write, the next component must be owned by root
or the manager and the directory must be sticky (so that only that owner may
rename or remove it). A symlink is followed only when its owner is root or the
manager and the step to it is safe: so nobody else can redirect the path,
before or after the check, and ``bind()`` by name lands where it was checked.

A directory owned by another user who alone may write it (a home directory,
``/run/user/UID``) is that user's ground, as in systemd's ``chase()``: the
manager may bind there, but from there on every component must be owned by
that user (they could swap anything else in), so a symlink of theirs that
leads out of their ground, to ``/etc`` say, is refused. As that user can
rename the components, the bind goes through the directory's fd
(``/proc/self/fd/N/NAME``), not by name: it lands in the directory checked.

The final name is looked at through the directory's fd (``lstat``, ``unlink``
with ``dir_fd``: the final component is never followed). The socket file's
mode and owner are set through an ``O_PATH`` fd of the file just bound (by
``/proc/self/fd/N``, as ``fchmod`` on a socket changes the socket, not its
file), never by name. Linux only, standard library only.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

MAX_LINKS = 40  # as the kernel's MAXSYMLINKS


class UnsafePath(Exception):
    """The path cannot be used safely; the message says which component and why."""


def _trusted(uid: int) -> bool:
    return uid == 0 or uid == os.geteuid()


def _shared(st: os.stat_result) -> bool:
    """Whether someone other than root or us may write into the directory."""
    return not _trusted(st.st_uid) or bool(st.st_mode & 0o022)


@dataclass
class Parent:
    """The directory that holds a path, reached safely: its ``O_PATH`` fd,
    and the uid of the other user whose ground it is (None: root's or ours)."""

    fd: int
    owner: int | None = None

    def bind_name(self, path: str) -> str:
        """The name to bind *path* by: the path itself on our ground; on
        another user's, through our fd of the directory checked."""
        if self.owner is None:
            return path
        return f"/proc/self/fd/{self.fd}/{os.path.basename(path)}"


def _check_step(where: str, dir_st: os.stat_result, name: str, st: os.stat_result, ground: int | None) -> None:
    """Refuse the step from a directory into *name* when another user could
    change it; *ground*: whose ground the directory is (see the docstring)."""
    here = os.path.join(where, name)
    kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a directory"
    if dir_st.st_mode & 0o022 and not dir_st.st_mode & stat.S_ISVTX:
        raise UnsafePath(f"{where} is writable by other users (mode {stat.S_IMODE(dir_st.st_mode):04o}, "
                         f"owner uid {dir_st.st_uid}) and not sticky: another user could replace {name!r} in it")
    if ground is not None:
        if st.st_uid != ground:
            raise UnsafePath(f"{here} is {kind} owned by uid {st.st_uid} in {where}, which uid {ground} "
                             f"owns and could have put it there: not followed")
    elif dir_st.st_mode & 0o022 and not _trusted(st.st_uid):
        raise UnsafePath(f"{here} is {kind} owned by uid {st.st_uid} in the shared directory {where}: not followed")


def open_parent(path: str) -> Parent:
    """The directory that holds *path*, reached safely (see the module
    docstring); raise UnsafePath or OSError. The caller closes its fd."""
    parent = os.path.dirname(os.path.abspath(path))
    fd, ground = _walk(parent, [MAX_LINKS], None)
    return Parent(fd, ground)


def _walk(directory: str, links: list[int], ground: int | None) -> tuple[int, int | None]:
    """Walk *directory* from ``/``; *ground*: whose ground the walk must stay
    on (a symlink of theirs may not lead out of it). The fd and its ground."""
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    where, here_ground = "/", None
    try:
        for name in [c for c in directory.split("/") if c and c != "."]:
            fd, where, here_ground = _step(fd, where, name, links, here_ground)
        if ground is not None and here_ground != ground:
            raise UnsafePath(f"a symbolic link owned by uid {ground} leads to {where}, which that user "
                             f"does not own: not followed")
        return fd, here_ground
    except BaseException:
        os.close(fd)
        raise


def _step(fd: int, where: str, name: str, links: list[int], ground: int | None) -> tuple[int, str, int | None]:
    """Go from the directory *fd* (the path *where*, on *ground*) into
    *name*; the old fd is closed."""
    if name == "..":
        nxt = os.open("..", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        os.close(fd)
        return nxt, os.path.dirname(where) or "/", ground
    dir_st = os.fstat(fd)
    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    _check_step(where, dir_st, name, st, ground)
    here = os.path.join(where, name)
    if stat.S_ISLNK(st.st_mode):
        links[0] -= 1
        if links[0] < 0:
            raise UnsafePath(f"{here}: too many levels of symbolic links")
        target = os.readlink(name, dir_fd=fd)
        base = os.path.normpath(target if target.startswith("/") else os.path.join(where, target))
        nxt, ground = _walk(base, links, ground)
        os.close(fd)
        return nxt, base, ground
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{here} is not a directory")
    nxt = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    if os.fstat(nxt).st_ino != st.st_ino:  # swapped between the lstat and the open
        os.close(nxt)
        raise UnsafePath(f"{here} changed while it was being checked")
    os.close(fd)
    if ground is None and not _trusted(st.st_uid) and not st.st_mode & 0o022:
        ground = st.st_uid  # another user's own directory: their ground from here on
    return nxt, here, ground


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def removable_stale(parent: Parent, st: os.stat_result) -> bool:
    """Whether a stale socket file may be removed: no other user could swap
    it for another file between our look and the unlink (on another user's
    ground, the socket is theirs: they could remove it themselves)."""
    if parent.owner is not None:
        return st.st_uid in (parent.owner, 0, os.geteuid())
    return not _shared(os.fstat(parent.fd)) or _trusted(st.st_uid)


def set_mode_owner(dir_fd: int, name: str, mode: int, uid: int, gid: int) -> None:
    """Owner first, mode last, on the file just bound (through an O_PATH fd
    opened without following): while the owner changes the mode is still
    the umask's 0000, so no one has wider rights than the final ones."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise UnsafePath(f"{name} is no longer the socket just bound")
        proc = f"/proc/self/fd/{fd}"
        if uid != -1 or gid != -1:
            os.chown(proc, uid, gid)
        os.chmod(proc, mode)
    finally:
        os.close(fd)
