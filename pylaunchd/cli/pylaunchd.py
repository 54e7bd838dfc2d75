"""``pylaunchd``: the manager, in the foreground, logging to stderr.

The path from exec to the first listening socket is kept light: a command
line of the manager's own options is read here without typer, the job
directories' sockets are bound (:mod:`pylaunchd.boot`), and only then are the
event loop, the file watcher and the control server imported. ``--help``, a
usage error or anything unusual goes to the typer command, which documents
the options and says what is wrong.
"""

from __future__ import annotations

import gc
import os
import _signal  # the C module: signal.py builds its enums (enum, functools) at import
import sys

from .. import bootlog
from ..bootlog import log
from ..control.errors import ControlError
from ..domain import (Domain, default_bus_address, default_bus_service_dir, default_control_socket,
                      default_jobs_dirs, default_state_dir)

LOG_LEVELS = ("debug", "info", "warning", "error")
REEXEC_ENV = "PYLAUNCHD_REEXEC"  # reexec.handoff.ENV, checked here without importing it
# option -> (keyword, kind): what the quick reader below understands.
_OPTIONS = {"--user": ("user", bool), "--system": ("system", bool), "--jobs-dir": ("jobs_dir", list),
            "--control-socket": ("control_socket", str), "--state-dir": ("state_dir", str),
            "--log-level": ("log_level", str), "--exit-with": ("exit_with", str),
            "--bus-address": ("bus_address", str), "--bus-service-dir": ("bus_service_dir", str)}


def quick_options(argv: list[str]) -> dict[str, object] | None:
    """The options of an ordinary command line, or None for anything else
    (help, an unknown option, a missing value, a usage error): typer then
    takes the command line and says what is wrong."""
    out: dict = {"user": False, "system": False, "jobs_dir": [], "control_socket": None,
                           "state_dir": None, "log_level": "info", "exit_with": None, "bus_address": None,
                           "bus_service_dir": None}
    i = 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        if name not in _OPTIONS:
            return None
        key, kind = _OPTIONS[name]
        i += 1
        if kind is bool:
            if eq:
                return None
            out[key] = True
            continue
        if not eq:
            if i >= len(argv):
                return None
            value, i = argv[i], i + 1
        if kind is list:
            out[key].append(value)
        else:
            out[key] = value
    if (out["user"] and out["system"]) or out["log_level"].lower() not in LOG_LEVELS:
        return None
    return out


def start(user: bool, system: bool, jobs_dir: list[str], control_socket: str | None, state_dir: str | None,
          log_level: str, exit_with: str | None = None, bus_address: str | None = None,
          bus_service_dir: str | None = None) -> int:
    """Run the manager with these (valid) options; its exit status."""
    is_system = system or (not user and os.geteuid() == 0)
    bootlog.configure_with(lambda: _log_to_stderr(log_level))  # logging imported once the sockets listen
    domain = Domain(
        system=is_system,
        jobs_dirs=[os.path.abspath(os.path.expanduser(d)) for d in jobs_dir] if jobs_dir else default_jobs_dirs(is_system),
        control_socket=os.path.abspath(control_socket or default_control_socket(is_system)),
        state_dir=os.path.abspath(os.path.expanduser(state_dir or default_state_dir(is_system))),
        bus_address=bus_address or default_bus_address(is_system),
        bus_service_dir=os.path.abspath(bus_service_dir) if bus_service_dir else default_bus_service_dir(is_system),
    )
    return serve(domain, exit_with)


def _log_to_stderr(log_level: str) -> None:
    import logging

    level = getattr(logging, log_level.upper())
    # The format names no source line, thread or process name: logging's
    # documented switches spare each record looking them up (a line is
    # logged before a reloaded job's socket is bound).
    logging._srcfile = None
    logging.logThreads = logging.logMultiprocessing = False
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s pylaunchd[%(process)d] %(levelname)s %(message)s")
    logging.getLogger("watchdog").setLevel(max(level, logging.INFO))


def serve(domain: Domain, exit_with: str | None = None) -> int:
    from .. import prebound as front_end
    from ..boot import bind_early
    from ..control.listener import bind_control_socket, lock_control_socket

    handoff = None
    prebound = front_end.take_from_environment()  # the C front end's sockets; no job sees the variable
    if REEXEC_ENV in os.environ:  # a re-exec: the previous process's descriptors (json, dataclasses: only then)
        from ..reexec.handoff import InheritedSockets, take_from_environment
        handoff = take_from_environment()
    socket_dir = os.path.dirname(domain.control_socket)
    made_dir = not os.path.isdir(socket_dir)  # ours to remove at shutdown, once empty
    try:
        lock_fd = handoff.lock_fd if handoff is not None else lock_control_socket(domain.control_socket)
    except (ControlError, OSError) as e:
        log.error("%s", e)
        return 1
    exec_cwd = os.getcwd()  # a re-exec runs the command line again from here
    os.chdir("/")  # as launchd: jobs start in / unless WorkingDirectory says otherwise
    try:
        if handoff is not None:
            import socket  # (imported already by the handoff)
            control = socket.socket(fileno=handoff.control_fd)
            control.setblocking(False)
            inherited = InheritedSockets(handoff.socket_fds, handoff.secure)
        else:
            control = bind_control_socket(domain.control_socket, public=domain.system)
            inherited = None
        early = bind_early(domain, inherited or prebound)  # every socket listens from here on: clients queue
        unasked = prebound.close_rest() if prebound is not None else 0  # the front end's that no job took
        booted = None
        if handoff is None:  # a re-exec's jobs run already
            from ..bootspawn import start_early
            booted = start_early(domain, early)  # RunAtLoad jobs run from here on, before the loop
        bootlog.configure()  # logging: imported by boot's first message, after its spawns, or here
        if prebound is not None:
            log.info("%d socket(s) bound by the front end before Python started, taken over; %d of no job "
                     "loaded, closed", prebound.offered - unasked, unasked)
        gc.enable()  # off since python -m pylaunchd began (pylaunchd/__main__.py)
        import asyncio

        from ..manager import Manager

        async def control_server(manager):
            from ..control.server import start_control_server  # the verbs: after the jobs started
            return await start_control_server(manager, control)

        manager = Manager(domain, exit_with=exit_with, early=early, handoff=handoff, inherited=inherited,
                          booted=booted)
        manager.inherit, manager.exec_cwd = (control.fileno(), lock_fd), exec_cwd
        return asyncio.run(manager.run(control_server))
    except (ControlError, OSError) as e:
        log.error("%s", e)
        return 1
    finally:
        _remove_control_socket(domain, lock_fd, socket_dir if made_dir else None)


