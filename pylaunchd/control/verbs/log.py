"""log: a job's output and the manager's events for it."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import typer

from ..client import JSON, SERVICE, parse_service, print_json
from ..verb import LABEL_ARG, Arg, Verb

if TYPE_CHECKING:
    from ..service import ControlService

FOLLOW_INTERVAL = 0.25  # seconds between two polls of log -f


class Log(Verb):
    """A job's output (when its plist names no StandardOutPath or
    StandardErrorPath) and the manager's events for it: spawns, exits, throttling.

    The output goes through a pipe to STATE_DIR/logs/LABEL.log, rotated at
    1 MiB. -n: how many of the last lines; -f: keep printing new lines until
    interrupted. Not read-only: a job's output may hold secrets, so only the
    domain's user or root reads it.
    """

    name = "log"
    args = {"label": LABEL_ARG, "lines": Arg(int, help="the last LINES lines"),
            "after": Arg(int, help="every line after this sequence number (follow mode)")}

    def run(self, target: str = SERVICE,
            follow: bool = typer.Option(False, "-f", "--follow", help="Keep printing new lines."),
            lines: int = typer.Option(50, "-n", "--lines", help="How many of the last lines."),
            as_json: bool = JSON) -> None:
        domain, label = parse_service(target)
        info = self.client.call("log", domain, label=label, lines=lines)
        if as_json and not follow:
            print_json(info)
            return
        for line in info["lines"]:
            print(line)
        seq = info["seq"]
        try:
            while follow:
                sys.stdout.flush()
                time.sleep(FOLLOW_INTERVAL)
                info = self.client.call("log", domain, label=label, after=seq)
                for line in info["lines"]:
                    print(line)
                seq = info["seq"]
        except KeyboardInterrupt:
            pass

    def execute(self, service: ControlService, args: dict) -> dict:
        return service.log_tail(args["label"], lines=args["lines"], after=args["after"]).to_json()
