"""boot.py: every job's sockets bound before the event loop and its heavy
imports exist, and taken over by the job table without binding again."""

from __future__ import annotations

import os
import plistlib
import socket

from conftest import free_port
from inprocess import run_booted

from pylaunchd.boot import bind_early
from pylaunchd.domain import Domain, Overrides
from pylaunchd.sockets import close_group


def write(d, name, mode=0o644, **keys):
    path = os.path.join(d, f"{name}.plist")
    with open(path, "wb") as f:
        f.write(plistlib.dumps({"Label": name, "ProgramArguments": ["/bin/cat"], **keys}))
    os.chmod(path, mode)
    return path


def listener(port):
    return {"L": {"SockNodeName": "127.0.0.1", "SockServiceName": str(port)}}


def domain(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (tmp_path / "ctl").mkdir(mode=0o700)
    return Domain(system=os.geteuid() == 0, jobs_dirs=[str(jobs)], control_socket=str(tmp_path / "ctl" / "c.sock"),
                  state_dir=str(tmp_path / "state"))


def test_only_what_the_domain_would_load_is_bound_and_it_listens_at_once(tmp_path):
    d = domain(tmp_path)
    jobs = d.jobs_dirs[0]
    good, off, overridden, unsafe, broken = (free_port() for _ in range(5))
    ok = write(jobs, "boot.ok", Sockets=listener(good))
    write(jobs, "boot.disabled", Disabled=True, Sockets=listener(off))
    write(jobs, "boot.overridden", Sockets=listener(overridden))
    Overrides(d.state_dir).set_disabled("boot.overridden", True)
    write(jobs, "boot.unsafe", mode=0o666, Sockets=listener(unsafe))
    write(jobs, "boot.broken", Sockets=listener(broken), RunAtLoad="yes")
    early = bind_early(d)
    try:
        assert list(early) == [ok]
        socket.create_connection(("127.0.0.1", good), timeout=2).close()  # queued by the kernel: no loop runs
        for port in (off, overridden, unsafe, broken):
            s = socket.socket()
            assert s.connect_ex(("127.0.0.1", port)) != 0
            s.close()
    finally:
        for e in early.values():
            for g in e.groups:
                close_group(g)


def test_the_table_takes_the_early_sockets_over_and_closes_those_it_does_not_take(tmp_path):
    d = domain(tmp_path)
    jobs = d.jobs_dirs[0]
    kept_port, changed_port, new_port = free_port(), free_port(), free_port()
    write(jobs, "boot.kept", Sockets=listener(kept_port))
    changed = write(jobs, "boot.changed", Sockets=listener(changed_port))
    early = bind_early(d)
    kept_sock = early[os.path.join(jobs, "boot.kept.plist")].groups[0].sockets[0].sock
    write(jobs, "boot.changed", Sockets=listener(new_port))  # edited between boot and the first scan
    os.utime(changed, ns=(1, 1))  # a different identity even within the same timestamp tick

    def check(m):
        assert m.table.find("boot.kept").flat_sockets()[0][1].sock is kept_sock, "not bound again"
        assert m.table.find("boot.changed").flat_sockets()[0][1].address["port"] == new_port
        s = socket.socket()
        assert s.connect_ex(("127.0.0.1", changed_port)) != 0, "the stale early socket is closed"
        s.close()
    run_booted(d, early, check)


def test_the_quick_command_line_reader_takes_only_ordinary_command_lines():
    from pylaunchd.cli.pylaunchd import quick_options

    assert quick_options(["--jobs-dir", "a", "--jobs-dir=b", "--user", "--log-level", "debug"]) == {
        "user": True, "system": False, "jobs_dir": ["a", "b"], "control_socket": None, "state_dir": None,
        "log_level": "debug", "exit_with": None, "bus_address": None, "bus_service_dir": None}
    assert quick_options([])["jobs_dir"] == []
    # typer's to answer: help, unknown options, missing values, contradictions, bad values
    for argv in (["--help"], ["-h"], ["--jobs"], ["--jobs-dir"], ["--user", "--system"], ["--log-level", "loud"],
                 ["--user=yes"], ["stray"]):
        assert quick_options(argv) is None, argv


def test_the_quick_reader_knows_exactly_the_documented_options():
    """The manager's options are written twice (the typer command that
    documents them, the quick reader on the path to the first socket): a
    new option must be taught to both."""
    import typer.main

    from pylaunchd.cli.pylaunchd import _OPTIONS, typer_app

    command = typer.main.get_command(typer_app())
    informational = {"--help", "--version"}  # answered by typer itself: the quick reader hands them over
    documented = {opt for p in command.params for opt in p.opts if opt.startswith("--")} - informational
    assert documented == set(_OPTIONS)
