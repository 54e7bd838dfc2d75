"""Imported jobs behave as the originals do, in a real pylaunchd: a
.socket+.service pair serves on its socket on demand (Accept=no and
Accept=yes), a .service alone with Restart=always is restarted, a .timer
runs its service again and again, a .path unit's DirectoryNotEmpty drains a
queue, Debian's own dbus.socket+dbus.service answers dbus-send, and
supervisord's [program:x] with autorestart is restarted and its
[fcgi-program:x] serves on the socket it gets as stdin.

The units and configuration files are written here, naming tiny servers
written here too; `pylaunchctl import -o` writes the plists straight into
the manager's watched directory. Loopback only, free ports, bounded waits.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import PYTHON, free_port, pid_alive, wait_for
from test_importers import DEBIAN

LISTEN_SERVER = textwrap.dedent("""\
    import os, socket, sys
    open(os.path.join(sys.argv[1], f"{os.getpid()}.pid"), "w").write(str(os.getpid()))
    assert int(os.environ["LISTEN_PID"]) == os.getpid()
    server = socket.socket(fileno=3)
    names = os.environ.get("LISTEN_FDNAMES", "")
    while True:
        conn, _ = server.accept()
        with conn:
            conn.sendall(f"hello from {os.getpid()} fds={os.environ['LISTEN_FDS']} names={names}\\n".encode())
    """)
FCGI_SERVER = textwrap.dedent("""\
    import os, socket, sys
    open(os.path.join(sys.argv[1], f"{os.getpid()}.pid"), "w").write(str(os.getpid()))
    server = socket.socket(fileno=0)  # FastCGI: the listening socket is stdin
    while True:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"fcgi " + os.environ["ROLE"].encode() + b"\\n")
    """)
SLEEPER = textwrap.dedent("""\
    import os, sys, time
    open(os.path.join(sys.argv[1], f"{os.getpid()}.pid"), "w").write(str(os.getpid()))
    time.sleep(600)
    """)
APPEND = "import sys, time\nopen(sys.argv[1], 'a').write(f'{time.time()}\\n')\n"
DRAIN = "import os, sys\nfor n in os.listdir(sys.argv[1]):\n    os.rename(os.path.join(sys.argv[1], n), os.path.join(sys.argv[2], n))\n"


def write(directory: Path, name: str, text: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return str(path)


def import_into(manager, *files: str, prefix: str = "test.import.") -> str:
    cp = manager.ctl("import", "--prefix", prefix, "-o", str(manager.jobs_dir), *files)
    return cp.stderr


def read_line(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        return s.makefile().readline()


def test_socket_and_service_pair_serves_on_demand(manager, workdir):
    port = free_port()
    units = workdir / "units"
    server = write(workdir, "server.py", LISTEN_SERVER)
    write(units, "greet.socket", f"[Socket]\nListenStream=127.0.0.1:{port}\nFileDescriptorName=greet\n"
                                 f"[Install]\nWantedBy=sockets.target\n")
    write(units, "greet.service", f"[Unit]\nRequires=greet.socket\n[Service]\nExecStart={PYTHON} {server} {workdir}\n")
    import_into(manager, str(units / "greet.socket"), str(units / "greet.service"))
    info = manager.wait_loaded("test.import.greet")
    assert info["pid"] is None and info["runs"] == 0, "nothing runs before a client comes"
    line = read_line(port)
    assert line.startswith("hello from ") and "fds=1 names=greet" in line, line
    info = manager.info("test.import.greet")
    assert info["runs"] == 1 and pid_alive(info["pid"])
    assert read_line(port).startswith(f"hello from {info['pid']} "), "the same process serves the next one"


def test_accept_yes_socket_runs_one_instance_per_connection(manager, workdir):
    port = free_port()
    units = workdir / "units"
    write(units, "echo.socket", f"[Socket]\nListenStream=127.0.0.1:{port}\nAccept=yes\n")
    write(units, "echo@.service", "[Service]\nExecStart=-/bin/cat\nStandardInput=socket\n")
    import_into(manager, str(units / "echo.socket"))
    manager.wait_loaded("test.import.echo")
    for word in ("ping", "pong"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(word.encode() + b"\n")
            s.shutdown(socket.SHUT_WR)
            assert s.makefile().read() == word + "\n"
    manager.wait_state("test.import.echo", lambda i: i["runs"] == 2 and not i["instances"], what="two instances ran")


def test_service_alone_with_restart_always_is_restarted(manager, workdir):
    units = workdir / "units"
    sleeper = write(workdir, "sleeper.py", SLEEPER)
    write(units, "napper.service", f"[Service]\nExecStart={PYTHON} {sleeper} {workdir}\nRestart=always\n"
                                   f"RestartSec=1\nTimeoutStopSec=5\n[Install]\nWantedBy=multi-user.target\n")
    import_into(manager, str(units / "napper.service"))
    first = manager.wait_state("test.import.napper", lambda i: i["pid"], what="running at load")["pid"]
    os.kill(first, signal.SIGKILL)
    second = manager.wait_state("test.import.napper", lambda i: i["pid"] and i["pid"] != first,
                                what="restarted after SIGKILL")["pid"]
    assert pid_alive(second) and manager.info("test.import.napper")["exit_timeout"] == 5


def test_timer_runs_its_service_periodically(manager, workdir):
    units = workdir / "units"
    append = write(workdir, "append.py", APPEND)
    out = workdir / "ticks"
    write(units, "tick.timer", "[Timer]\nOnBootSec=1s\nOnUnitActiveSec=1s\nAccuracySec=1ms\n")
    write(units, "tick.service", f"[Service]\nType=oneshot\nExecStart={PYTHON} {append} {out}\n")
    stderr = import_into(manager, str(units / "tick.timer"))
    assert "AccuracySec=1ms: no launchd equivalent" in stderr
    manager.wait_loaded("test.import.tick")
    manager.wait(lambda: out.exists() and len(out.read_text().splitlines()) >= 3, 20, "three runs of the timer")


def test_path_unit_directory_not_empty_drains_the_queue(manager, workdir):
    units = workdir / "units"
    queue, done = workdir / "queue", workdir / "done"
    queue.mkdir()
    done.mkdir()
    drain = write(workdir, "drain.py", DRAIN)
    write(units, "drain.path", f"[Path]\nDirectoryNotEmpty={queue}\nMakeDirectory=yes\n")
    write(units, "drain.service", f"[Service]\nExecStart={PYTHON} {drain} {queue} {done}\n")
    assert "MakeDirectory=: launchd creates no directory" in import_into(manager, str(units / "drain.path"))
    info = manager.wait_loaded("test.import.drain")
    assert info["runs"] == 0, "an empty queue starts nothing"
    (queue / "job1").write_text("x")
    manager.wait(lambda: (done / "job1").exists() and not any(queue.iterdir()), 15, "the queue drained")


def test_debian_dbus_socket_and_service_answer_dbus_send(manager, workdir):
    """Debian's dbus.socket + dbus.service, with only the system paths moved
    into the test's directory (the bus socket, the configuration)."""
    dbus_daemon, dbus_send = shutil.which("dbus-daemon"), shutil.which("dbus-send")
    if not (dbus_daemon and dbus_send):
        pytest.skip("needs dbus-daemon and dbus-send (scripts/install-test-programs)")
    from test_real_programs import BUS_CONFIG

    config = write(workdir, "bus.conf", BUS_CONFIG)
    bus = workdir / "bus.sock"
    units = workdir / "units"
    write(units, "dbus.socket", (DEBIAN / "dbus.socket").read_text().replace("/run/dbus/system_bus_socket", str(bus)))
    write(units, "dbus.service", (DEBIAN / "dbus.service").read_text()
          .replace("/usr/bin/dbus-daemon", dbus_daemon).replace("--system ", f"--config-file={config} "))
    stderr = import_into(manager, str(units / "dbus.socket"))
    assert "OOMScoreAdjust=-900: no launchd equivalent" in stderr
    assert manager.wait_loaded("test.import.dbus")["pid"] is None
    cp = subprocess.run([dbus_send, f"--bus=unix:path={bus}", "--print-reply", "--reply-timeout=20000",
                         "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0 and 'string "org.freedesktop.DBus"' in cp.stdout, cp.stdout + cp.stderr + manager.log()
    assert manager.info("test.import.dbus")["runs"] == 1


def test_supervisord_program_with_autorestart_runs_and_is_restarted(manager, workdir):
    sleeper = write(workdir, "sleeper.py", SLEEPER)
    conf = write(workdir, "supervisord.conf", textwrap.dedent(f"""\
        [supervisord]
        nodaemon=true
        [program:napper]
        command={PYTHON} {sleeper} %(here)s
        autorestart=true
        startsecs=1
        stopwaitsecs=3
        stdout_logfile=%(here)s/%(program_name)s.log
        """))
    import_into(manager, conf, prefix="test.sup.")
    first = manager.wait_state("test.sup.napper", lambda i: i["pid"], what="autostart")["pid"]
    os.kill(first, signal.SIGTERM)
    second = manager.wait_state("test.sup.napper", lambda i: i["pid"] and i["pid"] != first,
                                what="autorestart")["pid"]
    info = manager.info("test.sup.napper")
    assert pid_alive(second) and info["exit_timeout"] == 3
    assert info["stdout_path"] == str(workdir / "napper.log")


def test_supervisord_fcgi_program_serves_on_its_socket_as_stdin(manager, workdir):
    port = free_port()
    server = write(workdir, "fcgi.py", FCGI_SERVER)
    conf = write(workdir, "fcgi.conf", textwrap.dedent(f"""\
        [fcgi-program:php]
        command={PYTHON} {server} %(here)s
        socket=tcp://127.0.0.1:{port}
        autostart=false
        environment=ROLE="responder"
        """))
    import_into(manager, conf, prefix="test.sup.")
    info = manager.wait_loaded("test.sup.php")
    assert info["pid"] is None and info["inetd_compatibility"] == {"wait": True}
    assert read_line(port) == "fcgi responder\n"
    pid = manager.info("test.sup.php")["pid"]
    assert read_line(port) == "fcgi responder\n" and manager.info("test.sup.php")["pid"] == pid
    wait_for(lambda: pid_alive(pid), 5, what="the FastCGI server still runs")
