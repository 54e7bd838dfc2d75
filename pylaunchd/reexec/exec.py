"""The old process of a re-exec: write the state, check the new code, exec.

:meth:`ReExec.run` (``pylaunchctl reexec``, SIGUSR2):

1. the state is written to ``STATE_DIR/reexec.json`` (:mod:`.state`);
2. a fresh interpreter runs ``python -m pylaunchd.reexec.check`` on it: the
   code installed now must import (command line, manager, control server,
   every verb) and read this state. If it does not, the re-exec is refused
   with its output as the reason, the file is removed, and the manager goes
   on as if nothing had been asked: nothing was closed or changed;
3. once the reply has gone, the signals the manager handles are blocked (a
   SIGTERM during the exec waits for the new process instead of killing
   it), the state is written again (jobs moved on during the check),
   close-on-exec is cleared on exactly the handed-over descriptors (and set
   on every other, for a library that opened one without it), and the
   manager ``execve``s its own command line (``sys.orig_argv``) from the
   directory it was started in. Connections that arrive meanwhile wait in
   the kernel's queues; children that exit stay zombies until the new
   process reaps them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from ..jobtypes import Phase
from .handoff import ENV, STATE_FILE, Handoff, inheritable, only_these_inheritable
from .state import timer_key, write

if TYPE_CHECKING:
    from ..manager import Manager

log = logging.getLogger("pylaunchd")

# The signals the manager handles: held from just before the exec until the
# new process has its handlers (their default action would kill it).
HELD_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGPWR, signal.SIGHUP, signal.SIGUSR2,
                          signal.SIGCHLD})
CHECK_TIMEOUT = 60.0


class ReexecError(Exception):
    """The re-exec did not happen; the manager carries on. The message says why."""


def collect(m: "Manager", generation: int) -> tuple[dict, Handoff]:
    """The manager's state and what the exec hands over (descriptors)."""
    handoff = Handoff(os.path.join(m.domain.state_dir, STATE_FILE), m.inherit[0], m.inherit[1],
                      m.notify.sock.fileno() if m.notify is not None and m.notify.sock is not None else None,
                      generation=generation)
    jobs = []
    for label, job in m.table.jobs.items():
        if job.machine.phase is Phase.REMOVED:
            continue
        sockets = []
        for name, b in job.flat_sockets():
            fd = b.fileno()
            if fd < 0:
                continue
            if b.spec.passive:
                handoff.socket_fds.append(fd)
                if b.spec.secure_key:
                    handoff.secure[fd] = b.spec.secure_key
            sockets.append({"group": name, "fd": fd, "accepted": b.accepted, "triggers": b.triggers,
                            "last_trigger": b.last_trigger})
        handoff.pipe_fds += sorted(job.pipes)
        path = job.spec.path
        jobs.append({"label": label, "path": path, "submitted": None if path else m.table.submitted.get(label),
                     "force": path in m.table.forced, "machine": job.machine.snapshot(),
                     "timers": [[timer_key(k), at] for k, at in job.deadlines.items()], "sockets": sockets,
                     "pipes": sorted(job.pipes), "spawn_error": job.spawn_error,
                     "spawn_warnings": list(job.spawn_warnings),
                     "readiness": m.notify.snapshot(job) if m.notify is not None else None})
    state = {"pid": os.getpid(), "generation": generation, "saved_at": time.time(),
             "setenv": dict(m.environment.user), "forced": sorted(m.table.forced),
             "deferred": {k: list(v) for k, v in m.table.deferred.items()}, "mains": dict(m.mains),
             "orphans": {"reaped": m.orphans.reaped, "left": {k: sorted(v) for k, v in m.orphans.left.items()}},
             "jobs": jobs}
    return state, handoff


