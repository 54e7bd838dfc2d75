"""limit: the manager's resource limits, which new jobs inherit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer

from ..client import JSON, fail, print_json
from ..errors import EXIT_USAGE
from ..verb import Arg, Verb

if TYPE_CHECKING:
    from ..service import ControlService


def _number(v: str) -> int:
    return -1 if v == "unlimited" else int(v)


def _show(v: int) -> str:
    return "unlimited" if v < 0 else str(v)


class Limit(Verb):
    """Print or set the manager's resource limits, which new jobs inherit.

    As launchctl limit. Without NAME, every limit; with NAME, that one; with SOFT (and HARD, else
    the same), set it. Values are numbers or "unlimited". Each line: the
    name, the soft limit, the hard limit.
    """

    name = "limit"
    args = {"name": Arg(str, help="cpu filesize data stack core rss memlock maxproc maxfiles"),
            "soft": Arg(int, help="the soft limit to set; -1 is unlimited"),
            "hard": Arg(int, help="the hard limit to set (default: soft)")}

    def run(self,
            name: Optional[str] = typer.Argument(None, help="cpu filesize data stack core rss memlock maxproc maxfiles"),
            soft: Optional[str] = typer.Argument(None, help="Soft limit (or both), a number or unlimited."),
            hard: Optional[str] = typer.Argument(None, help="Hard limit, a number or unlimited."),
            as_json: bool = JSON) -> None:
        args: dict = {}
        if name:
            args["name"] = name
        if soft is not None:
            try:
                args["soft"] = _number(soft)
                args["hard"] = _number(hard) if hard is not None else args["soft"]
            except ValueError:
                fail("limits are numbers or unlimited", EXIT_USAGE)
        limits = self.client.call("limit", **args)
        if as_json:
            print_json({n: {"soft": cur, "hard": mx} for n, (cur, mx) in limits.items()})
        elif soft is None:
            for n, (cur, mx) in limits.items():
                print(f"\t{n:<12}{_show(cur):<15}{_show(mx):<15}")

    def execute(self, service: ControlService, args: dict) -> dict:
        name, soft = args["name"], args["soft"]
        if name is not None and soft is not None:
            service.set_limit(name, soft, soft if args["hard"] is None else args["hard"])
        return {n: list(v) for n, v in service.limits(name).items()}
