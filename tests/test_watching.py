"""Tests of pylaunchd.watching: the Coalescer on a fake clock (no sleeps), and
the SharedObserver: two users on one watchdog thread, and one observer thread
in a whole manager process."""

from __future__ import annotations

import asyncio
import os
import plistlib
import subprocess
import sys
import textwrap
import threading

import pytest
from watchdog.observers.api import BaseObserver

from pylaunchd import jobsdir
from pylaunchd.triggers import pathwatch as triggers
from pylaunchd.clock import FakeClock
from pylaunchd.jobsdir import JobsDirWatcher
from pylaunchd.triggers.pathwatch import WATCH_PATHS, PathTriggers
from pylaunchd.watching import Coalescer, SharedObserver

TIMEOUT = 5.0


class Flushes:
    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.calls: list[tuple[float, list]] = []  # (time since start, batch)
        self.t0 = clock.monotonic()

    def __call__(self, batch):
        self.calls.append((round(self.clock.monotonic() - self.t0, 6), list(batch)))


def coalescer(quiet=0.1, max_delay=0.5):
    clock = FakeClock()
    flushes = Flushes(clock)
    return clock, flushes, Coalescer(clock, quiet, max_delay, flushes)


# --- Coalescer ----------------------------------------------------------------------

def test_nothing_is_flushed_before_the_quiet_period():
    clock, flushes, c = coalescer(quiet=0.1)
    c.add("a")
    clock.advance(0.099)
    assert flushes.calls == [] and c.pending
    clock.advance(0.001)
    assert flushes.calls == [(0.1, ["a"])]
    assert not c.pending and clock.pending() == []


def test_a_burst_within_the_quiet_period_is_one_flush():
    """An editor's save: temp file created, written, renamed over the plist."""
    clock, flushes, c = coalescer(quiet=0.15)
    for item in ("created .x.tmp", "modified .x.tmp", "closed .x.tmp", "moved .x.tmp x"):
        c.add(item)
        clock.advance(0.01)
    clock.advance(0.139)
    assert flushes.calls == []  # 0.149 s after the last event
    clock.advance(0.001)
    assert flushes.calls == [(0.18, ["created .x.tmp", "modified .x.tmp", "closed .x.tmp", "moved .x.tmp x"])]
    clock.advance(10)
    assert len(flushes.calls) == 1


def test_a_steady_stream_is_flushed_every_max_delay():
    # Binary fractions, so that the arithmetic of the fake time is exact.
    clock, flushes, c = coalescer(quiet=0.125, max_delay=0.5)
    for i in range(32):  # an event every 1/16 s for 2 s: never 0.125 s of quiet
        c.add(i)
        clock.advance(0.0625)
    assert [t for t, _ in flushes.calls] == [0.5, 1.0, 1.5, 2.0]
    assert [batch for _, batch in flushes.calls] == [list(range(k, k + 8)) for k in range(0, 32, 8)]


def test_max_delay_counts_from_the_first_item_of_each_batch():
    clock, flushes, c = coalescer(quiet=0.1, max_delay=0.5)
    c.add("a")
    clock.advance(0.3)  # flushed at 0.1
    c.add("b")  # a new batch: its own quiet period
    clock.advance(0.05)
    c.add("c")
    clock.advance(0.1)
    assert flushes.calls == [(0.1, ["a"]), (0.45, ["b", "c"])]


def test_cancel_drops_the_batch():
    clock, flushes, c = coalescer()
    c.add("a")
    c.cancel()
    clock.advance(5)
    assert flushes.calls == [] and not c.pending
    c.add("b")
    clock.advance(0.1)
    assert flushes.calls == [(5.1, ["b"])]


def test_an_item_added_during_flush_starts_the_next_batch():
    clock = FakeClock()
    seen: list[tuple[float, list]] = []
    c = None

    def flush(batch):
        seen.append((round(clock.monotonic() - 1000.0, 6), batch))
        if batch == ["a"]:
            c.add("b")
    c = Coalescer(clock, 0.1, 0.5, flush)
    c.add("a")
    clock.advance(1)
    assert seen == [(0.1, ["a"]), (0.2, ["b"])]


