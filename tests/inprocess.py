"""pylaunchd in this process, on a fake clock.

The real :class:`~pylaunchd.manager.Manager` (with its job table, job
runtimes, control server and real child processes) runs on a fresh asyncio
loop, but time is a :class:`~pylaunchd.clock.FakeClock` that only the test
moves: throttles, exit timeouts, StartInterval and StartCalendarInterval
fire the moment the test advances the clock past them, so what takes
minutes of real time is tested at once, through the code the manager runs.

Child processes are real, so their exits arrive when they arrive: tests wait
for them with :meth:`InProcess.until` (a condition with a timeout), never with
a bare sleep. Plists are loaded as ``pylaunchctl load`` does, from a directory
that is not watched.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import plistlib
from pathlib import Path
from typing import Awaitable, Callable

from pylaunchd.clock import FakeClock
from pylaunchd.control.server import start_control_server
from pylaunchd.domain import Domain
from pylaunchd.manager import Manager
from pylaunchd.runtime import JobRuntime


class InProcess:
    def __init__(self, root: Path, clock: FakeClock):
        self.root = root
        self.clock = clock
        self.plists = root / "plists"
        self.plists.mkdir(exist_ok=True)
        (root / "jobs").mkdir(exist_ok=True)
        (root / "ctl").mkdir(exist_ok=True, mode=0o700)
        self.domain = Domain(system=os.geteuid() == 0, jobs_dirs=[str(root / "jobs")],
                             control_socket=str(root / "ctl" / "ctl.sock"), state_dir=str(root / "state"))
        self.manager = Manager(self.domain, clock=clock)

    def load(self, label: str, **keys) -> JobRuntime:
        path = self.plists / f"{label}.plist"
        path.write_bytes(plistlib.dumps({"Label": label, **keys}))
        path.chmod(0o644)
        result = self.manager.table.load(str(path))
        assert result.ok, result
        return self.manager.table.find(label)

    async def until(self, predicate: Callable[[], object], what: str, timeout: float = 10.0):
        """Wait (real time, bounded) until *predicate* is true: for real processes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            await asyncio.sleep(0.005)

    async def settle(self, job: JobRuntime, what: str = "the job to be idle") -> None:
        """Wait until nothing of *job* runs (its exit was reaped)."""
        await self.until(lambda: job.machine.pid is None and not job.machine.instances, what)


def run_in_process(root: Path, body: Callable[[InProcess], Awaitable[None]],
                   wall: datetime.datetime | None = None) -> None:
    """Run *body* against a manager in this process on a fake clock."""
    async def main() -> None:
        h = InProcess(root, FakeClock(wall))
        task = asyncio.create_task(h.manager.run(start_control_server))
        while h.manager.started is None:  # run() creates it on the loop
            await asyncio.sleep(0)
        started = asyncio.create_task(h.manager.started.wait())
        await asyncio.wait([task, started], return_when=asyncio.FIRST_COMPLETED, timeout=15)
        if task.done():
            task.result()  # raises what made it fail
        try:
            await body(h)
        finally:
            h.manager.request_shutdown()
            for _ in range(3000):  # ExitTimeOut runs on the fake clock: let it pass
                if task.done():
                    break
                h.clock.advance(0.1)
                await asyncio.sleep(0.005)
            await asyncio.wait_for(task, 5)
    asyncio.run(main())


def run_booted(domain: Domain, early: dict, check: Callable[[Manager], None]) -> None:
    """Run a real Manager that takes over boot's *early* sockets, on a fake
    clock; once it has started, call *check* with it; then shut it down."""
    async def main() -> None:
        m = Manager(domain, clock=FakeClock(), early=early)
        task = asyncio.create_task(m.run(start_control_server))
        while m.started is None:
            await asyncio.sleep(0)
        await asyncio.wait_for(m.started.wait(), 10)
        try:
            check(m)
        finally:
            m.request_shutdown()
            await asyncio.wait_for(task, 10)
    asyncio.run(main())
