"""Per-job logs: what a job writes when it has no StandardOutPath or
StandardErrorPath, and the manager's own events for that job.

launchd sends such output to /dev/null, and its users cannot find out why a
job "never starts". pylaunchd passes the job a pipe instead, reads it on the
event loop, and appends it to ``STATE_DIR/logs/LABEL.log``, rotated by size
(``LABEL.log.1`` ... ``.3``). Spawns, exits, throttling and reloads are
written there too, marked ``[pylaunchd]``, so one file tells the whole story.
The last :data:`MEMORY_LINES` lines are also kept in memory, for ``pylaunchctl
log`` and ``log -f``; more than that (a longer ``-n``, a burst between two
polls of ``-f``) is read back from the files. Memory is bounded per job and
small: every job of a manager that runs for months fills its buffer once.
"""

from __future__ import annotations

import collections
import fcntl
import os
import time

from .bootlog import log  # logging itself once something is said: boot opens output pipes here

MAX_BYTES = 1024 * 1024
BACKUPS = 3
# About 220 bytes a line: 22 KiB a job, 220 MiB for 10,000 busy jobs (2,000
# lines, as before, came to 4.3 GiB for them, reached in a manager's first weeks).
MEMORY_LINES = 100
MEMORY_LINE_CHARS = 4096  # a longer line is kept in memory cut to this (the file has it whole)


PIPE_SIZE = 1024 * 1024  # a job's output pipe (fs.pipe-max-size allows 1 MiB by default)


def output_pipe() -> tuple[int, int]:
    """The pipe a job without StandardOutPath writes into: (read end, write
    end). Only the manager's read end is non-blocking; the job's end blocks,
    as a terminal or a file would, so a job that writes faster than the loop
    reads is slowed down, never handed EAGAIN (O_NONBLOCK belongs to each
    end's open file, not to the pipe). PIPE_SIZE wakes the loop less often."""
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(rfd, False)
    try:
        fcntl.fcntl(rfd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass
    return rfd, wfd


def log_path(state_dir: str, label: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-@+" else "_" for c in label) or "_"
    return os.path.join(state_dir, "logs", f"{safe}.log")


class JobLog:
    def __init__(self, path: str, max_bytes: int = MAX_BYTES, backups: int = BACKUPS):
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        # Made on the first line: 10,000 jobs that never print cost no buffers.
        self._lines: collections.deque[tuple[int, str]] | None = None
        self.seq = 0
        self._partial = b""
        self._file = None
        self._held: list[str] = []  # events kept from the file until it exists (create=False)
        self.write_error: str | None = None  # why the file cannot be written now (a full disk...)

    @property
    def lines(self) -> collections.deque[tuple[int, str]]:
        """The last lines, in memory, with their sequence numbers."""
        if self._lines is None:
            self._lines = collections.deque(maxlen=MEMORY_LINES)
        return self._lines

    def _open(self):
        if self._file is None:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)
            held, self._held = self._held, []
            if held:  # the file is made now after all: what was held back goes first
                self._file.write("".join(f"{line}\n" for line in held).encode())
        return self._file

    def _rotate(self) -> None:
        self._file.close()
        self._file = None
        for i in range(self.backups, 0, -1):
            src = self.path if i == 1 else f"{self.path}.{i - 1}"
            if os.path.exists(src):
                os.replace(src, f"{self.path}.{i}")
        self._open()  # a fresh, empty log, so the file is always there

    def _append(self, data: bytes) -> None:
        f, view = self._open(), memoryview(data)
        while view:  # an unbuffered write may be short (a disk filling up)
            view = view[f.write(view):]

    def _write(self, data: bytes) -> None:
        """Append to the file, rotating it past max_bytes at the end of a
        line: a file never ends in half a line whose rest opens the next (a
        job that writes no newline is cut at twice the size, so the file stays
        bounded). When writing fails (a full file system, a directory gone)
        say so once, keep the lines in memory, and try again with the next
        write: the job is never held up by its log."""
        try:
            size = self._open().tell() + len(data)
            if size >= self.max_bytes:
                cut = data.rfind(b"\n") + 1 or (len(data) if size >= 2 * self.max_bytes else 0)
                if cut:
                    self._append(data[:cut])
                    self._rotate()
                    data = data[cut:]
            self._append(data)
        except OSError as e:
            if self.write_error is None:
                self.write_error = f"cannot write its log {self.path}: {e.strerror}; its output is kept in memory only"
                log.error("%s", self.write_error)
            return
        if self.write_error is not None:
            self.write_error = None
            log.warning("writing %s again", self.path)

    def _remember(self, text: str) -> None:
        """Keep the lines in memory, each cut to MEMORY_LINE_CHARS: memory
        stays bounded (2000 lines of 4 KiB) whatever the job writes."""
        for line in text.splitlines():
            self.seq += 1
            if len(line) > MEMORY_LINE_CHARS:
                line = line[:MEMORY_LINE_CHARS] + f" [... {len(line) - MEMORY_LINE_CHARS} more characters in the file]"
            self.lines.append((self.seq, line))

    def output(self, data: bytes) -> None:
        """Bytes the job wrote."""
        if not data:
            return
        self._write(data)
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        if complete:
            self._remember(complete.decode("utf-8", "replace"))
        if len(self._partial) > 65536:  # a line that never ends: memory keeps its start
            self._remember(self._partial[:4 * MEMORY_LINE_CHARS].decode("utf-8", "replace"))
            self._partial = b""

    def event(self, message: str, create: bool = True) -> None:
        """Something the manager did or saw for this job. With ``create``
        false the line goes to the file only if the file is already there:
        a job that never ran nor logged gets no file just to be told it was
        unloaded (10,000 of them would cost seconds at shutdown)."""
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} [pylaunchd] {message}"
        if not create and self._file is None and not os.path.exists(self.path):
            self._remember(line)
            self._held = (self._held + [line])[-MEMORY_LINES:]
            return
        if self._partial:  # keep the job's half line apart from ours
            self.output(b"\n")
        self._write(line.encode() + b"\n")
        self._remember(line)

    def tail(self, n: int | None = None, after: int | None = None) -> tuple[list[str], int]:
        """Lines after sequence number *after*, or the last *n* (read from the
        files when memory holds fewer). Returns (lines, last sequence number)."""
        if after is not None:
            if self.lines and self.lines[0][0] > after + 1 and os.path.exists(self.path):
                return read_tail(self.path, self.seq - after, self.backups), self.seq  # more than memory holds
            return [line for s, line in self.lines if s > after], self.seq
        n = n or 50
        if len(self.lines) >= n or not os.path.exists(self.path):
            return [line for _, line in list(self.lines)[-n:]], self.seq
        return read_tail(self.path, n, self.backups), self.seq

    def close(self) -> None:
        if self._partial:
            self._remember(self._partial.decode("utf-8", "replace"))
            self._partial = b""
        if self._file is not None:
            self._file.close()
            self._file = None


def read_tail(path: str, n: int, backups: int = BACKUPS) -> list[str]:
    """The last *n* lines of a log and its rotated files, oldest first."""
    lines: list[str] = []
    for p in [path] + [f"{path}.{i}" for i in range(1, backups + 1)]:
        try:
            with open(p, "rb") as f:
                chunk = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        lines = chunk + lines
        if len(lines) >= n:
            break
    return lines[-n:]