def test_the_watchers_keep_their_quiet_periods():
    assert (jobsdir.QUIET_PERIOD, jobsdir.MAX_DELAY, jobsdir.GRACE) == (0.15, 0.5, 0.002)
    assert (triggers.QUIET_PERIOD, triggers.MAX_DELAY) == (0.1, 0.5)


def test_the_watchers_time_their_batches_with_the_given_clock(tmp_path):
    """No observer thread is needed to check that the clock passed in is the
    one used: events are handed to the watchers' sinks by hand."""
    async def main():
        loop = asyncio.get_running_loop()
        clock = FakeClock()
        changes: list[set[str]] = []
        w = JobsDirWatcher([str(tmp_path)], loop, changes.append, clock=clock)
        w.start()
        try:
            plist = os.path.join(str(tmp_path), "x.plist")
            w._event("created", plist, "")  # a link or a move from elsewhere: no writer follows
            clock.advance(jobsdir.GRACE * 0.9)
            assert changes == []
            clock.advance(jobsdir.GRACE * 0.2)
            assert changes == [{plist}]
            clock.advance(jobsdir.QUIET_PERIOD)
            assert changes == [{plist}], "the slower batch does not report it again"
        finally:
            w.stop()
    asyncio.run(asyncio.wait_for(main(), TIMEOUT))


def test_a_save_that_moves_the_plist_away_first_is_one_change(tmp_path):
    """vim's save: the plist is renamed to a backup, then written anew. In
    between it is missing; the manager sees one change of a plist that
    exists (a reload), never a removal and a load. Real inotify, fake
    clock: a sentinel file, written last, shows that every earlier event has
    reached the coalescer (one watchdog queue), and only then time moves."""
    async def main():
        loop = asyncio.get_running_loop()
        clock = FakeClock()
        changes: list[set[str]] = []
        d = str(tmp_path)
        plist, sentinel = os.path.join(d, "x.plist"), os.path.join(d, "sentinel")
        (tmp_path / "x.plist").write_text("old")
        w = JobsDirWatcher([d], loop, changes.append, clock=clock, observer=SharedObserver(loop))
        seen = asyncio.Event()
        forward = w._event

        def event(event_type, src, dest):
            forward(event_type, src, dest)
            if sentinel in (src, dest):
                seen.set()
        w._event = event
        w.start()
        try:
            os.rename(plist, plist + "~")
            (tmp_path / "x.plist").write_text("new")
            os.unlink(plist + "~")
            (tmp_path / "sentinel").write_text("")
            await asyncio.wait_for(seen.wait(), TIMEOUT)
            # Reported once the new file was closed, without waiting for any
            # period: one change of a plist that exists; no removal before it
            # (the backup rename waited GRACE, and the writer's open cancelled it).
            assert changes == [{plist}] and os.path.exists(plist)
            clock.advance(jobsdir.QUIET_PERIOD)
            assert changes == [{plist}]
        finally:
            w.stop()
    asyncio.run(asyncio.wait_for(main(), 2 * TIMEOUT))


# --- SharedObserver -----------------------------------------------------------------

def observer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, BaseObserver) and t.is_alive()]


def test_two_users_of_one_directory_keep_their_own_events(tmp_path):
    """watchdog's unschedule drops every handler of a watch key; unscheduling
    one user's watch must leave the other's events flowing."""
    async def main():
        loop = asyncio.get_running_loop()
        shared = SharedObserver(loop)
        shared.acquire()
        try:
            a, b = asyncio.Queue(), asyncio.Queue()
            wa = shared.schedule(str(tmp_path), lambda *e: a.put_nowait(e), event_types={"created"})
            shared.schedule(str(tmp_path), lambda *e: b.put_nowait(e), event_types={"created"})
            (tmp_path / "one").write_text("")
            assert (await asyncio.wait_for(a.get(), TIMEOUT))[1].endswith("one")
            assert (await asyncio.wait_for(b.get(), TIMEOUT))[1].endswith("one")
            shared.unschedule(wa)
            (tmp_path / "two").write_text("")
            assert (await asyncio.wait_for(b.get(), TIMEOUT))[1].endswith("two")
            assert a.empty()
        finally:
            shared.release()
        assert not shared.running
    asyncio.run(asyncio.wait_for(main(), 2 * TIMEOUT))


