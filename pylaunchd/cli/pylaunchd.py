"""``pylaunchd``: the manager, in the foreground, logging to stderr."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import List, Optional

import typer

from ..control.protocol import ControlError
from ..domain import Domain, default_control_socket, default_jobs_dirs, default_state_dir

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]})


@app.command()
def run(
    user: bool = typer.Option(False, "--user", help="Per-user domain (LaunchAgents). Default for non-root."),
    system: bool = typer.Option(False, "--system", help="System domain (LaunchDaemons). Default for root."),
    jobs_dir: Optional[List[str]] = typer.Option(
        None, "--jobs-dir", help="Directory of job plists to load and watch (repeatable)."),
    control_socket: Optional[str] = typer.Option(
        None, "--control-socket", help="Control socket path (default: PYLAUNCHD_CONTROL_SOCKET, or the domain's)."),
    state_dir: Optional[str] = typer.Option(None, "--state-dir", help="Where enabled/disabled overrides are kept."),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    exit_with: Optional[str] = typer.Option(
        None, "--exit-with", metavar="LABEL",
        help="Shut down when this job's main process exits, with its exit status (128+N for signal N), "
             "as a container's main process ends the container."),
) -> None:
    """Run the job manager: create every job's sockets, start jobs on demand,
    keep them alive, and reload the job directories when they change."""
    if user and system:
        raise typer.BadParameter("--user and --system exclude each other")
    is_system = system or (not user and os.geteuid() == 0)
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s pylaunchd[%(process)d] %(levelname)s %(message)s")
    logging.getLogger("watchdog").setLevel(max(level, logging.INFO))
    domain = Domain(
        system=is_system,
        jobs_dirs=[os.path.abspath(os.path.expanduser(d)) for d in jobs_dir] if jobs_dir else default_jobs_dirs(is_system),
        control_socket=os.path.abspath(control_socket or default_control_socket(is_system)),
        state_dir=os.path.abspath(os.path.expanduser(state_dir or default_state_dir(is_system))),
    )
    raise typer.Exit(serve(domain, exit_with))


def serve(domain: Domain, exit_with: Optional[str] = None) -> int:
    # Imported here so that --help stays quick.
    from ..control.listener import lock_control_socket
    from ..control.server import start_control_server
    from ..manager import Manager

    log = logging.getLogger("pylaunchd")
    try:
        lock_fd = lock_control_socket(domain.control_socket)
    except (ControlError, OSError) as e:
        log.error("%s", e)
        return 1
    os.chdir("/")  # as launchd: jobs start in / unless WorkingDirectory says otherwise
    try:
        manager = Manager(domain, exit_with=exit_with)
        return asyncio.run(manager.run(start_control_server))
    except (ControlError, OSError) as e:
        log.error("%s", e)
        return 1
    finally:
        for path in (domain.control_socket, domain.control_socket + ".lock"):
            try:
                os.unlink(path)
            except OSError:
                pass
        os.close(lock_fd)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
