"""Tests of pylaunchd.triggers.pathwatch: WatchPaths, QueueDirectories and PathState
watching, with real files, real inotify and a real asyncio loop.

Waits are awaits on callbacks with a timeout, never sleeps. "No callback" is
shown with a sentinel: a change to another watched file of the same directory,
made after the change that must not fire; its events go through the same
watchdog queue, so once the sentinel's callback has run, any callback for the
earlier change has run too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading

import pytest

from pylaunchd.triggers.pathwatch import (PATH_STATE, QUEUE_DIRECTORIES, WATCH_PATHS, PathTriggers, exists, is_nonempty,
                                nearest_existing, normalize_path)

TIMEOUT = 5.0


class Recorder:
    """A callback that records its calls and lets a test await them."""

    def __init__(self):
        self.calls: list[list[str]] = []
        self.queue: asyncio.Queue = asyncio.Queue()
        self.loop_thread = threading.get_ident()

    def __call__(self, paths: list[str]) -> None:
        self.calls.append(list(paths))
        self.queue.put_nowait((list(paths), threading.get_ident()))

    async def next(self, timeout: float = TIMEOUT) -> list[str]:
        paths, thread = await asyncio.wait_for(self.queue.get(), timeout)
        assert thread == self.loop_thread, "callback not run on the loop thread"
        return paths

    async def until(self, path: str, timeout: float = TIMEOUT) -> list[str]:
        """The first callback that lists *path*."""
        async def wait():
            while True:
                paths = await self.next(timeout)
                if path in paths:
                    return paths
        return await asyncio.wait_for(wait(), timeout)

    def clear(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()


def run(test):
    """Run ``test(triggers)`` on a fresh loop with a fresh PathTriggers."""
    async def main():
        triggers = PathTriggers(asyncio.get_running_loop())
        try:
            await test(triggers)
        finally:
            triggers.close()
    asyncio.run(asyncio.wait_for(main(), 8))


def write(path, data: str = "x", mode: str = "a") -> None:
    with open(path, mode) as f:
        f.write(data)


# --- pure helpers -------------------------------------------------------------

def test_normalize_path():
    assert normalize_path("/a//b/../c/") == "/a/c"
    for bad in ("relative/path", "~/x", ""):
        with pytest.raises(ValueError):
            normalize_path(bad)


def test_exists_and_is_nonempty(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / ".dot").write_text("")
    assert exists(str(f)) and exists(str(tmp_path))
    assert not exists(str(tmp_path / "missing"))
    assert not exists(str(tmp_path / "dangling"))  # stat() follows the link
    assert not is_nonempty(str(empty))
    assert is_nonempty(str(hidden))  # any entry counts
    assert not is_nonempty(str(tmp_path / "missing"))
    assert not is_nonempty(str(f))  # not a directory


def test_nearest_existing(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    assert nearest_existing(str(tmp_path)) == str(tmp_path)
    assert nearest_existing(str(tmp_path / "a" / "b" / "c")) == str(tmp_path)
    assert nearest_existing(str(f / "below")) == str(tmp_path)  # a file is no directory
    assert nearest_existing("/") == "/"


def test_watch_rejects_relative_paths_and_unknown_kinds(tmp_path):
    async def test(t):
        with pytest.raises(ValueError):
            t.watch("job", ["relative"], WATCH_PATHS, Recorder())
        with pytest.raises(ValueError):
            t.watch("job", [str(tmp_path)], "StartOnMount", Recorder())
        assert t.watched_directories == []
    run(test)


# --- WatchPaths ---------------------------------------------------------------

def _rename_over(p):
    write(p + ".tmp", "new", "w")
    os.replace(p + ".tmp", p)


OPERATIONS = {
    "write": lambda p: write(p),
    "truncate": lambda p: open(p, "w").close(),
    "touch": lambda p: os.utime(p),
    "chmod": lambda p: os.chmod(p, 0o600),
    "delete": os.remove,
    "rename_away": lambda p: os.rename(p, p + ".old"),
    "rename_over": _rename_over,  # how editors save
}


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_watchpaths_existing_file(tmp_path, op):
    p = str(tmp_path / "watched.conf")
    write(p, "old")

    async def test(t):
        rec = Recorder()
        t.watch("job", [p], WATCH_PATHS, rec)
        OPERATIONS[op](p)
        assert await rec.next() == [p]
        if op == "rename_over":  # the new file is watched as the old one was
            write(p)
            assert await rec.next() == [p]
    run(test)


def test_watchpaths_missing_file_parent_exists(tmp_path):
    p = str(tmp_path / "later")

    async def test(t):
        rec = Recorder()
        t.watch("job", [p], WATCH_PATHS, rec)
        assert t.watched_directories == [str(tmp_path)]
        write(p)
        assert await rec.next() == [p]
    run(test)


def test_watchpaths_missing_parents_created_at_once(tmp_path):
    p = str(tmp_path / "a" / "b" / "c" / "file")

    async def test(t):
        rec = Recorder()
        t.watch("job", [p], WATCH_PATHS, rec)
        assert t.watched_directories == [str(tmp_path)]
        os.makedirs(os.path.dirname(p))
        write(p)  # before the watch can move down: seen by the state check
        await rec.until(p)
        assert t.watched_directories == [os.path.dirname(p)]
    run(test)


def test_watchpaths_missing_parents_created_in_steps(tmp_path):
    d = str(tmp_path / "a" / "b")
    p = os.path.join(d, "file")

    async def test(t):
        rec, marker = Recorder(), Recorder()
        t.watch("job", [p], WATCH_PATHS, rec)
        t.watch("marker", [d], PATH_STATE, marker)  # tells when the mkdir was handled
        os.makedirs(d)
        assert await marker.next() == [d]
        assert d in t.watched_directories
        assert rec.calls == []  # a parent appearing is no change of the path
        write(p)
        assert await rec.next() == [p]
    run(test)


def test_watchpaths_directory_entries_not_contents(tmp_path):
    d = str(tmp_path / "dir")
    os.mkdir(d)
    inner = os.path.join(d, "inner")
    write(inner)

    async def test(t):
        rec, sentinel = Recorder(), Recorder()
        t.watch("job", [d], WATCH_PATHS, rec)
        t.watch("sentinel", [inner], WATCH_PATHS, sentinel)
        write(os.path.join(d, "new"))  # entry added
        assert await rec.next() == [d]
        write(inner)  # a write inside a child: no kqueue event on the directory
        assert await sentinel.next() == [inner]
        assert len(rec.calls) == 1
        os.rename(os.path.join(d, "new"), os.path.join(d, "renamed"))  # entry renamed
        assert await rec.next() == [d]
        os.remove(os.path.join(d, "renamed"))  # entry removed
        assert await rec.next() == [d]
        os.chmod(d, 0o700)  # the directory's own attributes
        assert await rec.next() == [d]
    run(test)


def test_burst_of_writes_is_coalesced(tmp_path):
    p = str(tmp_path / "busy.log")
    s = str(tmp_path / "sentinel")
    write(p)
    write(s)

    async def test(t):
        rec, sentinel = Recorder(), Recorder()
        t.watch("job", [p], WATCH_PATHS, rec)
        t.watch("sentinel", [s], WATCH_PATHS, sentinel)
        for i in range(100):
            write(p, f"line {i}\n")
        assert await rec.next() == [p]
        write(s)
        await sentinel.next()
        assert 1 <= len(rec.calls) <= 3, rec.calls
    run(test)


def test_watched_directory_deleted_and_recreated(tmp_path):
    d = str(tmp_path / "conf.d")
    os.mkdir(d)
    p = os.path.join(d, "job.conf")
    write(p)

    async def test(t):
        rec = Recorder()
        t.watch("job", [p], WATCH_PATHS, rec)
        assert t.watched_directories == [d]
        shutil.rmtree(d)
        await rec.until(p)
        assert t.watched_directories == [str(tmp_path)]
        os.mkdir(d)
        write(p)
        await rec.until(p)
        assert t.watched_directories == [d]
        rec.clear()
        write(p)  # watched through the new directory's inode
        assert await rec.next() == [p]
    run(test)


# --- QueueDirectories -----------------------------------------------------------

def test_queue_directory_becomes_nonempty(tmp_path):
    q = str(tmp_path / "queue")
    os.mkdir(q)

    async def test(t):
        rec = Recorder()
        t.watch("job", [q], QUEUE_DIRECTORIES, rec)
        assert not is_nonempty(q)
        write(os.path.join(q, "item1"))
        assert await rec.next() == [q]
        assert is_nonempty(q)
        # The job drains the queue and exits; an item arriving in the same
        # coalesced batch must still be reported.
        os.remove(os.path.join(q, "item1"))
        write(os.path.join(q, "item2"))
        assert await rec.next() == [q]
        os.remove(os.path.join(q, "item2"))
        assert not is_nonempty(q)
    run(test)


def test_queue_directory_created_later_and_recreated(tmp_path):
    q = str(tmp_path / "spool" / "queue")

    async def test(t):
        rec = Recorder()
        t.watch("job", [q], QUEUE_DIRECTORIES, rec)
        os.makedirs(q)
        write(os.path.join(q, "a"))
        await rec.until(q)
        assert q in t.watched_directories
        shutil.rmtree(q)
        os.mkdir(q)
        write(os.path.join(q, "b"))
        await rec.until(q)
        os.remove(os.path.join(q, "b"))  # needs the watch on the new directory
        write(os.path.join(q, "c"))
        await rec.until(q)
    run(test)


# --- KeepAlive.PathState --------------------------------------------------------

def test_pathstate_transitions(tmp_path):
    p = str(tmp_path / "flag")
    given = str(tmp_path) + "//flag"  # reported as given

    async def test(t):
        rec = Recorder()
        t.watch("job", {given: True}, PATH_STATE, rec)  # a PathState dict works as an iterable
        write(p)
        assert await rec.next() == [given]
        assert exists(p)
        os.remove(p)
        assert await rec.next() == [given]
        assert not exists(p)
        write(p + ".tmp")
        os.rename(p + ".tmp", p)  # renamed into place
        assert await rec.next() == [given]
        os.rename(p, p + ".old")  # renamed away
        assert await rec.next() == [given]
        assert not exists(p)
    run(test)


def test_pathstate_directories_created_later(tmp_path):
    top = str(tmp_path / "run")
    p = os.path.join(top, "app", "ready")

    async def test(t):
        rec = Recorder()
        t.watch("job", [p], PATH_STATE, rec)
        os.makedirs(os.path.dirname(p))
        write(p)
        await rec.until(p)
        assert exists(p)
        shutil.rmtree(top)
        await rec.until(p)
        assert not exists(p)
        assert t.watched_directories == [str(tmp_path)]
        os.makedirs(os.path.dirname(p))
        os.mkdir(p)  # a directory counts as existing too
        await rec.until(p)
    run(test)


# --- keys ---------------------------------------------------------------------

def test_unwatch_stops_callbacks(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    write(a)
    write(b)

    async def test(t):
        rec_a, rec_b = Recorder(), Recorder()
        t.watch("job.a", [a], WATCH_PATHS, rec_a)
        t.watch("job.b", [b], WATCH_PATHS, rec_b)
        t.unwatch("job.a")
        assert t.watched_directories == [str(tmp_path)]  # still needed by job.b
        write(a)
        write(b)
        assert await rec_b.next() == [b]
        assert rec_a.calls == []
        t.unwatch("job.b")
        assert t.watched_directories == []
    run(test)


def test_keys_sharing_a_directory(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    write(a)
    write(b)

    async def test(t):
        one, two, three = Recorder(), Recorder(), Recorder()
        t.watch("one", [a], WATCH_PATHS, one)
        t.watch("two", [a, b], WATCH_PATHS, two)
        t.watch("three", [tmp_path / "q"], QUEUE_DIRECTORIES, three)  # watches the same parent
        write(a)
        assert await one.next() == [a]
        assert await two.next() == [a]
        write(b)
        assert await two.next() == [b]
        t.unwatch("one")
        write(a)
        assert await two.next() == [a]
        assert len(one.calls) == 1
        assert three.calls == []
    run(test)


def test_one_key_several_kinds(tmp_path):
    p = str(tmp_path / "p")

    async def test(t):
        watch, state = Recorder(), Recorder()
        t.watch("job", [p], WATCH_PATHS, watch)
        t.watch("job", [p], PATH_STATE, state)
        write(p)
        assert await watch.next() == [p]
        assert await state.next() == [p]
        t.unwatch("job", PATH_STATE)
        os.remove(p)
        assert await watch.next() == [p]
        assert state.calls == [[p]]
    run(test)


def test_failing_callback_does_not_stop_others(tmp_path, caplog):
    p = str(tmp_path / "p")

    def broken(paths):
        raise RuntimeError("job bug")

    async def test(t):
        rec = Recorder()
        t.watch("broken", [p], PATH_STATE, broken)
        t.watch("job", [p], PATH_STATE, rec)
        write(p)
        assert await rec.next() == [p]
        os.remove(p)
        assert await rec.next() == [p]
    run(test)
    assert "broken: PathState callback failed" in caplog.text
