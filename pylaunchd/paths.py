"""Pure path helpers for the watchers (jobsdir.py, triggers.py) and the manager.

Stdlib only, no state: each function looks at the filesystem once and answers.
``triggers`` re-exports :func:`normalize_path`, :func:`exists`,
:func:`is_nonempty` and :func:`nearest_existing`, where callers have always
found them.
"""

from __future__ import annotations

import os
import stat

__all__ = ["normalize_path", "exists", "is_nonempty", "nearest_existing", "anchor", "directory_id"]


def normalize_path(path: str | os.PathLike[str]) -> str:
    """*path* as an absolute, normalized str; ValueError if it is relative
    (``~`` must be expanded by the caller: launchd's paths are absolute)."""
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"expected a str path, found {type(path).__name__}")
    if not os.path.isabs(path):
        raise ValueError(f"expected an absolute path, found {path!r}")
    return os.path.normpath(path)


def exists(path: str) -> bool:
    """Whether *path* exists, following symlinks (a dangling link does not
    exist), as PathState's ``stat()`` test."""
    return os.path.exists(path)


def is_nonempty(path: str) -> bool:
    """Whether directory *path* holds any entry (dot files count; ``.`` and
    ``..`` do not). A missing or unreadable directory, or a non-directory, is
    empty. Cheap: stops at the first entry."""
    try:
        with os.scandir(path) as it:
            for _ in it:
                return True
    except OSError:
        pass
    return False


def nearest_existing(path: str) -> str:
    """The nearest existing directory at or above *path* (``/`` at worst)."""
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def anchor(path: str) -> str:
    """The directory that sees *path*'s name come and go: its parent, or the
    parent's nearest existing ancestor while the parent is missing."""
    return nearest_existing(os.path.dirname(path))


def directory_id(d: str) -> tuple[int, int] | None:
    """``(st_dev, st_ino)`` of directory *d*, following symlinks; None if *d*
    is missing or not a directory. Tells a watched directory from another one
    that has since taken its name."""
    try:
        st = os.stat(d)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return (st.st_dev, st.st_ino)
