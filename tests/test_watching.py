"""Tests of pylaunchd.watching: the Coalescer on a fake clock (no sleeps), the
SharedObserver: two users on one watchdog thread, and one observer thread
in a whole manager process; LoopInotify and the jobs-directory watcher on it."""

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

from pylaunchd import jobsdir, watching
from pylaunchd.triggers import pathwatch as triggers
from pylaunchd.clock import FakeClock
from pylaunchd.jobsdir import JobsDirWatcher
from pylaunchd.triggers.pathwatch import WATCH_PATHS, PathTriggers
from pylaunchd.watching import Coalescer, LoopInotify, SharedObserver

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
    assert (jobsdir.QUIET_PERIOD, jobsdir.MAX_DELAY, jobsdir.GRACE, jobsdir.UNLINK_GRACE) == (0.15, 0.5, 0.002, 0.001)
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


def _sentinel_seen(w, sentinel: str) -> asyncio.Event:
    """An event set once *w* has handed on an event about *sentinel*: every
    event before it has reached the watcher (one inotify queue)."""
    seen = asyncio.Event()
    forward = w._event

    def event(event_type, src, dest):
        forward(event_type, src, dest)
        if sentinel in (src, dest):
            seen.set()
    w._event = event
    return seen

def test_a_save_that_moves_the_plist_away_first_is_one_change(tmp_path):
    """vim's save: the plist is renamed to a backup, then written anew. In
    between it is missing; the manager sees one change of a plist that
    exists (a reload), never a removal and a load. Real inotify, fake
    clock: a sentinel file, written last, shows that every earlier event has
    reached the coalescer (one inotify queue), and only then time moves."""
    async def main():
        loop = asyncio.get_running_loop()
        clock = FakeClock()
        changes: list[set[str]] = []
        d = str(tmp_path)
        plist, sentinel = os.path.join(d, "x.plist"), os.path.join(d, "sentinel")
        (tmp_path / "x.plist").write_text("old")
        w = JobsDirWatcher([d], loop, changes.append, clock=clock)
        seen = _sentinel_seen(w, sentinel)
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
def test_the_jobs_watcher_starts_no_thread_and_the_triggers_one(tmp_path, explicit):
    """The jobs-directory watcher reads its inotify on the loop: no thread.
    The path triggers, given one SharedObserver or built with the defaults,
    run on one observer thread, which stops with them."""
    jobs, watched = tmp_path / "jobs", tmp_path / "watched"
    jobs.mkdir()
    watched.mkdir()

    async def main():
        loop = asyncio.get_running_loop()
        kw = {"observer": SharedObserver(loop)} if explicit else {}
        before, threads = len(observer_threads()), threading.active_count()
        changes = asyncio.Queue()
        watcher = JobsDirWatcher([str(jobs)], loop, changes.put_nowait)
        watcher.start()
        paths = PathTriggers(loop, **kw)
        fired = asyncio.Queue()
        try:
            assert threading.active_count() == threads and watcher.watched == [str(jobs)]
            (jobs / "a.plist").write_text("x")
            assert await asyncio.wait_for(changes.get(), TIMEOUT) == {str(jobs / "a.plist")}
            paths.watch("job", [str(watched / "file")], WATCH_PATHS, fired.put_nowait)
            assert len(observer_threads()) == before + 1
            (watched / "file").write_text("x")  # the triggers see their events
            assert await asyncio.wait_for(fired.get(), TIMEOUT) == [str(watched / "file")]
            watcher.stop()
            (watched / "file").write_text("y")
            assert await asyncio.wait_for(fired.get(), TIMEOUT) == [str(watched / "file")]
        finally:
            watcher.stop()
            paths.close()
        assert len(observer_threads()) == before
    asyncio.run(asyncio.wait_for(main(), 3 * TIMEOUT))


