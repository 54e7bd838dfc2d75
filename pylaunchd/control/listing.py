"""``pylaunchctl list``'s table, and the way to it without typer.

``list`` is the verb scripts run most, and with thousands of jobs its
start-up is what a user waits for: importing typer, click and every verb
costs about two thirds of what pylaunchctl does before it sends a request.
:func:`quick_list` answers the plain forms (``list``, ``list --json``,
after ``--control-socket PATH`` or ``--user``) with the protocol, the status
records and this formatter only, exactly as the verb does; anything else
(a label, a domain, help, shell completion, a usage error) returns None and
goes to typer, which documents and checks it.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .status import JobSummary

COMPLETE_ENV = "_PYLAUNCHCTL_COMPLETE"  # click's completion variable for prog pylaunchctl


def format_jobs(jobs: list[JobSummary]) -> str:
    """``PID Status Label``, tab-separated; a job that never exited shows 0."""
    return format_rows((j.pid, j.last_exit_status, j.label) for j in jobs)


def format_rows(rows) -> str:
    """:func:`format_jobs` of (pid, last exit status, label) triples."""
    lines = ["PID\tStatus\tLabel"]
    for pid, status, label in rows:
        lines.append(f"{'-' if pid is None else pid}\t{0 if status is None else status}\t{label}")
    return "\n".join(lines)


def plain_list(argv: list[str]) -> tuple[str | None, bool, bool] | None:
    """(--control-socket, --user, --json) of a plain ``list`` command line,
    or None for anything else."""
    socket_path, user, i = None, False, 0
    while i < len(argv) and argv[i].startswith("--"):
        name, eq, value = argv[i].partition("=")
        if name == "--user" and not eq:
            user, i = True, i + 1
        elif name == "--control-socket" and eq and value:
            socket_path, i = value, i + 1
        elif name == "--control-socket" and not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            socket_path, i = argv[i + 1], i + 2
        else:
            return None
    rest = argv[i:]
    if rest not in (["list"], ["list", "--json"]):
        return None
    return socket_path, user, rest == ["list", "--json"]


def quick_list(argv: list[str]) -> int | None:
    """Run a plain ``list``; its exit status, or None when typer should take *argv*."""
    plain = plain_list(argv)
    if plain is None or COMPLETE_ENV in os.environ:
        return None
    socket_path, user, as_json = plain
    from .errors import ControlError
    from .protocol import request

    if not socket_path:
        from ..domain import default_control_socket
        socket_path = os.environ.get("PYLAUNCHD_CONTROL_SOCKET") or default_control_socket(
            os.geteuid() == 0 and not user)
    try:
        result = request(socket_path, "list" if as_json else "domain", {})
    except ControlError as e:
        print(f"pylaunchctl: {e}", file=sys.stderr)
        return e.status
    if as_json:
        import json
        print(json.dumps(result, indent=2))
        return 0
    from .status import LoadErrorStatus
    # The rows straight from the reply: 10,000 JobSummary records cost more than the request.
    print(format_rows((j["pid"], j["last_exit_status"], j["label"]) for j in result["services"]))
    for e in result.get("load_errors", ()):
        print(f"not loaded: {LoadErrorStatus.from_json(e).text}", file=sys.stderr)
    return 0
