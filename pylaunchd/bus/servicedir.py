"""The ``.service`` files pylaunchd writes into the bus's service directory.

dbus-daemon reads ``NAME.service`` files from its service directories; the
user domain's default, ``$XDG_RUNTIME_DIR/dbus-1/services``, is one the stock
session configuration searches (and does not watch: the caller sends
ReloadConfig). Guarantees:

* a file is written atomically (a new temporary file, then a rename), so the
  bus never reads half of one;
* a file pylaunchd did not write is never replaced or removed: the manifest in
  the state directory lists what it wrote, and a listed file is removed only
  while it still reads as pylaunchd wrote it;
* files a previous manager left (a crash) are removed by :meth:`prune` once
  the first scan has said which names are still served.
"""

from __future__ import annotations

import json
import logging
import os

from .names import service_file_name, service_file_text

log = logging.getLogger("pylaunchd")
MARK = "# Written by pylaunchd"


class ServiceDir:
    def __init__(self, directory: str, state_dir: str):
        self.directory = directory
        self.manifest_path = os.path.join(state_dir, "bus-services.json")
        self.written: set[str] = set()
        try:
            with open(self.manifest_path) as f:
                self.written = {n for n in json.load(f) if isinstance(n, str)}
        except (OSError, ValueError, TypeError):
            pass

    def path(self, name: str) -> str:
        return os.path.join(self.directory, service_file_name(name))

    def write(self, name: str, label: str, user: str | None = None) -> str | None:
        """Write NAME.service for *label*; None, or why it was not written."""
        path = self.path(name)
        if name not in self.written and os.path.lexists(path):
            return f"{path} exists and was not written by pylaunchd (it is left alone)"
        try:
            os.makedirs(self.directory, mode=0o755, exist_ok=True)
            tmp = os.path.join(self.directory, f".{service_file_name(name)}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(service_file_text(name, label, user))
            os.replace(tmp, path)
        except OSError as e:
            return f"cannot write {path}: {e.strerror}"
        self._note(name, True)
        return None

    def remove(self, name: str) -> None:
        if name not in self.written:
            return
        path = self.path(name)
        if _ours(path):
            try:
                os.unlink(path)
            except OSError as e:
                log.warning("cannot remove %s: %s", path, e.strerror)
        self._note(name, False)

    def prune(self, served: set[str]) -> list[str]:
        """Remove the files of earlier runs whose names no job serves now."""
        stale = sorted(self.written - served)
        for name in stale:
            self.remove(name)
        return stale

    def _note(self, name: str, written: bool) -> None:
        before = set(self.written)
        (self.written.add if written else self.written.discard)(name)
        if self.written == before:
            return
        try:
            os.makedirs(os.path.dirname(self.manifest_path), mode=0o700, exist_ok=True)
            tmp = f"{self.manifest_path}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(sorted(self.written), f)
            os.replace(tmp, self.manifest_path)
        except OSError as e:
            log.warning("cannot record %s: %s", self.manifest_path, e.strerror)


def _ours(path: str) -> bool:
    if os.path.islink(path):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(len(MARK)).decode(errors="replace") == MARK
    except OSError:
        return False
