"""help: pylaunchctl's help, or one verb's."""

from __future__ import annotations

from typing import Optional

import typer

from ..client import fail
from ..errors import EXIT_USAGE
from ..verb import Verb


class Help(Verb):
    """Help on pylaunchctl, or on one verb.

    help VERB shows the same text as VERB --help.
    """

    cli_name = "help"

    def run(self, ctx: typer.Context, verb: Optional[str] = typer.Argument(None, help="A verb.")) -> None:
        group_ctx = ctx.parent or ctx
        group = group_ctx.command
        if verb is None:
            print(group.get_help(group_ctx))
            return
        cmd = group.get_command(group_ctx, verb) if hasattr(group, "get_command") else None
        if cmd is None:
            fail(f"unknown verb {verb!r}", EXIT_USAGE)
        with type(ctx)(cmd, info_name=verb, parent=group_ctx) as sub:
            print(cmd.get_help(sub))
