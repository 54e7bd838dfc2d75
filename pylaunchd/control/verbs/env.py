"""setenv, unsetenv, getenv and export: the domain's environment for jobs."""

from __future__ import annotations

import os

from typing import TYPE_CHECKING

from ..client import JSON, print_json
from ..verb import Arg, Verb

if TYPE_CHECKING:
    from ..service import ControlService

_USAGE = "usage: setenv KEY VALUE"


def _environ_safe(text: str) -> bool:
    """Whether a process's environment can hold *text*: no NUL byte, and
    encodable as the file system encodes (an unpaired surrogate is not)."""
    try:
        return b"\0" not in os.fsencode(text)
    except UnicodeError:
        return False


def _is_key(key: str) -> bool:
    return "=" not in key and _environ_safe(key)


class Setenv(Verb):
    """Set a variable for every job the manager starts from now on.

    As launchctl setenv: a job's own EnvironmentVariables still win. Not persistent: a restarted
    manager forgets it. A name or value no process environment can hold (a NUL byte, a character
    the file system encoding cannot write) is refused.
    """

    name = "setenv"
    args = {"key": Arg(str, required=True, nonempty=True, check=_is_key, error=_USAGE, help="a name without ="),
            "value": Arg(str, required=True, check=_environ_safe,
                         error="setenv: the value holds a NUL byte or a character the environment cannot encode")}

    def run(self, key: str, value: str) -> None:
        self.client.call("setenv", key=key, value=value)

    def execute(self, service: ControlService, args: dict) -> dict:
        service.setenv(args["key"], args["value"])
        return {}


class Unsetenv(Verb):
    """Unset a variable set with setenv.

    As launchctl unsetenv: jobs started from now on no longer get it.
    """

    name = "unsetenv"
    args = {"key": Arg(str, required=True)}

    def run(self, key: str) -> None:
        self.client.call("unsetenv", key=key)

    def execute(self, service: ControlService, args: dict) -> dict:
        service.unsetenv(args["key"])
        return {}


class Getenv(Verb):
    """Print a variable of the domain's environment.

    As launchctl getenv. The domain's environment is what jobs get besides their own: the
    variables set with setenv, and those SecureSocketWithKey exports. Nothing
    is printed for a variable that is not set.
    """

    name = "getenv"
    read_only = True

    def run(self, key: str, as_json: bool = JSON) -> None:
        env = self.client.call("getenv")
        if as_json:
            print_json({key: env.get(key)})
        elif key in env:
            print(env[key])

    def execute(self, service: ControlService, args: dict) -> dict:
        return service.environment()


class Export(Verb):
    """The domain's environment as shell commands.

    As launchctl export: one KEY="VALUE"; export KEY; per variable, for eval.
    """

    cli_name = "export"
    sends = ("getenv",)

    def run(self) -> None:
        for k, v in self.client.call("getenv").items():
            print(f'{k}="{v}"; export {k};')
