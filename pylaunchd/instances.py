"""The per-connection spawns of an inetd ``Wait`` false job, made cheap.

Every connection of such a job starts the same program with the same
environment but for ``REMOTE_ADDR`` and ``REMOTE_PORT``. :class:`InstanceSpawns`
plans the job's process once (:func:`~pylaunchd.spawnplan.plan`: the base
environment read from ``os.environ``, limits, priorities) and gives each
connection a copy with its own environment. The plan is made again whenever
the job's spec or the domain's variables for it (``setenv``, the bus
address, ``NOTIFY_SOCKET``) differ from those it was made with. A job with
``UserName`` or ``GroupName`` is planned per connection as before, so that a
user or group added to the system meanwhile is found (NSS is not cached).

It also keeps what the C path's ``wait=False`` leaves to finish
(:class:`~pylaunchd.cspawn.Later`: the child's plan and stack, until it has
exec'd) without a loop reader per connection: a child's reports are read
when it is reaped (its pipe is at end of file then), and those already at
end of file are released at the next connection (one ``poll`` over them), so
neither memory nor descriptors pile up behind long connections. A fatal
report (the program could not be executed) goes to *on_error* before the
exit is handed on. Nothing here ever waits for a child that has not exec'd
(a ``StandardInPath`` FIFO can hold it): :meth:`release` gives what is left
to the loop's readers.
"""

from __future__ import annotations

import asyncio
import select
from typing import Callable

from .record import copy as copy_record
from .spawnplan import Plan, SpawnResult, plan
from .spec import JobSpec


class InstanceSpawns:
    def __init__(self, on_error: Callable[[str], None]):
        self.on_error = on_error
        self._key: tuple[JobSpec, dict[str, str]] | None = None
        self._base: Plan | None = None
        self._own: frozenset[str] = frozenset()  # the job's EnvironmentVariables: they win over REMOTE_*
        self._pending: dict[int, SpawnResult] = {}  # pid -> a result whose reports are still to come
        self._by_fd: dict[int, int] = {}  # pending fd -> pid
        self._poll = select.poll()

    def plan(self, spec: JobSpec, env: dict[str, str], remote: dict[str, str]) -> Plan:
        """The plan of one connection's process: *env*, the domain's
        variables, and *remote*, the connection's own."""
        if spec.user_name is not None or spec.group_name is not None:
            env.update(remote)
            return plan(spec, env)
        if self._base is None or self._key is None or self._key[0] is not spec or self._key[1] != env:
            self._base = plan(spec, env)
            self._key = (spec, env)
            self._own = frozenset(k for k, _ in spec.environment)
        p = copy_record(self._base)  # argv, limits, groups: shared, never changed by a spawn
        p.env = dict(self._base.env)
        for k, v in remote.items():
            if k not in self._own:
                p.env[k] = v
        return p

    def started(self, result: SpawnResult) -> None:
        """A connection's process was spawned; its reports may be pending."""
        self.sweep()
        if result.pending is None:
            self._report(result)
            return
        fd = result.pending.fileno()
        self._pending[result.pid] = result
        self._by_fd[fd] = result.pid
        self._poll.register(fd, select.POLLIN)

    def sweep(self) -> None:
        """Finish every pending spawn whose child has exec'd or exited."""
        if self._by_fd:
            for fd, _ in self._poll.poll(0):
                self.reaped(self._by_fd[fd])

    def reaped(self, pid: int) -> None:
        """*pid* exited (or its pipe says it exec'd): read its reports."""
        result = self._pending.pop(pid, None)
        if result is None:
            return
        fd = result.pending.fileno()
        self._poll.unregister(fd)
        del self._by_fd[fd]
        result.pending.finish()
        self._report(result)

    def _report(self, result: SpawnResult) -> None:
        if result.error:
            self.on_error(result.error)

    def release(self, loop: asyncio.AbstractEventLoop) -> None:
        """The job is going: what is still pending is finished by the loop
        once each child has exec'd, as the reports are no longer wanted."""
        self.sweep()
        for pid, result in list(self._pending.items()):
            fd = result.pending.fileno()
            self._poll.unregister(fd)
            loop.add_reader(fd, _finish_later, loop, result)
        self._pending.clear()
        self._by_fd.clear()
        self._key = self._base = None


def _finish_later(loop: asyncio.AbstractEventLoop, result: SpawnResult) -> None:
    loop.remove_reader(result.pending.fileno())
    result.pending.finish()
