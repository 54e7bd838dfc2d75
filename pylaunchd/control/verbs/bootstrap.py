"""bootstrap and bootout: launchctl's modern verbs for loading into and
removing from a domain."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import typer

from ..client import DOMAIN, parse_domain, parse_service
from ..errors import EXIT_IO, describe
from ..verb import LABEL_ARG, Verb
from .load import absolute, report

if TYPE_CHECKING:
    from ..service import ControlService


class Bootstrap(Verb):
    """Load plists into a domain (the modern load).

    As load, into the domain named: already loaded, disabled, invalid, each
    is an error with launchctl's status (5, 119, 109) and what to do, ended
    by "Bootstrap failed: STATUS: MEANING". A plist of the domain's watched
    jobs directories already loaded from that file is a success, not 5:
    the watcher may have loaded it the moment it was written (see load).
    """

    cli_name = "bootstrap"
    sends = ("load",)

    def run(self, domain: str = DOMAIN,
            paths: list[str] = typer.Argument(..., help="Plist files or directories.")) -> None:
        status = report(self.client.call("load", parse_domain(domain), paths=absolute(paths)), EXIT_IO)
        if status:
            print(f"Bootstrap failed: {status}: {describe(status)}", file=sys.stderr)
            raise typer.Exit(status)


class Bootout(Verb):
    """Stop and unload a service, or the jobs of plists.

    bootout DOMAIN/LABEL removes the service (not loaded: exit status 3, "No
    such process"); bootout DOMAIN PATH... removes the jobs of those plists
    (any failure: exit status 5). A whole domain cannot be booted out: stop
    its manager (SIGTERM).
    """

    name = "bootout"
    sends = ("bootout", "unload")  # unload: bootout DOMAIN PATH...
    args = {"label": LABEL_ARG}

    def run(self,
            target: str = typer.Argument(..., help="A service (DOMAIN/LABEL) or a domain followed by plist paths."),
            paths: Optional[list[str]] = typer.Argument(None, help="Plists whose jobs to remove from the domain."),
            ) -> None:
        if paths:
            results = self.client.call("unload", parse_domain(target), paths=absolute(paths))
            if report(results):
                print(f"Boot-out failed: {EXIT_IO}: {describe(EXIT_IO)}", file=sys.stderr)
                raise typer.Exit(EXIT_IO)
            return
        domain, label = parse_service(target, bare_ok=False)
        self.client.call("bootout", domain, label=label)

    def execute(self, service: ControlService, args: dict) -> dict:
        service.bootout(args["label"])
        return {"label": args["label"]}
