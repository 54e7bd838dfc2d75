"""Per-job logs on real files: rotation by size, events, tails."""

from __future__ import annotations

from pylaunchd.joblog import JobLog, log_path, read_tail


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
