"""submit: a KeepAlive job from a command line, without a plist."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from ..verb import LABEL_ARG, Arg, Verb

if TYPE_CHECKING:
    from ..service import ControlService


class Submit(Verb):
    """Run a command as a KeepAlive job without writing a plist.

    As launchctl submit: the job lives until it is removed (remove LABEL)
    or the manager stops; its label must not be loaded already (exit status
    5).
    """

    name = "submit"
    args = {"label": LABEL_ARG,
            "arguments": Arg(list, required=True, items=str, nonempty=True, error="submit needs a command after --",
                             help="ProgramArguments"),
            "program": Arg(str, help="Program"), "stdout": Arg(str, help="StandardOutPath"),
            "stderr": Arg(str, help="StandardErrorPath")}

    def run(self, label: str = typer.Option(..., "-l", help="The label of the new job."),
            program: Optional[str] = typer.Option(None, "-p", help="The program to execute (argv stays as given)."),
            stdout: Optional[str] = typer.Option(None, "-o", help="StandardOutPath."),
            stderr: Optional[str] = typer.Option(None, "-e", help="StandardErrorPath."),
            command: list[str] = typer.Argument(..., metavar="-- COMMAND [ARG...]")) -> None:
        self.client.call("submit", label=label, program=program, stdout=stdout, stderr=stderr, arguments=command)

    def execute(self, service: ControlService, args: dict) -> dict:
        return {"label": service.submit(args["label"], args["arguments"], program=args["program"],
                                        stdout=args["stdout"], stderr=args["stderr"])}
