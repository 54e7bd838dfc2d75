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


def test_rotation_never_splits_a_line(tmp_path):
    """The pipe hands the log chunks that end anywhere: a file is rotated at
    the end of a line, so every file holds whole lines and none is lost."""
    log = JobLog(str(tmp_path / "logs" / "job.log"), max_bytes=1000, backups=50)
    text = "".join(f"line {i:04d} {'y' * (i % 37)}\n" for i in range(400)).encode()
    for start in range(0, len(text), 333):  # chunks that cut lines
        log.output(text[start:start + 333])
    log.close()
    files = sorted((tmp_path / "logs").iterdir(), key=lambda p: -int(p.suffix[1:]) if p.suffix != ".log" else 0)
    assert len(files) > 5
    assert all(p.read_bytes().endswith(b"\n") for p in files if p.stat().st_size)
    assert b"".join(p.read_bytes() for p in files) == text


def test_a_job_that_writes_no_newline_is_still_rotated(tmp_path):
    log = JobLog(str(tmp_path / "logs" / "job.log"), max_bytes=1000, backups=3)
    for _ in range(100):
        log.output(b"z" * 100)
    log.close()
    assert all(p.stat().st_size <= 2000 for p in (tmp_path / "logs").iterdir())
    assert len(list((tmp_path / "logs").iterdir())) == 4


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
