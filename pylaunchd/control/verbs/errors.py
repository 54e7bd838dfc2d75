"""errors: the watched plists that did not load, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from ..client import JSON, print_json
from ..status import LoadErrorStatus
from ..verb import Verb

if TYPE_CHECKING:
    from ..service import ControlService


def format_errors(errors: list[LoadErrorStatus]) -> str:
    """One line per file: ``PATH: KEY: MESSAGE`` (the key when there is one)."""
    return "\n".join(e.text for e in errors)


class Errors(Verb):
    """Every plist of the jobs directories that did not load, and why.

    One line per file: its path, the key at fault (if any) and the message:
    not a property list, a value of the wrong type, unsafe ownership or
    mode, a socket in use, a Label already loaded from another file (which
    loads by itself once that file goes). A line goes once its file loads or
    is removed. list shows the same lines on stderr, print DOMAIN as "load
    errors", and print or blame of such a label says why it is not loaded.
    Exit status 0 when every plist loaded, 1 otherwise. --json: one object
    per file with path, label (null if unreadable), reason (invalid, bad
    permissions, in use, socket error, no label), key_path, message and
    other_path (the file a label in use is loaded from).
    """

    name = "errors"
    read_only = True

    def run(self, as_json: bool = JSON) -> None:
        raw = self.client.call("errors")
        if as_json:
            print_json(raw)
        elif raw:
            print(format_errors([LoadErrorStatus.from_json(e) for e in raw]))
        if raw:
            raise typer.Exit(1)

    def execute(self, service: ControlService, args: dict) -> list:
        return [e.to_json() for e in service.load_errors()]
