"""enable, disable and print-disabled: a domain's persistent overrides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import DOMAIN, JSON, STRICT_SERVICE, parse_domain, parse_service, print_json
from ..verb import LABEL_ARG, Verb

if TYPE_CHECKING:
    from ..service import ControlService


class Enable(Verb):
    """Enable a service persistently.

    As launchctl enable: it does not start it. A job whose plist sits in a watched directory is
    loaded, since that directory is what the domain runs; others load with
    the next load or bootstrap. The override lives in the domain's state
    directory and outlasts the manager.
    """

    name = "enable"
    args = {"label": LABEL_ARG}

    def run(self, target: str = STRICT_SERVICE) -> None:
        domain, label = parse_service(target, bare_ok=False)
        self.client.call("enable", domain, label=label)

    def execute(self, service: ControlService, args: dict) -> dict:
        service.set_enabled(args["label"], True)
        return {"label": args["label"], "disabled": False}


class Disable(Verb):
    """Disable a service persistently: it is not loaded until enabled (does not stop it).

    As launchctl disable: a job loaded now stays loaded, and runs as before.
    """

    name = "disable"
    args = {"label": LABEL_ARG}

    def run(self, target: str = STRICT_SERVICE) -> None:
        domain, label = parse_service(target, bare_ok=False)
        self.client.call("disable", domain, label=label)

    def execute(self, service: ControlService, args: dict) -> dict:
        service.set_enabled(args["label"], False)
        return {"label": args["label"], "disabled": True}


class PrintDisabled(Verb):
    """The domain's enabled/disabled overrides.

    One line per label that has one: "label" => disabled, or => enabled.
    """

    name = "print-disabled"
    read_only = True

    def run(self, domain: str = DOMAIN, as_json: bool = JSON) -> None:
        info = self.client.call("print-disabled", parse_domain(domain))
        if as_json:
            print_json(info)
            return
        print("disabled services = {")
        for label, disabled in sorted(info["disabled"].items()):
            print(f'\t"{label}" => {"disabled" if disabled else "enabled"}')
        print("}")

    def execute(self, service: ControlService, args: dict) -> dict:
        return {"domain": service.domain_name, "disabled": service.overrides()}
