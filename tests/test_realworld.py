"""Plists as macOS and Homebrew ship them (tests/realworld/) load as launchd
would read them: no error, the warnings a user should see, the right meaning."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import PYTHON
from pylaunchd.spec import load_spec

HERE = Path(__file__).resolve().parent / "realworld"


def spec(name):
    return load_spec(str(HERE / f"{name}.plist"))


def test_no_real_world_plist_has_an_error():
    cp = subprocess.run([PYTHON, "-m", "pylaunchd.cli.launchctl", "lint", "--json", str(HERE)],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert not [f for f in json.loads(cp.stdout) if f["level"] == "error"]


def test_apple_sshd():
    s = spec("com.openssh.sshd")
    assert s.disabled and s.inetd_nowait
    assert s.executable == "/usr/libexec/sshd-keygen-wrapper" and s.argv == ("/usr/sbin/sshd", "-i")
    [sock] = s.sockets[0].sockets
    assert sock.service == "ssh" and sock.bonjour == ("ssh", "sftp-ssh")
    # Issue 11: launchd reads POSIXSpawnType as ProcessType (it was ignored as private).
    assert set(s.ignored_keys) == {"SHAuthorizationRight"} and s.process_type == "Interactive"


def test_homebrew_services():
    redis = spec("homebrew.mxcl.redis")
    assert redis.keep_alive.always and redis.run_at_load and "System" in redis.limit_load_to_session_type
    pg = spec("homebrew.mxcl.postgresql")
    assert pg.keep_alive.successful_exit is False and pg.keep_alive.path_state == ()
    assert any("PathState" in w for w in pg.warnings)


def test_cups_socket_array_and_type_bits_in_the_mode():
    s = spec("org.cups.cupsd")
    unix, inet = s.sockets[0].sockets
    assert unix.path == "/private/var/run/cupsd" and unix.path_mode == 0o777  # 49663 = 0o140777
    assert inet.node == "localhost" and inet.service == "ipp"
    assert s.keep_alive.path_state == (("/private/var/spool/cups/cache/org.cups.cupsd", True),)


def test_udp_inetd_daemons():
    for name, service in (("com.apple.bootpd", "bootps"), ("com.apple.tftpd", "tftp")):
        s = spec(name)
        assert s.inetd.wait and s.sockets[0].sockets[0].type == "dgram" and s.sockets[0].sockets[0].service == service


def test_calendar_job():
    s = spec("com.example.backup")
    assert len(s.start_calendar) == 2 and s.enable_globbing and s.umask == 0o77
    assert s.process_type == "Background" and s.low_priority_io and s.nice == 10
    sunday = [c for c in s.start_calendar if c.weekday is not None][0]
    assert sunday.weekday == 0  # Weekday 7 is Sunday


def test_the_corpus_check_reads_every_plist_without_a_crash():
    """scripts/corpus_check.py, which made docs/corpus.md's table, over the
    plists kept here (the real ones and the lint corpus of mistakes)."""
    corpus = HERE.parent / "lint_corpus"
    cp = subprocess.run([PYTHON, str(HERE.parent.parent / "scripts" / "corpus_check.py"), str(HERE), str(corpus)],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0 and "CRASH" not in cp.stdout, cp.stdout + cp.stderr
    rows = [line for line in cp.stdout.splitlines() if line.startswith("| `")]
    assert len(rows) == len(list(HERE.glob("*.plist"))) + len(list(corpus.glob("*.plist")))
    assert any("refused: " in r for r in rows) and any("loads in: system, per-user" in r for r in rows)
