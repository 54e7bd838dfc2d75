"""Per-job logs on real files: rotation by size, events, tails."""

from __future__ import annotations

from pylaunchd.joblog import MEMORY_LINES, JobLog, log_path, read_tail


def test_rotation_keeps_three_old_files(tmp_path):
    log = JobLog(str(tmp_path / "logs" / "job.log"), max_bytes=1000, backups=3)
    for i in range(100):
        log.output(f"line {i:03d} {'x' * 40}\n".encode())
    log.close()
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["job.log", "job.log.1", "job.log.2", "job.log.3"]
    assert all((tmp_path / "logs" / f).stat().st_size <= 1000 + 60 for f in files)
    tail = read_tail(str(tmp_path / "logs" / "job.log"), 5)
    assert tail[-1].startswith("line 099") and len(tail) == 5


def test_events_and_partial_lines(tmp_path):
    log = JobLog(str(tmp_path / "j.log"))
    log.output(b"no newline yet")
    log.event("started pid 42 (run at load)")
    log.output(b"second\n")
    lines, seq = log.tail(10)
    assert lines[0] == "no newline yet"
    assert lines[1].endswith("[pylaunchd] started pid 42 (run at load)")
    assert lines[2] == "second"
    more, seq2 = log.tail(after=seq)
    assert more == [] and seq2 == seq
    log.output(b"third\n")
    assert log.tail(after=seq)[0] == ["third"]


def test_log_path_is_safe_for_any_label(tmp_path):
    assert log_path(str(tmp_path), "com.example/../../etc").endswith("com.example_.._.._etc.log")


def test_memory_holds_a_bounded_tail_and_the_files_give_the_rest(tmp_path):
    """A job that runs for months keeps MEMORY_LINES lines in memory, not more;
    a longer tail, and a burst larger than memory between two polls of
    ``log -f``, still come whole, from the files."""
    log = JobLog(str(tmp_path / "j.log"))
    log.output(b"first\n")
    _, seq = log.tail(1)
    for i in range(10 * MEMORY_LINES):
        log.output(f"line {i}\n".encode())
    assert len(log.lines) == MEMORY_LINES
    lines, _ = log.tail(3 * MEMORY_LINES)
    assert lines == [f"line {i}" for i in range(7 * MEMORY_LINES, 10 * MEMORY_LINES)]
    followed, last = log.tail(after=seq)
    assert followed == [f"line {i}" for i in range(10 * MEMORY_LINES)] and last == seq + 10 * MEMORY_LINES
    assert log.tail(after=last) == ([], last)