def _remove_control_socket(domain: Domain, lock_fd: int, made_dir: str | None) -> None:
    """At exit: the control socket and its lock, and their directory if we made it."""
    for path in (domain.control_socket, domain.control_socket + ".lock"):
        try:
            os.unlink(path)
        except OSError:
            pass
    os.close(lock_fd)
    if made_dir:
        try:
            os.rmdir(made_dir)
        except OSError:
            pass  # not empty: something else lives there


FRONT_END_ENV = "PYLAUNCHD_FRONT_END"  # set by the C front end (pylaunchd/_prebind.c) to its own path
_front_end: list[str] = []  # that path, taken out of the environment by main()


def front_end_text() -> str:
    """What --version says of the command that started this manager."""
    if _front_end:
        return f"C, {_front_end[0]} (binds the jobs' network and unix sockets before Python starts)"
    return "none (started as pylaunchd-python or python -m pylaunchd: sockets listen once Python has read the plists)"


def typer_app():
    """The documented command line (help, usage errors), built on demand."""
    import typer

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": ["-h", "--help"]})

    def version(value: bool) -> None:
        if value:
            from .. import __version__
            from ..spawn import spawn_path
            print(f"pylaunchd {__version__}\nspawn path: {spawn_path()}\nfront end: {front_end_text()}")
            raise typer.Exit(0)

    @app.command()
    def run(
        _version: bool = typer.Option(False, "--version", is_eager=True, callback=version,
                                      help="Print pylaunchd's version and exit."),
        user: bool = typer.Option(False, "--user", help="Per-user domain (LaunchAgents). Default for non-root."),
        system: bool = typer.Option(False, "--system", help="System domain (LaunchDaemons). Default for root."),
        jobs_dir: list[str] | None = typer.Option(
            None, "--jobs-dir", help="Directory of job plists to load and watch (repeatable)."),
        control_socket: str | None = typer.Option(
            None, "--control-socket", help="Control socket path (default: PYLAUNCHD_CONTROL_SOCKET, or the domain's)."),
        state_dir: str | None = typer.Option(None, "--state-dir", help="Where enabled/disabled overrides are kept."),
        log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
        exit_with: str | None = typer.Option(
            None, "--exit-with", metavar="LABEL",
            help="Shut down when this job's main process exits, with its exit status (128+N for signal N), "
                 "as a container's main process ends the container."),
        bus_address: str | None = typer.Option(
            None, "--bus-address", metavar="ADDRESS",
            help="The D-Bus bus of MachServices names (default: unix:path=$XDG_RUNTIME_DIR/bus for a user "
                 "domain, unix:path=/run/dbus/system_bus_socket for the system domain)."),
        bus_service_dir: str | None = typer.Option(
            None, "--bus-service-dir", metavar="DIR",
            help="Where to write the .service files of MachServices names (default: "
                 "$XDG_RUNTIME_DIR/dbus-1/services, or /run/pylaunchd/dbus-1/system-services)."),
    ) -> None:
        """Run the job manager: create every job's sockets, start jobs on demand,
        keep them alive, and reload the job directories when they change."""
        if user and system:
            raise typer.BadParameter("--user and --system exclude each other")
        if log_level.lower() not in LOG_LEVELS:
            raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
        raise typer.Exit(start(user, system, jobs_dir or [], control_socket, state_dir, log_level, exit_with,
                               bus_address, bus_service_dir))

    return app


def main() -> None:
    # As PID 1 a signal with no handler is dropped, not held: a runtime's
    # SIGTERM during the start (binding every job's sockets comes first)
    # was lost, and the container stopped only at its SIGKILL. Held from
    # here, as boot holds them (bootspawn.HELD_SIGNALS), until the manager
    # handles them (Manager.run).
    _signal.pthread_sigmask(_signal.SIG_BLOCK, (_signal.SIGTERM, _signal.SIGINT, _signal.SIGPWR, _signal.SIGHUP,
                                                _signal.SIGCHLD, _signal.SIGUSR2))
    gc.disable()  # until boot has started its jobs (serve), as python -m pylaunchd does: see pylaunchd/__main__.py
    front_end = os.environ.pop(FRONT_END_ENV, None)  # jobs never see it
    if front_end:
        _front_end.append(front_end)
    options = quick_options(sys.argv[1:])
    if options is None:
        typer_app()(prog_name="pylaunchd")  # run as pylaunchd-python by the C front end
    else:
        sys.exit(start(**options))


if __name__ == "__main__":
    main()
