"""The control socket's file and its lock: where a manager listens.

``pylaunchd`` takes the lock first (so a second manager on the same path
refuses to start and names the first), then binds the socket; the control
server (:mod:`pylaunchd.control.server`) serves on it. Standard library only,
and its C socket module: the socket is bound before the jobs' sockets, on
the way to the first of them, where the Python module ``socket`` is not
imported (:mod:`pylaunchd.sockets`); the server makes it a ``socket.socket``.
"""

from __future__ import annotations

import errno
import fcntl
import _socket
import os
import stat

from .errors import ControlError


def secure_directory(directory: str) -> None:
    """Make sure *directory* is one that only we can change, creating it (0700)
    if need be: a real directory (not a symbolic link), owned by us, and
    writable by nobody else, unless it is our own ``pylaunchd*`` directory,
    whose mode we set. In a shared place such as /tmp (the fallback when
    XDG_RUNTIME_DIR is not set) another user could have made the directory
    first, to plant a link where the lock file goes or to answer in the
    manager's place: ControlError says so, and nothing is opened in it."""
    parent = os.path.dirname(directory)
    if parent:
        os.makedirs(parent, exist_ok=True)
    try:
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(directory)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise ControlError(f"{directory} is {'a symbolic link' if stat.S_ISLNK(st.st_mode) else 'not a directory'}; "
                           f"refusing to put the control socket there (remove it, or set XDG_RUNTIME_DIR)")
    if st.st_uid != os.getuid():
        raise ControlError(f"{directory} is owned by uid {st.st_uid}, not by us (uid {os.getuid()}); "
                           f"refusing to put the control socket there (remove it, or set XDG_RUNTIME_DIR)")
    if st.st_mode & 0o022 and not os.path.basename(directory).startswith("pylaunchd"):
        raise ControlError(f"{directory} is writable by others (mode {stat.S_IMODE(st.st_mode):o}); refusing to "
                           f"put the control socket there, where anyone could replace it")


def lock_control_socket(path: str) -> int:
    """Take the control socket's lock file, or raise ControlError naming the holder."""
    directory = os.path.dirname(path) or "."
    secure_directory(directory)
    if os.path.basename(directory).startswith("pylaunchd"):  # our own: nobody else writes in it
        os.chmod(directory, stat.S_IMODE(os.lstat(directory).st_mode) & ~0o022)
    lock_path = path + ".lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise ControlError(f"another pylaunchd (pid {holder}) is already running on {path}; "
                               f"stop it first or use --control-socket for a second manager") from None
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


# The control socket's queue: a burst of pylaunchctl clients (a script that
# runs one per job) waits here rather than being refused. The kernel caps it
# at net.core.somaxconn.
CONTROL_BACKLOG = 1024


def bind_control_socket(path: str, public: bool = False) -> _socket.socket:
    """Bind the control socket: mode 0600 in a 0700 directory we own, or, for
    the system domain (``public``), 0666 in a 0755 directory, so that anyone
    can read the domain as launchd allows; every request is still checked
    with SO_PEERCRED, and only root may change anything."""
    directory = os.path.dirname(path) or "."
    st = os.stat(directory)
    if st.st_uid != os.getuid():
        raise ControlError(f"{directory} is owned by uid {st.st_uid}, not by us (uid {os.getuid()}); "
                           f"refusing to put the control socket there")
    if os.path.basename(directory).startswith("pylaunchd"):  # our own directory: set its mode
        os.chmod(directory, 0o755 if public else 0o700)
    try:
        os.unlink(path)  # we hold the lock: anything there is stale
    except FileNotFoundError:
        pass
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    old = os.umask(0o077)
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o666 if public else 0o600)
    sock.listen(CONTROL_BACKLOG)
    sock.setblocking(False)
    return sock
