"""blame: why a service last started."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import JSON, SERVICE, parse_service, print_json
from ..verb import LABEL_ARG, Verb

if TYPE_CHECKING:
    from ..service import ControlService


class Blame(Verb):
    """Why the service last started: run at load, a socket, a KeepAlive
    condition, a timer, a path, a kickstart.

    As launchctl blame; one of: run at load, socket NAME readable, a KeepAlive condition,
    StartInterval, StartCalendarInterval, WatchPaths PATH, QueueDirectories,
    StartOnMount, start by user, kickstart by user, connection accepted; or that it has not
    started since it was loaded.
    """

    name = "blame"
    read_only = True
    args = {"label": LABEL_ARG}

    def run(self, target: str = SERVICE, as_json: bool = JSON) -> None:
        domain, label = parse_service(target)
        info = self.client.call("blame", domain, label=label)
        if as_json:
            print_json(info)
        else:
            print(info["reason"] or "(it has not started since it was loaded)")

    def execute(self, service: ControlService, args: dict) -> dict:
        return service.blame(args["label"]).to_json()
