"""How a socket address is written: one function for the manager's log and
``pylaunchctl print``. Standard library only (pylaunchctl imports it)."""

from __future__ import annotations


def address_text(address: dict) -> str:
    """A socket address as ``print`` and the manager's log write it: the
    path of a unix socket, ``host:port``, or ``[v6 host]:port``."""
    if "path" in address:
        return address["path"]
    host = address["host"]
    return f"[{host}]:{address['port']}" if ":" in host else f"{host}:{address['port']}"
