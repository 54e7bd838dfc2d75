"""managerpid, manageruid, managername and version: the manager itself,
all from one request, ``manager``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import JSON, print_json
from ..status import ManagerInfo
from ..verb import Verb

if TYPE_CHECKING:
    from ..service import ControlService


class Manager(Verb):
    """The manager's pid, uid, domain, version, jobs directories and control socket."""

    name = "manager"
    cli_name = None  # managerpid, manageruid, managername and version send it
    read_only = True

    def execute(self, service: ControlService, args: dict) -> dict:
        return service.manager_info().to_json()


class ManagerPid(Verb):
    """The PID of the manager this pylaunchctl talks to."""

    cli_name = "managerpid"
    sends = ("manager",)

    def run(self, as_json: bool = JSON) -> None:
        info = ManagerInfo.from_json(self.client.call("manager"))
        print_json({"pid": info.pid}) if as_json else print(info.pid)


class ManagerUid(Verb):
    """The uid the manager runs as."""

    cli_name = "manageruid"
    sends = ("manager",)

    def run(self, as_json: bool = JSON) -> None:
        info = ManagerInfo.from_json(self.client.call("manager"))
        print_json({"uid": info.uid}) if as_json else print(info.uid)


class ManagerName(Verb):
    """The manager's session type: System for the system domain, Background
    for a per-user one (see LimitLoadToSessionType)."""

    cli_name = "managername"
    sends = ("manager",)

    def run(self, as_json: bool = JSON) -> None:
        info = ManagerInfo.from_json(self.client.call("manager"))
        print_json({"name": info.session}) if as_json else print(info.session)


class Version(Verb):
    """The manager's version and domain.

    One line: pylaunchd VERSION (DOMAIN, control socket PATH). --json: pid,
    uid, domain, version, jobs_dirs, control_socket, and of re-execs
    (pylaunchctl reexec): reexecs (how many), reexec_note (what the last
    one could not restore, or null) and reexec_gap (seconds from its exec
    to the new process having taken over).
    """

    cli_name = "version"
    sends = ("manager",)

    def run(self, as_json: bool = JSON) -> None:
        raw = self.client.call("manager")
        if as_json:
            print_json(raw)
            return
        info = ManagerInfo.from_json(raw)
        print(f"pylaunchd {info.version} ({info.domain}, control socket {info.control_socket})")
