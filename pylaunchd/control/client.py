"""What the client halves of the verbs share: which manager to talk to
(targets ``system``, ``user/UID``, ``gui/UID``, ``DOMAIN/LABEL``), sending a
request to it, and failing the way launchctl does (one line on stderr, its
exit status).

Imported by pylaunchctl only; light: typer and the protocol, nothing of the
manager (``pylaunchd.domain`` is imported only when a socket must be found).
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any, NoReturn, Optional

import typer

from .errors import EXIT_USAGE, ControlError
from .protocol import request

_SERVICE = re.compile(r"^(system|(?:user|gui)/\d+)/(.+)$")
_DOMAIN = re.compile(r"^(system|(?:user|gui)/\d+)/?$")


def fail(message: str, status: int = 1) -> NoReturn:
    print(f"pylaunchctl: {message}", file=sys.stderr)
    raise typer.Exit(status)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2))


def is_domain(target: str) -> bool:
    return _DOMAIN.match(target) is not None


def parse_domain(target: str) -> str:
    m = _DOMAIN.match(target)
    if not m:
        fail(f'Unrecognized target specifier "{target}". A domain target is system, user/UID or gui/UID.',
             EXIT_USAGE)
    return m.group(1)


def parse_service(target: str, bare_ok: bool = True) -> tuple[Optional[str], str]:
    """(domain or None, label) of a service target DOMAIN/LABEL, or of a bare
    label (the caller's own domain, as launchctl's legacy verbs)."""
    m = _SERVICE.match(target)
    if m:
        return m.group(1), m.group(2)
    if _DOMAIN.match(target):
        fail(f"{target} is a domain; give a service target such as {target.rstrip('/')}/LABEL", EXIT_USAGE)
    if not bare_ok or "/" in target:
        fail(f'Unrecognized target specifier "{target}". <service-target> takes a form of '
             f"<domain-target>/<service-id>, such as gui/{os.getuid()}/com.example.job.", EXIT_USAGE)
    return None, target


class Client:
    """pylaunchctl's link to managers: ``socket`` (from --control-socket or
    PYLAUNCHD_CONTROL_SOCKET) names one explicitly; otherwise each target's
    domain says which."""

    def __init__(self, socket: Optional[str] = None, user: bool = False):
        self.socket = socket
        self.user = user  # --user: the caller's own domain is its per-user manager, even for root

    def socket_for(self, domain: Optional[str]) -> str:
        """The control socket of *domain* (None: the caller's own, root's
        being the system domain), unless one was given explicitly."""
        if self.socket:
            return self.socket
        from ..domain import default_control_socket, user_control_socket

        if domain is None:
            return default_control_socket(os.geteuid() == 0 and not self.user)
        if domain == "system":
            return default_control_socket(True)
        return user_control_socket(int(domain.split("/")[1]))

    def call(self, verb: str, domain: Optional[str] = None, **args: Any) -> Any:
        """Send one request; on an error reply, fail with its message and status."""
        try:
            return request(self.socket_for(domain), verb, args)
        except ControlError as e:
            fail(str(e), e.status)


def complete_service(incomplete: str) -> list[str]:
    """Shell completion: the labels of the caller's domain and their service targets."""
    try:
        info = request(Client().socket_for(None), "domain", timeout=2)
    except (ControlError, OSError, ValueError):
        return []
    labels = [s["label"] for s in info["services"]]
    candidates = labels + [f"{info['domain']}/{label}" for label in labels]
    if info["domain"].startswith("user/"):
        candidates += [f"gui/{info['domain'][5:]}/{label}" for label in labels]
    return [c for c in candidates if c.startswith(incomplete)]


def complete_domain(incomplete: str) -> list[str]:
    return [d for d in ("system", f"user/{os.getuid()}", f"gui/{os.getuid()}") if d.startswith(incomplete)]


# Parameters several verbs share.
SERVICE = typer.Argument(..., help="A service target DOMAIN/LABEL (or a bare label).", autocompletion=complete_service)
STRICT_SERVICE = typer.Argument(..., help="A service target DOMAIN/LABEL.", autocompletion=complete_service)
LABEL = typer.Argument(..., help="Label or service target.", autocompletion=complete_service)
DOMAIN = typer.Argument(..., help="system, user/UID or gui/UID.", autocompletion=complete_domain)
PATHS = typer.Argument(..., help="Plist files or directories of plists.")
JSON = typer.Option(False, "--json", help="JSON output.")
