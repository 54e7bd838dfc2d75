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

The final name is looked at through the directory's fd (``lstat``, ``unlink``
with ``dir_fd``: the final component is never followed). The socket file's
mode and owner are set through an ``O_PATH`` fd of the file just bound (by
``/proc/self/fd/N``, as ``fchmod`` on a socket changes the socket, not its
file), never by name. Linux only, standard library only.
"""

from __future__ import annotations

import os
import stat

MAX_LINKS = 40  # as the kernel's MAXSYMLINKS


class UnsafePath(Exception):
    """The path cannot be used safely; the message says which component and why."""


def _trusted(uid: int) -> bool:
    return uid == 0 or uid == os.geteuid()


def _shared(st: os.stat_result) -> bool:
    """Whether someone other than root or us may write into the directory."""
    return not _trusted(st.st_uid) or bool(st.st_mode & 0o022)


def _check_step(where: str, dir_st: os.stat_result, name: str, st: os.stat_result) -> None:
    """Refuse the step from a directory into *name* when another user could change it."""
    if not _shared(dir_st):
        return
    if not dir_st.st_mode & stat.S_ISVTX:
        raise UnsafePath(f"{where} is writable by other users (mode {stat.S_IMODE(dir_st.st_mode):04o}, "
                         f"owner uid {dir_st.st_uid}) and not sticky: another user could replace {name!r} in it")
    if not _trusted(st.st_uid):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "a directory"
        raise UnsafePath(f"{os.path.join(where, name)} is {kind} owned by uid {st.st_uid} in the shared "
                         f"directory {where}: not followed")


def open_parent(path: str) -> int:
    """An ``O_PATH`` fd of the directory that holds *path*, reached safely (see
    the module docstring); raise UnsafePath or OSError. The caller closes it."""
    parent = os.path.dirname(os.path.abspath(path))
    return _walk(parent, [MAX_LINKS])


def _walk(directory: str, links: list[int]) -> int:
    fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    where = "/"
    try:
        for name in [c for c in directory.split("/") if c and c != "."]:
            fd, where = _step(fd, where, name, links)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _step(fd: int, where: str, name: str, links: list[int]) -> tuple[int, str]:
    """Go from the directory *fd* (the path *where*) into *name*; the old fd is closed."""
    if name == "..":
        nxt = os.open("..", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        os.close(fd)
        return nxt, os.path.dirname(where) or "/"
    dir_st = os.fstat(fd)
    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    _check_step(where, dir_st, name, st)
    here = os.path.join(where, name)
    if stat.S_ISLNK(st.st_mode):
        links[0] -= 1
        if links[0] < 0:
            raise UnsafePath(f"{here}: too many levels of symbolic links")
        target = os.readlink(name, dir_fd=fd)
        base = target if target.startswith("/") else os.path.join(where, target)
        nxt = _walk(os.path.normpath(base), links)
        os.close(fd)
        return nxt, os.path.normpath(base)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"{here} is not a directory")
    nxt = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    if os.fstat(nxt).st_ino != st.st_ino:  # swapped between the lstat and the open
        os.close(nxt)
        raise UnsafePath(f"{here} changed while it was being checked")
    os.close(fd)
    return nxt, here


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def removable_stale(dir_fd: int, name: str, st: os.stat_result) -> bool:
    """Whether a stale socket file may be removed: no other user could swap
    it for another file between our look and the unlink."""
    return not _shared(os.fstat(dir_fd)) or _trusted(st.st_uid)


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