# Runs the real manager (pylaunchd.cli.pylaunchd.serve) and, from a thread of the
# same process, waits until a job's WatchPaths directory is under a watchdog
# watch and the jobs directory under an inotify watch of the process's own
# (/proc/self/fdinfo), counts watchdog observer threads, then stops the
# manager with SIGTERM. Python 3.11 gives threads no OS-level names, so
# /proc/PID/task/*/comm cannot tell watchdog's threads apart: hence in-process.
_DRIVER = textwrap.dedent("""
    import os, signal, sys, threading, time
    from watchdog.observers.api import BaseObserver
    from pylaunchd.cli.pylaunchd import serve
    from pylaunchd.domain import Domain

    root, jobs, watched = sys.argv[1:4]

    def inotify_inodes():
        inodes = set()
        for fd in os.listdir("/proc/self/fdinfo"):
            try:
                with open(f"/proc/self/fdinfo/{fd}") as f:
                    inodes |= {int(w.split(":")[1], 16) for line in f if line.startswith("inotify")
                               for w in line.split() if w.startswith("ino:")}
            except OSError:
                pass
        return inodes

    def count():
        deadline = time.monotonic() + 20
        while True:
            observers = [t for t in threading.enumerate() if isinstance(t, BaseObserver) and t.is_alive()]
            dirs = {e.watch.path for o in observers for e in list(o.emitters)}
            jobs_watched = os.stat(jobs).st_ino in inotify_inodes()
            if (watched in dirs and jobs_watched) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with open(os.path.join(root, "count"), "w") as f:
            f.write(f"{len(observers)} {jobs_watched}\\n" + "\\n".join(sorted(dirs)))
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
    head, *dirs = (workdir / "count").read_text().splitlines()
    count, jobs_watched = head.split()
    assert str(watched) in dirs and jobs_watched == "True", (head, dirs, cp.stderr)
    assert int(count) == 1 and str(jobs) not in dirs, dirs  # the jobs directory: on the loop, no thread


# --- LoopInotify and what the jobs-directory watcher makes of it --------------------

async def _until(queue: asyncio.Queue, event_type: str, path: str) -> list:
    """The events up to the first *event_type* of *path*, in order."""
    seen = []
    while True:
        seen.append(await asyncio.wait_for(queue.get(), TIMEOUT))
        if seen[-1][0] == event_type and path in seen[-1][1:]:
            return seen


def test_loop_inotify_reports_in_watchdogs_words(tmp_path):
    """A write, a rename within the directory (both halves in one event), a
    rename in from elsewhere, an unlink, and the directory itself removed:
    read on the loop, no thread."""
    d, elsewhere = tmp_path / "d", tmp_path / "elsewhere"
    d.mkdir()
    elsewhere.mkdir()

    async def main():
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        threads = threading.active_count()
        ino = LoopInotify(loop, lambda *e: events.put_nowait(e))
        ino.watch(str(d))
        try:
            assert threading.active_count() == threads and ino.watched == [str(d)]
            a, b = str(d / "a.plist"), str(d / "b.plist")
            (d / "a.plist").write_text("x")
            assert [e[0] for e in await _until(events, "closed", a)] == ["created", "opened", "modified", "closed"]
            os.rename(a, b)
            assert await _until(events, "moved", b) == [("moved", a, b)]
            (elsewhere / "c.plist").write_text("y")
            os.rename(elsewhere / "c.plist", d / "c.plist")
            assert await _until(events, "moved", str(d / "c.plist")) == [("moved", "", str(d / "c.plist"))]
            os.rename(d / "c.plist", elsewhere / "c.plist")
            assert await _until(events, "moved", str(d / "c.plist")) == [("moved", str(d / "c.plist"), "")]
            os.unlink(b)
            assert await _until(events, "deleted", b) == [("deleted", b, "")]
            d.rmdir()
            assert (await _until(events, "gone", str(d)))[-1] == ("gone", str(d), "")
            assert ino.watched == []
        finally:
            ino.close()
    asyncio.run(asyncio.wait_for(main(), 2 * TIMEOUT))


def test_loop_inotify_pairs_a_rename_split_over_two_reads_and_reports_an_overflow(tmp_path):
    """The kernel may hand a rename's two halves to two reads: they are still
    one move (records made by hand, as the kernel lays them out)."""
    import struct

    def record(wd, mask, cookie, name=b""):
        padded = name + b"\0" * (16 - len(name) % 16) if name else b""
        return struct.pack("iIII", wd, mask, cookie, len(padded)) + padded

    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        ino = LoopInotify(loop, lambda *e: seen.append(e))
        ino.watch(str(tmp_path))
        wd = ino._wds[str(tmp_path)]
        try:
            ino.handle(record(wd, watching.IN_MOVED_FROM, 7, b"a.plist"))
            ino.handle(record(wd, watching.IN_MOVED_TO, 7, b"b.plist") + record(-1, watching.IN_Q_OVERFLOW, 0))
            a, b = str(tmp_path / "a.plist"), str(tmp_path / "b.plist")
            assert seen == [("moved", a, ""), ("moved", a, b), ("overflow", "", "")]
        finally:
            ino.close()
    asyncio.run(asyncio.wait_for(main(), TIMEOUT))


def test_an_unlinked_plist_is_reported_after_one_sleep_and_one_written_anew_is_one_change(tmp_path):
    """A plist removed is reported after UNLINK_GRACE (1 ms: one sleep of
    the loop, for a writer of a new file); one removed and written again
    meanwhile (``install`` unlinks, then writes) is one change of a plist
    that exists, reported at its close, as vim's save is. Real inotify, a
    fake clock: a sentinel written last shows every event has been read."""
    async def main():
        loop = asyncio.get_running_loop()
        clock = FakeClock()
        changes: list[set[str]] = []
        d = str(tmp_path)
        x, y, sentinel = (os.path.join(d, n) for n in ("x.plist", "y.plist", "sentinel"))
        (tmp_path / "x.plist").write_text("old")
        (tmp_path / "y.plist").write_text("old")
        w = JobsDirWatcher([d], loop, changes.append, clock=clock)
        seen = _sentinel_seen(w, sentinel)
        w.start()
        try:
            os.unlink(x)
            os.unlink(y)
            (tmp_path / "y.plist").write_text("new")
            (tmp_path / "sentinel").write_text("")
            await asyncio.wait_for(seen.wait(), TIMEOUT)
            assert changes == [{y}] and os.path.exists(y), "y: one change, at its writer's close"
            clock.advance(jobsdir.UNLINK_GRACE * 0.9)
            assert changes == [{y}]
            clock.advance(jobsdir.UNLINK_GRACE * 0.2)
            assert changes == [{y}, {x}] and not os.path.exists(x)
            clock.advance(jobsdir.QUIET_PERIOD)
            assert changes == [{y}, {x}], "the safety net reports nothing again"
        finally:
            w.stop()
    asyncio.run(asyncio.wait_for(main(), 2 * TIMEOUT))


def test_other_files_of_a_jobs_directory_start_no_batch_but_a_missing_directory_does(tmp_path):
    """An editor's temporary file or backup beside the plists is nothing to
    the watcher (no batch, no timer); a plist's chmod is (a batch), and so
    is a jobs directory appearing in the ancestor watched for it (a batch,
    then a scan)."""
    async def main():
        loop = asyncio.get_running_loop()
        clock = FakeClock()
        changes: list[set[str]] = []
        jobs, missing = tmp_path / "jobs", tmp_path / "later" / "jobs"
        jobs.mkdir()
        w = JobsDirWatcher([str(jobs), str(missing)], loop, changes.append, clock=clock)
        w.start()
        try:
            for event_type in ("created", "opened", "modified", "closed", "deleted"):
                w._event(event_type, str(jobs / ".x.plist.tmp"), "")
            w._event("moved", str(jobs / "x.plist~"), str(jobs / ".swp"))
            assert not w._coalescer.pending and not w._grace.pending
            w._event("attrib", str(jobs / "x.plist"), "")  # a plist chmod'ed: its mode is checked again
            assert w._coalescer.pending
            clock.advance(jobsdir.QUIET_PERIOD)
            assert changes == [{str(jobs / "x.plist")}]
            missing.mkdir(parents=True)
            (missing / "m.plist").write_text("x")
            w._event("created", str(tmp_path / "later"), "")
            assert w._coalescer.pending
            clock.advance(jobsdir.QUIET_PERIOD)
            assert str(missing / "m.plist") in set().union(*changes)
        finally:
            w.stop()
    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