class ReExec:
    """One manager's re-execs (one at a time)."""

    def __init__(self, manager: "Manager"):
        self.manager = manager
        self.busy = False

    async def run(self, requested_at: float) -> dict:
        """Check and schedule the exec; the reply: the pid and the generation
        the new process will answer with. ReexecError when it is refused."""
        m = self.manager
        if m.inherit is None:
            raise ReexecError("re-exec needs a manager started by the pylaunchd command (this one runs in-process)")
        if m.shutting_down:
            raise ReexecError("the manager is shutting down")
        if self.busy:
            raise ReexecError("a re-exec is already under way")
        self.busy = True
        generation = m.reexec_generation + 1
        try:
            state, handoff = collect(m, generation)
            os.makedirs(m.domain.state_dir, mode=0o700, exist_ok=True)
            write(handoff.state_path, state)
            problem = await self._check(handoff.state_path)
        except BaseException:
            self.busy = False
            raise
        if not problem and m.shutting_down:
            problem = "the manager began to shut down meanwhile"
        if problem:
            self.busy = False
            _unlink(handoff.state_path)
            log.error("re-exec refused: %s; carrying on as before", problem)
            raise ReexecError(f"re-exec refused: {problem}; the manager carries on as it was")
        m.loop.create_task(self._exec(generation, requested_at))
        return {"pid": os.getpid(), "generation": generation}

    async def _check(self, path: str) -> str | None:
        """Run the installed code's check on *path*: None, or why it failed."""
        m = self.manager
        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        argv = ["/bin/sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", m.exec_cwd,
                sys.executable, "-m", "pylaunchd.reexec.check", path, str(os.getpid())]
        done: asyncio.Future = m.loop.create_future()
        try:
            pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0), (os.POSIX_SPAWN_DUP2, wfd, 1),
                (os.POSIX_SPAWN_DUP2, wfd, 2)], setsigmask=())
        except OSError as e:
            os.close(rfd)
            return f"cannot run the check: {e.strerror}"
        finally:
            os.close(wfd)
        m.helpers[pid] = lambda status: done.done() or done.set_result(status)
        try:
            status = await asyncio.wait_for(done, CHECK_TIMEOUT)
        except asyncio.TimeoutError:
            os.kill(pid, signal.SIGKILL)
            os.close(rfd)
            return f"the check did not finish within {CHECK_TIMEOUT:.0f} s"
        output = _read_all(rfd).strip()
        if os.waitstatus_to_exitcode(status) != 0:  # the last line: the check's reason, or a traceback's
            why = output.splitlines()[-1] if output else f"wait status {status}"
            return f"the code installed now fails its check (python -m pylaunchd.reexec.check): {why}"
        log.info("re-exec: %s", output)
        return None

    async def _exec(self, generation: int, requested_at: float) -> None:
        for _ in range(5):  # let the reply go out first
            await asyncio.sleep(0)
        m = self.manager
        control = m.control
        if control is not None:  # a connection accepted now would die with this process: new ones
            await control.pause(2.0)  # wait in the queue for the new process, those accepted are answered
        if m.shutting_down:  # a SIGTERM came with the reply: it wins
            if control is not None:
                await control.resume()
            self.busy = False
            log.warning("re-exec %d: not done, the manager is shutting down", generation)
            _unlink(os.path.join(m.domain.state_dir, STATE_FILE))
            return
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
        state, handoff = collect(m, generation)
        handoff.requested_at = requested_at
        argv = [sys.executable, *sys.orig_argv[1:]]
        try:
            write(handoff.state_path, state)
            env = dict(os.environ, **{ENV: handoff.to_env()})
            log.info("re-exec %d: exec %s (%d job(s), %d socket(s), %d pipe(s) handed over)", generation,
                     " ".join(argv), len(state["jobs"]), len(handoff.socket_fds), len(handoff.pipe_fds))
            for h in logging.getLogger().handlers:
                h.flush()
            inheritable(handoff.fds(), True)
            only_these_inheritable(handoff.fds())
            os.chdir(m.exec_cwd)
            handoff.exec_at = time.monotonic()
            env[ENV] = handoff.to_env()
            os.execve(sys.executable, argv, env)
        except OSError as e:
            inheritable(handoff.fds(), False)
            os.chdir("/")
            _unlink(handoff.state_path)
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
            self.busy = False
            log.error("re-exec: exec %s failed: %s; carrying on as before", sys.executable, e.strerror)
            if control is not None:
                m.loop.create_task(control.resume())


def _read_all(fd: int) -> str:
    os.set_blocking(fd, False)
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
