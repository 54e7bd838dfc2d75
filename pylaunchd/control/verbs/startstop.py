"""start, stop and remove: the legacy verbs on one loaded job."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import LABEL, parse_service
from ..verb import LABEL_ARG, Verb

if TYPE_CHECKING:
    from ..service import ControlService


class Start(Verb):
    """Start a loaded job now (throttling still applies).

    As launchctl start: the job's launch conditions are not consulted, it
    runs as if one had fired. A job that is not loaded: exit status 113.
    """

    name = "start"
    args = {"label": LABEL_ARG}

    def run(self, label: str = LABEL) -> None:
        domain, label = parse_service(label)
        self.client.call("start", domain, label=label)

    def execute(self, service: ControlService, args: dict) -> dict:
        return service.start(args["label"]).to_json()


class Stop(Verb):
    """Stop a running job (SIGTERM, then SIGKILL after ExitTimeOut). KeepAlive jobs restart.

    As launchctl stop: a KeepAlive job starts again; to keep it stopped,
    unload or disable it.
    """

    name = "stop"
    args = {"label": LABEL_ARG}

    def run(self, label: str = LABEL) -> None:
        domain, label = parse_service(label)
        self.client.call("stop", domain, label=label)

    def execute(self, service: ControlService, args: dict) -> dict:
        return service.stop(args["label"]).to_json()


class Remove(Verb):
    """Stop and unload a job by label.

    As launchctl remove: its plist, if it has one, is left alone. A job that
    is not loaded: exit status 113.
    """

    name = "remove"
    args = {"label": LABEL_ARG}

    def run(self, label: str = LABEL) -> None:
        domain, label = parse_service(label)
        self.client.call("remove", domain, label=label)

    def execute(self, service: ControlService, args: dict) -> dict:
        service.remove(args["label"])
        return {"label": args["label"]}
