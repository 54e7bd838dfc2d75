"""When ``accept()`` fails for want of descriptors or memory.

An inetd-style job's connection is accepted by the manager. When that fails
with EMFILE, ENFILE, ENOBUFS or ENOMEM the connection stays pending and the
socket stays readable: watching it again at once would spin the loop at
100 % CPU. :class:`AcceptPause` stops watching the job's sockets for
:data:`RETRY` seconds on the manager's clock (as asyncio's own servers do),
says so once per episode (the manager's log, the job's log, ``print``'s
warnings), and says when accepting works again. The connection is not lost:
it waits in the kernel's queue until a descriptor is free.
"""

from __future__ import annotations

import errno
import logging
from typing import Callable

from .clock import Clock, Handle
from .joblog import JobLog

log = logging.getLogger("pylaunchd")

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
RETRY = 1.0  # seconds without watching the sockets after such a failure


class AcceptPause:
    def __init__(self, clock: Clock, label: str, joblog: JobLog):
        self.clock, self.label, self.joblog = clock, label, joblog
        self.problem: str | None = None  # what print shows while it lasts
        self._timer: Handle | None = None

    def failed(self, err: OSError, unwatch: Callable[[], None], rewatch: Callable[[], None]) -> bool:
        """Handle a failed accept; False when it is not a lack of resources."""
        if err.errno not in RESOURCE_ERRNOS:
            return False
        if self.problem is None:
            self.problem = f"cannot accept connections: {err.strerror}; trying again every {RETRY:.0f} s"
            log.error("(%s) %s (connections wait in the kernel's queue)", self.label, self.problem)
            self.joblog.event(self.problem)
        unwatch()
        self.cancel()
        self._timer = self.clock.call_at(self.clock.monotonic() + RETRY, self._again, rewatch)
        return True

    def _again(self, rewatch: Callable[[], None]) -> None:
        self._timer = None
        rewatch()

    def succeeded(self) -> None:
        if self.problem is not None:
            self.problem = None
            log.warning("(%s) accepting connections again", self.label)
            self.joblog.event("accepting connections again")

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