@pytest.mark.parametrize("explicit", [True, False], ids=["given", "default"])
def test_both_watchers_share_one_observer_thread(tmp_path, explicit):
    """Given one SharedObserver, or built the way today's manager builds them
    (defaults), the jobs-directory watcher and the path triggers run on one
    observer thread; it stops with the last of them."""
    jobs, watched = tmp_path / "jobs", tmp_path / "watched"
    jobs.mkdir()
    watched.mkdir()

    async def main():
        loop = asyncio.get_running_loop()
        kw = {"observer": SharedObserver(loop)} if explicit else {}
        before = len(observer_threads())
        paths = PathTriggers(loop, **kw)
        watcher = JobsDirWatcher([str(jobs)], loop, lambda paths: None, **kw)
        watcher.start()
        fired = asyncio.Queue()
        paths.watch("job", [str(watched / "file")], WATCH_PATHS, fired.put_nowait)
        try:
            assert len(observer_threads()) == before + 1
            (watched / "file").write_text("x")  # the triggers still see their events
            assert await asyncio.wait_for(fired.get(), TIMEOUT) == [str(watched / "file")]
            watcher.stop()
            assert len(observer_threads()) == before + 1  # still held by the triggers
            (watched / "file").write_text("y")
            assert await asyncio.wait_for(fired.get(), TIMEOUT) == [str(watched / "file")]
        finally:
            watcher.stop()
            paths.close()
        assert len(observer_threads()) == before
    asyncio.run(asyncio.wait_for(main(), 3 * TIMEOUT))


# Runs the real manager (pylaunchd.cli.pylaunchd.serve) and, from a thread of the
# same process, waits until both the jobs directory and a job's WatchPaths
# directory are under a watch, counts watchdog observer threads, then stops
# the manager with SIGTERM. Python 3.11 gives threads no OS-level names, so
# /proc/PID/task/*/comm cannot tell watchdog's threads apart: hence in-process.
_DRIVER = textwrap.dedent("""
    import os, signal, sys, threading, time
    from watchdog.observers.api import BaseObserver
    from pylaunchd.cli.pylaunchd import serve
    from pylaunchd.domain import Domain

    root, jobs, watched = sys.argv[1:4]

    def count():
        deadline = time.monotonic() + 20
        while True:
            observers = [t for t in threading.enumerate() if isinstance(t, BaseObserver) and t.is_alive()]
            dirs = {e.watch.path for o in observers for e in list(o.emitters)}
            if {jobs, watched} <= dirs or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with open(os.path.join(root, "count"), "w") as f:
            f.write(f"{len(observers)}\\n" + "\\n".join(sorted(dirs)))
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=count, daemon=True).start()
    sys.exit(serve(Domain(system=False, jobs_dirs=[jobs], control_socket=os.path.join(root, "ctl.sock"),
                          state_dir=os.path.join(root, "state"))))
""")


def test_one_manager_process_has_one_observer_thread(workdir):
    jobs, watched = workdir / "jobs", workdir / "watched"
    jobs.mkdir()
    watched.mkdir()
    (jobs / "w.plist").write_bytes(plistlib.dumps({
        "Label": "test.watching.one", "ProgramArguments": ["/bin/true"],
        "WatchPaths": [str(watched / "file")]}))
    os.chmod(jobs / "w.plist", 0o644)
    cp = subprocess.run([sys.executable, "-c", _DRIVER, str(workdir), str(jobs), str(watched)],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    count, *dirs = (workdir / "count").read_text().splitlines()
    assert {str(jobs), str(watched)} <= set(dirs), (dirs, cp.stderr)
    assert int(count) == 1, dirs
