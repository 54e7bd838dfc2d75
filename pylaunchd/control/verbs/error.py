"""error: what an exit status means."""

from __future__ import annotations

import typer

from ..client import JSON, print_json
from ..errors import describe
from ..verb import Verb


class Error(Verb):
    """What an error code means.

    As launchctl error: launchd's codes 107-159 by their sentences, 64 as EX_USAGE, POSIX errno
    values below 107. No manager is needed.
    """

    cli_name = "error"

    def run(self, code: int = typer.Argument(..., help="An exit status of pylaunchctl or launchctl."),
            as_json: bool = JSON) -> None:
        if as_json:
            print_json({"code": code, "description": describe(code)})
        else:
            print(f"{code}: {describe(code)}")
